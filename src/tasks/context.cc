#include "tasks/context.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <vector>

#include "base/fd.h"
#include "base/random.h"
#include "oci/digest.h"

namespace drydock::tasks::internal {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kRepoPrefix = "_contexts/";
// Local copies are named for error messages ("uploaded-context.<id> is not
// a tar archive"): the extractor looks at the content, not at a suffix.
constexpr std::string_view kCachePrefix = "uploaded-context.";
// Claims never expire by themselves: Release ends them with the upload.
constexpr int64_t kClaimMs = int64_t{400} * 24 * 3600 * 1000;

// Upload ids are ours (RandomHex); anything else could name another path.
bool ValidId(const std::string& id) {
  if (id.size() != 32) return false;
  for (char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string RepoOf(const std::string& id) { return std::string(kRepoPrefix) + id; }
std::string ClaimOf(const std::string& id) { return "context:" + id; }

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Status WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Internal(std::string("cannot write the build context: ") + strerror(errno));
    data += n;
    size -= static_cast<size_t>(n);
  }
  return Status::Ok();
}

}  // namespace

Status ContextStore::Init() {
  std::error_code ec;
  fs::create_directories(cache_dir_, ec);
  if (ec) return Internal("cannot create " + cache_dir_.string() + ": " + ec.message());
  return Status::Ok();
}

Result<std::string> ContextStore::Store(const std::function<Result<size_t>(char*, size_t)>& read) {
  std::string id = RandomHex(16);
  DD_RETURN_IF_ERROR(StoreAs(id, read));
  return id;
}

Status ContextStore::StoreAs(const std::string& id,
                             const std::function<Result<size_t>(char*, size_t)>& read) {
  DD_ASSIGN_OR_RETURN(writer, blobs_.CreateUpload(id));
  auto fail = [&](Status s) {
    (void)blobs_.DeleteUpload(id);
    return s;
  };
  oci::Hasher hasher;
  std::vector<char> buf(1 << 20);
  uint64_t total = 0;
  while (true) {
    auto n = read(buf.data(), buf.size());
    if (!n.ok()) return fail(n.status());
    if (*n == 0) break;
    total += *n;
    if (total > max_bytes_)
      return fail(TooLarge("the build context is larger than the limit of " +
                           std::to_string(max_bytes_) + " bytes"));
    hasher.Update(buf.data(), *n);
    if (Status s = writer->Write(buf.data(), *n); !s.ok()) return fail(s);
  }
  oci::Digest digest = hasher.Peek();
  auto info = writer->Commit(digest);
  if (!info.ok()) return fail(info.status());
  return meta_.LinkBlob(RepoOf(id), digest, total);
}

Status ContextStore::ImportFiles() {
  std::error_code ec;
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(cache_dir_, ec)) files.push_back(entry.path());
  for (const auto& path : files) {
    std::string name = path.filename().string();
    bool claimed = name.starts_with(kCachePrefix);
    std::string id = claimed ? name.substr(kCachePrefix.size()) : name.substr(0, name.find('.'));
    // An older version's upload (<id>.tar, .tar.gz, .tar.zst) or a claimed
    // one (uploaded-context.<id>), unknown to the stores: moved into them.
    if (!ValidId(id) || Find(id).ok()) continue;
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) continue;
    DD_RETURN_IF_ERROR(StoreAs(id, [&](char* buf, size_t n) -> Result<size_t> {
      ssize_t got = ::read(fd.get(), buf, n);
      if (got < 0) return Internal("cannot read " + path.string() + ": " + strerror(errno));
      return static_cast<size_t>(got);
    }));
    if (claimed) DD_RETURN_IF_ERROR(Claim(id));
    if (!claimed) fs::remove(path, ec);  // a claimed one stays as the local copy
  }
  return Status::Ok();
}

Result<oci::Digest> ContextStore::UploadDigest(const std::string& id) {
  DD_ASSIGN_OR_RETURN(found, Find(id));
  return found.first;
}

Result<std::pair<oci::Digest, int64_t>> ContextStore::Find(const std::string& id) {
  auto missing = NotFound("build context " + id +
                          " does not exist (contexts expire after an hour and can be used once)");
  if (!ValidId(id)) return missing;
  DD_ASSIGN_OR_RETURN(graph, meta_.LoadRepoGraph(RepoOf(id)));
  if (graph.links.empty()) return missing;
  return graph.links.front();
}

