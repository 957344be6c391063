// The rebase gate and splice on hand-made configs: each condition that must
// send an image to a rebuild does, with a reason naming it; a safe one passes.
#include <gtest/gtest.h>

#include <functional>

#include "rebase/rebase.h"

namespace drydock::rebase {
namespace {

using nlohmann::json;

oci::Digest D(const std::string& s) { return oci::Digest::Of(s); }

json Config(json fields, std::vector<std::string> diffs, int history) {
  json c = {{"architecture", "amd64"}, {"os", "linux"}, {"config", fields}};
  c["rootfs"] = {{"type", "layers"}, {"diff_ids", diffs}};
  c["history"] = json::array();
  for (int i = 0; i < history; ++i)
    c["history"].push_back({{"created_by", "step " + std::to_string(i)}});
  return c;
}

// An app of two own layers (COPY app/server, ENV) on a one-layer base.
GateInput SafeInput() {
  GateInput in;
  json base = {{"Env", {"PATH=/bin"}}, {"Cmd", {"/bin/sh"}}, {"WorkingDir", "/"}};
  in.old_base_config = Config(base, {D("old-diff").str()}, 1);
  in.new_base_config = Config(base, {D("new-diff").str()}, 1);
  json app = base;
  app["Env"] = {"PATH=/bin", "MODE=prod"};
  app["Cmd"] = {"/app/server"};
  in.image_config = Config(app, {D("old-diff").str(), D("own").str()}, 3);
  in.old_base_layers = {D("old")};
  in.image_layers = {D("old"), D("own")};
  in.base_layers = 1;
  in.own_entries = {{"app", layer::LayerEntry::kDirectory},
                    {"app/server", layer::LayerEntry::kFile},
                    {"etc", layer::LayerEntry::kDirectory}};
  in.base_paths = {{"bin", true},  {"bin/sh", false},
                   {"etc", true},  {"etc/os-release", false},
                   {"lib", false}, {"var/lib/dpkg/status", false}};
  return in;
}

std::string Joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& r : v) s += r + "\n";
  return s;
}

TEST(RebaseGate, AnImageThatOnlyAddsItsOwnFilesIsSafe) {
  EXPECT_EQ(Joined(GateReasons(SafeInput())), "");
}

// Each unsafe condition alone refuses, with a reason that names it.
TEST(RebaseGate, EachUnsafeConditionIsAReason) {
  struct Case {
    const char* name;
    std::function<void(GateInput&)> change;
    const char* reason;
  };
  const Case cases[] = {
      {"RUN steps", [](GateInput& in) { in.run_steps = 2; }, "2 RUN step(s) ran on the old base"},
      {"base layers changed", [](GateInput& in) { in.image_layers[0] = D("squashed"); },
       "are not exactly the old base's 1 layers"},
      {"wrong base layer count", [](GateInput& in) { in.base_layers = 0; },
       "first 0 layers are not exactly"},
      {"package database",
       [](GateInput& in) {
         in.own_entries.push_back({"var/lib/dpkg/status", layer::LayerEntry::kFile});
       },
       "write to a package database: /var/lib/dpkg/status"},
      {"apk database",
       [](GateInput& in) {
         in.own_entries.push_back({"lib/apk/db/installed", layer::LayerEntry::kFile});
       },
       "package database: /lib/apk/db/installed"},
      {"base file overwritten",
       [](GateInput& in) {
         in.own_entries.push_back({"etc/os-release", layer::LayerEntry::kFile});
       },
       "replace or delete paths of the base: /etc/os-release"},
      {"base file deleted",
       [](GateInput& in) {
         in.own_entries.push_back({"bin/sh", layer::LayerEntry::kWhiteout});
       },
       "replace or delete paths of the base: /bin/sh"},
      {"base directory made opaque",
       [](GateInput& in) {
         in.own_entries.push_back({"etc", layer::LayerEntry::kOpaque});
       },
       "replace or delete paths of the base: /etc"},
      {"written through a base symlink",
       [](GateInput& in) {
         in.own_entries.push_back({"lib/libapp.so", layer::LayerEntry::kFile});
       },
       "replace or delete paths of the base: /lib/libapp.so"},
      {"inherited Entrypoint changed",
       [](GateInput& in) { in.new_base_config["config"]["Entrypoint"] = {"/init"}; },
       "the base's Entrypoint changed from nothing to [\"/init\"] and the image inherits it"},
      {"inherited WorkingDir changed",
       [](GateInput& in) { in.new_base_config["config"]["WorkingDir"] = "/srv"; },
       "the base's WorkingDir changed"},
      {"inherited ENV changed",
       [](GateInput& in) { in.new_base_config["config"]["Env"] = {"PATH=/usr/bin"}; },
       "the base's ENV PATH changed"},
      {"ENV added by the base",
       [](GateInput& in) {
         in.new_base_config["config"]["Env"] = {"PATH=/bin", "TZ=UTC"};
       },
       "the base's ENV TZ changed"},
  };
  for (const auto& c : cases) {
    GateInput in = SafeInput();
    c.change(in);
    std::string why = Joined(GateReasons(in));
    EXPECT_NE(why.find(c.reason), std::string::npos) << c.name << ": " << why;
  }
}

