// SPDX-License-Identifier: Apache-2.0
#include "rootfs/oci/digest.hpp"

#include <openssl/evp.h>

#include <fmt/format.h>

namespace nexus::oci {

Result<Digest> parse_digest(std::string_view text) {
  auto colon = text.find(':');
  if (colon == std::string_view::npos)
    return fail(Errc::invalid_argument, fmt::format("digest '{}' has no algorithm prefix (want sha256:<hex>)", text));
  auto algo = text.substr(0, colon);
  auto hex = text.substr(colon + 1);
  if (algo != "sha256")
    return fail(Errc::invalid_argument, fmt::format("digest algorithm '{}' is not supported (only sha256)", algo));
  if (hex.size() != 64)
    return fail(Errc::invalid_argument, fmt::format("sha256 digest has {} hex characters, want 64", hex.size()));
  for (char c : hex) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
      return fail(Errc::invalid_argument, "sha256 digest must be lowercase hex");
  }
  return Digest(std::string(hex));
}

struct Sha256::Ctx {
  EVP_MD_CTX* md = nullptr;
  ~Ctx() { EVP_MD_CTX_free(md); }
};

Sha256::Sha256() : ctx_(std::make_unique<Ctx>()) {
  ctx_->md = EVP_MD_CTX_new();
  NEXUS_CHECK(ctx_->md != nullptr && EVP_DigestInit_ex(ctx_->md, EVP_sha256(), nullptr) == 1);
}

Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

void Sha256::update(std::string_view data) { NEXUS_CHECK(EVP_DigestUpdate(ctx_->md, data.data(), data.size()) == 1); }

Digest Sha256::finish() {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  NEXUS_CHECK(EVP_DigestFinal_ex(ctx_->md, out, &len) == 1 && len == 32);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(64);
  for (unsigned i = 0; i < len; ++i) {
    hex.push_back(kHex[out[i] >> 4]);
    hex.push_back(kHex[out[i] & 15]);
  }
  return Digest(std::move(hex));
}

Digest sha256_of(std::string_view data) {
  Sha256 h;
  h.update(data);
  return h.finish();
}

}  // namespace nexus::oci
