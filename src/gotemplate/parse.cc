// Lexer and parser of the template language, following Go's text/template/parse: the same tokens,
// the same grammar and the same checks (functions exist, variables are declared, {{break}} is
// inside {{range}}), so a template Go rejects is rejected here too, with its line and column.
#include <algorithm>
#include <cstdio>
#include <utility>

#include "gotemplate/internal.h"

namespace drydock::gotemplate::internal {

SourceMap::SourceMap(std::string_view source, std::string_view name)
    : source_(source), name_(name) {
  line_starts_.push_back(0);
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\n') line_starts_.push_back(i + 1);
  }
}

Status SourceMap::Error(Pos pos, std::string_view message) const {
  const size_t offset = std::min(pos, source_.size());
  auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset) - 1;
  int col = 1;
  for (size_t i = *it; i < offset; ++i) {
    col += (static_cast<unsigned char>(source_[i]) & 0xC0) != 0x80;  // count UTF-8 characters
  }
  const auto line = static_cast<int>(it - line_starts_.begin()) + 1;
  return Invalid(name_ + ":" + std::to_string(line) + ":" + std::to_string(col) + ": " +
                 std::string(message));
}

namespace {

// ---- Lexer ----

enum class Tok {
  kText,
  kLeftDelim,
  kRightDelim,
  kSpace,
  kIdentifier,
  kField,
  kVariable,
  kDot,
  kString,
  kRawString,
  kCharConst,
  kNumber,
  kBool,
  kNil,
  kLeftParen,
  kRightParen,
  kPipe,
  kAssign,
  kDeclare,
  kChar,
  kIf,
  kElse,
  kEnd,
  kRange,
  kWith,
  kBreak,
  kContinue,
  kDefine,
  kTemplate,
  kBlock,
  kEOF,
  kError,
};

struct Token {
  Tok kind;
  size_t offset;          // where the token starts in the source
  std::string_view text;  // for kText the text after trimming
  std::string error;      // kError
};

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// Go accepts Unicode letters in names; every non-ASCII byte stands in for one here.
bool IsAlnum(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u >= 0x80 || c == '_' || (c >= '0' && c <= '9') ||
         ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}

std::string DescribeChar(std::string_view s, size_t i) {
  size_t n;
  int32_t r = DecodeRune(s, i, &n);
  if (r < 0) r = static_cast<unsigned char>(s[i]);
  char hex[16];
  std::snprintf(hex, sizeof(hex), "U+%04X", static_cast<unsigned>(r));
  return hex + (" '" + std::string(s.substr(i, n)) + "'");
}

// Turns the whole source into tokens up front; an error becomes a kError token so that the parser
// reports problems in source order, as Go's concurrent lexer does.
class Lexer {
 public:
  explicit Lexer(std::string_view src) : src_(src) {}

  std::vector<Token> Run() {
    while (true) {
      const size_t delim = src_.find("{{", pos_);
      const bool trim_left = delim != std::string_view::npos && HasLeftTrim(delim + 2);
      size_t end = delim == std::string_view::npos ? src_.size() : delim;
      if (trim_left) {
        while (end > pos_ && IsSpace(src_[end - 1])) --end;
      }
      if (end > pos_) Emit(Tok::kText, pos_, end);
      if (delim == std::string_view::npos) {
        Emit(Tok::kEOF, src_.size(), src_.size());
        return std::move(toks_);
      }
      pos_ = delim + 2 + (trim_left ? 2 : 0);
      const bool ok = src_.substr(pos_).starts_with("/*") ? LexComment(delim) : LexAction(delim);
      if (!ok) return std::move(toks_);
    }
  }

 private:
  bool HasLeftTrim(size_t p) const {
    return p + 1 < src_.size() && src_[p] == '-' && IsSpace(src_[p + 1]);
  }

  // "}}" or " -}}" at p.
  bool AtRightDelim(size_t p, bool* trim) const {
    *trim = p + 1 < src_.size() && IsSpace(src_[p]) && src_[p + 1] == '-' &&
            src_.substr(p + 2).starts_with("}}");
    return *trim || src_.substr(p).starts_with("}}");
  }

