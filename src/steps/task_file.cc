#include "steps/task_file.h"
#include "steps/yaml_load.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <climits>
#include <cstddef>
#include <filesystem>
#include <optional>
#include <set>
#include <utility>

namespace drydock::steps {
namespace {

constexpr int kDefaultStepTimeout = 600;
constexpr int kDefaultRetryDelay = 5;
constexpr std::string_view kDefaultWorkingDirectory = "/workspace";
constexpr std::string_view kRootId = "acb_root";  // acb's DAG root; `when: [acb_root]` = "-"
constexpr std::string_view kImmediately = "-";
constexpr std::string_view kFirstAliasVersion = "v1.1.0";
constexpr std::string_view kVersions[] = {"1.0-preview-1", "v1.0.0", "v1.1.0"};
// acb pushes with its own fixed retries, so only these apply to a push step.
constexpr std::string_view kPushProperties[] = {"id",         "push", "when",        "timeout",
                                                "startDelay", "env",  "ignoreErrors"};

bool IsAsciiSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

bool HasSpace(std::string_view s) { return std::any_of(s.begin(), s.end(), IsAsciiSpace); }

bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// ^[a-zA-Z0-9<extra>]+$
bool MatchesName(std::string_view s, std::string_view extra) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [extra](char c) {
    return IsAlnum(c) || extra.find(c) != std::string_view::npos;
  });
}

bool IsHex(char c) { return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f'); }

// The forms acb's uuid.Parse accepts for an MSI client id: 8-4-4-4-12 hex digits (optionally in
// braces) or 32 hex digits.
bool IsUuid(std::string_view s) {
  if (s.size() == 38 && s.front() == '{' && s.back() == '}') s = s.substr(1, 36);
  if (s.size() == 32) return std::all_of(s.begin(), s.end(), IsHex);
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !IsHex(s[i])) return false;
  }
  return true;
}

std::string Lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// " (did you mean 'x'?)" for the closest known name within two edits (ignoring case), or "".
template <typename Names>
std::string DidYouMean(std::string_view name, const Names& known) {
  std::string lower = Lowercase(name);
  std::string_view best;
  size_t best_distance = 3;
  for (std::string_view candidate : known) {
    size_t d = EditDistance(lower, Lowercase(candidate));
    if (d < best_distance) {
      best = candidate;
      best_distance = d;
    }
  }
  return best.empty() ? "" : " (did you mean '" + std::string(best) + "'?)";
}

