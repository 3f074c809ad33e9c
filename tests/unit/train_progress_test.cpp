// Progress formatting (pure functions), the bar's tty and plain modes with an
// injected clock, and the JSON-lines metrics writer.
#include <cmath>
#include <cstdio>
#include <limits>

#include "runtime/train/metrics.h"
#include "runtime/train/progress.h"
#include "tests/catch.h"
#include "tests/unit/train_test_util.h"

using namespace acnn::train;
using acnn::test::contains;
using acnn::test::TempDir;

namespace {

ProgressSnapshot sample() {
  ProgressSnapshot s;
  s.epoch = 3;
  s.epochs = 90;
  s.step = 1200;
  s.steps = 5005;
  s.loss = 2.30456;
  s.lr = 0.1;
  s.images_per_s = 1234.4;
  s.eta_s = 3723;
  s.elapsed_s = 754;
  return s;
}

// Everything written to a FILE* so far.
std::string contents(FILE* f) {
  std::fflush(f);
  long n = std::ftell(f);
  std::string s(static_cast<size_t>(n), '\0');
  std::rewind(f);
  size_t got = std::fread(s.data(), 1, s.size(), f);
  s.resize(got);
  std::fseek(f, 0, SEEK_END);
  return s;
}

int count(const std::string& s, char c) { return static_cast<int>(std::count(s.begin(), s.end(), c)); }

}  // namespace

TEST_CASE("progress field formatting", "[unit]") {
  CHECK(format_duration(0) == "0:00");
  CHECK(format_duration(7.9) == "0:07");
  CHECK(format_duration(754) == "12:34");
  CHECK(format_duration(3723) == "1:02:03");
  CHECK(format_duration(123 * 3600 + 4 * 60 + 5) == "123:04:05");
  CHECK(format_duration(-1) == "--:--");
  CHECK(format_duration(std::numeric_limits<double>::infinity()) == "--:--");
  CHECK(format_rate(0.5) == "0.5");
  CHECK(format_rate(12.34) == "12.3");
  CHECK(format_rate(1234.4) == "1234");
  CHECK(format_rate(12345) == "12.3k");
  CHECK(format_rate(123456) == "123k");
  CHECK(format_rate(1234567) == "1.23M");
  CHECK(format_loss(2.30456) == "2.3046");
  CHECK(format_loss(std::nan("")) == "nan");
  CHECK(format_loss(-std::numeric_limits<double>::infinity()) == "-inf");
  CHECK(format_lr(0.1) == "0.1000");
  CHECK(format_lr(2e-4) == "2.0e-04");
  CHECK(format_lr(0) == "0");
}

TEST_CASE("progress bar line fits the terminal width", "[unit]") {
  auto s = sample();
  CHECK(format_bar_line(s, 120) ==
        "epoch 3/90 1200/5005 [=======>                        ]  loss 2.3046  lr 0.1000  1234 img/s  "
        "ETA 1:02:03  elapsed 12:34");
  CHECK(format_bar_line(s, 120).size() == 119);
  CHECK(format_bar_line(s, 200) ==
        "epoch 3/90 1200/5005 [=========>                              ]  loss 2.3046  lr 0.1000  1234 img/s  "
        "ETA 1:02:03  elapsed 12:34");
  // Narrower: the bar shrinks, then the least important fields go (elapsed,
  // lr, then the bar, img/s, ETA, loss), then the line is cut.
  CHECK(format_bar_line(s, 80) == "epoch 3/90 1200/5005 [====>             ]  loss 2.3046  1234 img/s  ETA 1:02:03");
  CHECK(format_bar_line(s, 60) == "epoch 3/90 1200/5005  loss 2.3046  1234 img/s  ETA 1:02:03");
  CHECK(format_bar_line(s, 40) == "epoch 3/90 1200/5005  loss 2.3046");
  CHECK(format_bar_line(s, 12) == "epoch 3/90 ");
  for (int w = 1; w <= 200; ++w) {
    std::string line = format_bar_line(s, w);
    INFO(w << ": " << line);
    CHECK(static_cast<int>(line.size()) <= std::max(1, w - 1));
    for (char c : line) CHECK((c >= 32 && c < 127));
  }
  // Step counts are padded so the line does not jitter; hidden fields vanish.
  ProgressSnapshot t;
  t.epoch = 1;
  t.epochs = 2;
  t.step = 7;
  t.steps = 100;
  CHECK(format_bar_line(t, 40) == "epoch 1/2   7/100 [=>                 ]");
  t.step = 100;
  CHECK(format_bar_line(t, 40) == "epoch 1/2 100/100 [===================]");
}