Status ContextStore::Claim(const std::string& id) {
  DD_RETURN_IF_ERROR(Find(id).status());
  // The claim is a lease no one else can take: of two runs (on any
  // servers) given the same upload, one gets it.
  DD_ASSIGN_OR_RETURN(took, meta_.TakeLease(ClaimOf(id), RandomHex(8), NowMs(), kClaimMs));
  if (!took)
    return NotFound("build context " + id + " was already used (a context can be used once)");
  return Status::Ok();
}

fs::path ContextStore::CachePath(const std::string& id) const {
  return cache_dir_ / (std::string(kCachePrefix) + id);
}

Result<fs::path> ContextStore::ClaimedPath(const std::string& id) {
  if (!ValidId(id)) return fs::path();
  fs::path path = CachePath(id);
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) return path;
  DD_ASSIGN_OR_RETURN(found, Find(id));
  DD_ASSIGN_OR_RETURN(reader, blobs_.Open(found.first));
  DD_RETURN_IF_ERROR(Init());
  // Written aside and renamed: a reader never sees half a copy.
  fs::path partial = path.string() + ".partial-" + RandomHex(4);
  UniqueFd fd(::open(partial.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd.valid()) return Internal("cannot create " + partial.string() + ": " + strerror(errno));
  std::vector<char> buf(1 << 20);
  Status copied = Status::Ok();
  for (uint64_t at = 0; copied.ok() && at < reader->size();) {
    auto n = reader->ReadAt(at, buf.data(), buf.size());
    if (!n.ok())
      copied = n.status();
    else if (*n == 0)
      copied = Internal("build context " + id + " is shorter than its record");
    else
      copied = WriteAll(fd.get(), buf.data(), *n);
    if (n.ok()) at += *n;
  }
  fd.Reset();
  if (copied.ok()) fs::rename(partial, path, ec);
  if (!copied.ok() || ec) {
    fs::remove(partial, ec);
    return copied.ok() ? Internal("cannot store the build context: " + ec.message()) : copied;
  }
  return path;
}

void ContextStore::Release(const std::string& id) {
  if (!ValidId(id)) return;
  std::error_code ec;
  fs::remove(CachePath(id), ec);
  auto found = Find(id);
  // The blob goes with GC once no link holds it.
  if (found.ok()) (void)meta_.UnlinkBlob(RepoOf(id), found->first);
}

void ContextStore::RemoveUnused(const std::set<std::string>& live, std::chrono::seconds ttl) {
  int64_t cutoff = static_cast<int64_t>(::time(nullptr)) - ttl.count();
  storage::Page page{std::string(kRepoPrefix), 500};
  std::set<std::string> stored;
  for (bool more = true; more;) {
    auto repos = meta_.ListRepositories(page);
    // Without the whole list, local copies cannot be told from leftovers.
    if (!repos.ok()) return;
    more = !repos->empty();
    for (const auto& repo : *repos) {
      if (!repo.starts_with(kRepoPrefix)) {
        more = false;  // past the internal ones
        break;
      }
      std::string id = repo.substr(kRepoPrefix.size());
      auto found = Find(id);
      if (!found.ok()) continue;
      stored.insert(id);
      if (found->second >= cutoff || live.count(id)) continue;
      // Old and no live run uses it: unclaimed (the claim is ours to take
      // now, so no run can claim it while it goes) or its run ended.
      (void)meta_.TakeLease(ClaimOf(id), "expiry", NowMs(), kClaimMs);
      (void)meta_.UnlinkBlob(repo, found->first);
      stored.erase(id);
    }
    if (!repos->empty()) page.last = repos->back();
  }
  auto old = fs::file_time_type::clock::now() - ttl;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(cache_dir_, ec)) {
    std::string name = entry.path().filename().string();
    std::string id = name.starts_with(kCachePrefix) ? name.substr(kCachePrefix.size()) : "";
    if (ValidId(id) && stored.count(id)) continue;  // the copy of a live upload
    // A copy of an upload that is gone goes at once; anything else (a copy
    // being written, an older version's leftovers) once it is old.
    std::error_code time_ec;
    auto mtime = entry.last_write_time(time_ec);
    if (!ValidId(id) && (time_ec || mtime >= old)) continue;
    fs::remove(entry.path(), ec);
  }
}

Result<WorkDir> WorkDir::Create(const fs::path& path) {
  std::error_code ec;
  fs::remove_all(path, ec);  // left by a process that died mid-run
  fs::create_directories(path, ec);
  if (ec)
    return Internal("cannot create the work directory " + path.string() + ": " + ec.message());
  return WorkDir(path);
}

WorkDir::~WorkDir() {
  if (path_.empty()) return;
  std::error_code ec;
  fs::remove_all(path_, ec);
}

}  // namespace drydock::tasks::internal
