#include "runtime/train/interrupt.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <stdexcept>

namespace acnn::train {

namespace {

std::atomic<int> g_signal{0};    // 0 or the first signal received
std::atomic<bool> g_active{false};
struct sigaction g_old_int, g_old_term;

static_assert(std::atomic<int>::is_always_lock_free, "the signal flag must be lock-free");

void write_str(const char* s) {
  size_t n = 0;
  while (s[n]) ++n;
  ssize_t r = ::write(STDERR_FILENO, s, n);
  (void)r;
}

// Only async-signal-safe calls here: atomics, write, sigaction, sigprocmask, raise.
void on_signal(int signo) {
  int expected = 0;
  if (g_signal.compare_exchange_strong(expected, signo)) {
    write_str(signo == SIGINT ? "\ninterrupt: finishing the step and saving a checkpoint (Ctrl-C again to quit now)\n"
                              : "\nterminate: finishing the step and saving a checkpoint\n");
    return;
  }
  write_str("\nsecond interrupt: exiting now without saving\n");
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  ::sigaction(signo, &dfl, nullptr);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, signo);
  ::sigprocmask(SIG_UNBLOCK, &set, nullptr);
  ::raise(signo);
  ::_exit(128 + signo);  // not reached unless the signal is ignored
}

}  // namespace

InterruptHandler::InterruptHandler() {
  bool expected = false;
  if (!g_active.compare_exchange_strong(expected, true))
    throw std::logic_error("InterruptHandler: another handler is already installed");
  g_signal.store(0);
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  ::sigaction(SIGINT, &sa, &g_old_int);
  ::sigaction(SIGTERM, &sa, &g_old_term);
}

InterruptHandler::~InterruptHandler() {
  ::sigaction(SIGINT, &g_old_int, nullptr);
  ::sigaction(SIGTERM, &g_old_term, nullptr);
  g_active.store(false);
}

bool InterruptHandler::requested() { return g_signal.load(std::memory_order_relaxed) != 0; }
int InterruptHandler::signal_number() { return g_signal.load(std::memory_order_relaxed); }
void InterruptHandler::clear() { g_signal.store(0); }
void InterruptHandler::request(int signo) {
  int expected = 0;
  g_signal.compare_exchange_strong(expected, signo);
}

const char* signal_name(int signo) {
  switch (signo) {
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    case 0: return "none";
  }
  return "signal";
}

}  // namespace acnn::train
