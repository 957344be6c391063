#include "builder/dockerfile.h"
#include "base/json.h"

#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "builder/shell_lex.h"

namespace drydock::builder {

Instruction::Instruction(const Instruction& other)
    : keyword(other.keyword),
      flags(other.flags),
      raw_args(other.raw_args),
      json_form(other.json_form),
      args(other.args),
      heredocs(other.heredocs),
      onbuild(other.onbuild ? std::make_unique<Instruction>(*other.onbuild) : nullptr),
      line(other.line) {}

Instruction& Instruction::operator=(const Instruction& other) {
  if (this != &other) *this = Instruction(other);
  return *this;
}

namespace {

constexpr std::string_view kBom = "\xEF\xBB\xBF";

constexpr std::array<std::string_view, 18> kKeywords = {
    "FROM",    "RUN", "CMD",     "LABEL",      "MAINTAINER",  "EXPOSE",
    "ENV",     "ADD", "COPY",    "ENTRYPOINT", "VOLUME",      "USER",
    "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL"};

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}
// What Docker splits a keyword and its words on (no '\n': a logical line has none).
bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r'; }
// `\s` in Go's regexps, used by the directive and heredoc syntax.
bool IsRegexSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

std::string_view TrimLeft(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  return s;
}
std::string_view Trim(std::string_view s) {
  s = TrimLeft(s);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}
std::string_view TrimNewline(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}
std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string At(int line, std::string_view what) {
  return "line " + std::to_string(line) + ": " + std::string(what);
}
Status AtLine(int line, const Status& status) {
  return Status(status.code(), At(line, status.message()));
}

bool IsComment(std::string_view line) {
  line = TrimLeft(line);
  return !line.empty() && line.front() == '#';
}

// The text as lines, each with its terminator.
class Lines {
 public:
  explicit Lines(std::string_view text) : text_(text) {}

  bool Next(std::string_view* line) {
    if (pos_ >= text_.size()) return false;
    size_t nl = text_.find('\n', pos_);
    size_t end = nl == std::string_view::npos ? text_.size() : nl + 1;
    *line = text_.substr(pos_, end - pos_);
    pos_ = end;
    ++number_;
    return true;
  }
  int number() const { return number_; }

 private:
  std::string_view text_;
  size_t pos_ = 0;
  int number_ = 0;
};

// Parser directives (`# escape=`, `# syntax=`, `# check=`) count only in the
// comment lines at the very top: the first line that is not one (an
// instruction, any other comment, even a blank line) ends them for good.
class Directives {
 public:
  // `line` has its newline and leading whitespace removed.
  Status Consider(std::string_view line, Dockerfile* df) {
    if (done_) return Status::Ok();
    std::string_view name, value;
    if (line.empty() || line.front() != '#' || !Match(TrimLeft(line.substr(1)), &name, &value)) {
      done_ = true;
      return Status::Ok();
    }
    std::string key = Lower(name);
    if (key != "syntax" && key != "escape" && key != "check") {
      done_ = true;
      return Status::Ok();
    }
    if (std::find(seen_.begin(), seen_.end(), key) != seen_.end()) {
      return Invalid("only one " + key + " parser directive can be used");
    }
    seen_.push_back(key);
    if (key == "escape") {
      if (value != "`" && value != "\\") {
        return Invalid("invalid escape token '" + std::string(value) + "' does not match ` or \\");
      }
      df->escape = value.front();
    } else if (key == "syntax") {
      df->syntax = std::string(value);
    }
    return Status::Ok();
  }

 private:
  // `name \s* = \s* value`, the value without surrounding blanks. Docker's
  // regexp needs at least one value character, so an all-blank value is its
  // last blank, and an empty one is no directive.
  static bool Match(std::string_view s, std::string_view* name, std::string_view* value) {
    if (s.empty() || !IsAlpha(s.front())) return false;
    size_t i = 1;
    while (i < s.size() && (IsAlpha(s[i]) || IsDigit(s[i]))) ++i;
    *name = s.substr(0, i);
    while (i < s.size() && IsRegexSpace(s[i])) ++i;
    if (i == s.size() || s[i] != '=') return false;
    std::string_view rest = s.substr(i + 1);
    std::string_view v = rest;
    while (!v.empty() && IsRegexSpace(v.front())) v.remove_prefix(1);
    while (!v.empty() && IsRegexSpace(v.back())) v.remove_suffix(1);
    if (v.empty()) {
      if (rest.empty()) return false;
      v = rest.substr(rest.size() - 1);
    }
    *value = v;
    return true;
  }