  // Steps over the right delimiter at pos_ and, after a trim marker, the spaces after it.
  void SkipRightDelim(bool trim) {
    pos_ += (trim ? 2 : 0) + 2;
    if (trim) {
      while (pos_ < src_.size() && IsSpace(src_[pos_])) ++pos_;
    }
  }

  bool AtTerminator(size_t p) const {
    if (p >= src_.size() || IsSpace(src_[p])) return true;
    switch (src_[p]) {
      case '.':
      case ',':
      case '|':
      case ':':
      case ')':
      case '(':
        return true;
    }
    return src_.substr(p).starts_with("}}");
  }

  void Emit(Tok kind, size_t start, size_t end) {
    toks_.push_back({kind, start, src_.substr(start, end - start), {}});
  }

  bool Fail(size_t at, std::string message) {
    toks_.push_back({Tok::kError, at, {}, std::move(message)});
    return false;
  }

  bool LexComment(size_t delim) {
    const size_t end = src_.find("*/", pos_ + 2);
    if (end == std::string_view::npos) return Fail(delim, "unclosed comment");
    pos_ = end + 2;
    bool trim;
    if (!AtRightDelim(pos_, &trim)) return Fail(delim, "comment ends before closing delimiter");
    SkipRightDelim(trim);
    return true;
  }

  bool LexAction(size_t delim) {
    // Without a "}}" anywhere ahead the action can only be unclosed; say so at its start rather
    // than complain about the YAML that follows it.
    if (src_.find("}}", pos_) == std::string_view::npos) return Fail(delim, "unclosed action");
    Emit(Tok::kLeftDelim, delim, delim + 2);
    std::vector<size_t> parens;
    while (true) {
      bool trim;
      if (AtRightDelim(pos_, &trim)) {
        if (!parens.empty()) return Fail(parens.back(), "unclosed left paren");
        Emit(Tok::kRightDelim, pos_ + (trim ? 1 : 0), pos_ + (trim ? 4 : 2));
        SkipRightDelim(trim);
        return true;
      }
      if (pos_ >= src_.size()) return Fail(delim, "unclosed action");
      const char c = src_[pos_];
      const char next = pos_ + 1 < src_.size() ? src_[pos_ + 1] : '\0';
      bool ok = true;
      if (IsSpace(c)) {
        LexSpace();
      } else if (c == '=') {
        Single(Tok::kAssign);
      } else if (c == ':') {
        if (next != '=') return Fail(pos_, "expected :=");
        Emit(Tok::kDeclare, pos_, pos_ + 2);
        pos_ += 2;
      } else if (c == '|') {
        Single(Tok::kPipe);
      } else if (c == '"') {
        ok = LexQuote('"', Tok::kString, "unterminated quoted string");
      } else if (c == '`') {
        ok = LexRawQuote();
      } else if (c == '\'') {
        ok = LexQuote('\'', Tok::kCharConst, "unterminated character constant");
      } else if (c == '$') {
        ok = LexName(Tok::kVariable, Tok::kVariable);
      } else if (c == '.' && !(next >= '0' && next <= '9')) {
        ok = LexName(Tok::kField, Tok::kDot);
      } else if (c == '.' || c == '+' || c == '-' || (c >= '0' && c <= '9')) {
        ok = LexNumber();
      } else if (IsAlnum(c)) {
        ok = LexIdentifier();
      } else if (c == '(') {
        parens.push_back(pos_);
        Single(Tok::kLeftParen);
      } else if (c == ')') {
        if (parens.empty()) return Fail(pos_, "unexpected right paren");
        parens.pop_back();
        Single(Tok::kRightParen);
      } else if (c == '{' && next == '{') {
        return Fail(delim, "unclosed action");  // a new action starts before this one ended
      } else if (c > ' ' && c < 0x7F) {
        Single(Tok::kChar);
      } else {
        return Fail(pos_, "unrecognized character in action: " + DescribeChar(src_, pos_));
      }
      if (!ok) return false;
    }
  }

  void Single(Tok kind) {
    Emit(kind, pos_, pos_ + 1);
    ++pos_;
  }

  // A run of spaces; the last one belongs to a following " -}}".
  void LexSpace() {
    const size_t start = pos_;
    while (pos_ < src_.size() && IsSpace(src_[pos_])) ++pos_;
    bool trim;
    if (AtRightDelim(pos_ - 1, &trim) && trim) --pos_;
    if (pos_ > start) Emit(Tok::kSpace, start, pos_);
  }

