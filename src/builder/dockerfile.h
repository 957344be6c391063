// Dockerfile front end for the native builder: turns Dockerfile text into
// instructions, and expands variables the way Docker's shell lexer does.
//
// Parsing is syntactic plus the argument checks Docker makes before a build
// starts (argument counts, known flags, JSON-only SHELL, ...); nothing here is
// expanded except by the explicit Expand*/ParseKeyValues helpers, because the
// values depend on the build stage's ARG/ENV state at dispatch time.
// A little stricter than Docker, which defers these to dispatch or ignores
// them: ONBUILD triggers are checked like top-level instructions, unknown
// flags are errors on every instruction (ARG and STOPSIGNAL too), and RUN
// needs a command.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"

namespace drydock::builder {

struct Heredoc {
  std::string name;         // the delimiter with quotes removed: EOF for <<"EOF"
  std::string content;      // body lines with their line endings; leading tabs already gone for <<-
  bool expand = true;       // false when the delimiter was quoted: the body is taken literally
  bool strip_tabs = false;  // <<-
};

struct Flag {
  std::string name;        // "--from=builder" -> "from"
  std::string value;       // "builder"; quotes and escapes removed
  bool has_value = false;  // false for a bare "--link", true for "--link=" and "--link=true"
};

struct Instruction {
  // Upper-cased: FROM RUN CMD LABEL MAINTAINER EXPOSE ENV ADD COPY ENTRYPOINT
  // VOLUME USER WORKDIR ARG ONBUILD STOPSIGNAL HEALTHCHECK SHELL.
  std::string keyword;
  std::vector<Flag> flags;  // leading --flags, in order (repeatable ones appear repeatedly)
  std::string raw_args;     // text after keyword and flags, continuations joined, unexpanded
  bool json_form = false;   // exec form: args holds the array elements
  // Exec form: the JSON elements (for HEALTHCHECK: the type, then the elements).
  // Otherwise tokenized as Docker does per instruction, unexpanded:
  //   FROM EXPOSE COPY ADD VOLUME: split at whitespace only (quotes don't group,
  //     as in Docker: paths with spaces need the JSON form);
  //   ENV LABEL ARG: quote-aware words, quotes and escapes kept;
  //   RUN CMD ENTRYPOINT SHELL MAINTAINER USER WORKDIR STOPSIGNAL ONBUILD: one
  //     element, raw_args, since Docker treats the rest of the line as one string;
  //   HEALTHCHECK: the type (CMD/NONE), then the command as for CMD.
  std::vector<std::string> args;
  std::vector<Heredoc> heredocs;         // RUN/COPY/ADD heredocs in order
  std::unique_ptr<Instruction> onbuild;  // ONBUILD: the trigger (which owns its heredocs)
  int line = 0;                          // 1-based line where the instruction starts

  Instruction() = default;
  Instruction(const Instruction& other);
  Instruction& operator=(const Instruction& other);
  Instruction(Instruction&&) noexcept = default;
  Instruction& operator=(Instruction&&) noexcept = default;
  ~Instruction() = default;
};

struct Dockerfile {
  char escape = '\\';  // from `# escape=`; '\\' or '`'
  std::string syntax;  // from `# syntax=`, verbatim
  std::vector<Instruction> instructions;
  std::vector<std::string> warnings;  // "line N: ..."
};

// Errors read "line N: <what is wrong>".
Result<Dockerfile> ParseDockerfile(std::string_view text);

// The value of the last --`name` flag, or nullopt when the flag is absent.
std::optional<std::string> FlagValue(const Instruction& ins, std::string_view name);

// Later entries win.
using Env = std::vector<std::pair<std::string, std::string>>;

// Expands $v, ${v}, ${v:-w}, ${v-w}, ${v:+w}, ${v+w}, ${v:?msg}, ${v?msg},
// ${v#pat} ${v##pat} ${v%pat} ${v%%pat} ${v/pat/rep} ${v//pat/rep}; removes
// quotes and escapes; no splitting (ENV/LABEL/WORKDIR/USER values...).
// Unset variables expand to "".
Result<std::string> ExpandWord(std::string_view word, const Env& env, char escape);
// As ExpandWord, then splits into words like Docker's ProcessWords: unquoted
// whitespace, including whitespace from expansions, separates words. (Current
// BuildKit drops the text before a ${v:-w} inside a word here, a bug of its
// shared word buffer; this keeps it.)
Result<std::vector<std::string>> ExpandWords(std::string_view text, const Env& env, char escape);
// Expands an unquoted-delimiter heredoc body for COPY/ADD as Docker does:
// variables and backslash escapes are processed, quotes are ordinary characters.
Result<std::string> ExpandHeredoc(std::string_view content, const Env& env);

// KEY=VALUE pairs of ENV/LABEL (also the legacy `ENV key value` form) and ARG,
// with keys and values expanded (ARG keys are not: Docker takes them
// literally). All ENV/LABEL values see only `env`, never each other, as in
// Docker; ARG defaults are as in ParseArgDecls, and a bare `ARG name` gives "".
Result<std::vector<std::pair<std::string, std::string>>> ParseKeyValues(const Instruction& ins,
                                                                        const Env& env,
                                                                        char escape);

struct ArgDecl {
  std::string name;
  // Expanded; each default sees `env` plus the defaults before it in the same
  // instruction, as Docker dispatches them in order. Absent for `ARG name`.
  std::optional<std::string> default_value;
  // As written, for builders whose --build-arg overrides change what later
  // defaults see: they expand these themselves, declaration by declaration.
  std::optional<std::string> raw_default;
};
Result<std::vector<ArgDecl>> ParseArgDecls(const Instruction& ins, const Env& env, char escape);

// Names of the variables a string references, in first-use order (for cache
// keys and dependency scanning). Includes names inside ${a:-$b} defaults;
// ignores text in single quotes and escaped dollars.
std::vector<std::string> ReferencedVariables(std::string_view text, char escape);

// The heredoc delimiter a COPY/ADD source word stands for ("<<EOF",
// "<<-'EOF'" -> "EOF"), or nothing when the word is a plain path.
std::optional<std::string> HeredocReference(std::string_view word);

}  // namespace drydock::builder
