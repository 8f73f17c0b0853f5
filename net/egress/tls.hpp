// SPDX-License-Identifier: Apache-2.0
// TLS for credential injection: the gateway's CA (created once in a state directory, reused
// across restarts), leaf certificates per host made on demand, the verifying client context
// for the upstream side, and TlsPipe, one TLS session driven through memory buffers so the
// gateway's event loop owns all socket I/O.
#pragma once

#include <openssl/ssl.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace nexus::net::egress {

struct SslCtxFree {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;

/// The gateway CA. Thread-safe.
class CertAuthority {
 public:
  /// Loads `dir`/ca.key and `dir`/ca.crt, or creates them (EC P-256, 10 years; the key file
  /// 0600) when neither exists. One without the other, or files that do not load, are errors.
  static Result<std::unique_ptr<CertAuthority>> load_or_create(const std::string& dir);
  ~CertAuthority();
  /// The CA certificate (PEM), to install in a sandbox's trust store.
  const std::string& certificate_pem() const { return cert_pem_; }
  /// A server context presenting a leaf for `host` (SAN DNS:host), cached per host.
  Result<SSL_CTX*> server_context(const std::string& host);

 private:
  CertAuthority() = default;
  struct Keys;
  std::unique_ptr<Keys> keys_;
  std::string cert_pem_;
  std::mutex mu_;
  std::map<std::string, SslCtxPtr> leaves_;
};

/// The upstream client context: verifies the server against the system trust store, or only
/// `ca_file` when given (tests); TLS 1.2 at least; ALPN http/1.1.
Result<SslCtxPtr> make_client_context(const std::string& ca_file);

/// One TLS session over memory buffers. feed() what came from the network, take what
/// should go to it from take_output(), read and write plaintext.
class TlsPipe {
 public:
  /// Server side with `ctx`, or client side verifying `host` (SNI and certificate name).
  static Result<std::unique_ptr<TlsPipe>> server(SSL_CTX* ctx);
  static Result<std::unique_ptr<TlsPipe>> client(SSL_CTX* ctx, const std::string& host);
  ~TlsPipe();
  TlsPipe(const TlsPipe&) = delete;
  TlsPipe& operator=(const TlsPipe&) = delete;

  /// Ciphertext from the network. Then call pump().
  void feed(std::string_view cipher);
  /// Plaintext to send (buffered until the handshake is done). Then call pump().
  void write(std::string_view plain);
  /// Advances the handshake, encrypts what was written, decrypts into `plain_out`. An error
  /// (Errc::protocol, with OpenSSL's reason, e.g. a certificate that does not verify) ends
  /// the session.
  Result<void> pump(std::string& plain_out);
  /// Ciphertext to send to the network.
  std::string take_output();
  bool handshake_done() const { return done_; }
  /// The peer sent close_notify.
  bool peer_closed() const { return peer_closed_; }
  /// Send close_notify (then take_output()).
  void shutdown();

 private:
  TlsPipe() = default;
  SSL* ssl_ = nullptr;
  BIO* in_ = nullptr;   // network -> SSL
  BIO* out_ = nullptr;  // SSL -> network
  std::string pending_;
  bool done_ = false;
  bool peer_closed_ = false;
};

}  // namespace nexus::net::egress