// What the image set itself may change in the base freely.
TEST(RebaseGate, OverriddenFieldsAndOptInsAreSafe) {
  GateInput in = SafeInput();
  in.new_base_config["config"]["Cmd"] = {"/bin/bash"};              // the image sets its own Cmd
  in.new_base_config["config"]["Env"] = {"PATH=/bin", "MODE=dev"};  // MODE is the image's own
  in.run_steps = 1;
  in.allow_run_steps = true;
  in.own_entries.push_back({"etc/app.conf", layer::LayerEntry::kFile});  // new in etc/
  EXPECT_EQ(Joined(GateReasons(in)), "");
}

TEST(RebaseSplice, NewBaseLayersAndHistoryThenTheImagesOwn) {
  GateInput in = SafeInput();
  in.new_base_config["config"]["Labels"] = {{"base.version", "2"}};
  in.old_base_config["config"]["Labels"] = {{"base.version", "1"}};
  in.image_config["config"]["Labels"] = {{"base.version", "1"}, {"app", "shop"}};
  in.new_base_config["history"] = {{{"created_by", "new base"}}, {{"created_by", "patch"}}};
  json layer = {{"mediaType", "application/vnd.oci.image.layer.v1.tar+gzip"}, {"size", 1}};
  json image = {{"schemaVersion", 2},
                {"mediaType", "application/vnd.docker.distribution.manifest.v2+json"},
                {"config", {{"mediaType", "application/vnd.docker.container.image.v1+json"}}},
                {"layers", {layer, layer}}};
  image["layers"][0]["digest"] = D("old").str();
  image["layers"][1]["digest"] = D("own").str();
  json base = {{"layers", {layer}}};
  base["layers"][0]["digest"] = D("new").str();
  auto s = Splice(image, in.image_config, in.old_base_config, base, in.new_base_config, 1,
                  {{kBaseDigest, "sha256:feed"}});
  ASSERT_TRUE(s.ok()) << s.status().message();
  json m = json::parse(s->manifest), c = json::parse(s->config);
  ASSERT_EQ(m["layers"].size(), 2u);
  EXPECT_EQ(m["layers"][0]["digest"], D("new").str());
  // The manifest's own family: a Docker manifest gets Docker layer types.
  EXPECT_EQ(m["layers"][0]["mediaType"], "application/vnd.docker.image.rootfs.diff.tar.gzip");
  EXPECT_EQ(m["layers"][1]["digest"], D("own").str());
  EXPECT_EQ(m["config"]["digest"], oci::Digest::Of(s->config).str());
  EXPECT_EQ(m["annotations"][kBaseDigest], "sha256:feed");
  EXPECT_EQ(c["rootfs"]["diff_ids"], json({D("new-diff").str(), D("own").str()}));
  ASSERT_EQ(c["history"].size(), 4u);  // the new base's 2, then the image's own 2
  EXPECT_EQ(c["history"][1]["created_by"], "patch");
  EXPECT_EQ(c["history"][2]["created_by"], "step 1");
  EXPECT_EQ(c["config"]["Labels"], json({{"base.version", "2"}, {"app", "shop"}}));
  EXPECT_EQ(c["config"]["Cmd"], json({"/app/server"}));
}

TEST(RebaseSplice, AHistoryThatDoesNotStartWithTheBasesIsRefused) {
  GateInput in = SafeInput();
  in.image_config["history"][0]["created_by"] = "something else";
  json image = {
      {"layers", json::array({{{"digest", D("old").str()}}, {{"digest", D("own").str()}}})}};
  auto s = Splice(image, in.image_config, in.old_base_config,
                  json{{"layers", {{{"digest", D("new").str()}}}}}, in.new_base_config, 1, {});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("history"), std::string::npos);
}

}  // namespace
}  // namespace drydock::rebase
