// GET /api/v1/events?after=SEQ&limit=N: the event log for tools that follow
// it, as the server's own consumers do: events after SEQ (or the newest N
// with ?newest=N), oldest first; the
// registry's only of repositories the caller may pull, runs' status changes
// only for an admin. `last` is where to go on from, also past events left out.
#include "api/impl.h"

namespace drydock::api {
namespace {

using nlohmann::json;

constexpr int64_t kMaxLimit = 1000;

// A whole number in [min, max], or `fallback` when absent.
Result<int64_t> Number(const std::optional<std::string>& text, const char* name, int64_t min,
                       int64_t max, int64_t fallback) {
  if (!text) return fallback;
  std::string why = std::string(name) + " must be a number from " + std::to_string(min) + " to " +
                    std::to_string(max);
  if (text->empty() || text->size() > 18 ||
      text->find_first_not_of("0123456789") != std::string::npos)
    return Invalid(why);
  int64_t n = std::stoll(*text);
  if (n < min || n > max) return Invalid(why);
  return n;
}

}  // namespace

void Api::Impl::ListEvents(Ctx& c) {
  auto after = Number(c.req.Query("after"), "after", 0, int64_t{1} << 62, 0);
  if (!after.ok()) return SendStatus(c.resp, after.status());
  auto limit = Number(c.req.Query("limit"), "limit", 1, kMaxLimit, 100);
  if (!limit.ok()) return SendStatus(c.resp, limit.status());
  // ?newest=N: the end of the log (a dashboard's "recent pushes").
  auto newest = Number(c.req.Query("newest"), "newest", 1, kMaxLimit, 0);
  if (!newest.ok()) return SendStatus(c.resp, newest.status());
  if (*newest > 0 && c.req.Query("after"))
    return SendError(c.resp, 400, "INVALID", "newest and after cannot be used together");
  auto batch = *newest > 0 ? meta.NewestEvents(*newest) : meta.EventsAfter(*after, *limit);
  if (!batch.ok()) return SendStatus(c.resp, batch.status());
  json list = json::array();
  int64_t last = *after;
  for (const auto& e : *batch) {
    last = e.id;
    if (e.action == "run") {
      if (c.who.admin)
        list.push_back({{"id", e.id},
                        {"action", e.action},
                        {"run", e.run},
                        {"status", e.status},
                        {"time", e.time}});
      continue;
    }
    if (!(auth.Allowed(c.who, e.repo) & auth::kPull)) continue;
    json item = {{"id", e.id},         {"action", e.action}, {"repository", e.repo},
                 {"digest", e.digest}, {"actor", e.actor},   {"time", e.time}};
    if (!e.tag.empty()) item["tag"] = e.tag;
    if (!e.media_type.empty()) item["mediaType"] = e.media_type;
    if (e.size > 0) item["size"] = e.size;
    list.push_back(std::move(item));
  }
  SendJson(c.resp, 200, {{"events", std::move(list)}, {"last", last}});
}

}  // namespace drydock::api
