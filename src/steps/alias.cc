#include "steps/alias.h"
#include "steps/yaml_load.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

namespace drydock::steps {
namespace {

constexpr std::string_view kDefaultVersion = "v1.0.0";
// acb compares versions as strings, so "1.0-preview-1" and "v1.0.0" sort before this one.
constexpr std::string_view kFirstAliasVersion = "v1.1.0";

// acb's global defaults (graph/global-defaults-linux.go) without the image aliases, which come
// from the server's configuration instead of MCR.
constexpr std::pair<std::string_view, std::string_view> kRunAliases[] = {
    {"ID", "{{.Run.ID}}"},
    {"SharedVolume", "{{.Run.SharedVolume}}"},
    {"Registry", "{{.Run.Registry}}"},
    {"RegistryName", "{{.Run.RegistryName}}"},
    {"Date", "{{.Run.Date}}"},
    {"OS", "{{.Run.OS}}"},
    {"Architecture", "{{.Run.Architecture}}"},
    {"Commit", "{{.Run.Commit}}"},
    {"Branch", "{{.Run.Branch}}"},
};

using AliasMap = std::map<std::string, std::string>;

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// ASCII only, as acb's isAlphanumeric: a `$word` ends at the first other byte.
bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool IsAliasName(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), IsAlnum);
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

std::string_view Unquote(std::string_view s) {
  if (s.size() >= 2 && (s.front() == '"' || s.front() == '\'') && s.back() == s.front()) {
    return s.substr(1, s.size() - 2);
  }
  return s;
}

// Drops a trailing YAML comment: '#' starts one only at the start or after whitespace.
std::string_view StripComment(std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '#' && (i == 0 || IsSpace(s[i - 1]))) return Trim(s.substr(0, i));
  }
  return Trim(s);
}

size_t Indent(std::string_view line) {
  size_t n = 0;
  while (n < line.size() && line[n] == ' ') ++n;
  return n;
}

bool IsBlankOrComment(std::string_view line) {
  std::string_view t = Trim(line);
  return t.empty() || t.front() == '#';
}

// A line that starts a new top-level entry (and so ends the one before it).
bool StartsTopLevel(std::string_view line) {
  return !line.empty() && !IsSpace(line.front()) && line.front() != '#';
}

struct TopLevelEntry {
  std::string_view key, value;
};

// The key and the rest of a top-level "key: value" line; the key may be quoted (acb's FindVersion
// trims quotes too).
std::optional<TopLevelEntry> TopLevelKey(std::string_view line) {
  if (!StartsTopLevel(line)) return std::nullopt;
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  return TopLevelEntry{Unquote(Trim(line.substr(0, colon))), line.substr(colon + 1)};
}

std::vector<std::string_view> SplitLines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  for (size_t nl = text.find('\n'); nl != std::string_view::npos; nl = text.find('\n', start)) {
    lines.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  lines.push_back(text.substr(start));  // joining with '\n' restores the text exactly
  return lines;
}

std::string Lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

Status ErrorAt(std::string_view name, const YAML::Mark& mark, std::string_view message) {
  // Marks of empty documents are -1; point at the start of the file then.
  int line = mark.line < 0 ? 1 : mark.line + 1;
  int column = mark.column < 0 ? 1 : mark.column + 1;
  return Invalid(std::string(name) + ":" + std::to_string(line) + ":" + std::to_string(column) +
                 ": " + std::string(message));
}

// --- The alias block ---

struct Range {
  size_t begin = 0, end = 0;  // lines [begin, end)
};

// Finds the top-level `alias:` entry by lines, as acb does: the YAML around it may not parse
// before templates are rendered, but the block itself must.
std::optional<Range> FindAliasBlock(const std::vector<std::string_view>& lines) {
  for (size_t i = 0; i < lines.size(); ++i) {
    auto entry = TopLevelKey(lines[i]);
    if (!entry || entry->key != "alias") continue;
    size_t end = i + 1;
    while (end < lines.size() && !StartsTopLevel(lines[end])) ++end;
    // Comments and blank lines just before the next entry belong to that entry.
    while (end > i + 1 && IsBlankOrComment(lines[end - 1])) --end;
    return Range{i, end};
  }
  return std::nullopt;
}

