#include "builder/shell_lex.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace drydock::builder {
namespace internal {
namespace {

// Docker's splitting uses unicode.IsSpace; the ASCII subset is what matters in
// UTF-8 text (the Latin-1 spaces U+0085/U+00A0 are not split on here).
bool IsSpace(int c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}
bool IsDigit(int c) { return c >= '0' && c <= '9'; }
// Docker accepts any Unicode letter or digit in a name; every non-ASCII byte
// counts here, which agrees for letters (the common case) without tables.
bool IsNameChar(int c) {
  return IsDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}
// POSIX special parameters; never set in a Dockerfile but still names.
bool IsSpecialParam(int c) {
  switch (c) {
    case '@':
    case '*':
    case '#':
    case '?':
    case '-':
    case '$':
    case '!':
    case '0':
      return true;
    default:
      return false;
  }
}

// Collects shell words: unquoted whitespace ends a word, while quoted text and
// escaped characters never do. Empty quoted strings produce no word, as in Docker.
class WordSplitter {
 public:
  void AddChar(char c) {
    if (!IsSpace(c)) {
      buf_ += c;
    } else if (!buf_.empty()) {
      words_.push_back(std::move(buf_));
      buf_.clear();
    }
  }
  void AddRaw(std::string_view s) { buf_ += s; }
  void AddString(std::string_view s) {
    for (char c : s) AddChar(c);
  }
  std::vector<std::string> Finish() {
    if (!buf_.empty()) words_.push_back(std::move(buf_));
    buf_.clear();
    return std::move(words_);
  }

 private:
  std::string buf_;
  std::vector<std::string> words_;
};

// Length of the UTF-8 sequence at s[i], so pattern wildcards step over whole
// characters as Go's regexp does. Malformed bytes count as one character.
size_t RuneLen(std::string_view s, size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  size_t n = 1;
  if ((c >> 5) == 0x6) {
    n = 2;
  } else if ((c >> 4) == 0xE) {
    n = 3;
  } else if ((c >> 3) == 0x1E) {
    n = 4;
  }
  return std::min(n, s.size() - i);
}

std::string ReverseRunes(std::string_view s) {
  std::string out(s.size(), '\0');
  size_t end = s.size();
  for (size_t i = 0; i < s.size();) {
    size_t n = RuneLen(s, i);
    out.replace(end - n, n, s.substr(i, n));
    end -= n;
    i += n;
  }
  return out;
}

// Shell pattern of ${v#pat}, ${v%pat} and ${v/pat/rep}: `*`, `?` and literal
// characters (no bracket expressions, like Docker).
struct PatternToken {
  enum Kind { kLiteral, kAnyChar, kStar } kind;
  std::string literal;  // one UTF-8 character for kLiteral
};
using Pattern = std::vector<PatternToken>;

// Backslash escapes in patterns are always '\', whatever the escape directive
// says, because Docker hands the pattern to a regexp converter that only knows '\'.
Result<Pattern> ParsePattern(std::string_view text) {
  Pattern out;
  for (size_t i = 0; i < text.size();) {
    char c = text[i];
    if (c == '*' || c == '?') {
      out.push_back({c == '*' ? PatternToken::kStar : PatternToken::kAnyChar, {}});
      ++i;
      continue;
    }
    if (c == '\\') {
      // \} and \/ only kept ${...} from ending early; the character itself is literal.
      if (i + 1 < text.size() && (text[i + 1] == '}' || text[i + 1] == '/')) {
        ++i;
        continue;
      }
      if (i + 1 >= text.size() ||
          (text[i + 1] != '*' && text[i + 1] != '?' && text[i + 1] != '\\')) {
        std::string bad = i + 1 < text.size() ? std::string(1, text[i + 1]) : "";
        return Invalid("invalid pattern (" + std::string(text) +
                       ") in substitution: invalid escape '\\" + bad + "'");
      }
      ++i;
    }
    size_t n = RuneLen(text, i);
    out.push_back({PatternToken::kLiteral, std::string(text.substr(i, n))});
    i += n;
  }
  return out;
}

// Matches a pattern against prefixes of `s` with the preference order of Go's
// leftmost-first regexps, which Docker compiles patterns to: each `*` tries
// its longest (greedy) or shortest extent first and the first success wins.
// Wildcards never match '\n' (Go's `.`). Results are memoized per (token,
// position) because they do not depend on where the match started.
class PatternMatcher {
 public:
  PatternMatcher(const Pattern& pattern, std::string_view s, bool greedy)
      : pattern_(pattern),
        s_(s),
        greedy_(greedy),
        memo_((pattern.size() + 1) * (s.size() + 1), kUnknown) {}

