// Pattern matching for the build context: Go's filepath.Match for COPY
// sources and moby/patternmatcher's rules for .dockerignore, plus the
// lexical path helpers both need.
#include <algorithm>
#include <cstdint>
#include <fstream>
#include <optional>
#include <sstream>
#include <system_error>
#include <vector>

#include "builder/context.h"
#include "builder/context_internal.h"

namespace drydock::builder {
namespace internal {
namespace {

constexpr char32_t kRuneError = 0xFFFD;

// Decodes the UTF-8 rune at the front of `s` (non-empty) the way Go does:
// an invalid sequence is kRuneError, one byte long.
size_t DecodeRune(std::string_view s, char32_t& r) {
  auto b = static_cast<unsigned char>(s[0]);
  size_t n = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : (b >> 3) == 0x1E ? 4 : 0;
  if (n == 0 || n > s.size()) {
    r = kRuneError;
    return 1;
  }
  if (n == 1) {
    r = b;
    return 1;
  }
  char32_t v = b & (0x7F >> n);
  for (size_t i = 1; i < n; ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if ((c & 0xC0) != 0x80) {
      r = kRuneError;
      return 1;
    }
    v = (v << 6) | (c & 0x3F);
  }
  // Overlong forms, surrogates and values past U+10FFFF are invalid too.
  static constexpr char32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (v < kMin[n] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
    r = kRuneError;
    return 1;
  }
  r = v;
  return n;
}

// One possibly escaped character of a [...] class; false on bad syntax.
// Like Go, a class character must be followed by something (at least ']').
bool ClassChar(std::string_view& chunk, char32_t& r) {
  if (chunk.empty() || chunk[0] == '-' || chunk[0] == ']') return false;
  if (chunk[0] == '\\') {
    chunk.remove_prefix(1);
    if (chunk.empty()) return false;
  }
  size_t n = DecodeRune(chunk, r);
  if (r == kRuneError && n == 1 && static_cast<unsigned char>(chunk[0]) >= 0x80) return false;
  chunk.remove_prefix(n);
  return !chunk.empty();
}

// Parses the class at the front of `p` (just after its '[') and tests `r`
// against it. Returns false on bad syntax; `p` ends up after the ']'.
bool MatchClass(std::string_view& p, char32_t r, bool& matched) {
  bool negated = !p.empty() && p[0] == '^';
  if (negated) p.remove_prefix(1);
  bool in = false;
  for (int ranges = 0;; ++ranges) {
    if (!p.empty() && p[0] == ']' && ranges > 0) {
      p.remove_prefix(1);
      break;
    }
    char32_t lo, hi;
    if (!ClassChar(p, lo)) return false;
    hi = lo;
    if (p[0] == '-') {
      p.remove_prefix(1);
      if (!ClassChar(p, hi)) return false;
    }
    if (lo <= r && r <= hi) in = true;
  }
  matched = in != negated;
  return true;
}

enum class Outcome { kNoMatch, kMatch, kBad };

// Matches the star-free `chunk` against the front of `s`, leaving the rest
// in `s`. After a mismatch it keeps parsing so bad syntax is still reported.
Outcome MatchChunk(std::string_view chunk, std::string_view& s) {
  bool failed = false;
  while (!chunk.empty()) {
    if (!failed && s.empty()) failed = true;
    switch (chunk[0]) {
      case '[': {
        char32_t r = 0;
        if (!failed) s.remove_prefix(DecodeRune(s, r));
        chunk.remove_prefix(1);
        bool in;
        if (!MatchClass(chunk, r, in)) return Outcome::kBad;
        if (!in) failed = true;
        break;
      }
      case '?':
        if (!failed) {
          if (s[0] == '/') failed = true;
          char32_t r;
          s.remove_prefix(DecodeRune(s, r));
        }
        chunk.remove_prefix(1);
        break;
      case '\\':
        chunk.remove_prefix(1);
        if (chunk.empty()) return Outcome::kBad;
        [[fallthrough]];
      default:
        if (!failed) {
          if (chunk[0] != s[0]) failed = true;
          s.remove_prefix(1);
        }
        chunk.remove_prefix(1);
    }
  }
  return failed ? Outcome::kNoMatch : Outcome::kMatch;
}

// Splits off the next "*...chunk" of `pattern`: leading stars (folded into
// `star`) and the text up to the next star outside a class.
std::string_view ScanChunk(std::string_view& pattern, bool& star) {
  star = false;
  while (!pattern.empty() && pattern[0] == '*') {
    pattern.remove_prefix(1);
    star = true;
  }
  bool in_class = false;
  size_t i = 0;
  for (; i < pattern.size(); ++i) {
    char c = pattern[i];
    if (c == '\\') {
      if (i + 1 < pattern.size()) ++i;
    } else if (c == '[') {
      in_class = true;
    } else if (c == ']') {
      in_class = false;
    } else if (c == '*' && !in_class) {
      break;
    }
  }
  std::string_view chunk = pattern.substr(0, i);
  pattern.remove_prefix(i);
  return chunk;
}

}  // namespace

std::optional<bool> GlobMatch(std::string_view pattern, std::string_view name) {
  while (!pattern.empty()) {
    bool star;
    std::string_view chunk = ScanChunk(pattern, star);
    if (star && chunk.empty()) return name.find('/') == std::string_view::npos;
    std::string_view rest = name;
    Outcome o = MatchChunk(chunk, rest);
    // The last chunk must use up the name; an earlier one may leave the
    // remainder for the chunks after it.
    if (o == Outcome::kMatch && (rest.empty() || !pattern.empty())) {
      name = rest;
      continue;
    }
    if (o == Outcome::kBad) return std::nullopt;
    bool advanced = false;
    if (star) {
      // Let the star swallow 1, 2, ... characters, never a '/'.
      for (size_t i = 0; i < name.size() && name[i] != '/'; ++i) {
        rest = name.substr(i + 1);
        o = MatchChunk(chunk, rest);
        if (o == Outcome::kBad) return std::nullopt;
        if (o == Outcome::kMatch) {
          if (pattern.empty() && !rest.empty()) continue;
          name = rest;
          advanced = true;
          break;
        }
      }
    }
    if (advanced) continue;
    // No match: still report a malformed remainder, as Go does.
    while (!pattern.empty()) {
      std::string_view empty;
      if (MatchChunk(ScanChunk(pattern, star), empty) == Outcome::kBad) return std::nullopt;
    }
    return false;
  }
  return name.empty();
}

bool ContainsWildcards(std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == '*' || s[i] == '?' || s[i] == '[') {
      return true;
    }
  }
  return false;
}

