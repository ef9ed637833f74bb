// The training loop end to end on a tiny net and a synthetic, separable
// dataset: the loss goes down, the accuracy reaches a derived threshold, a
// seeded run repeats exactly, and checkpoint + resume equals an
// uninterrupted run bit for bit on the CPU.
#include <cmath>
#include <filesystem>

#include "data/dataset.h"
#include "net/net.h"
#include "test_util.h"
#include "train/trainer.h"

namespace deftnn::test {
namespace {

using namespace deftnn::train;
namespace fs = std::filesystem;

// (1, 4, 4) images of 3 classes. Class c lights row c (value 200) on a dark
// background (30); every pixel gets uniform noise in [-25, 25]. The rows are
// 170 apart and the noise moves a pixel at most 25, so the classes are
// linearly separable with a wide margin: a trained classifier should be right
// on essentially every image. We ask for 95% (a few images may still be
// misclassified after a few hundred SGD steps) against 33% for chance.
data::Dataset synthetic(int64_t n, uint64_t seed) {
  Rng rng(seed);
  data::Dataset ds;
  ds.name = "synthetic";
  ds.classes = 3;
  ds.images = Tensor::empty({n, 1, 4, 4}, DType::U8);
  ds.labels = Tensor::empty({n}, DType::I32);
  for (int64_t i = 0; i < n; ++i) {
    int c = int(rng.below(3));
    ds.labels.data<int32_t>()[i] = c;
    for (int k = 0; k < 16; ++k) {
      int v = (k / 4 == c ? 200 : 30) + int(rng.below(51)) - 25;
      ds.images.data<uint8_t>()[i * 16 + k] = uint8_t(v);
    }
  }
  return ds;
}

nlohmann::json tiny_graph() {
  return nlohmann::json::parse(R"({
    "name": "tiny", "input": [1, 4, 4], "classes": 3,
    "layers": [
      {"type": "linear", "name": "fc1", "out": 16, "weight_filler": {"type": "xavier"}},
      {"type": "relu", "name": "relu1"},
      {"type": "linear", "name": "fc2", "out": 3, "weight_filler": {"type": "xavier"}}
    ]})");
}

struct Data {
  data::Dataset train, val, test;
};

Data make_data() {
  data::Dataset raw = synthetic(700, 11);
  auto split = data::split_validation(raw, 100, 1);
  data::Normalization norm = data::compute_normalization(split.train);
  return {data::normalize(split.train, norm), data::normalize(split.val, norm),
          data::normalize(synthetic(300, 12), norm)};
}

TrainConfig tiny_config() {
  TrainConfig cfg;
  cfg.epochs = 10;  // 600 images / batch 20 = 30 iterations an epoch: 300 in all
  cfg.batch = 20;
  cfg.lr.base_lr = 0.01;
  cfg.lr.policy = "step";
  cfg.lr.gamma = 0.5;
  cfg.lr.stepsize = 70;  // not a multiple of an epoch: resume must restore the iteration
  cfg.momentum = 0.9f;
  cfg.weight_decay = 5e-4f;
  cfg.seed = 3;
  cfg.progress = false;
  cfg.keep_best = false;
  return cfg;
}

std::vector<std::vector<float>> param_values(Net& net, Context& ctx) {
  std::vector<std::vector<float>> v;
  for (Param* p : net.params()) v.push_back(p->value.to_vector(ctx));
  return v;
}

std::string temp_path(const std::string& name) {
  return (fs::temp_directory_path() / ("deftnn_trainer_" + name)).string();
}

TEST(Trainer, TinyRunLearnsSeparableData) {
  auto ctx = Context::cpu();
  Data d = make_data();
  Net net = Net::from_graph(tiny_graph(), "tiny");
  net.init(5);
  net.to(*ctx);
  EvalResult before = evaluate(net, *ctx, d.test);
  Trainer trainer(net, *ctx, tiny_config());
  const auto& hist = trainer.fit(d.train, &d.val);
  ASSERT_EQ(hist.size(), 10u);
  EXPECT_EQ(trainer.iteration(), 300);
  EXPECT_LT(hist.back().train_loss, 0.5 * hist.front().train_loss)
      << "first epoch " << hist.front().train_loss << ", last " << hist.back().train_loss;
  EvalResult after = evaluate(net, *ctx, d.test);
  EXPECT_EQ(after.count, 300);
  EXPECT_LT(after.loss, before.loss);
  EXPECT_GE(after.accuracy, 0.95) << "before training " << before.accuracy;
  EXPECT_GE(hist.back().val_acc, 0.95);
}

TEST(Trainer, SameSeedSameResult) {
  auto ctx = Context::cpu();
  Data d = make_data();
  std::vector<std::vector<std::vector<float>>> runs;
  for (int r = 0; r < 2; ++r) {
    Net net = Net::from_graph(tiny_graph(), "tiny");
    net.init(5);
    net.to(*ctx);
    TrainConfig cfg = tiny_config();
    cfg.epochs = 2;
    Trainer trainer(net, *ctx, cfg);
    trainer.fit(d.train, &d.val);
    runs.push_back(param_values(net, *ctx));
  }
  EXPECT_EQ(runs[0], runs[1]);
}

TEST(Trainer, CheckpointResumeMatchesUninterruptedRun) {
  auto ctx = Context::cpu();
  Data d = make_data();
  std::string ckpt = temp_path("resume.safetensors");
  fs::remove(ckpt);

  Net whole = Net::from_graph(tiny_graph(), "tiny");
  whole.init(5);
  whole.to(*ctx);
  TrainConfig cfg = tiny_config();
  cfg.epochs = 4;
  cfg.keep_best = true;
  Trainer straight(whole, *ctx, cfg);
  straight.fit(d.train, &d.val);

  {  // Stop after 2 epochs, leaving a checkpoint.
    Net first = Net::from_graph(tiny_graph(), "tiny");
    first.init(5);
    first.to(*ctx);
    TrainConfig part = cfg;
    part.epochs = 2;
    part.checkpoint = ckpt;
    Trainer t(first, *ctx, part);
    t.fit(d.train, &d.val);
  }
  ASSERT_TRUE(fs::exists(ckpt));
  EXPECT_FALSE(fs::exists(ckpt + ".tmp"));
  Net resumed = Trainer::load_checkpoint_net(ckpt);
  resumed.to(*ctx);
  Trainer t(resumed, *ctx, cfg);
  t.resume(ckpt);
  EXPECT_EQ(t.epoch(), 2);
  EXPECT_EQ(t.iteration(), 60);
  t.fit(d.train, &d.val);
  EXPECT_EQ(t.iteration(), straight.iteration());
  EXPECT_EQ(t.best_epoch(), straight.best_epoch());
  ASSERT_EQ(t.history().size(), 4u);
  EXPECT_EQ(t.history().back().train_loss, straight.history().back().train_loss);
  EXPECT_EQ(param_values(resumed, *ctx), param_values(whole, *ctx));  // bit for bit
  fs::remove(ckpt);
}

TEST(Trainer, RejectsDataOfTheWrongShape) {
  auto ctx = Context::cpu();
  Net net = Net::from_graph(tiny_graph(), "tiny");
  net.init(1);
  net.to(*ctx);
  data::Dataset wrong = data::pad_images(synthetic(10, 1), 1);  // (1, 6, 6)
  Trainer trainer(net, *ctx, tiny_config());
  try {
    trainer.fit(wrong, nullptr);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_TRUE(m.find("(1, 4, 4)") != std::string::npos && m.find("(1, 6, 6)") != std::string::npos) << m;
  }
}

TEST(Trainer, TinyRunOnTheGpu) {
  DEFTNN_REQUIRE_GPU();
  auto ctx = Context::cuda();
  Data d = make_data();
  Net net = Net::from_graph(tiny_graph(), "tiny");
  net.init(5);
  net.to(*ctx);
  Trainer trainer(net, *ctx, tiny_config());
  trainer.fit(d.train, &d.val);
  EXPECT_GE(evaluate(net, *ctx, d.test).accuracy, 0.95);
}

}  // namespace
}  // namespace deftnn::test

