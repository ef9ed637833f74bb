#!/usr/bin/env python3
"""Prepares what the GPU machine needs to compute all-MiniLM-L6-v2 reference embeddings.

The model's fp32 weights (91 MB) are larger than one GPU-machine call may carry (64 MiB
with the repository), so this keeps every tensor in fp32 but zeroes the rows of the word
embedding that none of the chosen sentences uses; zeros compress to nothing. For the chosen
sentences the model computes exactly what the full model computes.

Sentences: the first texts of tests/data/tokenizer_reference.json.gz (English fortunes,
then German ones) of at most MAX_TOKENS tokens, in corpus order, COUNT of them.

Usage (numpy and safetensors needed, e.g. the repository's .venv):
  .venv/bin/python tests/python/make_minilm_carry.py MODEL_DIR OUT_DIR [--count 1024] [--max-tokens 128]
Writes OUT_DIR/model.safetensors.gz, OUT_DIR/config.json and OUT_DIR/sentences.json.
"""
import argparse
import gzip
import json
import os
import shutil

import numpy as np
from safetensors.numpy import load_file, save

ap = argparse.ArgumentParser()
ap.add_argument("model_dir")
ap.add_argument("out_dir")
ap.add_argument("--count", type=int, default=1024)
ap.add_argument("--max-tokens", type=int, default=128)
a = ap.parse_args()

here = os.path.dirname(os.path.abspath(__file__))
cases = json.load(gzip.open(os.path.join(here, "..", "data", "tokenizer_reference.json.gz")))["cases"]
chosen = [c for c in cases if len(c["ids"]) <= a.max_tokens][: a.count]
if len(chosen) < a.count:
    raise SystemExit(f"only {len(chosen)} texts of at most {a.max_tokens} tokens")
# and the ids of the three sentences of Bert.MiniLMSentencePairCpu (tests/net/test_bert.cpp),
# whose cosines are checked against the full model's
pair_ids = [101, 1037, 2158, 2003, 5983, 2833, 1012, 102, 3538, 1997, 7852, 1996, 2047, 3185, 12476]
used = sorted({i for c in chosen for i in c["ids"]} | set(pair_ids))

w = load_file(os.path.join(a.model_dir, "model.safetensors"))
emb = w["embeddings.word_embeddings.weight"]  # (vocab, 384)
keep = np.zeros(emb.shape[0], dtype=bool)
keep[used] = True
emb = emb.copy()
emb[~keep] = 0.0
w["embeddings.word_embeddings.weight"] = emb

os.makedirs(a.out_dir, exist_ok=True)
with gzip.open(os.path.join(a.out_dir, "model.safetensors.gz"), "wb", compresslevel=6) as f:
    f.write(save(w))
shutil.copy(os.path.join(a.model_dir, "config.json"), a.out_dir)
with open(os.path.join(a.out_dir, "sentences.json"), "w") as f:
    json.dump({"max_tokens": a.max_tokens, "texts": [c["text"] for c in chosen],
               "ids": [c["ids"] for c in chosen]}, f, ensure_ascii=False)
print(f"{len(chosen)} texts, {len(used)} of {keep.size} word-embedding rows kept; wrote {a.out_dir}")
