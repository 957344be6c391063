// Git sources through the git CLI: argv vectors only (no shell), a fixed
// environment (no prompts, only network protocols unless local ones are
// allowed, English messages we can recognise), and a token that reaches git
// through GIT_CONFIG_* variables rather than argv, where `ps` would show it.
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <sstream>

#include "base/base64.h"
#include "base/fd.h"
#include "source/internal.h"
#include "source/source.h"

extern char** environ;

namespace drydock::source {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

bool StartsWith(std::string_view s, std::string_view prefix) { return s.rfind(prefix, 0) == 0; }

bool IsHex(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::isdigit(c) || (c >= 'a' && c <= 'f');
  });
}

// user@host:path (scp-like ssh), with no '/' before the ':'.
bool IsScpLike(std::string_view url) {
  auto colon = url.find(':');
  auto at = url.find('@');
  auto slash = url.find('/');
  return at != std::string_view::npos && colon != std::string_view::npos && at < colon &&
         (slash == std::string_view::npos || colon < slash);
}

Status ValidateUrl(std::string_view url) {
  if (url.empty()) return Invalid("git source has no URL");
  if (url[0] == '-') return Invalid("git URL may not start with '-': " + RedactUrl(url));
  if (std::any_of(url.begin(), url.end(), [](unsigned char c) { return c <= ' ' || c == 0x7f; }))
    return Invalid("git URL contains whitespace or control characters: " + RedactUrl(url));
  if (url.find("://") == std::string_view::npos && !IsScpLike(url))
    return Invalid("not a git URL (no scheme): " + RedactUrl(url));
  if (StartsWith(url, "ext::") || StartsWith(url, "fd::"))
    return Invalid("git transport not allowed: " + RedactUrl(url));
  return Status::Ok();
}

// The rules of git check-ref-format that matter for passing it on argv.
Status ValidateRef(std::string_view ref) {
  auto bad = [&](const std::string& why) {
    return Invalid("invalid git ref '" + std::string(ref) + "': " + why);
  };
  if (ref.empty()) return Status::Ok();
  if (ref[0] == '-') return bad("starts with '-'");
  if (ref.find("..") != std::string_view::npos || ref.find("//") != std::string_view::npos ||
      ref.find("@{") != std::string_view::npos) {
    return bad("contains '..', '//' or '@{'");
  }
  for (unsigned char c : ref) {
    if (c <= ' ' || c == 0x7f || std::strchr("~^:?*[\\", c))
      return bad("contains a forbidden character");
  }
  if (ref.back() == '/' || ref.back() == '.' || ref.front() == '/') return bad("bad start or end");
  return Status::Ok();
}

// Cleans a subdir: no leading/trailing '/', no "." parts, and no "..".
Result<std::string> CleanSubdir(std::string_view subdir) {
  std::string out;
  std::stringstream parts{std::string(subdir)};
  std::string part;
  while (std::getline(parts, part, '/')) {
    if (part.empty() || part == ".") continue;
    if (part == "..")
      return Invalid("git subdirectory '" + std::string(subdir) + "' contains '..'");
    out += (out.empty() ? "" : "/") + part;
  }
  return out;
}

// "https://user@host:8443/x.git" -> "https://host:8443"; "" when not http(s).
std::string HttpOrigin(std::string_view url) {
  if (!StartsWith(url, "http://") && !StartsWith(url, "https://")) return "";
  size_t authority = url.find("://") + 3;
  size_t end = url.find_first_of("/?#", authority);
  std::string_view host =
      url.substr(authority, end == std::string_view::npos ? end : end - authority);
  if (auto at = host.rfind('@'); at != std::string_view::npos) host = host.substr(at + 1);
  return std::string(url.substr(0, authority)) + std::string(host);
}

// The host (IPv6 in brackets) and port of a network git URL; host "" when
// there is none.
std::pair<std::string, std::string> UrlHostPort(std::string_view url) {
  std::string_view scheme, authority;
  if (auto sep = url.find("://"); sep != std::string_view::npos) {
    scheme = url.substr(0, sep);
    authority = url.substr(sep + 3);
    authority = authority.substr(0, authority.find_first_of("/?#"));
    if (auto at = authority.rfind('@'); at != std::string_view::npos)
      authority = authority.substr(at + 1);
  } else if (IsScpLike(url)) {  // user@host:path
    scheme = "ssh";
    authority = url.substr(url.find('@') + 1);
    size_t end = authority.front() == '[' ? authority.find(']') + 1 : authority.find(':');
    return {std::string(authority.substr(0, end)), "22"};
  }
  std::string port = scheme == "https"  ? "443"
                     : scheme == "http" ? "80"
                     : scheme == "git"  ? "9418"
                                        : "22";
  if (authority.empty()) return {"", port};
  size_t host_end = authority.front() == '[' ? authority.find(']') + 1 : authority.rfind(':');
  if (host_end == 0) return {"", port};  // "[" without "]"
  if (host_end < authority.size() && authority[host_end] == ':')
    port = std::string(authority.substr(host_end + 1));
  return {std::string(authority.substr(0, host_end)), port};
}

