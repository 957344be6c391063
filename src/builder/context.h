// Build context for the native builder: .dockerignore rules, COPY/ADD source
// expansion and the copy itself, with Docker's (BuildKit's) semantics.
//
// Every path operation on the source and destination trees goes through
// openat2(2) with RESOLVE_IN_ROOT, so symlinks resolve as if the tree's root
// were `/`: nothing a tree contains can make us read or write outside it.
// Deliberate differences from Docker are listed where they apply.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace drydock::builder {

// The rules of a .dockerignore file, as moby/patternmatcher applies them:
// lines starting with '#' are comments; surrounding whitespace, a leading
// '/' and trailing slashes are dropped and the pattern is cleaned like Go's
// filepath.Clean; `*` and `?` never match '/'; `**` matches any number of
// directories; '!' re-includes; the last matching rule wins; a rule matching
// a directory also matches everything under it.
// Unlike moby, which compiles patterns to regular expressions, `\x` is always
// the literal x and `*`/`?` inside [...] are literal, as in filepath.Match.
class IgnoreMatcher {
 public:
  // Errors read "line N: <what is wrong>".
  static Result<IgnoreMatcher> Parse(std::string_view text);

  // `rel_path` is slash-separated, relative to the context root. The root
  // itself ("", ".") is never excluded.
  bool Excluded(std::string_view rel_path) const;
  bool empty() const { return rules_.empty(); }
  // Whether any '!' rule exists: only then can something under an excluded
  // directory come back, so only then must excluded directories be walked.
  bool has_exceptions() const;

  // A piece of a pattern compiled at Parse (matched in context_match.cc): a
  // rune, `?`, a class, `*`, `**` before more, `**` at the end.
  struct Token {
    enum Kind { kLiteral, kAnyRune, kClass, kStar, kDirs, kRest } kind;
    std::string text;  // kLiteral: the rune's bytes; kClass: after '[' to ']'
  };

 private:
  struct Rule {
    std::string pattern;  // cleaned, without the '!'
    std::vector<Token> tokens;
    bool exception = false;
    bool literal_suffix = false;  // "**" + literal text: moby matches it as a plain suffix
  };
  // The path or one of its ancestor directories matches the rule.
  bool Matches(const Rule& rule, std::string_view path) const;

  std::vector<Rule> rules_;
};

// Reads `<dockerfile>.dockerignore` when it exists (it wins), else
// `<context_dir>/.dockerignore`, else returns an empty matcher. Errors name
// the file and line.
Result<IgnoreMatcher> LoadIgnore(const std::filesystem::path& context_dir,
                                 const std::filesystem::path& dockerfile);

// Expands one COPY/ADD source relative to `root` (a leading '/' and trailing
// slashes are ignored). Components may use filepath.Match wildcards
// (* ? [...] and \ escapes); matches come in walk order (names sorted byte-wise
// per directory) and name the matched path as written, e.g. "dir/a.txt".
// Excluded paths are dropped, except a directory that still holds a
// re-included ('!') path. Errors (code kNotFound unless noted):
//   no wildcard match:   "no source files were specified" (LineError adds "COPY:")
//   missing or excluded: "file not found in build context: <src>"
//   '..' above the root: "forbidden path outside the build context: <src>" (kInvalid;
//                        Docker silently drops the '..')
//   bad pattern:         "syntax error in pattern: <src>" (kInvalid; Docker matches nothing)
// Symlinks along the path (and a final one) are followed inside `root`.
Result<std::vector<std::string>> ExpandSources(const std::filesystem::path& root,
                                               std::string_view pattern,
                                               const IgnoreMatcher* ignore);

struct CopyOptions {
  // --chown, resolved by the caller. Only uid given: gid = uid (Docker's rule);
  // only gid given: uid 0.
  std::optional<uint32_t> uid, gid;
  // Without --chown everything becomes 0:0 (context sources); COPY --from
  // keeps the source owners, as BuildKit does.
  bool preserve_owner = false;
  std::optional<uint32_t> mode;  // --chmod (octal), for copied files and directories
  // Overrides atime/mtime of everything copied and of created parents
  // (SOURCE_DATE_EPOCH); unset keeps source times.
  std::optional<int64_t> mtime;
  // Applied while walking source directories (context sources only).
  const IgnoreMatcher* ignore = nullptr;
};

// Copies `sources` (relative to `src_root`, as returned by ExpandSources) to
// `dest` inside `dest_root`, which stands for `/`; a relative `dest` is
// relative to `workdir`. Docker's rules:
//  - a directory source copies its contents (merged into existing dirs);
//  - with several sources, or a dest ending in '/' (or "/."), dest is a
//    directory (Docker's legacy builder refuses several sources without the
//    '/', BuildKit overwrites: we make the directory);
//  - otherwise a file source into an existing directory lands as
//    dest/<basename>, else it is written as `dest` itself;
//  - missing parents are created 0755 (BuildKit uses --chmod's mode there),
//    owned by --chown's ids or root;
//  - a source path that is itself a symlink is followed inside src_root
//    (as Docker does); symlinks met while walking are copied as symlinks;
//  - hard links within the copy are preserved; mode, times and xattrs are
//    kept unless overridden; an existing destination directory that receives
//    a directory's contents keeps its own metadata and times;
//  - a directory never replaces a non-directory nor a file a directory (errors);
//    a final dest symlink to a non-directory is replaced, not written through.
Status CopyInto(const std::filesystem::path& src_root, const std::vector<std::string>& sources,
                const std::filesystem::path& dest_root, std::string_view dest,
                std::string_view workdir, const CopyOptions& options);

}  // namespace drydock::builder
