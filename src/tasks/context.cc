#include "tasks/context.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <vector>

#include "base/fd.h"
#include "base/random.h"

namespace drydock::tasks::internal {

namespace fs = std::filesystem;

namespace {

constexpr const char* kExtensions[] = {".tar", ".tar.gz", ".tar.zst"};
// Claimed uploads are named for error messages ("uploaded-context.<id> is
// not a tar archive") and kept under their upload id until their run ends,
// so that every attempt of the run reads the same bytes.
constexpr std::string_view kClaimedPrefix = "uploaded-context.";
constexpr std::string_view kPartial = ".partial";

// Upload ids are ours (RandomHex); anything else could name another path.
bool ValidId(const std::string& id) {
  if (id.size() != 32) return false;
  for (char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

const char* ExtensionFor(std::string_view head) {
  if (head.size() >= 2 && head[0] == '\x1f' && head[1] == '\x8b') return ".tar.gz";
  if (head.size() >= 4 && head.substr(0, 4) == std::string_view("\x28\xb5\x2f\xfd", 4))
    return ".tar.zst";
  return ".tar";
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
  fs::create_directories(dir_, ec);
  if (ec) return Internal("cannot create " + dir_.string() + ": " + ec.message());
  return Status::Ok();
}

Result<std::string> ContextStore::Store(const std::function<Result<size_t>(char*, size_t)>& read) {
  std::string id = RandomHex(16);
  fs::path partial = dir_ / (id + std::string(kPartial));
  UniqueFd fd(::open(partial.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd.valid()) return Internal("cannot create " + partial.string() + ": " + strerror(errno));
  auto fail = [&](Status s) {
    std::error_code ec;
    fs::remove(partial, ec);
    return s;
  };
  std::vector<char> buf(1 << 20);
  std::string head;
  uint64_t total = 0;
  while (true) {
    auto n = read(buf.data(), buf.size());
    if (!n.ok()) return fail(n.status());
    if (*n == 0) break;
    total += *n;
    if (total > max_bytes_)
      return fail(TooLarge("the build context is larger than the limit of " +
                           std::to_string(max_bytes_) + " bytes"));
    if (head.size() < 8) head.append(buf.data(), std::min<size_t>(*n, 8 - head.size()));
    Status s = WriteAll(fd.get(), buf.data(), *n);
    if (!s.ok()) return fail(s);
  }
  fd.Reset();
  std::error_code ec;
  fs::rename(partial, dir_ / (id + ExtensionFor(head)), ec);
  if (ec) return fail(Internal("cannot store the build context: " + ec.message()));
  return id;
}

fs::path ContextStore::UploadPath(const std::string& id) const {
  if (!ValidId(id)) return {};
  for (const char* ext : kExtensions) {
    fs::path p = dir_ / (id + ext);
    std::error_code ec;
    if (fs::is_regular_file(p, ec)) return p;
  }
  return {};
}

bool ContextStore::Exists(const std::string& id) const { return !UploadPath(id).empty(); }

Status ContextStore::Claim(const std::string& id) {
  fs::path from = UploadPath(id);
  std::error_code ec;
  if (!from.empty()) fs::rename(from, ClaimedPath(id), ec);
  if (from.empty() || ec)
    return NotFound("build context " + id +
                    " does not exist (contexts expire after an hour and can be used once)");
  return Status::Ok();
}

fs::path ContextStore::ClaimedPath(const std::string& id) const {
  if (!ValidId(id)) return {};
  return dir_ / (std::string(kClaimedPrefix) + id);
}

void ContextStore::Release(const std::string& id) {
  fs::path path = ClaimedPath(id);
  std::error_code ec;
  if (!path.empty()) fs::remove(path, ec);
}

void ContextStore::RemoveExpired(std::chrono::seconds ttl) {
  std::error_code ec;
  auto cutoff = fs::file_time_type::clock::now() - ttl;
  std::vector<fs::path> doomed;
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    if (entry.path().filename().string().starts_with(kClaimedPrefix)) continue;
    std::error_code time_ec;
    auto mtime = entry.last_write_time(time_ec);
    if (!time_ec && mtime < cutoff) doomed.push_back(entry.path());
  }
  for (const auto& p : doomed) fs::remove(p, ec);
}

void ContextStore::RemoveClaimedExcept(const std::set<std::string>& live) {
  std::error_code ec;
  std::vector<fs::path> doomed;
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    std::string name = entry.path().filename().string();
    if (name.starts_with(kClaimedPrefix) && !live.contains(name.substr(kClaimedPrefix.size())))
      doomed.push_back(entry.path());
  }
  for (const auto& p : doomed) fs::remove(p, ec);
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