struct AliasSource {
  std::string path;
  YAML::Mark mark;
};

struct AliasBlock {
  AliasMap values;
  std::vector<AliasSource> sources;
  std::string directive = "$";
};

using ErrorFn = std::function<Status(const YAML::Mark&, const std::string&)>;

// Reads a YAML map of alias name -> value (the `values:` entry or a whole `src` file).
Result<AliasMap> ReadAliasMap(const YAML::Node& node, const ErrorFn& error) {
  AliasMap aliases;
  if (node.IsNull()) return aliases;
  if (!node.IsMap()) return error(node.Mark(), "aliases must be a map of name: value");
  for (const auto& entry : node) {
    const YAML::Node& key = entry.first;
    const YAML::Node& value = entry.second;
    if (!key.IsScalar() || !IsAliasName(key.Scalar())) {
      std::string shown = key.IsScalar() ? key.Scalar() : "?";
      return error(key.Mark(), "alias name '" + shown + "' must match ^[a-zA-Z0-9]+$");
    }
    if (!value.IsNull() && !value.IsScalar()) {
      return error(value.Mark(), "alias '" + key.Scalar() + "' must be a string");
    }
    if (!aliases.emplace(key.Scalar(), value.IsNull() ? "" : value.Scalar()).second) {
      return error(key.Mark(), "alias '" + key.Scalar() + "' is defined twice");
    }
  }
  return aliases;
}

size_t Utf8Length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead >> 5) == 0x6) return 2;
  if ((lead >> 4) == 0xE) return 3;
  if ((lead >> 3) == 0x1E) return 4;
  return 0;
}

// acb allows any single non-alphanumeric character (its tests use an emoji); whitespace is
// refused as well since it could never be followed by an alias name on purpose.
bool IsValidDirective(std::string_view d) {
  if (d.empty() || Utf8Length(static_cast<unsigned char>(d[0])) != d.size()) return false;
  return !(d.size() == 1 && (IsAlnum(d[0]) || IsSpace(d[0]) || d[0] < 0x20));
}

Status ReadSources(const YAML::Node& node, const ErrorFn& error, AliasBlock& block) {
  if (node.IsNull()) return Status::Ok();
  std::vector<YAML::Node> items;
  if (node.IsScalar()) {
    items.push_back(node);
  } else if (node.IsSequence()) {
    for (const auto& item : node) items.push_back(item);
  } else {
    return error(node.Mark(), "alias 'src' must be a list of file paths");
  }
  for (const auto& item : items) {
    if (!item.IsScalar() || item.Scalar().empty()) {
      return error(item.Mark(), "alias 'src' must be a list of file paths");
    }
    block.sources.push_back({item.Scalar(), item.Mark()});
  }
  return Status::Ok();
}

Result<AliasBlock> ReadAliasBlock(const YAML::Node& alias, std::string_view name) {
  ErrorFn error = [name](const YAML::Mark& mark, const std::string& message) {
    return ErrorAt(name, mark, message);
  };
  AliasBlock block;
  if (alias.IsNull()) return block;
  if (!alias.IsMap()) return error(alias.Mark(), "'alias' must be a map of values, src, directive");
  for (const auto& entry : alias) {
    std::string key = entry.first.IsScalar() ? entry.first.Scalar() : "";
    const YAML::Node& value = entry.second;
    if (key == "values") {
      DD_ASSIGN_OR_RETURN(values, ReadAliasMap(value, error));
      block.values = std::move(values);
    } else if (key == "src") {
      DD_RETURN_IF_ERROR(ReadSources(value, error, block));
    } else if (key == "directive") {
      if (value.IsNull()) continue;
      if (!value.IsScalar() || !IsValidDirective(value.Scalar())) {
        std::string shown = value.IsScalar() ? value.Scalar() : "?";
        return error(value.Mark(),
                     "alias directive '" + shown + "' must be a single non-alphanumeric character");
      }
      block.directive = value.Scalar();
    } else {
      return error(entry.first.Mark(), "unknown alias property '" + key +
                                           "' (expected 'values', 'src' or 'directive')");
    }
  }
  return block;
}

