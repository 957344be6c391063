// Base-image dependencies: scanned from a Dockerfile without building, and
// written in ACR's dependency-document shape.
#include <optional>

#include <nlohmann/json.hpp>

#include "builder/builder.h"
#include "builder/stages.h"

namespace drydock::builder {

using nlohmann::json;

namespace {

ImageDependency FromReference(const oci::ImageReference& r) {
  return {r.registry, r.repository, r.tag, r.digest ? r.digest->str() : "", "", ""};
}

json ToJson(const ImageDependency& d) {
  std::string reference = d.registry + "/" + d.repository + (d.tag.empty() ? "" : ":" + d.tag);
  if (!d.digest.empty()) reference += "@" + d.digest;
  json j = {{"registry", d.registry},
            {"repository", d.repository},
            {"tag", d.tag},
            {"digest", d.digest},
            {"reference", reference}};
  if (!d.platform.empty()) j["platform"] = d.platform;
  if (!d.manifest.empty()) j["manifestDigest"] = d.manifest;
  return j;
}

// One entry per tagged image (or one without "image").
void AppendEntries(const Dependencies& deps, const std::string& git_head, json& list) {
  std::vector<std::optional<oci::ImageReference>> images(deps.images.begin(), deps.images.end());
  if (images.empty()) images.push_back(std::nullopt);
  for (const auto& image : images) {
    json entry;
    if (image) entry["image"] = ToJson(FromReference(*image));
    if (deps.runtime) entry["runtime-dependency"] = ToJson(*deps.runtime);
    entry["buildtime-dependency"] = json::array();
    for (const auto& b : deps.buildtime) entry["buildtime-dependency"].push_back(ToJson(b));
    entry["git"] = {{"git-head-revision", git_head}};
    list.push_back(entry);
  }
}

}  // namespace

Result<Dependencies> ScanDependencies(const std::string& text,
                                      const std::map<std::string, std::string>& build_args,
                                      const std::string& target,
                                      const std::string& default_registry) {
  auto df = ParseDockerfile(text);
  if (!df.ok()) return df.status();
  auto plan = PlanStages(*df, build_args, target, "linux/amd64");
  if (!plan.ok()) return plan.status();
  Dependencies deps;
  auto image_dep = [&](const std::string& name) -> Result<ImageDependency> {
    auto ref = oci::ParseImageReference(name, default_registry);
    if (!ref.ok()) return ref.status();
    return FromReference(*ref);
  };
  for (size_t i : plan->order) {
    const Stage& s = plan->stages[i];
    if (s.base_stage < 0 && s.base != "scratch") {
      auto d = image_dep(s.base);
      if (!d.ok())
        return Invalid("line " + std::to_string(s.from->line) + ": " + d.status().message());
      // The target's root base is the runtime dependency; a stage the target
      // is built FROM (directly or through aliases) shares that root.
      const Stage* root = &plan->stages[plan->target];
      while (root->base_stage >= 0) root = &plan->stages[static_cast<size_t>(root->base_stage)];
      if (root->index == i) {
        deps.runtime = *d;
      } else {
        deps.buildtime.push_back(*d);
      }
    }
    for (const Instruction* ins : s.body) {
      if (ins->keyword != "COPY" && ins->keyword != "ADD") continue;
      for (const auto& f : ins->flags) {
        if (f.name != "from") continue;
        auto name = ExpandWord(f.value, plan->meta_args, df->escape);
        std::string from = name.ok() ? *name : f.value;
        if (FindStage(*plan, from, i)) continue;
        auto d = image_dep(from);
        if (!d.ok())
          return Invalid("line " + std::to_string(ins->line) + ": " + d.status().message());
        deps.buildtime.push_back(*d);
      }
    }
  }
  return deps;
}

std::string DependenciesJson(const Dependencies& deps, const std::string& git_head) {
  json list = json::array();
  AppendEntries(deps, git_head, list);
  return list.dump(2);
}

std::string DependenciesJson(const BuildResult& built, const std::string& git_head) {
  if (built.platform_images.empty()) return DependenciesJson(built.dependencies, git_head);
  json list = json::array();
  for (const auto& image : built.platform_images) AppendEntries(image.dependencies, git_head, list);
  return list.dump(2);
}

}  // namespace drydock::builder
