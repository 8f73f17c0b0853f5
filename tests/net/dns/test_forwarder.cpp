// SPDX-License-Identifier: Apache-2.0
// Placeholder while the root test is written.
#include <cstdio>
int main() {
  std::puts("SKIP: not written yet");
  return 77;
}
