#include "tune/optimize.h"

#include <algorithm>
#include <chrono>
#include <fmt/format.h>
#include <set>

#include "core/error.h"
#include "layers/gemm_layer.h"
#include "sve/correlation.h"
#include "train/distill.h"

namespace deftnn::tune {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// A fixed batch of validation images for timing, on ctx's device.
Tensor timing_batch(const data::Dataset& val, int64_t n, Context& ctx) {
  n = std::min<int64_t>(n, val.size());
  return val.images.slice0(0, n).to(ctx.device(), ctx);
}

}  // namespace

void install_choice(Net& net, Context& ctx, const OptimizeResult& r, const std::vector<int>& choice,
                    const std::string& twin) {
  for (size_t s = 0; s < r.optimised.size(); ++s) {
    const auto& opts = twin == "l1" ? r.l1_options[s] : twin == "paper" ? r.paper_options[s] : r.options[s];
    install(net, r.layers[r.optimised[s]], opts[size_t(choice[s])].setting, ctx);
  }
}

namespace {

void set_params(Net& net, Context& ctx, const std::vector<Tensor>& values) {
  std::vector<Param*> ps = net.params();
  DEFTNN_CHECK(ps.size() == values.size(), "{}: {} parameters stored, the net has {}", net.name(), values.size(),
               ps.size());
  for (size_t i = 0; i < ps.size(); ++i) ps[i]->value = values[i].to(ctx.device(), ctx);
  for (size_t i = 0; i < net.size(); ++i) net.layer(i).on_device_change(ctx);
}

std::vector<Tensor> get_params(Net& net, Context& ctx) {
  std::vector<Tensor> v;
  for (Param* p : net.params()) v.push_back(p->value.to(Device::CPU, ctx));
  return v;
}

}  // namespace

namespace {

std::vector<std::string> format_names(const std::vector<Format>& formats) {
  std::vector<std::string> v;
  for (const Format& f : formats) v.push_back(f.name());
  return v;
}

}  // namespace

void install_point(Net& net, Context& ctx, const OptimizeResult& r, const Point& p) {
  set_params(net, ctx, r.base);
  install_choice(net, ctx, r, p.choice);
  if (p.tuned >= 0) set_params(net, ctx, r.tuned[size_t(p.tuned)]);
  LayerExec exec;  // fp32: cuBLAS / OpenBLAS; another format: the fission kernels (KernelFamily::Auto)
  exec.format = p.format;
  for (const GemmLayer& l : r.layers) net.layer(l.index).as_gemm()->set_exec(exec);
}