bool KeepFromEnvironment(std::string_view var) {
  if (!StartsWith(var, "GIT_")) return !StartsWith(var, "LC_ALL=") && !StartsWith(var, "LANGUAGE=");
  // The caller may pick the ssh command or extra config; nothing that
  // redirects the repository, adds config slots we use, or traces traffic.
  for (std::string_view keep :
       {"GIT_SSH=", "GIT_SSH_COMMAND=", "GIT_SSH_VARIANT=", "GIT_CONFIG_PARAMETERS=",
        "GIT_CONFIG_GLOBAL=", "GIT_CONFIG_NOSYSTEM="}) {
    if (StartsWith(var, keep)) return true;
  }
  return false;
}

// Runs git in one checkout directory, with the environment built once.
class Git {
 public:
  Git(const GitSource& src, const fs::path& dir, const GitOptions& o)
      : src_(src), dir_(dir), o_(o), deadline_(Clock::now() + o.timeout) {
    for (char** e = environ; e && *e; ++e) {
      if (KeepFromEnvironment(*e)) env_.emplace_back(*e);
    }
    env_.emplace_back("LC_ALL=C");
    env_.emplace_back("GIT_TERMINAL_PROMPT=0");
    env_.emplace_back(std::string("GIT_ALLOW_PROTOCOL=http:https:git:ssh") +
                      (o.allow_file ? ":file" : ""));
    if (!std::getenv("GIT_SSH_COMMAND")) env_.emplace_back("GIT_SSH_COMMAND=ssh -o BatchMode=yes");
    std::string origin = HttpOrigin(src.url);
    if (!o.token.empty() && !origin.empty()) {
      header_ = Base64Encode("x-access-token:" + o.token);
      config_.emplace_back("http." + origin + "/.extraHeader", "Authorization: Basic " + header_);
    }
    // git would follow a redirect to any address, unchecked.
    if (!o.allow_private) config_.emplace_back("http.followRedirects", "false");
  }

  // With private destinations refused: checks every address of `url`'s host
  // and, for http(s), pins the host to them (curl's --resolve) for every git
  // process from now on, submodules' included. git:// and ssh:// are
  // checked only: a host that changes its answer between the check and
  // the connection can still reach a private address there.
  Status Pin(const std::string& url) {
    if (o_.allow_private) return Status::Ok();
    auto [host, port] = UrlHostPort(url);
    if (host.empty()) return Invalid("no host in git URL " + RedactUrl(url));
    bool literal_v6 = host.front() == '[';
    std::string name = literal_v6 ? host.substr(1, host.size() - 2) : host;
    DD_ASSIGN_OR_RETURN(addresses, ResolvePublic(name, "git remote " + RedactUrl(url)));
    if (!StartsWith(url, "http://") && !StartsWith(url, "https://")) return Status::Ok();
    // An IPv4 literal pins to itself, harmlessly; an IPv6 one needs no pin.
    if (literal_v6) return Status::Ok();
    std::string resolve = host + ":" + port + ":";
    for (size_t i = 0; i < addresses.size(); ++i) {
      bool v6 = addresses[i].find(':') != std::string::npos;
      resolve += (i ? "," : "") + (v6 ? "[" + addresses[i] + "]" : addresses[i]);
    }
    config_.emplace_back("http.curloptResolve", resolve);
    return Status::Ok();
  }

  // `git <args>` in the checkout; a non-zero exit is in the result, not an error.
  // Bookkeeping commands (quiet) are not logged.
  Result<CommandResult> Run(const std::vector<std::string>& args, bool quiet = false) {
    return RunIn(dir_, args, quiet);
  }

