#!/usr/bin/env python3
"""The PyTorch peers of `deftnn bench embed`: all-MiniLM-L6-v2's encoder
(transformers' BertModel, mean pooling and L2 normalisation, as
sentence-transformers runs it) on the GPU, one batch of random ids with every
token real (the mask all ones), in eager fp32 / tf32 / bf16 and torch.compile
bf16 (Inductor; DEFTNN_TORCH_COMPILE_MODE, default max-autotune).

Timing as bench/peers/pytorch_nets.py: CUDA events around each forward,
warm-up first, median. With --profile, the CUDA kernels of one pass of each
precision, by total time (torch.profiler), so the peer's kernel choices
(attention, fused LayerNorm/GELU) can be read beside deftnn's.

  python3 bench/peers/pytorch_encoder.py MODEL_DIR --out bench/results/peers-encoder.json
"""
import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pytorch_nets import environment, time_forward  # noqa: E402

COMPILE_MODE = os.environ.get("DEFTNN_TORCH_COMPILE_MODE", "max-autotune")


class Embedder:
    """ids (N, T) -> L2-normalised mean-pooled embeddings (N, hidden)."""

    def __init__(self, bert):
        self.bert = bert

    def __call__(self, ids_mask):
        import torch

        ids, mask = ids_mask
        h = self.bert(input_ids=ids, attention_mask=mask).last_hidden_state  # (N, T, hidden)
        m = mask.unsqueeze(-1).to(h.dtype)
        pooled = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, p=2, dim=1)


def profile_pass(fn, x, rows=25):
    import torch
    from torch.profiler import ProfilerActivity, profile

    with torch.inference_mode():
        fn(x)
        torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            fn(x)
            torch.cuda.synchronize()
    out = []
    for e in sorted(prof.key_averages(), key=lambda e: -e.device_time_total)[:rows]:
        if e.device_time_total <= 0:
            continue
        out.append({"kernel": e.key, "calls": e.count, "total_us": e.device_time_total})
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model_dir")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--precisions", default="fp32,bf16,compile-bf16")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--reps", type=int, default=50)
    ap.add_argument("--profile", action="store_true", help="also list each precision's CUDA kernels of one pass")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    import torch
    from transformers import BertModel

    torch.manual_seed(1)
    bert = BertModel.from_pretrained(a.model_dir, add_pooling_layer=False, attn_implementation="sdpa").cuda().eval()
    vocab = bert.config.vocab_size
    gen = torch.Generator(device="cuda").manual_seed(1)
    ids = torch.randint(0, vocab, (a.batch, a.tokens), device="cuda", generator=gen)
    mask = torch.ones_like(ids)
    results, kernels = {}, {}
    for prec in a.precisions.split(","):
        torch.backends.cuda.matmul.allow_tf32 = prec == "tf32"
        model = bert.to(torch.bfloat16 if "bf16" in prec else torch.float32)
        fn = Embedder(model)
        if prec.startswith("compile"):
            fn = torch.compile(fn, mode=COMPILE_MODE)
        results[prec] = time_forward(fn, (ids, mask), a.warmup, a.reps)
        print(f"  encoder b{a.batch}x{a.tokens} {prec:<13} {results[prec]['median_ms']:8.3f} ms "
              f"(min {results[prec]['min_ms']:.3f}, p90 {results[prec]['p90_ms']:.3f})", flush=True)
        if a.profile:
            kernels[prec] = profile_pass(fn, (ids, mask))
            for k in kernels[prec][:12]:
                print(f"    {k['total_us']:9.1f} us  {k['calls']:4d}x  {k['kernel'][:110]}")
    torch.backends.cuda.matmul.allow_tf32 = False
    report = {"what": "PyTorch peers of deftnn bench embed (bench/peers/pytorch_encoder.py)",
              "model": Path(a.model_dir).name, "batch": a.batch, "tokens": a.tokens,
              "compile_mode": COMPILE_MODE, "environment": environment(), "results": results}
    if kernels:
        report["kernels"] = kernels
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
