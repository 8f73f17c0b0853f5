// SPDX-License-Identifier: Apache-2.0
// Small string utilities: base64, RFC 3339 time, random identifiers, URL query decoding.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nexus {

std::string base64_encode(std::string_view data);
/// Decodes standard or URL-safe base64, padded or not; nullopt on bad input.
std::optional<std::string> base64_decode(std::string_view text);

/// "2026-11-22T02:03:53.014Z" for a UNIX time in milliseconds.
std::string format_rfc3339_ms(int64_t unix_ms);
/// Parse "2026-01-02T03:04:05[.fff...](Z|+hh:mm|-hh:mm)" to Unix milliseconds.
std::optional<int64_t> parse_rfc3339_ms(std::string_view s);
/// A whole decimal integer (optional leading '-'), nothing else; nullopt otherwise.
std::optional<int64_t> parse_int(std::string_view s);
int64_t unix_now_ms();

/// `n` random lowercase base32 characters (a-z, 2-7) from getrandom(2).
std::string random_base32(size_t n);
/// `n` random bytes as lowercase hex.
std::string random_hex(size_t n_bytes);

/// Percent-decoding ('+' stays '+'); nullopt on a malformed escape.
std::optional<std::string> url_decode(std::string_view s);
/// Split "a=1&b=2" into decoded pairs (later keys win). Malformed escapes are kept raw.
std::map<std::string, std::string> parse_query(std::string_view query);

bool starts_with(std::string_view s, std::string_view prefix);
std::vector<std::string> split(std::string_view s, char sep);
bool iequals(std::string_view a, std::string_view b);
/// `s` without leading and trailing spaces and tabs.
std::string_view trim(std::string_view s);
/// Equality that takes the same time wherever the strings differ (for secrets).
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace nexus
