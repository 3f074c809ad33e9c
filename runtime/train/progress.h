// Training progress on the console. On a terminal ProgressBar redraws one line
// in place ("\r", erase to end of line) at most ~10 times a second: epoch e/E,
// step s/S, a bar, the smoothed loss, lr, images/s, ETA and elapsed time,
// shrinking the bar, then dropping the least important fields (elapsed, lr,
// the bar itself, images/s, ETA, loss) when the terminal is
// narrow; the width is re-read on each redraw. When the output is not a
// terminal (a log file, CI), it prints a plain line every N steps instead and
// never emits control characters. The formatting functions are pure and
// tested on their own; the tty decision, terminal width and clock can be
// injected through ProgressOptions. The loss is an exponential moving average
// with bias correction, reset each epoch; images/s and the ETA come from
// moving averages of step time and batch size. ETA covers the remaining steps
// of all epochs (evaluation time not included).
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <limits>
#include <optional>
#include <string>

namespace acnn::train {

// What one progress line shows. Epoch and step are 1-based counts for display
// (step = steps done in this epoch). An empty loss, a NaN lr or a negative
// (or non-finite) rate, ETA or elapsed time hides its field; a NaN loss shows.
struct ProgressSnapshot {
  int64_t epoch = 1, epochs = 1;
  int64_t step = 0, steps = 0;
  std::optional<double> loss;
  double lr = std::numeric_limits<double>::quiet_NaN();
  double images_per_s = -1;
  double eta_s = -1;
  double elapsed_s = -1;
};

// "0:07", "12:34", "1:02:03", "123:04:05"; "--:--" for negative or non-finite.
std::string format_duration(double seconds);
// "0.5", "12.3", "1234", "12.3k", "123k", "1.23M".
std::string format_rate(double per_second);
// Loss with 4 decimals ("2.3046"), "nan"/"inf" as such.
std::string format_loss(double loss);
// lr in short scientific form when small ("1.0e-04") else "0.1000".
std::string format_lr(double lr);
// The terminal line: at most width - 1 columns (the last column is left free
// so that no terminal wraps); no control characters.
std::string format_bar_line(const ProgressSnapshot& s, int width);
// The line for logs: "epoch 3/90 step 1200/5005 loss 2.3046 lr 0.1000 1234 img/s eta 1:02:03 elapsed 12:34".
std::string format_log_line(const ProgressSnapshot& s);

// Terminal width of `fd` (ioctl), else $COLUMNS, else 80.
int terminal_width(int fd);

struct ProgressOptions {
  FILE* out = stdout;
  std::optional<bool> tty;              // default: isatty(fileno(out))
  int width = 0;                        // 0: terminal_width() on each redraw
  int64_t log_every = 100;              // non-tty: a line every N steps (and the last)
  double min_redraw_s = 0.1;            // tty: redraw interval
  double loss_beta = 0.98;              // loss EMA factor
  double rate_beta = 0.9;               // step time / batch size EMA factor
  std::function<double()> clock;        // seconds, monotonic; default steady_clock
};

class ProgressBar {
 public:
  explicit ProgressBar(int64_t epochs, ProgressOptions opts = {});
  ~ProgressBar();

  // Starts epoch `epoch` (0-based) of `steps` steps; `first_step` > 0 when a
  // run resumes in the middle of the epoch.
  void start_epoch(int64_t epoch, int64_t steps, int64_t first_step = 0);
  // After each training step: its loss, the images it consumed and the lr used.
  void step(double loss, int64_t images, double lr = std::numeric_limits<double>::quiet_NaN());
  // Ends the epoch's line (a newline on a terminal) and prints `summary` if
  // not empty, e.g. "epoch 3: val top1 76.12% top5 92.90%".
  void finish_epoch(const std::string& summary = "");
  // Prints a message on its own line without breaking the bar.
  void print(const std::string& line);

  bool is_tty() const { return tty_; }
  ProgressSnapshot snapshot() const;
  double smoothed_loss() const;
  double images_per_second() const;

 private:
  void draw(bool force);
  void clear_line();
  double now() const;

  ProgressOptions opts_;
  bool tty_ = false;
  int64_t epochs_, epoch_ = 0, steps_ = 0, step_ = 0;
  double start_time_ = 0, last_step_time_ = 0, last_draw_ = -1e300;
  double loss_avg_ = 0, loss_weight_ = 0;           // EMA numerator and bias correction
  double dt_avg_ = 0, img_avg_ = 0, rate_weight_ = 0;
  double lr_ = std::numeric_limits<double>::quiet_NaN();
  bool line_open_ = false;                          // a bar is drawn without a newline
};

}  // namespace acnn::train
