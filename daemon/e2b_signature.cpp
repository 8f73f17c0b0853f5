// SPDX-License-Identifier: Apache-2.0
// Signed /files URLs.
#include "daemon/e2b_signature.hpp"

#include <openssl/evp.h>

#include <fmt/format.h>

#include "common/result.hpp"
#include "common/strings.hpp"

namespace nexus::daemon::e2b {

std::string file_signature(std::string_view path, std::string_view op, std::string_view user,
                           std::string_view access_token, std::optional<int64_t> expiration) {
  std::string text = fmt::format("{}:{}:{}:{}", path, op, user, access_token);
  if (expiration) text += fmt::format(":{}", *expiration);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  NEXUS_CHECK(EVP_Digest(text.data(), text.size(), md, &len, EVP_sha256(), nullptr) == 1);
  std::string b64 = base64_encode(std::string_view(reinterpret_cast<const char*>(md), len));
  while (!b64.empty() && b64.back() == '=') b64.pop_back();
  return "v1_" + b64;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i)
    diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  return diff == 0;
}

}  // namespace nexus::daemon::e2b
