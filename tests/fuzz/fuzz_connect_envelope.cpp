// SPDX-License-Identifier: Apache-2.0
// Fuzz the Connect envelope decoders: EnvelopeReader fed in pieces, and decode_single_envelope.
#include <string>
#include <string_view>

#include "common/connect_envelope.hpp"
#include "tests/fuzz/fuzz.hpp"

namespace cr = nexus::connectrpc;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input = nexus::fuzz::as_view(data, size);
  auto rng = nexus::fuzz::Rng::from_prefix(input);
  static constexpr size_t kLimits[] = {0, 1, 7, 64, 1024, 1 << 20};
  size_t max_payload = kLimits[rng.range(0, std::size(kLimits) - 1)];

  // One request envelope: success means re-encoding gives back exactly the input.
  if (auto single = cr::decode_single_envelope(input, max_payload)) {
    FUZZ_CHECK(single->flags == 0);
    FUZZ_CHECK(single->payload.size() <= max_payload);
    FUZZ_CHECK(cr::encode_envelope(single->flags, single->payload) == input);
  }

  // A stream of envelopes, fed in pieces of 0..(input size) bytes.
  cr::EnvelopeReader reader(max_payload);
  std::string reencoded;
  bool failed = false;
  size_t fed = 0;
  while (fed < input.size() && !failed) {
    size_t n = rng.range(0, std::min<size_t>(input.size() - fed, rng.next() % 2 ? 16 : 4096));
    reader.feed(input.substr(fed, n));
    fed += n;
    for (;;) {
      auto next = reader.next();
      if (!next) {
        failed = true;
        break;
      }
      if (!next->has_value()) break;
      const cr::Envelope& e = **next;
      FUZZ_CHECK((e.flags & ~cr::kEnvelopeEndStream) == 0);
      FUZZ_CHECK(e.payload.size() <= max_payload);
      reencoded += cr::encode_envelope(e.flags, e.payload);
      FUZZ_CHECK(reencoded.size() <= fed);
    }
  }
  if (failed) {
    // The reader stays failed: the same bad envelope is still at the front.
    FUZZ_CHECK(!reader.next());
  } else {
    // Everything decoded is a prefix of the input; finish() succeeds iff it is all of it.
    FUZZ_CHECK(input.substr(0, reencoded.size()) == reencoded);
    FUZZ_CHECK(static_cast<bool>(reader.finish()) == (reencoded.size() == input.size()));
  }
  return 0;
}
