// A client for any OCI distribution registry (Drydock's own, Debian's
// docker-registry, ...) over libcurl: token and Basic auth, manifest and
// blob transfer with every digest verified, pushes that mount or skip
// blobs the registry already has.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "oci/digest.h"
#include "oci/reference.h"

namespace drydock::remote {

struct Credential {
  std::string username;
  std::string password;
};

// Returns the credential for a registry host ("localhost:5000"), if any.
using CredentialLookup = std::function<std::optional<Credential>(const std::string& registry)>;

// Reads docker's config.json ("auths": {"host": {"auth": base64(user:pass)}}).
CredentialLookup DockerConfigCredentials(const std::filesystem::path& path);

struct ClientOptions {
  // Plain HTTP is allowed for these hosts (host or host:port) besides loopback ones.
  std::vector<std::string> insecure_registries;
  CredentialLookup credentials;
  int max_attempts = 3;  // for 5xx and connection failures
  long timeout_seconds = 600;
};

struct Manifest {
  std::string bytes;
  std::string media_type;
  oci::Digest digest;
};

// A manifest whose subject is another, as the referrers API lists it.
struct Referrer {
  oci::Digest digest;
  std::string media_type, artifact_type;
  int64_t size = 0;
  std::map<std::string, std::string> annotations;
};

class Client {
 public:
  explicit Client(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Fetches by tag or digest, accepting OCI and Docker manifests and indexes.
  Result<Manifest> GetManifest(const oci::ImageReference& ref);
  // The digest a tag currently points at (HEAD; cheap for polling).
  Result<oci::Digest> ResolveDigest(const oci::ImageReference& ref);
  // Downloads a blob to `dest`, verifying its digest while streaming.
  Status FetchBlob(const oci::ImageReference& repo, const oci::Digest& digest,
                   const std::filesystem::path& dest);
  Result<std::string> FetchBlobBytes(const oci::ImageReference& repo, const oci::Digest& digest,
                                     size_t limit);
  Result<bool> HasBlob(const oci::ImageReference& repo, const oci::Digest& digest);
  // Uploads a blob unless present; tries a cross-repository mount from
  // `mount_from` (same registry) first when given.
  Status PushBlob(const oci::ImageReference& repo, const oci::Digest& digest,
                  const std::filesystem::path& file, const std::string& mount_from = "");
  // Makes `digest` of repository `from` (same registry) part of `repo`
  // without copying it: true when mounted or already there, false when the
  // registry declined (then the caller uploads it).
  Result<bool> MountBlob(const oci::ImageReference& repo, const oci::Digest& digest,
                         const std::string& from);
  Status PushBlobBytes(const oci::ImageReference& repo, const oci::Digest& digest,
                       const std::string& bytes);
  Result<oci::Digest> PushManifest(const oci::ImageReference& ref, const std::string& bytes,
                                   const std::string& media_type);
  // The manifests in `repo` whose subject is `subject` (OCI 1.1 referrers
  // API), of `artifact_type` when not empty.
  Result<std::vector<Referrer>> ListReferrers(const oci::ImageReference& repo,
                                              const oci::Digest& subject,
                                              const std::string& artifact_type = "");

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace drydock::remote