  // End of the preferred match starting at `start`, if any.
  std::optional<size_t> MatchAt(size_t start) {
    long end = Match(0, start);
    if (end < 0) return std::nullopt;
    return static_cast<size_t>(end);
  }

 private:
  static constexpr long kUnknown = -2;
  static constexpr long kNoMatch = -1;

  long Match(size_t ti, size_t si) {
    if (ti == pattern_.size()) return static_cast<long>(si);
    long& memo = memo_[ti * (s_.size() + 1) + si];
    if (memo != kUnknown) return memo;
    memo = Compute(ti, si);
    return memo;
  }

  long Compute(size_t ti, size_t si) {
    const PatternToken& t = pattern_[ti];
    switch (t.kind) {
      case PatternToken::kLiteral:
        if (s_.substr(si).starts_with(t.literal)) return Match(ti + 1, si + t.literal.size());
        return kNoMatch;
      case PatternToken::kAnyChar:
        if (si < s_.size() && s_[si] != '\n') return Match(ti + 1, si + RuneLen(s_, si));
        return kNoMatch;
      case PatternToken::kStar:
        return Star(ti, si);
    }
    return kNoMatch;
  }

  // A star at `si` prefers extents in order (longest first when greedy), so
  // its result follows from the result one character further on. Filling
  // the memo back to front along the run keeps the whole match linear in
  // tokens times characters, with recursion no deeper than the pattern.
  long Star(size_t ti, size_t si) {
    auto slot = [&](size_t pos) -> long& { return memo_[ti * (s_.size() + 1) + pos]; };
    std::vector<size_t> run = {si};
    while (run.back() < s_.size() && s_[run.back()] != '\n') {
      size_t next = run.back() + RuneLen(s_, run.back());
      if (slot(next) != kUnknown) break;
      run.push_back(next);
    }
    size_t last = run.back();
    bool extends = last < s_.size() && s_[last] != '\n';
    long after = extends ? slot(last + RuneLen(s_, last)) : kNoMatch;
    for (auto it = run.rbegin(); it != run.rend(); ++it) {
      long here = Match(ti + 1, *it);
      long result = greedy_ ? (after >= 0 ? after : here) : (here >= 0 ? here : after);
      slot(*it) = result;
      after = result;
    }
    return after;
  }

