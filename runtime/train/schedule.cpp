#include "runtime/train/schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <stdexcept>

namespace acnn::train {

double fractional_epoch(int64_t epoch, int64_t step, int64_t steps_per_epoch) {
  if (steps_per_epoch <= 0) throw std::invalid_argument("fractional_epoch: steps_per_epoch must be positive");
  return static_cast<double>(epoch) + static_cast<double>(step) / static_cast<double>(steps_per_epoch);
}

double step_decay(double base, double t, double step_epochs, double gamma) {
  return base * std::pow(gamma, std::floor(t / step_epochs));
}

double multistep_decay(double base, double t, const std::vector<double>& milestones, double gamma) {
  int passed = 0;
  for (double m : milestones)
    if (t >= m) ++passed;
  return base * std::pow(gamma, passed);
}

double cosine_decay(double base, double floor, double t, double t0, double t1) {
  if (t <= t0) return base;
  if (t >= t1) return floor;
  double p = (t - t0) / (t1 - t0);
  return floor + 0.5 * (base - floor) * (1.0 + std::cos(std::numbers::pi * p));
}

double linear_ramp(double t, double t0, double t1, double v0, double v1) {
  if (t <= t0) return v0;
  if (t >= t1) return v1;
  return v0 + (v1 - v0) * (t - t0) / (t1 - t0);
}

bool parse_lr_kind(const std::string& name, LrKind* out) {
  for (LrKind k : {LrKind::Constant, LrKind::Step, LrKind::MultiStep, LrKind::Cosine})
    if (name == lr_kind_name(k)) {
      *out = k;
      return true;
    }
  return false;
}

const char* lr_kind_name(LrKind k) {
  switch (k) {
    case LrKind::Constant: return "constant";
    case LrKind::Step: return "step";
    case LrKind::MultiStep: return "multistep";
    case LrKind::Cosine: return "cosine";
  }
  return "?";
}

void LrSchedule::validate() const {
  auto need = [](bool ok, const char* msg) {
    if (!ok) throw std::invalid_argument(std::string("lr schedule: ") + msg);
  };
  need(std::isfinite(base_lr) && base_lr >= 0, "base_lr must be finite and non-negative");
  need(std::isfinite(warmup_epochs) && warmup_epochs >= 0, "warmup_epochs must be non-negative");
  need(std::isfinite(warmup_start) && warmup_start >= 0, "warmup_start must be finite and non-negative");
  if (kind == LrKind::Step) {
    need(step_epochs > 0, "step_epochs must be positive");
    need(gamma > 0, "gamma must be positive");
  }
  if (kind == LrKind::MultiStep) {
    need(gamma > 0, "gamma must be positive");
    need(std::is_sorted(milestones.begin(), milestones.end()), "milestones must be ascending");
  }
  if (kind == LrKind::Cosine) {
    need(total_epochs > warmup_epochs, "total_epochs must exceed warmup_epochs");
    need(std::isfinite(floor) && floor >= 0 && floor <= base_lr, "floor must lie in [0, base_lr]");
  }
}

double LrSchedule::at(double t) const {
  validate();
  if (t < 0) t = 0;
  if (warmup_epochs > 0 && t < warmup_epochs) return linear_ramp(t, 0, warmup_epochs, warmup_start, base_lr);
  switch (kind) {
    case LrKind::Constant: return base_lr;
    case LrKind::Step: return step_decay(base_lr, t, step_epochs, gamma);
    case LrKind::MultiStep: return multistep_decay(base_lr, t, milestones, gamma);
    case LrKind::Cosine: return cosine_decay(base_lr, floor, t, warmup_epochs, total_epochs);
  }
  return base_lr;
}

double dropblock_keep_prob(double t, double total_epochs, double final_keep) {
  return linear_ramp(t, 0, total_epochs, 1.0, final_keep);
}

}  // namespace acnn::train