  bool LexQuote(char quote, Tok kind, const char* unterminated) {
    const size_t start = pos_++;
    while (true) {
      if (pos_ >= src_.size() || src_[pos_] == '\n') return Fail(start, unterminated);
      const char c = src_[pos_++];
      if (c == '\\') {
        if (pos_ >= src_.size() || src_[pos_] == '\n') return Fail(start, unterminated);
        ++pos_;
      } else if (c == quote) {
        break;
      }
    }
    Emit(kind, start, pos_);
    return true;
  }

  bool LexRawQuote() {
    const size_t end = src_.find('`', pos_ + 1);
    if (end == std::string_view::npos) return Fail(pos_, "unterminated raw quoted string");
    Emit(Tok::kRawString, pos_, end + 1);
    pos_ = end + 1;
    return true;
  }

  // $name or .Name; "$" and "." alone when nothing name-like follows.
  bool LexName(Tok named, Tok alone) {
    const size_t start = pos_++;
    if (AtTerminator(pos_)) {
      Emit(alone, start, pos_);
      return true;
    }
    while (pos_ < src_.size() && IsAlnum(src_[pos_])) ++pos_;
    if (!AtTerminator(pos_)) return Fail(pos_, "bad character " + DescribeChar(src_, pos_));
    Emit(named, start, pos_);
    return true;
  }

  bool Accept(std::string_view valid) {
    if (pos_ < src_.size() && valid.find(src_[pos_]) != std::string_view::npos) {
      ++pos_;
      return true;
    }
    return false;
  }

  void AcceptRun(std::string_view valid) {
    while (Accept(valid)) {
    }
  }

  // Go's scanNumber; the parser decides what the text means.
  bool LexNumber() {
    const size_t start = pos_;
    Accept("+-");
    std::string_view digits = "0123456789_";
    if (Accept("0")) {
      if (Accept("xX")) {
        digits = "0123456789abcdefABCDEF_";
      } else if (Accept("oO")) {
        digits = "01234567_";
      } else if (Accept("bB")) {
        digits = "01_";
      }
    }
    AcceptRun(digits);
    if (Accept(".")) AcceptRun(digits);
    if (digits.size() == 11 && Accept("eE")) {
      Accept("+-");
      AcceptRun("0123456789_");
    }
    if (digits.size() == 23 && Accept("pP")) {
      Accept("+-");
      AcceptRun("0123456789_");
    }
    Accept("i");
    if (pos_ < src_.size() && IsAlnum(src_[pos_])) {
      return Fail(start, "bad number syntax: \"" +
                             std::string(src_.substr(start, pos_ + 1 - start)) + "\"");
    }
    Emit(Tok::kNumber, start, pos_);
    return true;
  }

  bool LexIdentifier() {
    const size_t start = pos_;
    while (pos_ < src_.size() && IsAlnum(src_[pos_])) ++pos_;
    if (!AtTerminator(pos_)) return Fail(pos_, "bad character " + DescribeChar(src_, pos_));
    const std::string_view word = src_.substr(start, pos_ - start);
    static constexpr std::pair<std::string_view, Tok> kKeywords[] = {
        {"true", Tok::kBool},     {"false", Tok::kBool},
        {"nil", Tok::kNil},       {"if", Tok::kIf},
        {"else", Tok::kElse},     {"end", Tok::kEnd},
        {"range", Tok::kRange},   {"with", Tok::kWith},
        {"break", Tok::kBreak},   {"continue", Tok::kContinue},
        {"define", Tok::kDefine}, {"template", Tok::kTemplate},
        {"block", Tok::kBlock},
    };
    Tok kind = Tok::kIdentifier;
    for (const auto& [name, tok] : kKeywords) {
      if (word == name) kind = tok;
    }
    Emit(kind, start, pos_);
    return true;
  }