  bool done_ = false;
  std::vector<std::string> seen_;
};

// The escape character continues a line when it is the last character other
// than spaces and tabs, unless the character before it is another escape
// (so a line ending in "\\" is complete). Removes it; keeps what precedes.
bool TrimContinuation(std::string_view* line, char escape) {
  std::string_view s = *line;
  size_t end = s.size();
  while (end > 0 && (s[end - 1] == ' ' || s[end - 1] == '\t')) --end;
  if (end == 0 || s[end - 1] != escape) return false;
  if (end >= 2 && s[end - 2] == escape) return false;
  *line = s.substr(0, end - 1);
  return true;
}

// Leading "--name[=value]" words, with quotes and escapes removed inside
// them, and the text after them. A bare "--" ends the flags and is dropped.
std::pair<std::vector<std::string>, std::string_view> ExtractFlags(std::string_view line,
                                                                   char escape) {
  std::vector<std::string> words;
  size_t pos = 0;
  while (true) {
    while (pos < line.size() && IsSpace(line[pos])) ++pos;
    if (pos >= line.size()) return {std::move(words), {}};
    if (!line.substr(pos).starts_with("--")) return {std::move(words), line.substr(pos)};
    std::string word;
    char quote = 0;
    for (; pos < line.size(); ++pos) {
      char c = line[pos];
      if (quote == 0 && IsSpace(c)) break;
      if (quote != 0 && c == quote) {
        quote = 0;
        continue;
      }
      if (quote == 0 && (c == '\'' || c == '"')) {
        quote = c;
        continue;
      }
      if (c == escape) {
        if (pos + 1 == line.size()) {
          quote = 0;
          continue;
        }
        c = line[++pos];
      }
      word += c;
    }
    if (word == "--") return {std::move(words), line.substr(pos)};
    words.push_back(std::move(word));
  }
}

Flag ToFlag(std::string_view word) {
  word.remove_prefix(2);  // "--"
  size_t eq = word.find('=');
  if (eq == std::string_view::npos) return {std::string(word), "", false};
  return {std::string(word.substr(0, eq)), std::string(word.substr(eq + 1)), true};
}

// FROM/EXPOSE/COPY/ADD/VOLUME words: split at blanks only; quotes don't group.
std::vector<std::string> SplitBlank(std::string_view s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && IsBlank(s[i])) ++i;
    size_t start = i;
    while (i < s.size() && !IsBlank(s[i])) ++i;
    if (i > start) out.emplace_back(s.substr(start, i - start));
  }
  return out;
}

// ENV/LABEL/ARG words: whitespace outside quotes separates them; quotes and
// escapes stay in the words for expansion to remove later. The escape is not
// special inside single quotes, and a trailing escape is dropped.
std::vector<std::string> QuoteWords(std::string_view s, char escape) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  bool keep_empty = false;  // a quoted "" is still a word
  char quote = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (!in_word) {
      if (IsSpace(c)) continue;
      in_word = true;
    }
    if (quote == 0) {
      if (IsSpace(c)) {
        if (keep_empty || !word.empty()) words.push_back(word);
        word.clear();
        keep_empty = false;
        in_word = false;
        continue;
      }
      if (c == '\'' || c == '"') {
        quote = c;
        keep_empty = true;
      } else if (c == escape) {
        if (i + 1 == s.size()) continue;
        word += c;
        c = s[++i];
      }
      word += c;
      continue;
    }
    if (c == quote) {
      quote = 0;
    } else if (c == escape && quote != '\'') {
      if (i + 1 == s.size()) {
        quote = 0;
        continue;
      }
      word += c;
      c = s[++i];
    }
    word += c;
  }
  if (in_word && (keep_empty || !word.empty())) words.push_back(word);
  return words;
}