  const Pattern& pattern_;
  std::string_view s_;
  bool greedy_;
  std::vector<long> memo_;
};

// Expansions nest (${A//x/${A//y/$A}}), so their results can grow with the
// power of the depth: each word, and the matcher's memo (pattern tokens x
// value bytes), is bounded instead. Found by fuzz/shell_expand (a timeout).
constexpr size_t kMaxExpandedBytes = 1 << 20;
constexpr size_t kMaxMatchCells = 1 << 22;

Status CheckExpandedSize(size_t bytes) {
  if (bytes <= kMaxExpandedBytes) return Status::Ok();
  return Invalid("an expansion is larger than its limit of 1 MiB");
}

Status CheckMatchSize(const Pattern& pattern, std::string_view value) {
  if ((pattern.size() + 1) * (value.size() + 1) <= kMaxMatchCells) return Status::Ok();
  return Invalid("a pattern of " + std::to_string(pattern.size()) + " parts against a value of " +
                 std::to_string(value.size()) + " bytes is beyond the matcher's limit");
}

// ${v#pat} / ${v##pat}: drops the shortest / longest matching prefix.
Result<std::string> TrimPrefix(const Pattern& pattern, std::string_view value, bool greedy) {
  DD_RETURN_IF_ERROR(CheckMatchSize(pattern, value));
  PatternMatcher m(pattern, value, greedy);
  auto end = m.MatchAt(0);
  return std::string(end ? value.substr(*end) : value);
}

// ${v%pat} / ${v%%pat}: a suffix match is a prefix match of both reversed.
Result<std::string> TrimSuffix(const Pattern& pattern, std::string_view value, bool greedy) {
  Pattern reversed(pattern.rbegin(), pattern.rend());
  std::string r = ReverseRunes(value);
  DD_ASSIGN_OR_RETURN(trimmed, TrimPrefix(reversed, r, greedy));
  return ReverseRunes(trimmed);
}

// ${v/pat/rep} and ${v//pat/rep}: leftmost greedy matches, replaced verbatim.
// Empty matches follow Go's ReplaceAllString (never right after a match, and
// the search always advances).
Result<std::string> Replace(const Pattern& pattern, std::string_view value,
                            std::string_view replacement, bool all) {
  DD_RETURN_IF_ERROR(CheckMatchSize(pattern, value));
  PatternMatcher m(pattern, value, /*greedy=*/true);
  std::string out;
  size_t last_end = 0;
  size_t search = 0;
  while (search <= value.size()) {
    std::optional<size_t> start, end;
    for (size_t s = search; s <= value.size(); s += (s < value.size() ? RuneLen(value, s) : 1)) {
      if ((end = m.MatchAt(s))) {
        start = s;
        break;
      }
    }
    if (!start) break;
    out.append(value.substr(last_end, *start - last_end));
    if (*end > last_end || *start == 0) out.append(replacement);
    DD_RETURN_IF_ERROR(CheckExpandedSize(out.size()));
    last_end = *end;
    if (!all) break;
    size_t width = search < value.size() ? RuneLen(value, search) : 1;
    if (search + width > *end) {
      search += width;
    } else if (search + 1 > *end) {
      search += 1;
    } else {
      search = *end;
    }
  }
  out.append(value.substr(std::min(last_end, value.size())));
  return out;
}

// Restores the lexer's raw-escapes mode when a nested scan ends.
class RawEscapesScope {
 public:
  RawEscapesScope(bool* flag, bool value) : flag_(flag), saved_(*flag) { *flag = value; }
  ~RawEscapesScope() { *flag_ = saved_; }
  RawEscapesScope(const RawEscapesScope&) = delete;
  RawEscapesScope& operator=(const RawEscapesScope&) = delete;

