#include "builder/stages.h"

#include <algorithm>
#include <functional>
#include <sstream>

#include "base/strings.h"
#include "oci/platform.h"

namespace drydock::builder {
namespace {}  // namespace

Env PlatformArgs(const std::string& platform) {
  oci::Platform target = oci::ParsePlatform(platform).value_or(oci::Platform{"linux", "amd64", ""});
  oci::Platform build = oci::HostPlatform();
  return {{"TARGETPLATFORM", target.String()}, {"TARGETOS", target.os},
          {"TARGETARCH", target.architecture}, {"TARGETVARIANT", target.variant},
          {"BUILDPLATFORM", build.String()},   {"BUILDOS", build.os},
          {"BUILDARCH", build.architecture},   {"BUILDVARIANT", build.variant}};
}

std::optional<int> FindStage(const Plan& plan, const std::string& ref, size_t before) {
  std::string name = AsciiLower(ref);
  for (size_t i = 0; i < before && i < plan.stages.size(); ++i) {
    if (!plan.stages[i].name.empty() && plan.stages[i].name == name) return static_cast<int>(i);
  }
  if (!ref.empty() && ref.find_first_not_of("0123456789") == std::string::npos && ref.size() < 6) {
    size_t idx = std::stoul(ref);
    if (idx < before) return static_cast<int>(idx);
  }
  return std::nullopt;
}

namespace {
// The from= values an instruction reads: COPY/ADD --from, RUN --mount=...,from=.
std::vector<std::string> StagesRead(const Instruction& ins) {
  std::vector<std::string> out;
  if (ins.keyword == "COPY" || ins.keyword == "ADD") {
    if (auto from = FlagValue(ins, "from"); from && !from->empty()) out.push_back(*from);
  }
  if (ins.keyword != "RUN") return out;
  for (const auto& f : ins.flags) {
    if (f.name != "mount") continue;
    std::stringstream options(f.value);
    std::string kv;
    while (std::getline(options, kv, ',')) {
      if (kv.rfind("from=", 0) == 0 && kv.size() > 5) out.push_back(kv.substr(5));
    }
  }
  return out;
}
}  // namespace

Result<Plan> PlanStages(const Dockerfile& df, const std::map<std::string, std::string>& build_args,
                        const std::string& target, const std::string& platform) {
  Plan plan;
  plan.meta_args = PlatformArgs(platform);
  size_t i = 0;
  for (; i < df.instructions.size() && df.instructions[i].keyword != "FROM"; ++i) {
    const auto& ins = df.instructions[i];
    if (ins.keyword != "ARG") {
      return Invalid("line " + std::to_string(ins.line) + ": " + ins.keyword +
                     " before the first FROM (only ARG may come first)");
    }
    auto decls = ParseArgDecls(ins, plan.meta_args, df.escape);
    if (!decls.ok()) return decls.status();
    for (const auto& d : *decls) {
      auto override = build_args.find(d.name);
      plan.meta_args.emplace_back(
          d.name, override != build_args.end() ? override->second : d.default_value.value_or(""));
    }
  }
  if (i == df.instructions.size()) return Invalid("the Dockerfile has no FROM instruction");
  for (; i < df.instructions.size(); ++i) {
    const auto& ins = df.instructions[i];
    if (ins.keyword != "FROM") {
      plan.stages.back().body.push_back(&ins);
      continue;
    }
    Stage s;
    s.index = plan.stages.size();
    s.from = &ins;
    auto base = ExpandWord(ins.args.at(0), plan.meta_args, df.escape);
    if (!base.ok())
      return Invalid("line " + std::to_string(ins.line) + ": " + base.status().message());
    s.base = *base;
    if (s.base.empty())
      return Invalid("line " + std::to_string(ins.line) +
                     ": FROM names no image after expanding '" + ins.args[0] + "'");
    if (ins.args.size() >= 3) s.name = AsciiLower(ins.args[2]);
    auto plat = ExpandWord(FlagValue(ins, "platform").value_or(""), plan.meta_args, df.escape);
    if (plat.ok()) s.platform = *plat;
    if (auto prior = FindStage(plan, s.base, s.index);
        prior && AsciiLower(s.base) == plan.stages[*prior].name) {
      s.base_stage = *prior;
      s.needs.push_back(*prior);
    }
    plan.stages.push_back(std::move(s));
  }
  for (auto& s : plan.stages) {
    for (const Instruction* ins : s.body) {
      for (const std::string& from : StagesRead(*ins)) {
        auto expanded = ExpandWord(from, plan.meta_args, df.escape);
        if (auto st = FindStage(plan, expanded.ok() ? *expanded : from, s.index))
          s.needs.push_back(*st);
      }
    }
  }
  plan.target = plan.stages.size() - 1;
  if (!target.empty()) {
    auto t = FindStage(plan, target, plan.stages.size());
    if (!t || plan.stages[*t].name != AsciiLower(target))
      return Invalid("target stage '" + target + "' is not defined");
    plan.target = static_cast<size_t>(*t);
  }
  std::vector<bool> seen(plan.stages.size());
  std::function<void(size_t)> visit = [&](size_t n) {
    if (seen[n]) return;
    seen[n] = true;
    for (int d : plan.stages[n].needs) visit(static_cast<size_t>(d));
    plan.order.push_back(n);
  };
  visit(plan.target);
  return plan;
}

}  // namespace drydock::builder
