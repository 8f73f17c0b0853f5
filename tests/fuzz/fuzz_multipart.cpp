// SPDX-License-Identifier: Apache-2.0
// Fuzz the agent's streaming multipart/form-data parser, fed whole and in pieces.
//
// Input: the first line is a Content-Type ("multipart/form-data; boundary=X") or a bare
// boundary; the rest is the body.
#include <string>
#include <string_view>
#include <vector>

#include "guest-agent/multipart.hpp"
#include "tests/fuzz/fuzz.hpp"

namespace agent = nexus::agent;

namespace {

struct Outcome {
  std::vector<std::string> events;  ///< "begin name|filename|type", "data <bytes>", "end"
  bool ok = false;
  size_t parts = 0;
};

/// Parse `body`, split into pieces by `rng` (one piece when rng is null).
Outcome parse(const std::string& boundary, std::string_view body, size_t max_header_bytes,
              size_t max_parts, nexus::fuzz::Rng* rng) {
  Outcome out;
  bool in_part = false;
  agent::MultipartParser::Callbacks cb;
  cb.on_part_begin = [&](const agent::PartInfo& info) -> nexus::Result<void> {
    FUZZ_CHECK(!in_part);
    FUZZ_CHECK(info.has_filename || info.filename.empty());
    in_part = true;
    out.events.push_back("begin " + info.name + "|" + info.filename + "|" + info.content_type);
    // A handler refusing a part (as the files service does for bad paths).
    if (info.name == "reject") return nexus::fail(nexus::Errc::invalid_argument, "rejected");
    return {};
  };
  cb.on_part_data = [&](std::string_view d) -> nexus::Result<void> {
    FUZZ_CHECK(in_part);
    FUZZ_CHECK(!d.empty());
    if (out.events.empty() || out.events.back().rfind("data ", 0) != 0)
      out.events.emplace_back("data ");
    out.events.back().append(d);
    return {};
  };
  cb.on_part_end = [&]() -> nexus::Result<void> {
    FUZZ_CHECK(in_part);
    in_part = false;
    out.events.emplace_back("end");
    return {};
  };
  agent::MultipartParser parser(boundary, std::move(cb), max_header_bytes, max_parts);
  bool ok = true;
  if (rng == nullptr) {
    ok = static_cast<bool>(parser.feed(body));
  } else {
    size_t fed = 0;
    while (ok && fed < body.size()) {
      size_t n = rng->range(0, std::min<size_t>(body.size() - fed, rng->next() % 2 ? 8 : 512));
      ok = static_cast<bool>(parser.feed(body.substr(fed, n)));
      fed += n;
    }
  }
  if (!ok) FUZZ_CHECK(!parser.feed("more"));  // a failed parser stays failed
  auto fin = parser.finish();
  out.ok = ok && static_cast<bool>(fin);
  out.parts = parser.part_count();
  FUZZ_CHECK(out.parts <= max_parts + 1);
  if (out.ok) FUZZ_CHECK(!in_part);
  return out;
}

/// The boundary: from a multipart/form-data Content-Type, else the line itself if it can be one.
std::string boundary_of(std::string_view first) {
  if (auto b = agent::multipart_boundary(first)) {
    FUZZ_CHECK(!b->empty() && b->size() <= 70);
    return std::move(*b);
  }
  if (!first.empty() && first.size() <= 70) return std::string(first);
  return std::string(1, 'b');
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input = nexus::fuzz::as_view(data, size);
  size_t nl = input.find('\n');
  std::string_view first = input.substr(0, nl);
  if (!first.empty() && first.back() == '\r') first.remove_suffix(1);
  std::string_view body = nl == std::string_view::npos ? std::string_view() : input.substr(nl + 1);

  (void)agent::parse_content_disposition(first);
  std::string boundary = boundary_of(first);

  auto rng = nexus::fuzz::Rng::from_prefix(body);
  size_t max_header_bytes = rng.next() % 4 == 0 ? 32 : agent::MultipartParser::kDefaultMaxHeaderBytes;
  size_t max_parts = rng.next() % 4 == 0 ? 2 : agent::MultipartParser::kDefaultMaxParts;

  Outcome whole = parse(boundary, body, max_header_bytes, max_parts, nullptr);
  Outcome pieces = parse(boundary, body, max_header_bytes, max_parts, &rng);
  // How the body is split must not change what is parsed.
  FUZZ_CHECK(whole.ok == pieces.ok);
  FUZZ_CHECK(whole.events == pieces.events);
  FUZZ_CHECK(whole.parts == pieces.parts);
  return 0;
}