  // Run, in another directory (a submodule's).
  Result<CommandResult> RunIn(const fs::path& dir, const std::vector<std::string>& args,
                              bool quiet = false) {
    std::vector<std::string> argv = {"git", "-C", dir.string(), "-c", "advice.detachedHead=false"};
    argv.insert(argv.end(), args.begin(), args.end());
    std::string shown = "git";
    for (const auto& a : args) shown += " " + RedactUrl(a);
    if (!quiet) Log(shown + "\n");
    // Config through the environment, not argv: `ps` must not show the
    // token, and git hands these on to the git processes it starts.
    std::vector<std::string> env = env_;
    env.push_back("GIT_CONFIG_COUNT=" + std::to_string(config_.size()));
    for (size_t i = 0; i < config_.size(); ++i) {
      env.push_back("GIT_CONFIG_KEY_" + std::to_string(i) + "=" + config_[i].first);
      env.push_back("GIT_CONFIG_VALUE_" + std::to_string(i) + "=" + config_[i].second);
    }
    auto r = RunCommand(argv, env, deadline_, o_.cancel);
    if (!r.ok()) return Status(r.status().code(), "git " + args[0] + ": " + r.status().message());
    r->output = Scrub(r->output);
    if (!quiet && !r->output.empty()) Log(r->output + (r->output.back() == '\n' ? "" : "\n"));
    return r;
  }

  // Run, with a non-zero exit as an error quoting git's output.
  Result<std::string> Check(const std::vector<std::string>& args, bool quiet = false) {
    DD_ASSIGN_OR_RETURN(r, Run(args, quiet));
    if (r.exit_code != 0) return Failure(args[0], r);
    return r.output;
  }

  Status Failure(const std::string& what, const CommandResult& r) const {
    std::string out = r.output;
    while (!out.empty() && std::isspace(static_cast<unsigned char>(out.back()))) out.pop_back();
    if (out.size() > 2000) out = "…" + out.substr(out.size() - 2000);
    return Status(Code::kUnavailable, "git " + what + " " + RedactUrl(src_.url) + " failed (exit " +
                                          std::to_string(r.exit_code) + "): " + out);
  }

 private:
  void Log(const std::string& s) const {
    if (o_.log) o_.log(s);
  }
  // Redacts URLs and, should git ever echo it, the token itself.
  std::string Scrub(const std::string& text) const {
    std::string out = RedactText(text);
    for (const std::string& secret : {o_.token, header_}) {
      if (secret.empty()) continue;
      for (size_t p; (p = out.find(secret)) != std::string::npos;)
        out.replace(p, secret.size(), "***");
    }
    return out;
  }

  const GitSource& src_;
  fs::path dir_;
  const GitOptions& o_;
  Clock::time_point deadline_;
  std::vector<std::string> env_;
  std::vector<std::pair<std::string, std::string>> config_;  // GIT_CONFIG_KEY/VALUE_n
  std::string header_;
};

std::string Trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}

// The remote's default branch name from `ls-remote --symref`, or "".
Result<std::string> DefaultBranch(Git& git) {
  DD_ASSIGN_OR_RETURN(out, git.Check({"ls-remote", "--symref", "origin", "HEAD"}));
  std::stringstream lines(out);
  std::string line;
  while (std::getline(lines, line)) {
    if (!StartsWith(line, "ref: refs/heads/")) continue;
    auto tab = line.find('\t');
    return line.substr(16, tab == std::string::npos ? std::string::npos : tab - 16);
  }
  return std::string();
}

// A commit sha (or an abbreviation) the server would not give us by name:
// fetch the branches and tags in full, then look for it.
Result<std::string> FetchCommitInFull(Git& git, const GitSource& src) {
  DD_RETURN_IF_ERROR(git.Check({"fetch", "--no-tags", "origin",
                                "+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"})
                         .status());
  DD_ASSIGN_OR_RETURN(r,
                      git.Run({"rev-parse", "--verify", "--quiet", src.ref + "^{commit}"}, true));
  if (r.exit_code != 0)
    return NotFound("git commit '" + src.ref + "' not found in " + RedactUrl(src.url));
  return Trim(r.output);
}

// Fetches what `ref` names; returns what to check out.
Result<std::string> FetchRef(Git& git, const GitSource& src, const GitOptions& o,
                             const std::string& ref) {
  std::vector<std::string> shallow = {"fetch", "--no-tags"};
  if (o.depth > 0) {
    shallow.push_back("--depth");
    shallow.push_back(std::to_string(o.depth));
  }
  shallow.push_back("origin");
  shallow.push_back(ref);
  DD_ASSIGN_OR_RETURN(r, git.Run(shallow));
  if (r.exit_code == 0) return std::string("FETCH_HEAD");
  // Servers without uploadpack.allowAnySHA1InWant refuse an unadvertised sha.
  if (IsHex(ref) && ref.size() >= 7) return FetchCommitInFull(git, src);
  if (r.output.find("couldn't find remote ref") != std::string::npos)
    return NotFound("git ref '" + ref + "' not found in " + RedactUrl(src.url));
  if (o.depth <= 0) return git.Failure("fetch", r);
  // Dumb HTTP servers cannot do shallow fetches.
  DD_ASSIGN_OR_RETURN(full, git.Run({"fetch", "--no-tags", "origin", ref}));
  if (full.exit_code != 0) return git.Failure("fetch", full);
  return std::string("FETCH_HEAD");
}

