// Checkouts kept per (repository, commit, subdir): when one base-image push
// rebuilds twenty tasks of one repository, the source is fetched once and
// each run gets a hard-linked copy (the builder only reads its context).
#include <algorithm>
#include <fstream>
#include <system_error>

#include "base/random.h"
#include "oci/digest.h"
#include "tasks/materialize.h"

namespace drydock::tasks::internal {

namespace fs = std::filesystem;

namespace {

constexpr size_t kMaxEntries = 64;
constexpr const char* kMarker = ".drydock-checkout";  // "<commit>\n<ref>\n<context rel>\n"

struct Entry {
  std::string commit, ref;
  fs::path context_rel;
};

fs::path EntryDir(const fs::path& cache, const std::string& url, const std::string& commit,
                  const std::string& subdir) {
  std::string key = oci::Digest::Of(url + "\n" + commit + "\n" + subdir).hex().substr(0, 32);
  return cache / key;
}

std::optional<Entry> ReadMarker(const fs::path& dir) {
  std::ifstream in(dir / kMarker);
  Entry e;
  std::string rel;
  if (!std::getline(in, e.commit) || !std::getline(in, e.ref) || !std::getline(in, rel))
    return std::nullopt;
  e.context_rel = rel;
  return e;
}

// A tree of hard links to `from` at `to` (created).
bool LinkTree(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::copy(from, to,
           fs::copy_options::recursive | fs::copy_options::create_hard_links |
               fs::copy_options::copy_symlinks,
           ec);
  return !ec;
}

// Keeps the newest kMaxEntries (by last use); a run copying from an entry
// being removed falls back to fetching.
void Evict(const fs::path& cache) {
  std::error_code ec;
  std::vector<std::pair<fs::file_time_type, fs::path>> entries;
  for (const auto& e : fs::directory_iterator(cache, ec)) {
    auto t = fs::last_write_time(e.path() / kMarker, ec);
    if (!ec) entries.emplace_back(t, e.path());
  }
  if (entries.size() <= kMaxEntries) return;
  std::sort(entries.begin(), entries.end());
  for (size_t i = 0; i + kMaxEntries < entries.size(); ++i) fs::remove_all(entries[i].second, ec);
}

}  // namespace

std::optional<FetchedSource> CachedCheckout(const source::GitSource& git, const std::string& commit,
                                            const fs::path& work_dir, const FetchOptions& o) {
  if (o.checkout_cache.empty()) return std::nullopt;
  fs::path dir = EntryDir(o.checkout_cache, git.url, commit, git.subdir);
  auto entry = ReadMarker(dir);
  if (!entry || entry->commit != commit) return std::nullopt;
  if (!LinkTree(dir, work_dir / "git")) {
    std::error_code ec;
    fs::remove_all(work_dir / "git", ec);
    return std::nullopt;
  }
  std::error_code ec;
  fs::remove(work_dir / "git" / kMarker, ec);
  fs::last_write_time(dir / kMarker, fs::file_time_type::clock::now(), ec);
  return FetchedSource{work_dir / "git" / entry->context_rel,
                       SourceInfo{source::RedactUrl(git.url), commit, entry->ref}};
}

void KeepCheckout(const source::GitSource& git, const FetchedSource& fetched,
                  const fs::path& checkout_root, const FetchOptions& o) {
  if (o.checkout_cache.empty()) return;
  std::error_code ec;
  fs::create_directories(o.checkout_cache, ec);
  fs::path dir = EntryDir(o.checkout_cache, git.url, fetched.info.commit, git.subdir);
  if (fs::exists(dir, ec)) return;
  fs::path tmp = o.checkout_cache / (".tmp-" + RandomHex(8));
  if (!LinkTree(checkout_root, tmp)) {
    fs::remove_all(tmp, ec);
    return;
  }
  {
    std::ofstream marker(tmp / kMarker);
    marker << fetched.info.commit << "\n"
           << fetched.info.branch << "\n"
           << fs::relative(fetched.context, checkout_root).string() << "\n";
  }
  fs::rename(tmp, dir, ec);  // another run may have kept the same checkout first
  if (ec) fs::remove_all(tmp, ec);
  Evict(o.checkout_cache);
}

}  // namespace drydock::tasks::internal
