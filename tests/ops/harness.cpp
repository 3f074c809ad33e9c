#include "tests/ops/harness.h"

#include <cmath>
#include <memory>
#include <sstream>

#include "compiler/autodiff/autodiff.h"
#include "tests/catch.h"

namespace acnn::testing {

double Case::uniform(double lo, double hi) {
  return lo + (hi - lo) * static_cast<double>(rng_() >> 11) * (1.0 / 9007199254740992.0);
}

ValueId Case::in_values(const Shape& s, const std::vector<double>& v, Grad gr) {
  std::string name = "in" + std::to_string(feeds.size());
  Tensor t(dt, s);
  for (int64_t i = 0; i < t.numel(); ++i) t.set(i, v[i]);
  feeds[name] = t;
  ValueId id = b.input(name, {dt, s});
  inputs.push_back({id, gr});
  return id;
}

ValueId Case::in(const Shape& s, double lo, double hi, Grad gr) {
  std::vector<double> v(numel(s));
  for (double& x : v) x = uniform(lo, hi);
  return in_values(s, v, gr);
}

ValueId Case::labels(int64_t n, int64_t k) {
  std::string name = "in" + std::to_string(feeds.size());
  Tensor t(DType::I32, {n});
  for (int64_t i = 0; i < n; ++i) t.set(i, static_cast<double>(static_cast<int64_t>(uniform(0, static_cast<double>(k)))));
  feeds[name] = t;
  return b.input(name, {DType::I32, {n}});
}

ValueId Case::probs(int64_t n, int64_t k, Grad gr) {
  std::vector<double> v(n * k);
  for (int64_t i = 0; i < n; ++i) {
    double sum = 0;
    for (int64_t j = 0; j < k; ++j) sum += v[i * k + j] = uniform(0.1, 1.0);
    for (int64_t j = 0; j < k; ++j) v[i * k + j] /= sum;
  }
  return in_values({n, k}, v, gr);
}

ValueId weighted_loss(Case& c, const std::vector<ValueId>& outs) {
  ValueId loss = ir::kNoValue;
  for (size_t i = 0; i < outs.size(); ++i) {
    ValueId y = outs[i];
    c.g.outputs.push_back({"out" + std::to_string(i), y});
    if (c.g.type(y).dtype != c.dt) y = c.b.emit1(ir::OpKind::Cast, {y}, Attrs{{"dtype", std::string(dtype_name(c.dt))}});
    Shape s = c.g.type(y).shape;
    std::vector<double> w(numel(s));
    for (double& x : w) x = c.uniform(-1, 1);
    std::vector<int64_t> axes(s.size());
    for (size_t a = 0; a < s.size(); ++a) axes[a] = static_cast<int64_t>(a);
    ValueId term = c.b.reduce_sum(c.b.mul(y, c.b.constant(s, w, c.dt)), axes, false);
    loss = loss == ir::kNoValue ? term : c.b.add(loss, term);
  }
  c.g.outputs.push_back({"loss", loss});
  return loss;
}

std::map<std::string, Tensor> run(const ir::Graph& g, Case& c, const std::map<std::string, Tensor>& feeds) {
  return interpret(g, feeds, c.ctx).outputs;
}
std::map<std::string, Tensor> run(const ir::Graph& g, Case& c) { return run(g, c, c.feeds); }

int check_gradients(Case& c, ValueId loss, double eps, double rtol, double atol) {
  std::unique_ptr<ir::Graph> forward = c.g.clone();
  forward->outputs = {{"loss", forward->output("loss")}};
  std::vector<ValueId> wrt;
  for (const Case::Input& in : c.inputs)
    if (in.grad != Grad::Free) wrt.push_back(in.v);
  autodiff::GradientResult r = autodiff::differentiate(c.g, loss, wrt);
  {
    std::vector<std::string> problems = ir::verify(c.g);
    INFO((problems.empty() ? std::string() : problems[0]));
    REQUIRE(problems.empty());
  }
  std::vector<std::pair<std::string, const Case::Input*>> checked;
  for (const Case::Input& in : c.inputs) {
    const std::string& name = c.g.producer(in.v).attrs.s("name");
    if (in.grad == Grad::None) {
      INFO("input " << name << " should get no gradient");
      CHECK(r.grads.count(in.v) == 0);
    } else if (in.grad == Grad::Check) {
      INFO("input " << name << " should get a gradient");
      REQUIRE(r.grads.count(in.v) == 1);
      c.g.outputs.push_back({"d_" + name, r.grads[in.v]});
      checked.push_back({name, &in});
    }
  }
  std::map<std::string, Tensor> analytic = run(c.g, c);
  int compared = 0;
  for (const auto& [name, in] : checked) {
    const Tensor& grad = analytic.at("d_" + name);
    std::map<std::string, Tensor> feeds = c.feeds;
    Tensor x = c.feeds.at(name).clone();
    feeds[name] = x;
    for (int64_t i = 0; i < x.numel(); ++i) {
      const double x0 = x.at(i);
      x.set(i, x0 + eps);
      const double up = run(*forward, c, feeds).at("loss").at(0);
      x.set(i, x0 - eps);
      const double down = run(*forward, c, feeds).at("loss").at(0);
      x.set(i, x0);
      const double numeric = (up - down) / (2 * eps), got = grad.at(i);
      INFO("d loss / d " << name << "[" << i << "]: autodiff " << got << ", finite differences " << numeric);
      CHECK(std::abs(got - numeric) <= atol + rtol * std::abs(numeric));
      ++compared;
    }
  }
  return compared;
}

Shape conv_out(const ConvGeom& cg) {
  std::vector<ir::ValueType> out;
  std::string err = ir::op_def(ir::OpKind::Conv2d).infer({{DType::F32, cg.x}, {DType::F32, cg.w}}, cg.a, out);
  REQUIRE(err.empty());
  return out[0].shape;
}

}  // namespace acnn::testing
