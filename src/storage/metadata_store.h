// Everything about the registry that is not blob bytes: repositories, blob
// links, manifests, tags, referrers, upload sessions, users and events.
// Each method is one transaction, so a crash leaves either all of a change
// or none of it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "oci/digest.h"

namespace drydock::storage {

struct ManifestRecord {
  std::string repo;
  oci::Digest digest;
  std::string media_type;
  std::string content;  // exact bytes as pushed
  std::optional<oci::Digest> subject;
  std::string artifact_type;
  std::string annotations_json;
  int64_t created = 0;
};

struct ManifestPut {
  ManifestRecord record;
  std::vector<oci::Digest> blobs;      // must be linked in the repository
  std::vector<oci::Digest> manifests;  // must exist in the repository
  std::optional<std::string> tag;
};

struct Referrer {
  oci::Digest digest;
  std::string media_type;
  int64_t size = 0;
  std::string artifact_type;
  std::string annotations_json;
};

struct TagChange {
  std::optional<oci::Digest> previous;  // what the tag pointed at before, if anything
};

struct Page {
  std::string last;    // exclusive lower bound, "" for the start
  int64_t limit = -1;  // -1: no limit
};

struct User {
  std::string name;
  std::string password_hash;
  bool admin = false;
};

struct Grant {
  std::string prefix;   // repository name prefix; "" or "*" means every repository
  std::string actions;  // comma separated: pull,push,delete
};

struct Event {
  int64_t id = 0;
  std::string action;  // push | delete
  std::string repo, tag, digest, media_type, actor;
  int64_t time = 0;
};

struct UploadRecord {
  std::string id, repo;
  int64_t created = 0;
};

// A repository's manifests and links as garbage collection sees them.
struct RepoGraph {
  struct Node {
    oci::Digest digest;
    int64_t created = 0;
    std::optional<oci::Digest> subject;
    std::vector<oci::Digest> children;  // blobs and manifests it references
    bool tagged = false;
  };
  std::vector<Node> manifests;
  std::vector<std::pair<oci::Digest, int64_t>> links;  // blob, linked-at
};

class MetadataStore {
 public:
  virtual ~MetadataStore() = default;

  // Blob links: a blob is visible in a repository only once linked there.
  virtual Status LinkBlob(const std::string& repo, const oci::Digest& d, uint64_t size) = 0;
  virtual Result<std::optional<uint64_t>> LinkedBlobSize(const std::string& repo,
                                                         const oci::Digest& d) = 0;
  virtual Status UnlinkBlob(const std::string& repo, const oci::Digest& d) = 0;
  virtual Result<bool> AnyLink(const oci::Digest& d) = 0;

  // Stores a manifest (and moves a tag) only if every reference is present;
  // otherwise kNotFound naming the first missing digest.
  virtual Result<TagChange> PutManifest(const ManifestPut& put) = 0;
  virtual Result<ManifestRecord> GetManifest(const std::string& repo, const oci::Digest& d) = 0;
  virtual Result<oci::Digest> ResolveTag(const std::string& repo, const std::string& tag) = 0;
  // Removes the manifest and every tag pointing at it; returns those tags.
  virtual Result<std::vector<std::string>> DeleteManifest(const std::string& repo,
                                                          const oci::Digest& d) = 0;
  virtual Result<oci::Digest> DeleteTag(const std::string& repo, const std::string& tag) = 0;
  virtual Result<std::vector<std::string>> ListTags(const std::string& repo, const Page& page) = 0;
  virtual Result<bool> RepositoryExists(const std::string& repo) = 0;
  virtual Result<std::vector<std::string>> ListRepositories(const Page& page) = 0;
  virtual Result<std::vector<Referrer>> ListReferrers(const std::string& repo,
                                                      const oci::Digest& subject) = 0;

  virtual Status CreateUpload(const UploadRecord& u) = 0;
  virtual Result<UploadRecord> GetUpload(const std::string& id) = 0;
  virtual Status DeleteUpload(const std::string& id) = 0;
  virtual Result<std::vector<UploadRecord>> ListUploads() = 0;

  virtual Status PutUser(const User& u) = 0;
  virtual Result<User> GetUser(const std::string& name) = 0;
  virtual Result<int64_t> CountUsers() = 0;
  virtual Status SetGrants(const std::string& user, const std::vector<Grant>& grants) = 0;
  virtual Result<std::vector<Grant>> GetGrants(const std::string& user) = 0;

  virtual Result<int64_t> AppendEvent(const Event& e) = 0;
  virtual Result<std::vector<Event>> EventsAfter(int64_t id, int64_t limit) = 0;

  // Server-wide secrets and settings (e.g. the token signing key).
  virtual Result<std::optional<std::string>> GetSetting(const std::string& key) = 0;
  // Sets `key` only if unset; returns the value now stored.
  virtual Result<std::string> InitSetting(const std::string& key, const std::string& value) = 0;

  // Garbage collection.
  virtual Result<std::vector<std::string>> AllRepositories() = 0;
  virtual Result<RepoGraph> LoadRepoGraph(const std::string& repo) = 0;
  // Deletes the manifest only if it is still untagged and unreferenced.
  virtual Result<bool> DeleteManifestIfUnreferenced(const std::string& repo,
                                                    const oci::Digest& d) = 0;
  // Deletes the link only if no manifest in the repository references the blob.
  virtual Result<bool> UnlinkBlobIfUnreferenced(const std::string& repo, const oci::Digest& d,
                                                int64_t linked_before) = 0;
};

// The embedded default: SQLite in WAL mode at `path`.
Result<std::unique_ptr<MetadataStore>> OpenSqliteMetadataStore(const std::string& path);

}  // namespace drydock::storage