std::vector<std::string_view> SplitPath(std::string_view p) {
  std::vector<std::string_view> parts;
  while (!p.empty()) {
    size_t slash = p.find('/');
    std::string_view part = p.substr(0, slash);
    if (!part.empty()) parts.push_back(part);
    if (slash == std::string_view::npos) break;
    p.remove_prefix(slash + 1);
  }
  return parts;
}

std::string JoinPath(std::string_view a, std::string_view b) {
  if (a.empty() || a == ".") return std::string(b);
  std::string out(a);
  if (out.back() != '/') out += '/';
  out += b;
  return out;
}

std::string CleanPath(std::string_view p) {
  bool rooted = !p.empty() && p[0] == '/';
  std::vector<std::string_view> out;
  for (std::string_view part : SplitPath(p)) {
    if (part == ".") continue;
    if (part == "..") {
      if (!out.empty() && out.back() != "..") {
        out.pop_back();
      } else if (!rooted) {
        out.push_back(part);  // a relative path keeps the '..' it cannot resolve
      }
      continue;
    }
    out.push_back(part);
  }
  std::string s = rooted ? "/" : "";
  for (size_t i = 0; i < out.size(); ++i) {
    if (i > 0) s += '/';
    s += out[i];
  }
  return s.empty() ? "." : s;
}

Result<std::string> CleanSource(std::string_view src) {
  std::string_view rel = src;
  while (!rel.empty() && rel[0] == '/') rel.remove_prefix(1);
  std::string clean = CleanPath(rel);
  if (clean == ".." || clean.starts_with("../")) {
    return Invalid("forbidden path outside the build context: " + std::string(src));
  }
  return clean;
}

}  // namespace internal

namespace {

using internal::CleanPath;

std::string_view TrimSpace(std::string_view s) {
  constexpr std::string_view kSpace = " \t\n\v\f\r";
  size_t b = s.find_first_not_of(kSpace);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(kSpace) - b + 1);
}

