// safetensors: round trips for every dtype, the exact bytes of a hand-built
// file, every corruption the reader must reject, and atomic replacement.
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "runtime/train/atomic_file.h"
#include "runtime/train/safetensors.h"
#include "tests/catch.h"
#include "tests/unit/train_test_util.h"

using namespace acnn;
using namespace acnn::train;
using acnn::test::contains;
using acnn::test::error_of;
using acnn::test::TempDir;

namespace {

// A tensor whose bytes are a recognizable pattern (works for every dtype).
Tensor patterned(DType t, Shape shape, uint8_t seed) {
  Tensor x(t, std::move(shape));
  auto* p = x.data<uint8_t>();
  for (size_t i = 0; i < x.bytes(); ++i) p[i] = static_cast<uint8_t>(seed + 31 * i);
  return x;
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() && std::memcmp(a.raw(), b.raw(), a.bytes()) == 0;
}

std::string u64le(uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>(n >> (8 * i));
  return s;
}

// A file from header text (padded here) and a data buffer.
std::string make_file(std::string json, const std::string& buffer) {
  json.append((8 - json.size() % 8) % 8, ' ');
  return u64le(json.size()) + json + buffer;
}

// The error message of loading `bytes` from a file called `name`.
std::string load_error(const TempDir& dir, const std::string& name, const std::string& bytes) {
  std::string path = dir.file(name);
  acnn::test::write_bytes(path, bytes);
  std::string from_file = error_of([&] { load_safetensors(path); });
  std::string from_memory = error_of([&] { decode_safetensors(bytes, path); });
  CHECK(from_file == from_memory);  // both readers share one validator
  return from_file;
}

const std::string kOneTensor = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";

}  // namespace

TEST_CASE("safetensors round-trips every dtype through a file", "[unit]") {
  TempDir dir;
  TensorMap in;
  const DType all[] = {DType::F32, DType::F64, DType::F16, DType::BF16, DType::I32, DType::I64, DType::U8};
  uint8_t seed = 1;
  for (DType t : all) {
    std::string code = safetensors_dtype(t);
    in["t." + code] = patterned(t, {3, 5}, seed++);
    in["scalar." + code] = patterned(t, {}, seed++);
    in["empty." + code] = patterned(t, {0, 4}, seed++);
    DType back;
    REQUIRE(parse_safetensors_dtype(code, &back));
    CHECK(back == t);
  }
  Metadata meta{{"note", "héllo \"quoted\"\n"}, {"epoch", "3"}};
  std::string path = dir.file("all.safetensors");
  save_safetensors(path, in, meta);
  auto out = load_safetensors(path);
  CHECK(out.metadata == meta);
  REQUIRE(out.tensors.size() == in.size());
  for (const auto& [name, t] : in) {
    INFO(name);
    REQUIRE(out.tensors.count(name));
    CHECK(same_bytes(out.tensors.at(name), t));
  }
  // The memory codec gives the same bytes and the same contents.
  std::string bytes = encode_safetensors(in, meta);
  CHECK(bytes == acnn::test::read_bytes(path));
  auto mem = decode_safetensors(bytes);
  for (const auto& [name, t] : in) CHECK(same_bytes(mem.tensors.at(name), t));
  CHECK(load_safetensors_metadata(path) == meta);
  // No temporary is left behind.
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path)) files += e.is_regular_file();
  CHECK(files == 1);
}

TEST_CASE("safetensors writes the exact bytes of a hand-built example", "[unit]") {
  TensorMap t;
  Tensor b(DType::F32, {2});
  b.data<float>()[0] = 1.0f;
  b.data<float>()[1] = 2.0f;
  Tensor a(DType::U8, {3});
  for (int i = 0; i < 3; ++i) a.data<uint8_t>()[i] = static_cast<uint8_t>(i + 1);
  t["a"] = a;
  t["b"] = b;
  // __metadata__ first, then the tensors in buffer order: 4-byte elements
  // before 1-byte ones, so "b" precedes "a".
  std::string json =
      R"({"__metadata__":{"k":"v"},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
      R"("a":{"dtype":"U8","shape":[3],"data_offsets":[8,11]}})";
  REQUIRE(json.size() == 132);
  std::string expected = u64le(136) + json + std::string(4, ' ') +
                         std::string("\x00\x00\x80\x3f\x00\x00\x00\x40\x01\x02\x03", 11);
  std::string got = encode_safetensors(t, {{"k", "v"}});
  CHECK(got == expected);
  CHECK(safetensors_header(t, {{"k", "v"}}) == expected.substr(0, 144));
  CHECK((got.size() - 11) % 8 == 0);

  // No metadata: no __metadata__ key at all.
  std::string bare = encode_safetensors({{"b", b}});
  CHECK(contains(bare, R"({"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})"));
  CHECK(!contains(bare, "__metadata__"));
}

