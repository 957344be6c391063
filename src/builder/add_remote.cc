// ADD of remote sources: http(s) URLs (a file, never unpacked unless
// --unpack) and git repositories (their tree). Each is fetched into the
// step's scratch directory and then placed with CopyInto like a local
// source. Cache keys name what was fetched (the body's digest and
// Last-Modified, or the commit), so a remote change misses the cache; with
// --checksum the key names the checksum instead and a hit fetches nothing.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "base/fd.h"
#include "builder/stage_runner.h"
#include "source/source.h"

namespace drydock::builder {
namespace {

namespace fs = std::filesystem;

bool IsHttpUrl(const std::string& w) {
  return w.rfind("http://", 0) == 0 || w.rfind("https://", 0) == 0;
}

// A boolean flag given bare (--keep-git-dir) or as --keep-git-dir=true.
bool FlagIsTrue(const Instruction& ins, std::string_view name) {
  auto v = FlagValue(ins, name);
  return v && (v->empty() || *v == "true");
}

// Fetch output under the step's log line: every line indented.
std::string Indent(std::string_view text) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    size_t nl = text.find('\n', i);
    size_t end = nl == std::string_view::npos ? text.size() : nl + 1;
    out += "  ";
    out.append(text.substr(i, end - i));
    i = end;
  }
  if (!out.empty() && out.back() != '\n') out += '\n';
  return out;
}

// One remote source, fetched: CopyInto copies `name` from `root`.
struct Fetched {
  fs::path root;
  std::string name;
  std::string identity;  // for the cache key
};

struct FetchContext {
  const std::optional<std::string>& checksum;
  bool keep_git_dir;
  const std::atomic<bool>* cancel;
  const source::LogFn& log;
  bool allow_private;
};

Result<oci::Digest> FileDigest(const fs::path& file, oci::Algorithm alg) {
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return Internal("open " + file.string() + ": " + std::strerror(errno));
  oci::Hasher h(alg);
  std::vector<char> buf(1 << 16);
  ssize_t n;
  while ((n = ::read(fd.get(), buf.data(), buf.size())) > 0)
    h.Update(buf.data(), static_cast<size_t>(n));
  if (n < 0) return Internal("read " + file.string() + ": " + std::strerror(errno));
  return h.Peek();
}

Status VerifyChecksum(const std::string& url, const fs::path& file, const source::Download& d,
                      const std::string& expected) {
  auto want = oci::Digest::Parse(expected);
  if (!want.ok())
    return Invalid("--checksum must be sha256:<hex> or sha512:<hex>, not '" + expected + "'");
  oci::Digest got = d.digest;
  if (want->algorithm() != got.algorithm()) {
    DD_ASSIGN_OR_RETURN(other, FileDigest(file, want->algorithm()));
    got = other;
  }
  if (got != *want) {
    return Invalid("checksum mismatch for " + source::RedactUrl(url) + ": expected " + want->str() +
                   ", got " + got.str());
  }
  return Status::Ok();
}

// Downloads to dir/<name from the URL path> (BuildKit's __unnamed__ when
// the path has none), then gives it Docker's remote-file metadata: mode 0600
// and the server's Last-Modified time (the epoch without one, as BuildKit).
Result<Fetched> FetchUrl(const std::string& url, const fs::path& dir, const FetchContext& c) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Internal("create " + dir.string() + ": " + ec.message());
  std::string name = source::UrlFileName(url);
  if (name.empty()) name = "__unnamed__";
  fs::path file = dir / name;
  c.log("  downloading " + source::RedactUrl(url) + "\n");
  source::DownloadOptions o;
  o.allow_private = c.allow_private;
  o.cancel = c.cancel;
  o.log = [&](std::string_view s) { c.log(Indent(s)); };
  DD_ASSIGN_OR_RETURN(d, source::DownloadUrl(url, file, o));
  if (c.checksum) DD_RETURN_IF_ERROR(VerifyChecksum(url, file, d, *c.checksum));
  c.log("  " + d.digest.str() + " (" + std::to_string(d.size) + " bytes)\n");
  std::time_t mtime = d.last_modified.value_or(0);
  timespec times[2] = {{mtime, 0}, {mtime, 0}};
  if (::chmod(file.c_str(), 0600) != 0 || ::utimensat(AT_FDCWD, file.c_str(), times, 0) != 0)
    return Internal("set metadata of " + file.string() + ": " + std::strerror(errno));
  return Fetched{dir, name, "url " + d.digest.str() + " " + std::to_string(mtime)};
}

// Clones into `dir`; the tree to copy is the repository root or its subdir.
Result<Fetched> FetchRepo(const std::string& spec, const fs::path& dir, const FetchContext& c) {
  DD_ASSIGN_OR_RETURN(src, source::ParseGitSource(spec));
  if (c.checksum && (c.checksum->size() < 40 || c.checksum->find(':') != std::string::npos))
    return Invalid("--checksum of a git source must be the full commit sha");
  source::GitOptions o;
  o.allow_private = c.allow_private;
  o.keep_git_dir = c.keep_git_dir;
  o.cancel = c.cancel;
  o.log = [&](std::string_view s) { c.log(Indent(s)); };
  DD_ASSIGN_OR_RETURN(checkout, source::FetchGit(src, dir, o));
  if (c.checksum && *c.checksum != checkout.commit) {
    return Invalid("checksum mismatch for " + source::RedactUrl(src.url) + ": expected commit " +
                   *c.checksum + ", got " + checkout.commit);
  }
  c.log("  " + source::RedactUrl(src.url) + " " + checkout.ref + " is " + checkout.commit + "\n");
  return Fetched{checkout.context, ".", "git " + checkout.commit};
}

}  // namespace

