// SPDX-License-Identifier: Apache-2.0
// API keys and principals.
#include "daemon/auth.hpp"

#include <openssl/evp.h>
#include <pwd.h>

#include <fmt/format.h>

#include "common/log.hpp"
#include "common/strings.hpp"

namespace nexus::daemon {
namespace {

constexpr const char* kLog = "daemon.auth";
constexpr size_t kSecretBytes = 20;   // 160 bits of randomness
constexpr size_t kMaxSecretLen = 256;  // anything longer is not one of ours
constexpr size_t kPrefixLen = 8;      // "e2b_" + 4 hex digits, safe to show

std::string hex(const unsigned char* p, size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(kHex[p[i] >> 4]);
    out.push_back(kHex[p[i] & 15]);
  }
  return out;
}

std::string sha256(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  NEXUS_CHECK(EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) == 1);
  return std::string(reinterpret_cast<const char*>(md), len);
}

std::string sha256_hex(std::string_view data) {
  std::string md = sha256(data);
  return hex(reinterpret_cast<const unsigned char*>(md.data()), md.size());
}

}  // namespace

bool valid_user_name(std::string_view name) {
  if (name.empty() || name.size() > 32) return false;
  auto c0 = static_cast<unsigned char>(name[0]);
  if (!(islower(c0) || c0 == '_')) return false;
  for (char ch : name) {
    auto c = static_cast<unsigned char>(ch);
    if (!(islower(c) || isdigit(c) || c == '_' || c == '.' || c == '-')) return false;
  }
  return true;
}

Principal principal_for_uid(uint32_t uid) {
  if (uid == 0) return Principal{"root", true};
  passwd pw{};
  passwd* res = nullptr;
  char buf[4096];
  if (getpwuid_r(uid, &pw, buf, sizeof buf, &res) == 0 && res) return Principal{res->pw_name, false};
  return Principal{fmt::format("uid-{}", uid), false};
}

std::string traffic_token_for(std::string_view access_token) {
  if (access_token.empty()) return {};
  static constexpr std::string_view kLabel = "nexus traffic access token v1";
  unsigned char mac[EVP_MAX_MD_SIZE];
  size_t len = 0;
  NEXUS_CHECK(EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, access_token.data(), access_token.size(),
                        reinterpret_cast<const unsigned char*>(kLabel.data()), kLabel.size(), mac, sizeof mac,
                        &len) != nullptr);
  return hex(mac, std::min<size_t>(len, 16));  // 128 bits, like the access token
}

std::string file_signature(std::string_view path, std::string_view op, std::string_view user,
                           std::string_view access_token, std::optional<int64_t> expiration) {
  std::string text = fmt::format("{}:{}:{}:{}", path, op, user, access_token);
  if (expiration) text += fmt::format(":{}", *expiration);
  std::string b64 = base64_encode(sha256(text));
  while (!b64.empty() && b64.back() == '=') b64.pop_back();
  return "v1_" + b64;
}

bool can_access(const Principal& p, const SandboxRecord& r) { return p.admin || r.owner == p.user; }

Result<KeyService::NewKey> KeyService::create(const std::string& user, bool admin, const std::string& name) {
  if (!valid_user_name(user))
    return fail(Errc::invalid_argument,
                fmt::format("invalid user name '{}': use up to 32 of a-z 0-9 _ . - starting with a letter or _", user));
  if (name.size() > 128 || name.find_first_of(std::string_view("\0\n\r", 3)) != std::string::npos)
    return fail(Errc::invalid_argument, "key name must be at most 128 characters on one line");
  NewKey k;
  k.secret = "e2b_" + random_hex(kSecretBytes);
  k.record.id = "key_" + random_base32(12);
  k.record.user = user;
  k.record.name = name;
  k.record.admin = admin;
  k.record.hash = sha256_hex(k.secret);
  k.record.prefix = k.secret.substr(0, kPrefixLen);
  k.record.created_at_ms = unix_now_ms();
  NEXUS_TRY(store_.insert_key(k.record));
  log::info(kLog, "created API key {} for user {}{}", k.record.id, user, admin ? " (admin)" : "");
  return k;
}

Result<Principal> KeyService::verify(std::string_view secret) {
  if (secret.empty() || secret.size() > kMaxSecretLen) return fail(Errc::unauthenticated, "Invalid API key");
  auto k = store_.find_key_by_hash(sha256_hex(secret));
  if (!k) return fail(k.error());
  if (!*k || (*k)->revoked_at_ms != 0) return fail(Errc::unauthenticated, "Invalid API key");
  int64_t now = unix_now_ms();
  if (now - (*k)->last_used_at_ms > 60 * 1000) {  // bounded write rate
    if (auto r = store_.touch_key((*k)->id, now); !r) log::warning(kLog, "{}", r.error().message());
  }
  return Principal{(*k)->user, (*k)->admin};
}

Result<ApiKeyRecord> KeyService::revoke(const std::string& id) {
  auto k = store_.revoke_key(id, unix_now_ms());
  if (k) log::info(kLog, "revoked API key {}", id);
  return k;
}

}  // namespace nexus::daemon
