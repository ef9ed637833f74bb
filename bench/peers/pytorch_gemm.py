#!/usr/bin/env python3
"""The PyTorch GEMM peers of `deftnn bench gemm` on the Llama-7B layer shapes:
bf16 (torch.mm, cuBLAS), fp8 e4m3 torch._scaled_mm (per-tensor scales, bf16
out), PyTorch's int4 weight-only kernel (torch._weight_int4pack_mm, group 128)
and 2:4 semi-structured sparse bf16 (torch.sparse.to_sparse_semi_structured).

Shapes as deftnn names them: W (N_out, K), X (tokens, K), Y = X W^T (tokens, N_out).
Timing: weights rotated over more than twice the L2 (as many operand sets as
that takes), one CUDA graph holding one call per set, replayed `reps` times
between two CUDA events; the figure is the median over 5 such timings of the
time per call. The kernels a call launches are recorded (torch.profiler).
A peer that this torch build refuses is recorded with its error.

    python3 bench/peers/pytorch_gemm.py --tokens 1,16,64,128,512 --out OUT.json
"""
import argparse
import datetime
import json
import statistics
import sys

import torch

SHAPES = [("llama-qkvo", 4096, 4096), ("llama-up", 11008, 4096), ("llama-down", 4096, 11008)]


def kernels(fn):
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        fn()
        torch.cuda.synchronize()
    names = []
    for e in prof.events():
        if e.device_type == torch.autograd.DeviceType.CUDA and e.name not in names:
            names.append(e.name)
    return " + ".join(names)


def time_per_call(calls, reps):
    """calls: one callable per operand set. Returns (median ms per call, 'graph' or 'direct')."""
    stream = torch.cuda.Stream()
    mode = "graph"
    try:
        with torch.cuda.stream(stream):
            for c in calls:  # warm-up, lazy allocations
                c()
        torch.cuda.synchronize()
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g, stream=stream):
            for c in calls:
                c()
        run = g.replay
    except Exception:  # noqa: BLE001 - some kernels refuse capture
        mode = "direct"

        def run():
            for c in calls:
                c()
    for _ in range(3):
        run()
    torch.cuda.synchronize()
    times = []
    for _ in range(5):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        for _ in range(reps):
            run()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b) / (reps * len(calls)))
    return statistics.median(times), mode


def operands(N, K, M, sets):
    dev = "cuda"
    g = torch.Generator(device=dev).manual_seed(N * 31 + K * 7 + M)
    W = [torch.rand(N, K, device=dev, generator=g) * 2 - 1 for _ in range(sets)]
    X = torch.rand(M, K, device=dev, generator=g) * 2 - 1
    ref = X.double() @ W[0].double().t()
    return W, X, ref


def peer_bf16(W, X):
    Wb, Xb = [w.bfloat16() for w in W], X.bfloat16()
    Y = [torch.empty(X.shape[0], w.shape[0], device="cuda", dtype=torch.bfloat16) for w in W]
    return [lambda i=i: torch.mm(Xb, Wb[i].t(), out=Y[i]) for i in range(len(W))], 16, lambda: Y[0]


