// Executes a parsed template the way Go's text/template/exec.go walks one, over JSON values, with
// missingkey=zero and ACR's removal of "<no value>": a missing key (or any nil) prints nothing.
#include <algorithm>
#include <optional>
#include <span>
#include <utility>

#include "gotemplate/template.h"
#include "gotemplate/internal.h"

namespace drydock::gotemplate {
namespace internal {
namespace {

// Roughly the bytes a copy of v holds (its strings, 16 per node); stops counting past `limit`.
int64_t ApproxSize(const Value& v, int64_t limit, int depth) {
  int64_t n = 16;
  if (v.is_string()) return n + static_cast<int64_t>(v.get_ref<const std::string&>().size());
  if (!v.is_structured()) return n;
  for (auto it = v.begin(); it != v.end() && n <= limit; ++it) {
    if (v.is_object()) n += static_cast<int64_t>(it.key().size());
    n += depth < kMaxNesting ? ApproxSize(*it, limit - n, depth + 1) : 16;
  }
  return n;
}

// How a body ended: normally, or by {{break}} / {{continue}} for the innermost range.
enum class Flow { kNormal, kBreak, kContinue };

class Executor {
 public:
  Executor(const SourceMap& map, const FuncTable& funcs, const Value& root)
      : map_(map), funcs_(funcs) {
    vars_.emplace_back("$", root);
  }

  Result<std::string> Run(const std::vector<Node>& nodes, const Value& root) {
    DD_ASSIGN_OR_RETURN(flow, Walk(root, nodes));
    (void)flow;  // the parser allows {{break}} and {{continue}} only inside a range
    return std::move(out_);
  }

 private:
  Status Err(Pos pos, std::string_view message) const { return map_.Error(pos, message); }

  // Every command and range iteration counts, so no template can run for long.
  Status Step(Pos pos) {
    if (++steps_ > kMaxSteps) {
      return Err(pos, "template runs too long: more than " + std::to_string(kMaxSteps) +
                          " evaluation steps");
    }
    return Status::Ok();
  }

  // Every value a pipeline yields, a function takes or makes, or a range binds counts, so that
  // no template multiplies a large string into gigabytes (list $x $x $x …) or copies its data
  // without end.
  Status Charge(const Value& v, Pos pos) {
    value_bytes_ += ApproxSize(v, kMaxValueBytes - value_bytes_, 0);
    if (value_bytes_ > kMaxValueBytes) {
      return Err(pos, "template uses too much memory: more than " +
                          std::to_string(kMaxValueBytes >> 20) + " MiB of values");
    }
    return Status::Ok();
  }

  Status Emit(std::string_view s, Pos pos) {
    if (out_.size() + s.size() > kMaxStringBytes) {
      return Err(pos, "output is larger than " + std::to_string(kMaxStringBytes >> 20) + " MiB");
    }
    out_.append(s);
    return Status::Ok();
  }

  Result<Flow> Walk(const Value& dot, const std::vector<Node>& body) {
    for (const Node& node : body) {
      DD_ASSIGN_OR_RETURN(flow, WalkNode(dot, node));
      if (flow != Flow::kNormal) return flow;
    }
    return Flow::kNormal;
  }

  Result<Flow> WalkNode(const Value& dot, const Node& node) {
    switch (node.kind) {
      case Node::Kind::kText:
        DD_RETURN_IF_ERROR(Emit(node.text, node.pos));
        return Flow::kNormal;
      case Node::Kind::kAction: {
        // Variables an action declares live until the end of the enclosing block.
        const Pipeline& pipe = node.branches[0].pipe;
        DD_ASSIGN_OR_RETURN(value, EvalPipeline(dot, pipe, /*declare=*/true));
        if (pipe.decls.empty()) DD_RETURN_IF_ERROR(Print(value, pipe.pos));
        return Flow::kNormal;
      }
      case Node::Kind::kIf:
      case Node::Kind::kWith:
        return WalkIfOrWith(dot, node);
      case Node::Kind::kRange:
        return WalkRange(dot, node);
      case Node::Kind::kBreak:
        return Flow::kBreak;
      case Node::Kind::kContinue:
        return Flow::kContinue;
    }
    return Flow::kNormal;
  }

