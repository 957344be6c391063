// The OCI Distribution v1.1 API (`/v2/...`) and the Docker token endpoint
// (`/auth/token`), mapped onto the storage interfaces.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "auth/auth.h"
#include "base/result.h"
#include "events/events.h"
#include "http/server.h"
#include "storage/blob_store.h"
#include "storage/metadata_store.h"

namespace drydock::registry {

struct Options {
  size_t max_manifest_bytes = 4 * 1024 * 1024;
  // Used for token realms when set ("https://registry.example.com"); else
  // derived from each request's Host header.
  std::string public_url;
  // Repositories (glob patterns: "prod/*") whose images must be signed: a
  // Sigstore bundle referrer in the repository, signed by one of
  // `trusted_keys` (PEM public keys), must sign the digest. An unsigned
  // image is stored but cannot be tagged there, or with `refuse_unsigned`
  // is refused outright (push its signature first).
  std::vector<std::string> require_signed;
  std::vector<std::string> trusted_keys;
  bool refuse_unsigned = false;
};

struct GcOptions {
  bool delete_untagged = false;
  int64_t grace_seconds = 3600;        // anything newer than this is never collected
  int64_t upload_ttl_seconds = 86400;  // uploads idle longer than this are abandoned
  bool dry_run = false;
};

struct GcReport {
  int64_t manifests_deleted = 0;
  int64_t links_removed = 0;
  int64_t blobs_deleted = 0;
  uint64_t bytes_freed = 0;
  int64_t uploads_removed = 0;
  // What the blob store holds after the pass (with dry_run: before it).
  int64_t blobs_kept = 0;
  uint64_t bytes_kept = 0;
  std::vector<std::string> actions;  // one human-readable line per removal
};

class Registry {
 public:
  Registry(storage::BlobStore& blobs, storage::MetadataStore& meta, auth::Authenticator& auth,
           events::Bus& bus, Options options);
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // True when the request belongs to the registry (and has been answered).
  bool Handle(http::Request& req, http::Response& resp);
  size_t uploads_in_progress() const;
  // Deletes for other front ends (the REST API), recorded and published as
  // the `/v2/` DELETE does, so webhooks and triggers see every delete the
  // same way. The caller has authorised `user`. DeleteManifest returns the
  // tags that pointed at it; DeleteTag the digest it pointed at. kNotFound
  // when there is nothing to delete.
  Result<std::vector<std::string>> DeleteManifest(const std::string& repo,
                                                  const oci::Digest& digest,
                                                  const std::string& user);
  Result<oci::Digest> DeleteTag(const std::string& repo, const std::string& tag,
                                const std::string& user);
  // Safe to run while the server takes pushes.
  Result<GcReport> CollectGarbage(const GcOptions& options);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Offline collection over stores no server is using.
Result<GcReport> CollectGarbage(storage::BlobStore& blobs, storage::MetadataStore& meta,
                                const GcOptions& options);

}  // namespace drydock::registry

namespace drydock::registry {
// Run at startup, before serving: removes staging files whose session was
// never recorded (a crash in between) and session records whose bytes are
// gone, once older than a minute (younger ones may be another server's
// uploads being started), so no partial upload outlives a restart
// unaccounted for.
Result<int64_t> RecoverUploads(storage::BlobStore& blobs, storage::MetadataStore& meta);
}  // namespace drydock::registry