bool StageRunner::IsRemoteSource(const std::string& word) {
  return IsHttpUrl(word) || source::IsGitUrl(word);
}

Status StageRunner::AddRemote(StageState& st, const Instruction& ins, const Env& env,
                              const std::vector<std::string>& words, const std::string& dest,
                              const fs::path& scratch) {
  std::vector<std::string> remote, local;
  for (const auto& w : words) {
    if (HeredocReference(w)) return LineError(ins, "cannot mix heredocs and remote sources");
    if (IsRemoteSource(w)) {
      remote.push_back(w);
      continue;
    }
    auto expanded = ExpandSources(o_.context_dir, w, &ignore_);
    if (!expanded.ok()) return LineError(ins, expanded.status().message());
    local.insert(local.end(), expanded->begin(), expanded->end());
  }
  std::optional<std::string> checksum;
  if (auto c = FlagValue(ins, "checksum")) {
    auto expanded = ExpandWord(*c, env, df_.escape);
    checksum = expanded.ok() ? *expanded : *c;
    if (remote.size() != 1 || !local.empty())
      return LineError(ins, "--checksum needs exactly one source, a URL or git repository");
  }
  bool link = FlagIsTrue(ins, "link");
  std::string flags;
  for (const auto& f : ins.flags) flags += f.name + "=" + f.value + ";";
  std::string content = "\nADD " + flags + json(words).dump() + " " + dest + " " +
                        SourcesDigest(o_.context_dir, local, &ignore_) + " " +
                        st.config["config"].value("WorkingDir", "");
  // As CopyStep: a --link layer's key leaves out the layers below it.
  std::string parent = st.cache_key;
  auto claim_key = [&](const std::string& what) {
    std::string key = link ? Hex("link" + content + what) : Hex(parent + content + what);
    st.cache_key = link ? Hex(parent + key) : key;
    return key;
  };
  // What provenance names: each input by the digest it had (a git commit is sha1).
  auto record = [&](const std::string& src, std::string digest) {
    if (source::IsGitUrl(src) && digest.find(':') == std::string::npos) digest = "sha1:" + digest;
    RecordInput({source::RedactUrl(src), digest});
  };
  std::string key;
  if (checksum) {
    key = claim_key("\nchecksum " + *checksum);
    if (UseCache(st, ins, key)) {
      record(remote[0], *checksum);
      return Status::Ok();
    }
  }

  source::LogFn log = [this](std::string_view s) { Log(std::string(s)); };
  FetchContext fc{checksum, FlagIsTrue(ins, "keep-git-dir"), o_.cancel, log,
                  o_.allow_private_fetches};
  std::vector<Fetched> fetched;
  std::string identities;
  for (size_t i = 0; i < remote.size(); ++i) {
    fs::path dir = scratch / ("remote-" + std::to_string(i));
    auto f = IsHttpUrl(remote[i]) && !source::IsGitUrl(remote[i]) ? FetchUrl(remote[i], dir, fc)
                                                                  : FetchRepo(remote[i], dir, fc);
    if (!f.ok()) return LineError(ins, f.status().message());
    identities += "\n" + f->identity;
    std::string id = f->identity.substr(f->identity.find(' ') + 1);  // "url D MTIME", "git C"
    record(remote[i], id.substr(0, id.find(' ')));
    fetched.push_back(std::move(*f));
  }
  if (!checksum) {
    key = claim_key(identities);
    if (UseCache(st, ins, key)) return Status::Ok();
  }
  std::vector<std::pair<fs::path, std::string>> trees;
  for (const auto& f : fetched) trees.emplace_back(f.root, f.name);
  return PlaceRemote(st, ins, env, std::move(local), trees, dest, key);
}

Status StageRunner::PlaceRemote(StageState& st, const Instruction& ins, const Env& env,
                                std::vector<std::string> local,
                                const std::vector<std::pair<fs::path, std::string>>& fetched,
                                const std::string& dest, const std::string& key) {
  auto m = StageMount::Create(store_, st.layers);
  if (!m.ok()) return m.status();
  auto co = CopyFlags(ins, (*m)->root(), env);  // --chown names still come from the stage
  if (!co.ok()) return co.status();
  bool link = FlagIsTrue(ins, "link");
  if (link) (*m)->Unmount();
  const fs::path into = link ? (*m)->upper() : (*m)->root();
  std::string workdir = st.config["config"].value("WorkingDir", "/");
  // Sources are copied one root at a time; several of them still make the
  // destination a directory, as one CopyInto of them all would.
  std::string to = dest;
  if (local.size() + fetched.size() > 1 && (to.empty() || to.back() != '/')) to += "/";
  if (!local.empty()) {
    DD_RETURN_IF_ERROR(AddArchives(ins, o_.context_dir, local, into, to, workdir));
    CopyOptions lo = *co;
    lo.ignore = &ignore_;
    if (!local.empty()) {
      Status s = CopyInto(o_.context_dir, local, into, to, workdir, lo);
      if (!s.ok()) return LineError(ins, s.message());
    }
  }
  bool unpack = FlagIsTrue(ins, "unpack");
  for (const auto& [root, name] : fetched) {
    std::vector<std::string> names = {name};
    if (unpack) DD_RETURN_IF_ERROR(AddArchives(ins, root, names, into, to, workdir));
    if (names.empty()) continue;
    Status s = CopyInto(root, names, into, to, workdir, *co);
    if (!s.ok()) return LineError(ins, s.message());
  }
  return Commit(st, **m, ins, key);
}

}  // namespace drydock::builder
