// Certificates for development and for client authentication (`berth admin tls ...`), made
// with OpenSSL 3: EC P-256 keys, ECDSA-SHA256 signatures, random 127-bit serials.
//
//   self-signed   a development CA (ca.pem, ca-key.pem; reused when already in the output
//                 directory, so clients keep trusting it across renewals) and a server
//                 certificate signed by it (server.pem, server-key.pem) whose subject
//                 alternative names are the hosts: IP addresses as IP SANs, names as DNS SANs.
//   client-cert   a client certificate (clientAuth) signed by that CA whose subject CN is a
//                 berth user name: <user>.pem and <user>-key.pem.
//
// Keys are written with mode 0600, certificates 0644, each atomically (temp file + rename).
// Not for production: a real deployment uses certificates from its own or a public CA.
#pragma once

#include <string>
#include <vector>

#include "base/error.h"

namespace berth::cli {

struct SelfSignedOptions {
  std::vector<std::string> hosts;  // at least one
  std::string out_dir = ".";
  int days = 365;  // server certificate; the CA gets ten times as long
};
// Errors: kInvalidArgument (no host, bad days, an existing CA that does not load),
// kUnavailable (files cannot be written).
Status WriteSelfSigned(const SelfSignedOptions& options);

struct ClientCertOptions {
  std::string ca_dir;   // holds ca.pem and ca-key.pem
  std::string user;     // becomes the subject CN
  std::string out_dir;  // empty: ca_dir
  int days = 365;
};
Status WriteClientCert(const ClientCertOptions& options);

}  // namespace berth::cli
