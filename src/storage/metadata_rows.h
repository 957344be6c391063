// What the SQLite and PostgreSQL metadata stores share besides their SQL:
// the events they write, the columns of a run row, and the errors they
// give alike. Internal to storage/.
#pragma once

#include <cstdint>
#include <ctime>
#include <string>
#include <vector>

#include "base/result.h"
#include "oci/digest.h"
#include "storage/metadata_store.h"

namespace drydock::storage::internal {

inline int64_t NowSeconds() { return static_cast<int64_t>(::time(nullptr)); }

// The columns both stores read a run from, in ReadRun's order.
#define DD_RUN_COLUMNS                                                                          \
  "id, seq, status, type, task, create_time, start_time, finish_time, request, result, error, " \
  "output_images, cause, pool, platform, agent, attempt, lease_expires, not_before, "           \
  "cancel_requested, trigger_name"

inline Event RegistryEvent(std::string action, std::string repo, std::string tag,
                           std::string digest, std::string media_type, std::string actor,
                           int64_t size = 0) {
  Event e;
  e.action = std::move(action);
  e.repo = std::move(repo);
  e.tag = std::move(tag);
  e.digest = std::move(digest);
  e.media_type = std::move(media_type);
  e.actor = std::move(actor);
  e.time = NowSeconds();
  e.size = size;
  return e;
}

inline Event RunEvent(const std::string& run, const std::string& status) {
  Event e;
  e.action = "run";
  e.time = NowSeconds();
  e.run = run;
  e.status = status;
  return e;
}

// ",a,b," for matching ",x," in SQL; "" when there is no condition.
inline std::string CommaSet(const std::vector<std::string>& items) {
  if (items.empty()) return "";
  std::string set = ",";
  for (const auto& s : items) set += s + ",";
  return set;
}

// A claim's platform sets for the queue's SQL: what the agent builds
// natively (",a,b,"; "" = anything, unless it names only emulated ones:
// then "," matches nothing), and that plus what it emulates ("" = none).
inline std::string NativeSet(const RunClaimFilter& f) {
  return f.platforms.empty() && !f.emulated.empty() ? "," : CommaSet(f.platforms);
}
inline std::string EmulatedSet(const RunClaimFilter& f) {
  if (f.emulated.empty()) return "";
  std::vector<std::string> all = f.platforms;
  all.insert(all.end(), f.emulated.begin(), f.emulated.end());
  return CommaSet(all);
}

inline Status BlobBeingDeleted(const oci::Digest& d) {
  return Status(Code::kUnavailable,
                "blob " + d.str() + " is being deleted by garbage collection: upload it again");
}

}  // namespace drydock::storage::internal