// A relative path is resolved against `base`, as acb does for step working directories.
std::string JoinPath(std::string_view base, std::string_view path) {
  if (path.empty()) return std::string(base);
  if (path.front() == '/') return std::string(path);
  std::filesystem::path joined(std::string(base) + "/" + std::string(path));
  std::string out = joined.lexically_normal().string();
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

std::string_view EnvKey(std::string_view entry) { return entry.substr(0, entry.find('=')); }

// acb's mergeEnvs: the step's entries win; task entries are appended for the other keys. Unlike
// acb, entries are never split on commas, so "A=1,2" stays one value.
std::vector<std::string> MergeEnv(std::vector<std::string> step_env,
                                  const std::vector<std::string>& task_env) {
  std::set<std::string_view> step_keys;
  for (const std::string& entry : step_env) step_keys.insert(EnvKey(entry));
  std::vector<std::string> merged = step_env;
  for (const std::string& entry : task_env) {
    if (!step_keys.count(EnvKey(entry))) merged.push_back(entry);
  }
  return merged;
}

// One key: value pair of a YAML map.
struct Entry {
  std::string key;
  YAML::Node key_node, value;

  // Null values carry the mark of whatever follows them, so point at the key instead.
  YAML::Mark ValueMark() const { return value.IsNull() ? key_node.Mark() : value.Mark(); }
};

template <typename T>
Status Assign(Result<T> result, T& out) {
  if (!result.ok()) return result.status();
  out = std::move(*result);
  return Status::Ok();
}

// Positions of a step's parts, kept for the checks that need the whole file.
struct StepMarks {
  YAML::Mark step, id;
  bool has_id = false;
  std::optional<Entry> when;
  std::vector<YAML::Mark> when_items;
  std::vector<YAML::Mark> mount_names, mount_paths;
};

class Parser {
 public:
  explicit Parser(std::string_view name) : name_(name) {}

  Result<TaskFile> Parse(const YAML::Node& root);

 private:
  using StepSetter = Status (*)(Parser&, const Entry&, Step&, StepMarks&);
  struct StepProperty {
    std::string_view key;
    StepSetter set;
  };
  static const std::vector<StepProperty>& StepProperties();
  // Setters for the plain fields of the table above.
  template <std::string Step::*field>
  static Status StringField(Parser& p, const Entry& e, Step& s, StepMarks&) {
    return Assign(p.String(e), s.*field);
  }
  template <int Step::*field, bool non_negative>
  static Status IntField(Parser& p, const Entry& e, Step& s, StepMarks&) {
    return Assign(p.Int(e, non_negative), s.*field);
  }
  template <bool Step::*field>
  static Status BoolField(Parser& p, const Entry& e, Step& s, StepMarks&) {
    return Assign(p.Bool(e), s.*field);
  }
  template <std::vector<std::string> Step::*field>
  static Status ListField(Parser& p, const Entry& e, Step& s, StepMarks&) {
    return Assign(p.Strings(e), s.*field);
  }

  Status Error(const YAML::Mark& mark, const std::string& message) const;
  Status Spend(size_t n, const YAML::Mark& mark) const;
  Result<std::vector<Entry>> Entries(const YAML::Node& map) const;
  Status CheckKeys(const std::vector<Entry>& entries, std::string_view what,
                   const std::vector<std::string_view>& known) const;

  Result<std::string> String(const Entry& e) const;
  Result<int> Int(const Entry& e, bool non_negative) const;
  Result<bool> Bool(const Entry& e) const;
  Result<std::vector<YAML::Node>> Items(const Entry& e, const std::string& expected) const;
  Result<std::vector<std::string>> Strings(const Entry& e) const;
  Result<std::vector<std::string>> Env(const Entry& e) const;

  Status ParseTopLevel(const Entry& e, TaskFile& task);
  Status ParseVersion(const Entry& e, TaskFile& task);
  Status ParseSecrets(const Entry& e, TaskFile& task);
  Status ParseNetworks(const Entry& e, TaskFile& task);
  Status ParseVolumes(const Entry& e, TaskFile& task);
  Status ParseSteps(const Entry& e, TaskFile& task);
  Status ParseStep(const YAML::Node& node, size_t index, Step& step, StepMarks& marks);
  Status CheckStepKind(const std::vector<Entry>& entries, const Step& step, const StepMarks& marks);
  Status ParseCommand(const Entry& e, Step::Kind kind, Step& step);
  Status ParsePush(const Entry& e, Step& step);
  Status ParseWhen(const Entry& e, StepMarks& marks);
  Status ParseMounts(const Entry& e, Step& step, StepMarks& marks);

  void ApplyDefaults(TaskFile& task);
  Status CheckIds(const TaskFile& task);
  Status ResolveWhen(TaskFile& task);
  Status CheckMounts(const TaskFile& task);

  std::string name_;
  std::vector<StepMarks> step_marks_;
  std::optional<Entry> steps_entry_, alias_entry_;
  // YAML aliases (*name) share nodes, so a small file can name a huge list many times over;
  // this bounds the map entries and list items the parser will walk.
  mutable size_t budget_ = 1000000;
};

Status Parser::Error(const YAML::Mark& mark, const std::string& message) const {
  int line = mark.line < 0 ? 1 : mark.line + 1;
  int column = mark.column < 0 ? 1 : mark.column + 1;
  return Invalid(name_ + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " +
                 message);
}

Status Parser::Spend(size_t n, const YAML::Mark& mark) const {
  if (n > budget_) return Error(mark, "the task file is too large once its YAML aliases expand");
  budget_ -= n;
  return Status::Ok();
}

// The entries of a map with YAML merge keys (`<<: *defaults`) applied, as yaml.v2 does for acb.
// Duplicate keys are an error (yaml.v2 refuses them too; yaml-cpp would keep both).
Result<std::vector<Entry>> Parser::Entries(const YAML::Node& map) const {
  DD_RETURN_IF_ERROR(Spend(map.size(), map.Mark()));
  std::vector<Entry> entries;
  std::vector<YAML::Node> merges;
  for (const auto& pair : map) {
    if (!pair.first.IsScalar()) return Error(pair.first.Mark(), "keys must be strings");
    const std::string& key = pair.first.Scalar();
    if (key == "<<" && pair.first.Tag() == "?") {
      merges.push_back(pair.second);
      continue;
    }
    for (const Entry& seen : entries) {
      if (seen.key == key) {
        return Error(pair.first.Mark(), "duplicate key '" + key + "' (first at line " +
                                            std::to_string(seen.key_node.Mark().line + 1) + ")");
      }
    }
    entries.push_back({key, pair.first, pair.second});
  }
  for (const YAML::Node& merge : merges) {
    std::vector<YAML::Node> sources;
    if (merge.IsSequence()) {
      for (const auto& item : merge) sources.push_back(item);
    } else {
      sources.push_back(merge);
    }
    for (const YAML::Node& source : sources) {
      if (!source.IsMap()) return Error(source.Mark(), "'<<' must merge a map or a list of maps");
      DD_ASSIGN_OR_RETURN(merged, Entries(source));
      for (Entry& e : merged) {  // explicit keys and earlier merges win
        auto same = [&e](const Entry& seen) { return seen.key == e.key; };
        if (std::none_of(entries.begin(), entries.end(), same)) entries.push_back(std::move(e));
      }
    }
  }
  return entries;
}

// Refuses unknown keys: acb (yaml.v2) ignores them, which hides typos such as `timout`.
Status Parser::CheckKeys(const std::vector<Entry>& entries, std::string_view what,
                         const std::vector<std::string_view>& known) const {
  for (const Entry& e : entries) {
    if (std::find(known.begin(), known.end(), e.key) == known.end()) {
      return Error(e.key_node.Mark(), "unknown " + std::string(what) + " property '" + e.key + "'" +
                                          DidYouMean(e.key, known));
    }
  }
  return Status::Ok();
}

Result<std::string> Parser::String(const Entry& e) const {
  if (e.value.IsNull()) return std::string();
  if (!e.value.IsScalar()) return Error(e.ValueMark(), "'" + e.key + "' must be a string");
  return e.value.Scalar();
}

// Plain or !!int scalars only: like yaml.v2, a quoted "5" is a string, not a number.
Result<int> Parser::Int(const Entry& e, bool non_negative) const {
  if (e.value.IsNull()) return 0;
  std::string message =
      "'" + e.key + "' must be " + (non_negative ? "a non-negative integer" : "an integer");
  const std::string& tag = e.value.Tag();
  if (!e.value.IsScalar() || (tag != "?" && tag != "tag:yaml.org,2002:int")) {
    return Error(e.ValueMark(), message);
  }
  std::string_view text = e.value.Scalar();
  if (text.starts_with('+')) text.remove_prefix(1);
  int value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size() ||
      (non_negative && value < 0)) {
    return Error(e.ValueMark(), message);
  }
  return value;
}