  std::string_view src_;
  size_t pos_ = 0;
  std::vector<Token> toks_;
};

// ---- Literals ----

// One escape sequence of a Go string or character literal at s[i] (just after the backslash).
// Appends what it means and advances i; an error message when it is not valid.
Result<bool> Unescape(std::string_view s, size_t& i, char quote, std::string& out) {
  if (i >= s.size()) return Invalid("bad escape sequence");
  const char c = s[i++];
  switch (c) {
    case 'a':
      out += '\a';
      return true;
    case 'b':
      out += '\b';
      return true;
    case 'f':
      out += '\f';
      return true;
    case 'n':
      out += '\n';
      return true;
    case 'r':
      out += '\r';
      return true;
    case 't':
      out += '\t';
      return true;
    case 'v':
      out += '\v';
      return true;
    case '\\':
      out += '\\';
      return true;
    case '\'':
    case '"':
      if (c != quote) break;
      out += c;
      return true;
    case 'x':
    case 'u':
    case 'U': {
      const size_t n = c == 'x' ? 2 : c == 'u' ? 4 : 8;
      if (i + n > s.size()) break;
      uint32_t v = 0;
      for (size_t k = 0; k < n; ++k) {
        const char h = s[i + k];
        const int d = h >= '0' && h <= '9'                     ? h - '0'
                      : (h | 0x20) >= 'a' && (h | 0x20) <= 'f' ? (h | 0x20) - 'a' + 10
                                                               : -1;
        if (d < 0) return Invalid(std::string("bad escape sequence \\") + c);
        v = v * 16 + static_cast<uint32_t>(d);
      }
      i += n;
      if (c == 'x') {
        out += static_cast<char>(v);
        return true;
      }
      if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
        return Invalid(std::string("escape sequence \\") + c + " is an invalid Unicode code point");
      }
      AppendRune(out, static_cast<int32_t>(v));
      return true;
    }
    default:
      if (c >= '0' && c <= '7') {
        if (i + 2 > s.size()) break;
        uint32_t v = static_cast<uint32_t>(c - '0');
        for (size_t k = 0; k < 2; ++k) {
          const char o = s[i + k];
          if (o < '0' || o > '7') return Invalid("bad octal escape sequence");
          v = v * 8 + static_cast<uint32_t>(o - '0');
        }
        if (v > 255) return Invalid("octal escape value > 255");
        i += 2;
        out += static_cast<char>(v);
        return true;
      }
  }
  return Invalid(std::string("unknown escape sequence \\") + c);
}

// ---- Parser ----

std::string Describe(const Token& t) {
  switch (t.kind) {
    case Tok::kEOF:
      return "EOF";
    case Tok::kText:
      return "text";
    case Tok::kSpace:
      return "space";
    case Tok::kRightDelim:
      return "\"}}\"";
    case Tok::kLeftDelim:
      return "\"{{\"";
    default:
      if (t.kind >= Tok::kIf && t.kind <= Tok::kBlock) return "<" + std::string(t.text) + ">";
      return GoQuote(t.text.substr(0, 40));
  }
}

class Parser {
 public:
  Parser(std::string_view source, const SourceMap& map, const FuncTable& funcs)
      : source_(source), map_(map), funcs_(funcs), toks_(Lexer(source).Run()) {}

  Result<std::vector<Node>> Run() {
    std::vector<Node> nodes;
    ListEnd end;
    DD_RETURN_IF_ERROR(ParseList(nodes, end));
    switch (end.end) {
      case End::kEOF:
        return nodes;
      case End::kEnd:
        return map_.Error(end.pos, "unexpected {{end}}: no {{if}}, {{range}} or {{with}} to end");
      default:
        return map_.Error(end.pos, "unexpected {{else}} outside {{if}}, {{range}} or {{with}}");
    }
  }

 private:
  // What ended a list of nodes, and where its "{{" is.
  enum class End { kEOF, kEnd, kElse, kElseIf, kElseWith };
  struct ListEnd {
    End end = End::kEOF;
    Pos pos;
  };

  // Counts nesting (blocks and parentheses) for as long as it lives.
  class Nest {
   public:
    explicit Nest(int& depth) : depth_(depth) { ++depth_; }
    ~Nest() { --depth_; }
    Nest(const Nest&) = delete;
    Nest& operator=(const Nest&) = delete;
    bool too_deep() const { return depth_ > kMaxNesting; }

   private:
    int& depth_;
  };

