// Includes Catch2 v2 or v3, whichever the build found.
#pragma once
#ifdef ACNN_CATCH3
#include <catch2/catch_all.hpp>
#else
#include <catch2/catch.hpp>
#endif

// ACNN_SKIP(msg): skips the running test (Catch2 v3.3+ SKIP: counted as
// skipped, and a run where everything skipped exits with 4, CTest's
// SKIP_RETURN_CODE); with Catch2 v2, a warning and an early return.
#if defined(ACNN_CATCH3) && defined(SKIP)
#define ACNN_SKIP(msg) SKIP(msg)
#else
#define ACNN_SKIP(msg) \
  do {                 \
    WARN(msg);         \
    return;            \
  } while (0)
#endif