// Exec form is a JSON array of strings. Text that does not parse as JSON is
// shell form, as in Docker; a JSON array holding anything but strings is an error.
Result<bool> ParseJsonArray(std::string_view text, std::vector<std::string>* out) {
  text = TrimLeft(text);
  if (!text.starts_with('[')) return false;
  // Not JSON (or absurdly nested): the shell form, as Docker reads it.
  auto parsed_or = ParseJson(text);
  if (!parsed_or.ok() || !parsed_or->is_array()) return false;
  const nlohmann::json& parsed = *parsed_or;
  std::vector<std::string> elements;
  for (const auto& element : parsed) {
    if (!element.is_string()) {
      return Invalid("when using JSON array syntax, arrays must be comprised of strings only");
    }
    elements.push_back(element.get<std::string>());
  }
  *out = std::move(elements);
  return true;
}

// RUN/CMD/ENTRYPOINT/SHELL (and the HEALTHCHECK command): a JSON array, or
// the whole text as one shell command.
Status AddMaybeJson(std::string_view text, Instruction* ins) {
  if (text.empty()) return Status::Ok();
  std::vector<std::string> elements;
  DD_ASSIGN_OR_RETURN(is_json, ParseJsonArray(text, &elements));
  ins->json_form = is_json;
  if (!is_json) elements = {std::string(text)};
  ins->args.insert(ins->args.end(), elements.begin(), elements.end());
  return Status::Ok();
}

// Fills args and json_form from raw_args the way Docker tokenizes each keyword.
Status Tokenize(Instruction* ins, char escape) {
  const std::string& k = ins->keyword;
  std::string_view rest = ins->raw_args;
  if (k == "ADD" || k == "COPY" || k == "VOLUME") {
    DD_ASSIGN_OR_RETURN(is_json, ParseJsonArray(rest, &ins->args));
    ins->json_form = is_json;
    if (!is_json) ins->args = SplitBlank(rest);
  } else if (k == "RUN" || k == "CMD" || k == "ENTRYPOINT" || k == "SHELL") {
    DD_RETURN_IF_ERROR(AddMaybeJson(rest, ins));
  } else if (k == "FROM" || k == "EXPOSE") {
    ins->args = SplitBlank(rest);
  } else if (k == "ENV" || k == "LABEL" || k == "ARG") {
    ins->args = QuoteWords(rest, escape);
  } else if (k == "HEALTHCHECK") {
    size_t sep = 0;
    while (sep < rest.size() && !IsSpace(rest[sep])) ++sep;
    if (sep == 0) return Status::Ok();
    ins->args.emplace_back(rest.substr(0, sep));
    DD_RETURN_IF_ERROR(AddMaybeJson(TrimLeft(rest.substr(sep)), ins));
  } else if (!rest.empty()) {  // MAINTAINER USER WORKDIR STOPSIGNAL ONBUILD
    ins->args.emplace_back(rest);
  }
  return Status::Ok();
}

// One logical line (continuations joined) as an instruction, without heredoc
// bodies, which follow it in the file.
Result<Instruction> ParseLogicalLine(std::string_view line, char escape) {
  std::string_view text = Trim(line);
  size_t end = 0;
  while (end < text.size() && !IsBlank(text[end])) ++end;
  Instruction ins;
  ins.keyword = Upper(text.substr(0, end));
  if (std::find(kKeywords.begin(), kKeywords.end(), ins.keyword) == kKeywords.end()) {
    return Invalid("unknown instruction: " + std::string(text.substr(0, end)));
  }
  auto [flag_words, rest] = ExtractFlags(text.substr(end), escape);
  for (const std::string& word : flag_words) ins.flags.push_back(ToFlag(word));
  ins.raw_args = std::string(Trim(rest));
  DD_RETURN_IF_ERROR(Tokenize(&ins, escape));
  if (ins.keyword == "ONBUILD" && !ins.raw_args.empty()) {
    DD_ASSIGN_OR_RETURN(trigger, ParseLogicalLine(ins.raw_args, escape));
    ins.onbuild = std::make_unique<Instruction>(std::move(trigger));
  }
  return ins;
}

