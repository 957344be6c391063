// Build inputs fetched from outside: single files over HTTP(S), git
// repositories and tarballs. The builder uses these for `ADD <url>`; server
// builds will use them for contexts given as git or tarball URLs.
//
// Everything here treats its input as untrusted: downloads are size-limited,
// checkouts and archives can never place (or point) anything outside their
// destination, and credentials never appear in logs or error messages.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "oci/digest.h"

namespace drydock::source {

using LogFn = std::function<void(std::string_view)>;

// ------------------------------------------------------------------ URLs ---

// `url` safe to print: user info ("user:token@") becomes "***@" and the
// values of signature/token query parameters (sig, token, X-Amz-Signature…)
// become "***".
std::string RedactUrl(std::string_view url);
// RedactUrl applied to every "scheme://…" inside free text, such as the
// messages of git or curl.
std::string RedactText(std::string_view text);
// The last component of the URL's path, percent-decoded; "" when there is
// none (or it is "." or ".."). "https://h/a/b.tgz?x=1" -> "b.tgz".
std::string UrlFileName(std::string_view url);

// ---------------------------------------------------------- destinations ---

// Loopback, link-local (cloud metadata services), private (RFC 1918,
// fc00::/7), carrier-grade NAT, multicast, reserved and unspecified
// addresses, IPv4-mapped and NAT64 forms included: what a fetch made for a
// server build may reach only when the server's configuration allows
// (builds.allow_private_fetches). Fetches with allow_private = false refuse
// them with kDenied, naming the address; git remotes are resolved once and
// pinned, so a name cannot resolve to a public address when checked and to
// a private one when used.
bool IsPrivateAddress(const sockaddr* address);

// ------------------------------------------------------------- downloads ---

struct BasicAuth {
  std::string username, password;
};

struct DownloadOptions {
  uint64_t max_bytes = uint64_t{4} << 30;  // bodies over this are refused (kTooLarge)
  // Further attempts after a connection error, a timeout, a 5xx or a 429,
  // waiting backoff, 2×backoff, … between them.
  int retries = 3;
  std::chrono::milliseconds backoff{500};
  std::chrono::seconds timeout{600};  // per attempt
  // At most one of these; sent only to the URL's own host, never after a
  // redirect to another one. Credentials in the URL itself also work.
  std::string bearer_token;
  std::optional<BasicAuth> basic;
  const std::atomic<bool>* cancel = nullptr;
  LogFn log;                  // retries
  bool allow_private = true;  // see IsPrivateAddress; redirects are checked too
};

struct Download {
  oci::Digest digest;  // sha256 of the body
  uint64_t size = 0;
  std::optional<std::time_t> last_modified;  // from Last-Modified
  // From Content-Disposition, else UrlFileName(url), else "index"; always a
  // single safe path component.
  std::string filename;
};

// GETs an http(s) URL (redirects followed, http(s) only) into `dest_file`,
// hashing while streaming. Errors name the redacted URL: 404/410 are
// kNotFound, 401 kUnauthenticated, 403 kDenied, other 4xx kInvalid, 5xx and
// transport failures (after the retries) kUnavailable, an over-limit body
// kTooLarge. On error `dest_file` is removed.
Result<Download> DownloadUrl(const std::string& url, const std::filesystem::path& dest_file,
                             const DownloadOptions& options = {});

// ------------------------------------------------------------------- git ---

// "<url>#<ref>:<subdir>", as Docker writes git build sources.
struct GitSource {
  std::string url;
  std::string ref;     // branch, tag, full commit sha, pull/N/head, …; "" = default branch
  std::string subdir;  // relative, cleaned, no ".."; "" = the repository root
};

// Docker's test: git://…, git@host:…, ssh://…, or an http(s) URL whose path
// ends in ".git" (before any '#fragment'). Deliberately not Docker's
// "github.com/" prefix rule (that is a valid relative path), nor file://.
bool IsGitUrl(std::string_view s);

// Splits "<url>#<ref>:<subdir>" ("repo.git#:sub" names a subdir on the
// default branch). The URL must have a scheme or be scp-like (user@host:path)
// and must not start with '-'; the ref must be a plausible git ref name; the
// subdir may not contain "..". Errors are kInvalid.
Result<GitSource> ParseGitSource(std::string_view s);

struct GitOptions {
  // An access token for http(s) remotes, sent as
  // "Authorization: Basic base64(x-access-token:<token>)" to that host only
  // (also for submodules there). Given to git through its environment, never
  // in argv, the URL or any log line.
  std::string token;
  bool keep_git_dir = false;  // else every .git (also submodules') is removed
  int depth = 1;              // 0 = full history
  bool submodules = true;     // update --init --recursive when .gitmodules exists
  // file:// and local paths read the host's repositories: only for trusted
  // callers (tests), never for Dockerfile input.
  bool allow_file = false;
  // See IsPrivateAddress. When false, http(s) redirects are not followed
  // (git would follow them unchecked) and submodules on other hosts are
  // resolved and checked one level at a time.
  bool allow_private = true;
  std::chrono::seconds timeout{600};  // for the whole fetch
  const std::atomic<bool>* cancel = nullptr;
  LogFn log;  // the git commands run (redacted) and their output
};

struct GitCheckout {
  std::string commit;             // full sha of the checked-out commit
  std::string ref;                // the ref asked for, or the default branch's name
  int64_t commit_time = 0;        // committer time, seconds since the epoch
  std::filesystem::path context;  // dest_dir/subdir, resolved
};

// Fetches `source` into `dest_dir` (created; must be empty) with the git CLI:
// init, a shallow fetch of the ref (falling back to a full fetch when the
// server refuses a commit sha by depth), a detached checkout, submodules.
// Errors: an unknown ref is kNotFound naming the ref; a subdir that is
// missing (kNotFound), not a directory or resolving outside the checkout
// through a symlink (kInvalid) is named; git's own failures are relayed,
// redacted.
Result<GitCheckout> FetchGit(const GitSource& source, const std::filesystem::path& dest_dir,
                             const GitOptions& options = {});

// The commit `branch` points at on the remote (`git ls-remote`): what a
// polling trigger compares. kNotFound when the branch does not exist.
Result<std::string> ResolveGitBranch(const std::string& url, const std::string& branch,
                                     const GitOptions& options = {});

// -------------------------------------------------------------- tarballs ---

// Extracts a tar archive (plain, gzip, zstd, xz, bzip2; detected from the
// content, not the name) into `dest_dir` (created; must be empty). Modes and
// times are kept, owners are not (everything belongs to the caller). Refused
// with an error naming the entry (kInvalid): absolute names, '..'
// components, devices, FIFOs and sockets, hard links leading outside
// `dest_dir`, and entries written through a symlink. Symlinks themselves are
// kept whatever their target (absolute or outside, as Docker keeps them):
// readers must resolve them inside `dest_dir`. More than
// `max_total_bytes` of file contents is kTooLarge. On error `dest_dir` is
// left empty.
Status ExtractTarball(const std::filesystem::path& file, const std::filesystem::path& dest_dir,
                      uint64_t max_total_bytes);

struct TarballOptions {
  DownloadOptions download;                      // download.max_bytes limits the archive itself
  uint64_t max_total_bytes = uint64_t{8} << 30;  // the extracted contents
};

// DownloadUrl into a temporary file next to `dest_dir`, then ExtractTarball.
// Returns what was downloaded (the archive's digest and size).
Result<Download> FetchTarball(const std::string& url, const std::filesystem::path& dest_dir,
                              const TarballOptions& options = {});

}  // namespace drydock::source
