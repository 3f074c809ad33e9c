#include "runtime/train/teacher_logits.h"

#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "runtime/train/data_setup.h"
#include "runtime/train/evaluator.h"

namespace acnn::train {

TeacherLogits TeacherLogits::load(const std::string& path, int64_t classes, int64_t examples) {
  if (!std::filesystem::exists(path))
    throw std::runtime_error("the teacher logits " + path + " do not exist; make them with `acnn teacher-logits TEACHER.acnn "
                             "--checkpoint C -o " + path + "` (acnn ablate does it when the recipe names the teacher)");
  SafetensorsContents c = load_safetensors(path);
  auto it = c.tensors.find(kTeacherLogitsTensor);
  if (it == c.tensors.end())
    throw std::runtime_error(path + " has no tensor `logits`; make one with `acnn teacher-logits TEACHER.acnn --checkpoint "
                             "C -o " + path + "`");
  const Tensor& t = it->second;
  if (t.dtype() != DType::F32 || t.rank() != 2)
    throw std::runtime_error(path + ": `logits` is " + type_str(t.dtype(), t.shape()) + "; distillation needs f32[examples, classes]");
  if (t.dim(1) != classes)
    throw std::runtime_error(path + ": the teacher's logits have " + std::to_string(t.dim(1)) +
                             " classes but the recipe's data set has " + std::to_string(classes));
  if (t.dim(0) < examples)
    throw std::runtime_error(path + " holds logits for " + std::to_string(t.dim(0)) + " examples but the training set has " +
                             std::to_string(examples) + "; recompute them for this data set");
  return TeacherLogits(t);
}

Tensor TeacherLogits::gather(const std::vector<int64_t>& indices) const {
  const int64_t k = classes();
  Tensor out(DType::F32, {static_cast<int64_t>(indices.size()), k});
  const float* src = logits_.data<float>();
  float* dst = out.data<float>();
  for (size_t i = 0; i < indices.size(); ++i) {
    int64_t row = indices[i];
    if (row < 0 || row >= rows())
      throw std::out_of_range("teacher logits: example " + std::to_string(row) + " is outside the file's " +
                              std::to_string(rows()) + " rows");
    std::memcpy(dst + i * k, src + row * k, static_cast<size_t>(k) * sizeof(float));
  }
  return out;
}

TeacherLogitsResult compute_teacher_logits(ModelFile& mf, const Recipe& r, const TeacherLogitsOptions& o) {
  DataSets data = load_datasets(r);
  Evaluator ev(mf, r, o.batch > 0 ? o.batch : r.batch, o);
  if (!o.checkpoint.empty()) ev.load_checkpoint(o.checkpoint);
  const int64_t n = static_cast<int64_t>(data.train->size());
  TeacherLogitsResult res;
  res.logits = Tensor(DType::F32, {n, ev.classes()});
  std::memset(res.logits.raw(), 0, res.logits.bytes());
  std::vector<char> seen(static_cast<size_t>(n), 0);
  int64_t done = 0;
  float* dst = res.logits.data<float>();
  const int64_t k = ev.classes();
  EvalResult e = ev.run(data.train, eval_pipeline(r), [&](const data::Batch& b, const Tensor& logits) {
    for (int64_t i = 0; i < b.size(); ++i) {
      int64_t row = b.indices[static_cast<size_t>(i)];
      std::memcpy(dst + row * k, logits.data<float>() + i * k, static_cast<size_t>(k) * sizeof(float));
      seen[static_cast<size_t>(row)] = 1;
    }
    done += b.size();
    if (o.progress) o.progress(done, n);
  });
  for (int64_t i = 0; i < n; ++i)
    if (!seen[static_cast<size_t>(i)])
      throw std::runtime_error("teacher logits: training example " + std::to_string(i) + " was not produced (unreadable?)");
  res.top1 = e.top1;
  res.examples = e.examples;
  res.seconds = e.seconds;
  res.description = data.description;
  return res;
}

void save_teacher_logits(const std::string& path, const Tensor& logits, const Metadata& metadata) {
  save_safetensors(path, {{kTeacherLogitsTensor, logits}}, metadata);
}

}  // namespace acnn::train