size_t CountQuotes(std::string_view s) {
  return static_cast<size_t>(std::count(s.begin(), s.end(), '\'') +
                             std::count(s.begin(), s.end(), '"'));
}

using MaybeHeredoc = std::optional<Heredoc>;

// A word of the form [fd]<<[-][blanks]delimiter. The delimiter must lex as a
// single shell word; if lexing it removed any quotes, the body is literal.
// Heredoc syntax always uses '\' as its escape, whatever the directive says.
Result<MaybeHeredoc> ParseHeredocWord(std::string_view word) {
  static const Env kNoEnv;
  size_t i = 0;
  while (i < word.size() && IsDigit(word[i])) ++i;
  if (!word.substr(i).starts_with("<<")) return MaybeHeredoc();
  i += 2;
  Heredoc heredoc;
  if (i < word.size() && word[i] == '-') {
    heredoc.strip_tabs = true;
    ++i;
  }
  while (i < word.size() && IsRegexSpace(word[i])) ++i;
  std::string_view delimiter = word.substr(i);
  if (delimiter.empty() || delimiter.find('<') != std::string_view::npos) return MaybeHeredoc();

  internal::ShellLexer plain(kNoEnv, {.escape = '\\', .skip_unset = true});
  DD_ASSIGN_OR_RETURN(unquoted, plain.Process(delimiter));
  if (unquoted.words.size() != 1) return MaybeHeredoc();
  internal::ShellLexer raw(kNoEnv, {.escape = '\\', .raw_quotes = true, .skip_unset = true});
  DD_ASSIGN_OR_RETURN(quoted, raw.Process(delimiter));
  if (quoted.words.size() != 1) {
    return Invalid("inconsistent heredoc delimiter: " + std::string(delimiter));
  }
  heredoc.name = unquoted.words[0];
  heredoc.expand = CountQuotes(heredoc.name) == CountQuotes(quoted.words[0]);
  return MaybeHeredoc(std::move(heredoc));
}

// The heredocs a logical line opens, in order. A line the lexer rejects (an
// unterminated quote, say) opens none, as in Docker.
Result<std::vector<Heredoc>> HeredocsInLine(std::string_view line) {
  static const Env kNoEnv;
  internal::ShellLexer lexer(
      kNoEnv, {.escape = '\\', .raw_quotes = true, .raw_escapes = true, .skip_unset = true});
  auto lexed = lexer.Process(line);
  std::vector<Heredoc> out;
  if (!lexed.ok()) return out;
  for (const std::string& word : lexed->words) {
    DD_ASSIGN_OR_RETURN(heredoc, ParseHeredocWord(word));
    if (heredoc) out.push_back(std::move(*heredoc));
  }
  return out;
}

bool CanHaveHeredocs(const Instruction& ins) {
  return !ins.json_form && (ins.keyword == "RUN" || ins.keyword == "COPY" || ins.keyword == "ADD");
}

// <<- removes leading tabs from every body line.
std::string StripLeadingTabs(std::string_view s) {
  std::string out;
  bool line_start = true;
  for (char c : s) {
    if (line_start && c == '\t') continue;
    line_start = c == '\n';
    out += c;
  }
  return out;
}

// Reads each heredoc body from the lines after the instruction, up to a line
// that is exactly the delimiter (after leading tabs, for <<-).
Status ReadHeredocBodies(Lines* lines, std::vector<Heredoc> heredocs, Instruction* target) {
  for (Heredoc& heredoc : heredocs) {
    std::string content;
    bool terminated = false;
    std::string_view raw;
    while (lines->Next(&raw)) {
      std::string_view candidate = TrimNewline(raw);
      if (heredoc.strip_tabs) {
        while (!candidate.empty() && candidate.front() == '\t') candidate.remove_prefix(1);
      }
      if (candidate == heredoc.name) {
        terminated = true;
        break;
      }
      content += raw;
    }
    if (!terminated) return Invalid("unterminated heredoc " + heredoc.name);
    heredoc.content = heredoc.strip_tabs ? StripLeadingTabs(content) : std::move(content);
    target->heredocs.push_back(std::move(heredoc));
  }
  return Status::Ok();
}

