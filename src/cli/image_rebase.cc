// `drydock image rebase`: the rebase component from the user's machine,
// with the user's registry credentials (as `drydock build --local` pushes).
#include <iostream>
#include <nlohmann/json.hpp>

#include "base/fd.h"
#include "cli/client/client_config.h"
#include "cli/commands.h"
#include "rebase/rebase.h"

namespace drydock::cli {
namespace {

nlohmann::json OutcomeJson(const rebase::Outcome& o) {
  nlohmann::json j = {{"result", rebase::KindName(o.kind)}, {"reasons", o.reasons},
                      {"baseImage", o.base_name},           {"oldBaseDigest", o.old_base_digest},
                      {"newBaseDigest", o.new_base_digest}, {"milliseconds", o.milliseconds}};
  if (!o.manifest.empty()) j["digest"] = o.digest.str();
  return j;
}

void PrintOutcome(const rebase::Outcome& o, const std::string& image) {
  switch (o.kind) {
    case rebase::Outcome::kUpToDate:
      std::cout << image << " is already on " << o.base_name << " (" << o.new_base_digest << ")\n";
      return;
    case rebase::Outcome::kRebased:
    case rebase::Outcome::kDryRun:
      std::cout << (o.kind == rebase::Outcome::kDryRun ? "would rebase " : "rebased ") << image
                << " from " << o.base_name << "@" << o.old_base_digest << " onto "
                << o.new_base_digest << " in " << o.milliseconds << " ms: " << o.digest.str()
                << "\n";
      return;
    default:
      std::cout << image << " was not rebased (" << rebase::KindName(o.kind) << "):\n";
      for (const auto& r : o.reasons) std::cout << "  - " << r << "\n";
  }
}

}  // namespace

int ImageRebase(const RebaseFlags& flags) {
  auto fail = [](const std::string& what) {
    std::cerr << "drydock image rebase: " << what << "\n";
    return 1;
  };
  auto image = oci::ParseImageReference(flags.image);
  if (!image.ok()) return fail(flags.image + ": " + image.status().message());
  oci::ImageReference onto;
  if (!flags.onto.empty()) {
    auto parsed = oci::ParseImageReference(flags.onto);
    if (!parsed.ok()) return fail("--onto " + flags.onto + ": " + parsed.status().message());
    onto = *parsed;
  }
  rebase::Options o;
  o.allow_run_steps = flags.allow_run_steps;
  o.dry_run = flags.dry_run;
  for (const auto& t : flags.tags) {
    auto ref = oci::ParseImageReference(t);
    if (!ref.ok()) return fail("--tag " + t + ": " + ref.status().message());
    if (ref->tag.empty()) return fail("--tag " + t + " names no tag");
    o.tags.push_back(*ref);
  }
  TempDir scratch(std::filesystem::temp_directory_path(), "drydock-rebase");
  o.scratch = scratch.path();
  if (flags.output != "json") o.log = [](std::string_view s) { std::cerr << s; };
  remote::ClientOptions co;
  co.insecure_registries = flags.insecure_registries;
  co.credentials = client::UserRegistryCredentials();
  remote::Client client(std::move(co));
  auto outcome = rebase::Rebase(client, *image, onto, o);
  if (!outcome.ok()) return fail(outcome.status().message());
  if (flags.output == "json")
    std::cout << OutcomeJson(*outcome).dump(2) << "\n";
  else
    PrintOutcome(*outcome, image->String());
  bool fine = outcome->kind == rebase::Outcome::kRebased ||
              outcome->kind == rebase::Outcome::kDryRun ||
              outcome->kind == rebase::Outcome::kUpToDate;
  return fine ? 0 : 3;
}

}  // namespace drydock::cli