OptimizeResult optimize(Net& net, Context& ctx, const train::PreparedData& d, const OptimizeOptions& o) {
  if (!o.fission_formats.empty()) {  // refuse before any work
    std::string names;
    for (const Format& f : o.fission_formats) names += (names.empty() ? "" : ", ") + f.name();
    DEFTNN_CHECK(ctx.is_cuda(), "optimize: fission formats ({}) need the GPU; this run is on {}", names,
                 device_name(ctx.device()));
  }
  auto log = [&](const std::string& s) {
    if (o.log) o.log(s);
  };
  const auto t_start = Clock::now();
  OptimizeResult r;
  r.layers = gemm_layers(net);
  DEFTNN_CHECK(!r.layers.empty(), "{}: no conv or linear layer to optimise", net.name());
  DEFTNN_CHECK(d.val.size() > 0, "optimize needs a validation split (--val > 0)");
  int64_t dense_flops = 0;
  for (const auto& l : r.layers) dense_flops += l.flops;
  for (size_t i = 0; i < r.layers.size(); ++i)
    if ((i > 0 || r.layers[i].type != "conv" || o.include_first_conv) &&
        double(r.layers[i].flops) >= o.min_layer_flops * double(dense_flops))
      r.optimised.push_back(i);
  DEFTNN_CHECK(!r.optimised.empty(), "{}: no layer to optimise (min_layer_flops {})", net.name(), o.min_layer_flops);
  DEFTNN_CHECK(o.joint_twins == "l1" || o.joint_twins == "all" || o.joint_twins == "none",
               "optimize: joint_twins '{}' (known: l1, all, none)", o.joint_twins);

  DEFTNN_CHECK(o.method == "sve" || o.method == "sve-ls", "optimize: unknown SVE method '{}' (known: sve, sve-ls)",
               o.method);
  const bool ls = o.method == "sve-ls";
  const bool paper_twin = ls && o.paper_baseline;
  r.base = get_params(net, ctx);
  Tensor tx = timing_batch(d.val, o.time_batch, ctx);
  const double dense_acc = train::evaluate(net, ctx, d.val).accuracy;
  const double dense_ms = forward_ms(net, ctx, tx, o.time_reps);
  log(fmt::format("dense: validation accuracy {:.2f}%, forward {:.3f} ms per {} images", 100 * dense_acc, dense_ms,
                  tx.dim(0)));
  // Distillation: the dense net is the teacher; its logits for the training
  // split are computed once and shared by every fine-tuning.
  FinetuneOptions ft = o.finetune, jt = o.joint;
  if (ft.distilled() || jt.distilled()) {
    auto t0 = Clock::now();
    Tensor teacher = train::predict_logits(net, ctx, d.train);
    ft.teacher_logits = jt.teacher_logits = teacher;
    log(fmt::format("teacher logits for {} training images ({:.1f} s)", d.train.size(), seconds_since(t0)));
  }

  // Variants, layer by layer.
  for (size_t s = 0; s < r.optimised.size(); ++s) {
    const GemmLayer& l = r.layers[r.optimised[s]];
    LayerSetting dense = capture(net, l, ctx);
    Variant dv;
    dv.id = l.name + "/dense";
    dv.layer = s;
    dv.method = "dense";
    dv.val_acc = dv.val_acc_before = dense_acc;
    dv.time_ms = dense_ms;
    dv.setting = dense;
    r.options.push_back({dv});
    r.l1_options.push_back({dv});
    r.paper_options.push_back({dv});
    Tensor w = dense.weight.reshape({l.M, l.K});
    auto t0 = Clock::now();
    Tensor rho = sve::correlation_matrix(ctx, w).to(Device::CPU, ctx);
    std::vector<sve::SearchResult> searches;
    sve::SearchOptions so;
    so.align = o.align;
    if (!o.alphas.empty()) {
      for (double a : o.alphas) {
        so.alpha = a;
        searches.push_back(sve::greedy_search(rho, so));
      }
    } else {
      for (double dens : o.densities)
        searches.push_back(sve::search_keep_count(rho, std::max<int64_t>(1, int64_t(dens * double(l.K) + 0.5)), so));
    }
    std::optional<sve::InputStats> stats;
    // A linear layer gives one column per image: take at least 5 K images so
    // that Sigma is well determined (conv layers give H_o * W_o per image).
    if (ls)
      stats = layer_input_stats(net, ctx, l, d.train, l.type == "linear" ? std::max(o.stats_images, 5 * l.K) : o.stats_images);
    log(fmt::format("{}: K={} M={}, correlation, search{} {:.2f} s", l.name, l.K, l.M,
                    ls ? fmt::format(" and input statistics ({} columns)", stats->count) : "", seconds_since(t0)));
    std::sort(searches.begin(), searches.end(),
              [](const auto& a, const auto& b) { return a.kept.size() > b.kept.size(); });
    std::set<size_t> seen;
    for (const auto& sr : searches) {
      if (int64_t(sr.kept.size()) >= l.K || !seen.insert(sr.kept.size()).second) continue;
      Variant v = make_variant(net, ctx, l, s, dense, o.method, sr, sr.kept, o.transform, d.train, d.val, ft,
                               stats ? &*stats : nullptr, o.ridge);
      log(fmt::format("  {}: kept {}/{} ({}{}), val {:.2f}% -> fine-tuned {:.2f}% ({:.1f} s)", v.id, v.kept(), l.K,
                      sr.added_by_rounding ? fmt::format("+{} by rounding, ", sr.added_by_rounding) : "",
                      fmt::format("alpha {:.4f}", sr.alpha), 100 * v.val_acc_before, 100 * v.val_acc, v.finetune_s));
      if (o.l1_baseline) {
        sve::SearchResult lr;
        lr.k = l.K;
        lr.kept = sve::l1_keep(w, v.kept());
        Variant lv = make_variant(net, ctx, l, s, dense, "l1", lr, lr.kept, o.transform, d.train, d.val, ft);
        log(fmt::format("  {}: val {:.2f}% -> fine-tuned {:.2f}%", lv.id, 100 * lv.val_acc_before, 100 * lv.val_acc));
        r.l1_options[s].push_back(std::move(lv));
      }
      if (paper_twin) {
        Variant pv = make_variant(net, ctx, l, s, dense, "sve", sr, sr.kept, o.transform, d.train, d.val, ft);
        log(fmt::format("  {}: val {:.2f}% -> fine-tuned {:.2f}%", pv.id, 100 * pv.val_acc_before, 100 * pv.val_acc));
        r.paper_options[s].push_back(std::move(pv));
      }
      r.options[s].push_back(std::move(v));
    }
  }

  // Timing: every set of configurations is timed in interleaved rounds
  // (time_rounds; each round visits every configuration, in alternating
  // order, for time_reps passes after one warm-up pass), so that load that
  // comes and goes reaches all of them alike; a configuration's time is its
  // fastest pass on the CPU, the median on CUDA.
  const size_t L = r.optimised.size();
  auto time_choices = [&](const std::vector<std::vector<int>>& choices) {
    std::vector<std::vector<double>> samples(choices.size());
    const int rounds = std::max(1, o.time_rounds);
    for (int round = 0; round < rounds; ++round)
      for (size_t k = 0; k < choices.size(); ++k) {
        const size_t c = round % 2 ? choices.size() - 1 - k : k;
        install_choice(net, ctx, r, choices[c]);
        std::vector<double> t = forward_times(net, ctx, tx, o.time_reps, 1);
        samples[c].insert(samples[c].end(), t.begin(), t.end());
      }
    install_choice(net, ctx, r, std::vector<int>(L, 0));
    std::vector<double> out;
    for (auto& t : samples) out.push_back(summarize_times(ctx, t));
    return out;
  };
  // Each variant alone (the greedy path's time savings; the layer table).
  {
    auto t0 = Clock::now();
    std::vector<std::vector<int>> alone = {std::vector<int>(L, 0)};
    for (size_t s = 0; s < L; ++s)
      for (size_t k = 1; k < r.options[s].size(); ++k) {
        alone.emplace_back(L, 0);
        alone.back()[s] = int(k);
      }
    std::vector<double> t = time_choices(alone);
    size_t at = 1;
    for (size_t s = 0; s < L; ++s) {
      r.options[s][0].time_ms = r.l1_options[s][0].time_ms = r.paper_options[s][0].time_ms = t[0];
      for (size_t k = 1; k < r.options[s].size(); ++k, ++at)
        for (auto* opts : {&r.options[s], &r.l1_options[s], &r.paper_options[s]})
          if (k < opts->size()) {
            (*opts)[k].time_ms = t[at];
            (*opts)[k].dense_time_ms = t[0];
          }
    }
    log(fmt::format("dense and {} variants alone timed in {} interleaved rounds of {} passes ({:.1f} s): dense {:.3f} ms",
                    alone.size() - 1, std::max(1, o.time_rounds), o.time_reps, seconds_since(t0), t[0]));
  }

  // Compositions: validation accuracy now, time below (all together).
  auto layer_flops = [&](size_t s, int option) {
    const Variant& v = r.options[s][size_t(option)];
    const double f = double(r.layers[r.optimised[s]].flops);
    return v.method == "dense" ? f : f * v.plan.density();
  };
  auto measure = [&](const std::vector<int>& choice, const std::string& how) {
    for (const Point& p : r.points)
      if (p.choice == choice) return;
    install_choice(net, ctx, r, choice);
    Point p;
    p.choice = choice;
    p.how = how;
    p.val_acc = train::evaluate(net, ctx, d.val).accuracy;
    double flops = double(dense_flops);
    for (size_t s = 0; s < L; ++s) flops -= layer_flops(s, 0) - layer_flops(s, choice[s]);
    p.flops_ratio = flops / double(dense_flops);
    r.points.push_back(p);
  };
  measure(std::vector<int>(L, 0), "dense");
  double grid_size = 1;
  for (const auto& v : r.options) grid_size *= double(v.size());
  if (grid_size <= double(o.max_grid)) {
    // Every combination (layer 0 slowest-varying), each measured.
    std::vector<int> c(L, 0);
    for (;;) {
      size_t s = L;
      while (s > 0 && size_t(++c[s - 1]) == r.options[s - 1].size()) c[--s] = 0;
      if (s == 0) break;
      measure(c, "grid");
    }
  } else {
    // Greedy paths: from all-dense, each step moves one layer to its next
    // (smaller) variant, the one that saves the most per point of (isolated)
    // validation accuracy lost. Two paths: savings in measured time alone,
    // and in GEMM FLOPs (steadier where the time savings of small layers are
    // below the timing noise). Both only choose which compositions get measured.
    for (const bool by_time : {true, false}) {
      std::vector<int> cur(L, 0);
      for (;;) {
        int best = -1;
        double best_score = -1;
        for (size_t s = 0; s < L; ++s) {
          const size_t c = size_t(cur[s]);
          if (c + 1 >= r.options[s].size()) continue;
          const Variant &a = r.options[s][c], &b = r.options[s][c + 1];
          const double flops_saved = layer_flops(s, int(c)) - layer_flops(s, int(c + 1));
          const double save = by_time ? std::max(0.0, a.time_ms - b.time_ms) + 1e-9 * flops_saved : flops_saved;
          const double score = save / std::max(1e-4, a.val_acc - b.val_acc);
          if (score > best_score) best_score = score, best = int(s);
        }
        if (best < 0) break;
        ++cur[size_t(best)];
        measure(cur, by_time ? "greedy" : "greedy-flops");
      }
    }
    // Uniform levels: every layer at its i-th variant.
    size_t max_opts = 0;
    for (const auto& v : r.options) max_opts = std::max(max_opts, v.size());
    for (size_t i = 1; i < max_opts; ++i) {
      std::vector<int> c(L);
      for (size_t s = 0; s < L; ++s) c[s] = int(std::min(i, r.options[s].size() - 1));
      measure(c, "uniform");
    }
  }
  // Every composition timed together (joint points below run the same shapes
  // as their composition, so they share its time).
  {
    auto t0 = Clock::now();
    std::vector<std::vector<int>> choices;
    for (const Point& p : r.points) choices.push_back(p.choice);
    std::vector<double> t = time_choices(choices);
    for (size_t i = 0; i < r.points.size(); ++i) {
      r.points[i].time_ms = t[i];
      r.points[i].speedup = t[0] / t[i];
    }
    log(fmt::format("{} compositions timed in {} interleaved rounds of {} passes ({:.1f} s)", choices.size(),
                    std::max(1, o.time_rounds), o.time_reps, seconds_since(t0)));
  }
  // Joint fine-tuning of the composed frontier (the paper's step 3): each
  // chosen composition is installed and every layer fine-tuned together.
  std::vector<Point> composed_frontier = pareto_frontier(r.points);
  std::vector<size_t> cand;
  for (size_t i = 0; i < composed_frontier.size(); ++i)
    if (composed_frontier[i].how != "dense") cand.push_back(i);
  std::vector<Point> pick;
  if (!o.joint_flops.empty()) {
    // By GEMM FLOPs: per cap, the most accurate composition within it.
    for (size_t ci = 0; ci < o.joint_flops.size(); ++ci) {
      const double cap = o.joint_flops[ci];
      const int64_t iters = ci < o.joint_flops_iterations.size() ? o.joint_flops_iterations[ci] : o.joint.iterations;
      if (iters <= 0) continue;
      const Point* best = nullptr;
      for (const Point& p : r.points)
        if (p.how != "dense" && p.flops_ratio <= cap + 1e-12 &&
            (!best || p.val_acc > best->val_acc || (p.val_acc == best->val_acc && p.flops_ratio < best->flops_ratio)))
          best = &p;
      if (!best) continue;
      bool dup = false;
      for (const Point& q : pick) dup |= q.choice == best->choice;
      if (dup) continue;
      pick.push_back(*best);
      pick.back().joint_iterations = iters;
    }
  } else if (o.joint_points > 0 && o.joint.iterations > 0 && !cand.empty()) {
    // Evenly spread over the composed frontier, fastest always included.
    const size_t n = std::min(cand.size(), size_t(o.joint_points));
    size_t last = composed_frontier.size();
    for (size_t k = 0; k < n; ++k) {
      size_t at = n == 1 ? cand.size() - 1 : (k * (cand.size() - 1) + (n - 1) / 2) / (n - 1);
      if (cand[at] != last) {
        pick.push_back(composed_frontier[cand[at]]);
        pick.back().joint_iterations = o.joint.iterations;
      }
      last = cand[at];
    }
  }
  for (Point p : pick) {
    install_point(net, ctx, r, p);
    p.composed_val_acc = p.val_acc;
    FinetuneOptions pj = jt;
    pj.iterations = p.joint_iterations;
    p.joint_s = finetune(net, ctx, d.train, pj, 0xA5A5A5A5ull + r.tuned.size());
    p.val_acc = train::evaluate(net, ctx, d.val).accuracy;
    p.test_acc = train::evaluate(net, ctx, d.test).accuracy;
    p.how = "joint";
    p.tuned = int(r.tuned.size());
    r.tuned.push_back(get_params(net, ctx));
    log(fmt::format("joint fine-tune of {:.0f}% FLOPs, {} iterations: validation {:.2f}% -> {:.2f}%, test {:.2f}% ({:.1f} s)",
                    100 * p.flops_ratio, p.joint_iterations, 100 * p.composed_val_acc, 100 * p.val_acc,
                    100 * p.test_acc, p.joint_s));
    r.points.push_back(p);
  }
  const double dense_point_ms = r.points.front().time_ms;
  // Fission formats (GPU): the frontier so far again, each point with every
  // GEMM layer's forward in each format (accuracy changes only by the
  // format's rounding of weights and activations: no fine-tuning).
  if (!o.fission_formats.empty()) {
    const std::vector<Point> fp32_frontier = pareto_frontier(r.points);
    for (const Format& f : o.fission_formats) {
      if (f.kind == FormatKind::FP32) continue;
      for (const Point& q : fp32_frontier) {
        Point p = q;
        p.format = f;
        p.how = q.how + "+" + f.name();
        install_point(net, ctx, r, p);
        p.val_acc = train::evaluate(net, ctx, d.val).accuracy;
        p.time_ms = forward_ms(net, ctx, tx, o.time_reps * std::max(1, o.time_rounds));
        p.speedup = dense_point_ms / p.time_ms;
        log(fmt::format("{} at {:.0f}% FLOPs with {}: validation {:.2f}% -> {:.2f}%, {:.3f} -> {:.3f} ms", q.how,
                        100 * q.flops_ratio, f.name(), 100 * q.val_acc, 100 * p.val_acc, q.time_ms, p.time_ms));
        r.points.push_back(p);
      }
    }
  }
  r.frontier = pareto_frontier(r.points);
  // Test accuracy and the twins of each frontier point: the same layers and
  // kept counts with L1-pruned variants (and, for sve-ls, the paper's scaled
  // variants); a joint point's twins named by joint_twins are jointly
  // fine-tuned the same way (same options, same minibatches), the others are
  // not reported for joint points.
  for (Point& p : r.frontier) {
    install_point(net, ctx, r, p);
    if (p.test_acc < 0) p.test_acc = train::evaluate(net, ctx, d.test).accuracy;
    for (const std::string twin : {"l1", "paper"}) {
      if (twin == "l1" ? !o.l1_baseline : !paper_twin) continue;
      if (p.tuned >= 0 && !(o.joint_twins == "all" || o.joint_twins == twin)) continue;
      set_params(net, ctx, r.base);
      install_choice(net, ctx, r, p.choice, twin);
      if (p.tuned >= 0) {
        FinetuneOptions pj = jt;
        pj.iterations = p.joint_iterations;
        finetune(net, ctx, d.train, pj, 0xA5A5A5A5ull + uint64_t(p.tuned));
      }
      // Validation accuracy for jointly fine-tuned twins only (composed twins:
      // test only, to save time; their variants' validation accuracy is in
      // the layer table).
      if (p.tuned >= 0) (twin == "l1" ? p.l1_val_acc : p.paper_val_acc) = train::evaluate(net, ctx, d.val).accuracy;
      (twin == "l1" ? p.l1_test_acc : p.paper_test_acc) = train::evaluate(net, ctx, d.test).accuracy;
    }
  }
  r.selected = select_point(r.frontier, o.target_acc, o.target_speedup);
  install_point(net, ctx, r, r.frontier[r.selected]);
  log(fmt::format("{} compositions measured, {} on the frontier; selected {:.2f}x at {:.2f}% validation", r.points.size(),
                  r.frontier.size(), r.frontier[r.selected].speedup, 100 * r.frontier[r.selected].val_acc));

  // Report.
  nlohmann::json& j = r.report;
  double dense_test = -1;
  for (const Point& p : r.frontier)
    if (p.how == "dense") dense_test = p.test_acc;
  if (dense_test < 0) {
    install_point(net, ctx, r, r.points.front());
    dense_test = train::evaluate(net, ctx, d.test).accuracy;
    install_point(net, ctx, r, r.frontier[r.selected]);
  }
  j["model"] = net.name();
  j["device"] = device_name(ctx.device());
  j["dense"] = {{"val_acc", dense_acc}, {"test_acc", dense_test}, {"time_ms", dense_point_ms}, {"gemm_flops", dense_flops},
                {"timing_batch", tx.dim(0)}};
  nlohmann::json layers = nlohmann::json::array();
  for (size_t i = 0; i < r.layers.size(); ++i) {
    const GemmLayer& l = r.layers[i];
    nlohmann::json lj = {{"name", l.name}, {"type", l.type}, {"M", l.M}, {"K", l.K}, {"groups", l.groups},
                         {"gemm_flops", l.flops}, {"optimised", false}};
    for (size_t s = 0; s < L; ++s)
      if (r.optimised[s] == i) {
        lj["optimised"] = true;
        lj["variants"] = nlohmann::json::array();
        for (size_t k = 0; k < r.options[s].size(); ++k) {
          nlohmann::json vj = r.options[s][k].to_json();
          if (k > 0 && o.l1_baseline) {
            vj["l1_val_acc"] = r.l1_options[s][k].val_acc;
            vj["l1_val_acc_before_finetune"] = r.l1_options[s][k].val_acc_before;
          }
          if (k > 0 && paper_twin) {
            vj["paper_val_acc"] = r.paper_options[s][k].val_acc;
            vj["paper_val_acc_before_finetune"] = r.paper_options[s][k].val_acc_before;
          }
          const Variant& v = r.options[s][k];
          vj["speedup"] = (k == 0 ? v.time_ms : v.dense_time_ms) / v.time_ms;
          lj["variants"].push_back(vj);
        }
        const Variant& sel = r.options[s][size_t(r.frontier[r.selected].choice[s])];
        lj["selected"] = sel.id;
        lj["selected_density"] = sel.method == "dense" ? 1.0 : sel.plan.density();
        lj["selected_speedup_alone"] = sel.method == "dense" ? 1.0 : sel.dense_time_ms / sel.time_ms;
      }
    layers.push_back(lj);
  }
  j["layers"] = layers;
  j["points"] = nlohmann::json::array();
  for (const Point& p : r.points) j["points"].push_back(p.to_json());
  j["frontier"] = nlohmann::json::array();
  for (const Point& p : r.frontier) j["frontier"].push_back(p.to_json());
  j["selected"] = r.selected;
  // The accuracy criterion: the most accurate frontier point within
  // 0.2 points of the dense test accuracy, and its GEMM FLOPs.
  std::optional<size_t> within;
  for (size_t i = 0; i < r.frontier.size(); ++i)
    if (r.frontier[i].test_acc >= dense_test - 0.002 - 1e-9 &&
        (!within || r.frontier[i].flops_ratio < r.frontier[*within].flops_ratio))
      within = i;
  if (within)
    j["cheapest_within_0.2_points"] = {{"frontier_index", *within}, {"flops_ratio", r.frontier[*within].flops_ratio},
                                        {"test_acc", r.frontier[*within].test_acc},
                                        {"speedup", r.frontier[*within].speedup}};
  j["options"] = {{"alphas", o.alphas},
                  {"densities", o.alphas.empty() ? nlohmann::json(o.densities) : nlohmann::json()},
                  {"align", o.align},
                  {"transform", sve_transform_name(o.transform)},
                  {"method", o.method},
                  {"stats_images", o.stats_images},
                  {"ridge", o.ridge},
                  {"joint_points", o.joint_points},
                  {"joint_flops", o.joint_flops},
                  {"joint_flops_iterations", o.joint_flops_iterations},
                  {"max_grid", o.max_grid},
                  {"joint_iterations", o.joint.iterations},
                  {"joint_lr", o.joint.lr},
                  {"joint_lr_policy", o.joint.lr_policy},
                  {"joint_twins", o.joint_twins},
                  {"finetune_iterations", o.finetune.iterations},
                  {"finetune_batch", o.finetune.batch},
                  {"finetune_lr", o.finetune.lr},
                  {"fission_formats", format_names(o.fission_formats)},
                  {"finetune_lr_policy", o.finetune.lr_policy},
                  {"distillation",
                   {{"teacher", "the dense model as given"},
                    {"variants", {{"weight", o.finetune.distill_weight}, {"temperature", o.finetune.distill_temperature}}},
                    {"joint", {{"weight", o.joint.distill_weight}, {"temperature", o.joint.distill_temperature}}}}},
                  {"seed", o.finetune.seed},
                  {"time_reps", o.time_reps},
                  {"time_rounds", o.time_rounds},
                  {"time_batch", tx.dim(0)},
                  {"time_statistic", ctx.is_cuda() ? "median" : "min"},
                  {"include_first_conv", o.include_first_conv},
                  {"min_layer_flops", o.min_layer_flops}};
  j["seconds"] = seconds_since(t_start);
  return r;
}

}  // namespace deftnn::tune