enum class FlagType { kBool, kString, kStrings };  // kStrings may repeat
struct FlagSpec {
  std::string_view name;
  FlagType type;
};

std::vector<FlagSpec> FlagsOf(std::string_view keyword) {
  using enum FlagType;
  if (keyword == "FROM") return {{"platform", kString}};
  if (keyword == "RUN") {
    return {{"mount", kStrings}, {"network", kString}, {"security", kString}, {"device", kStrings}};
  }
  if (keyword == "COPY") {
    return {{"chown", kString}, {"from", kString},     {"chmod", kString},
            {"link", kBool},    {"exclude", kStrings}, {"parents", kBool}};
  }
  if (keyword == "ADD") {
    return {{"chown", kString},      {"chmod", kString},    {"link", kBool},
            {"keep-git-dir", kBool}, {"checksum", kString}, {"unpack", kBool},
            {"exclude", kStrings}};
  }
  if (keyword == "HEALTHCHECK") {
    return {{"interval", kString},
            {"timeout", kString},
            {"start-period", kString},
            {"start-interval", kString},
            {"retries", kString}};
  }
  return {};
}

// Docker's flag rules: known names only, no repeats except list flags,
// string flags need "=value", bool flags take nothing, true or false.
Status CheckFlags(const Instruction& ins) {
  std::vector<FlagSpec> specs = FlagsOf(ins.keyword);
  std::vector<std::string_view> used;
  for (const Flag& flag : ins.flags) {
    auto spec = std::find_if(specs.begin(), specs.end(),
                             [&](const FlagSpec& s) { return s.name == flag.name; });
    std::string dashed = "--" + flag.name;
    if (spec == specs.end()) return Invalid("unknown flag: " + dashed);
    if (spec->type != FlagType::kStrings &&
        std::find(used.begin(), used.end(), flag.name) != used.end()) {
      return Invalid("duplicate flag specified: " + dashed);
    }
    used.push_back(flag.name);
    if (spec->type == FlagType::kBool) {
      if (flag.has_value && flag.value.empty())
        return Invalid("missing a value on flag: " + dashed);
      std::string v = Lower(flag.value);
      if (v != "" && v != "true" && v != "false") {
        return Invalid("expecting boolean value for flag " + dashed + ", not: " + flag.value);
      }
    } else if (!flag.has_value) {
      return Invalid("missing a value on flag: " + dashed);
    }
  }
  return Status::Ok();
}

struct RawPair {
  std::string key;
  std::optional<std::string> value;  // unexpanded; absent for a bare ARG name
};

// ENV/LABEL: all `k=v` words, or the legacy `KEY name value` form when the
// first word has no '='. ARG: `name` or `name=value` words.
Result<std::vector<RawPair>> SplitPairs(const Instruction& ins, char escape) {
  const std::string& k = ins.keyword;
  std::vector<std::string> words = QuoteWords(ins.raw_args, escape);
  if (words.empty()) return Invalid(k + " requires at least one argument");
  std::vector<RawPair> out;
  if (k != "ARG" && words[0].find('=') == std::string::npos) {
    std::string_view rest = ins.raw_args;
    size_t blank = 0;
    while (blank < rest.size() && !IsBlank(rest[blank])) ++blank;
    size_t value = blank;
    while (value < rest.size() && IsBlank(rest[value])) ++value;
    if (blank == rest.size()) return Invalid(k + " must have two arguments");
    out.push_back({std::string(rest.substr(0, blank)), std::string(rest.substr(value))});
    return out;
  }
  for (const std::string& word : words) {
    size_t eq = word.find('=');
    if (eq == std::string::npos) {
      if (k == "ARG") {
        out.push_back({word, std::nullopt});
        continue;
      }
      return Invalid("Syntax error - can't find = in \"" + word +
                     "\". Must be of the form: name=value");
    }
    if (eq == 0) return Invalid(k + " names can not be blank");
    out.push_back({word.substr(0, eq), word.substr(eq + 1)});
  }
  return out;
}