  // nil prints nothing: Go prints "<no value>" and ACR deletes it.
  Status Print(const Value& value, Pos pos) {
    if (value.is_null()) return Status::Ok();
    auto text = FormatValue(value);
    if (!text.ok()) return Err(pos, text.status().message());
    return Emit(*text, pos);
  }

  Result<Flow> WalkIfOrWith(const Value& dot, const Node& node) {
    const size_t mark = vars_.size();
    Result<Flow> flow = Flow::kNormal;
    bool taken = false;
    for (const Branch& branch : node.branches) {
      DD_ASSIGN_OR_RETURN(value, EvalPipeline(dot, branch.pipe, /*declare=*/true));
      if (Truth(value)) {
        flow = Walk(node.kind == Node::Kind::kWith ? value : dot, branch.body);
        taken = true;
        break;
      }
    }
    if (!taken) flow = Walk(dot, node.else_body);
    vars_.resize(mark);
    return flow;
  }

  Result<Flow> WalkRange(const Value& dot, const Node& node) {
    const Branch& branch = node.branches[0];
    const Pipeline& pipe = branch.pipe;
    const size_t mark = vars_.size();
    DD_ASSIGN_OR_RETURN(value, EvalPipeline(dot, pipe, /*declare=*/false));
    // The range's own variables go after any the pipeline declared in parentheses.
    const size_t slots = vars_.size();
    if (!pipe.is_assign) {
      for (const std::string& name : pipe.decls) vars_.emplace_back(name, Value());
    }
    // With one variable it gets the element; with two, the index (or key) and the element.
    auto bind = [&](size_t i, const Value& v) -> Status {
      if (!pipe.is_assign) {
        vars_[slots + i].second = v;
        return Status::Ok();
      }
      return SetVar(pipe.decls[i], v, pipe.pos);
    };
    auto iteration = [&](const Value& index, const Value& elem) -> Result<Flow> {
      DD_RETURN_IF_ERROR(Step(node.pos));
      if (!pipe.decls.empty()) DD_RETURN_IF_ERROR(Charge(elem, pipe.pos));
      if (pipe.decls.size() == 1) DD_RETURN_IF_ERROR(bind(0, elem));
      if (pipe.decls.size() == 2) {
        DD_RETURN_IF_ERROR(bind(0, index));
        DD_RETURN_IF_ERROR(bind(1, elem));
      }
      const size_t inner = vars_.size();
      Result<Flow> flow = Walk(elem, branch.body);
      vars_.resize(inner);
      return flow;
    };
    size_t count = 0;
    auto run = [&](const Value& index, const Value& elem) -> Result<bool> {
      ++count;
      DD_ASSIGN_OR_RETURN(flow, iteration(index, elem));
      return flow != Flow::kBreak;
    };
    if (value.is_array()) {
      for (size_t i = 0; i < value.size(); ++i) {
        DD_ASSIGN_OR_RETURN(more, run(Value(static_cast<int64_t>(i)), value[i]));
        if (!more) break;
      }
    } else if (value.is_object()) {
      for (const auto& [key, elem] : value.items()) {  // std::map: sorted, as Go sorts map keys
        DD_ASSIGN_OR_RETURN(more, run(Value(key), elem));
        if (!more) break;
      }
    } else if (value.is_number_integer()) {  // Go 1.22: range over an int counts 0..n-1
      if (pipe.decls.size() > 1) {
        return Err(pipe.pos,
                   "can't use " + value.dump() + " to iterate over more than one variable");
      }
      const int64_t n =
          value.is_number_unsigned()
              ? static_cast<int64_t>(std::min<uint64_t>(value.get<uint64_t>(), kMaxSteps + 1))
              : value.get<int64_t>();
      for (int64_t i = 0; i < n; ++i) {
        DD_ASSIGN_OR_RETURN(more, run(Value(i), Value(i)));
        if (!more) break;
      }
    } else if (!value.is_null()) {  // nil ranges over nothing, as Go's invalid value does
      auto text = FormatValue(value);
      return Err(pipe.pos, "range can't iterate over " + (text.ok() ? *text : TypeName(value)));
    }
    Result<Flow> flow = Flow::kNormal;
    if (count == 0) flow = Walk(dot, node.else_body);
    vars_.resize(mark);
    return flow;
  }