// Parses the lines of the alias block, padded so that yaml-cpp's marks are the file's lines.
Result<AliasBlock> ParseAliasBlock(const std::vector<std::string_view>& lines, Range range,
                                   std::string_view name) {
  std::string text(range.begin, '\n');
  for (size_t i = range.begin; i < range.end; ++i) {
    text.append(lines[i]);
    text.push_back('\n');
  }
  try {
    YAML::Node root = LoadYaml(text);
    if (!root.IsMap()) return ErrorAt(name, root.Mark(), "'alias' must be a top-level map");
    for (const auto& entry : root) {
      if (entry.first.IsScalar() && entry.first.Scalar() == "alias") {
        return ReadAliasBlock(entry.second, name);
      }
    }
    return ErrorAt(name, root.Mark(), "'alias' must be a top-level map");
  } catch (const YAML::Exception& e) {
    return ErrorAt(name, e.mark, e.msg);
  }
}

bool IsUrl(std::string_view path) {
  return path.starts_with("http://") || path.starts_with("https://");
}

// Loads the `src` files in order, later files overriding earlier ones.
Result<AliasMap> LoadSources(const AliasBlock& block, const AliasOptions& options,
                             std::string_view name) {
  AliasMap merged;
  for (const AliasSource& src : block.sources) {
    std::string what = "alias src '" + src.path + "': ";
    // Fetching URLs from task files would let any task make the server issue requests.
    if (IsUrl(src.path)) {
      return ErrorAt(name, src.mark, what + "remote alias files are not supported");
    }
    if (!options.read_source) {
      return ErrorAt(name, src.mark, what + "alias files cannot be read here");
    }
    Result<std::string> text = options.read_source(src.path);
    if (!text.ok()) {
      Status located = ErrorAt(name, src.mark, what + text.status().message());
      return Status(text.status().code(), located.message());
    }
    ErrorFn error = [&](const YAML::Mark& mark, const std::string& message) {
      return ErrorAt(name, src.mark,
                     what + "line " + std::to_string(mark.line + 1) + ", column " +
                         std::to_string(mark.column + 1) + ": " + message);
    };
    try {
      DD_ASSIGN_OR_RETURN(aliases, ReadAliasMap(LoadYaml(*text), error));
      for (auto& [key, value] : aliases) merged.insert_or_assign(key, std::move(value));
    } catch (const YAML::Exception& e) {
      return error(e.mark, e.msg);
    }
  }
  return merged;
}

// --- Substitution ---

struct Aliases {
  std::string directive = "$";
  AliasMap by_directive;  // `$name` -> value
  AliasMap commands;      // bare first word of a `cmd:` -> value
};

Result<Aliases> BuildAliases(const std::vector<std::string_view>& lines, std::optional<Range> range,
                             const AliasOptions& options, std::string_view name) {
  AliasBlock block;
  if (range) {
    DD_ASSIGN_OR_RETURN(parsed, ParseAliasBlock(lines, *range, name));
    block = std::move(parsed);
  }
  DD_ASSIGN_OR_RETURN(sources, LoadSources(block, options, name));
  Aliases aliases;
  aliases.directive = block.directive;
  for (const auto& [key, value] : kRunAliases) aliases.by_directive.emplace(key, value);
  // Precedence, lowest first: built-ins, images, src files, inline values.
  for (const AliasMap* layer :
       {&options.images, &std::as_const(sources), &std::as_const(block.values)}) {
    for (const auto& [key, value] : *layer) {
      aliases.by_directive.insert_or_assign(key, value);
      aliases.commands.insert_or_assign(key, value);
    }
  }
  return aliases;
}

