// What `deftnn optimize` is asked to do: every setting of the optimiser's
// stages, with the defaults the command shows.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "formats/format.h"
#include "synapse/sve_state.h"
#include "sve/method.h"
#include "tune/finetune.h"
#include "tune/granularity.h"
#include "tune/twins.h"

namespace deftnn::tune {

// Progress lines (may be empty: nothing is said).
using Log = std::function<void(const std::string&)>;
inline void say(const Log& log, const std::string& line) {
  if (log) log(line);
}

struct OptimizeOptions {
  // Thresholds per layer. Empty: the keep-count mode at `densities` (the alpha
  // each lands on is reported), which spreads variants evenly whatever the
  // weights' correlation structure.
  std::vector<double> alphas;
  std::vector<double> densities = {0.8, 0.65, 0.5, 0.4, 0.3, 0.2, 0.1};
  int64_t align = 1;                 // kept counts rounded up to a multiple (GEMM tile K)
  // Tap: the paper's single synapse vectors. Channel: a conv's vectors in
  // groups of kh*kw (one per input channel), a linear layer's on a flattened
  // conv output in groups of h*w (sve/groups.h); densities then count kept
  // channels (kept_count over the groups), the L1 twin prunes whole channels.
  Granularity granularity = Granularity::Tap;
  bool include_input_layer = false;   // the input layer is small and sensitive (section 5.3)
  // Layers with less than this share of the net's GEMM FLOPs stay dense: they
  // can save neither time nor FLOPs worth an accuracy loss (LeNet-5's ip2,
  // 0.2%), and every variant costs fine-tuning time. 0 = optimise every layer.
  double min_layer_flops = 0.01;
  bool l1_baseline = true;
  SveTransform transform = SveTransform::Fused;
  // The SVE variant the compositions use: SveLs (ours: the paper's search,
  // then least-squares reconstruction from input statistics, sve/reconstruct.h)
  // or Sve (the paper's K/K' scaling). With SveLs and paper_baseline the
  // paper's variant at the same kept set is built and reported beside it.
  sve::Method method = sve::Method::SveLs;
  bool paper_baseline = true;
  int64_t stats_images = 512;        // training images for the input statistics (sve-ls)
  double ridge = 1e-4;               // sve-ls regularisation (relative to the mean input variance)
  FinetuneOptions finetune = [] {   // per variant, that layer alone (composable at run time)
    FinetuneOptions f;
    f.iterations = 100;
    f.distill_weight = 0.3;
    return f;
  }();
  // Joint fine-tuning (the paper's step 3, Figure 3): chosen compositions
  // (joint_flops, or joint_points spread over the composed frontier) are
  // fine-tuned with every layer trainable, distilled from the dense net, and
  // added as "joint" points; the final frontier is taken over all points.
  // iterations 0 = off. The twins named by joint_twins are jointly fine-tuned
  // the same way, for a fair comparison. The defaults are measured in
  // docs/sve.md section 7 (LeNet-5: 3 epochs, lr 0.01 decaying linearly,
  // distillation weight 0.3 at temperature 4).
  FinetuneOptions joint = [] {
    FinetuneOptions f;
    f.iterations = 860;
    f.lr = 0.01;
    f.lr_policy = "linear";
    f.distill_weight = 0.3;
    return f;
  }();
  int joint_points = 6;
  // Joint points chosen by GEMM FLOPs instead of spread over the composed
  // frontier: for each cap, the measured composition with the best validation
  // accuracy among those with flops_ratio <= cap (duplicates once). Empty:
  // joint_points spread evenly over the composed frontier.
  std::vector<double> joint_flops = {0.6, 0.5, 0.4};
  // SGD iterations of the joint point of each cap (missing entries:
  // joint.iterations). The point that decides the accuracy criterion (at
  // most 60% of the FLOPs) gets the long schedule.
  std::vector<int64_t> joint_flops_iterations = {2580};
  // Compositions: every combination of the layers' options when there are at
  // most this many (then each is measured), else greedy paths and uniform levels.
  int64_t max_grid = 64;
  // Which twins of a joint point get the same joint fine-tuning (tune/twins.h).
  JointTwins joint_twins = JointTwins::L1;
  // Fission formats (GPU only; Format::parse names such as "deft16q",
  // "fp8e4m3"): every point of the frontier (after joint fine-tuning) is
  // measured again with every GEMM layer's forward GEMM in each format, and
  // the final frontier is taken over all points. Empty = fp32 only.
  std::vector<Format> fission_formats;
  int time_reps = 3;                 // forward passes per configuration and round
  int64_t time_batch = 256;          // images per timed forward pass
  // Compositions are timed again after every composition is known, in
  // time_rounds interleaved rounds (each visits every composition, in
  // alternating order, for time_reps passes); a composition's time is its
  // fastest pass over all rounds (CPU; the median on CUDA). Load that drifts
  // during the run then reaches every composition alike. 0: each composition
  // keeps the one timing taken when it was first measured.
  int time_rounds = 4;
  std::optional<double> target_acc, target_speedup;  // the selector's goal
  Log log;                                           // progress lines (may be empty)
};

}  // namespace deftnn::tune
