// The paper's regularizers checked against hand computations: DropBlock (the
// stdlib block run on the reference interpreter: its measured drop rate
// against the exact expectation of its seed process and against 1 - keep,
// batch-shared masks, the rescale, identity at inference and at keep = 1),
// label-smoothed targets, mixup's in-graph blending of images and targets,
// and distillation from precomputed teacher logits with mixup partners.
#include <cmath>
#include <vector>

#include "compiler/elaborate/model_file.h"
#include "compiler/ir/graph.h"
#include "compiler/passes/pass.h"
#include "compiler/train/train_graph.h"
#include "runtime/interpreter.h"
#include "tests/catch.h"
#include "tests/graph_test_util.h"

using namespace acnn;
using test::forward_of;
using test::kTinyNet;
using test::tiny_batch;

namespace {

std::string dropblock_net(int channels, int size, int block, double gamma_scale) {
  return "import \"dropblock\"\nnetwork net() {\n  input image: f32[N, " + std::to_string(channels) + ", " +
         std::to_string(size) + ", " + std::to_string(size) + "]\n  return dropblock(image, " + std::to_string(block) +
         ", " + std::to_string(gamma_scale) + ")\n}\nmodel = net()\n";
}

Tensor filled(Shape s, double v) {
  Tensor t(DType::F32, s);
  for (int64_t i = 0; i < t.numel(); ++i) t.set(i, v);
  return t;
}

// The exact expected fraction of dropped units of the seed process: a unit at
// (y, x) is dropped unless none of the seeds whose block covers it fires; the
// seeds live on the (h - b + 1)^2 valid positions and fire with probability
// gamma each.
double expected_drop_rate(int h, int b, double gamma) {
  int valid = h - b + 1;
  auto covering = [&](int p) { return std::min(valid - 1, p) - std::max(0, p - b + 1) + 1; };
  double sum = 0;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < h; ++x) sum += 1.0 - std::pow(1.0 - gamma, covering(y) * covering(x));
  return sum / (static_cast<double>(h) * h);
}

struct DropStats {
  double dropped = 0;        // fraction of zeros over all steps
  double max_scale_err = 0;  // |kept value - numel / kept count|
  bool batch_shared = true;  // both examples get the same mask
};

DropStats run_dropblock(const ir::Graph& g, int channels, int size, float keep, int steps, bool training) {
  DropStats st;
  int64_t zeros = 0, total = 0;
  const int64_t per = static_cast<int64_t>(channels) * size * size;
  for (int step = 0; step < steps; ++step) {
    ExecContext ctx;
    ctx.seed = 11;
    ctx.step = step;
    ctx.training = training;
    ctx.scalars = {{"dropblock_keep", keep}};
    InterpreterResult r = interpret(g, {{"image", filled({2, channels, size, size}, 1.0)}}, ctx);
    const Tensor& y = r.outputs.at("output");
    int64_t kept = 0;
    for (int64_t i = 0; i < per; ++i) kept += y.at(i) != 0.0;
    double scale = static_cast<double>(per) / static_cast<double>(kept);
    for (int64_t i = 0; i < per; ++i) {
      if (y.at(i) == 0.0) ++zeros;
      else st.max_scale_err = std::max(st.max_scale_err, std::abs(y.at(i) - scale));
      if (y.at(i) != y.at(per + i)) st.batch_shared = false;
    }
    total += per;
  }
  st.dropped = static_cast<double>(zeros) / static_cast<double>(total);
  return st;
}

// log softmax of row i of [n, k] logits, divided by T first.
std::vector<double> log_softmax(const Tensor& logits, int64_t i, double T = 1.0) {
  int64_t k = logits.dim(1);
  std::vector<double> z(k);
  double mx = -1e300, s = 0;
  for (int64_t j = 0; j < k; ++j) z[j] = logits.at(i * k + j) / T, mx = std::max(mx, z[j]);
  for (int64_t j = 0; j < k; ++j) s += std::exp(z[j] - mx);
  for (int64_t j = 0; j < k; ++j) z[j] = z[j] - mx - std::log(s);
  return z;
}

// (1 - eps) * onehot(label) + eps / K
std::vector<double> smoothed(int label, int k, double eps) {
  std::vector<double> t(k, eps / k);
  t[label] += 1.0 - eps;
  return t;
}

double cross_entropy(const std::vector<double>& target, const std::vector<double>& logp) {
  double s = 0;
  for (size_t j = 0; j < target.size(); ++j) s -= target[j] * logp[j];
  return s;
}

}  // namespace

