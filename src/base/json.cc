#include "base/json.h"

namespace drydock {

namespace {
struct TooDeep {};
}  // namespace

Result<nlohmann::json> ParseJson(std::string_view text, int max_depth) {
  // The callback sees each value's depth as the parser reaches it, so a deep
  // document is refused at its first level too many, before it is built.
  auto limit = [max_depth](int depth, nlohmann::json::parse_event_t event, nlohmann::json&) {
    bool opens = event == nlohmann::json::parse_event_t::object_start ||
                 event == nlohmann::json::parse_event_t::array_start;
    if (opens && depth >= max_depth) throw TooDeep{};
    return true;
  };
  try {
    return nlohmann::json::parse(text, limit);
  } catch (const TooDeep&) {
    return Invalid("JSON nested deeper than " + std::to_string(max_depth) + " levels");
  } catch (const nlohmann::json::exception& e) {
    return Invalid(std::string("not valid JSON: ") + e.what());
  }
}

}  // namespace drydock
