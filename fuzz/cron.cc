// Cron expressions from saved tasks' timer triggers, and the search for the
// next time they fire (which must end even for schedules that never do).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "cron/cron.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace std::chrono;
  auto schedule = drydock::cron::Schedule::Parse(
      std::string(reinterpret_cast<const char*>(data), size));
  if (!schedule.ok()) return 0;
  // An ordinary instant, the last minute of a year and a leap day.
  const system_clock::time_point kFrom[] = {
      sys_days{year{2024} / 6 / 15} + hours{8} + minutes{7},
      sys_days{year{2025} / 12 / 31} + hours{23} + minutes{59},
      sys_days{year{2028} / 2 / 29} + hours{12},
  };
  for (auto from : kFrom) {
    auto next = schedule->Next(from);
    if (next && *next <= from) __builtin_trap();  // "strictly after"
  }
  return 0;
}
