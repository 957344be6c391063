#include "builder/config.h"

#include <algorithm>
#include <optional>

#include "base/strings.h"
#include "source/source.h"

namespace drydock::builder {
namespace {

Result<int64_t> ParseDuration(const std::string& s) {
  // Go durations as Docker accepts them: 30s, 1m30s, 500ms, 1h.
  int64_t total = 0;
  size_t i = 0;
  if (s.empty()) return Invalid("empty duration");
  while (i < s.size()) {
    size_t start = i;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
    if (start == i) return Invalid("bad duration '" + s + "'");
    double n = std::stod(s.substr(start, i - start));
    size_t u = i;
    while (i < s.size() && std::isalpha(static_cast<unsigned char>(s[i]))) ++i;
    std::string unit = s.substr(u, i - u);
    double mult = unit == "ns"   ? 1
                  : unit == "us" ? 1e3
                  : unit == "ms" ? 1e6
                  : unit == "s"  ? 1e9
                  : unit == "m"  ? 60e9
                  : unit == "h"  ? 3600e9
                                 : -1;
    if (mult < 0) return Invalid("bad duration unit in '" + s + "'");
    total += static_cast<int64_t>(n * mult);
  }
  return total;
}

// Exec form as is; shell form wrapped in the config's SHELL.
json CommandOf(const Instruction& ins, const json& config, size_t skip = 0) {
  if (ins.json_form)
    return json(
        std::vector<std::string>(ins.args.begin() + static_cast<long>(skip), ins.args.end()));
  std::vector<std::string> cmd = ShellOf(config);
  std::string text = skip == 0 ? ins.raw_args : (ins.args.size() > skip ? ins.args[skip] : "");
  cmd.push_back(text);
  return cmd;
}

// An EXPOSE word as BuildKit reads it: [[ip:]host:]port[-end][/proto],
// giving "port/proto" for each port of the range; proto is lower-cased,
// tcp by default; the ip and host parts are ignored.
Result<std::vector<std::string>> PortSpecs(const std::string& spec) {
  std::string container =
      spec.substr(spec.rfind(':') == std::string::npos ? 0 : spec.rfind(':') + 1);
  std::string range = container.substr(0, container.find('/'));
  std::string proto =
      container.find('/') == std::string::npos ? "" : container.substr(container.find('/') + 1);
  proto = AsciiLower(proto);
  if (proto.empty()) proto = "tcp";
  if (proto != "tcp" && proto != "udp" && proto != "sctp")
    return Invalid("invalid protocol in port '" + spec + "'");
  auto number = [](const std::string& s) -> std::optional<int> {
    if (s.empty() || s.size() > 5 || s.find_first_not_of("0123456789") != std::string::npos)
      return std::nullopt;
    int n = std::stoi(s);
    return n <= 65535 ? std::optional<int>(n) : std::nullopt;
  };
  auto start = number(range.substr(0, range.find('-')));
  auto end =
      range.find('-') == std::string::npos ? start : number(range.substr(range.find('-') + 1));
  if (!start || !end || *end < *start) return Invalid("invalid port '" + spec + "'");
  std::vector<std::string> out;
  for (int port = *start; port <= *end; ++port) out.push_back(std::to_string(port) + "/" + proto);
  return out;
}

Status LineError(const Instruction& ins, const std::string& message) {
  return Invalid("line " + std::to_string(ins.line) + ": " + ins.keyword + ": " + message);
}

Result<json> Healthcheck(const Instruction& ins) {
  if (ins.args.empty()) return LineError(ins, "needs NONE or CMD");
  std::string type = ins.args[0];
  std::transform(type.begin(), type.end(), type.begin(),
                 [](unsigned char c) { return std::toupper(c); });
  if (type == "NONE") return json{{"Test", {"NONE"}}};
  if (type != "CMD") return LineError(ins, "type must be NONE or CMD, not " + ins.args[0]);
  json h;
  if (ins.json_form) {
    std::vector<std::string> test{"CMD"};
    test.insert(test.end(), ins.args.begin() + 1, ins.args.end());
    h["Test"] = test;
  } else {
    h["Test"] = {"CMD-SHELL", ins.args.size() > 1 ? ins.args[1] : ""};
  }
  for (auto [flag, key] :
       {std::pair{"interval", "Interval"}, std::pair{"timeout", "Timeout"},
        std::pair{"start-period", "StartPeriod"}, std::pair{"start-interval", "StartInterval"}}) {
    auto v = FlagValue(ins, flag);
    if (!v) continue;
    auto d = ParseDuration(*v);
    if (!d.ok()) return LineError(ins, "--" + std::string(flag) + ": " + d.status().message());
    h[key] = *d;
  }
  if (auto retries = FlagValue(ins, "retries")) {
    if (retries->empty() || retries->size() > 9 ||
        retries->find_first_not_of("0123456789") != std::string::npos) {
      return LineError(ins, "--retries must be a non-negative integer");
    }
    h["Retries"] = std::stoi(*retries);
  }
  return h;
}

}  // namespace

json ScratchConfig(const std::string& platform) {
  std::string os = platform.substr(0, platform.find('/'));
  std::string rest = platform.substr(platform.find('/') + 1);
  json c = {{"architecture", rest.substr(0, rest.find('/'))},
            {"os", os},
            {"config", json::object()},
            {"rootfs", {{"type", "layers"}, {"diff_ids", json::array()}}},
            {"history", json::array()}};
  if (rest.find('/') != std::string::npos) c["variant"] = rest.substr(rest.find('/') + 1);
  c["config"]["Env"] = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"};
  return c;
}

Env ConfigEnv(const json& config) {
  Env env;
  const json& c = config.value("config", json::object());
  for (const auto& kv : c.value("Env", json::array())) {
    std::string s = kv.get<std::string>();
    auto eq = s.find('=');
    env.emplace_back(s.substr(0, eq), eq == std::string::npos ? "" : s.substr(eq + 1));
  }
  return env;
}

void SetEnv(json& config, const std::string& key, const std::string& value) {
  json& env = config["config"]["Env"];
  if (!env.is_array()) env = json::array();
  for (auto& kv : env) {
    std::string s = kv.get<std::string>();
    if (s.substr(0, s.find('=')) == key) {
      kv = key + "=" + value;
      return;
    }
  }
  env.push_back(key + "=" + value);
}

std::vector<std::string> ShellOf(const json& config) {
  const json& c = config.value("config", json::object());
  if (c.contains("Shell") && c["Shell"].is_array() && !c["Shell"].empty())
    return c["Shell"].get<std::vector<std::string>>();
  return {"/bin/sh", "-c"};
}

std::string CreatedBy(const Instruction& ins, const json& config) {
  if (ins.keyword == "RUN") {
    std::string text = ins.json_form ? json(ins.args).dump() : ins.raw_args;
    std::string shell;
    if (!ins.json_form) {
      for (const auto& s : ShellOf(config)) shell += s + " ";
    }
    return "RUN " + shell + text + " # buildkit";
  }
  std::string flags;
  for (const auto& f : ins.flags) flags += "--" + f.name + (f.has_value ? "=" + f.value : "") + " ";
  // ADD https://user:token@host/… must not leak its credentials into history.
  return ins.keyword + " " + flags + source::RedactText(ins.raw_args) + " # buildkit";
}

Result<bool> ApplyConfigInstruction(json& config, const Instruction& ins,
                                    const ConfigContext& ctx) {
  json& c = config["config"];
  if (!c.is_object()) c = json::object();
  const std::string& k = ins.keyword;
  if (k == "ENV") {
    auto kvs = ParseKeyValues(ins, ctx.env, ctx.escape);
    if (!kvs.ok()) return kvs.status();
    for (const auto& [key, value] : *kvs) SetEnv(config, key, value);
  } else if (k == "LABEL") {
    auto kvs = ParseKeyValues(ins, ctx.env, ctx.escape);
    if (!kvs.ok()) return kvs.status();
    for (const auto& [key, value] : *kvs) c["Labels"][key] = value;
  } else if (k == "MAINTAINER") {
    auto v = ExpandWord(ins.raw_args, ctx.env, ctx.escape);
    config["author"] = v.ok() ? *v : ins.raw_args;
  } else if (k == "EXPOSE") {
    auto ports = ExpandWords(ins.raw_args, ctx.env, ctx.escape);
    if (!ports.ok()) return ports.status();
    for (const auto& p : *ports) {
      auto expanded = PortSpecs(p);
      if (!expanded.ok()) return LineError(ins, expanded.status().message());
      for (const auto& port : *expanded) c["ExposedPorts"][port] = json::object();
    }
  } else if (k == "VOLUME") {
    std::vector<std::string> vols;
    if (ins.json_form) {
      vols = ins.args;
    } else {
      auto w = ExpandWords(ins.raw_args, ctx.env, ctx.escape);
      if (!w.ok()) return w.status();
      vols = *w;
    }
    for (const auto& v : vols) {
      if (v.empty()) return LineError(ins, "volume path must not be empty");
      c["Volumes"][v] = json::object();
    }
  } else if (k == "USER") {
    auto v = ExpandWord(ins.raw_args, ctx.env, ctx.escape);
    if (!v.ok()) return v.status();
    c["User"] = *v;
  } else if (k == "CMD") {
    c["Cmd"] = CommandOf(ins, config);
    if (ctx.cmd_set_in_stage) *ctx.cmd_set_in_stage = true;
  } else if (k == "ENTRYPOINT") {
    c["Entrypoint"] = CommandOf(ins, config);
    // Docker: an ENTRYPOINT resets a CMD inherited from the base image.
    if (ctx.cmd_set_in_stage && !*ctx.cmd_set_in_stage) c["Cmd"] = nullptr;
  } else if (k == "SHELL") {
    if (!ins.json_form || ins.args.empty()) return LineError(ins, "SHELL requires the JSON form");
    c["Shell"] = ins.args;
  } else if (k == "STOPSIGNAL") {
    auto v = ExpandWord(ins.raw_args, ctx.env, ctx.escape);
    if (!v.ok()) return v.status();
    c["StopSignal"] = *v;
  } else if (k == "HEALTHCHECK") {
    auto h = Healthcheck(ins);
    if (!h.ok()) return h.status();
    c["Healthcheck"] = *h;
  } else if (k == "ONBUILD") {
    // As BuildKit stores it: the trigger's text, each heredoc body and
    // delimiter after it, so the child can parse it again.
    std::string trigger = ins.raw_args;
    if (ins.onbuild) {
      for (const auto& h : ins.onbuild->heredocs) trigger += "\n" + h.content + h.name;
    }
    c["OnBuild"].push_back(trigger);
  } else {
    return false;
  }
  return true;
}

}  // namespace drydock::builder
