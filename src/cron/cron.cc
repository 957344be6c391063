#include "cron/cron.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <span>
#include <string_view>
#include <vector>

#include "base/strings.h"

namespace drydock::cron {

using std::chrono::days;
using std::chrono::floor;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::months;
using std::chrono::sys_days;
using std::chrono::system_clock;
using std::chrono::weekday;
using std::chrono::year_month;
using std::chrono::year_month_day;
using std::chrono::years;
using SysMinutes = std::chrono::sys_time<minutes>;

namespace {

constexpr std::array<std::string_view, 12> kMonthNames = {"jan", "feb", "mar", "apr", "may", "jun",
                                                          "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr std::array<std::string_view, 7> kDayNames = {"sun", "mon", "tue", "wed",
                                                       "thu", "fri", "sat"};

struct FieldSpec {
  std::string_view name;
  unsigned min;
  unsigned max;
  // names[i] stands for the value min + i (jan = 1, sun = 0).
  std::span<const std::string_view> names;
};

// Day-of-week admits 7 so that both Sunday spellings parse; Parse folds it onto 0.
constexpr std::array<FieldSpec, 5> kFields = {{
    {"minute", 0, 59, {}},
    {"hour", 0, 23, {}},
    {"day-of-month", 1, 31, {}},
    {"month", 1, 12, kMonthNames},
    {"day-of-week", 0, 7, kDayNames},
}};
constexpr size_t kDayOfMonthField = 2;
constexpr size_t kDayOfWeekField = 4;

// 400 Gregorian years are exactly 146097 days, a whole number of weeks, so dates and weekdays
// repeat from then on: a schedule with no occurrence in that window never fires.
constexpr years kSearchWindow{400};

std::string Quote(std::string_view s) { return "'" + std::string(s) + "'"; }

std::string RangeText(unsigned lo, unsigned hi) {
  return std::to_string(lo) + "-" + std::to_string(hi);
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  while (true) {
    size_t pos = s.find(sep);
    parts.push_back(s.substr(0, pos));
    if (pos == std::string_view::npos) return parts;
    s.remove_prefix(pos + 1);
  }
}

// Fields may be separated by any run of spaces or tabs, as in a crontab line.
std::vector<std::string_view> SplitFields(std::string_view text) {
  std::vector<std::string_view> fields;
  size_t pos = 0;
  while (true) {
    pos = text.find_first_not_of(" \t", pos);
    if (pos == std::string_view::npos) return fields;
    size_t end = std::min(text.find_first_of(" \t", pos), text.size());
    fields.push_back(text.substr(pos, end - pos));
    pos = end;
  }
}

// Parses all of `s` as a decimal number; nullopt for anything else, including overflow.
std::optional<unsigned> ParseNumber(std::string_view s) {
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return value;
}

Result<unsigned> ParseName(std::string_view s, const FieldSpec& field) {
  for (size_t i = 0; i < field.names.size(); ++i) {
    if (EqualsIgnoreCase(s, field.names[i])) return field.min + static_cast<unsigned>(i);
  }
  if (field.names.empty()) return Invalid(Quote(s) + " is not a number");
  return Invalid("unknown name " + Quote(s) + " (expected " + std::string(field.names.front()) +
                 ".." + std::string(field.names.back()) + ")");
}

Result<unsigned> ParseValue(std::string_view s, const FieldSpec& field) {
  if (s.empty() || !std::isdigit(static_cast<unsigned char>(s[0]))) return ParseName(s, field);
  // Digits that overflow are still a number, just far out of range.
  bool all_digits = s.find_first_not_of("0123456789") == std::string_view::npos;
  if (!all_digits) return Invalid(Quote(s) + " is not a number");
  std::optional<unsigned> value = ParseNumber(s);
  if (!value || *value < field.min || *value > field.max) {
    return Invalid(std::string(s) + " is out of range " + RangeText(field.min, field.max));
  }
  return *value;
}

Result<unsigned> ParseStep(std::string_view s, const FieldSpec& field) {
  const unsigned span = field.max - field.min + 1;
  std::optional<unsigned> step = ParseNumber(s);
  if (!step) return Invalid("step " + Quote(s) + " is not a number");
  if (*step < 1 || *step > span) {
    return Invalid("step " + std::string(s) + " is out of range " + RangeText(1, span));
  }
  return *step;
}

// Adds one list element (`*`, `N`, `A-B`, any of those with `/S`) to `bits`.
Status AddElement(std::string_view element, const FieldSpec& field, std::bitset<64>& bits) {
  size_t slash = element.find('/');
  std::string_view base = element.substr(0, slash);
  unsigned step = 1;
  if (slash != std::string_view::npos) {
    DD_ASSIGN_OR_RETURN(parsed_step, ParseStep(element.substr(slash + 1), field));
    step = parsed_step;
  }
  if (base.empty()) return Invalid(Quote(element) + " has no value before '/'");

  unsigned lo = field.min;
  unsigned hi = field.max;
  if (size_t dash = base.find('-'); dash != std::string_view::npos) {
    if (dash == 0 || dash + 1 == base.size()) return Invalid("incomplete range " + Quote(base));
    DD_ASSIGN_OR_RETURN(first, ParseValue(base.substr(0, dash), field));
    DD_ASSIGN_OR_RETURN(last, ParseValue(base.substr(dash + 1), field));
    if (first > last) return Invalid("range " + std::string(base) + " is reversed");
    lo = first;
    hi = last;
  } else if (base != "*") {
    DD_ASSIGN_OR_RETURN(value, ParseValue(base, field));
    lo = value;
    // NCrontab reads `N/S` as `N-max/S`; a bare `N` is just N.
    hi = slash == std::string_view::npos ? value : field.max;
  }
  for (unsigned v = lo; v <= hi; v += step) bits.set(v);
  return Status::Ok();
}

Result<std::bitset<64>> ParseField(std::string_view text, const FieldSpec& field) {
  std::bitset<64> bits;
  for (std::string_view element : Split(text, ',')) {
    if (element.empty()) return Invalid("empty element in list " + Quote(text));
    DD_RETURN_IF_ERROR(AddElement(element, field, bits));
  }
  return bits;
}

}  // namespace

Result<Schedule> Schedule::Parse(const std::string& text) {
  const std::string context = "cron " + Quote(text) + ": ";
  std::vector<std::string_view> fields = SplitFields(text);
  if (fields.size() != kFields.size()) {
    return Invalid(context +
                   "expected 5 fields (minute hour day-of-month month day-of-week), got " +
                   std::to_string(fields.size()));
  }
  Schedule schedule;
  schedule.text_ = text;
  std::array<Bits*, 5> targets = {&schedule.minutes_, &schedule.hours_, &schedule.days_of_month_,
                                  &schedule.months_, &schedule.days_of_week_};
  for (size_t i = 0; i < fields.size(); ++i) {
    Result<Bits> bits = ParseField(fields[i], kFields[i]);
    if (!bits.ok()) {
      return Invalid(context + std::string(kFields[i].name) + ": " + bits.status().message());
    }
    *targets[i] = *bits;
  }
  if (schedule.days_of_week_.test(7)) {
    schedule.days_of_week_.reset(7);
    schedule.days_of_week_.set(0);
  }
  // Vixie cron decides "unrestricted" by the leading '*', so `*/2` still means "and".
  schedule.day_of_month_star_ = fields[kDayOfMonthField].front() == '*';
  schedule.day_of_week_star_ = fields[kDayOfWeekField].front() == '*';
  return schedule;
}

bool Schedule::DayMatches(unsigned day_of_month, unsigned day_of_week) const {
  bool dom = days_of_month_.test(day_of_month);
  bool dow = days_of_week_.test(day_of_week);
  // A '*' field has every bit set, so "and" leaves the other field as the only restriction.
  if (day_of_month_star_ || day_of_week_star_) return dom && dow;
  return dom || dow;
}

std::optional<minutes> Schedule::FirstTimeOfDay(minutes from) const {
  const auto from_hour = static_cast<unsigned>(from / hours{1});
  const auto from_minute = static_cast<unsigned>(from % hours{1} / minutes{1});
  for (unsigned h = from_hour; h < 24; ++h) {
    if (!hours_.test(h)) continue;
    for (unsigned m = h == from_hour ? from_minute : 0; m < 60; ++m) {
      if (minutes_.test(m)) return hours{h} + minutes{m};
    }
  }
  return std::nullopt;
}

std::optional<SysMinutes> Schedule::FirstInMonth(year_month month, unsigned from_day,
                                                     minutes from_time) const {
  const auto last_day = static_cast<unsigned>((month / std::chrono::last).day());
  // Under "and" the day-of-month must match, so e.g. the 31st rules out a 30-day month whole;
  // this keeps a schedule that never fires ("0 0 30 2 *") from scanning every day for 400 years.
  const Bits days_in_month = Bits{}.set() >> (Bits{}.size() - 1 - last_day);
  if ((day_of_month_star_ || day_of_week_star_) && (days_of_month_ & days_in_month).none()) {
    return std::nullopt;
  }
  weekday wd{sys_days{month / std::chrono::day{from_day}}};
  for (unsigned d = from_day; d <= last_day; ++d, ++wd) {
    if (!DayMatches(d, wd.c_encoding())) continue;
    std::optional<minutes> time_of_day = FirstTimeOfDay(d == from_day ? from_time : minutes{0});
    if (time_of_day) return sys_days{month / std::chrono::day{d}} + *time_of_day;
  }
  return std::nullopt;
}

std::optional<system_clock::time_point> Schedule::Next(system_clock::time_point after) const {
  const SysMinutes start = floor<minutes>(after) + minutes{1};
  const sys_days start_day = floor<days>(start);
  const year_month_day start_date{start_day};
  const year_month first_month = start_date.year() / start_date.month();

  // Skip disallowed months whole, then scan days, so the cost is per day, not per minute.
  unsigned from_day = static_cast<unsigned>(start_date.day());
  minutes from_time = start - start_day;
  for (year_month ym = first_month; ym <= first_month + kSearchWindow; ym += months{1}) {
    if (months_.test(static_cast<unsigned>(ym.month()))) {
      if (std::optional<SysMinutes> found = FirstInMonth(ym, from_day, from_time)) {
        // system_clock counts nanoseconds in 64 bits and so ends in 2262.
        if (*found > floor<minutes>(system_clock::time_point::max())) return std::nullopt;
        return std::chrono::time_point_cast<system_clock::duration>(*found);
      }
    }
    from_day = 1;
    from_time = minutes{0};
  }
  return std::nullopt;
}

}  // namespace drydock::cron
