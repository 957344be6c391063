// The state dir's lock and its size bound.
//
// Why deleting between builds is safe: a stage mounts the snapshots of all
// its layers, and each of them got there in this build by one of three
// ways: pulled (PullBase → LayerStore::Ensure re-fetches a missing blob and
// re-unpacks a missing snapshot), made (Commit adopts it) or a cache hit
// (BuildCache::Lookup checks the record's own blob and snapshot, at the
// chain computed from the layers below it). Lookup only checks the top
// snapshot; the lower ones were checked when they were added to the stage.
// So as long as nothing is deleted while a build runs, any record left
// after a prune is either still fully usable or misses cleanly. Pruning
// therefore takes <state>/lock exclusively, which every build holds shared
// for its whole run, and simply skips when another build runs: the next
// build to finish alone prunes instead.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include <nlohmann/json.hpp>

#include "base/random.h"
#include "builder/cache.h"

namespace drydock::builder {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// A blob or snapshot and how many remaining records need it.
struct Item {
  uint64_t bytes = 0;
  int refs = 0;
};

struct Record {
  fs::path path;
  fs::file_time_type last_use;
  std::vector<std::string> blobs, snapshots;  // hex names
};

// Bytes a file or tree takes on disk (allocated blocks; a hard link counts
// each time, which only errs on the safe side).
uint64_t DiskUsage(const fs::path& p) {
  struct stat st;
  if (::lstat(p.c_str(), &st) != 0) return 0;
  uint64_t total = static_cast<uint64_t>(st.st_blocks) * 512;
  if (!S_ISDIR(st.st_mode)) return total;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(p, ec), end; !ec && it != end; it.increment(ec)) {
    if (::lstat(it->path().c_str(), &st) == 0) total += static_cast<uint64_t>(st.st_blocks) * 512;
  }
  return total;
}

std::string HexOf(const json& digest) {
  auto d = oci::Digest::Parse(digest.is_string() ? digest.get<std::string>() : "");
  return d.ok() ? d->hex() : "";
}

// What a record file keeps alive: its layer (blob + snapshot) and every layer
// below it. Records from before "chain"/"lower" existed keep only their blob.
std::optional<Record> ReadRecord(const fs::path& path) {
  std::error_code ec;
  Record r{path, fs::last_write_time(path, ec), {}, {}};
  if (ec) return std::nullopt;
  std::ifstream f(path);
  json j = json::parse(f, nullptr, false);
  if (!j.is_object()) return r;  // unreadable: it keeps nothing alive
  auto add = [&](const json& layer) {
    if (!layer.is_object()) return;
    if (auto hex = HexOf(layer.value("digest", json())); !hex.empty()) r.blobs.push_back(hex);
    if (auto hex = HexOf(layer.value("chain", json())); !hex.empty()) r.snapshots.push_back(hex);
  };
  add(j);
  for (const auto& l : j.value("lower", json::array())) add(l);
  return r;
}

// Snapshots never change once in place, so their sizes are remembered in
// <state>/snapshot-sizes.json instead of walking every tree after each build.
class SizeMemo {
 public:
  explicit SizeMemo(fs::path file) : file_(std::move(file)) {
    std::ifstream f(file_);
    json j = json::parse(f, nullptr, false);
    if (!j.is_object()) return;
    for (const auto& [hex, bytes] : j.items()) {
      if (bytes.is_number_unsigned()) old_[hex] = bytes.get<uint64_t>();
    }
  }
  uint64_t Size(const std::string& hex, const fs::path& dir) {
    auto it = old_.find(hex);
    uint64_t bytes = it != old_.end() ? it->second : DiskUsage(dir);
    now_[hex] = bytes;
    return bytes;
  }
  void Forget(const std::string& hex) { now_.erase(hex); }
  void Save() const {
    fs::path tmp = file_.string() + ".tmp" + RandomHex(4);
    std::ofstream(tmp) << json(now_).dump();
    std::error_code ec;
    fs::rename(tmp, file_, ec);
    if (ec) fs::remove(tmp, ec);
  }

 private:
  fs::path file_;
  std::map<std::string, uint64_t> old_, now_;
};

class Pruner {
 public:
  Pruner(const fs::path& state, uint64_t max_bytes)
      : state_(state), max_(max_bytes), memo_(state / "snapshot-sizes.json") {}

