// Webhook deliveries from git hosts. The signature check comes first, so the
// target signs each body with the task's secret to reach the JSON parsing
// behind it. Input: one byte choosing the provider, one choosing the event
// header value, then the body.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "triggers/webhook.h"

namespace {

struct Provider {
  std::string event_header;
  std::vector<std::string> events;
};

const std::vector<Provider> kProviders = {
    {"x-github-event", {"push", "pull_request", "ping", "issues"}},
    {"x-gitea-event", {"push", "pull_request", "create"}},
    {"x-forgejo-event", {"push", "pull_request"}},
    {"x-gitlab-event", {"Push Hook", "Merge Request Hook", "Tag Push Hook"}},
    {"x-event-key",
     {"repo:push", "pullrequest:created", "pullrequest:updated", "pullrequest:fulfilled",
      "pullrequest:rejected", "repo:refs_changed", "pr:opened", "pr:from_ref_updated",
      "pr:modified", "pr:merged", "pr:declined"}},
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace drydock::triggers;
  if (size < 2) return 0;
  const std::string kSecret = "s3cret";
  const Provider& p = kProviders[data[0] % kProviders.size()];
  const std::string& event = p.events[data[1] % p.events.size()];
  std::string body(reinterpret_cast<const char*>(data + 2), size - 2);
  std::string hmac = drydock::HmacSha256Hex(kSecret, body);
  Headers h = {{p.event_header, event}, {"x-github-delivery", "d1"}, {"x-request-uuid", "d2"}};
  if (p.event_header == "x-github-event") h["x-hub-signature-256"] = "sha256=" + hmac;
  if (p.event_header == "x-gitea-event") h["x-gitea-signature"] = hmac;
  if (p.event_header == "x-forgejo-event") h["x-forgejo-signature"] = hmac;
  if (p.event_header == "x-gitlab-event") h["x-gitlab-token"] = kSecret;
  if (p.event_header == "x-event-key") h["x-hub-signature"] = "sha256=" + hmac;
  (void)ParseWebhook(h, body, kSecret);
  // And unsigned, as anyone on the network can send it.
  h.erase("x-hub-signature-256");
  (void)ParseWebhook(h, body, kSecret);
  return 0;
}