TEST_CASE("DropBlock drops 1 - keep of the units in blocks shared by the batch, and rescales", "[unit]") {
  const int C = 32, H = 56, B = 7;
  auto g = forward_of(dropblock_net(C, H, B, 1.0), 2);
  passes::lower_mode(*g, passes::Mode::Train);
  const double keep = 0.9;
  // The reference implementation's seed probability.
  const double gamma = (1.0 - keep) * H * H / (B * B) / ((H - B + 1.0) * (H - B + 1.0));
  const double expected = expected_drop_rate(H, B, gamma);
  DropStats st = run_dropblock(*g, C, H, static_cast<float>(keep), 20, true);
  INFO("measured drop rate " << st.dropped << ", expected " << expected);
  // ~4000 seeds in all: the standard deviation of the rate is about 0.0016.
  CHECK(std::abs(st.dropped - expected) < 0.008);
  CHECK(std::abs(st.dropped - (1.0 - keep)) < 0.02);
  CHECK(st.batch_shared);
  CHECK(st.max_scale_err < 1e-4);

  // The stage-3 gamma scale of the paper drops about a quarter as much.
  auto g3 = forward_of(dropblock_net(C, H, B, 0.25), 2);
  passes::lower_mode(*g3, passes::Mode::Train);
  DropStats st3 = run_dropblock(*g3, C, H, static_cast<float>(keep), 20, true);
  INFO("gamma scale 0.25: " << st3.dropped);
  CHECK(std::abs(st3.dropped - expected_drop_rate(H, B, gamma * 0.25)) < 0.005);
}

TEST_CASE("DropBlock with a block as large as the map drops whole channels", "[unit]") {
  // 5x5 maps and block 7: the block is clamped to 5, one seed per channel,
  // gamma = 1 - keep.
  auto g = forward_of(dropblock_net(64, 5, 7, 1.0), 2);
  passes::lower_mode(*g, passes::Mode::Train);
  DropStats st = run_dropblock(*g, 64, 5, 0.75f, 40, true);
  INFO("drop rate " << st.dropped);
  CHECK(std::abs(st.dropped - 0.25) < 0.03);
  CHECK(st.max_scale_err < 1e-4);
}

TEST_CASE("DropBlock is the identity at inference and at keep = 1", "[unit]") {
  auto train = forward_of(dropblock_net(8, 20, 7, 1.0), 2);
  passes::lower_mode(*train, passes::Mode::Train);
  DropStats at_one = run_dropblock(*train, 8, 20, 1.0f, 5, true);
  CHECK(at_one.dropped == 0.0);
  CHECK(at_one.max_scale_err == 0.0);
  // Inference: even with a low keep probability nothing is dropped or scaled.
  auto eval = forward_of(dropblock_net(8, 20, 7, 1.0), 2);
  passes::lower_mode(*eval, passes::Mode::Eval);
  DropStats inf = run_dropblock(*eval, 8, 20, 0.5f, 3, false);
  CHECK(inf.dropped == 0.0);
  CHECK(inf.max_scale_err == 0.0);
  // ... while training at that keep probability does drop.
  DropStats half = run_dropblock(*train, 8, 20, 0.5f, 3, true);
  CHECK(half.dropped > 0.2);
}

TEST_CASE("label smoothing targets: the loss is CE against (1 - eps) onehot + eps / K", "[unit]") {
  auto fwd = forward_of(kTinyNet, 4);
  for (double eps : {0.0, 0.1, 0.3}) {
    TrainGraphOptions o;
    o.classes = 3;
    o.label_smoothing = eps;
    o.zero_gamma = false;
    auto g = build_train_graph(*fwd, o);
    ExecContext ctx;
    ctx.scalars = {{"lr", 0.0f}};
    auto feeds = tiny_batch(4, 7);
    InterpreterResult r = interpret(*g, feeds, ctx);
    const Tensor& logits = r.outputs.at("logits");
    double expected = 0;
    for (int64_t i = 0; i < 4; ++i)
      expected += cross_entropy(smoothed(static_cast<int>(feeds["labels"].at(i)), 3, eps), log_softmax(logits, i));
    expected /= 4;
    INFO("eps " << eps);
    CHECK(std::abs(r.outputs.at("loss").at(0) - expected) < 1e-5);
  }
}