 private:
  bool* flag_;
  bool saved_;
};

}  // namespace

Result<Lexed> ShellLexer::Process(std::string_view text) {
  text_ = text;
  pos_ = 0;
  lookups_.clear();
  auto result = ProcessUntil(kEof, options_.raw_escapes);
  if (!result.ok()) {
    return Invalid("failed to process \"" + std::string(text) + "\": " + result.status().message());
  }
  return result;
}

int ShellLexer::Peek() const {
  return pos_ < text_.size() ? static_cast<unsigned char>(text_[pos_]) : kEof;
}

int ShellLexer::Next() {
  int c = Peek();
  if (c != kEof) ++pos_;
  return c;
}

// One (possibly nested) scan up to `stop`, which is consumed; kEof scans the
// rest of the text. Text from expansions is split into words, quoted text is not.
Result<Lexed> ShellLexer::ProcessUntil(int stop, bool raw_escapes) {
  RawEscapesScope scope(&raw_escapes_, raw_escapes);
  std::string result;
  WordSplitter words;
  const int escape = static_cast<unsigned char>(options_.escape);
  while (Peek() != kEof) {
    DD_RETURN_IF_ERROR(CheckExpandedSize(result.size()));
    int c = Peek();
    if (stop != kEof && c == stop) {
      Next();
      return Lexed{std::move(result), words.Finish()};
    }
    if (c == '$') {
      DD_ASSIGN_OR_RETURN(value, Dollar());
      result += value;
      words.AddString(value);
      continue;
    }
    if (c == '<') {
      std::string value = PossibleHeredoc();
      result += value;
      words.AddRaw(value);
      continue;
    }
    if (!options_.skip_process_quotes && (c == '\'' || c == '"')) {
      DD_ASSIGN_OR_RETURN(value, c == '\'' ? SingleQuoted() : DoubleQuoted());
      result += value;
      words.AddRaw(value);
      continue;
    }
    Next();
    if (c == escape) {
      if (raw_escapes_) {
        result += static_cast<char>(c);
        words.AddRaw(std::string(1, static_cast<char>(c)));
      }
      if (Peek() == kEof) break;  // a trailing escape is dropped
      c = Next();
      words.AddRaw(std::string(1, static_cast<char>(c)));
    } else {
      words.AddChar(static_cast<char>(c));
    }
    result += static_cast<char>(c);
  }
  if (stop != kEof) {
    return Invalid(std::string("unexpected end of statement while looking for matching ") +
                   static_cast<char>(stop));
  }
  DD_RETURN_IF_ERROR(CheckExpandedSize(result.size()));
  return Lexed{std::move(result), words.Finish()};
}

// '...': everything literal up to the next single quote; nothing escapes it.
Result<std::string> ShellLexer::SingleQuoted() {
  std::string out;
  int c = Next();
  if (options_.raw_quotes) out += static_cast<char>(c);
  while (true) {
    c = Next();
    if (c == kEof) {
      return Invalid("unexpected end of statement while looking for matching single-quote");
    }
    if (c == '\'') {
      if (options_.raw_quotes) out += static_cast<char>(c);
      return out;
    }
    out += static_cast<char>(c);
  }
}

// "...": expands $, and the escape character only escapes " $ and itself;
// before anything else it stays literal.
Result<std::string> ShellLexer::DoubleQuoted() {
  std::string out;
  int c = Next();
  if (options_.raw_quotes) out += static_cast<char>(c);
  const int escape = static_cast<unsigned char>(options_.escape);
  while (true) {
    c = Peek();
    if (c == kEof) {
      return Invalid("unexpected end of statement while looking for matching double-quote");
    }
    if (c == '"') {
      Next();
      if (options_.raw_quotes) out += static_cast<char>(c);
      return out;
    }
    if (c == '$') {
      DD_ASSIGN_OR_RETURN(value, Dollar());
      out += value;
      continue;
    }
    c = Next();
    if (c == escape) {
      // In raw mode Docker writes the escape here and again below when it
      // escapes nothing; kept so raw scans agree with Docker's.
      if (raw_escapes_) out += static_cast<char>(c);
      int after = Peek();
      if (after == kEof) continue;  // reported as the missing quote
      if (after == '"' || after == '$' || after == escape) c = Next();
    }
    out += static_cast<char>(c);
  }
}

Result<std::string> ShellLexer::Dollar() {
  Next();  // '$'
  if (Peek() != '{') {
    std::string name = Name();
    if (name.empty()) return std::string("$");
    const std::string* value = Lookup(name);
    if (value == nullptr && options_.skip_unset) return "$" + name;
    return value ? *value : std::string();
  }
  Next();  // '{'
  return Braced();
}

// After "${": a name, then '}' or a modifier with its word.
Result<std::string> ShellLexer::Braced() {
  int c = Peek();
  if (c == kEof) return Invalid("syntax error: missing '}'");
  if (c == '{' || c == '}' || c == ':') return Invalid("syntax error: bad substitution");
  std::string name = Name();
  c = Next();
  if (c == kEof) return Invalid("syntax error: missing '}'");
  if (c == '}') {
    const std::string* value = Lookup(name);
    if (value == nullptr && options_.skip_unset) return "${" + name + "}";
    return value ? *value : std::string();
  }
  std::string op = RestOfRune(c);

  if (c == '/') {
    bool all = Peek() == '/';
    if (all) Next();
    auto pattern = ProcessUntil('/', true);
    if (!pattern.ok()) {
      if (Peek() == kEof) return Invalid("syntax error: missing '/' in ${}");
      return pattern.status();
    }
    auto replacement = ProcessUntil('}', true);
    if (!replacement.ok()) {
      if (Peek() == kEof) return Invalid("syntax error: missing '}'");
      return replacement.status();
    }
    const std::string* value = Lookup(name);
    if (value == nullptr && options_.skip_unset) {
      return "${" + name + "/" + pattern->word + "/" + replacement->word + "}";
    }
    DD_ASSIGN_OR_RETURN(parsed, ParsePattern(pattern->word));
    return Replace(parsed, value ? *value : std::string(), replacement->word, all);
  }

  // ':' makes an empty value count as unset for - + ?; it must be followed by
  // another operator character.
  bool null_is_unset = false;
  if (c == ':') {
    null_is_unset = true;
    c = Next();
    if (c == kEof) return Invalid("syntax error: missing '}'");
    op += RestOfRune(c);
  } else if (c != '+' && c != '-' && c != '?' && c != '#' && c != '%') {
    return Invalid("unsupported modifier (" + op + ") in substitution");
  }
  bool pattern_op = c == '#' || c == '%';
  if (null_is_unset && pattern_op) {
    return Invalid("unsupported modifier (" + op + ") in substitution");
  }
  auto word_or = ProcessUntil('}', pattern_op);
  if (!word_or.ok()) {
    if (Peek() == kEof) return Invalid("syntax error: missing '}'");
    return word_or.status();
  }
  std::string word = std::move(word_or->word);

  const std::string* value = Lookup(name);
  if (value == nullptr && options_.skip_unset) return "${" + name + op + word + "}";
  bool set = value != nullptr;
  bool empty = !set || value->empty();
  switch (c) {
    case '-':
      return (!set || (null_is_unset && empty)) ? word : *value;
    case '+':
      return (!set || (null_is_unset && empty)) ? std::string() : word;
    case '?':
      if (!set) return Invalid(name + ": " + (word.empty() ? "is not allowed to be unset" : word));
      if (null_is_unset && empty) {
        return Invalid(name + ": " + (word.empty() ? "is not allowed to be empty" : word));
      }
      return *value;
    case '#':
    case '%': {
      // A doubled operator (## %%) asks for the longest match.
      bool greedy = !word.empty() && word[0] == c;
      if (greedy) word.erase(0, 1);
      DD_ASSIGN_OR_RETURN(pattern, ParsePattern(word));
      std::string v = set ? *value : std::string();
      return c == '%' ? TrimSuffix(pattern, v, greedy) : TrimPrefix(pattern, v, greedy);
    }
    default:
      return Invalid("unsupported modifier (" + op + ") in substitution");
  }
}

// The character whose first byte was just read, whole, for error messages.
std::string ShellLexer::RestOfRune(int first) {
  std::string out(1, static_cast<char>(first));
  while ((Peek() & 0xC0) == 0x80 && Peek() != kEof) out += static_cast<char>(Next());
  return out;
}

// A variable name: letters, digits and '_'; a leading digit reads digits only
// ($12 is positional parameter 12), and a special parameter is one character.
std::string ShellLexer::Name() {
  std::string name;
  int c = Peek();
  if (IsDigit(c)) {
    while (IsDigit(Peek())) name += static_cast<char>(Next());
    return name;
  }
  if (IsSpecialParam(c)) {
    Next();
    return std::string(1, static_cast<char>(c));
  }
  while (IsNameChar(Peek())) name += static_cast<char>(Next());
  return name;
}

// "<<" keeps the blanks after it, so "<< EOF" stays one word like "<<EOF".
std::string ShellLexer::PossibleHeredoc() {
  Next();
  if (Peek() != '<') return "<";
  Next();
  std::string out = "<<";
  while (Peek() == ' ' || Peek() == '\t' || Peek() == '\r') out += static_cast<char>(Next());
  return out;
}

const std::string* ShellLexer::Lookup(const std::string& name) {
  if (std::find(lookups_.begin(), lookups_.end(), name) == lookups_.end()) {
    lookups_.push_back(name);
  }
  for (auto it = env_.rbegin(); it != env_.rend(); ++it) {
    if (it->first == name) return &it->second;
  }
  return nullptr;
}

}  // namespace internal

