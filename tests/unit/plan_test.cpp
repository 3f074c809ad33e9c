// The arena planner: slots whose live ranges overlap never share bytes, and
// reuse keeps the arena well below the sum of the slots.
#include <random>

#include "runtime/plan.h"
#include "tests/catch.h"

using namespace acnn;

TEST_CASE("plan_arena packs live ranges without overlap", "[unit]") {
  std::mt19937 rng(3);
  for (int trial = 0; trial < 20; ++trial) {
    Plan p;
    size_t sum = 0;
    for (int i = 0; i < 200; ++i) {
      Slot s;
      s.home = i % 7 == 0 ? SlotHome::Dedicated : SlotHome::Arena;
      s.bytes = 64 * (1 + rng() % 100);
      s.first = rng() % 100;
      s.last = s.first + rng() % 10;
      if (s.home == SlotHome::Arena) sum += s.bytes;
      p.slots.push_back(s);
    }
    p.plan_arena();
    CHECK(p.arena_bytes < sum / 2);
    for (const Slot& s : p.slots)
      if (s.home == SlotHome::Arena && s.offset + s.bytes > p.arena_bytes) FAIL("a slot ends past the arena");
    for (size_t a = 0; a < p.slots.size(); ++a)
      for (size_t b = a + 1; b < p.slots.size(); ++b) {
        const Slot &x = p.slots[a], &y = p.slots[b];
        if (x.home != SlotHome::Arena || y.home != SlotHome::Arena) continue;
        bool live_together = x.first <= y.last && y.first <= x.last;
        bool share_bytes = x.offset < y.offset + y.bytes && y.offset < x.offset + x.bytes;
        if (live_together && share_bytes) FAIL("slots " << a << " and " << b << " overlap");
      }
  }
}
