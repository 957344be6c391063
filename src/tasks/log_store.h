// Run logs: appended to and read from a storage::RunLogStore (the
// metadata store on a server, so every replica reads every log; files in
// its state dir on a remote agent), with a change signal so readers in
// this process follow a live log without polling.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "storage/metadata_store.h"

namespace drydock::tasks::internal {

class LogWriter;

// One append-only file per run, <dir>/<id>.log: a remote agent's own copy
// of the logs it ships.
class FileRunLogs final : public storage::RunLogStore {
 public:
  explicit FileRunLogs(std::filesystem::path dir) : dir_(std::move(dir)) {}
  Status Init();
  Result<uint64_t> AppendLog(const std::string& run_id, std::optional<uint64_t> offset,
                             std::string_view data) override;
  Result<storage::LogSlice> ReadLog(const std::string& run_id, uint64_t offset,
                                    size_t max_bytes) override;

 private:
  std::filesystem::path PathOf(const std::string& run_id) const;

  std::filesystem::path dir_;
  std::mutex append_mu_;  // one append at a time: each reads the size it appends after
};

// Moves the logs an older server kept as files in `dir` into `to` (unless
// `to` already has that run's log) and removes them.
Status ImportLogFiles(const std::filesystem::path& dir, storage::RunLogStore& to);

class LogStore {
 public:
  explicit LogStore(storage::RunLogStore& backend) : backend_(backend) {}

  // A writer appending to the run's log; every write wakes the readers.
  // `secrets` are replaced by "***" wherever they appear.
  Result<std::unique_ptr<LogWriter>> OpenWriter(const std::string& run_id,
                                                std::vector<std::string> secrets);

  using Slice = storage::LogSlice;
  // Appends bytes a remote agent sent for `offset`: those already there are
  // skipped (a resent append is harmless), an offset past the end is
  // kConflict (a gap). Returns the log's new size.
  Result<uint64_t> AppendAt(const std::string& run_id, uint64_t offset, std::string_view data);
  // Appends at the end (this process's writers).
  Status Append(const std::string& run_id, std::string_view data);
  // Up to `max_bytes` from `offset`; a log not written yet is empty.
  Result<Slice> Read(const std::string& run_id, uint64_t offset, size_t max_bytes) const;

  // A per-run counter bumped by every change (new bytes, or the run turning
  // final): read it, check, then WaitForChange(seen) so no change is missed.
  uint64_t Version(const std::string& run_id);
  void Changed(const std::string& run_id);
  void WaitForChange(const std::string& run_id, uint64_t seen,
                     std::chrono::steady_clock::time_point deadline);

 private:
  storage::RunLogStore& backend_;
  std::mutex mu_;
  std::condition_variable cv_;
  // Runs changed since the process started (a few bytes each; never
  // dropped, since a waiter must not mistake a dropped counter for none).
  std::map<std::string, uint64_t> versions_;
  uint64_t next_version_ = 1;
};

// Writes one run's log. ACR-style lines ("2026/11/29 12:00:00 text") come
// from Line(); the builder's own output goes through Output() as it is.
// Thread-safe: the builder logs from one thread per stage.
class LogWriter {
 public:
  LogWriter(LogStore& store, std::string run_id, std::vector<std::string> secrets);
  ~LogWriter();
  LogWriter(const LogWriter&) = delete;
  LogWriter& operator=(const LogWriter&) = delete;

  void Line(std::string_view text);
  void Output(std::string_view text);
  // Writes any output held back (a partial line) now.
  void Flush();
  // `text` with every secret replaced, and credentials in URLs removed.
  std::string Redact(std::string_view text) const;

 private:
  void FlushLocked(bool all);
  void Write(std::string_view text);

  LogStore& store_;
  std::string run_id_;
  std::vector<std::string> secrets_;
  size_t longest_secret_ = 0;
  std::mutex mu_;
  // Output not written yet: a secret may be split across two chunks, so
  // only whole lines are redacted and written (or a long tail, minus what
  // could be the start of a secret).
  std::string pending_;
};

}  // namespace drydock::tasks::internal
