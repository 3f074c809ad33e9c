// Precomputed distillation targets: a safetensors file with one tensor
// `logits`, f32 [num_train_examples, K], whose row i holds the teacher's
// logits for training example i (the dataset index the loader reports in
// Batch::indices). `acnn teacher-logits` makes such a file by running a
// trained model in inference mode over the training set with the evaluation
// transform (no augmentation); the trainer loads it for `distill.logits` and
// feeds the rows of each batch as `teacher_logits` (and those of the mixup
// partners as `teacher_logits_b`), so distillation costs no teacher forward
// pass per step. Metadata records where the logits came from.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "compiler/elaborate/model_file.h"
#include "compiler/train/recipe.h"
#include "runtime/tensor.h"
#include "runtime/train/evaluator.h"
#include "runtime/train/safetensors.h"

namespace acnn::train {

inline constexpr const char* kTeacherLogitsTensor = "logits";

class TeacherLogits {
 public:
  // Reads `path` and checks it against the training set: K must equal
  // `classes` and there must be a row for each of `examples` examples.
  static TeacherLogits load(const std::string& path, int64_t classes, int64_t examples);
  explicit TeacherLogits(Tensor logits) : logits_(std::move(logits)) {}

  // Rows for dataset indices (f32 [n, K]); throws on an index out of range.
  Tensor gather(const std::vector<int64_t>& indices) const;
  int64_t rows() const { return logits_.dim(0); }
  int64_t classes() const { return logits_.dim(1); }
  const Tensor& tensor() const { return logits_; }

 private:
  Tensor logits_;
};

// Where and how the model runs (RunSetup), and what to run.
struct TeacherLogitsOptions : RunSetup {
  std::string checkpoint;             // weights of the model ("" = freshly initialized, for tests)
  int64_t batch = 0;                  // 0: the recipe's batch
  // Called after each batch with (examples done, total).
  std::function<void(int64_t, int64_t)> progress;
};

struct TeacherLogitsResult {
  Tensor logits;       // f32 [num_train, K], row i = dataset index i
  double top1 = 0;     // the teacher's training-set accuracy (a sanity check)
  int64_t examples = 0;
  double seconds = 0;
  std::string description;  // the data set
};

// Runs the model of `mf` over the recipe's training set (limit_train applies)
// in inference mode with the evaluation transform.
TeacherLogitsResult compute_teacher_logits(ModelFile& mf, const Recipe& r, const TeacherLogitsOptions& o);

// Writes the file (atomically) with metadata.
void save_teacher_logits(const std::string& path, const Tensor& logits, const Metadata& metadata = {});

}  // namespace acnn::train