bool ValidStageName(std::string_view name) {
  if (name.empty() || name.front() < 'a' || name.front() > 'z') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || IsDigit(c) || c == '-' || c == '_' || c == '.';
  });
}

// The checks Docker makes on each instruction before building anything.
Status Validate(const Instruction& ins, char escape) {
  const std::string& k = ins.keyword;
  const auto& args = ins.args;
  bool healthcheck_none = k == "HEALTHCHECK" && !args.empty() && Upper(args[0]) == "NONE";
  if (!healthcheck_none) DD_RETURN_IF_ERROR(CheckFlags(ins));  // Docker ignores them for NONE

  if (k == "FROM") {
    if (args.size() == 3 && Lower(args[1]) == "as") {
      if (!ValidStageName(Lower(args[2]))) {
        return Invalid("invalid name for build stage: \"" + args[2] +
                       "\", name can't start with a number or contain symbols");
      }
    } else if (args.size() != 1) {
      return Invalid("FROM requires either one or three arguments");
    }
  } else if (k == "COPY" || k == "ADD") {
    if (args.size() < 2) {
      return Invalid(k + " requires at least two arguments, but only one was provided. " +
                     "Destination could not be determined");
    }
    if (HeredocReference(args.back())) {
      return Invalid(k + " cannot accept a heredoc as a destination");
    }
  } else if (k == "ENV" || k == "LABEL" || k == "ARG") {
    if (auto pairs = SplitPairs(ins, escape); !pairs.ok()) return pairs.status();
  } else if (k == "MAINTAINER" || k == "USER" || k == "WORKDIR" || k == "STOPSIGNAL") {
    if (args.size() != 1) return Invalid(k + " requires exactly one argument");
  } else if (k == "RUN" || k == "EXPOSE" || k == "VOLUME" || k == "SHELL" || k == "ONBUILD" ||
             k == "HEALTHCHECK") {
    if (args.empty()) return Invalid(k + " requires at least one argument");
  }

  if (k == "VOLUME") {
    for (const std::string& v : args) {
      if (Trim(v).empty()) return Invalid("VOLUME specified can not be an empty string");
    }
  } else if (k == "SHELL" && !ins.json_form) {
    return Invalid("SHELL requires the arguments to be in JSON form");
  } else if (k == "HEALTHCHECK") {
    std::string type = Upper(args[0]);
    if (type == "NONE") {
      if (args.size() != 1) return Invalid("HEALTHCHECK NONE takes no arguments");
    } else if (type == "CMD") {
      if (args.size() < 2) return Invalid("Missing command after HEALTHCHECK CMD");
    } else {
      return Invalid("Unknown type \"" + args[0] + "\" in HEALTHCHECK (try CMD)");
    }
  } else if (k == "ONBUILD") {
    const std::string& trigger = ins.onbuild->keyword;
    if (trigger == "ONBUILD") {
      return Invalid("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
    }
    if (trigger == "FROM" || trigger == "MAINTAINER") {
      return Invalid(trigger + " isn't allowed as an ONBUILD trigger");
    }
    return Validate(*ins.onbuild, escape);
  }
  return Status::Ok();
}

}  // namespace

std::optional<std::string> FlagValue(const Instruction& ins, std::string_view name) {
  std::optional<std::string> value;
  for (const auto& f : ins.flags) {
    if (f.name == name) value = f.value;
  }
  return value;
}

