// Pattern matching of fused bodies for the oneDNN fused kinds: the "conv"
// chain (conv2d -> [bias add] -> [batch_norm_infer] -> [relu] -> [residual
// add] -> [relu]), the "batchnorm" forward (batch_norm_train -> [residual add]
// -> relu) and the "batchnorm_backward" pair (relu_backward ->
// batch_norm_backward). Each matcher names, in terms of the fused node's
// input and output indices, where every operand comes from, or fails; the
// kernels (fused_conv.cpp, fused_norm.cpp) only bind what was matched.
#pragma once

#include "compiler/ir/graph.h"

namespace acnn::cpu {

struct ConvMatch {
  const ir::Node* conv = nullptr;  // in the body
  int x = -1, w = -1, bias = -1;   // fused input indices (bias: the conv's own or the added one)
  bool bias_from_add = false;
  int gamma = -1, beta = -1, mean = -1, var = -1;  // batch_norm_infer operands
  double eps = 1e-5;
  bool relu1 = false, relu2 = false;
  int residual = -1;  // fused input index of the residual operand
};
bool match_conv(const ir::Graph& outer, const ir::Node& fused, ConvMatch* m);

struct BnMatch {
  int x = -1, gamma = -1, beta = -1, residual = -1;  // fused input indices
  double eps = 1e-5;
  // Fused output indices (-1: not exported).
  int out = -1;        // the relu output
  int pre_relu = -1;   // the relu's input (bn output, or bn output + residual)
  int mean = -1, var = -1;
};
bool match_bn(const ir::Graph& outer, const ir::Node& fused, BnMatch* m);

struct BnBwdMatch {
  int dy = -1, mask = -1;                       // relu_backward(dy, mask)
  int x = -1, gamma = -1, mean = -1, var = -1;  // batch_norm_backward's other operands
  double eps = 1e-5;
  int dz = -1, dx = -1, dgamma = -1, dbeta = -1;  // fused output indices (-1: not exported)
};
bool match_bn_backward(const ir::Graph& outer, const ir::Node& fused, BnBwdMatch* m);

}  // namespace acnn::cpu