TEST_CASE("progress log line for non-terminals", "[unit]") {
  CHECK(format_log_line(sample()) ==
        "epoch 3/90 step 1200/5005 loss 2.3046 lr 0.1000 1234 img/s eta 1:02:03 elapsed 12:34");
  ProgressSnapshot t;
  t.step = 1;
  t.steps = 10;
  t.loss = std::nan("");
  CHECK(format_log_line(t) == "epoch 1/1 step 1/10 loss nan");
}

TEST_CASE("progress bar in plain mode logs every N steps without control characters", "[unit]") {
  FILE* f = std::tmpfile();
  REQUIRE(f);
  double clock = 100.0;
  ProgressOptions o;
  o.out = f;
  o.tty = false;
  o.log_every = 100;
  o.clock = [&] { return clock; };
  {
    ProgressBar bar(2, o);
    CHECK(!bar.is_tty());
    bar.start_epoch(0, 250);
    for (int i = 0; i < 250; ++i) {
      clock += 0.125;
      bar.step(2.0, 32, 0.1);
    }
    CHECK(bar.smoothed_loss() == 2.0);  // bias-corrected from the first step
    CHECK(std::fabs(bar.images_per_second() - 256.0) < 1e-9);
    // 250 steps left in the second epoch at 0.125 s each.
    CHECK(std::fabs(bar.snapshot().eta_s - 31.25) < 1e-9);
    bar.finish_epoch("epoch 1: val top1 12.50%");
    bar.start_epoch(1, 250, 240);  // resumed near the end
    for (int i = 0; i < 5; ++i) bar.step(1.0, 32);
    bar.finish_epoch();  // stopped early at step 245: that step is logged
  }
  std::string out = contents(f);
  std::fclose(f);
  INFO(out);
  CHECK(count(out, '\r') == 0);
  CHECK(count(out, '\x1b') == 0);
  CHECK(count(out, '\n') == 5);
  CHECK(contains(out, "epoch 1/2 step 100/250 loss 2.0000 lr 0.1000 256 img/s eta 0:50 elapsed 0:12\n"));
  CHECK(contains(out, "step 200/250"));
  CHECK(contains(out, "step 250/250"));
  CHECK(contains(out, "epoch 1: val top1 12.50%\n"));
  CHECK(contains(out, "epoch 2/2 step 245/250 loss 1.0000"));
}

TEST_CASE("progress bar on a terminal redraws one line at most ~10 times a second", "[unit]") {
  FILE* f = std::tmpfile();
  REQUIRE(f);
  double clock = 0.0;
  ProgressOptions o;
  o.out = f;
  o.tty = true;
  o.width = 100;
  o.clock = [&] { return clock; };
  {
    ProgressBar bar(1, o);
    bar.start_epoch(0, 1000);
    for (int i = 0; i < 1000; ++i) {
      clock += 1.0 / 128;  // 128 steps a second (exact in binary) for 7.8 s
      bar.step(1.5, 64);
      if (i == 500) bar.print("checkpoint saved");
    }
    bar.finish_epoch("done");
  }
  std::string out = contents(f);
  std::fclose(f);
  int redraws = count(out, '\r');
  CHECK(redraws >= 70);
  CHECK(redraws <= 79 + 3);  // 7.8 s at 10 per second, plus forced redraws
  CHECK(contains(out, "\r\x1b[Kcheckpoint saved\n"));
  // The final state is drawn, then the line is ended, then the summary.
  CHECK(contains(out, "1000/1000 [=========================="));
  CHECK(contains(out, "==]  loss 1.5000  8192 img/s  ETA 0:00  elapsed 0:07\x1b[K"));
  REQUIRE(out.size() > 9);
  CHECK(out.substr(out.size() - 9) == "\x1b[K\ndone\n");
  // Every line drawn fits the width.
  size_t pos = 0;
  while ((pos = out.find('\r', pos)) != std::string::npos) {
    size_t end = out.find("\x1b[K", pos);
    REQUIRE(end != std::string::npos);
    CHECK(end - pos - 1 <= 99);
    pos = end;
  }
}

