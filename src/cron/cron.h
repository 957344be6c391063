// Cron schedules (timer triggers of tasks): parses the classic 5-field expression and finds the next
// time it fires. Everything is UTC; there is no local-time or DST handling on purpose, so a
// schedule means the same instants on every host.
#pragma once

#include <bitset>
#include <chrono>
#include <optional>
#include <string>

#include "base/result.h"

namespace drydock::cron {

// A 5-field cron schedule (minute hour day-of-month month day-of-week), in UTC, as ACR's
// NCrontab reads it: `*`, numbers, ranges `1-5`, lists `1,3,5`, steps `*/10` and `10-40/5`,
// month names (jan..dec) and day names (sun..sat), case-insensitive, in ranges too (`Mon-Fri`);
// day-of-week 0 and 7 are both Sunday.
//
// Also accepted, as NCrontab does: `N/S` meaning `N-max/S`. Day-of-month and day-of-week
// combine as in Vixie cron: when both are restricted a day matches if either does; a field
// counts as unrestricted when it starts with `*` (so `*/2` in one of them means "and").
class Schedule {
 public:
  // kInvalid (see base/result.h: Invalid("...")) naming the field and the bad text, e.g.
  // "cron '61 * * * *': minute: 61 is out of range 0-59"; also wrong field count.
  static Result<Schedule> Parse(const std::string& text);

  // The first occurrence strictly after `after` (seconds are dropped: occurrences are whole
  // minutes). std::nullopt only if none within ~5 years (e.g. "0 0 30 2 *").
  //
  // In fact the search covers a whole 400-year Gregorian cycle, after which dates and weekdays
  // repeat, so std::nullopt means "never" (or: not before system_clock's range ends).
  std::optional<std::chrono::system_clock::time_point> Next(
      std::chrono::system_clock::time_point after) const;

  const std::string& text() const { return text_; }

 private:
  // One bit per allowed value, indexed by the value itself (minute 0-59, day-of-month 1-31,
  // month 1-12, day-of-week 0-6 with Sunday = 0).
  using Bits = std::bitset<64>;

  Schedule() = default;

  bool DayMatches(unsigned day_of_month, unsigned day_of_week) const;
  // The earliest allowed time of day at or after `from`, both as offsets from midnight.
  std::optional<std::chrono::minutes> FirstTimeOfDay(std::chrono::minutes from) const;
  // The first occurrence in `month` on or after day `from_day` at time of day `from_time`.
  std::optional<std::chrono::sys_time<std::chrono::minutes>> FirstInMonth(
      std::chrono::year_month month, unsigned from_day, std::chrono::minutes from_time) const;

  std::string text_;
  Bits minutes_;
  Bits hours_;
  Bits days_of_month_;
  Bits months_;
  Bits days_of_week_;
  bool day_of_month_star_ = false;
  bool day_of_week_star_ = false;
};

}  // namespace drydock::cron
