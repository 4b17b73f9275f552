#include "cli/tls_certs.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <memory>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace berth::cli {
namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct BnFree {
  void operator()(BIGNUM* b) const { BN_free(b); }
};
struct ExtFree {
  void operator()(X509_EXTENSION* e) const { X509_EXTENSION_free(e); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;

constexpr const char* kOrganization = "berth development";

Error OpensslError(const std::string& what) {
  std::string msg = what;
  char buf[256];
  for (unsigned long e = ERR_get_error(); e != 0; e = ERR_get_error()) {
    ERR_error_string_n(e, buf, sizeof buf);
    msg += ": ";
    msg += buf;
  }
  return MakeError(Errc::kInvalidArgument, msg);
}

Result<PkeyPtr> NewKey() {
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) {
    return OpensslError("generating an EC P-256 key");
  }
  return key;
}

// Adds one X.509v3 extension in OpenSSL's config syntax (e.g. "critical,CA:TRUE").
Status AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  std::unique_ptr<X509_EXTENSION, ExtFree> ext(
      X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) {
    return OpensslError(std::string("certificate extension ") + OBJ_nid2sn(nid) + "=" + value);
  }
  return Ok{};
}

struct CertSpec {
  std::string common_name;
  int days = 365;
  bool ca = false;
  std::string extended_key_usage;  // e.g. "serverAuth"; empty for a CA
  std::string subject_alt_names;   // e.g. "DNS:localhost,IP:127.0.0.1"; may be empty
};

// A certificate for `key` issued by (`issuer`, `issuer_key`), or self-signed when `issuer` is
// null.
Result<X509Ptr> IssueCertificate(const CertSpec& spec, EVP_PKEY* key, X509* issuer,
                                 EVP_PKEY* issuer_key) {
  X509Ptr cert(X509_new());
  std::unique_ptr<BIGNUM, BnFree> serial(BN_new());
  if (!cert || !serial || X509_set_version(cert.get(), X509_VERSION_3) != 1 ||
      BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
      BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) == nullptr ||
      X509_gmtime_adj(X509_getm_notBefore(cert.get()), -300) == nullptr ||
      X509_time_adj_ex(X509_getm_notAfter(cert.get()), spec.days, 0, nullptr) == nullptr ||
      X509_set_pubkey(cert.get(), key) != 1) {
    return OpensslError("building a certificate");
  }
  X509_NAME* name = X509_get_subject_name(cert.get());
  auto add = [name](const char* field, const std::string& value) {
    return X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
                                      reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1,
                                      0) == 1;
  };
  if (!add("O", kOrganization) || !add("CN", spec.common_name)) {
    return OpensslError("certificate subject");
  }
  X509* signer = issuer != nullptr ? issuer : cert.get();
  if (X509_set_issuer_name(cert.get(), X509_get_subject_name(signer)) != 1) {
    return OpensslError("certificate issuer");
  }
  if (spec.ca) {
    BERTH_TRY(
        AddExtension(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE,pathlen:0"));
    BERTH_TRY(AddExtension(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign"));
  } else {
    BERTH_TRY(AddExtension(cert.get(), signer, NID_basic_constraints, "critical,CA:FALSE"));
    BERTH_TRY(AddExtension(cert.get(), signer, NID_key_usage, "critical,digitalSignature"));
    BERTH_TRY(AddExtension(cert.get(), signer, NID_ext_key_usage, spec.extended_key_usage));
  }
  BERTH_TRY(AddExtension(cert.get(), signer, NID_subject_key_identifier, "hash"));
  BERTH_TRY(AddExtension(cert.get(), signer, NID_authority_key_identifier, "keyid:always"));
  if (!spec.subject_alt_names.empty()) {
    BERTH_TRY(AddExtension(cert.get(), signer, NID_subject_alt_name, spec.subject_alt_names));
  }
  if (X509_sign(cert.get(), issuer_key != nullptr ? issuer_key : key, EVP_sha256()) <= 0) {
    return OpensslError("signing the certificate");
  }
  return cert;
}

// Writes `data` to `path` with `mode`, atomically.
Status WriteFileAtomically(const std::string& path, const std::string& data, mode_t mode) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) {
    return MakeError(Errc::kUnavailable, "cannot write " + tmp);
  }
  bool ok = ::fchmod(fd, mode) == 0 &&
            ::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()) &&
            ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return MakeError(Errc::kUnavailable, "cannot write " + path);
  }
  return Ok{};
}

std::string BioText(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(n));
}

Status WriteCertificate(const std::string& path, X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) {
    return OpensslError("encoding " + path);
  }
  return WriteFileAtomically(path, BioText(bio.get()), 0644);
}

Status WriteKey(const std::string& path, EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return OpensslError("encoding " + path);
  }
  std::string text = BioText(bio.get());
  Status s = WriteFileAtomically(path, text, 0600);
  std::fill(text.begin(), text.end(), '\0');
  return s;
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

struct Ca {
  X509Ptr cert;
  PkeyPtr key;
};