TEST_CASE("safetensors aligns every tensor to its element size", "[unit]") {
  TensorMap t{{"a.u8", patterned(DType::U8, {3}, 1)},
              {"b.f16", patterned(DType::F16, {3}, 2)},
              {"c.f64", patterned(DType::F64, {1}, 3)},
              {"d.i32", patterned(DType::I32, {1}, 4)},
              {"e.i64", patterned(DType::I64, {2}, 5)}};
  std::string bytes = encode_safetensors(t);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(bytes[i]);
  auto j = nlohmann::json::parse(bytes.substr(8, n));
  for (auto it = j.begin(); it != j.end(); ++it) {
    DType d;
    REQUIRE(parse_safetensors_dtype(it.value()["dtype"].get<std::string>(), &d));
    uint64_t begin = it.value()["data_offsets"][0].get<uint64_t>();
    CHECK((8 + n + begin) % dtype_size(d) == 0);
  }
}

TEST_CASE("safetensors reader rejects each kind of corruption with the file name", "[unit]") {
  TempDir dir;
  const std::string buf8(8, '\x11');
  auto err = [&](const std::string& bytes) { return load_error(dir, "bad.safetensors", bytes); };
  auto says = [&](const std::string& msg, const std::string& part) {
    INFO(msg);
    CHECK(contains(msg, dir.file("bad.safetensors")));
    CHECK(contains(msg, part));
  };
  // The valid baseline loads.
  acnn::test::write_bytes(dir.file("good.safetensors"), make_file(kOneTensor, buf8));
  CHECK(load_safetensors(dir.file("good.safetensors")).tensors.at("w").numel() == 2);

  says(err(""), "shorter than the 8-byte header length");
  says(err("abc"), "shorter than the 8-byte header length");
  says(err(u64le(200'000'000) + "{}"), "exceeds the limit");
  says(err(u64le(64) + "{}"), "truncated");
  says(err(make_file(R"({"w":{"dtype":"F32",)", "")), "not valid JSON");
  says(err(make_file(R"(["w"])", "")), "does not start with '{'");
  says(err(make_file(R"({"w":{"dtype":"F8","shape":[2],"data_offsets":[0,8]}})", buf8)), "unknown or unsupported dtype 'F8'");
  says(err(make_file(R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", buf8)), "non-negative integer");
  says(err(make_file(R"({"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})", buf8)), "non-negative integer");
  says(err(make_file(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", buf8)), "overflows");
  says(err(make_file(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", buf8)), "needs 12");
  says(err(make_file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", buf8)), "end before they begin");
  says(err(make_file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", buf8)), "not [begin, end]");
  says(err(make_file(R"({"w":{"dtype":"F32","shape":[2]}})", buf8)), "needs dtype, shape and data_offsets");
  says(err(make_file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}})", buf8)), "unknown field 'x'");
  says(err(make_file(R"({"w":[1,2]})", buf8)), "is not an object");
  says(err(make_file(R"({"__metadata__":{"a":1},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", buf8)),
       "value of 'a' is not a string");
  says(err(make_file(R"({"__metadata__":"x"})", "")), "__metadata__ is not an object");
  // Truncated data: the offsets reach past the end of the file.
  says(err(make_file(kOneTensor, buf8.substr(0, 5))), "truncated");
  // Overlap, gap, trailing bytes.
  says(err(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                     R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                     buf8 + buf8.substr(0, 4))),
       "overlap");
  says(err(make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", buf8)), "gap of 4 bytes");
  says(err(make_file(kOneTensor, buf8 + "xyz")), "3 bytes after the last tensor");
  // Two entries of one name.
  says(err(make_file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                     R"("w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                     buf8)),
       "key 'w' twice");
  // A missing file names itself too.
  CHECK(contains(error_of([&] { load_safetensors(dir.file("missing.safetensors")); }), "missing.safetensors"));
}

TEST_CASE("safetensors reader accepts padding, empty files and zero-size tensors", "[unit]") {
  auto c = decode_safetensors(make_file("{}", ""));
  CHECK(c.tensors.empty());
  // Extra spaces after the JSON are padding.
  auto d = decode_safetensors(make_file(kOneTensor + "        ", std::string(8, '\0')));
  CHECK(d.tensors.at("w").shape() == Shape{2});
  // Zero-size tensors may sit anywhere, even at the end of the buffer.
  auto e = decode_safetensors(make_file(R"({"z":{"dtype":"I64","shape":[0,3],"data_offsets":[8,8]},)"
                                        R"("w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                                        std::string(8, '\0')));
  CHECK(e.tensors.at("z").numel() == 0);
}

TEST_CASE("safetensors writer refuses tensors it cannot store", "[unit]") {
  TempDir dir;
  std::string path = dir.file("x.safetensors");
  CHECK(contains(error_of([&] { save_safetensors(path, {{"w", Tensor()}}); }), "'w' is undefined"));
  CHECK(contains(error_of([&] { save_safetensors(path, {{"__metadata__", Tensor(DType::F32, {1})}}); }),
                 "cannot name a tensor"));
  Tensor blocked(DType::F32, {4});
  blocked.set_layout(Layout::Backend);
  std::string e = error_of([&] { save_safetensors(path, {{"w", blocked}}); });
  CHECK(contains(e, path));
  CHECK(contains(e, "plain layout"));
  CHECK(!std::filesystem::exists(path));
}

TEST_CASE("atomic write keeps the old file when a write fails midway", "[unit]") {
  TempDir dir;
  std::string path = dir.file("ckpt.safetensors");
  TensorMap v1{{"w", patterned(DType::F32, {64}, 1)}, {"b", patterned(DType::F32, {8}, 2)}};
  TensorMap v2{{"w", patterned(DType::F32, {64}, 9)}, {"b", patterned(DType::F32, {8}, 8)}};
  save_safetensors(path, v1);
  const std::string old = acnn::test::read_bytes(path);

  for (std::string fail_at : {"open", "write", "fsync", "rename"}) {
    INFO(fail_at);
    int writes = 0;
    set_atomic_fault_hook([&](std::string_view stage, const std::string&) {
      // Fail the second data write (after the header hit the disk) or the named stage.
      if (stage == "write" && ++writes < 2) return;
      if (stage == fail_at) throw std::runtime_error("injected failure at " + std::string(stage));
    });
    std::string e = error_of([&] { save_safetensors(path, v2); });
    set_atomic_fault_hook(nullptr);
    CHECK(contains(e, "injected failure"));
    CHECK(acnn::test::read_bytes(path) == old);
    CHECK(!std::filesystem::exists(path + ".tmp." + std::to_string(::getpid())));
  }
  // Without the hook the new contents replace the old ones.
  save_safetensors(path, v2);
  CHECK(same_bytes(load_safetensors(path).tensors.at("w"), v2.at("w")));

  // A directory that does not exist: a clear error, nothing created.
  std::string nowhere = dir.file("no/such/dir/x.safetensors");
  std::string e = error_of([&] { save_safetensors(nowhere, v1); });
  CHECK(contains(e, nowhere));
  CHECK(contains(e, "cannot create temporary"));

  // A read-only directory (meaningful when not running as root, which
  // ignores permission bits).
  if (::geteuid() != 0) {
    std::filesystem::permissions(dir.path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec);
    CHECK(contains(error_of([&] { save_safetensors(path, v1); }), path));
    std::filesystem::permissions(dir.path, std::filesystem::perms::owner_all);
    CHECK(same_bytes(load_safetensors(path).tensors.at("w"), v2.at("w")));
  }
}

TEST_CASE("AtomicFile aborts on destruction and commits on request", "[unit]") {
  TempDir dir;
  std::string path = dir.file("a.txt");
  write_file_atomic(path, "old");
  {
    AtomicFile f(path);
    f.write("new contents");
    CHECK(std::filesystem::exists(f.temp_path()));
    CHECK(acnn::test::read_bytes(path) == "old");
  }  // abandoned: the temporary goes, the target stays
  CHECK(acnn::test::read_bytes(path) == "old");
  CHECK(!std::filesystem::exists(path + ".tmp." + std::to_string(::getpid())));
  {
    AtomicFile f(path);
    f.write("new ");
    f.write(std::string("contents"));
    CHECK(f.bytes_written() == 12);
    f.commit();
    CHECK_THROWS_AS(f.write("x"), std::logic_error);
  }
  CHECK(acnn::test::read_bytes(path) == "new contents");
  struct stat st;
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == (0644 & ~[] { mode_t m = ::umask(0); ::umask(m); return m; }()));
}