// .dockerignore patterns mean what moby's translation into a regular
// expression means: `*` = [^/]*, `?` = one rune but '/', `[...]` = a class,
// `**` at the end = .*, `**` elsewhere (eating a following '/') = (.*/)?.
// They are matched as that expression's NFA, one rune of the path at a time
// over the set of live pattern positions, so the time is at most pattern
// length x path length whatever the stars. (Backtracking took exponential
// time on runs of stars, and still hours once memoized for a pattern of
// 2,800 stars against long paths; both found by fuzz/dockerignore.)
// Runs of `*` or of `**` mean what one does: they collapse, so they cost nothing.
std::optional<std::vector<IgnoreMatcher::Token>> CompilePattern(std::string_view p) {
  using T = IgnoreMatcher::Token;
  std::vector<T> out;
  auto push = [&out](T::Kind k, std::string_view text = {}) {
    bool repeat = !out.empty() && out.back().kind == k && (k == T::kStar || k == T::kDirs);
    if (!repeat) out.push_back({k, std::string(text)});
  };
  while (!p.empty()) {
    char32_t r;
    switch (p[0]) {
      case '*':
        if (p.size() > 1 && p[1] == '*') {
          p.remove_prefix(2);
          if (!p.empty() && p[0] == '/') p.remove_prefix(1);
          push(p.empty() ? T::kRest : T::kDirs);
        } else {
          p.remove_prefix(1);
          push(T::kStar);
        }
        break;
      case '?':
        p.remove_prefix(1);
        push(T::kAnyRune);
        break;
      case '[': {
        p.remove_prefix(1);
        std::string_view rest = p;
        bool in;
        if (!internal::MatchClass(rest, 0, in)) return std::nullopt;
        push(T::kClass, p.substr(0, p.size() - rest.size()));
        p = rest;
        break;
      }
      case '\\':
        p.remove_prefix(1);  // validated at parse time: something follows
        [[fallthrough]];
      default: {
        size_t n = internal::DecodeRune(p, r);
        push(T::kLiteral, p.substr(0, n));
        p.remove_prefix(n);
      }
    }
  }
  return out;
}

// True when `path`, or with `or_ancestor` any of its ancestor directories
// (the path up to one of its slashes), matches the pattern.
bool IgnoreMatch(const std::vector<IgnoreMatcher::Token>& tokens, std::string_view path,
                 bool or_ancestor) {
  using T = IgnoreMatcher::Token;
  const size_t end = tokens.size();
  // live[i]: token i may match next; inside[i]: (.*/)? at i has taken some
  // of its .* and must still end with a '/'.
  std::vector<char> live(end + 1), next(end + 1), inside(end + 1), next_inside(end + 1);
  // Stars and (.*/)? may also match nothing.
  auto close = [&](std::vector<char>& set) {
    for (size_t i = 0; i < end; ++i) {
      T::Kind k = tokens[i].kind;
      if (set[i] && (k == T::kStar || k == T::kDirs || k == T::kRest)) set[i + 1] = 1;
    }
  };
  live[0] = 1;
  close(live);
  while (!path.empty()) {
    if (or_ancestor && path[0] == '/' && live[end]) return true;
    char32_t r;
    std::string_view rune = path.substr(0, internal::DecodeRune(path, r));
    path.remove_prefix(rune.size());
    bool slash = rune == "/";
    std::fill(next.begin(), next.end(), 0);
    std::fill(next_inside.begin(), next_inside.end(), 0);
    bool any = false;
    for (size_t i = 0; i < end; ++i) {
      if (inside[i]) {
        next_inside[i] = 1;
        next[i + 1] |= slash;
      }
      if (!live[i]) continue;
      const T& t = tokens[i];
      bool in = false;
      switch (t.kind) {
        case T::kLiteral:
          next[i + 1] |= rune == t.text;
          break;
        case T::kAnyRune:
          next[i + 1] |= !slash;
          break;
        case T::kClass: {
          std::string_view cls = t.text;
          next[i + 1] |= internal::MatchClass(cls, r, in) && in;
          break;
        }
        case T::kStar:
          next[i] |= !slash;
          break;
        case T::kDirs:
          next_inside[i] = 1;
          next[i + 1] |= slash;
          break;
        case T::kRest:
          next[i] = 1;
          break;
      }
    }
    close(next);
    live.swap(next);
    inside.swap(next_inside);
    for (size_t i = 0; i <= end; ++i) any = any || live[i] || inside[i];
    if (!any) return false;
  }
  return live[end];
}

}  // namespace