  // Runs the commands, each result becoming the last argument of the next; then declares or
  // assigns the pipeline's variables when `declare` (range binds its own).
  Result<Value> EvalPipeline(const Value& dot, const Pipeline& pipe, bool declare) {
    std::optional<Value> value;
    for (const Command& cmd : pipe.cmds) {
      DD_ASSIGN_OR_RETURN(result, EvalCommand(dot, cmd, value));
      DD_RETURN_IF_ERROR(Charge(result, cmd.pos));
      value = std::move(result);
    }
    if (declare) {
      for (const std::string& name : pipe.decls) {
        if (pipe.is_assign) {
          DD_RETURN_IF_ERROR(SetVar(name, *value, pipe.pos));
        } else {
          vars_.emplace_back(name, *value);
        }
      }
    }
    return std::move(*value);
  }

  Result<Value> EvalCommand(const Value& dot, const Command& cmd,
                            const std::optional<Value>& final) {
    DD_RETURN_IF_ERROR(Step(cmd.pos));
    const Operand& first = cmd.args[0];
    const std::span<const Operand> args(cmd.args.data() + 1, cmd.args.size() - 1);
    const bool has_args = !args.empty() || final.has_value();
    switch (first.kind) {
      case Operand::Kind::kField:
        return EvalFields(dot, first, has_args);
      case Operand::Kind::kVariable: {
        DD_ASSIGN_OR_RETURN(var, Var(first));
        if (first.fields.empty() && has_args) return NotAFunction(first);
        return EvalFields(*var, first, has_args);
      }
      case Operand::Kind::kChain: {
        DD_ASSIGN_OR_RETURN(base, EvalArg(dot, *first.base));
        return EvalFields(base, first, has_args);
      }
      case Operand::Kind::kIdentifier:
        return EvalCall(dot, first, args, final);
      case Operand::Kind::kNil:
        return Err(first.pos, "nil is not a command");
      default:
        if (has_args) return NotAFunction(first);
        return EvalArg(dot, first);
    }
  }

  Status NotAFunction(const Operand& op) const {
    return Err(op.pos, "can't give argument to non-function " + std::string(op.text));
  }

  Result<Value> EvalArg(const Value& dot, const Operand& op) {
    switch (op.kind) {
      case Operand::Kind::kDot:
        return dot;
      case Operand::Kind::kNil:
        return Value();
      case Operand::Kind::kLiteral:
        return op.literal;
      case Operand::Kind::kField:
        return EvalFields(dot, op, false);
      case Operand::Kind::kVariable: {
        DD_ASSIGN_OR_RETURN(var, Var(op));
        return EvalFields(*var, op, false);
      }
      case Operand::Kind::kChain: {
        if (op.base->kind == Operand::Kind::kNil) {
          return Err(op.pos, "indirection through explicit nil in " + std::string(op.text));
        }
        DD_ASSIGN_OR_RETURN(base, EvalArg(dot, *op.base));
        return EvalFields(base, op, false);
      }
      case Operand::Kind::kPipe:
        return EvalPipeline(dot, *op.pipe, /*declare=*/true);
      case Operand::Kind::kIdentifier:
        return EvalCall(dot, op, {}, std::nullopt);
    }
    return Value();
  }

