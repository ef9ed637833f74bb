#!/usr/bin/env python3
"""Reference sentence embeddings of all-MiniLM-L6-v2, computed with PyTorch + transformers.

Run once where torch and transformers are installed (the GPU machine, or a throwaway venv; the
committed file was made on the 2-core dev CPU with torch 2.15.0) on the folder that
make_minilm_carry.py wrote; the result is committed as tests/data/minilm_reference.json.gz and
is what the C++ test compares deftnn's embeddings against (no PyTorch in CI).

sentence-transformers' all-MiniLM-L6-v2 is BertModel -> mean pooling over the attention
mask -> L2 normalisation (its modules.json); the pooling and normalisation are written out
here so sentence-transformers itself is not needed. The token ids are the ones Hugging Face
tokenizers gave (committed in the tokenizer reference), so this checks the network alone.
fp32 on the CPU, TF32 off: the reference is plain fp32 arithmetic.

Usage: python3 make_embedding_reference.py CARRY_DIR OUT.json.gz
"""
import gzip
import json
import os
import sys

import numpy as np
import torch
from safetensors.torch import load as st_load
from transformers import BertConfig, BertModel

carry, out = sys.argv[1], sys.argv[2]
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
cfg = BertConfig.from_json_file(os.path.join(carry, "config.json"))
model = BertModel(cfg, add_pooling_layer=False)
model.eval()
with gzip.open(os.path.join(carry, "model.safetensors.gz"), "rb") as f:
    state = st_load(f.read())
missing, unexpected = model.load_state_dict(state, strict=False)
missing = [k for k in missing if not k.endswith("position_ids")]
unexpected = [k for k in unexpected if not k.endswith("position_ids") and not k.startswith("pooler.")]
if missing or unexpected:
    raise SystemExit(f"weights do not fit: missing {missing}, unexpected {unexpected}")
s = json.load(open(os.path.join(carry, "sentences.json")))
ids_list = s["ids"]
embs = []
with torch.no_grad():
    for b in range(0, len(ids_list), 32):
        chunk = ids_list[b:b + 32]
        T = max(len(x) for x in chunk)
        ids = torch.zeros((len(chunk), T), dtype=torch.long)
        mask = torch.zeros((len(chunk), T), dtype=torch.long)
        for r, x in enumerate(chunk):
            ids[r, :len(x)] = torch.tensor(x)
            mask[r, :len(x)] = 1
        h = model(input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids)).last_hidden_state
        m = mask.unsqueeze(-1).to(h.dtype)
        pooled = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
        embs.append(torch.nn.functional.normalize(pooled, p=2, dim=1))
e = torch.cat(embs).numpy().astype(np.float32)
with gzip.open(out, "wt", encoding="utf-8") as f:
    json.dump({"oracle": f"transformers BertModel fp32 CPU (torch {torch.__version__}) + mean pooling + L2 norm",
               "model": "all-MiniLM-L6-v2", "dim": int(e.shape[1]),
               "cases": [{"text": t, "ids": x, "embedding": [float(f"{v:.9g}") for v in row]}
                         for t, x, row in zip(s["texts"], ids_list, e.tolist())]}, f, ensure_ascii=False)
print(f"wrote {out}: {e.shape[0]} embeddings of {e.shape[1]}, torch {torch.__version__}")
