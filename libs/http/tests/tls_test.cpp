// https:// against a tiny TLS server written with plain OpenSSL, with a self-signed
// certificate made at start: verification on and off, SNI, and a trusted CA file.

#include <atomic>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <thread>

#include <catch2/catch.hpp>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>

#include <lia/http/client.hpp>
#include <lia/testing/testing.hpp>

#include "support.hpp"

using namespace lia::http;
using lia::core::Errc;

namespace {

class TlsServer {
 public:
  TlsServer() {
    key_ = EVP_EC_gen("P-256");
    cert_ = X509_new();
    X509_set_version(cert_, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert_), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert_), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert_), 24L * 3600);
    X509_set_pubkey(cert_, key_);
    X509_NAME* name = X509_get_subject_name(cert_);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
    X509_set_issuer_name(cert_, name);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, cert_, cert_, nullptr, nullptr, 0);
    add_ext(&v3, NID_subject_alt_name, "DNS:localhost");
    add_ext(&v3, NID_basic_constraints, "critical,CA:TRUE");
    X509_sign(cert_, key_, EVP_sha256());

    ctx_ = SSL_CTX_new(TLS_server_method());
    SSL_CTX_use_certificate(ctx_, cert_);
    SSL_CTX_use_PrivateKey(ctx_, key_);
    SSL_CTX_set_tlsext_servername_callback(ctx_, &TlsServer::on_servername);
    SSL_CTX_set_tlsext_servername_arg(ctx_, this);

    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    auto a = lia::http::test::loopback(0);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 16) != 0) {
      throw std::runtime_error("TlsServer: bind/listen failed");
    }
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }

  ~TlsServer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
    SSL_CTX_free(ctx_);
    X509_free(cert_);
    EVP_PKEY_free(key_);
  }

  TlsServer(const TlsServer&) = delete;
  TlsServer& operator=(const TlsServer&) = delete;

  std::uint16_t port() const { return port_; }
  int handshakes() const { return handshakes_.load(); }
  std::string last_sni() {
    std::lock_guard lock(mu_);
    return sni_;
  }

  // Writes the certificate as PEM, to be trusted as a CA.
  std::string write_cert(const std::string& path) const {
    FILE* f = std::fopen(path.c_str(), "w");
    PEM_write_X509(f, cert_);
    std::fclose(f);
    return path;
  }

 private:
  void add_ext(X509V3_CTX* v3, int nid, const char* value) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, v3, nid, value);
    X509_add_ext(cert_, ext, -1);
    X509_EXTENSION_free(ext);
  }

  static int on_servername(SSL* ssl, int*, void* arg) {
    auto* self = static_cast<TlsServer*>(arg);
    const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    std::lock_guard lock(self->mu_);
    self->sni_ = name != nullptr ? name : "";
    return SSL_TLSEXT_ERR_OK;
  }

  void serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      timeval tv{2, 0};
      ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      SSL* ssl = SSL_new(ctx_);
      SSL_set_fd(ssl, c);
      if (SSL_accept(ssl) == 1) {
        ++handshakes_;
        std::string request;
        char buf[4096];
        while (request.find("\r\n\r\n") == std::string::npos) {
          const int n = SSL_read(ssl, buf, sizeof buf);
          if (n <= 0) break;
          request.append(buf, static_cast<std::size_t>(n));
        }
        const std::string body = "secure:" + request.substr(0, request.find(' '));
        const std::string response =
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
            std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
        SSL_write(ssl, response.data(), static_cast<int>(response.size()));
        SSL_shutdown(ssl);
      }
      SSL_free(ssl);
      ::close(c);
    }
  }

  EVP_PKEY* key_ = nullptr;
  X509* cert_ = nullptr;
  SSL_CTX* ctx_ = nullptr;
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> handshakes_{0};
  std::mutex mu_;
  std::string sni_;
  std::thread thread_;
};

}  // namespace

TEST_CASE("https with verification disabled talks to a self-signed server, with SNI") {
  TlsServer tls;
  ClientOptions opts;
  opts.verify_peer = false;
  Client client(opts);
  auto res = client.get("https://localhost:" + std::to_string(tls.port()) + "/status");
  INFO((res.ok() ? std::string() : res.error().describe()));
  REQUIRE(res.ok());
  CHECK(res->status == 200);
  CHECK(res->body == "secure:GET");
  CHECK(tls.last_sni() == "localhost");
}

TEST_CASE("https verifies the peer by default and refuses an untrusted certificate") {
  TlsServer tls;
  Client client;
  auto res = client.get("https://localhost:" + std::to_string(tls.port()) + "/status");
  REQUIRE_FALSE(res.ok());
  CHECK(res.error().code() == Errc::unavailable);
  CHECK_FALSE(res.error().retryable());
  CHECK(res.error().message().find("certificate") != std::string::npos);
}

TEST_CASE("https trusts an extra CA file and checks the host name") {
  TlsServer tls;
  const std::string ca =
      tls.write_cert("/tmp/" + lia::testing::unique_name("lia_http_ca") + ".pem");
  ClientOptions opts;
  opts.ca_file = ca;
  Client client(opts);
  auto ok = client.post("https://localhost:" + std::to_string(tls.port()) + "/send", "{}");
  INFO((ok.ok() ? std::string() : ok.error().describe()));
  REQUIRE(ok.ok());
  CHECK(ok->body == "secure:POST");

  // The certificate names localhost, not 127.0.0.1: the host check must fail.
  auto wrong_host = client.get("https://127.0.0.1:" + std::to_string(tls.port()) + "/status");
  REQUIRE_FALSE(wrong_host.ok());
  CHECK(wrong_host.error().code() == Errc::unavailable);
  CHECK_FALSE(wrong_host.error().retryable());
  std::remove(ca.c_str());
}
