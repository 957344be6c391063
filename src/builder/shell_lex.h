// Docker's shell-like lexer: quote removal, escapes, variable expansion and
// word splitting. Internal to dd_build_parser; the public entry points are in
// dockerfile.h.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "builder/dockerfile.h"

namespace drydock::builder::internal {

struct LexOptions {
  char escape = '\\';
  bool raw_quotes = false;           // keep quote characters in the output
  bool raw_escapes = false;          // keep escape characters in the output
  bool skip_unset = false;           // leave references to unset variables as written
  bool skip_process_quotes = false;  // quotes are ordinary characters (heredoc bodies)
};

struct Lexed {
  std::string word;                // the whole text, processed, unsplit
  std::vector<std::string> words;  // the same split at unquoted whitespace
};

class ShellLexer {
 public:
  ShellLexer(const Env& env, LexOptions options) : env_(env), options_(options) {}

  Result<Lexed> Process(std::string_view text);
  // Every name the last Process looked up, in first-use order, even when it
  // failed part-way (so callers can scan text that is not valid).
  const std::vector<std::string>& lookups() const { return lookups_; }

 private:
  static constexpr int kEof = -1;

  int Peek() const;
  int Next();
  Result<Lexed> ProcessUntil(int stop, bool raw_escapes);
  Result<std::string> SingleQuoted();
  Result<std::string> DoubleQuoted();
  Result<std::string> Dollar();
  Result<std::string> Braced();
  std::string PossibleHeredoc();
  std::string Name();
  std::string RestOfRune(int first);
  const std::string* Lookup(const std::string& name);

  const Env& env_;
  LexOptions options_;
  bool raw_escapes_ = false;
  std::string_view text_;
  size_t pos_ = 0;
  std::vector<std::string> lookups_;
};

}  // namespace drydock::builder::internal