Result<bool> Parser::Bool(const Entry& e) const {
  if (e.value.IsNull()) return false;
  const std::string& tag = e.value.Tag();
  bool value = false;
  if (!e.value.IsScalar() || (tag != "?" && tag != "tag:yaml.org,2002:bool") ||
      !YAML::convert<bool>::decode(e.value, value)) {
    return Error(e.ValueMark(), "'" + e.key + "' must be true or false");
  }
  return value;
}

Result<std::vector<YAML::Node>> Parser::Items(const Entry& e, const std::string& expected) const {
  std::vector<YAML::Node> items;
  if (e.value.IsNull()) return items;
  if (!e.value.IsSequence()) return Error(e.ValueMark(), "'" + e.key + "' must be " + expected);
  DD_RETURN_IF_ERROR(Spend(e.value.size(), e.ValueMark()));
  for (const auto& item : e.value) items.push_back(item);
  return items;
}

Result<std::vector<std::string>> Parser::Strings(const Entry& e) const {
  DD_ASSIGN_OR_RETURN(items, Items(e, "a list of strings"));
  std::vector<std::string> out;
  for (const YAML::Node& item : items) {
    if (!item.IsNull() && !item.IsScalar()) {
      return Error(item.Mark(), "'" + e.key + "' must be a list of strings");
    }
    out.push_back(item.IsNull() ? "" : item.Scalar());
  }
  return out;
}

// KEY=VALUE entries, each kept whole.
Result<std::vector<std::string>> Parser::Env(const Entry& e) const {
  DD_ASSIGN_OR_RETURN(items, Items(e, "a list of KEY=VALUE strings"));
  std::vector<std::string> out;
  for (const YAML::Node& item : items) {
    std::string entry = item.IsScalar() ? item.Scalar() : "";
    size_t equals = entry.find('=');
    if (!item.IsScalar() || equals == 0 || equals == std::string::npos) {
      return Error(item.Mark(), "env entry '" + entry + "' must have the form KEY=VALUE");
    }
    out.push_back(std::move(entry));
  }
  return out;
}

// --- Top level ---

Status Parser::ParseTopLevel(const Entry& e, TaskFile& task) {
  if (e.key == "version") return ParseVersion(e, task);
  if (e.key == "stepTimeout") return Assign(Int(e, false), task.step_timeout);
  if (e.key == "workingDirectory") return Assign(String(e), task.working_directory);
  if (e.key == "env") return Assign(Env(e), task.env);
  if (e.key == "secrets") return ParseSecrets(e, task);
  if (e.key == "networks") return ParseNetworks(e, task);
  if (e.key == "volumes") return ParseVolumes(e, task);
  if (e.key == "steps") return ParseSteps(e, task);
  if (e.key == "alias") alias_entry_ = e;  // consumed by PreprocessAliases; checked later
  return Status::Ok();
}

