#!/usr/bin/env python3
"""Markdown tables from a deftnn optimize report: per-layer variants (ours,
the paper's SVE, L1) at each density, and the Pareto frontier."""
import json, sys

r = json.load(open(sys.argv[1]))
print(f"dense: validation {100*r['dense']['val_acc']:.2f}%, test {100*r['dense']['test_acc']:.2f}%; "
      f"optimize took {r['seconds']:.0f} s\n")
print("| layer | density | kept/K | SVE-LS (ours) val: before -> fine-tuned | SVE (paper) val | L1 val |")
print("|---|---|---|---|---|---|")
for l in r["layers"]:
    for v in l.get("variants", [])[1:]:
        pb = v.get("paper_val_acc_before_finetune", -1)
        print(f"| {l['name']} | {v['density']:.2f} | {v['kept']}/{v['k']} | "
              f"{100*v['val_acc_before_finetune']:.2f} -> {100*v['val_acc']:.2f} | "
              f"{100*pb:.2f} -> {100*v.get('paper_val_acc', -1):.2f} | "
              f"{100*v.get('l1_val_acc_before_finetune', -1):.2f} -> {100*v.get('l1_val_acc', -1):.2f} |")
print()
print("| how | GEMM FLOPs | speedup (CPU) | val (composed) | val | test | SVE paper test | L1 test |")
print("|---|---|---|---|---|---|---|---|")
for p in r["frontier"]:
    comp = p.get("composed_val_acc", p["val_acc"])
    print(f"| {p['how']} | {100*p['flops_ratio']:.0f}% | {p['speedup']:.2f}x | {100*comp:.2f} | {100*p['val_acc']:.2f} | "
          f"{100*p['test_acc']:.2f} | {100*p.get('paper_test_acc', -1):.2f} | {100*p.get('l1_test_acc', -1):.2f} |")
c = r.get("cheapest_within_0.2_points")
print()
if c:
    print(f"cheapest frontier point within 0.2 test points of dense: {100*c['flops_ratio']:.0f}% of the GEMM FLOPs "
          f"(test {100*c['test_acc']:.2f}%), {len(r['frontier'])} frontier points")
else:
    print(f"no frontier point within 0.2 test points of dense; {len(r['frontier'])} frontier points")
