// SPDX-License-Identifier: Apache-2.0
// The one Catch2 main shared by all unit-test executables.
#define CATCH_CONFIG_MAIN
#include <catch.hpp>
