// SPDX-License-Identifier: Apache-2.0
// Placeholder; implemented with the HTTP module.
#include "common/http.hpp"