Status Parser::ParseVersion(const Entry& e, TaskFile& task) {
  DD_ASSIGN_OR_RETURN(version, String(e));
  if (version.empty()) return Status::Ok();
  std::string lower = Lowercase(version);  // acb validates case-insensitively
  if (std::find(std::begin(kVersions), std::end(kVersions), lower) == std::end(kVersions)) {
    return Error(e.ValueMark(), "unsupported version '" + version +
                                    "' (expected 1.0-preview-1, v1.0.0 or v1.1.0)");
  }
  task.version = lower;
  return Status::Ok();
}

Status Parser::ParseSecrets(const Entry& e, TaskFile& task) {
  DD_ASSIGN_OR_RETURN(items, Items(e, "a list of secrets"));
  for (const YAML::Node& item : items) {
    if (!item.IsMap())
      return Error(item.Mark(), "a secret must be a map of id, keyvault, clientID");
    DD_ASSIGN_OR_RETURN(entries, Entries(item));
    DD_RETURN_IF_ERROR(CheckKeys(entries, "secret", {"id", "keyvault", "clientID"}));
    Secret secret;
    YAML::Mark id_mark = item.Mark();
    for (const Entry& field : entries) {
      if (field.key == "id") {
        DD_RETURN_IF_ERROR(Assign(String(field), secret.id));
        id_mark = field.ValueMark();
      } else if (field.key == "keyvault") {
        DD_RETURN_IF_ERROR(Assign(String(field), secret.keyvault));
      } else {
        DD_RETURN_IF_ERROR(Assign(String(field), secret.client_id));
        if (!secret.client_id.empty() && !IsUuid(secret.client_id)) {
          return Error(field.ValueMark(), "clientID '" + secret.client_id + "' is not a GUID");
        }
      }
    }
    if (secret.id.empty()) return Error(item.Mark(), "a secret needs an 'id'");
    if (HasSpace(secret.id)) {
      return Error(id_mark, "secret id '" + secret.id + "' must not contain whitespace");
    }
    for (const Secret& other : task.secrets) {
      if (other.id == secret.id) return Error(id_mark, "duplicate secret id '" + secret.id + "'");
    }
    if (secret.keyvault.empty()) {
      return Error(item.Mark(), "secret '" + secret.id + "' needs a 'keyvault' secret URL");
    }
    task.secrets.push_back(std::move(secret));
  }
  return Status::Ok();
}

Status Parser::ParseNetworks(const Entry& e, TaskFile& task) {
  DD_ASSIGN_OR_RETURN(items, Items(e, "a list of networks"));
  for (const YAML::Node& item : items) {
    if (!item.IsMap()) return Error(item.Mark(), "a network must be a map with a 'name'");
    DD_ASSIGN_OR_RETURN(entries, Entries(item));
    DD_RETURN_IF_ERROR(
        CheckKeys(entries, "network", {"name", "driver", "ipv6", "skipCreation", "isDefault"}));
    Network network;
    for (const Entry& field : entries) {
      if (field.key == "name") DD_RETURN_IF_ERROR(Assign(String(field), network.name));
      if (field.key == "driver") DD_RETURN_IF_ERROR(Assign(String(field), network.driver));
      if (field.key == "ipv6") DD_RETURN_IF_ERROR(Assign(Bool(field), network.ipv6));
      if (field.key == "skipCreation") {
        DD_RETURN_IF_ERROR(Assign(Bool(field), network.skip_creation));
      }
      if (field.key == "isDefault") DD_RETURN_IF_ERROR(Assign(Bool(field), network.is_default));
    }
    if (network.name.empty()) return Error(item.Mark(), "a network needs a 'name'");
    if (network.driver.empty()) network.driver = "bridge";  // docker's default, as acb relies on
    for (const Network& other : task.networks) {
      if (other.name == network.name) {
        return Error(item.Mark(), "duplicate network '" + network.name + "'");
      }
    }
    task.networks.push_back(std::move(network));
  }
  return Status::Ok();
}