// `git submodule update --init` in `dir`, shallow first when asked: a
// submodule pinned below its branch tip cannot always be fetched shallow.
Status SubmoduleUpdate(Git& git, const fs::path& dir, const GitOptions& o, bool recursive) {
  std::vector<std::string> args = {"submodule", "update", "--init"};
  if (recursive) args.push_back("--recursive");
  if (o.depth > 0) {
    auto shallow = args;
    shallow.push_back("--depth");
    shallow.push_back(std::to_string(o.depth));
    DD_ASSIGN_OR_RETURN(r, git.RunIn(dir, shallow));
    if (r.exit_code == 0) return Status::Ok();
  }
  DD_ASSIGN_OR_RETURN(r, git.RunIn(dir, args));
  return r.exit_code == 0 ? Status::Ok() : git.Failure("submodule update", r);
}

// `git config -f .gitmodules` values of submodule.*.<key> in `dir`.
Result<std::vector<std::string>> SubmoduleValues(Git& git, const fs::path& dir,
                                                 const std::string& key) {
  DD_ASSIGN_OR_RETURN(
      r, git.RunIn(
             dir, {"config", "-f", ".gitmodules", "--get-regexp", "^submodule\\..*\\." + key + "$"},
             true));
  std::vector<std::string> out;
  std::stringstream lines(r.output);
  for (std::string line; std::getline(lines, line);) {
    if (auto space = line.find(' '); space != std::string::npos)
      out.push_back(line.substr(space + 1));
  }
  return out;
}

// Private destinations refused: one level at a time, so that every
// submodule's host is checked (and pinned) before git fetches from it.
Status UpdateSubmodulesChecked(Git& git, const fs::path& dir, const GitOptions& o, int level) {
  std::error_code ec;
  if (!fs::exists(dir / ".gitmodules", ec)) return Status::Ok();
  if (level >= 8) return Invalid("git submodules are nested more than 8 levels deep");
  DD_ASSIGN_OR_RETURN(urls, SubmoduleValues(git, dir, "url"));
  for (const auto& url : urls) {
    // ./ and ../ are relative to the superproject's remote: a host checked already.
    if (!StartsWith(url, "./") && !StartsWith(url, "../")) DD_RETURN_IF_ERROR(git.Pin(url));
  }
  DD_RETURN_IF_ERROR(SubmoduleUpdate(git, dir, o, false));
  DD_ASSIGN_OR_RETURN(paths, SubmoduleValues(git, dir, "path"));
  fs::path root = fs::canonical(dir, ec);
  for (const auto& p : paths) {
    fs::path sub = fs::canonical(dir / p, ec);
    if (ec || !IsWithin(sub, root)) continue;  // git refuses such paths itself
    DD_RETURN_IF_ERROR(UpdateSubmodulesChecked(git, sub, o, level + 1));
  }
  return Status::Ok();
}

Status UpdateSubmodules(Git& git, const fs::path& dir, const GitOptions& o) {
  std::error_code ec;
  if (!o.submodules || !fs::exists(dir / ".gitmodules", ec)) return Status::Ok();
  if (!o.allow_private) return UpdateSubmodulesChecked(git, dir, o, 0);
  return SubmoduleUpdate(git, dir, o, true);
}

// The subdir inside the checkout, every symlink resolved and checked.
Result<fs::path> ResolveSubdir(const fs::path& dir, const std::string& subdir) {
  std::error_code ec;
  fs::path root = fs::canonical(dir, ec);
  if (ec) return Internal("resolve " + dir.string() + ": " + ec.message());
  if (subdir.empty()) return root;
  fs::path real = fs::canonical(root / subdir, ec);
  if (ec) return NotFound("git subdirectory '" + subdir + "' does not exist in the repository");
  if (!IsWithin(real, root))
    return Invalid("git subdirectory '" + subdir + "' resolves outside the repository");
  if (!fs::is_directory(real, ec))
    return Invalid("git subdirectory '" + subdir + "' is not a directory");
  return real;
}

// Every .git below `dir` (the repository's and submodules' gitlink files);
// git never tracks a path named .git, so nothing of the tree goes with them.
void RemoveGitDirs(const fs::path& dir) {
  std::vector<fs::path> found;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->path().filename() == ".git") {
      found.push_back(it->path());
      it.disable_recursion_pending();
    }
  }
  for (const auto& p : found) fs::remove_all(p, ec);
}

