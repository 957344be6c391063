// COPY and ADD: sources from the context, another stage or an image, copied
// (or, for ADD, unpacked) into a scratch overlay of the stage.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

#include "base/fd.h"
#include "builder/config.h"
#include "builder/rootfs.h"
#include "builder/stage_runner.h"

namespace drydock::builder {

namespace fs = std::filesystem;

namespace {
// A boolean flag given bare (--link) or as --link=true.
bool IsTrue(const std::optional<std::string>& v) { return v && (v->empty() || *v == "true"); }
}  // namespace

Result<CopySource> StageRunner::SourceFor(const Instruction& ins, size_t stage) {
  CopySource src;
  std::string from = FlagValue(ins, "from").value_or("");
  if (from.empty()) {
    src.root = o_.context_dir;
    src.ignore = &ignore_;
    src.identity = "context";
    return src;
  }
  auto expanded = ExpandWord(from, plan_.meta_args, df_.escape);
  std::string name = expanded.ok() ? *expanded : from;
  std::vector<LayerRef> layers;
  if (auto idx = FindStage(plan_, name, stage)) {
    // Planning saw every COPY --from in the Dockerfile, not those of ONBUILD triggers.
    const StageState* built = Built(static_cast<size_t>(*idx));
    if (!built) return Invalid("stage " + name + " is not built for this target");
    layers = built->layers;
    src.identity = "stage " + built->cache_key;
  } else {
    auto image = FromImage(name, "");
    if (!image.ok()) return image.status();
    stage_deps_[stage].push_back(*image->root_base);
    layers = image->layers;
    src.identity = "image " + image->root_base->digest;
  }
  auto m = StageMount::Create(store_, layers);
  if (!m.ok()) return m.status();
  src.root = (*m)->root();
  src.mount = std::move(*m);
  return src;
}

// Content checksum of the sources, so a changed file misses the cache.
std::string StageRunner::SourcesDigest(const fs::path& root,
                                       const std::vector<std::string>& sources,
                                       const IgnoreMatcher* ignore) {
  oci::Hasher h;
  std::vector<char> buf(1 << 16);
  auto add_file = [&](const fs::path& p, const std::string& rel) {
    struct stat st;
    if (::lstat(p.c_str(), &st) != 0) return;
    std::string meta =
        rel + " " + std::to_string(st.st_mode) + " " + std::to_string(st.st_size) + "\n";
    h.Update(meta.data(), meta.size());
    if (S_ISLNK(st.st_mode)) {
      std::error_code ec;
      std::string target = fs::read_symlink(p, ec).string();
      h.Update(target.data(), target.size());
    } else if (S_ISREG(st.st_mode)) {
      UniqueFd fd(::open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
      ssize_t n;
      while (fd.valid() && (n = ::read(fd.get(), buf.data(), buf.size())) > 0)
        h.Update(buf.data(), static_cast<size_t>(n));
    }
  };
  for (const auto& s : sources) {
    fs::path p = root / s;
    add_file(p, s);
    std::error_code ec;
    if (!fs::is_directory(fs::symlink_status(p, ec))) continue;
    std::vector<std::pair<std::string, fs::path>> entries;
    for (auto it = fs::recursive_directory_iterator(p, ec);
         it != fs::recursive_directory_iterator(); it.increment(ec)) {
      std::string rel = fs::relative(it->path(), root, ec).string();
      if (ignore && ignore->Excluded(rel)) continue;
      entries.emplace_back(rel, it->path());
    }
    std::sort(entries.begin(), entries.end());
    for (const auto& [rel, path] : entries) add_file(path, rel);
  }
  return h.Peek().hex();
}

Result<CopyOptions> StageRunner::CopyFlags(const Instruction& ins, const fs::path& dest_root,
                                           const Env& env) {
  CopyOptions co;
  co.mtime = o_.source_date_epoch;
  if (auto chown = FlagValue(ins, "chown")) {
    auto expanded = ExpandWord(*chown, env, df_.escape);
    auto ids = ResolveUser(dest_root, expanded.ok() ? *expanded : *chown, UserRule::kOwner);
    if (!ids.ok()) return LineError(ins, "--chown: " + ids.status().message());
    co.uid = ids->uid;
    co.gid = ids->gid;
  }
  if (auto chmod = FlagValue(ins, "chmod")) {
    if (chmod->empty() || chmod->find_first_not_of("01234567") != std::string::npos ||
        chmod->size() > 4) {
      return LineError(ins, "--chmod must be an octal mode, not '" + *chmod + "'");
    }
    co.mode = static_cast<uint32_t>(std::stoul(*chmod, nullptr, 8));
  }
  return co;
}

Status StageRunner::CopyStep(StageState& st, const Instruction& ins, const Env& env, size_t stage) {
  if (ins.args.size() < 2 && ins.heredocs.empty())
    return LineError(ins, "needs a source and a destination");
  std::vector<std::string> words;
  if (ins.json_form) {
    words = ins.args;
  } else {
    for (const auto& a : ins.args) {
      auto w = ExpandWord(a, env, df_.escape);
      if (!w.ok()) return LineError(ins, w.status().message());
      words.push_back(*w);
    }
  }
  std::string dest = words.back();
  words.pop_back();
  auto src = SourceFor(ins, stage);
  if (!src.ok()) return LineError(ins, src.status().message());
  TempDir scratch(store_.scratch(), "copy");
  std::vector<std::string> sources;
  fs::path src_root = src->root;
  bool heredoc_sources = false;
  for (const auto& w : words) {
    if (auto name = HeredocReference(w)) {
      for (const auto& h : ins.heredocs) {
        if (h.name != *name) continue;
        std::string content = h.content;
        if (h.expand) {
          auto e = ExpandHeredoc(h.content, env);
          if (e.ok()) content = *e;
        }
        std::ofstream(scratch.path() / h.name) << content;
        // BuildKit makes these files 0644, whatever the umask.
        std::error_code ec;
        fs::permissions(scratch.path() / h.name, fs::perms(0644), ec);
        if (ec) return LineError(ins, "heredoc " + h.name + ": " + ec.message());
        sources.push_back(h.name);
        heredoc_sources = true;
      }
      continue;
    }
    if (ins.keyword == "ADD" && IsRemoteSource(w)) {
      return AddRemote(st, ins, env, words, dest, scratch.path());
    }
    auto expanded = ExpandSources(src_root, w, src->ignore);
    if (!expanded.ok()) return LineError(ins, expanded.status().message());
    sources.insert(sources.end(), expanded->begin(), expanded->end());
  }
  if (heredoc_sources) {
    if (sources.size() != words.size()) return LineError(ins, "cannot mix heredocs and paths");
    src_root = scratch.path();
  }
  std::string flags;
  for (const auto& f : ins.flags) flags += f.name + "=" + f.value + ";";
  // --link makes a layer that does not depend on the layers below it: its
  // files are copied into an empty directory (no symlink or directory of the
  // base is followed or merged), and its cache key leaves out the parent.
  bool link = IsTrue(FlagValue(ins, "link"));
  std::string content = "\n" + ins.keyword + " " + flags + json(sources).dump() + " " + dest + " " +
                        src->identity + " " +
                        SourcesDigest(src_root, sources, heredoc_sources ? nullptr : src->ignore) +
                        st.config["config"].value("WorkingDir", "");
  std::string key = link ? Hex("link" + content) : Hex(st.cache_key + content);
  st.cache_key = link ? Hex(st.cache_key + key) : key;
  if (UseCache(st, ins, key)) return Status::Ok();
  auto m = StageMount::Create(store_, st.layers);
  if (!m.ok()) return m.status();
  auto co = CopyFlags(ins, (*m)->root(), env);  // --chown names still come from the stage
  if (!co.ok()) return co.status();
  if (link) (*m)->Unmount();
  const fs::path into = link ? (*m)->upper() : (*m)->root();
  co->ignore = heredoc_sources ? nullptr : src->ignore;
  co->preserve_owner = FlagValue(ins, "from").has_value();  // BuildKit keeps owners across stages
  std::string workdir = st.config["config"].value("WorkingDir", "/");
  if (ins.keyword == "ADD" && !heredoc_sources) {
    DD_RETURN_IF_ERROR(AddArchives(ins, src_root, sources, into, dest, workdir));
  }
  if (!sources.empty()) {
    auto s = CopyInto(src_root, sources, into, dest, workdir, *co);
    if (!s.ok()) return LineError(ins, s.message());
  }
  return Commit(st, **m, ins, key);
}

// ADD unpacks local tar archives (any compression) into the destination
// directory; those sources are then removed from the plain-copy list.
Status StageRunner::AddArchives(const Instruction& ins, const fs::path& root,
                                std::vector<std::string>& sources, const fs::path& dest_root,
                                const std::string& dest, const std::string& workdir) {
  std::vector<std::string> plain;
  for (const auto& s : sources) {
    fs::path p = root / s;
    std::error_code ec;
    if (!fs::is_regular_file(fs::symlink_status(p, ec)) || !layer::IsArchive(p)) {
      plain.push_back(s);
      continue;
    }
    std::string target = dest.empty() || dest[0] != '/' ? workdir + "/" + dest : dest;
    DD_RETURN_IF_ERROR(MkdirAllInRoot(dest_root, target, 0, 0));
    auto resolved = ResolveDirInRoot(dest_root, target);
    if (!resolved.ok()) return LineError(ins, resolved.status().message());
    Status x = layer::ApplyLayer(p, *resolved);
    if (!x.ok()) return LineError(ins, "extracting " + s + ": " + x.message());
  }
  sources = plain;
  return Status::Ok();
}

}  // namespace drydock::builder
