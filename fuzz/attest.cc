// What attestations read from images and registries: package databases (rpm's
// as a whole SQLite file and as one header) and
// os-release files from an image's layers (the image author's), SPDX
// documents and Sigstore bundles from a registry (anyone who can push).
// The first byte picks the parser, the rest is the input.
#include <cstddef>
#include <cstdint>
#include <string>

#include "attest/attest.h"
#include "attest/rpmdb.h"
#include "base/json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace drydock;
  if (size == 0) return 0;
  std::string in(reinterpret_cast<const char*>(data + 1), size - 1);
  static const attest::Key key = std::move(*attest::Key::Generate());
  switch (data[0] % 6) {
    case 0: {
      attest::PackageDatabases dbs;
      dbs.dpkg_status = in;
      dbs.dpkg_status_d = {in};
      dbs.os_release = in;
      for (const auto& p : attest::ReadPackages(dbs)) (void)attest::PackageUrl(p, {});
      break;
    }
    case 1: {
      attest::PackageDatabases dbs;
      dbs.apk_installed = in;
      (void)attest::ReadPackages(dbs);
      break;
    }
    case 2:
      if (auto doc = ParseJson(in); doc.ok()) (void)attest::SpdxPackages(*doc);
      break;
    case 3:
      if (auto bundle = ParseJson(in); bundle.ok())
        if (auto s = attest::VerifyBundle(*bundle, key); s.ok())
          (void)attest::StatementCovers(*s, oci::Digest::Of(in));
      break;
    case 4: {
      attest::PackageDatabases dbs;
      dbs.rpmdb_sqlite = in;
      (void)attest::ReadPackages(dbs);
      break;
    }
    case 5: {
      attest::Package p;
      if (attest::internal::ReadRpmHeader(in, p)) (void)attest::PackageUrl(p, {});
      break;
    }
  }
  return 0;
}