  Pos PosOf(const Token& t) const { return t.offset; }
  Status Err(const Token& t, std::string_view message) const {
    return map_.Error(PosOf(t), message);
  }

  // The last token (EOF or an error) repeats forever, so Next() and Backup() stay paired.
  const Token& At(size_t i) const { return toks_[std::min(i, toks_.size() - 1)]; }
  const Token& Peek() const { return At(i_); }
  const Token& Next() { return At(i_++); }
  void Backup() { --i_; }
  const Token& PeekNonSpace() {
    while (Peek().kind == Tok::kSpace) ++i_;
    return Peek();
  }
  const Token& NextNonSpace() {
    PeekNonSpace();
    return Next();
  }

  Status Unexpected(const Token& t, std::string_view context) const {
    if (t.kind == Tok::kError) return Err(t, t.error);
    return Err(t, "unexpected " + Describe(t) + " in " + std::string(context));
  }

  Status Expect(Tok kind, std::string_view context) {
    const Token& t = NextNonSpace();
    return t.kind == kind ? Status::Ok() : Unexpected(t, context);
  }

  bool Declared(std::string_view name) const {
    return std::find(vars_.begin(), vars_.end(), name) != vars_.end();
  }

  Status ParseList(std::vector<Node>& out, ListEnd& end) {
    while (true) {
      const Token& t = Next();
      switch (t.kind) {
        case Tok::kText:
          out.push_back({Node::Kind::kText, PosOf(t), t.text, {}, {}});
          break;
        case Tok::kEOF:
          end = {End::kEOF, PosOf(t)};
          return Status::Ok();
        case Tok::kLeftDelim: {
          bool ended = false;
          DD_RETURN_IF_ERROR(ParseAction(t, out, end, ended));
          if (ended) return Status::Ok();
          break;
        }
        default:
          return Unexpected(t, "input");
      }
    }
  }

  // One {{…}}; `ended` when it is an {{end}} or {{else}} closing the list being parsed.
  Status ParseAction(const Token& delim, std::vector<Node>& out, ListEnd& end, bool& ended) {
    const Pos pos = PosOf(delim);
    const Token& t = NextNonSpace();
    switch (t.kind) {
      case Tok::kEnd:
        DD_RETURN_IF_ERROR(Expect(Tok::kRightDelim, "end"));
        end = {End::kEnd, pos};
        ended = true;
        return Status::Ok();
      case Tok::kElse: {
        // {{else if …}} and {{else with …}} leave their keyword for the block to continue with.
        const Tok next = PeekNonSpace().kind;
        if (next == Tok::kIf || next == Tok::kWith) {
          NextNonSpace();
          end = {next == Tok::kIf ? End::kElseIf : End::kElseWith, pos};
        } else {
          DD_RETURN_IF_ERROR(Expect(Tok::kRightDelim, "else"));
          end = {End::kElse, pos};
        }
        ended = true;
        return Status::Ok();
      }
      case Tok::kIf:
      case Tok::kWith:
      case Tok::kRange: {
        const Node::Kind kind = t.kind == Tok::kIf     ? Node::Kind::kIf
                                : t.kind == Tok::kWith ? Node::Kind::kWith
                                                       : Node::Kind::kRange;
        DD_ASSIGN_OR_RETURN(node, ParseControl(kind, pos));
        out.push_back(std::move(node));
        return Status::Ok();
      }
      case Tok::kBreak:
      case Tok::kContinue: {
        const std::string word(t.text);
        if (range_depth_ == 0) return map_.Error(pos, "{{" + word + "}} outside {{range}}");
        DD_RETURN_IF_ERROR(Expect(Tok::kRightDelim, word));
        out.push_back(
            {t.kind == Tok::kBreak ? Node::Kind::kBreak : Node::Kind::kContinue, pos, {}, {}, {}});
        return Status::Ok();
      }
      case Tok::kDefine:
      case Tok::kTemplate:
      case Tok::kBlock:
        return Err(t, "{{" + std::string(t.text) + "}} is not supported");
      default: {
        Backup();
        DD_ASSIGN_OR_RETURN(pipe, ParsePipeline("command", Tok::kRightDelim));
        Node node{Node::Kind::kAction, pos, {}, {}, {}};
        node.branches.push_back({std::move(pipe), {}});
        out.push_back(std::move(node));
        return Status::Ok();
      }
    }
  }