Result<Dockerfile> ParseDockerfile(std::string_view text) {
  Dockerfile df;
  if (text.starts_with(kBom)) text.remove_prefix(kBom.size());
  Lines lines(text);
  Directives directives;
  bool seen_from = false;
  std::string_view raw;
  while (lines.Next(&raw)) {
    const int start = lines.number();
    std::string_view first = TrimLeft(TrimNewline(raw));
    if (auto s = directives.Consider(first, &df); !s.ok()) return AtLine(start, s);
    if (IsComment(first)) first = {};
    bool continues = TrimContinuation(&first, df.escape);
    if (!continues && first.empty()) continue;

    // Continuation lines keep their indentation; comment lines inside are
    // dropped, and so are blank ones (which Docker warns will become errors).
    std::string logical(first);
    bool empty_continuation = false;
    while (continues && lines.Next(&raw)) {
      std::string_view next = TrimNewline(raw);
      if (IsComment(next)) continue;
      if (TrimLeft(next).empty()) {
        empty_continuation = true;
        continue;
      }
      continues = TrimContinuation(&next, df.escape);
      logical += next;
    }
    if (empty_continuation) {
      df.warnings.push_back(At(start, "empty continuation line found in: " + logical +
                                          " (empty continuation lines will become errors)"));
    }

    auto parsed = ParseLogicalLine(logical, df.escape);
    if (!parsed.ok()) return AtLine(start, parsed.status());
    Instruction ins = std::move(*parsed);
    ins.line = start;
    if (ins.onbuild) ins.onbuild->line = start;

    Instruction* target = ins.onbuild ? ins.onbuild.get() : &ins;
    if (CanHaveHeredocs(*target) && logical.find("<<") != std::string::npos) {
      auto heredocs = HeredocsInLine(logical);
      if (!heredocs.ok()) return AtLine(start, heredocs.status());
      if (auto s = ReadHeredocBodies(&lines, std::move(*heredocs), target); !s.ok()) {
        return AtLine(start, s);
      }
    }

    if (auto s = Validate(ins, df.escape); !s.ok()) return AtLine(start, s);
    if (ins.keyword == "FROM") {
      seen_from = true;
    } else if (!seen_from && ins.keyword != "ARG") {
      return Invalid(At(start, ins.keyword + " before the first FROM: only ARG may precede it"));
    }
    df.instructions.push_back(std::move(ins));
  }
  if (df.instructions.empty()) {
    return Invalid(At(std::max(lines.number(), 1), "file with no instructions"));
  }
  return df;
}

Result<std::vector<std::pair<std::string, std::string>>> ParseKeyValues(const Instruction& ins,
                                                                        const Env& env,
                                                                        char escape) {
  std::vector<std::pair<std::string, std::string>> out;
  if (ins.keyword == "ARG") {
    DD_ASSIGN_OR_RETURN(decls, ParseArgDecls(ins, env, escape));
    for (ArgDecl& d : decls) out.emplace_back(std::move(d.name), d.default_value.value_or(""));
    return out;
  }
  if (ins.keyword != "ENV" && ins.keyword != "LABEL") {
    return Invalid(At(ins.line, ins.keyword + " has no key/value pairs"));
  }
  auto pairs = SplitPairs(ins, escape);
  if (!pairs.ok()) return AtLine(ins.line, pairs.status());
  for (const RawPair& p : *pairs) {
    auto key = ExpandWord(p.key, env, escape);
    if (!key.ok()) return AtLine(ins.line, key.status());
    auto value = ExpandWord(*p.value, env, escape);
    if (!value.ok()) return AtLine(ins.line, value.status());
    out.emplace_back(std::move(*key), std::move(*value));
  }
  return out;
}

Result<std::vector<ArgDecl>> ParseArgDecls(const Instruction& ins, const Env& env, char escape) {
  if (ins.keyword != "ARG") return Invalid(At(ins.line, ins.keyword + " is not ARG"));
  auto pairs = SplitPairs(ins, escape);
  if (!pairs.ok()) return AtLine(ins.line, pairs.status());
  // Docker dispatches the declarations one by one, so a default sees the
  // defaults declared before it in the same instruction.
  Env scope = env;
  std::vector<ArgDecl> out;
  for (RawPair& p : *pairs) {
    ArgDecl decl{std::move(p.key), std::nullopt, std::move(p.value)};
    if (decl.raw_default) {
      auto value = ExpandWord(*decl.raw_default, scope, escape);
      if (!value.ok()) return AtLine(ins.line, value.status());
      decl.default_value = std::move(*value);
      scope.emplace_back(decl.name, *decl.default_value);
    }
    out.push_back(std::move(decl));
  }
  return out;
}

std::optional<std::string> HeredocReference(std::string_view word) {
  auto heredoc = ParseHeredocWord(word);
  if (!heredoc.ok() || !*heredoc) return std::nullopt;
  return (*heredoc)->name;
}

}  // namespace drydock::builder
