./build/deftnn bench gemm --no-alexnet --llm-tokens 1,16 --reps 30 --format cublas-bf16,lt-fp8 --out $OUT/gemm-base.json 2>&1 | grep -E "^ *[0-9]|cublas|lt-" | cut -c1-150 | tail -12
for S in 4 8; do for B in 1 2 3 4; do echo "== stages $S blocks/SM $B"
DEFTNN_MIXED_STAGES=$S DEFTNN_MIXED_BLOCKS_PER_SM=$B ./build/deftnn bench gemm --no-alexnet --llm-tokens 1,16 --reps 30 --format mix-int8,mix-int4 --out /tmp/g-$S-$B.json 2>&1 | grep -E "mix-" | cut -c1-150 | tail -12
done; done
