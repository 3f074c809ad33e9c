// Learning-rate schedules and the linear ramp against hand-computed values.
#include <cmath>
#include <numbers>

#include "runtime/train/schedule.h"
#include "tests/catch.h"
#include "tests/unit/train_test_util.h"

using namespace acnn::train;
using acnn::test::near;

TEST_CASE("fractional epochs advance per step", "[unit]") {
  CHECK(fractional_epoch(0, 0, 100) == 0.0);
  CHECK(fractional_epoch(2, 50, 100) == 2.5);
  CHECK(fractional_epoch(89, 99, 100) == 89.99);
  CHECK_THROWS_AS(fractional_epoch(1, 0, 0), std::invalid_argument);
}

TEST_CASE("step and multi-step decay", "[unit]") {
  LrSchedule s;
  s.kind = LrKind::Step;
  s.base_lr = 0.1;
  s.step_epochs = 30;
  s.gamma = 0.1;
  CHECK(s.at(0.0) == 0.1);
  CHECK(s.at(29.99) == 0.1);
  CHECK(near(s.at(30.0), 0.01));
  CHECK(near(s.at(65.0), 0.001));
  CHECK(near(step_decay(1.0, 5.0, 2.0, 0.5), 0.25));

  LrSchedule m;
  m.kind = LrKind::MultiStep;
  m.base_lr = 0.1;
  m.milestones = {30, 60, 80};
  m.gamma = 0.1;
  CHECK(m.at(0.0) == 0.1);
  CHECK(m.at(29.999) == 0.1);
  CHECK(near(m.at(30.0), 0.01));
  CHECK(near(m.at(59.9), 0.01));
  CHECK(near(m.at(60.0), 0.001));
  CHECK(near(m.at(85.0), 1e-4));
  // Per step: the milestone takes effect on the first step of epoch 30.
  CHECK(m.at(29, 99, 100) == 0.1);
  CHECK(near(m.at(30, 0, 100), 0.01));
  // Warm-up before a step schedule.
  m.warmup_epochs = 5;
  CHECK(m.at(0.0) == 0.0);
  CHECK(near(m.at(2.5), 0.05));
  CHECK(near(m.at(5.0), 0.1));
}

TEST_CASE("cosine with linear warm-up, per step", "[unit]") {
  LrSchedule s;
  s.kind = LrKind::Cosine;
  s.base_lr = 0.4;
  s.warmup_epochs = 5;
  s.total_epochs = 120;
  // Warm-up from 0: linear in t.
  CHECK(s.at(0.0) == 0.0);
  CHECK(near(s.at(2.5), 0.2));
  CHECK(near(s.at(0, 1, 1000), 0.4 * (1.0 / 1000) / 5));  // the second step, not the second epoch
  CHECK(near(s.at(5.0), 0.4));
  // Cosine over [5, 120]: a third of the way down is 0.2 * (1 + cos(pi/3)) = 0.3.
  CHECK(near(s.at(5.0 + 115.0 / 3.0), 0.3));
  CHECK(near(s.at(62.5), 0.2));
  CHECK(near(s.at(120.0), 0.0, 1e-15));
  CHECK(s.at(500.0) == 0.0);
  // Strictly decreasing step by step after the warm-up.
  double prev = s.at(5, 0, 100);
  for (int e = 5; e < 120; e += 7)
    for (int k = 1; k < 100; k += 33) {
      double v = s.at(e, k, 100);
      CHECK(v < prev);
      prev = v;
    }
  // A floor.
  LrSchedule f;
  f.kind = LrKind::Cosine;
  f.base_lr = 0.1;
  f.floor = 0.001;
  f.total_epochs = 10;
  CHECK(near(f.at(5.0), 0.001 + 0.5 * 0.099));
  CHECK(near(f.at(10.0), 0.001));
  CHECK(near(cosine_decay(1.0, 0.0, 0.5, 0.0, 1.0), 0.5));
  // A warm-up that starts above zero.
  LrSchedule w;
  w.base_lr = 0.1;
  w.warmup_epochs = 2;
  w.warmup_start = 0.01;
  CHECK(near(w.at(1.0), 0.055));
  CHECK(w.at(3.0) == 0.1);
}

TEST_CASE("schedule settings are validated and named", "[unit]") {
  LrSchedule s;
  s.kind = LrKind::Cosine;
  s.warmup_epochs = 10;
  s.total_epochs = 10;
  CHECK_THROWS_AS(s.at(1.0), std::invalid_argument);
  s.total_epochs = 20;
  s.floor = 1.0;
  CHECK_THROWS_AS(s.validate(), std::invalid_argument);
  LrSchedule m;
  m.kind = LrKind::MultiStep;
  m.milestones = {60, 30};
  CHECK_THROWS_AS(m.validate(), std::invalid_argument);
  LrKind k;
  for (const char* name : {"constant", "step", "multistep", "cosine"}) {
    REQUIRE(parse_lr_kind(name, &k));
    CHECK(std::string(lr_kind_name(k)) == name);
  }
  CHECK(!parse_lr_kind("cosin", &k));
}

TEST_CASE("linear ramp and DropBlock keep probability", "[unit]") {
  CHECK(linear_ramp(-1, 0, 10, 1.0, 0.0) == 1.0);
  CHECK(near(linear_ramp(2.5, 0, 10, 1.0, 0.0), 0.75));
  CHECK(linear_ramp(11, 0, 10, 1.0, 0.0) == 0.0);
  CHECK(dropblock_keep_prob(0, 120) == 1.0);
  CHECK(near(dropblock_keep_prob(60, 120), 0.95));
  CHECK(near(dropblock_keep_prob(fractional_epoch(30, 50, 100), 120), 1.0 - 0.1 * 30.5 / 120));
  CHECK(near(dropblock_keep_prob(120, 120), 0.9));
  CHECK(near(dropblock_keep_prob(200, 120), 0.9));
}