  // Follows op.fields from `receiver`. A missing key, or a field of nil, is nil (missingkey=zero;
  // Go itself fails on a field of nil with "nil pointer evaluating interface {}.X").
  Result<Value> EvalFields(const Value& receiver, const Operand& op, bool has_args) {
    const Value* cur = &receiver;
    for (size_t i = 0; i < op.fields.size(); ++i) {
      const std::string& field = op.fields[i];
      if (cur->is_null()) return Value();
      if (!cur->is_object()) {
        return Err(op.pos, "can't evaluate field " + field + " in type " + TypeName(*cur));
      }
      if (i + 1 == op.fields.size() && has_args) {
        return Err(op.pos, field + " is not a method but has arguments");
      }
      auto it = cur->find(field);
      if (it == cur->end()) return Value();
      cur = &*it;
    }
    return *cur;
  }

  Result<Value> EvalCall(const Value& dot, const Operand& fn, std::span<const Operand> args,
                         const std::optional<Value>& final) {
    const FuncSpec& spec = funcs_.find(fn.name)->second;  // the parser checked it exists
    const int n = static_cast<int>(args.size()) + (final ? 1 : 0);
    if (spec.max_args < 0 && n < spec.min_args) {
      return Err(fn.pos, "wrong number of args for " + fn.name + ": want at least " +
                             std::to_string(spec.min_args) + " got " + std::to_string(n));
    }
    if (spec.max_args >= 0 && (n < spec.min_args || n > spec.max_args)) {
      return Err(fn.pos, "wrong number of args for " + fn.name + ": want " +
                             std::to_string(spec.min_args) + " got " + std::to_string(n));
    }
    if (spec.impl == nullptr) return EvalAndOr(dot, fn.name == "or", args, final);
    Args values;
    values.reserve(static_cast<size_t>(n));
    for (const Operand& arg : args) {
      DD_ASSIGN_OR_RETURN(value, EvalArg(dot, arg));
      DD_RETURN_IF_ERROR(Charge(value, arg.pos));
      values.push_back(std::move(value));
    }
    if (final) values.push_back(*final);
    Result<Value> result = spec.impl(values);
    if (!result.ok()) {
      return Err(fn.pos, "error calling " + fn.name + ": " + result.status().message());
    }
    if (result->is_string() && result->get_ref<const std::string&>().size() > kMaxStringBytes) {
      return Err(fn.pos, "error calling " + fn.name + ": result is larger than 16 MiB");
    }
    DD_RETURN_IF_ERROR(Charge(*result, fn.pos));
    return result;
  }

  // and/or evaluate their arguments only until one decides: and returns the first false one,
  // or returns the first true one, else both return the last.
  Result<Value> EvalAndOr(const Value& dot, bool is_or, std::span<const Operand> args,
                          const std::optional<Value>& final) {
    Value value;
    for (const Operand& arg : args) {
      DD_ASSIGN_OR_RETURN(v, EvalArg(dot, arg));
      if (Truth(v) == is_or) return std::move(v);
      value = std::move(v);
    }
    if (final) return *final;
    return value;
  }

  Result<const Value*> Var(const Operand& op) const {
    for (auto it = vars_.rbegin(); it != vars_.rend(); ++it) {
      if (it->first == op.name) return &it->second;
    }
    return Err(op.pos, "undefined variable: " + op.name);
  }

  Status SetVar(const std::string& name, const Value& value, Pos pos) {
    for (auto it = vars_.rbegin(); it != vars_.rend(); ++it) {
      if (it->first == name) {
        it->second = value;
        return Status::Ok();
      }
    }
    return Err(pos, "undefined variable: " + name);
  }

  const SourceMap& map_;
  const FuncTable& funcs_;
  // Innermost last; blocks truncate it to where it was when they began.
  std::vector<std::pair<std::string, Value>> vars_;
  std::string out_;
  int64_t steps_ = 0;
  int64_t value_bytes_ = 0;
};

}  // namespace
}  // namespace internal

Result<std::string> RenderTemplate(std::string_view source, const nlohmann::json& data,
                                   std::string_view name) {
  const internal::SourceMap map(source, name);
  const internal::FuncTable funcs = internal::MakeFuncTable();
  DD_ASSIGN_OR_RETURN(nodes, internal::Parse(source, map, funcs));
  return internal::Executor(map, funcs, data).Run(nodes, data);
}

}  // namespace drydock::gotemplate
