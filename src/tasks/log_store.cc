#include "tasks/log_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <system_error>

#include "base/fd.h"
#include "source/source.h"

namespace drydock::tasks::internal {

namespace fs = std::filesystem;

namespace {

// A partial line longer than this is written without waiting for its end,
// so output like progress dots still reaches followers.
constexpr size_t kMaxPending = 4096;

std::string Timestamp() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y/%m/%d %H:%M:%S ", &tm);
  return buf;
}

}  // namespace

Status FileRunLogs::Init() {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) return Internal("cannot create " + dir_.string() + ": " + ec.message());
  return Status::Ok();
}

fs::path FileRunLogs::PathOf(const std::string& run_id) const { return dir_ / (run_id + ".log"); }

Result<uint64_t> FileRunLogs::AppendLog(const std::string& run_id, std::optional<uint64_t> offset,
                                        std::string_view data) {
  // Runs can be canceled (and logged) before Init() made the directory.
  DD_RETURN_IF_ERROR(Init());
  fs::path path = PathOf(run_id);
  std::lock_guard lock(append_mu_);
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640));
  if (!fd.valid()) return Internal("cannot open " + path.string() + ": " + std::strerror(errno));
  off_t end = ::lseek(fd.get(), 0, SEEK_END);
  if (end < 0) return Internal("cannot read " + path.string() + ": " + std::strerror(errno));
  uint64_t size = static_cast<uint64_t>(end);
  if (offset && *offset > size) {
    return Conflict("the log of run " + run_id + " has " + std::to_string(size) +
                    " bytes: an append at " + std::to_string(*offset) + " would leave a gap");
  }
  if (offset) data.remove_prefix(std::min<uint64_t>(size - *offset, data.size()));
  while (!data.empty()) {
    ssize_t n = ::write(fd.get(), data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Internal("cannot write " + path.string() + ": " + std::strerror(errno));
    data.remove_prefix(static_cast<size_t>(n));
    size += static_cast<uint64_t>(n);
  }
  return size;
}

Result<storage::LogSlice> FileRunLogs::ReadLog(const std::string& run_id, uint64_t offset,
                                               size_t max_bytes) {
  fs::path path = PathOf(run_id);
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  storage::LogSlice slice;
  if (!fd.valid()) {
    if (errno == ENOENT) return slice;
    return Internal("cannot open " + path.string() + ": " + std::strerror(errno));
  }
  off_t end = ::lseek(fd.get(), 0, SEEK_END);
  if (end < 0) return Internal("cannot read " + path.string() + ": " + std::strerror(errno));
  slice.size = static_cast<uint64_t>(end);
  if (offset >= slice.size) return slice;
  slice.data.resize(std::min<uint64_t>(max_bytes, slice.size - offset));
  size_t got = 0;
  while (got < slice.data.size()) {
    ssize_t n = ::pread(fd.get(), slice.data.data() + got, slice.data.size() - got,
                        static_cast<off_t>(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Internal("cannot read " + path.string() + ": " + std::strerror(errno));
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  slice.data.resize(got);
  return slice;
}

Status ImportLogFiles(const fs::path& dir, storage::RunLogStore& to) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return Status::Ok();
  FileRunLogs files(dir);
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().extension() != ".log") continue;
    std::string run = entry.path().stem().string();
    DD_ASSIGN_OR_RETURN(had, to.ReadLog(run, 0, 0));
    if (had.size == 0) {
      DD_ASSIGN_OR_RETURN(slice, files.ReadLog(run, 0, SIZE_MAX));
      DD_RETURN_IF_ERROR(to.AppendLog(run, 0, slice.data).status());
    }
    fs::remove(entry.path(), ec);
  }
  fs::remove(dir, ec);  // only when empty
  return Status::Ok();
}

Result<std::unique_ptr<LogWriter>> LogStore::OpenWriter(const std::string& run_id,
                                                        std::vector<std::string> secrets) {
  return std::make_unique<LogWriter>(*this, run_id, std::move(secrets));
}

