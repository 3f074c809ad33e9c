// Test harness for op tests: a Case builds a small graph around one op with
// deterministic random inputs (fp32 or fp64), remembers which inputs should
// receive a gradient, and runs the graph on the reference interpreter.
// check_gradients() compares the gradients that autodiff::differentiate
// builds against central finite differences of the same graph's loss.
#pragma once

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "compiler/ir/builder.h"
#include "runtime/interpreter.h"
#include "runtime/tensor.h"

namespace acnn::testing {

using ir::ValueId;

// What a gradient check expects of an input: a gradient that matches finite
// differences (Check), no gradient at all (None), or nothing checked (Free).
enum class Grad { Check, None, Free };

class Case {
 public:
  Case(DType dt, uint64_t seed) : dt(dt), rng_(seed) {}
  Case(const Case&) = delete;

  ir::Graph g;
  ir::Builder b{g};
  DType dt;
  ExecContext ctx;
  std::map<std::string, Tensor> feeds;
  struct Input {
    ValueId v;
    Grad grad;
  };
  std::vector<Input> inputs;

  // A fed input of dtype `dt` with values uniform in [lo, hi).
  ValueId in(const Shape& s, double lo = -1, double hi = 1, Grad gr = Grad::Check);
  // A fed input with the given values.
  ValueId in_values(const Shape& s, const std::vector<double>& v, Grad gr = Grad::Check);
  // i32 labels in [0, k).
  ValueId labels(int64_t n, int64_t k);
  // [n, k] rows of positive values that sum to 1.
  ValueId probs(int64_t n, int64_t k, Grad gr = Grad::Check);
  double uniform(double lo, double hi);

 private:
  std::mt19937_64 rng_;
};

// loss = sum_i sum(outs[i] * W_i) with fixed random W_i in [-1, 1) (outputs of
// another dtype are cast to the case's dtype first). Also names the outputs
// "out<i>" and the loss "loss" as graph outputs.
ValueId weighted_loss(Case& c, const std::vector<ValueId>& outs);

// Interprets the case's graph with its feeds (or the given ones).
std::map<std::string, Tensor> run(const ir::Graph& g, Case& c);
std::map<std::string, Tensor> run(const ir::Graph& g, Case& c, const std::map<std::string, Tensor>& feeds);

// Differentiates `loss` (the graph output "loss") with respect to every Check
// and None input, requires Check inputs to receive gradients within
// |analytic - numeric| <= atol + rtol*|numeric| of central differences with
// step eps, and None inputs to receive none. Returns the number of gradient
// elements compared.
int check_gradients(Case& c, ValueId loss, double eps = 1e-6, double rtol = 1e-5, double atol = 1e-7);

// A convolution geometry for the conv2d sweeps (forward and both backward
// forms): input and weight shapes, attributes, with or without a bias.
struct ConvGeom {
  std::string name;
  Shape x, w;
  Attrs a;
  bool bias;
};

inline Attrs conv_attrs(std::vector<int64_t> stride, std::vector<int64_t> pad, std::vector<int64_t> dilation,
                        int64_t groups) {
  return Attrs{{"stride", stride}, {"pad", pad}, {"dilation", dilation}, {"groups", groups}};
}

// The output shape of conv2d on cg (its shape inference).
Shape conv_out(const ConvGeom& cg);

}  // namespace acnn::testing
