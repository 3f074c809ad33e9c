// The CPU runner (the Executor behind the Runner interface) and the defaults
// of the interface. Device selection and the CUDA runner are in backends.cpp.
#include "runtime/runner.h"

#include <sys/resource.h>

#include <chrono>
#include <stdexcept>

#include "runtime/executor.h"

namespace acnn {

namespace {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

class CpuRunner final : public Runner {
 public:
  CpuRunner(const ir::Graph& g, const RunnerOptions& o) {
    ExecutorOptions e;
    e.backends = o.backends;
    e.seed = o.seed;
    e.profile = true;
    ex_ = std::make_unique<Executor>(g, e);
  }

  std::string device() const override {
    std::string names;
    for (const std::string& b : ex_->node_backends())
      if (!b.empty() && names.find(b) == std::string::npos) names += (names.empty() ? "" : ", ") + b;
    return "cpu (" + (names.empty() ? std::string("reference") : names) + ")";
  }

  std::map<std::string, Tensor> run(const std::map<std::string, Tensor>& feeds, ExecContext& ctx) override {
    return ex_->run(feeds, ctx);
  }
  std::vector<std::string> persistent_names() const override { return ex_->persistent_names(); }
  bool has_persistent(const std::string& name) const override { return ex_->has_persistent(name); }
  Tensor get_persistent(const std::string& name) const override { return ex_->get_persistent(name); }
  void set_persistent(const std::string& name, const Tensor& value) override { ex_->set_persistent(name, value); }

  MemoryReport memory() const override {
    const Plan& p = ex_->plan();
    MemoryReport m;
    m.arena = p.arena_bytes;
    m.persistent = p.persistent_bytes;
    m.dedicated = p.dedicated_bytes;
    m.workspace = p.scratch_bytes;
    m.peak = peak_rss_bytes();
    m.peak_source = "rss";
    return m;
  }
  std::string dump_plan() const override { return ex_->dump_plan(); }
  std::string time_report(int top) const override { return ex_->time_report(top); }

 private:
  std::unique_ptr<Executor> ex_;
};

}  // namespace

void Runner::submit(const std::map<std::string, Tensor>& feeds, ExecContext& ctx) {
  if (pending_.size() >= 2) throw std::logic_error("Runner::submit: two steps are in flight already; call wait() first");
  pending_.push_back(run(feeds, ctx));
}

std::map<std::string, Tensor> Runner::wait() {
  if (pending_.empty()) throw std::logic_error("Runner::wait: no step submitted");
  std::map<std::string, Tensor> r = std::move(pending_.front());
  pending_.pop_front();
  return r;
}

void Runner::start_timer() {
  synchronize();
  timer_start_ = now_seconds();
}

double Runner::stop_timer() {
  synchronize();
  return now_seconds() - timer_start_;
}

std::map<std::string, Tensor> Runner::persistent() const {
  std::map<std::string, Tensor> r;
  for (const std::string& n : persistent_names()) r[n] = get_persistent(n);
  return r;
}

std::unique_ptr<Runner> make_cpu_runner(const ir::Graph& g, const RunnerOptions& opts) {
  return std::make_unique<CpuRunner>(g, opts);
}

size_t peak_rss_bytes() {
  struct rusage ru {};
  if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
  return static_cast<size_t>(ru.ru_maxrss) * 1024;  // Linux reports KiB
}

}  // namespace acnn
