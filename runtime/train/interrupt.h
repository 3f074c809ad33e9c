// Graceful stop for the training loop. InterruptHandler installs handlers for
// SIGINT (Ctrl-C) and SIGTERM that only set an atomic flag; the loop polls
// requested() between steps, saves a checkpoint and exits cleanly. A second
// signal while a stop is pending (the user pressing Ctrl-C again) does not
// wait: the handler writes one line to stderr and the process dies of that
// signal (default action, so a shell sees "killed by SIGINT"). The handlers
// use SA_RESTART so that blocking I/O is not cut short by the first signal.
// Only one InterruptHandler may exist at a time; its destructor restores the
// previous handlers. The flag is process-wide.
#pragma once

namespace acnn::train {

class InterruptHandler {
 public:
  InterruptHandler();   // installs; throws std::logic_error if one is active
  ~InterruptHandler();  // restores the previous dispositions
  InterruptHandler(const InterruptHandler&) = delete;
  InterruptHandler& operator=(const InterruptHandler&) = delete;

  // True once SIGINT or SIGTERM arrived (and clear() was not called since).
  static bool requested();
  // The signal that asked to stop (SIGINT, SIGTERM), 0 if none.
  static int signal_number();
  // Forgets a pending request (a second signal then counts as the first).
  static void clear();
  // Sets the flag as a signal would (tests, or a loop stopping itself).
  static void request(int signo);
};

// "SIGINT", "SIGTERM", "none" (0) or "signal", for messages such as
// "interrupted (SIGINT): checkpoint saved to runs/x/last.safetensors".
const char* signal_name(int signo);

}  // namespace acnn::train