std::string Substitute(std::string_view text, const Aliases& aliases) {
  const std::string& d = aliases.directive;
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    if (text.substr(i, d.size()) != d) {
      out.push_back(text[i++]);
      continue;
    }
    size_t start = i + d.size();
    if (text.substr(start, d.size()) == d) {  // escaped directive
      out.append(d);
      i = start + d.size();
      continue;
    }
    size_t end = start;
    while (end < text.size() && IsAlnum(text[end])) ++end;
    auto it = aliases.by_directive.find(std::string(text.substr(start, end - start)));
    if (end > start && it != aliases.by_directive.end()) {
      out.append(it->second);
    } else {
      out.append(text.substr(i, end - i));  // unknown: left as written
    }
    i = end;
  }
  return out;
}

std::string EscapeFor(char quote, std::string_view value) {
  std::string out;
  for (char c : value) {
    if (quote == '"' && (c == '"' || c == '\\')) out.push_back('\\');
    if (quote == '\'' && c == '\'') out.push_back('\'');
    out.push_back(c);
  }
  return out;
}

// Replaces the first word of a cmd value (starting at `at`) when it names an alias, as acb's
// ExpandCommandAliases does after parsing.
std::string ExpandCommandWord(std::string text, size_t at, bool flow, const Aliases& aliases) {
  char quote = 0;
  if (at < text.size() && (text[at] == '"' || text[at] == '\'')) quote = text[at++];
  size_t end = at;
  while (end < text.size() && !IsSpace(text[end]) && text[end] != quote &&
         !(flow && (text[end] == ',' || text[end] == '}'))) {
    ++end;
  }
  auto it = aliases.commands.find(text.substr(at, end - at));
  if (end == at || it == aliases.commands.end()) return text;
  return text.replace(at, end - at, quote ? EscapeFor(quote, it->second) : it->second);
}

bool IsBlockIndicator(std::string_view value) {
  value = StripComment(value);
  if (value.empty() || (value[0] != '|' && value[0] != '>')) return false;
  return std::all_of(value.begin() + 1, value.end(),
                     [](char c) { return c == '+' || c == '-' || (c >= '0' && c <= '9'); });
}

// What the rewriter needs to know about a line outside block scalars.
struct LineShape {
  bool is_cmd = false;                 // a `cmd:` key with its value on this line
  bool flow = false;                   // ... inside a flow map `{cmd: ..., id: ...}`
  size_t value = 0;                    // where the value of the line's key starts
  std::optional<size_t> block_parent;  // set when a block scalar starts: its parent's column
};

// Finds "cmd:" as a key inside a one-line flow map such as `- {id: a, cmd: bash echo}`.
std::optional<size_t> FlowCmdValue(std::string_view line, size_t from) {
  for (size_t p = line.find("cmd", from); p != std::string_view::npos;
       p = line.find("cmd", p + 1)) {
    size_t before = p;
    while (before > from && IsSpace(line[before - 1])) --before;
    if (before == 0 || (line[before - 1] != '{' && line[before - 1] != ',')) continue;
    size_t colon = p + 3;
    while (colon < line.size() && IsSpace(line[colon])) ++colon;
    if (colon + 1 >= line.size() || line[colon] != ':' || !IsSpace(line[colon + 1])) continue;
    size_t value = colon + 1;
    while (value < line.size() && IsSpace(line[value])) ++value;
    return value;
  }
  return std::nullopt;
}

