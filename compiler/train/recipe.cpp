#include "compiler/train/recipe.h"

#include <cassert>
#include <sstream>

namespace acnn {

namespace {

const elab::Value& field(const elab::Value& r, const char* name) {
  const elab::ValuePtr* v = r.field(name);
  assert(v && "recipe field missing: the schema and recipe.cpp disagree");
  return **v;
}
double num(const elab::Value& r, const char* name) {
  const elab::Value& v = field(r, name);
  return v.kind == elab::ValueKind::Int ? static_cast<double>(v.i) : v.f;
}
int64_t integer(const elab::Value& r, const char* name) { return field(r, name).i; }
bool flag(const elab::Value& r, const char* name) { return field(r, name).b; }
std::string text(const elab::Value& r, const char* name) {
  const elab::Value& v = field(r, name);
  if (v.kind == elab::ValueKind::Enum) return v.enum_type->members[v.enum_index];
  return v.s;
}
std::vector<double> floats(const elab::Value& r, const char* name) {
  std::vector<double> out;
  for (const auto& item : field(r, name).items)
    out.push_back(item->kind == elab::ValueKind::Int ? static_cast<double>(item->i) : item->f);
  return out;
}
std::vector<int64_t> ints(const elab::Value& r, const char* name) {
  std::vector<int64_t> out;
  for (const auto& item : field(r, name).items) out.push_back(item->i);
  return out;
}

}  // namespace

Recipe recipe_from_value(const elab::Value& v) {
  Recipe r;
  r.name = text(v, "name");
  const elab::Value& d = field(v, "data");
  r.data.set = text(d, "set");
  r.data.path = text(d, "path");
  r.data.classes = integer(d, "classes");
  r.data.channels = integer(d, "channels");
  r.data.size = integer(d, "size");
  r.data.eval_resize = integer(d, "eval_resize");
  r.data.eval_crop = integer(d, "eval_crop");
  r.data.mean = floats(d, "mean");
  r.data.std = floats(d, "std");
  r.data.workers = integer(d, "workers");
  r.data.limit_train = integer(d, "limit_train");
  r.data.limit_eval = integer(d, "limit_eval");
  const elab::Value& a = field(v, "augment");
  r.augment.pad_crop = integer(a, "pad_crop");
  r.augment.flip = flag(a, "flip");
  r.augment.random_resized_crop = flag(a, "random_resized_crop");
  r.augment.crop_area = floats(a, "crop_area");
  r.augment.crop_ratio = floats(a, "crop_ratio");
  r.augment.autoaugment = text(a, "autoaugment");
  r.augment.autoaugment_fill = integer(a, "autoaugment_fill");
  r.batch = integer(v, "batch");
  r.epochs = integer(v, "epochs");
  const elab::Value& o = field(v, "optimizer");
  r.optimizer.lr = num(o, "lr");
  r.optimizer.momentum = num(o, "momentum");
  r.optimizer.nesterov = flag(o, "nesterov");
  r.optimizer.weight_decay = num(o, "weight_decay");
  r.optimizer.decay_bn_and_bias = flag(o, "decay_bn_and_bias");
  const elab::Value& s = field(v, "schedule");
  r.schedule.kind = text(s, "kind");
  r.schedule.warmup_epochs = num(s, "warmup_epochs");
  r.schedule.step_epochs = integer(s, "step_epochs");
  r.schedule.milestones = ints(s, "milestones");
  r.schedule.gamma = num(s, "gamma");
  r.schedule.final_lr = num(s, "final_lr");
  r.precision = text(v, "precision");
  r.label_smoothing = num(v, "label_smoothing");
  const elab::Value& m = field(v, "mixup");
  r.mixup.alpha = num(m, "alpha");
  r.mixup.type = text(m, "type");
  r.dropblock_keep = num(field(v, "dropblock"), "keep_prob");
  const elab::Value& k = field(v, "distill");
  r.distill.teacher = text(k, "teacher");
  r.distill.teacher_checkpoint = text(k, "teacher_checkpoint");
  r.distill.logits = text(k, "logits");
  r.distill.temperature = num(k, "temperature");
  r.distill.weight = num(k, "weight");
  r.zero_gamma = flag(v, "zero_gamma");
  r.seed = integer(v, "seed");
  r.eval_every = integer(v, "eval_every");
  return r;
}

std::string summarize(const Recipe& r) {
  std::ostringstream s;
  s << (r.name.empty() ? "recipe" : r.name) << ": " << r.data.set << " at " << r.data.size << "px, batch " << r.batch
    << ", " << r.epochs << " epochs, sgd lr " << r.optimizer.lr << " momentum " << r.optimizer.momentum
    << (r.optimizer.nesterov ? " (nesterov)" : "") << " wd " << r.optimizer.weight_decay << ", " << r.schedule.kind;
  if (r.schedule.warmup_epochs > 0) s << " (warm-up " << r.schedule.warmup_epochs << " epochs)";
  s << ", " << r.precision;
  if (r.label_smoothing > 0) s << ", label smoothing " << r.label_smoothing;
  if (r.mixup_on()) s << ", mixup " << r.mixup.type << " alpha " << r.mixup.alpha;
  if (r.dropblock_keep < 1) s << ", dropblock keep " << r.dropblock_keep;
  if (r.augment.autoaugment != "none") s << ", autoaugment " << r.augment.autoaugment;
  if (r.distill.enabled()) s << ", distillation T=" << r.distill.temperature;
  return s.str();
}

}  // namespace acnn
