// The two-stream plan of a step (backends/cuda/streams.h), without a GPU:
// which kernels it moves to the second stream, which waits it inserts, and,
// over random steps, that every pair of conflicting kernels stays ordered.
// The emulator's [cuda] tests run the plans (graphs replay in the most
// adversarial order their edges allow).
#ifdef ACNN_HAVE_CUDA
#include <random>

#include "backends/cuda/streams.h"
#include "tests/catch.h"

using acnn::cuda::MemRange;
using acnn::cuda::plan_orders_conflicts;
using acnn::cuda::plan_streams;
using acnn::cuda::StreamPlan;

namespace {

MemRange rd(uint64_t at, uint64_t n = 1) { return MemRange{0, at, at + n, false}; }
MemRange wr(uint64_t at, uint64_t n = 1) { return MemRange{0, at, at + n, true}; }

}  // namespace

TEST_CASE("CUDA streams: a weight gradient runs beside its data gradient", "[unit]") {
  // 0: dy = ...; 1: dx = dgrad(dy, w); 2: dw = wgrad(x, dy); 3: ... = f(dx)
  const std::vector<std::vector<MemRange>> t = {
      {wr(10)}, {rd(10), rd(20), wr(11)}, {rd(10), rd(21), wr(12)}, {rd(11), wr(13)}};
  const std::vector<bool> all(t.size(), true);
  const StreamPlan p = plan_streams(t, all, 2);
  CHECK(p.streams == 2);
  CHECK(p.stream == std::vector<int>{0, 0, 1, 0});
  CHECK(p.waits[2] == std::vector<int>{0});  // dy, on the other stream
  CHECK(p.record == std::vector<bool>{true, false, false, false});
  CHECK(p.waits[3].empty());
  std::string why;
  CHECK(plan_orders_conflicts(p, t, all, &why));
}

TEST_CASE("CUDA streams: memory reused for a later value waits for its last reader", "[unit]") {
  // 2 depends on nothing and goes to the second stream; 3 follows it there
  // and overwrites the bytes 1 reads (the memory plan reused them): it
  // waits for 1 on the first stream.
  const std::vector<std::vector<MemRange>> t = {{wr(0, 4)}, {rd(0, 4), wr(8, 4)}, {wr(16, 4)}, {rd(16, 4), wr(2, 4)}};
  const std::vector<bool> all(t.size(), true);
  const StreamPlan p = plan_streams(t, all, 2);
  CHECK(p.stream == std::vector<int>{0, 0, 1, 1});
  CHECK(p.waits[3] == std::vector<int>{1});
  std::string why;
  CHECK(plan_orders_conflicts(p, t, all, &why));
  // Bytes of another block are no conflict.
  const std::vector<std::vector<MemRange>> u = {{wr(0)}, {MemRange{1, 0, 1, true}}};
  CHECK(plan_streams(u, {true, true}, 2).stream == std::vector<int>{0, 1});
}

TEST_CASE("CUDA streams: one stream, skipped steps, and a plan missing a wait", "[unit]") {
  const std::vector<std::vector<MemRange>> t = {{wr(0)}, {wr(1)}, {rd(0), rd(1), wr(2)}};
  StreamPlan one = plan_streams(t, {true, true, true}, 1);
  CHECK(one.streams == 1);
  CHECK(one.stream == std::vector<int>{0, 0, 0});
  CHECK(one.cross_waits() == 0);
  StreamPlan skip = plan_streams(t, {true, false, true}, 2);
  CHECK(skip.stream[1] == -1);
  StreamPlan two = plan_streams(t, {true, true, true}, 2);
  REQUIRE(two.stream == std::vector<int>{0, 1, 1});
  REQUIRE(two.waits[2] == std::vector<int>{0});
  std::string why;
  CHECK(plan_orders_conflicts(two, t, {true, true, true}, &why));
  two.waits[2].clear();
  CHECK_FALSE(plan_orders_conflicts(two, t, {true, true, true}, &why));
  CHECK(why == "steps 0 and 2 conflict but may overlap");
}

TEST_CASE("CUDA streams: random steps keep every conflict ordered", "[unit]") {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 50; ++trial) {
    const int n = 120;
    std::vector<std::vector<MemRange>> t(n);
    std::vector<bool> launched(n);
    for (int i = 0; i < n; ++i) {
      launched[i] = rng() % 10 != 0;
      const int k = 1 + static_cast<int>(rng() % 4);
      for (int r = 0; r < k; ++r) {
        const uint64_t at = rng() % 200, len = 1 + rng() % 6;
        t[i].push_back(MemRange{static_cast<int>(rng() % 2), at, at + len, rng() % 3 == 0});
      }
    }
    for (int streams : {2, 3}) {
      const StreamPlan p = plan_streams(t, launched, streams);
      std::string why;
      INFO("trial " << trial << ", " << streams << " streams");
      CHECK(plan_orders_conflicts(p, t, launched, &why));
      CHECK(p.steps_on(1) > 0);
    }
  }
}

#endif  // ACNN_HAVE_CUDA
