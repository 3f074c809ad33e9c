// From the forward graph of a network to the graphs the runtime executes.
// The training graph adds, in order: the training lowering of batch norm and
// if_training (with running-statistic updates), mixup blending of two input
// batches, targets (one-hot with label smoothing), the loss (softmax cross
// entropy, plus knowledge distillation against teacher logits), the backward
// graph (autodiff) and an SGD update (momentum, Nesterov, weight decay that
// skips BN parameters and biases unless asked) of every parameter. The
// inference graph lowers the network for evaluation and can add the loss.
//
// Inputs the runtime feeds: `image` (the network's input), `labels` (i32[N]);
// with mixup `image_b`, `labels_b` and the runtime scalar `mixup_lambda`;
// with distillation `teacher_logits` (f32[N,K]); the runtime scalars `lr` and
// `dropblock_keep` every step. Outputs: `loss` (f32[]) and `logits`.
#pragma once

#include <memory>

#include "compiler/ir/graph.h"
#include "compiler/train/recipe.h"

namespace acnn {

namespace passes {
class PhaseTimer;
}

struct TrainGraphOptions {
  int64_t classes = 10;
  double label_smoothing = 0;
  bool mixup = false;
  // Distillation: either a teacher network run inside the training step
  // (`teacher`, its inference graph; its tensors become state named
  // "teacher.<name>"), or precomputed logits fed as `teacher_logits` (and
  // `teacher_logits_b` with mixup, blended like the labels).
  bool distill = false;
  const ir::Graph* teacher = nullptr;
  double kd_temperature = 1.0, kd_weight = 1.0;
  Recipe::Optimizer optimizer;
  bool zero_gamma = true;
  // fp16 training: the loss is multiplied by the runtime scalar `loss_scale`
  // before differentiation and every gradient by `inv_loss_scale` before the
  // update (the GPU runner feeds both from its dynamic loss scale and skips
  // the update of a step whose gradients overflow).
  bool loss_scaling = false;
  // When set, receives the time of "train graph" (lowering, loss, optimizer)
  // and of "autodiff".
  passes::PhaseTimer* timer = nullptr;

  static TrainGraphOptions from(const Recipe& r);
};

// The forward graph is not modified. Its single output is the logits [N, K].
std::unique_ptr<ir::Graph> build_train_graph(const ir::Graph& forward, const TrainGraphOptions& opts);
// Inference: outputs `logits`, and `loss` when with_loss (then it takes `labels`).
std::unique_ptr<ir::Graph> build_eval_graph(const ir::Graph& forward, bool with_loss, bool zero_gamma = true);

// Copies `sub` (an inference graph with one input) into `g`, feeding `input`
// to it; its parameters and state become State nodes named prefix + name.
// Returns the value of its output "logits".
ir::ValueId inline_graph(ir::Graph& g, const ir::Graph& sub, ir::ValueId input, const std::string& prefix);

// Name of the momentum buffer of a parameter in checkpoints.
std::string momentum_buffer_name(const std::string& param);

}  // namespace acnn
