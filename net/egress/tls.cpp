// SPDX-License-Identifier: Apache-2.0
#include "net/egress/tls.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace nexus::net::egress {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;

std::string ssl_errors() {
  std::string out;
  unsigned long e;
  while ((e = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

PkeyPtr new_key() { return PkeyPtr(EVP_EC_gen("P-256")); }

bool add_ext(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (!ext) return false;
  bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

void random_serial(X509* cert) {
  unsigned char buf[16];
  RAND_bytes(buf, sizeof(buf));
  buf[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(buf, sizeof(buf), nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert));
  BN_free(bn);
}

Result<std::string> read_text(const std::string& path) {
  std::ifstream in(path);
  if (!in) return fail_errno(fmt::format("reading '{}'", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Result<void> write_private(const std::string& path, const std::string& data, mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return fail_errno(fmt::format("creating '{}'", path));
  ssize_t n = ::write(fd, data.data(), data.size());
  bool ok = n == static_cast<ssize_t>(data.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) return fail(Errc::internal, fmt::format("writing '{}' failed", path));
  return {};
}

std::string bio_string(BIO* b) {
  char* data = nullptr;
  long n = BIO_get_mem_data(b, &data);
  return std::string(data, static_cast<size_t>(n));
}

int alpn_select(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned int inlen,
                void*) {
  // Only HTTP/1.1 is parsed for injection; a client offering h2 alone gets no ALPN (and
  // falls back to HTTP/1.1 or fails).
  static const unsigned char h11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  unsigned char* sel = nullptr;
  if (SSL_select_next_proto(&sel, outlen, h11, sizeof(h11), in, inlen) == OPENSSL_NPN_NEGOTIATED) {
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

}  // namespace

struct CertAuthority::Keys {
  PkeyPtr key;
  X509Ptr cert;
};

CertAuthority::~CertAuthority() = default;

Result<std::unique_ptr<CertAuthority>> CertAuthority::load_or_create(const std::string& dir) {
  const std::string key_path = dir + "/ca.key", cert_path = dir + "/ca.crt";
  struct stat st {};
  bool have_key = ::stat(key_path.c_str(), &st) == 0, have_cert = ::stat(cert_path.c_str(), &st) == 0;
  auto ca = std::unique_ptr<CertAuthority>(new CertAuthority());
  ca->keys_ = std::make_unique<Keys>();
  if (have_key != have_cert)
    return fail(Errc::conflict, fmt::format("gateway CA: '{}' exists without '{}'", have_key ? key_path : cert_path,
                                            have_key ? cert_path : key_path));
  if (!have_key) {
    // Parents too (/var/lib/nexus/egress on a fresh host); the CA's own directory is 0700.
    for (size_t pos = dir.find('/', 1); pos != std::string::npos; pos = dir.find('/', pos + 1))
      (void)::mkdir(dir.substr(0, pos).c_str(), 0755);  // existing parents are fine
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return fail_errno(fmt::format("creating '{}'", dir));
    PkeyPtr key = new_key();
    X509Ptr cert(X509_new());
    if (!key || !cert) return fail(Errc::internal, "gateway CA: " + ssl_errors());
    X509_set_version(cert.get(), 2);
    random_serial(cert.get());
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 10L * 365 * 24 * 3600);
    X509_set_pubkey(cert.get(), key.get());
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("Nexus"), -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("Nexus egress gateway CA"), -1, -1, 0);
    X509_set_issuer_name(cert.get(), name);
    if (!add_ext(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
        !add_ext(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign") ||
        !add_ext(cert.get(), cert.get(), NID_subject_key_identifier, "hash") ||
        X509_sign(cert.get(), key.get(), EVP_sha256()) == 0)
      return fail(Errc::internal, "gateway CA: " + ssl_errors());
    BIO* kb = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(kb, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
    std::string key_pem = bio_string(kb);
    BIO_free(kb);
    BIO* cb = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(cb, cert.get());
    std::string cert_pem = bio_string(cb);
    BIO_free(cb);
    NEXUS_TRY(write_private(key_path, key_pem, 0600));
    NEXUS_TRY(write_private(cert_path, cert_pem, 0644));
  }
  auto key_pem = read_text(key_path);
  if (!key_pem) return fail(key_pem.error());
  auto cert_pem = read_text(cert_path);
  if (!cert_pem) return fail(cert_pem.error());
  BIO* kb = BIO_new_mem_buf(key_pem->data(), static_cast<int>(key_pem->size()));
  ca->keys_->key.reset(PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr));
  BIO_free(kb);
  BIO* cb = BIO_new_mem_buf(cert_pem->data(), static_cast<int>(cert_pem->size()));
  ca->keys_->cert.reset(PEM_read_bio_X509(cb, nullptr, nullptr, nullptr));
  BIO_free(cb);
  if (!ca->keys_->key || !ca->keys_->cert)
    return fail(Errc::invalid_argument, fmt::format("gateway CA in '{}' does not load: {}", dir, ssl_errors()));
  if (X509_check_private_key(ca->keys_->cert.get(), ca->keys_->key.get()) != 1)
    return fail(Errc::invalid_argument, fmt::format("gateway CA in '{}': ca.key does not belong to ca.crt", dir));
  ca->cert_pem_ = std::move(*cert_pem);
  return ca;
}

Result<SSL_CTX*> CertAuthority::server_context(const std::string& host) {
  std::lock_guard lock(mu_);
  if (auto it = leaves_.find(host); it != leaves_.end()) return it->second.get();
  if (leaves_.size() > 4096) leaves_.clear();  // bounded: hosts with rules are few in practice
  PkeyPtr key = new_key();
  X509Ptr cert(X509_new());
  if (!key || !cert) return fail(Errc::internal, "leaf certificate: " + ssl_errors());
  X509_set_version(cert.get(), 2);
  random_serial(cert.get());
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 90L * 24 * 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(host.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), X509_get_subject_name(keys_->cert.get()));
  const std::string san = "DNS:" + host;
  if (!add_ext(cert.get(), keys_->cert.get(), NID_subject_alt_name, san.c_str()) ||
      !add_ext(cert.get(), keys_->cert.get(), NID_basic_constraints, "critical,CA:FALSE") ||
      !add_ext(cert.get(), keys_->cert.get(), NID_key_usage, "critical,digitalSignature") ||
      !add_ext(cert.get(), keys_->cert.get(), NID_ext_key_usage, "serverAuth") ||
      !add_ext(cert.get(), keys_->cert.get(), NID_authority_key_identifier, "keyid:always") ||
      X509_sign(cert.get(), keys_->key.get(), EVP_sha256()) == 0)
    return fail(Errc::internal, fmt::format("leaf certificate for '{}': {}", host, ssl_errors()));
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx || SSL_CTX_use_certificate(ctx.get(), cert.get()) != 1 ||
      SSL_CTX_use_PrivateKey(ctx.get(), key.get()) != 1 || SSL_CTX_add1_chain_cert(ctx.get(), keys_->cert.get()) != 1)
    return fail(Errc::internal, fmt::format("leaf context for '{}': {}", host, ssl_errors()));
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_alpn_select_cb(ctx.get(), alpn_select, nullptr);
  SSL_CTX* raw = ctx.get();
  leaves_[host] = std::move(ctx);
  return raw;
}

Result<SslCtxPtr> make_client_context(const std::string& ca_file) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) return fail(Errc::internal, "upstream TLS context: " + ssl_errors());
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  int ok = ca_file.empty() ? SSL_CTX_set_default_verify_paths(ctx.get())
                           : SSL_CTX_load_verify_locations(ctx.get(), ca_file.c_str(), nullptr);
  if (ok != 1) return fail(Errc::invalid_argument, fmt::format("upstream trust store '{}': {}", ca_file, ssl_errors()));
  static const unsigned char h11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  SSL_CTX_set_alpn_protos(ctx.get(), h11, sizeof(h11));
  return ctx;
}

Result<std::unique_ptr<TlsPipe>> TlsPipe::server(SSL_CTX* ctx) {
  auto p = std::unique_ptr<TlsPipe>(new TlsPipe());
  p->ssl_ = SSL_new(ctx);
  if (!p->ssl_) return fail(Errc::internal, "TLS session: " + ssl_errors());
  p->in_ = BIO_new(BIO_s_mem());
  p->out_ = BIO_new(BIO_s_mem());
  SSL_set_bio(p->ssl_, p->in_, p->out_);
  SSL_set_accept_state(p->ssl_);
  return p;
}

Result<std::unique_ptr<TlsPipe>> TlsPipe::client(SSL_CTX* ctx, const std::string& host) {
  auto p = std::unique_ptr<TlsPipe>(new TlsPipe());
  p->ssl_ = SSL_new(ctx);
  if (!p->ssl_) return fail(Errc::internal, "TLS session: " + ssl_errors());
  p->in_ = BIO_new(BIO_s_mem());
  p->out_ = BIO_new(BIO_s_mem());
  SSL_set_bio(p->ssl_, p->in_, p->out_);
  SSL_set_tlsext_host_name(p->ssl_, host.c_str());
  if (SSL_set1_host(p->ssl_, host.c_str()) != 1) return fail(Errc::internal, "TLS session: " + ssl_errors());
  SSL_set_hostflags(p->ssl_, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  SSL_set_connect_state(p->ssl_);
  return p;
}

TlsPipe::~TlsPipe() {
  if (ssl_) SSL_free(ssl_);  // frees both BIOs
}

void TlsPipe::feed(std::string_view cipher) {
  if (!cipher.empty()) BIO_write(in_, cipher.data(), static_cast<int>(cipher.size()));
}

void TlsPipe::write(std::string_view plain) { pending_.append(plain); }

Result<void> TlsPipe::pump(std::string& plain_out) {
  ERR_clear_error();
  if (!done_) {
    int rc = SSL_do_handshake(ssl_);
    if (rc == 1) {
      done_ = true;
    } else {
      int err = SSL_get_error(ssl_, rc);
      if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
        long vr = SSL_get_verify_result(ssl_);
        if (vr != X509_V_OK)
          return fail(Errc::protocol, fmt::format("TLS handshake: certificate verification failed: {}",
                                                  X509_verify_cert_error_string(vr)));
        return fail(Errc::protocol, "TLS handshake: " + ssl_errors());
      }
      return {};
    }
  }
  while (!pending_.empty()) {
    size_t written = 0;
    int rc = SSL_write_ex(ssl_, pending_.data(), pending_.size(), &written);
    if (rc != 1) return fail(Errc::protocol, "TLS write: " + ssl_errors());
    pending_.erase(0, written);
  }
  char buf[16384];
  while (true) {
    size_t n = 0;
    int rc = SSL_read_ex(ssl_, buf, sizeof(buf), &n);
    if (rc == 1) {
      plain_out.append(buf, n);
      continue;
    }
    int err = SSL_get_error(ssl_, 0);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) break;
    if (err == SSL_ERROR_ZERO_RETURN) {
      peer_closed_ = true;
      break;
    }
    return fail(Errc::protocol, "TLS read: " + ssl_errors());
  }
  return {};
}

std::string TlsPipe::take_output() {
  std::string out;
  char buf[16384];
  int n;
  while ((n = BIO_read(out_, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

void TlsPipe::shutdown() {
  if (done_) (void)SSL_shutdown(ssl_);  // one-way close_notify; the socket closes after
}

}  // namespace nexus::net::egress