  // {{if}}, {{with}} or {{range}} up to its {{end}}; the "{{" of the keyword is at `pos`.
  Result<Node> ParseControl(Node::Kind kind, Pos pos) {
    const char* word = kind == Node::Kind::kIf     ? "if"
                       : kind == Node::Kind::kWith ? "with"
                                                   : "range";
    Nest nest(depth_);
    if (nest.too_deep()) {
      return map_.Error(
          pos, "too deeply nested: more than " + std::to_string(kMaxNesting) + " nested blocks");
    }
    const size_t mark = vars_.size();  // variables declared in the block end with it
    Node node{kind, pos, {}, {}, {}};
    const std::string eof = "unexpected EOF: {{" + std::string(word) + "}} has no {{end}}";
    while (true) {
      DD_ASSIGN_OR_RETURN(pipe, ParsePipeline(word, Tok::kRightDelim));
      node.branches.push_back({std::move(pipe), {}});
      ListEnd end;
      range_depth_ += kind == Node::Kind::kRange;
      Status s = ParseList(node.branches.back().body, end);
      range_depth_ -= kind == Node::Kind::kRange;
      DD_RETURN_IF_ERROR(s);
      if (end.end == End::kEnd) break;
      if (end.end == End::kEOF) return map_.Error(pos, eof);
      if ((end.end == End::kElseIf && kind == Node::Kind::kIf) ||
          (end.end == End::kElseWith && kind == Node::Kind::kWith)) {
        continue;  // the next branch of the chain
      }
      if (end.end != End::kElse) {
        return map_.Error(end.pos,
                          std::string(end.end == End::kElseIf ? "{{else if}}" : "{{else with}}") +
                              " inside {{" + word + "}}");
      }
      ListEnd last;
      DD_RETURN_IF_ERROR(ParseList(node.else_body, last));
      if (last.end == End::kEOF) return map_.Error(pos, eof);
      if (last.end != End::kEnd) {
        return map_.Error(last.pos, "expected {{end}} after {{else}}; found another {{else}}");
      }
      break;
    }
    vars_.resize(mark);
    return node;
  }

  // Go's pipeline(): optional declarations, then commands separated by '|' up to `end`.
  Result<Pipeline> ParsePipeline(std::string_view context, Tok end) {
    Pipeline pipe;
    pipe.pos = PosOf(PeekNonSpace());
    bool declared = false;
    std::vector<const Token*> decl_toks;
    while (true) {
      const size_t save = i_;
      const Token& v = PeekNonSpace();
      if (v.kind != Tok::kVariable) break;
      NextNonSpace();
      const Token& next = PeekNonSpace();
      if (next.kind == Tok::kAssign || next.kind == Tok::kDeclare) {
        NextNonSpace();
        pipe.is_assign = next.kind == Tok::kAssign;
        decl_toks.push_back(&v);
        declared = true;
        break;
      }
      if (next.kind == Tok::kChar && next.text == ",") {
        NextNonSpace();
        decl_toks.push_back(&v);
        if (context == "range" && decl_toks.size() < 2) {
          const Tok after = PeekNonSpace().kind;
          if (after == Tok::kVariable) continue;
          return Err(PeekNonSpace(), "range can only initialize variables");
        }
        return Err(next, "too many declarations in " + std::string(context));
      }
      i_ = save;  // $x is an operand, not a declaration
      break;
    }
    if (!decl_toks.empty() && !declared) {
      return Err(*decl_toks.front(), "missing := or = after the range variables");
    }
    for (const Token* t : decl_toks) {
      if (pipe.is_assign && !Declared(t->text)) {
        return Err(*t, "undefined variable \"" + std::string(t->text) + "\"");
      }
      pipe.decls.emplace_back(t->text);
    }
    bool after_pipe = false;
    while (true) {
      const Token& t = NextNonSpace();
      if (t.kind == end) {
        if (after_pipe) return Err(t, "missing command after |");
        break;
      }
      if (!StartsOperand(t.kind)) return Unexpected(t, context);
      Backup();
      DD_ASSIGN_OR_RETURN(cmd, ParseCommand(after_pipe));
      pipe.cmds.push_back(std::move(cmd));
    }
    if (pipe.cmds.empty()) return map_.Error(pipe.pos, "missing value for " + std::string(context));
    for (size_t i = 1; i < pipe.cmds.size(); ++i) {
      const Operand::Kind k = pipe.cmds[i].args[0].kind;
      if (k == Operand::Kind::kLiteral || k == Operand::Kind::kDot || k == Operand::Kind::kNil) {
        return map_.Error(pipe.cmds[i].pos,
                          "non executable command in pipeline stage " + std::to_string(i + 1));
      }
    }
    // Declared only now, so that "$x := $x" does not read the variable it declares.
    if (!pipe.is_assign) vars_.insert(vars_.end(), pipe.decls.begin(), pipe.decls.end());
    return pipe;
  }

