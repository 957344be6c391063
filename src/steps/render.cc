// From task file text to the step graph: aliases, template, YAML; and the
// values a run renders with.
#include <ctime>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "steps/steps.h"
#include "gotemplate/template.h"
#include "steps/yaml_load.h"

namespace drydock::steps {

using nlohmann::json;

namespace {

// Go's layout "20060102-150405z", as ACR prints .Run.Date.
std::string RunDate(int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%Sz", &tm);
  return buf;
}

json RunJson(const RunVariables& r) {
  std::string name = r.registry.substr(0, r.registry.find_first_of(".:"));
  return {{"ID", r.id},
          {"Registry", r.registry},
          {"RegistryName", name},
          {"Date", RunDate(r.time)},
          {"OS", r.os},
          {"Architecture", r.architecture},
          {"Commit", r.commit},
          {"Branch", r.branch},
          {"TaskName", r.task_name},
          {"SharedVolume", "drydock_vol_" + r.id}};
}

// YAML scalars stay strings, as Go templates see ACR's values.
json FromYaml(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: {
      json out = json::object();
      for (const auto& kv : n) out[kv.first.as<std::string>()] = FromYaml(kv.second);
      return out;
    }
    case YAML::NodeType::Sequence: {
      json out = json::array();
      for (const auto& item : n) out.push_back(FromYaml(item));
      return out;
    }
    case YAML::NodeType::Scalar:
      return n.as<std::string>();
    default:
      return nullptr;
  }
}

void SetDotted(json& root, const std::string& name, const std::string& value) {
  json* at = &root;
  size_t start = 0;
  while (true) {
    size_t dot = name.find('.', start);
    std::string key =
        name.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (dot == std::string::npos) {
      (*at)[key] = value;
      return;
    }
    if (!(*at)[key].is_object()) (*at)[key] = json::object();
    at = &(*at)[key];
    start = dot + 1;
  }
}

}  // namespace

Result<std::string> RenderTaskFile(std::string_view text, const RenderInput& in) {
  DD_ASSIGN_OR_RETURN(aliased, PreprocessAliases(text, in.aliases, in.file_name));
  json secrets = json::object();
  json values = in.values;
  for (const auto& [id, value] : in.secrets) {
    secrets[id] = value;
    // ACR's --set-secret is a value that is never shown: {{.Values.id}}.
    if (values.is_object() && !values.contains(id)) values[id] = value;
  }
  json data = {{"Run", RunJson(in.run)}, {"Values", values}, {"Secrets", secrets}};
  data["Build"] = {{"ID", in.run.id}};  // ACR's legacy {{.Build.ID}}
  return gotemplate::RenderTemplate(aliased, data, in.file_name);
}

Result<TaskFile> LoadTaskFile(std::string_view text, const RenderInput& in) {
  DD_ASSIGN_OR_RETURN(rendered, RenderTaskFile(text, in));
  return ParseTaskFile(rendered, in.file_name);
}

Result<json> MergeValues(std::string_view values_yaml, const std::vector<std::string>& sets) {
  json out = json::object();
  if (!values_yaml.empty()) {
    try {
      YAML::Node doc = LoadYaml(std::string(values_yaml));
      if (doc.IsDefined() && !doc.IsNull()) {
        if (!doc.IsMap()) return Invalid("the values file must be a YAML map of names to values");
        out = FromYaml(doc);
      }
    } catch (const YAML::Exception& e) {
      return Invalid("the values file: line " + std::to_string(e.mark.line + 1) + ", column " +
                     std::to_string(e.mark.column + 1) + ": " + e.msg);
    }
  }
  for (const auto& s : sets) {
    auto eq = s.find('=');
    if (eq == std::string::npos || eq == 0 || s[0] == '.' || s[eq - 1] == '.' || s.find("..") < eq)
      return Invalid("--set " + s + ": expected NAME=VALUE (NAME may be dotted: a.b=c)");
    SetDotted(out, s.substr(0, eq), s.substr(eq + 1));
  }
  return out;
}

std::string MaskSecrets(std::string text, const std::map<std::string, std::string>& secrets) {
  for (const auto& [id, value] : secrets) {
    if (value.empty()) continue;
    for (size_t p; (p = text.find(value)) != std::string::npos;)
      text.replace(p, value.size(), "***");
  }
  return text;
}

std::string DescribeSteps(const TaskFile& task) {
  std::ostringstream out;
  out << "version " << task.version << ", " << task.steps.size() << " step(s), working directory "
      << task.working_directory << "\n";
  for (const auto& s : task.steps) {
    const char* kind = s.kind == Step::Kind::kBuild ? "build"
                       : s.kind == Step::Kind::kCmd ? "cmd"
                                                    : "push";
    out << "- " << s.id << " (" << kind << ", timeout " << s.timeout << "s)";
    if (s.when.empty()) {
      out << ": starts at once";
    } else {
      out << ": after";
      for (const auto& w : s.when) out << " " << w;
    }
    if (s.detach) out << ", detached";
    if (s.ignore_errors) out << ", errors ignored";
    if (s.retries > 0) out << ", " << s.retries << " retries";
    out << "\n    ";
    if (s.kind == Step::Kind::kBuild) out << "build " << s.build;
    if (s.kind == Step::Kind::kCmd) out << "cmd " << s.cmd;
    if (s.kind == Step::Kind::kPush) {
      out << "push";
      for (const auto& p : s.push) out << " " << p;
    }
    out << "\n";
  }
  return out.str();
}

}  // namespace drydock::steps