Status Parser::ParseVolumes(const Entry& e, TaskFile& task) {
  DD_ASSIGN_OR_RETURN(items, Items(e, "a list of volumes"));
  for (const YAML::Node& item : items) {
    if (!item.IsMap()) return Error(item.Mark(), "a volume must be a map of name and secret");
    DD_ASSIGN_OR_RETURN(entries, Entries(item));
    DD_RETURN_IF_ERROR(CheckKeys(entries, "volume", {"name", "secret"}));
    Volume volume;
    std::optional<Entry> secret;
    YAML::Mark name_mark = item.Mark();
    for (const Entry& field : entries) {
      if (field.key == "name") {
        DD_RETURN_IF_ERROR(Assign(String(field), volume.name));
        name_mark = field.ValueMark();
      } else {
        secret = field;
      }
    }
    if (!MatchesName(volume.name, "-_")) {
      return Error(name_mark, "volume name '" + volume.name + "' must match ^[a-zA-Z0-9-_]+$");
    }
    for (const Volume& other : task.volumes) {
      if (other.name == volume.name) {
        return Error(name_mark, "duplicate volume '" + volume.name + "'");
      }
    }
    if (!secret || !secret->value.IsMap() || secret->value.size() == 0) {
      return Error(secret ? secret->ValueMark() : item.Mark(),
                   "volume '" + volume.name + "' needs a 'secret' map of file name: base64 value");
    }
    DD_ASSIGN_OR_RETURN(files, Entries(secret->value));
    for (const Entry& file : files) {
      if (!MatchesName(file.key, "-_.")) {
        return Error(file.key_node.Mark(),
                     "secret file name '" + file.key + "' must match ^[a-zA-Z0-9-_.]+$");
      }
      DD_ASSIGN_OR_RETURN(content, String(file));
      volume.secret[file.key] = content;
    }
    task.volumes.push_back(std::move(volume));
  }
  return Status::Ok();
}

// --- Steps ---

const std::vector<Parser::StepProperty>& Parser::StepProperties() {
  // Every key of acb's Step struct. Captureless lambdas so the table can be static.
  static const std::vector<StepProperty> properties = {
      {"id",
       [](Parser& p, const Entry& e, Step& s, StepMarks& m) {
         m.has_id = true;
         m.id = e.ValueMark();
         return Assign(p.String(e), s.id);
       }},
      {"cmd", [](Parser& p, const Entry& e, Step& s,
                 StepMarks&) { return p.ParseCommand(e, Step::Kind::kCmd, s); }},
      {"build", [](Parser& p, const Entry& e, Step& s,
                   StepMarks&) { return p.ParseCommand(e, Step::Kind::kBuild, s); }},
      {"push", [](Parser& p, const Entry& e, Step& s, StepMarks&) { return p.ParsePush(e, s); }},
      {"when", [](Parser& p, const Entry& e, Step&, StepMarks& m) { return p.ParseWhen(e, m); }},
      {"timeout", IntField<&Step::timeout, false>},
      // acb sleeps for a negative delay without complaint; it can only be a mistake.
      {"startDelay", IntField<&Step::start_delay, true>},
      {"retries", IntField<&Step::retries, true>},
      {"retryDelay", IntField<&Step::retry_delay, false>},
      {"retryOnErrors", ListField<&Step::retry_on_errors>},
      {"repeat", IntField<&Step::repeat, true>},
      {"ignoreErrors", BoolField<&Step::ignore_errors>},
      {"keep", BoolField<&Step::keep>},
      {"detach", BoolField<&Step::detach>},
      {"privileged", BoolField<&Step::privileged>},
      {"user", StringField<&Step::user>},
      {"entryPoint", StringField<&Step::entry_point>},
      {"env",
       [](Parser& p, const Entry& e, Step& s, StepMarks&) { return Assign(p.Env(e), s.env); }},
      {"expose", ListField<&Step::expose>},
      {"ports", ListField<&Step::ports>},
      {"network", StringField<&Step::network>},
      {"isolation", StringField<&Step::isolation>},
      {"cpus", StringField<&Step::cpus>},
      {"workingDirectory", StringField<&Step::working_directory>},
      {"disableWorkingDirectoryOverride", BoolField<&Step::disable_working_directory_override>},
      {"pull", BoolField<&Step::pull>},
      {"cmdDownloadRetries", IntField<&Step::cmd_download_retries, true>},
      {"cmdDownloadRetryDelay", IntField<&Step::cmd_download_retry_delay, true>},
      {"cache",
       [](Parser& p, const Entry& e, Step& s, StepMarks&) {
         DD_RETURN_IF_ERROR(Assign(p.String(e), s.cache));
         s.cache = Lowercase(s.cache);  // acb compares with EqualFold
         if (s.cache.empty() || s.cache == "enabled" || s.cache == "disabled") return Status::Ok();
         return p.Error(e.ValueMark(), "'cache' must be 'enabled' or 'disabled'");
       }},
      {"volumeMounts",
       [](Parser& p, const Entry& e, Step& s, StepMarks& m) { return p.ParseMounts(e, s, m); }},
      // Parsed and compared by acb but never used; accepted (as lists) so such files still load.
      {"exitedWith",
       [](Parser& p, const Entry& e, Step&, StepMarks&) { return p.Strings(e).status(); }},
      {"exitedWithout",
       [](Parser& p, const Entry& e, Step&, StepMarks&) { return p.Strings(e).status(); }},
  };
  return properties;
}

