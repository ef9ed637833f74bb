// The execution-plan flags, one name per concept for every subcommand that
// runs a net (bench, eval): the strings go to plan::from_flags, the one door.
#pragma once

#include <CLI/CLI.hpp>

#include "plan/parse.h"

inline void add_plan_options(CLI::App& cmd, deftnn::plan::PlanFlags& f) {
  cmd.add_option("--format", f.format,
                 "weight (fission) format of every GEMM layer (fp32, deft16, deft16q, deft8e4, fp8e4m3, half, ...) "
                 "and/or per layer (conv1=deft16,fc6=deft8e4); comma separated")
      ->delimiter(',');
  cmd.add_option("--kernel", f.kernel,
                 "kernel family of every GEMM layer and/or per layer (bf16 convs: conv2=cudnn,conv5=cudnn; comma "
                 "separated): auto | cpu-blas | cublas | cudnn (convolutions; linear layers then run cublas) | fission");
  cmd.add_option("--precision", f.precision,
                 "compute precision of every GEMM layer and/or per layer (bf16,ip2=fp32; comma separated): fp32 | tf32 "
                 "(cublas) | bf16 | fp16 | fp8e4m3 (tensor cores through cuBLASLt, fp32 accumulation; emulated on "
                 "the CPU; weights in format fp32)");
  cmd.add_option("--weights", f.weights,
                 "mixed-input weights (kernel mixed: narrow weights, bf16 activations, tensor cores) of every linear "
                 "layer and/or per layer (fc6=int4,fc7=int8; comma separated): int8 | fp8e4m3 | deft8e1..deft8e7 | "
                 "int4 | fp4e2m1; none = back to fp32 weights. On CUDA each shape runs the mixed-input kernel or "
                 "cuBLASLt bf16 on the decoded weights, whichever measures faster");
  cmd.add_option("--mixed-choice", f.mixed_choice,
                 "how kernel mixed picks its CUDA path: measure (default) | kernel | dequantized");
  cmd.add_option("--transform", f.transform, "run-time input transform under SVE: fused | copy | swap");
  cmd.add_flag("--no-fuse", f.no_fuse,
               "run every layer as it is (no ReLU fused into the conv/linear epilogue, dropout copied)");
  cmd.add_flag("--no-trunk", f.no_trunk,
               "keep activations NCHW (a bias + permute pass after every conv GEMM) instead of the channel-major "
               "conv trunk with deferred bias + ReLU");
}