LineShape Analyze(std::string_view line) {
  LineShape shape;
  size_t pos = Indent(line);
  size_t parent = pos;
  // Sequence entries: a block scalar right after "- " belongs to the dash's column.
  while (pos < line.size() && line[pos] == '-' &&
         (pos + 1 == line.size() || IsSpace(line[pos + 1]))) {
    parent = pos;
    ++pos;
    while (pos < line.size() && IsSpace(line[pos])) ++pos;
  }
  if (pos < line.size() && line[pos] == '{') {
    if (auto value = FlowCmdValue(line, pos)) {
      shape.is_cmd = shape.flow = true;
      shape.value = *value;
    }
    return shape;
  }
  if (IsBlockIndicator(line.substr(pos))) {
    shape.block_parent = parent;
    return shape;
  }
  // A block mapping key, possibly quoted, then ": " or ":" at the end of the line.
  std::string_view rest = line.substr(pos);
  size_t key_end = 0;
  if (!rest.empty() && (rest[0] == '"' || rest[0] == '\'')) {
    key_end = rest.find(rest[0], 1);
    if (key_end == std::string_view::npos) return shape;
    ++key_end;
  }
  size_t colon = rest.find(':', key_end);
  while (colon != std::string_view::npos && colon + 1 < rest.size() && !IsSpace(rest[colon + 1])) {
    colon = rest.find(':', colon + 1);
  }
  if (colon == std::string_view::npos) return shape;
  std::string_view key = Unquote(Trim(rest.substr(0, colon)));
  size_t value = colon + 1;
  while (value < rest.size() && IsSpace(rest[value])) ++value;
  shape.value = pos + value;
  if (IsBlockIndicator(rest.substr(value))) {
    shape.block_parent = pos;  // the key's column
  } else {
    shape.is_cmd = key == "cmd" && !Trim(rest.substr(value)).empty();
  }
  if (key == "cmd" && shape.block_parent) shape.is_cmd = true;
  return shape;
}

// Rewrites the task text line by line. It tracks block scalars (`key: |`) so that a script's
// lines are neither mistaken for comments nor for `cmd:` keys.
class Rewriter {
 public:
  explicit Rewriter(const Aliases& aliases) : aliases_(aliases) {}

  std::string Line(std::string_view line) {
    size_t indent = Indent(line);
    bool blank = Trim(line).empty();
    if (in_block_ && (blank || indent > block_parent_)) {
      std::string out = Substitute(line, aliases_);
      if (cmd_block_ && !blank) {
        cmd_block_ = false;
        return ExpandCommandWord(std::move(out), Indent(out), false, aliases_);
      }
      return out;
    }
    in_block_ = false;
    cmd_block_ = false;
    // acb drops comment lines before substituting; keeping them verbatim keeps line numbers.
    if (!blank && line[indent] == '#') return std::string(line);

    LineShape shape = Analyze(line);
    in_block_ = shape.block_parent.has_value();
    block_parent_ = shape.block_parent.value_or(0);
    if (!shape.is_cmd) return Substitute(line, aliases_);
    if (shape.block_parent) {
      cmd_block_ = true;
      return Substitute(line, aliases_);
    }
    std::string head = Substitute(line.substr(0, shape.value), aliases_);
    std::string value = Substitute(line.substr(shape.value), aliases_);
    return head + ExpandCommandWord(std::move(value), 0, shape.flow, aliases_);
  }

 private:
  const Aliases& aliases_;
  bool in_block_ = false;  // inside a block scalar whose parent is at column block_parent_
  size_t block_parent_ = 0;
  bool cmd_block_ = false;  // the next content line starts a `cmd: |` value
};

}  // namespace

std::string TaskFileVersion(std::string_view yaml) {
  for (std::string_view line : SplitLines(yaml)) {
    auto entry = TopLevelKey(line);
    if (!entry || entry->key != "version") continue;
    std::string_view value = Unquote(StripComment(entry->value));
    return value.empty() ? std::string(kDefaultVersion) : std::string(value);
  }
  return std::string(kDefaultVersion);
}

Result<std::string> PreprocessAliases(std::string_view yaml, const AliasOptions& options,
                                      std::string_view name) {
  // acb's check is a plain string comparison; lowercasing matches its case-insensitive
  // version validation.
  if (Lowercase(TaskFileVersion(yaml)) < kFirstAliasVersion) return std::string(yaml);

  std::vector<std::string_view> lines = SplitLines(yaml);
  std::optional<Range> range = FindAliasBlock(lines);
  DD_ASSIGN_OR_RETURN(aliases, BuildAliases(lines, range, options, name));

  Rewriter rewriter(aliases);
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) out.push_back('\n');
    if (range && i >= range->begin && i < range->end) continue;  // the alias block: blank lines
    out.append(rewriter.Line(lines[i]));
  }
  return out;
}

}  // namespace drydock::steps
