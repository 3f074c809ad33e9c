#include <filesystem>

#include "runtime/data/augment.h"
#include "runtime/data/codec.h"
#include "runtime/data/image_folder.h"
#include "runtime/data/loader.h"
#include "tests/catch.h"
#include "tests/unit/data_test_util.h"

using namespace acnn;
using namespace acnn::data;
using acnn::data::testing::synthetic_image;
using acnn::data::testing::TempDir;
namespace fs = std::filesystem;

namespace {

// root/<split>/{cat,dog,fish}: 3 + 2 + 2 good images (one gray, one PNG named
// .JPEG when libpng is there), a corrupt header, a truncated file and a
// non-image file.
void make_tree(const fs::path& root) {
  for (const char* c : {"cat", "dog", "fish"}) fs::create_directories(root / c);
  uint64_t seed = 1;
  auto put = [&](const std::string& rel, const Image& img) { write_file((root / rel).string(), encode_jpeg(img, 90)); };
  put("cat/a.JPEG", synthetic_image(40, 60, 3, seed++));
  put("cat/b.jpg", synthetic_image(50, 30, 3, seed++));
  put("cat/c.jpeg", synthetic_image(32, 32, 1, seed++));  // grayscale JPEG
  put("dog/a.JPEG", synthetic_image(45, 45, 3, seed++));
  if (png_supported())
    write_file((root / "dog/png_in_disguise.JPEG").string(), encode_png(synthetic_image(20, 24, 3, seed++)));
  else
    put("dog/png_in_disguise.JPEG", synthetic_image(20, 24, 3, seed++));
  put("fish/a.JPEG", synthetic_image(64, 48, 3, seed++));
  put("fish/b.JPEG", synthetic_image(48, 64, 3, seed++));
  // Damaged files.
  std::vector<uint8_t> junk = {0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0, 0x42, 0x42, 0x42};
  junk.resize(300, 0x42);
  junk.push_back(0xFF);
  junk.push_back(0xD9);
  write_file((root / "dog/corrupt.JPEG").string(), junk);
  auto full = encode_jpeg(synthetic_image(40, 40, 3, 99), 90);
  full.resize(full.size() * 2 / 3);
  write_file((root / "fish/truncated.JPEG").string(), full);
  write_file((root / "fish/notes.txt").string(), {'h', 'i'});
}

}  // namespace

TEST_CASE("data: ImageFolder lists classes, skips and counts damaged JPEGs", "[unit]") {
  if (!jpeg_supported()) {
    WARN("built without libjpeg-turbo: image folder checks skipped");
    return;
  }
  TempDir dir;
  make_tree(dir.path / "train");
  make_tree(dir.path / "val");
  auto train = open_imagenet(dir.path.string(), "train", {});
  CHECK(train->class_names() == std::vector<std::string>{"cat", "dog", "fish"});
  CHECK(train->num_classes() == 3);
  CHECK(train->size() == 7);
  CHECK(train->skipped_count() == 2);
  bool saw_trunc = false, saw_corrupt = false;
  for (const auto& s : train->skipped()) {
    saw_trunc |= s.path.find("truncated.JPEG") != std::string::npos && s.reason.find("truncated") != std::string::npos;
    saw_corrupt |= s.path.find("corrupt.JPEG") != std::string::npos;
  }
  CHECK(saw_trunc);
  CHECK(saw_corrupt);
  // Sorted files within sorted classes.
  CHECK(fs::path(train->path(0)).filename() == "a.JPEG");
  CHECK(train->label(0) == 0);
  CHECK(train->label(3) == 1);
  CHECK(train->label(6) == 2);
  Sample s = train->get(1);  // cat/b.jpg, 50x30
  CHECK(s.width == 30);
  CHECK(s.height == 50);
  CHECK(s.image().same_shape(Image(50, 30, 3)));
  CHECK(train->get(2).image().channels == 3);      // gray expanded to the folder's 3 channels
  CHECK(train->get(2).image(1).channels == 1);
  CHECK(train->get(4).image().width == 24);        // PNG named .JPEG, sniffed

  // Full verification agrees; no verification keeps the damaged files, and
  // the loader then counts and replaces them without crashing.
  ImageFolderOptions full;
  full.verify = Verify::Full;
  CHECK(ImageFolder((dir.path / "val").string(), full).skipped_count() == 2);
  ImageFolderOptions none;
  none.verify = Verify::None;
  auto raw = std::make_shared<ImageFolder>((dir.path / "val").string(), none);
  CHECK(raw->size() == 9);
  CHECK(raw->skipped_count() == 0);
  auto pipe = std::make_shared<Pipeline>(make_pipeline(imagenet_eval_config(36, 32)));
  LoaderConfig cfg;
  cfg.batch_size = 4;
  cfg.threads = 2;
  cfg.shuffle = false;
  DataLoader loader(raw, pipe, cfg);
  int64_t seen = 0;
  while (auto b = loader.next()) {
    CHECK(b->images.shape() == acnn::Shape{b->size(), 3, 32, 32});
    seen += b->size();
  }
  CHECK(seen == 9);
  CHECK(loader.stats().decode_failures == 2);
  CHECK(loader.stats().failures.size() == 2);
  CHECK(loader.stats().skipped_files == 0);
  DataLoader verified(train, pipe, cfg);
  while (verified.next()) {
  }
  CHECK(verified.stats().skipped_files == 2);
  CHECK(verified.stats().decode_failures == 0);
  CHECK(verified.stats().examples == 7);

  // Class list fixed from outside; missing folder is an error naming it.
  ImageFolderOptions fixed;
  fixed.classes = {"fish", "cat"};
  ImageFolder two((dir.path / "train").string(), fixed);
  CHECK(two.num_classes() == 2);
  CHECK(two.label(0) == 0);  // fish first
  fixed.classes = {"cat", "zebra"};
  CHECK(testing::contains(testing::message_of([&] { ImageFolder((dir.path / "train").string(), fixed); }), "zebra"));
  CHECK(testing::contains(testing::message_of([&] { open_imagenet(dir.path.string(), "test"); }), "--data"));
}

TEST_CASE("data: ImageNet-C layout reader", "[unit]") {
  if (!jpeg_supported()) return;
  TempDir dir;
  for (const char* c : {"fog", "gaussian_noise"})
    for (const char* s : {"1", "3"}) {
      for (const char* k : {"n01", "n02"}) {
        fs::create_directories(dir.path / c / s / k);
        write_file((dir.path / c / s / k / "x.JPEG").string(), encode_jpeg(synthetic_image(16, 16, 3), 80));
      }
    }
  fs::create_directories(dir.path / "fog" / "notes");
  ImageNetC inc(dir.path.string());
  CHECK(inc.corruptions() == std::vector<std::string>{"fog", "gaussian_noise"});
  CHECK(inc.severities("fog") == std::vector<int>{1, 3});
  CHECK(inc.has("gaussian_noise", 3));
  CHECK_FALSE(inc.has("gaussian_noise", 2));
  CHECK(inc.classes() == std::vector<std::string>{"n01", "n02"});
  auto f = inc.open("fog", 3);
  CHECK(f->size() == 2);
  CHECK(f->label(1) == 1);
  CHECK_THROWS(inc.open("fog", 2));
  CHECK_THROWS(ImageNetC((dir.path / "nothing").string()));
}