Result<uint64_t> LogStore::AppendAt(const std::string& run_id, uint64_t offset,
                                    std::string_view data) {
  DD_ASSIGN_OR_RETURN(size, backend_.AppendLog(run_id, offset, data));
  Changed(run_id);
  return size;
}

Status LogStore::Append(const std::string& run_id, std::string_view data) {
  return backend_.AppendLog(run_id, std::nullopt, data).status();
}

Result<LogStore::Slice> LogStore::Read(const std::string& run_id, uint64_t offset,
                                       size_t max_bytes) const {
  return backend_.ReadLog(run_id, offset, max_bytes);
}

uint64_t LogStore::Version(const std::string& run_id) {
  std::lock_guard lock(mu_);
  auto it = versions_.find(run_id);
  return it == versions_.end() ? 0 : it->second;
}

void LogStore::Changed(const std::string& run_id) {
  {
    std::lock_guard lock(mu_);
    versions_[run_id] = next_version_++;
  }
  cv_.notify_all();
}

void LogStore::WaitForChange(const std::string& run_id, uint64_t seen,
                             std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mu_);
  cv_.wait_until(lock, deadline, [&] {
    auto it = versions_.find(run_id);
    return (it == versions_.end() ? 0 : it->second) != seen;
  });
}

LogWriter::LogWriter(LogStore& store, std::string run_id, std::vector<std::string> secrets)
    : store_(store), run_id_(std::move(run_id)) {
  for (auto& s : secrets) {
    if (s.empty()) continue;
    longest_secret_ = std::max(longest_secret_, s.size());
    secrets_.push_back(std::move(s));
  }
  // The longest first, so a secret containing another is replaced whole.
  std::sort(secrets_.begin(), secrets_.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
}

LogWriter::~LogWriter() { Flush(); }

std::string LogWriter::Redact(std::string_view text) const {
  std::string out = source::RedactText(text);
  for (const auto& secret : secrets_) {
    for (size_t at = out.find(secret); at != std::string::npos; at = out.find(secret, at + 3)) {
      out.replace(at, secret.size(), "***");
    }
  }
  return out;
}

void LogWriter::Line(std::string_view text) {
  std::lock_guard lock(mu_);
  FlushLocked(true);
  Write(Timestamp() + Redact(text) + "\n");
  store_.Changed(run_id_);
}

void LogWriter::Output(std::string_view text) {
  std::lock_guard lock(mu_);
  pending_.append(text);
  FlushLocked(false);
}

void LogWriter::Flush() {
  std::lock_guard lock(mu_);
  FlushLocked(true);
}

void LogWriter::FlushLocked(bool all) {
  if (pending_.empty()) return;
  std::string out;
  if (all) {
    out = Redact(pending_);
    if (out.back() != '\n') out += '\n';
    pending_.clear();
  } else {
    size_t line_end = pending_.rfind('\n');
    if (line_end != std::string::npos) {
      out = Redact(std::string_view(pending_).substr(0, line_end + 1));
      pending_.erase(0, line_end + 1);
    }
    if (pending_.size() > kMaxPending) {
      // Redacted first, then all but a tail that could hold the start of
      // a secret: any secret ending before the tail is already replaced.
      std::string redacted = Redact(pending_);
      size_t keep = std::min(redacted.size(), longest_secret_ > 0 ? longest_secret_ - 1 : 0);
      out += redacted.substr(0, redacted.size() - keep);
      pending_ = redacted.substr(redacted.size() - keep);
    }
  }
  if (out.empty()) return;
  Write(out);
  store_.Changed(run_id_);
}

void LogWriter::Write(std::string_view text) {
  // A log that cannot be written must not fail the build; the bytes are lost.
  (void)store_.Append(run_id_, text);
}

}  // namespace drydock::tasks::internal
