// Private to the registry component: the state shared by its handlers.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>

#include "attest/attest.h"
#include "oci/manifest.h"
#include "registry/registry.h"

namespace drydock::registry {

// Per-request context after routing and authentication.
struct Ctx {
  http::Request& req;
  http::Response& resp;
  std::string repo;
  auth::Identity who;
};

// An upload this server has in memory. The metadata store's record says
// where the upload is (its checkpoint); the writer is a cache of it.
struct UploadSession {
  std::mutex mu;
  std::unique_ptr<storage::BlobWriter> writer;  // null until resumed, and once finished
  int64_t last_used_ms = 0;                     // under Impl::uploads_mu
};

// A session nobody touched for this long is dropped from memory: behind a
// load balancer its upload may have ended on another server, and the store
// has all it needs to resume it here.
inline constexpr int64_t kIdleUploadSessionMs = 120'000;

// A session held by one request, its writer at the recorded checkpoint.
struct OpenSession {
  std::shared_ptr<UploadSession> s;
  std::unique_lock<std::mutex> lock;
};

// Writes the spec's JSON error body.
void SendError(http::Response& r, int status, std::string_view code, std::string_view message,
               const std::string& detail_json = "");
// Maps a storage Status onto an error response with `not_found_code` for kNotFound.
void SendStatus(http::Response& r, const Status& s, std::string_view not_found_code);

struct Registry::Impl {
  storage::BlobStore& blobs;
  storage::MetadataStore& meta;
  auth::Authenticator& auth;
  events::Bus& bus;
  Options options;

  // Blob commits and links hold it shared; GC deletes blob files holding it
  // exclusively, so a blob cannot vanish between being committed and linked.
  std::shared_mutex gc_mu;
  mutable std::mutex uploads_mu;
  std::map<std::string, std::shared_ptr<UploadSession>> uploads;
  std::shared_ptr<UploadSession> SessionSlot(const std::string& id);  // under uploads_mu

  // options.trusted_keys, parsed (a key that does not parse is left out:
  // the configuration was checked when it was read).
  std::vector<std::shared_ptr<const attest::Key>> trusted_keys;

  Impl(storage::BlobStore& b, storage::MetadataStore& m, auth::Authenticator& a, events::Bus& e,
       Options o)
      : blobs(b), meta(m), auth(a), bus(e), options(std::move(o)) {
    for (const auto& pem : options.trusted_keys)
      if (auto k = attest::Key::FromPem(pem); k.ok())
        trusted_keys.push_back(std::make_shared<const attest::Key>(std::move(*k)));
  }

  // registry/supply_chain.cc: the signing policy and the SBOM index.
  // Ok unless `repo` requires signed images and `digest` has no signature
  // referrer there that one of trusted_keys verifies.
  Status CheckSigningPolicy(const std::string& repo, const oci::Digest& digest);
  // The packages an SBOM artifact lists; none when `m` is not an SBOM or its
  // document cannot be read (it is stored all the same).
  std::vector<storage::PackageRecord> SbomPackages(const oci::Manifest& m);

  // Returns false after answering 401/403 when `who` may not do `need`.
  // `also` is a further scope the challenge names (a mount's source).
  bool Authorize(Ctx& c, unsigned need, const std::string& also = "");
  void Challenge(Ctx& c, const std::string& scope, std::string_view code, std::string_view message);

  void Base(Ctx& c);
  void Catalog(Ctx& c);
  void TokenEndpoint(http::Request& req, http::Response& resp);

  void GetBlob(Ctx& c, const std::string& digest);
  void DeleteBlob(Ctx& c, const std::string& digest);
  void StartUpload(Ctx& c);
  void PatchUpload(Ctx& c, const std::string& id);
  void PutUpload(Ctx& c, const std::string& id);
  void UploadStatus(Ctx& c, const std::string& id);
  void CancelUpload(Ctx& c, const std::string& id);

  void GetManifest(Ctx& c, const std::string& ref);
  void PutManifest(Ctx& c, const std::string& ref);
  void DeleteManifest(Ctx& c, const std::string& ref);
  void ListTags(Ctx& c);
  void Referrers(Ctx& c, const std::string& digest);

  // Upload helpers (uploads.cc).
  // The upload's session, locked, with its writer at the recorded checkpoint
  // (resumed when this server never held it or another took a chunk since);
  // nullopt, answered, when the upload is unknown or lost.
  std::optional<OpenSession> FindSession(Ctx& c, const std::string& id);
  void DropSession(const std::string& id);
  void SendUploadState(Ctx& c, int status, const std::string& id, uint64_t size);
  Result<storage::BlobInfo> Finish(Ctx& c, storage::BlobWriter& w, const oci::Digest& d);

  Result<std::vector<std::string>> DeleteManifest(const std::string& repo, const oci::Digest& d,
                                                  const std::string& user);
  Result<oci::Digest> DeleteTag(const std::string& repo, const std::string& tag,
                                const std::string& user);
};

}  // namespace drydock::registry
