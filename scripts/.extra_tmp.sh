T=./build/tests/deftnn_tests
$T --gtest_filter='Conv2d.Cudnn*:Conv2d.Cuda*:ExecPlan.*:LowpNet.*:RooflineGpu.*' 2>&1 | grep -E "^\[  FAILED|Failure|PASSED|FAILED|rror" | head -30
compute-sanitizer --tool memcheck --error-exitcode 9 $T --gtest_filter='Conv2d.Cudnn16*' 2>&1 | tail -2
for b in 128 1; do for k in "" "--kernel cudnn"; do for p in bf16 fp16; do
  [ $b = 1 ] && [ $p = fp16 ] && continue
  tag=caffenet-b$b-$p$( [ -n "$k" ] && echo -cudnn )
  timeout 60 ./build/deftnn bench models/caffenet-imc.json --batch $b --precision $p $k --tag $tag --out $OUT/$tag.json > $OUT/$tag.log 2>&1; echo "rc=$? $tag"
  grep -iE "^ *conv|total" $OUT/$tag.log | cut -c1-140 | head -8
done; done; done
OUT=$OUT STEP_TIMEOUT=60 REPS=30 bash scripts/roofline_caffenet.sh 2>&1 | tail -15
timeout 60 ./build/deftnn bench models/caffenet-imc.json --roofline --reps 30 --batch 128 --precision bf16 --kernel cudnn --tag b128-dense-bf16-cudnn --out $OUT/roofline-b128-dense-bf16-cudnn.json > $OUT/roofline-cudnn.log 2>&1; echo "roofline cudnn rc=$?"
ls $OUT