Status PrepareDir(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Internal("create " + dir.string() + ": " + ec.message());
  if (!fs::is_empty(dir, ec))
    return Invalid("git checkout directory " + dir.string() + " is not empty");
  return Status::Ok();
}

}  // namespace

bool IsGitUrl(std::string_view s) {
  if (StartsWith(s, "git://") || StartsWith(s, "git@") || StartsWith(s, "ssh://")) return true;
  if (!StartsWith(s, "http://") && !StartsWith(s, "https://")) return false;
  std::string_view url = s.substr(0, s.find('#'));
  return url.size() > 4 && url.substr(url.size() - 4) == ".git";
}

Result<GitSource> ParseGitSource(std::string_view s) {
  GitSource out;
  auto hash = s.find('#');
  out.url = std::string(s.substr(0, hash));
  DD_RETURN_IF_ERROR(ValidateUrl(out.url));
  if (hash == std::string_view::npos) return out;
  std::string_view fragment = s.substr(hash + 1);
  auto colon = fragment.find(':');
  out.ref = std::string(fragment.substr(0, colon));
  DD_RETURN_IF_ERROR(ValidateRef(out.ref));
  if (colon != std::string_view::npos) {
    DD_ASSIGN_OR_RETURN(subdir, CleanSubdir(fragment.substr(colon + 1)));
    out.subdir = subdir;
  }
  return out;
}

Result<GitCheckout> FetchGit(const GitSource& source, const fs::path& dest_dir,
                             const GitOptions& options) {
  DD_RETURN_IF_ERROR(ValidateUrl(source.url));
  DD_RETURN_IF_ERROR(ValidateRef(source.ref));
  DD_ASSIGN_OR_RETURN(subdir, CleanSubdir(source.subdir));
  bool local = StartsWith(source.url, "file://") ||
               (source.url.find("://") == std::string::npos && !IsScpLike(source.url));
  if (local && !options.allow_file) {
    return Invalid("local git repositories are not allowed here: " + RedactUrl(source.url));
  }
  DD_RETURN_IF_ERROR(PrepareDir(dest_dir));
  Git git(source, dest_dir, options);
  DD_RETURN_IF_ERROR(git.Pin(source.url));
  DD_RETURN_IF_ERROR(git.Check({"init", "-q"}, true).status());
  DD_RETURN_IF_ERROR(git.Check({"remote", "add", "origin", source.url}, true).status());
  GitCheckout out;
  out.ref = source.ref;
  if (out.ref.empty()) {
    DD_ASSIGN_OR_RETURN(branch, DefaultBranch(git));
    out.ref = branch.empty() ? "HEAD" : branch;
  }
  DD_ASSIGN_OR_RETURN(target, FetchRef(git, source, options, out.ref));
  DD_RETURN_IF_ERROR(git.Check({"checkout", "-q", "--detach", target}).status());
  DD_ASSIGN_OR_RETURN(head, git.Check({"log", "-1", "--format=%H %ct", "HEAD"}, true));
  std::stringstream fields(head);
  fields >> out.commit >> out.commit_time;
  if (out.commit.empty()) return Internal("git log printed no commit: " + head);
  DD_RETURN_IF_ERROR(UpdateSubmodules(git, dest_dir, options));
  DD_ASSIGN_OR_RETURN(context, ResolveSubdir(dest_dir, subdir));
  out.context = context;
  if (!options.keep_git_dir) RemoveGitDirs(dest_dir);
  return out;
}

Result<std::string> ResolveGitBranch(const std::string& url, const std::string& branch,
                                     const GitOptions& options) {
  DD_RETURN_IF_ERROR(ValidateUrl(url));
  DD_RETURN_IF_ERROR(ValidateRef(branch));
  bool local =
      StartsWith(url, "file://") || (url.find("://") == std::string::npos && !IsScpLike(url));
  if (local && !options.allow_file)
    return Invalid("local git repositories are not allowed here: " + RedactUrl(url));
  // ls-remote needs no repository, but Git runs in a directory of its own.
  TempDir scratch(fs::temp_directory_path(), "drydock-ls-remote");
  GitSource src{url, branch, ""};
  Git git(src, scratch.path(), options);
  DD_RETURN_IF_ERROR(git.Pin(url));
  DD_ASSIGN_OR_RETURN(out, git.Check({"ls-remote", "--", url, "refs/heads/" + branch}, true));
  std::string sha = out.substr(0, out.find_first_of("\t\n"));
  if (sha.empty()) return NotFound("branch '" + branch + "' not found in " + RedactUrl(url));
  return sha;
}

}  // namespace drydock::source
