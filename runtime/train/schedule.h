// Learning-rate and regularizer schedules as pure functions of training
// progress measured in fractional epochs: t = epoch + step / steps_per_epoch
// (epoch and step 0-based), so every schedule moves per step, not per epoch.
// Kinds: constant; step (x gamma every k epochs); multi-step (x gamma at each
// milestone); cosine (from the base down to a floor over the epochs after the
// warm-up). Any kind may start with a linear warm-up from `warmup_start`
// (default 0: the first step trains at lr 0, as GluonCV's recipes do) to the
// base over `warmup_epochs`; step and multi-step milestones are absolute
// epochs. linear_ramp() interpolates a value over a range of t and clamps
// outside it; DropBlock's keep probability goes from 1.0 to 0.9 with it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace acnn::train {

// t for the step `step` (0-based) of epoch `epoch` (0-based).
double fractional_epoch(int64_t epoch, int64_t step, int64_t steps_per_epoch);

// The building blocks, each a closed formula.
double step_decay(double base, double t, double step_epochs, double gamma);            // base * gamma^floor(t / k)
double multistep_decay(double base, double t, const std::vector<double>& milestones,  // base * gamma^#{m <= t}
                       double gamma);
double cosine_decay(double base, double floor, double t, double t0, double t1);       // base at t0 .. floor at t1
double linear_ramp(double t, double t0, double t1, double v0, double v1);             // v0 before t0, v1 after t1

enum class LrKind { Constant, Step, MultiStep, Cosine };
// "constant", "step", "multistep", "cosine"; false for anything else.
bool parse_lr_kind(const std::string& name, LrKind* out);
const char* lr_kind_name(LrKind k);

struct LrSchedule {
  LrKind kind = LrKind::Constant;
  double base_lr = 0.1;
  double warmup_epochs = 0;   // 0: no warm-up
  double warmup_start = 0;    // lr at t = 0 when warming up
  double step_epochs = 30;    // Step: decay every k epochs
  std::vector<double> milestones;  // MultiStep: absolute epochs, ascending
  double gamma = 0.1;         // Step / MultiStep factor
  double total_epochs = 90;   // Cosine: reaches `floor` here
  double floor = 0;           // Cosine: final lr

  // lr at fractional epoch t (clamped to [0, total] for Cosine). Throws
  // std::invalid_argument for inconsistent settings (see validate()).
  double at(double t) const;
  double at(int64_t epoch, int64_t step, int64_t steps_per_epoch) const {
    return at(fractional_epoch(epoch, step, steps_per_epoch));
  }
  // Throws std::invalid_argument naming the offending field.
  void validate() const;
};

// DropBlock's keep probability: 1.0 at t = 0 falling linearly to `final_keep`
// at t = total_epochs (then held).
double dropblock_keep_prob(double t, double total_epochs, double final_keep = 0.9);

}  // namespace acnn::train
