#include "runtime/train/progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <vector>

namespace acnn::train {

namespace {

std::string printf_str(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

bool shown(double v) { return std::isfinite(v) && v >= 0; }

}  // namespace

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--:--";
  auto total = static_cast<int64_t>(seconds);
  int64_t h = total / 3600, m = total / 60 % 60, s = total % 60;
  char buf[48];
  if (h > 0)
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(h), static_cast<long long>(m),
                  static_cast<long long>(s));
  else
    std::snprintf(buf, sizeof buf, "%lld:%02lld", static_cast<long long>(m), static_cast<long long>(s));
  return buf;
}

std::string format_rate(double v) {
  if (!std::isfinite(v)) return "?";
  if (v < 100) return printf_str("%.1f", v);
  if (v < 1e4) return printf_str("%.0f", v);
  if (v < 1e5) return printf_str("%.1fk", v / 1e3);
  if (v < 1e6) return printf_str("%.0fk", v / 1e3);
  return printf_str("%.2fM", v / 1e6);
}

std::string format_loss(double loss) {
  if (std::isnan(loss)) return "nan";
  if (std::isinf(loss)) return loss > 0 ? "inf" : "-inf";
  return printf_str("%.4f", loss);
}

std::string format_lr(double lr) {
  if (lr == 0) return "0";
  if (std::fabs(lr) < 1e-3) return printf_str("%.1e", lr);
  return printf_str("%.4f", lr);
}

std::string format_bar_line(const ProgressSnapshot& s, int width) {
  const size_t avail = static_cast<size_t>(std::max(1, width - 1));
  constexpr int kMinInner = 8, kMaxInner = 40;
  std::string steps = std::to_string(s.steps);
  std::string step = std::to_string(s.step);
  if (step.size() < steps.size()) step.insert(0, steps.size() - step.size(), ' ');
  // Fields in display order with a priority (0: never dropped; the highest
  // goes first when the line is too long). The bar is a field that shrinks
  // to kMinInner before it is dropped.
  struct Field {
    std::string text;
    int priority;
    bool bar = false;
  };
  std::vector<Field> f;
  f.push_back({"epoch " + std::to_string(s.epoch) + "/" + std::to_string(s.epochs), 0});
  f.push_back({step + "/" + steps, 0});
  if (s.steps > 0) f.push_back({std::string(kMinInner + 2, '='), 4, true});
  if (s.loss) f.push_back({"loss " + format_loss(*s.loss), 1});
  if (std::isfinite(s.lr)) f.push_back({"lr " + format_lr(s.lr), 5});
  if (shown(s.images_per_s)) f.push_back({format_rate(s.images_per_s) + " img/s", 3});
  if (shown(s.eta_s)) f.push_back({"ETA " + format_duration(s.eta_s), 2});
  if (shown(s.elapsed_s)) f.push_back({"elapsed " + format_duration(s.elapsed_s), 6});

  // One space before the step counter and the bar, two elsewhere.
  auto sep = [&](size_t i) -> size_t { return i == 0 ? 0 : (i == 1 || f[i].bar) ? 1 : 2; };
  auto size = [&] {
    size_t n = 0;
    for (size_t i = 0; i < f.size(); ++i) n += sep(i) + f[i].text.size();
    return n;
  };
  while (size() > avail) {
    auto worst = std::max_element(f.begin(), f.end(), [](const Field& a, const Field& b) { return a.priority < b.priority; });
    if (worst->priority == 0) break;
    f.erase(worst);
  }
  size_t used = size();
  std::string out;
  for (size_t i = 0; i < f.size(); ++i) {
    out.append(sep(i), ' ');
    if (!f[i].bar) {
      out += f[i].text;
      continue;
    }
    int inner = std::min<int>(kMaxInner, kMinInner + static_cast<int>(avail - std::min(avail, used)));
    double frac = std::clamp(static_cast<double>(s.step) / static_cast<double>(s.steps), 0.0, 1.0);
    int filled = static_cast<int>(frac * inner);
    out += "[" + std::string(filled, '=');
    if (filled < inner) out += '>' + std::string(inner - filled - 1, ' ');
    out += ']';
  }
  if (out.size() > avail) out.resize(avail);
  return out;
}

std::string format_log_line(const ProgressSnapshot& s) {
  std::string out = "epoch " + std::to_string(s.epoch) + "/" + std::to_string(s.epochs) + " step " +
                    std::to_string(s.step) + "/" + std::to_string(s.steps);
  if (s.loss) out += " loss " + format_loss(*s.loss);
  if (std::isfinite(s.lr)) out += " lr " + format_lr(s.lr);
  if (shown(s.images_per_s)) out += " " + format_rate(s.images_per_s) + " img/s";
  if (shown(s.eta_s)) out += " eta " + format_duration(s.eta_s);
  if (shown(s.elapsed_s)) out += " elapsed " + format_duration(s.elapsed_s);
  return out;
}

