// Graph passes. Each pass lives in its own file, transforms a graph in place
// and says whether it changed anything; the ordered pipelines in
// pipeline.cpp run them and can print the IR after each one.
#pragma once

#include <string>

#include "compiler/ir/graph.h"

namespace acnn::passes {

// Dead-code elimination: removes nodes whose results reach no graph output
// and no state update, then compacts the graph.
bool dce(ir::Graph& g);

enum class Mode { Train, Eval };

// Lowers the mode-neutral ops for training or inference: BatchNorm becomes
// BatchNormTrain (with running-statistic updates added to graph.updates) or
// BatchNormInfer; IfTraining keeps its training or inference operand.
bool lower_mode(ir::Graph& g, Mode mode);

}  // namespace acnn::passes