  static bool StartsOperand(Tok k) {
    switch (k) {
      case Tok::kBool:
      case Tok::kCharConst:
      case Tok::kDot:
      case Tok::kField:
      case Tok::kIdentifier:
      case Tok::kNumber:
      case Tok::kNil:
      case Tok::kRawString:
      case Tok::kString:
      case Tok::kVariable:
      case Tok::kLeftParen:
        return true;
      default:
        return false;
    }
  }

  // Operands separated by spaces, up to '|' (consumed; `piped` set) or "}}" / ')' (left).
  Result<Command> ParseCommand(bool& piped) {
    Command cmd;
    cmd.pos = PosOf(PeekNonSpace());
    piped = false;
    while (true) {
      PeekNonSpace();
      Operand op;
      DD_ASSIGN_OR_RETURN(got, ParseOperand(op));
      if (got) cmd.args.push_back(std::move(op));
      const Token& t = Next();
      if (t.kind == Tok::kSpace) continue;
      if (t.kind == Tok::kRightDelim || t.kind == Tok::kRightParen) {
        Backup();
      } else if (t.kind == Tok::kPipe) {
        piped = true;
      } else {
        return Unexpected(t, "operand");
      }
      break;
    }
    return cmd;
  }

  // A term and the .Field chain right after it; false when no term starts here.
  Result<bool> ParseOperand(Operand& op) {
    const size_t start = Peek().offset;
    DD_ASSIGN_OR_RETURN(got, ParseTerm(op));
    if (!got) return false;
    if (Peek().kind == Tok::kField) {
      std::vector<std::string> fields;
      while (Peek().kind == Tok::kField) fields.emplace_back(Next().text.substr(1));
      switch (op.kind) {
        case Operand::Kind::kField:
        case Operand::Kind::kVariable:
          op.fields.insert(op.fields.end(), fields.begin(), fields.end());
          break;
        case Operand::Kind::kLiteral:
        case Operand::Kind::kNil:
        case Operand::Kind::kDot:
          return map_.Error(op.pos, "unexpected . after term " + GoQuote(op.text));
        default: {
          Operand chain;
          chain.kind = Operand::Kind::kChain;
          chain.pos = op.pos;
          chain.fields = std::move(fields);
          chain.base = std::make_unique<Operand>(std::move(op));
          op = std::move(chain);
        }
      }
    }
    const Token& last = At(i_ - 1);
    op.text = source_.substr(start, last.offset + last.text.size() - start);
    return true;
  }

