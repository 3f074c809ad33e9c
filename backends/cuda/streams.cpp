// Spreading a step's kernels over compute streams (streams.h).
#include "backends/cuda/streams.h"

#include <algorithm>

namespace acnn::cuda {

namespace {

bool conflict(const std::vector<MemRange>& a, const std::vector<MemRange>& b) {
  for (const MemRange& x : a)
    for (const MemRange& y : b)
      if (x.block == y.block && (x.write || y.write) && x.begin < y.end && y.begin < x.end) return true;
  return false;
}

// The stream whose last kernel is the oldest (an unused one first), other than `busy`.
int idlest(const std::vector<int>& tail, int busy) {
  int best = -1;
  for (int s = 0; s < static_cast<int>(tail.size()); ++s)
    if (s != busy && (best < 0 || tail[s] < tail[best])) best = s;
  return best < 0 ? busy : best;
}

}  // namespace

int StreamPlan::steps_on(int s) const { return static_cast<int>(std::count(stream.begin(), stream.end(), s)); }

int StreamPlan::cross_waits() const {
  int n = 0;
  for (const std::vector<int>& w : waits) n += static_cast<int>(w.size());
  return n;
}

StreamPlan plan_streams(const std::vector<std::vector<MemRange>>& touches, const std::vector<bool>& launched,
                        int max_streams) {
  const int n = static_cast<int>(touches.size());
  const int k = std::max(1, max_streams);
  StreamPlan p;
  p.stream.assign(n, -1);
  p.waits.assign(n, {});
  p.record.assign(n, false);
  std::vector<int> tail(k, -1);  // each stream's last step
  // known[t][s]: the latest step of stream s known to finish before stream
  // t's last step ends (a vector clock); after[j]: known[stream of j] once j ran.
  std::vector<std::vector<int>> known(k, std::vector<int>(k, -1)), after(n);
  std::vector<int> order;  // launched steps so far
  for (int j = 0; j < n; ++j) {
    if (!launched[j]) continue;
    // The latest conflicting step on each stream.
    std::vector<int> latest(k, -1);
    int found = 0, last = -1;
    for (auto it = order.rbegin(); it != order.rend() && found < k; ++it) {
      const int i = *it, s = p.stream[i];
      if (latest[s] >= 0 || !conflict(touches[i], touches[j])) continue;
      latest[s] = i;
      last = std::max(last, i);
      ++found;
    }
    int t = 0;
    if (last < 0) {
      t = idlest(tail, -1);
    } else {
      const int m = p.stream[last];
      t = tail[m] == last ? m : idlest(tail, m);
    }
    for (int s = 0; s < k; ++s) {
      if (s == t || latest[s] <= known[t][s]) continue;
      p.waits[j].push_back(latest[s]);
      p.record[latest[s]] = true;
      for (int u = 0; u < k; ++u) known[t][u] = std::max(known[t][u], after[latest[s]][u]);
    }
    p.stream[j] = t;
    tail[t] = j;
    known[t][t] = j;
    after[j] = known[t];
    order.push_back(j);
  }
  p.streams = 1;
  for (int s = 0; s < k; ++s)
    if (tail[s] >= 0) p.streams = std::max(p.streams, s + 1);
  return p;
}

bool plan_orders_conflicts(const StreamPlan& p, const std::vector<std::vector<MemRange>>& touches,
                           const std::vector<bool>& launched, std::string* why) {
  const int n = static_cast<int>(touches.size());
  int k = 1;
  for (int s : p.stream) k = std::max(k, s + 1);
  // clock[j][s]: the latest step of stream s that finishes before j starts or is j.
  std::vector<std::vector<int>> clock(n, std::vector<int>(k, -1));
  std::vector<int> prev(k, -1);
  for (int j = 0; j < n; ++j) {
    if (!launched[j]) continue;
    const int t = p.stream[j];
    if (t < 0) {
      if (why) *why = "step " + std::to_string(j) + " has no stream";
      return false;
    }
    if (prev[t] >= 0) clock[j] = clock[prev[t]];
    for (int w : p.waits[j]) {
      if (w >= j || !p.record[w]) {
        if (why) *why = "step " + std::to_string(j) + " waits for step " + std::to_string(w) + ", which records no event before it";
        return false;
      }
      for (int s = 0; s < k; ++s) clock[j][s] = std::max(clock[j][s], clock[w][s]);
    }
    clock[j][t] = j;
    prev[t] = j;
    for (int i = 0; i < j; ++i)
      if (launched[i] && clock[j][p.stream[i]] < i && conflict(touches[i], touches[j])) {
        if (why) *why = "steps " + std::to_string(i) + " and " + std::to_string(j) + " conflict but may overlap";
        return false;
      }
  }
  return true;
}

}  // namespace acnn::cuda
