// Internals of the text/template engine (template.h), shared by its parser
// (parse.cc), evaluator (exec.cc), functions (funcs.cc) and value
// formatting (fmt.cc). Values are JSON: null stands for Go's nil and for a missing key.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace drydock::gotemplate::internal {

using Value = nlohmann::json;

// Limits against runaway templates (template.h).
inline constexpr size_t kMaxStringBytes = size_t{16} << 20;   // the output and any one string
inline constexpr int kMaxNesting = 100;                       // nested blocks and parentheses
inline constexpr int64_t kMaxSteps = 1'000'000;               // commands run + range iterations
inline constexpr int64_t kMaxValueBytes = int64_t{64} << 20;  // values copied or made, in all

// A byte offset into the source. Only errors need line and column, so SourceMap works them out
// then (keeping long one-line templates linear).
using Pos = size_t;

// Builds the "<name>:<line>:<col>: " errors every stage returns: 1-based line and column, the
// column counted in UTF-8 characters.
class SourceMap {
 public:
  SourceMap(std::string_view source, std::string_view name);
  Status Error(Pos pos, std::string_view message) const;

 private:
  std::string_view source_;
  std::string name_;
  std::vector<size_t> line_starts_;
};

// ---- Syntax tree ----

struct Pipeline;

// An argument or the first word of a command.
struct Operand {
  enum class Kind {
    kDot,         // .
    kNil,         // nil
    kLiteral,     // true, 12, 1.5, "s", `s`, 'c' (in `literal`)
    kField,       // .A.B: fields of dot
    kVariable,    // $x.A.B: `name` and then `fields`
    kIdentifier,  // a function name
    kPipe,        // (pipeline)
    kChain,       // (pipeline).A.B or fn.A: `base` and then `fields`
  };
  Kind kind = Kind::kDot;
  Pos pos = 0;
  std::string_view text;  // as written (in the source, which outlives the tree), for errors
  std::string name;
  std::vector<std::string> fields;
  Value literal;
  std::unique_ptr<Pipeline> pipe;
  std::unique_ptr<Operand> base;
};

struct Command {
  Pos pos = 0;
  std::vector<Operand> args;  // args[0] is the function, field, variable or value
};

struct Pipeline {
  Pos pos = 0;
  std::vector<std::string> decls;  // $x := … (or $i, $v := … in range)
  bool is_assign = false;          // $x = … assigns an existing variable
  std::vector<Command> cmds;       // each result is the last argument of the next command
};

struct Node;

// A pipeline and the body run when it selects this branch.
struct Branch {
  Pipeline pipe;
  std::vector<Node> body;
};

struct Node {
  enum class Kind { kText, kAction, kIf, kWith, kRange, kBreak, kContinue };
  Kind kind = Kind::kText;
  Pos pos = 0;
  std::string_view text;  // kText, in the source
  // kAction: one branch without a body. kIf, kWith: one per {{if}}/{{else if}} (flattened so
  // that long else-if chains do not nest). kRange: one.
  std::vector<Branch> branches;
  std::vector<Node> else_body;
};

// ---- Functions ----

using Args = std::vector<Value>;
// Errors carry no position; the evaluator adds it and the function's name.
using FuncImpl = Result<Value> (*)(const Args& args);

struct FuncSpec {
  int min_args = 0;
  int max_args = 0;         // < 0: variadic
  FuncImpl impl = nullptr;  // nullptr for and/or, which the evaluator short-circuits
};

using FuncTable = std::map<std::string, FuncSpec, std::less<>>;

// Go's builtins and the Sprig functions, built per render (no global state).
FuncTable MakeFuncTable();

// Parses `source` into a list of nodes, checking function names against `funcs`.
Result<std::vector<Node>> Parse(std::string_view source, const SourceMap& map,
                                const FuncTable& funcs);

// ---- Values (template_fmt.cc) ----

// Go's truth: false, 0, nil, "" and empty lists and maps are false.
bool Truth(const Value& v);
// The Go type the value stands for: string, int, float64, bool, []interface {}, ….
std::string TypeName(const Value& v);
// fmt.Sprint of one value ("<nil>" for null, "[a b]" for lists, "map[k:v]" for maps).
Result<std::string> FormatValue(const Value& v);
// fmt.Sprint / fmt.Sprintln of several values.
Result<std::string> Sprint(const Args& args, bool println);
// fmt.Sprintf(format, args[first:]...): the verbs, flags, widths, precisions and [n] argument
// indexes Go has for these types.
Result<std::string> Sprintf(std::string_view format, const Args& args, size_t first);
// strconv.Quote.
std::string GoQuote(std::string_view s);
// Sprig's strval: strings as they are, anything else as fmt's %v.
Result<std::string> StrVal(const Value& v);

// ---- Text helpers (template_fmt.cc) ----

// The code point of the UTF-8 sequence at s[i] and its length; -1 (length 1) when invalid.
int32_t DecodeRune(std::string_view s, size_t i, size_t* size);
// Appends r as UTF-8 (U+FFFD for a surrogate or out-of-range value).
void AppendRune(std::string& out, int32_t r);
// unicode.IsSpace.
bool IsSpaceRune(int32_t r);

enum class NumParse { kOk, kSyntax, kRange };
// strconv.ParseInt(s, 0, 64): optional sign, 0x/0o/0b prefixes, a leading 0 meaning octal,
// underscores between digits.
NumParse ParseGoInt(std::string_view s, int64_t* out);
// strconv.ParseFloat(s, 64) for decimal forms (underscores allowed, as in Go literals).
NumParse ParseGoFloat(std::string_view s, double* out);

}  // namespace drydock::gotemplate::internal