Status Parser::ParseSteps(const Entry& e, TaskFile& task) {
  steps_entry_ = e;
  DD_ASSIGN_OR_RETURN(items, Items(e, "a list of steps"));
  for (size_t i = 0; i < items.size(); ++i) {
    Step step;
    StepMarks marks;
    DD_RETURN_IF_ERROR(ParseStep(items[i], i, step, marks));
    task.steps.push_back(std::move(step));
    step_marks_.push_back(std::move(marks));
  }
  return Status::Ok();
}

Status Parser::ParseStep(const YAML::Node& node, size_t index, Step& step, StepMarks& marks) {
  if (!node.IsMap()) return Error(node.Mark(), "a step must be a map of properties");
  marks.step = node.Mark();
  step.line = node.Mark().line + 1;
  DD_ASSIGN_OR_RETURN(entries, Entries(node));
  const auto& properties = StepProperties();
  std::vector<std::string_view> known;
  for (const StepProperty& property : properties) known.push_back(property.key);
  DD_RETURN_IF_ERROR(CheckKeys(entries, "step", known));
  for (const Entry& e : entries) {
    for (const StepProperty& property : properties) {
      if (property.key == e.key) DD_RETURN_IF_ERROR(property.set(*this, e, step, marks));
    }
  }
  if (step.id.empty()) step.id = "acb_step_" + std::to_string(index);
  return CheckStepKind(entries, step, marks);
}

// Exactly one of build, cmd and push; a push step takes only the properties acb honours for it.
Status Parser::CheckStepKind(const std::vector<Entry>& entries, const Step& step,
                             const StepMarks& marks) {
  std::vector<const Entry*> kinds;
  for (const Entry& e : entries) {
    if (e.key == "build" || e.key == "cmd" || e.key == "push") kinds.push_back(&e);
  }
  std::string who = "step '" + step.id + "'";
  if (kinds.empty()) return Error(marks.step, who + " needs one of 'build', 'cmd' or 'push'");
  if (kinds.size() > 1) {
    return Error(kinds[1]->key_node.Mark(),
                 who + " has both '" + kinds[0]->key + "' and '" + kinds[1]->key +
                     "'; a step has exactly one of 'build', 'cmd' or 'push'");
  }
  if (step.kind != Step::Kind::kPush) return Status::Ok();
  for (const Entry& e : entries) {
    if (std::find(std::begin(kPushProperties), std::end(kPushProperties), e.key) ==
        std::end(kPushProperties)) {
      return Error(e.key_node.Mark(),
                   "push " + who + " does not support '" + e.key +
                       "' (a push step takes only id, when, timeout, startDelay, env, "
                       "ignoreErrors)");
    }
  }
  return Status::Ok();
}

Status Parser::ParseCommand(const Entry& e, Step::Kind kind, Step& step) {
  DD_ASSIGN_OR_RETURN(text, String(e));
  Result<std::vector<std::string>> words = SplitShellWords(text);
  if (!words.ok()) return Error(e.ValueMark(), "'" + e.key + "': " + words.status().message());
  if (words->empty()) return Error(e.ValueMark(), "'" + e.key + "' must not be empty");
  step.kind = kind;
  if (kind == Step::Kind::kCmd) {
    step.cmd = text;
    step.cmd_args = std::move(*words);
  } else {
    step.build = text;
    step.build_args = std::move(*words);
  }
  return Status::Ok();
}

Status Parser::ParsePush(const Entry& e, Step& step) {
  DD_ASSIGN_OR_RETURN(items, Items(e, "a list of images"));
  if (items.empty()) return Error(e.ValueMark(), "'push' must list at least one image");
  for (const YAML::Node& item : items) {
    if (!item.IsScalar() || item.Scalar().empty() || HasSpace(item.Scalar())) {
      return Error(item.Mark(), "'push' entries must be image references");
    }
    step.push.push_back(item.Scalar());
  }
  step.kind = Step::Kind::kPush;
  return Status::Ok();
}