  Result<bool> ParseTerm(Operand& op) {
    const Token& t = NextNonSpace();
    op.pos = PosOf(t);
    op.text = t.text;
    switch (t.kind) {
      case Tok::kIdentifier:
        if (funcs_.find(t.text) == funcs_.end()) {
          return Err(t, "function \"" + std::string(t.text) + "\" not defined");
        }
        op.kind = Operand::Kind::kIdentifier;
        op.name = std::string(t.text);
        return true;
      case Tok::kDot:
        op.kind = Operand::Kind::kDot;
        return true;
      case Tok::kNil:
        op.kind = Operand::Kind::kNil;
        return true;
      case Tok::kVariable:
        if (!Declared(t.text)) return Err(t, "undefined variable \"" + std::string(t.text) + "\"");
        op.kind = Operand::Kind::kVariable;
        op.name = std::string(t.text);
        return true;
      case Tok::kField:
        op.kind = Operand::Kind::kField;
        op.fields.emplace_back(t.text.substr(1));
        return true;
      case Tok::kBool:
        op.kind = Operand::Kind::kLiteral;
        op.literal = t.text == "true";
        return true;
      case Tok::kNumber:
      case Tok::kCharConst: {
        DD_ASSIGN_OR_RETURN(number, ParseNumber(t));
        op.kind = Operand::Kind::kLiteral;
        op.literal = std::move(number);
        return true;
      }
      case Tok::kString:
      case Tok::kRawString: {
        DD_ASSIGN_OR_RETURN(text, ParseString(t));
        op.kind = Operand::Kind::kLiteral;
        op.literal = std::move(text);
        return true;
      }
      case Tok::kLeftParen: {
        Nest nest(depth_);
        if (nest.too_deep()) {
          return Err(
              t, "too deeply nested: more than " + std::to_string(kMaxNesting) + " nested blocks");
        }
        DD_ASSIGN_OR_RETURN(pipe, ParsePipeline("parenthesized pipeline", Tok::kRightParen));
        op.kind = Operand::Kind::kPipe;
        op.pipe = std::make_unique<Pipeline>(std::move(pipe));
        return true;
      }
      default:
        Backup();
        return false;
    }
  }

  Result<std::string> ParseString(const Token& t) {
    const std::string_view body = t.text.substr(1, t.text.size() - 2);
    std::string out;
    if (t.kind == Tok::kRawString) {
      for (char c : body) {
        if (c != '\r') out += c;  // as strconv.Unquote does for raw strings
      }
      return out;
    }
    for (size_t i = 0; i < body.size();) {
      if (body[i] != '\\') {
        out += body[i++];
        continue;
      }
      const size_t at = i++;
      auto ok = Unescape(body, i, '"', out);
      if (!ok.ok()) {
        return map_.Error(t.offset + 1 + at, "bad string literal: " + ok.status().message());
      }
    }
    return out;
  }

  // Numbers and character constants, typed as Go's idealConstant types them: int unless written
  // with a '.' or an exponent.
  Result<Value> ParseNumber(const Token& t) {
    const std::string text(t.text);
    if (t.kind == Tok::kCharConst) {
      const std::string_view body = t.text.substr(1, t.text.size() - 2);
      std::string decoded;
      size_t i = 0;
      int32_t rune = -1;
      if (!body.empty() && body[0] == '\\') {
        i = 1;
        auto ok = Unescape(body, i, '\'', decoded);
        if (!ok.ok())
          return Err(t, "malformed character constant " + text + ": " + ok.status().message());
        size_t n;
        rune = body[1] == 'x' || (body[1] >= '0' && body[1] <= '7')
                   ? static_cast<unsigned char>(decoded[0])
                   : DecodeRune(decoded, 0, &n);
      } else if (!body.empty()) {
        rune = DecodeRune(body, 0, &i);
      }
      if (rune < 0 || i != body.size()) return Err(t, "malformed character constant: " + text);
      return Value(int64_t{rune});
    }
    if (text.back() == 'i') return Err(t, "complex numbers are not supported: " + text);
    const bool hex = text.find_first_of("xX") != std::string::npos;
    if (!hex && text.find_first_of(".eE") != std::string::npos) {
      double d;
      if (ParseGoFloat(text, &d) == NumParse::kOk) return Value(d);
    } else if (!hex || text.find_first_of(".pP") == std::string::npos) {
      int64_t n;
      NumParse r = ParseGoInt(text, &n);
      if (r == NumParse::kOk) return Value(n);
      if (r == NumParse::kRange) return Err(t, text + " overflows int");
    }
    return Err(t, "illegal number syntax: " + GoQuote(text));
  }

  std::string_view source_;
  const SourceMap& map_;
  const FuncTable& funcs_;
  std::vector<Token> toks_;
  size_t i_ = 0;
  std::vector<std::string> vars_ = {"$"};
  int depth_ = 0;
  int range_depth_ = 0;
};

}  // namespace

Result<std::vector<Node>> Parse(std::string_view source, const SourceMap& map,
                                const FuncTable& funcs) {
  return Parser(source, map, funcs).Run();
}

}  // namespace drydock::gotemplate::internal