Result<Ca> LoadCa(const std::string& dir) {
  std::string cert_path = dir + "/ca.pem";
  std::string key_path = dir + "/ca-key.pem";
  BioPtr cb(BIO_new_file(cert_path.c_str(), "r"));
  BioPtr kb(BIO_new_file(key_path.c_str(), "r"));
  if (!cb || !kb) {
    return OpensslError("cannot read " + cert_path + " and " + key_path);
  }
  Ca ca;
  ca.cert.reset(PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr));
  ca.key.reset(PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr));
  if (!ca.cert || !ca.key) {
    return OpensslError("cannot load the CA from " + dir);
  }
  if (X509_check_private_key(ca.cert.get(), ca.key.get()) != 1) {
    return OpensslError(key_path + " does not match " + cert_path);
  }
  return ca;
}

Status CheckDays(int days) {
  if (days < 1 || days > 3650) {
    return MakeError(Errc::kInvalidArgument, "--days must be between 1 and 3650");
  }
  return Ok{};
}

}  // namespace

Status WriteSelfSigned(const SelfSignedOptions& o) {
  if (o.hosts.empty()) {
    return MakeError(Errc::kInvalidArgument, "at least one --host is needed");
  }
  BERTH_TRY(CheckDays(o.days));
  std::string sans;
  for (const auto& h : o.hosts) {
    if (h.empty() || h.find_first_of(", \t") != std::string::npos) {
      return MakeError(Errc::kInvalidArgument, "invalid host '" + h + "'");
    }
    unsigned char addr[16];
    bool ip =
        ::inet_pton(AF_INET, h.c_str(), addr) == 1 || ::inet_pton(AF_INET6, h.c_str(), addr) == 1;
    // (Appended piecewise: GCC 12 warns falsely (-Wrestrict) on "literal" + std::string.)
    if (!sans.empty()) {
      sans += ',';
    }
    sans += ip ? "IP:" : "DNS:";
    sans += h;
  }
  ::mkdir(o.out_dir.c_str(), 0755);
  ERR_clear_error();
  Ca ca;
  if (Exists(o.out_dir + "/ca.pem") || Exists(o.out_dir + "/ca-key.pem")) {
    BERTH_ASSIGN_OR_RETURN(ca, LoadCa(o.out_dir));
    std::printf("using the existing CA in %s\n", o.out_dir.c_str());
  } else {
    BERTH_ASSIGN_OR_RETURN(ca.key, NewKey());
    CertSpec spec;
    spec.common_name = "berth development CA";
    spec.days = o.days * 10 > 3650 ? 3650 : o.days * 10;
    spec.ca = true;
    BERTH_ASSIGN_OR_RETURN(ca.cert, IssueCertificate(spec, ca.key.get(), nullptr, nullptr));
    BERTH_TRY(WriteKey(o.out_dir + "/ca-key.pem", ca.key.get()));
    BERTH_TRY(WriteCertificate(o.out_dir + "/ca.pem", ca.cert.get()));
    std::printf("wrote %s/ca.pem and %s/ca-key.pem (development CA)\n", o.out_dir.c_str(),
                o.out_dir.c_str());
  }
  BERTH_ASSIGN_OR_RETURN(PkeyPtr key, NewKey());
  CertSpec spec;
  spec.common_name = o.hosts.front();
  spec.days = o.days;
  spec.extended_key_usage = "serverAuth";
  spec.subject_alt_names = sans;
  BERTH_ASSIGN_OR_RETURN(X509Ptr cert,
                         IssueCertificate(spec, key.get(), ca.cert.get(), ca.key.get()));
  // Key first: a reload that sees the new certificate must find its key.
  BERTH_TRY(WriteKey(o.out_dir + "/server-key.pem", key.get()));
  BERTH_TRY(WriteCertificate(o.out_dir + "/server.pem", cert.get()));
  std::printf("wrote %s/server.pem and %s/server-key.pem (%s, %d days)\n", o.out_dir.c_str(),
              o.out_dir.c_str(), sans.c_str(), o.days);
  return Ok{};
}

Status WriteClientCert(const ClientCertOptions& o) {
  if (o.user.empty() || o.user.find('/') != std::string::npos) {
    return MakeError(Errc::kInvalidArgument, "invalid user name '" + o.user + "'");
  }
  BERTH_TRY(CheckDays(o.days));
  ERR_clear_error();
  BERTH_ASSIGN_OR_RETURN(Ca ca, LoadCa(o.ca_dir));
  BERTH_ASSIGN_OR_RETURN(PkeyPtr key, NewKey());
  CertSpec spec;
  spec.common_name = o.user;
  spec.days = o.days;
  spec.extended_key_usage = "clientAuth";
  BERTH_ASSIGN_OR_RETURN(X509Ptr cert,
                         IssueCertificate(spec, key.get(), ca.cert.get(), ca.key.get()));
  std::string dir = o.out_dir.empty() ? o.ca_dir : o.out_dir;
  ::mkdir(dir.c_str(), 0755);
  BERTH_TRY(WriteKey(dir + "/" + o.user + "-key.pem", key.get()));
  BERTH_TRY(WriteCertificate(dir + "/" + o.user + ".pem", cert.get()));
  std::printf("wrote %s/%s.pem and %s/%s-key.pem (client certificate, CN=%s, %d days)\n",
              dir.c_str(), o.user.c_str(), dir.c_str(), o.user.c_str(), o.user.c_str(), o.days);
  return Ok{};
}

}  // namespace berth::cli