TEST_CASE("metrics JSON lines: one flushed object per record", "[unit]") {
  TempDir dir;
  std::string path = dir.file("runs/x/metrics.jsonl");
  {
    MetricsWriter w(path);
    StepRecord s;
    s.epoch = 1;
    s.step = 50;
    s.global_step = 50;
    s.loss = 2.25;
    s.lr = 0.05;
    s.images_per_s = 1000.5;
    w.log_step(s);
    // Visible before the writer closes.
    auto early = read_metrics(path);
    REQUIRE(early.size() == 1);
    CHECK(early[0].begin().key() == "type");
    CHECK(early[0]["type"] == "step");
    CHECK(early[0]["loss"] == 2.25);
    CHECK(early[0]["lr"] == 0.05);
    CHECK(early[0]["time"].get<double>() > 1.6e9);
    EpochRecord e;
    e.epoch = 1;
    e.global_step = 100;
    e.train_loss = std::nan("");
    e.top1 = 0.75;
    e.top5 = 0.9;
    e.epoch_time_s = 12.5;
    w.log_epoch(e, {{"val_images", 10000}});
    w.write({{"type", "eval"}, {"corruption", "gaussian_noise"}, {"time", 1.0}});
  }
  auto r = read_metrics(path);
  REQUIRE(r.size() == 3);
  CHECK(r[1]["type"] == "epoch");
  CHECK(r[1]["train_loss"].is_null());
  CHECK(!r[1].contains("val_loss"));
  CHECK(r[1]["top1"] == 0.75);
  CHECK(r[1]["val_images"] == 10000);
  CHECK(r[2]["time"] == 1.0);
  std::string text = acnn::test::read_bytes(path);
  CHECK(text.substr(0, 55) == R"({"type":"step","epoch":1,"step":50,"global_step":50,"lo)");
  CHECK(count(text, '\n') == 3);
}

TEST_CASE("metrics writer on resume drops records after the checkpoint and a torn line", "[unit]") {
  TempDir dir;
  std::string path = dir.file("metrics.jsonl");
  {
    MetricsWriter w(path);
    for (int g = 1; g <= 10; ++g) w.log_step(StepRecord{1 + (g - 1) / 5, (g - 1) % 5 + 1, g, 1.0 / g, {}, {}});
    EpochRecord e;
    e.epoch = 1;
    e.global_step = 5;
    w.log_epoch(e);
    w.write({{"type", "note"}});  // no global_step: kept
  }
  // A crash in the middle of a line.
  {
    FILE* f = std::fopen(path.c_str(), "a");
    std::fputs(R"({"type":"step","epoch":2,"glo)", f);
    std::fclose(f);
  }
  CHECK(read_metrics(path).size() == 12);  // the torn last line is skipped
  {
    MetricsWriter w(path, 6);
    w.log_step(StepRecord{2, 2, 7, 0.5, {}, {}});
  }
  auto r = read_metrics(path);
  REQUIRE(r.size() == 9);  // steps 1..6, the epoch record, the note, the new step 7
  CHECK(r[5]["global_step"] == 6);
  CHECK(r[6]["type"] == "epoch");
  CHECK(r[7]["type"] == "note");
  CHECK(r[8]["loss"] == 0.5);
  // A corrupt line that is not the last one is an error naming file and line.
  acnn::test::write_bytes(path, "{\"a\":1}\nnot json\n{\"b\":2}\n");
  std::string e = acnn::test::error_of([&] { read_metrics(path); });
  CHECK(contains(e, path + ":2"));
}