TEST_CASE("mixup blends images and smoothed targets with lambda inside the graph", "[unit]") {
  auto fwd = forward_of(kTinyNet, 4);
  TrainGraphOptions o;
  o.classes = 3;
  o.label_smoothing = 0.1;
  o.zero_gamma = false;
  o.mixup = true;
  auto g = build_train_graph(*fwd, o);
  TrainGraphOptions plain = o;
  plain.mixup = false;
  auto g_plain = build_train_graph(*fwd, plain);
  const double lambda = 0.3;
  ExecContext ctx;
  ctx.scalars = {{"lr", 0.0f}, {"mixup_lambda", static_cast<float>(lambda)}};
  auto a = tiny_batch(4, 1), b = tiny_batch(4, 2, 1);
  std::map<std::string, Tensor> feeds = {
      {"image", a["image"]}, {"labels", a["labels"]}, {"image_b", b["image"]}, {"labels_b", b["labels"]}};
  InterpreterResult r = interpret(*g, feeds, ctx);
  // The network saw lambda * a + (1 - lambda) * b: the plain graph on the
  // hand-mixed batch gives the same logits.
  Tensor mixed(DType::F32, a["image"].shape());
  for (int64_t i = 0; i < mixed.numel(); ++i) mixed.set(i, lambda * a["image"].at(i) + (1 - lambda) * b["image"].at(i));
  InterpreterResult rp = interpret(*g_plain, {{"image", mixed}, {"labels", a["labels"]}}, ctx);
  const Tensor& logits = r.outputs.at("logits");
  for (int64_t i = 0; i < logits.numel(); ++i) CHECK(std::abs(logits.at(i) - rp.outputs.at("logits").at(i)) < 1e-5);
  // Targets: lambda * smooth(y_a) + (1 - lambda) * smooth(y_b).
  double expected = 0;
  for (int64_t i = 0; i < 4; ++i) {
    auto ta = smoothed(static_cast<int>(a["labels"].at(i)), 3, 0.1), tb = smoothed(static_cast<int>(b["labels"].at(i)), 3, 0.1);
    std::vector<double> t(3);
    for (int j = 0; j < 3; ++j) t[j] = lambda * ta[j] + (1 - lambda) * tb[j];
    expected += cross_entropy(t, log_softmax(logits, i));
  }
  expected /= 4;
  CHECK(std::abs(r.outputs.at("loss").at(0) - expected) < 1e-5);
  // Not the loss of the unmixed labels: the test would notice targets left alone.
  CHECK(std::abs(r.outputs.at("loss").at(0) - rp.outputs.at("loss").at(0)) > 1e-3);
}

TEST_CASE("distillation from precomputed logits blends the mixup partner's teacher", "[unit]") {
  auto fwd = forward_of(kTinyNet, 4);
  TrainGraphOptions o;
  o.classes = 3;
  o.zero_gamma = false;
  o.mixup = true;
  auto no_kd = build_train_graph(*fwd, o);
  o.distill = true;
  o.kd_temperature = 1.5;
  o.kd_weight = 0.7;
  auto kd = build_train_graph(*fwd, o);
  const double lambda = 0.65, T = 1.5;
  ExecContext ctx;
  ctx.scalars = {{"lr", 0.0f}, {"mixup_lambda", static_cast<float>(lambda)}};
  auto a = tiny_batch(4, 3), b = tiny_batch(4, 4, 2);
  std::map<std::string, Tensor> feeds = {
      {"image", a["image"]}, {"labels", a["labels"]}, {"image_b", b["image"]}, {"labels_b", b["labels"]}};
  InterpreterResult base = interpret(*no_kd, feeds, ctx);
  Tensor ta(DType::F32, {4, 3}), tb(DType::F32, {4, 3});
  for (int64_t i = 0; i < 12; ++i) ta.set(i, 0.4 * static_cast<double>(i % 5) - 1.0), tb.set(i, 0.3 * static_cast<double>(i % 4));
  feeds["teacher_logits"] = ta;
  feeds["teacher_logits_b"] = tb;
  double with_kd = interpret(*kd, feeds, ctx).outputs.at("loss").at(0);
  const Tensor& s = base.outputs.at("logits");
  double expected = 0;
  for (int64_t i = 0; i < 4; ++i) {
    auto la = log_softmax(ta, i, T), lb = log_softmax(tb, i, T);
    std::vector<double> soft(3);
    for (int j = 0; j < 3; ++j) soft[j] = lambda * std::exp(la[j]) + (1 - lambda) * std::exp(lb[j]);
    expected += cross_entropy(soft, log_softmax(s, i, T));
  }
  expected = 0.7 * T * T * expected / 4.0;
  CHECK(std::abs((with_kd - base.outputs.at("loss").at(0)) - expected) < 1e-5);
}