def peer_fp8(W, X):
    f8, M, K = torch.float8_e4m3fn, X.shape[0], X.shape[1]
    Xp = torch.zeros((M + 15) // 16 * 16, K, device="cuda")  # _scaled_mm wants multiples of 16
    Xp[:M] = X
    sx = Xp.abs().max() / 448
    X8 = (Xp / sx).to(f8)
    sw = [w.abs().max() / 448 for w in W]
    W8 = [(w / s).to(f8) for w, s in zip(W, sw)]
    out = [None] * len(W)

    def call(i):
        out[i] = torch._scaled_mm(X8, W8[i].t(), scale_a=sx, scale_b=sw[i], out_dtype=torch.bfloat16)
    return [lambda i=i: call(i) for i in range(len(W))], 8, lambda: out[0][:M]


def peer_int4(W, X, gs=128):
    """int4 weight-only, group 128, a scale and a zero per group, as torchao packs it."""
    Xb, packed, sz = X.bfloat16(), [], []
    for w in W:
        N, K = w.shape
        wg = w.reshape(N, K // gs, gs)
        lo, hi = wg.amin(-1, keepdim=True), wg.amax(-1, keepdim=True)
        scale = (hi - lo).clamp(min=1e-6) / 15
        q = ((wg - lo) / scale).round().clamp(0, 15).to(torch.int32).reshape(N, K)
        zero = lo + 8 * scale  # the kernel computes w = (q - 8) * scale + zero
        sz.append(torch.cat([scale, zero], -1).reshape(N, K // gs, 2).transpose(0, 1).contiguous().bfloat16())
        packed.append(torch._convert_weight_to_int4pack((q[:, ::2] << 4 | q[:, 1::2]).to(torch.uint8), 8))
    out = [None] * len(W)

    def call(i):
        out[i] = torch._weight_int4pack_mm(Xb, packed[i], gs, sz[i])
    return [lambda i=i: call(i) for i in range(len(W))], 4, lambda: out[0]


def peer_sparse24(W, X):
    """2:4 semi-structured sparse bf16: half the weights kept; its error against the dense
    reference is large by design (it is a speed peer)."""
    from torch.sparse import to_sparse_semi_structured
    Xb = X.bfloat16()
    keep = torch.tensor([1, 1, 0, 0], device="cuda", dtype=torch.bool)
    Ws = [to_sparse_semi_structured(w.bfloat16() * keep.repeat(w.shape[0], w.shape[1] // 4)) for w in W]
    out = [None] * len(W)

    def call(i):
        out[i] = torch.nn.functional.linear(Xb, Ws[i])
    return [lambda i=i: call(i) for i in range(len(W))], 8, lambda: out[0]


PEERS = [("torch-bf16", peer_bf16), ("torch-fp8-scaled-mm", peer_fp8), ("torch-int4-weight-only", peer_int4),
         ("torch-2:4-sparse-bf16", peer_sparse24)]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", default="1,16,64,128,512")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    prop = torch.cuda.get_device_properties(0)
    l2 = getattr(prop, "L2_cache_size", 50 << 20)
    J = {"device": prop.name, "torch": torch.__version__, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
         "method": "weights rotated over > 2x L2; one CUDA graph of one call per operand set, replayed; median of 5 "
                   "timings of the time per call; inputs U[-1,1]; err = relative Frobenius error vs fp64 on the dense "
                   "fp32 weights", "results": []}
    for t in [int(x) for x in a.tokens.split(",")]:
        for name, N, K in SHAPES:
            sets = max(2, 2 * l2 // (N * K * 2) + 2)
            W, X, ref = operands(N, K, t, sets)
            for v, make in PEERS:
                r = {"shape": name, "tokens": t, "N_out": N, "K": K, "variant": v, "operand_sets": sets}
                try:
                    calls, bits, result = make(W, X)
                    ms, mode = time_per_call(calls, a.reps)
                    y = result().double()
                    r.update(weight_bits=bits, ms=ms, timing=mode,
                             err_rel=float((y - ref).norm() / ref.norm()), kernel=kernels(calls[0]))
                    print(f"{name:10s} t={t:<4d} {v:24s} {ms:8.4f} ms  err {r['err_rel']:.2e}  {mode}", flush=True)
                except Exception as e:  # noqa: BLE001 - a peer this torch refuses is a result too
                    r["error"] = f"{type(e).__name__}: {e}"[:400]
                    print(f"{name:10s} t={t:<4d} {v:24s} failed: {r['error']}", flush=True)
                J["results"].append(r)
                calls = None
            del W, X, ref
            torch.cuda.empty_cache()
    with open(a.out + ".partial", "w") as f:
        json.dump(J, f, indent=1)
    import os
    os.replace(a.out + ".partial", a.out)
    print("wrote", a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