namespace deftnn::test {
namespace {

TEST(TrainConfig, ReadsTheGraphsTrainObject) {
  train::TrainConfig cfg;
  cfg.apply_json(nlohmann::json::parse(R"({"epochs": 30, "batch": 128, "lr": 0.05, "momentum": 0.8,
      "weight_decay": 0.004, "lr_policy": "multistep", "gamma": 0.5, "stepvalues": [10, 20], "keep": "last"})"));
  EXPECT_EQ(cfg.epochs, 30);
  EXPECT_EQ(cfg.batch, 128);
  EXPECT_EQ(cfg.lr.base_lr, 0.05);
  EXPECT_EQ(cfg.momentum, 0.8f);
  EXPECT_EQ(cfg.weight_decay, 0.004f);
  EXPECT_EQ(cfg.lr.policy, "multistep");
  EXPECT_EQ(cfg.lr.stepvalues, (std::vector<int64_t>{10, 20}));
  EXPECT_FALSE(cfg.keep_best);
  EXPECT_THROW(cfg.apply_json(nlohmann::json::parse(R"({"epoch": 3})")), Error);  // typo: unknown key
  EXPECT_THROW(cfg.apply_json(nlohmann::json::parse(R"({"keep": "first"})")), Error);
}

TEST(TrainConfig, ModelFilesCarryValidRecipes) {
  for (const char* name : {"lenet", "cifarnet"}) {
    Net net = Net::load(std::string(DEFTNN_SOURCE_DIR) + "/models/" + name + ".json");
    nlohmann::json g = Net::read_graph_file(std::string(DEFTNN_SOURCE_DIR) + "/models/" + name + ".json");
    ASSERT_TRUE(g.contains("train")) << name;
    train::TrainConfig cfg;
    cfg.apply_json(g["train"]);
    cfg.lr.validate();
    EXPECT_GT(cfg.epochs, 0) << name;
  }
}

}  // namespace
}  // namespace deftnn::test