// Only recorded here: ids are resolved once every step is known.
Status Parser::ParseWhen(const Entry& e, StepMarks& marks) {
  DD_ASSIGN_OR_RETURN(items, Items(e, "a list of step ids"));
  for (const YAML::Node& item : items) {
    if (!item.IsScalar() || item.Scalar().empty()) {
      return Error(item.IsNull() ? e.ValueMark() : item.Mark(),
                   "'when' must be a list of step ids");
    }
    marks.when_items.push_back(item.Mark());
  }
  marks.when = e;
  return Status::Ok();
}

Status Parser::ParseMounts(const Entry& e, Step& step, StepMarks& marks) {
  DD_ASSIGN_OR_RETURN(items, Items(e, "a list of volume mounts"));
  for (const YAML::Node& item : items) {
    if (!item.IsMap()) return Error(item.Mark(), "a volume mount must be a map of name, mountPath");
    DD_ASSIGN_OR_RETURN(entries, Entries(item));
    DD_RETURN_IF_ERROR(CheckKeys(entries, "volumeMounts", {"name", "mountPath"}));
    VolumeMount mount;
    YAML::Mark name_mark = item.Mark(), path_mark = item.Mark();
    for (const Entry& field : entries) {
      bool is_name = field.key == "name";
      DD_RETURN_IF_ERROR(Assign(String(field), is_name ? mount.name : mount.mount_path));
      (is_name ? name_mark : path_mark) = field.ValueMark();
    }
    if (mount.name.empty() || mount.mount_path.empty()) {
      return Error(item.Mark(), "a volume mount needs a 'name' and a 'mountPath'");
    }
    for (const VolumeMount& other : step.volume_mounts) {
      if (other.mount_path == mount.mount_path) {
        return Error(path_mark, "mountPath '" + mount.mount_path + "' is used twice in one step");
      }
    }
    step.volume_mounts.push_back(std::move(mount));
    marks.mount_names.push_back(name_mark);
    marks.mount_paths.push_back(path_mark);
  }
  return Status::Ok();
}

// --- Whole-file rules ---

void Parser::ApplyDefaults(TaskFile& task) {
  if (task.step_timeout <= 0) task.step_timeout = kDefaultStepTimeout;
  task.working_directory = JoinPath(kDefaultWorkingDirectory, task.working_directory);
  for (Step& step : task.steps) {
    if (step.timeout <= 0) step.timeout = task.step_timeout;
    if (step.retry_delay <= 0) step.retry_delay = kDefaultRetryDelay;
    step.working_directory = JoinPath(task.working_directory, step.working_directory);
    step.env = MergeEnv(std::move(step.env), task.env);
  }
}

Status Parser::CheckIds(const TaskFile& task) {
  for (size_t i = 0; i < task.steps.size(); ++i) {
    const Step& step = task.steps[i];
    YAML::Mark mark = step_marks_[i].has_id ? step_marks_[i].id : step_marks_[i].step;
    if (HasSpace(step.id)) {
      return Error(mark, "step id '" + step.id + "' must not contain whitespace");
    }
    if (step.id == kRootId) return Error(mark, "step id 'acb_root' is reserved");
    for (size_t j = 0; j < i; ++j) {
      if (task.steps[j].id == step.id) {
        return Error(mark, "duplicate step id '" + step.id + "' (also the step at line " +
                               std::to_string(task.steps[j].line) + ")");
      }
    }
  }
  return Status::Ok();
}

// acb's DAG: no `when` waits for the previous step; "-" (or acb_root) is the root; every id
// must name an earlier step, which rules out cycles.
Status Parser::ResolveWhen(TaskFile& task) {
  for (size_t i = 0; i < task.steps.size(); ++i) {
    Step& step = task.steps[i];
    const StepMarks& marks = step_marks_[i];
    std::vector<std::string> ids;
    if (marks.when) DD_RETURN_IF_ERROR(Assign(Strings(*marks.when), ids));
    if (ids.empty()) {
      if (i > 0) step.when = {task.steps[i - 1].id};
      continue;
    }
    for (size_t k = 0; k < ids.size(); ++k) {
      const std::string& id = ids[k];
      const YAML::Mark& mark = marks.when_items[k];
      if (id == kImmediately || id == kRootId) {
        if (ids.size() > 1 && id == kImmediately) {
          return Error(mark, "'-' cannot be combined with step ids in 'when'");
        }
        continue;
      }
      if (id == step.id) return Error(mark, "step '" + step.id + "' waits for itself");
      auto found = std::find_if(task.steps.begin(), task.steps.end(),
                                [&id](const Step& s) { return s.id == id; });
      if (found == task.steps.end()) {
        std::vector<std::string_view> known;
        for (size_t j = 0; j < i; ++j) known.push_back(task.steps[j].id);
        return Error(mark, "step '" + step.id + "' waits for '" + id + "', which does not exist" +
                               DidYouMean(id, known));
      }
      if (found > task.steps.begin() + static_cast<std::ptrdiff_t>(i)) {
        return Error(mark, "step '" + step.id + "' waits for '" + id + "', which is defined later");
      }
      if (std::find(step.when.begin(), step.when.end(), id) == step.when.end()) {
        step.when.push_back(id);
      }
    }
  }
  return Status::Ok();
}