Result<IgnoreMatcher> IgnoreMatcher::Parse(std::string_view text) {
  IgnoreMatcher m;
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
  for (int line_no = 1; !text.empty(); ++line_no) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (line.ends_with('\r')) line.remove_suffix(1);
    // Only a '#' in the very first column starts a comment, as in moby.
    if (line.starts_with('#')) continue;
    std::string_view raw = TrimSpace(line);
    if (raw.empty()) continue;
    Rule rule;
    rule.exception = raw[0] == '!';
    if (rule.exception) raw = TrimSpace(raw.substr(1));
    if (raw.empty()) {
      return Invalid("line " + std::to_string(line_no) + ": illegal exclusion pattern: \"!\"");
    }
    rule.pattern = CleanPath(raw);
    if (rule.pattern.size() > 1 && rule.pattern[0] == '/') rule.pattern.erase(0, 1);
    // GlobMatch validates first: CompilePattern trusts that a '\' has something after it.
    std::optional<std::vector<Token>> tokens;
    if (internal::GlobMatch(rule.pattern, ".").has_value()) tokens = CompilePattern(rule.pattern);
    if (!tokens) {
      return Invalid("line " + std::to_string(line_no) +
                     ": syntax error in pattern: " + rule.pattern);
    }
    rule.tokens = std::move(*tokens);
    // moby matches "**" + plain text with a suffix test rather than its
    // regular expression ("**.md" thus matches "a/b.md"); keep that quirk.
    rule.literal_suffix = rule.pattern.starts_with("**") &&
                          rule.pattern.find_first_of("*?[]\\", 2) == std::string::npos;
    m.rules_.push_back(std::move(rule));
  }
  return m;
}

bool IgnoreMatcher::has_exceptions() const {
  for (const Rule& r : rules_) {
    if (r.exception) return true;
  }
  return false;
}

bool IgnoreMatcher::Matches(const Rule& rule, std::string_view path) const {
  if (!rule.literal_suffix) return IgnoreMatch(rule.tokens, path, /*or_ancestor=*/true);
  std::string_view suffix = std::string_view(rule.pattern).substr(2);
  auto hit = [&](std::string_view p) {
    return p.ends_with(suffix) || (suffix.starts_with('/') && p == suffix.substr(1));
  };
  if (hit(path)) return true;
  for (size_t slash = path.find('/'); slash != std::string::npos;
       slash = path.find('/', slash + 1)) {
    if (hit(path.substr(0, slash))) return true;
  }
  return false;
}

bool IgnoreMatcher::Excluded(std::string_view rel_path) const {
  if (rules_.empty()) return false;
  while (rel_path.starts_with('/')) rel_path.remove_prefix(1);
  std::string path = CleanPath(rel_path);
  if (path == ".") return false;
  // Each rule is tested against the path and then each ancestor directory,
  // so "dir" also covers "dir/x". A rule only runs when it could flip the
  // current verdict; the last one that matches decides.
  bool excluded = false;
  for (const Rule& rule : rules_) {
    if (rule.exception != excluded) continue;
    if (Matches(rule, path)) excluded = !rule.exception;
  }
  return excluded;
}

Result<IgnoreMatcher> LoadIgnore(const std::filesystem::path& context_dir,
                                 const std::filesystem::path& dockerfile) {
  std::vector<std::filesystem::path> candidates;
  if (!dockerfile.empty()) candidates.emplace_back(dockerfile.string() + ".dockerignore");
  candidates.push_back(context_dir / ".dockerignore");
  auto within = [](const std::filesystem::path& path, const std::filesystem::path& dir) {
    std::error_code ec;
    auto root = std::filesystem::canonical(dir, ec);
    auto [end, unused] = std::mismatch(root.begin(), root.end(), path.begin(), path.end());
    return !ec && end == root.end();
  };
  for (const auto& file : candidates) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(file, ec)) continue;
    // A symlink may lead anywhere on the host (contexts keep them as they
    // are); its patterns would end up in error messages and logs.
    auto real = std::filesystem::canonical(file, ec);
    if (ec || !(within(real, context_dir) || within(real, file.parent_path())))
      return Invalid(file.filename().string() + " is a symlink leading outside the context");
    std::ifstream in(file, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    if (in.bad()) return Internal("read " + file.string());
    auto matcher = IgnoreMatcher::Parse(text.str());
    if (!matcher.ok()) {
      return Invalid("failed parsing " + file.string() + ": " + matcher.status().message());
    }
    return matcher;
  }
  return IgnoreMatcher{};
}

}  // namespace drydock::builder