int terminal_width(int fd) {
  struct winsize ws {};
  if (::ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  if (const char* c = std::getenv("COLUMNS")) {
    int n = std::atoi(c);
    if (n > 0) return n;
  }
  return 80;
}

ProgressBar::ProgressBar(int64_t epochs, ProgressOptions opts) : opts_(std::move(opts)), epochs_(epochs) {
  if (!opts_.out) opts_.out = stdout;
  tty_ = opts_.tty ? *opts_.tty : ::isatty(::fileno(opts_.out)) != 0;
  if (opts_.log_every <= 0) opts_.log_every = 1;
  start_time_ = last_step_time_ = now();
}

ProgressBar::~ProgressBar() {
  if (line_open_) {
    std::fputs("\n", opts_.out);
    std::fflush(opts_.out);
  }
}

double ProgressBar::now() const {
  if (opts_.clock) return opts_.clock();
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

void ProgressBar::start_epoch(int64_t epoch, int64_t steps, int64_t first_step) {
  if (line_open_) finish_epoch();
  epoch_ = epoch;
  steps_ = steps;
  step_ = first_step;
  loss_avg_ = loss_weight_ = 0;
  last_step_time_ = now();
  last_draw_ = -1e300;
}

void ProgressBar::step(double loss, int64_t images, double lr) {
  double t = now();
  double dt = std::max(0.0, t - last_step_time_);
  last_step_time_ = t;
  ++step_;
  const double b = opts_.loss_beta, r = opts_.rate_beta;
  loss_avg_ = b * loss_avg_ + (1 - b) * loss;
  loss_weight_ = b * loss_weight_ + (1 - b);
  dt_avg_ = r * dt_avg_ + (1 - r) * dt;
  img_avg_ = r * img_avg_ + (1 - r) * static_cast<double>(images);
  rate_weight_ = r * rate_weight_ + (1 - r);
  lr_ = lr;
  bool last = step_ >= steps_;
  if (tty_)
    draw(last);
  else if (last || step_ % opts_.log_every == 0)
    draw(true);
}

void ProgressBar::draw(bool force) {
  double t = now();
  if (tty_) {
    if (!force && t - last_draw_ < opts_.min_redraw_s) return;
    int width = opts_.width > 0 ? opts_.width : terminal_width(::fileno(opts_.out));
    std::string line = "\r" + format_bar_line(snapshot(), width) + "\x1b[K";
    std::fputs(line.c_str(), opts_.out);
    line_open_ = true;
  } else {
    std::string line = format_log_line(snapshot()) + "\n";
    std::fputs(line.c_str(), opts_.out);
  }
  last_draw_ = t;
  std::fflush(opts_.out);
}

void ProgressBar::clear_line() {
  if (line_open_) {
    std::fputs("\r\x1b[K", opts_.out);
    line_open_ = false;
  }
}

void ProgressBar::finish_epoch(const std::string& summary) {
  if (tty_) {
    if (line_open_ || step_ > 0) draw(true);
    std::fputs("\n", opts_.out);
    line_open_ = false;
  } else if (step_ > 0 && step_ < steps_ && step_ % opts_.log_every != 0) {
    draw(true);  // stopped early: the last step was not logged yet
  }
  if (!summary.empty()) std::fputs((summary + "\n").c_str(), opts_.out);
  std::fflush(opts_.out);
}

void ProgressBar::print(const std::string& line) {
  bool redraw = line_open_;
  clear_line();
  std::fputs((line + "\n").c_str(), opts_.out);
  if (redraw) draw(true);
  std::fflush(opts_.out);
}

double ProgressBar::smoothed_loss() const {
  return loss_weight_ > 0 ? loss_avg_ / loss_weight_ : std::numeric_limits<double>::quiet_NaN();
}

double ProgressBar::images_per_second() const { return dt_avg_ > 0 ? img_avg_ / dt_avg_ : -1; }

ProgressSnapshot ProgressBar::snapshot() const {
  ProgressSnapshot s;
  s.epoch = epoch_ + 1;
  s.epochs = epochs_;
  s.step = step_;
  s.steps = steps_;
  if (loss_weight_ > 0) s.loss = smoothed_loss();
  s.lr = lr_;
  s.images_per_s = images_per_second();
  if (rate_weight_ > 0) {
    double step_time = dt_avg_ / rate_weight_;
    int64_t remaining = std::max<int64_t>(0, steps_ - step_) + std::max<int64_t>(0, epochs_ - epoch_ - 1) * steps_;
    s.eta_s = step_time * static_cast<double>(remaining);
  }
  s.elapsed_s = now() - start_time_;
  return s;
}

}  // namespace acnn::train
