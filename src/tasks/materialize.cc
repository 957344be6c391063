#include "tasks/materialize.h"

#include <algorithm>
#include <system_error>

namespace drydock::tasks::internal {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kUploadPrefix = "context:";
constexpr std::string_view kOciPrefix = "oci://";

bool IsHttp(std::string_view s) { return s.starts_with("http://") || s.starts_with("https://"); }

Status MakeEmptyDir(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Internal("cannot create " + dir.string() + ": " + ec.message());
  return Status::Ok();
}

// Messages from git and downloads, which may end in newlines, as log lines.
std::function<void(std::string_view)> Lines(const FetchOptions& o) {
  return [&o](std::string_view s) {
    while (!s.empty() && s.back() == '\n') s.remove_suffix(1);
    if (!s.empty()) o.log(s);
  };
}

Result<FetchedSource> FetchGitSource(const source::GitSource& git, const fs::path& work_dir,
                                     const FetchOptions& o) {
  source::GitOptions g;
  g.token = o.git_token;
  g.allow_file = o.allow_local_git;
  g.allow_private = o.allow_private;
  g.timeout = o.timeout;
  g.cancel = o.cancel;
  g.log = Lines(o);
  std::string url = source::RedactUrl(git.url);
  o.log("Fetching " + url + (git.ref.empty() ? "" : " at " + git.ref) + "...");
  // Only a branch this run could list with its own credentials may come
  // from (or go to) the cache: a kept private checkout is never handed to
  // someone who cannot read the repository.
  bool listed = false;
  if (!o.checkout_cache.empty() && !git.ref.empty()) {
    auto head = source::ResolveGitBranch(git.url, git.ref, g);
    listed = head.ok();
    if (listed) {
      if (auto cached = CachedCheckout(git, *head, work_dir, o)) {
        o.log("Using the checkout of " + git.ref + " at commit " + *head +
              " kept by an earlier run");
        return *cached;
      }
    }
  }
  auto checkout = source::FetchGit(git, work_dir / "git", g);
  if (!checkout.ok()) return checkout.status();
  o.log("Checked out " + checkout->ref + " at commit " + checkout->commit);
  FetchedSource fetched{checkout->context, SourceInfo{url, checkout->commit, checkout->ref}};
  if (listed) KeepCheckout(git, fetched, work_dir / "git", o);
  return fetched;
}

Result<FetchedSource> FetchTarballSource(const std::string& url, const fs::path& work_dir,
                                         const FetchOptions& o) {
  source::TarballOptions t;
  t.download.max_bytes = o.max_download_bytes;
  t.download.allow_private = o.allow_private;
  t.download.timeout = o.timeout;
  t.download.cancel = o.cancel;
  t.download.log = Lines(o);
  t.max_total_bytes = o.max_extracted_bytes;
  std::string shown = source::RedactUrl(url);
  o.log("Downloading " + shown + "...");
  fs::path context = work_dir / "context";
  auto d = source::FetchTarball(url, context, t);
  if (!d.ok()) return d.status();
  o.log("Downloaded " + std::to_string(d->size) + " bytes, " + d->digest.str());
  return FetchedSource{context, SourceInfo{shown, "", ""}};
}

}  // namespace

Result<SourceSpec> ClassifySource(const std::string& text, bool allow_local_git) {
  SourceSpec spec;
  if (text.empty()) return Invalid("the run has no source");
  if (text == "/dev/null") return spec;
  if (text.starts_with(kUploadPrefix)) {
    spec.kind = SourceKind::kUpload;
    spec.upload_id = text.substr(kUploadPrefix.size());
    return spec;
  }
  if (text.starts_with(kOciPrefix)) {
    auto ref = oci::ParseImageReference(text.substr(kOciPrefix.size()));
    if (!ref.ok()) return Invalid("source " + text + ": " + ref.status().message());
    spec.kind = SourceKind::kOci;
    spec.oci_ref = std::move(*ref);
    return spec;
  }
  if (source::IsGitUrl(text) || (allow_local_git && text.starts_with("file://"))) {
    auto git = source::ParseGitSource(text);
    if (!git.ok()) return git.status();
    spec.kind = SourceKind::kGit;
    spec.git = std::move(*git);
    return spec;
  }
  if (IsHttp(text)) {
    spec.kind = SourceKind::kTarball;
    spec.url = text;
    return spec;
  }
  return Invalid("unsupported source " + source::RedactUrl(text) +
                 ": expected context:<id>, a git URL, an http(s) tarball URL, "
                 "oci://REGISTRY/REPO:TAG or /dev/null");
}

Result<FetchedSource> FetchSource(const SourceSpec& spec, const std::string& text,
                                  const fs::path& work_dir, const FetchOptions& o) {
  fs::path context = work_dir / "context";
  switch (spec.kind) {
    case SourceKind::kNone:
      DD_RETURN_IF_ERROR(MakeEmptyDir(context));
      o.log("No source (/dev/null): the build context is empty");
      return FetchedSource{context, SourceInfo{text, "", ""}};
    case SourceKind::kUpload:
      o.log("Extracting the uploaded build context " + spec.upload_id + "...");
      DD_RETURN_IF_ERROR(source::ExtractTarball(o.upload, context, o.max_extracted_bytes));
      return FetchedSource{context, SourceInfo{text, "", ""}};
    case SourceKind::kGit:
      return FetchGitSource(spec.git, work_dir, o);
    case SourceKind::kTarball:
      return FetchTarballSource(spec.url, work_dir, o);
    case SourceKind::kOci:
      o.log("Pulling " + spec.oci_ref.String() + "...");
      DD_RETURN_IF_ERROR(PullOciContext(spec.oci_ref, context, work_dir / "blobs", o));
      return FetchedSource{context, SourceInfo{text, "", ""}};
  }
  return Internal("unknown source kind");
}

Result<fs::path> FileIn(const fs::path& context, const std::string& dockerfile,
                        const std::string& what) {
  fs::path rel = fs::path(dockerfile).lexically_normal();
  if (dockerfile.empty() || rel.is_absolute() || rel.empty() || *rel.begin() == "..")
    return Invalid("the " + what + " path '" + dockerfile + "' must be relative to the context");
  std::error_code ec;
  fs::path root = fs::canonical(context, ec);
  if (ec) return Internal("cannot resolve the context " + context.string() + ": " + ec.message());
  fs::path resolved = fs::weakly_canonical(root / rel, ec);
  auto [end, unused] = std::mismatch(root.begin(), root.end(), resolved.begin(), resolved.end());
  if (ec || end != root.end())
    return Invalid("the " + what + " '" + dockerfile + "' resolves outside the context");
  if (!fs::is_regular_file(resolved, ec))
    return NotFound("no " + what + " at '" + dockerfile + "' in the source");
  return root / rel;
}

}  // namespace drydock::tasks::internal