Status Parser::CheckMounts(const TaskFile& task) {
  for (size_t i = 0; i < task.steps.size(); ++i) {
    const Step& step = task.steps[i];
    for (size_t k = 0; k < step.volume_mounts.size(); ++k) {
      const std::string& name = step.volume_mounts[k].name;
      auto same = [&name](const Volume& v) { return v.name == name; };
      if (std::none_of(task.volumes.begin(), task.volumes.end(), same)) {
        return Error(
            step_marks_[i].mount_names[k],
            "step '" + step.id + "' mounts volume '" + name + "', which 'volumes' does not define");
      }
    }
  }
  return Status::Ok();
}

Result<TaskFile> Parser::Parse(const YAML::Node& root) {
  TaskFile task;
  if (!root.IsNull() && !root.IsMap()) {
    return Error(root.Mark(), "a task file must be a YAML map of properties");
  }
  if (root.IsMap()) {
    DD_ASSIGN_OR_RETURN(entries, Entries(root));
    DD_RETURN_IF_ERROR(CheckKeys(entries, "top-level",
                                 {"version", "stepTimeout", "workingDirectory", "env", "secrets",
                                  "networks", "volumes", "steps", "alias"}));
    for (const Entry& e : entries) DD_RETURN_IF_ERROR(ParseTopLevel(e, task));
  }
  // Aliases work only from v1.1.0; acb silently leaves an older file's `$Registry` as written.
  if (alias_entry_ && task.version < kFirstAliasVersion) {
    return Error(alias_entry_->key_node.Mark(),
                 "'alias' needs 'version: v1.1.0' (this file is " + task.version + ")");
  }
  if (task.steps.empty()) {
    return Error(steps_entry_ ? steps_entry_->key_node.Mark() : YAML::Mark::null_mark(),
                 "the task has no steps");
  }
  DD_RETURN_IF_ERROR(CheckIds(task));
  DD_RETURN_IF_ERROR(ResolveWhen(task));
  DD_RETURN_IF_ERROR(CheckMounts(task));
  ApplyDefaults(task);
  return task;
}

}  // namespace

Result<TaskFile> ParseTaskFile(std::string_view yaml, std::string_view name) {
  Parser parser(name);
  try {
    return parser.Parse(LoadYaml(std::string(yaml)));
  } catch (const YAML::Exception& e) {
    int line = e.mark.line < 0 ? 1 : e.mark.line + 1;
    int column = e.mark.column < 0 ? 1 : e.mark.column + 1;
    return Invalid(std::string(name) + ":" + std::to_string(line) + ":" + std::to_string(column) +
                   ": " + e.msg);
  } catch (const std::exception& e) {
    return Internal(std::string(name) + ": " + e.what());
  }
}

Result<std::vector<std::string>> SplitShellWords(std::string_view text) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;  // distinguishes an empty quoted word ("") from no word
  size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
      ++i;
    } else if (c == '\\') {
      if (i + 1 < text.size() && text[i + 1] == '\n') {  // line continuation
        i += 2;
        continue;
      }
      // A trailing backslash stays literal, as sh does.
      word.push_back(i + 1 < text.size() ? text[i + 1] : '\\');
      in_word = true;
      i += 2;
    } else if (c == '\'') {
      size_t close = text.find('\'', i + 1);
      if (close == std::string_view::npos) return Invalid("unterminated single quote");
      word.append(text.substr(i + 1, close - i - 1));
      in_word = true;
      i = close + 1;
    } else if (c == '"') {
      in_word = true;
      for (++i;; ++i) {
        if (i >= text.size()) return Invalid("unterminated double quote");
        if (text[i] == '"') break;
        // Inside double quotes a backslash escapes only $ ` " \ and newline.
        if (text[i] == '\\' && i + 1 < text.size() &&
            std::string_view("$`\"\\\n").find(text[i + 1]) != std::string_view::npos) {
          if (text[++i] != '\n') word.push_back(text[i]);
          continue;
        }
        word.push_back(text[i]);
      }
      ++i;
    } else {
      word.push_back(c);
      in_word = true;
      ++i;
    }
  }
  if (in_word) words.push_back(std::move(word));
  return words;
}

}  // namespace drydock::steps
