// prepare_image_folder (train/prepare.h) on a small net: class-folder labels
// kept through the split, a flat folder labelled by the net, a class count
// that is not the net's, too few images, an empty folder. The files are
// written here with libpng and libjpeg (tests/data/image_test_util.h).
#include <map>

#include "data/image_folder.h"
#include "data/image_test_util.h"
#include "net/net.h"
#include "test_util.h"
#include "train/prepare.h"

namespace deftnn::test {
namespace {

namespace fs = std::filesystem;
using namespace deftnn::data;
using namespace deftnn::test::images;

#ifdef DEFTNN_TEST_WITH_IMAGES

// A 3-class net on (3, 6, 5) inputs: prepare_image_folder with class folders
// (the labels kept) and flat (labelled by the net), and a class count that
// is not the net's.
nlohmann::json small_net() {
  return nlohmann::json::parse(R"({
    "name": "imgnet", "input": [3, 6, 5], "classes": 3,
    "layers": [
      {"type": "linear", "name": "fc1", "out": 8, "weight_filler": {"type": "xavier"}},
      {"type": "relu", "name": "relu1"},
      {"type": "linear", "name": "fc2", "out": 3, "weight_filler": {"type": "xavier"}}
    ]})");
}

TEST(ImageFolderPrepare, ClassFoldersFlatAndErrors) {
  TempDir t;
  auto ctx = Context::cpu();
  Net net = Net::from_graph(small_net(), "imgnet");
  net.init(3);
  Rng rng(5);
  // 3 classes x 8 images of random sizes, PNG and JPEG, grey and colour.
  const std::vector<std::string> names = {"b_cat", "a_dog", "c_owl"};  // sorted: a_dog 0, b_cat 1, c_owl 2
  std::map<std::string, int32_t> want;
  for (const auto& cls : names)
    for (int i = 0; i < 8; ++i) {
      const int h = 4 + int(rng.below(10)), w = 4 + int(rng.below(10)), ic = rng.below(2) ? 3 : 1;
      const std::string path = t.file(fmt::format("cls/{}/{}.{}", cls, i, i % 2 ? "png" : "jpg"));
      if (i % 2)
        write_png(path, w, h, ic, 8, random_samples(size_t(h * w * ic), rng.next_u64(), 255));
      else
        write_jpeg(path, w, h, ic, smooth_samples(w, h, ic, rng.next_u64()));
      want[path] = cls == "a_dog" ? 0 : cls == "b_cat" ? 1 : 2;
    }
  write_bytes(t.file("cls/a_dog/notes.txt"), "skipped");
  train::ImageFolderPrepare ip;
  train::PreparedData d = train::prepare_image_folder(net, *ctx, t.file("cls"), ip, 4, 1);
  EXPECT_EQ(d.train.size() + d.val.size() + d.test.size(), 24);
  EXPECT_EQ(d.val.size(), 4);
  EXPECT_EQ(d.test.size(), 4);
  EXPECT_EQ(d.info["labels"], "class folders");
  EXPECT_EQ(d.info["classes"], nlohmann::json({"a_dog", "b_cat", "c_owl"}));
  EXPECT_EQ(d.info["skipped"], 1);
  EXPECT_EQ(d.train.images.shape(), (Shape{16, 3, 6, 5}));
  // Every image's label is its folder's: find each split image among the files.
  const ImageFolderListing l = list_image_folder(t.file("cls"));
  ImageFolderOptions o;
  o.input = {3, 6, 5};
  std::vector<std::vector<float>> inputs;
  for (const auto& f : l.files) inputs.push_back(load_image_as_input(f, o));
  int64_t matched = 0;
  for (const data::Dataset* ds : {&d.train, &d.val, &d.test})
    for (int64_t r = 0; r < ds->size(); ++r) {
      const float* x = ds->images.data<float>() + r * 90;
      for (size_t k = 0; k < l.files.size(); ++k)
        if (std::equal(inputs[k].begin(), inputs[k].end(), x)) {
          EXPECT_EQ(ds->labels.data<int32_t>()[r], want[l.files[k]]) << l.files[k];
          ++matched;
          break;
        }
    }
  EXPECT_EQ(matched, 24);
  // Flat: the dense net's top-1 labels.
  for (const auto& f : l.files) {
    const fs::path p(f);
    fs::create_directories(t.file("flat"));
    fs::copy_file(p, t.file("flat/" + p.parent_path().filename().string() + "_" + p.filename().string()));
  }
  d = train::prepare_image_folder(net, *ctx, t.file("flat"), ip, 4, 1);
  EXPECT_EQ(d.info["labels"], "dense top-1");
  const Tensor logits = net.forward(*ctx, d.train.images, false);
  for (int64_t r = 0; r < d.train.size(); ++r) {
    const float* row = logits.data<float>() + r * 3;
    EXPECT_EQ(d.train.labels.data<int32_t>()[r], int32_t(std::max_element(row, row + 3) - row));
  }
  // Two class folders for a 3-class net; too few images; an empty folder.
  fs::remove_all(t.file("cls/c_owl"));
  expect_words(error_of([&] { train::prepare_image_folder(net, *ctx, t.file("cls"), ip, 4, 1); }),
               {"cls", "2 class folders (a_dog ... b_cat)", "has 3 outputs"});
  write_png(t.file("few/a.png"), 5, 6, 3, 8, random_samples(90, 1, 255));
  expect_words(error_of([&] { train::prepare_image_folder(net, *ctx, t.file("few"), ip, 4, 1); }),
               {"few", "1 inputs", "give at least 14"});  // 14 - 2 * min(4, 14 / 4) = 8; 13 - 2 * 3 = 7
  fs::create_directories(t.file("none"));
  expect_words(error_of([&] { train::prepare_image_folder(net, *ctx, t.file("none"), ip, 4, 1); }),
               {"none", "holds no images"});
}

#endif  // DEFTNN_TEST_WITH_IMAGES

}  // namespace
}  // namespace deftnn::test