  void Run(const LogFunction& log) {
    Inventory();
    uint64_t before = total_;
    if (total_ > max_) {
      std::vector<Record> records = Records();
      for (const auto& [hex, item] : blobs_) {
        if (item.refs == 0) DeleteBlob(hex);
      }
      for (const auto& [hex, item] : snapshots_) {
        if (item.refs == 0) DeleteSnapshot(hex);
      }
      for (const auto& r : records) {
        if (total_ <= max_) break;
        DeleteRecord(r);
      }
    }
    memo_.Save();
    if (log && total_ != before) {
      log("cache: pruned " + std::to_string(records_deleted_) + " records, " +
          std::to_string(before - total_) + " bytes; layers and snapshots now take " +
          std::to_string(total_) + " of " + std::to_string(max_) + " bytes\n");
    }
  }

 private:
  void Inventory() {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(state_ / "layers", ec)) {
      uint64_t bytes = DiskUsage(e.path());
      blobs_[e.path().filename().string()].bytes = bytes;
      total_ += bytes;
    }
    for (const auto& e : fs::directory_iterator(state_ / "snapshots", ec)) {
      std::string hex = e.path().filename().string();
      uint64_t bytes = memo_.Size(hex, e.path());
      snapshots_[hex].bytes = bytes;
      total_ += bytes;
    }
  }

  // Every record, least recently used first, with its references counted.
  std::vector<Record> Records() {
    std::vector<Record> records;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(state_ / "cache", ec)) {
      // Skip records being written right now by Remember (a tmp file, renamed into place).
      if (e.path().filename().string().find(".tmp") != std::string::npos) continue;
      auto r = ReadRecord(e.path());
      if (!r) continue;
      for (const auto& hex : r->blobs) Ref(blobs_, hex, 1);
      for (const auto& hex : r->snapshots) Ref(snapshots_, hex, 1);
      records.push_back(std::move(*r));
    }
    std::sort(records.begin(), records.end(),
              [](const Record& a, const Record& b) { return a.last_use < b.last_use; });
    return records;
  }

  // Adds `delta` to an item's count; returns true when nothing needs it any more.
  static bool Ref(std::map<std::string, Item>& items, const std::string& hex, int delta) {
    auto it = items.find(hex);
    if (it == items.end()) return false;
    it->second.refs += delta;
    return it->second.refs == 0;
  }

  // The record goes first: a crash midway leaves unreferenced files, which
  // the next prune deletes, never a record whose layer is gone.
  void DeleteRecord(const Record& r) {
    std::error_code ec;
    if (!fs::remove(r.path, ec)) return;
    ++records_deleted_;
    for (const auto& hex : r.blobs) {
      if (Ref(blobs_, hex, -1)) DeleteBlob(hex);
    }
    for (const auto& hex : r.snapshots) {
      if (Ref(snapshots_, hex, -1)) DeleteSnapshot(hex);
    }
  }

  void DeleteBlob(const std::string& hex) {
    std::error_code ec;
    fs::remove(state_ / "layers" / hex, ec);
    if (!ec) total_ -= std::exchange(blobs_[hex].bytes, 0);
  }

  void DeleteSnapshot(const std::string& hex) {
    std::error_code ec;
    fs::remove_all(state_ / "snapshots" / hex, ec);
    if (ec) return;
    total_ -= std::exchange(snapshots_[hex].bytes, 0);
    memo_.Forget(hex);
  }

  fs::path state_;
  uint64_t max_;
  SizeMemo memo_;
  std::map<std::string, Item> blobs_, snapshots_;
  uint64_t total_ = 0;
  size_t records_deleted_ = 0;
};

}  // namespace

Result<UniqueFd> LockState(const fs::path& state_dir, const LogFunction& log) {
  std::error_code ec;
  fs::create_directories(state_dir, ec);
  fs::path path = state_dir / "lock";
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!fd.valid()) return Internal("open " + path.string() + ": " + std::strerror(errno));
  if (::flock(fd.get(), LOCK_SH | LOCK_NB) == 0) return fd;
  if (errno != EWOULDBLOCK) return Internal("lock " + path.string() + ": " + std::strerror(errno));
  if (log) log("waiting for another build to finish pruning the cache\n");
  while (::flock(fd.get(), LOCK_SH) != 0) {
    if (errno != EINTR) return Internal("lock " + path.string() + ": " + std::strerror(errno));
  }
  return fd;
}

void PruneCache(const fs::path& state_dir, uint64_t max_bytes, UniqueFd lock,
                const LogFunction& log) {
  if (max_bytes == 0 || !lock.valid()) return;
  // Converting our shared lock: fails while any other build holds one.
  if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
    if (log) log("cache: another build is using " + state_dir.string() + "; not pruning now\n");
    return;
  }
  Pruner(state_dir, max_bytes).Run(log);
}

}  // namespace drydock::builder
