# On the GPU machine (torch + transformers there): the three-sentence check of
# Bert.MiniLMSentencePairCpu computed by transformers, beside deftnn embed outputs.
# python3 tests/python/minilm_pair_transformers.py MODEL_DIR [EMBEDDINGS.npy ...]
import sys, numpy as np, torch
from transformers import AutoTokenizer, AutoModel
d = sys.argv[1]
s = ["A man is eating food.", "A man is eating a piece of bread.", "The new movie is awesome."]
tok = AutoTokenizer.from_pretrained(d); m = AutoModel.from_pretrained(d).eval()
b = tok(s, padding=True, return_tensors="pt")
print("ids", b["input_ids"].tolist())
with torch.no_grad(): h = m(**b).last_hidden_state
e = (h * b["attention_mask"][..., None]).sum(1) / b["attention_mask"].sum(1, keepdim=True)
e = torch.nn.functional.normalize(e, dim=1)
print("transformers cos(food,bread) %.6f cos(food,movie) %.6f" % (float(e[0] @ e[1]), float(e[0] @ e[2])))
for f in sys.argv[2:]:
    x = np.load(f); x = x / np.linalg.norm(x, axis=1, keepdims=True)
    print(f, "cos(food,bread) %.6f cos(food,movie) %.6f" % (x[0] @ x[1], x[0] @ x[2]))
