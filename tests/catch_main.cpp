// The precompiled Catch2 v2 main (v3 brings its own).
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