Result<std::string> ExpandWord(std::string_view word, const Env& env, char escape) {
  internal::ShellLexer lexer(env, {.escape = escape});
  DD_ASSIGN_OR_RETURN(lexed, lexer.Process(word));
  return std::move(lexed.word);
}

Result<std::vector<std::string>> ExpandWords(std::string_view text, const Env& env, char escape) {
  internal::ShellLexer lexer(env, {.escape = escape});
  DD_ASSIGN_OR_RETURN(lexed, lexer.Process(text));
  return std::move(lexed.words);
}

Result<std::string> ExpandHeredoc(std::string_view content, const Env& env) {
  internal::ShellLexer lexer(env, {.escape = '\\', .skip_process_quotes = true});
  DD_ASSIGN_OR_RETURN(lexed, lexer.Process(content));
  return std::move(lexed.word);
}

std::vector<std::string> ReferencedVariables(std::string_view text, char escape) {
  // Nothing is set, and unset references are left alone, so ${v:?} and bad
  // patterns cannot fail; names are still collected when the text is malformed.
  static const Env kNoEnv;
  internal::ShellLexer lexer(kNoEnv, {.escape = escape, .skip_unset = true});
  (void)lexer.Process(text);
  return lexer.lookups();
}

}  // namespace drydock::builder
