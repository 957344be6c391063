#include "cron/cron.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <string>

namespace {

using drydock::Code;
using drydock::cron::Schedule;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;
using std::chrono::sys_days;
using std::chrono::system_clock;
using std::chrono::year;

system_clock::time_point At(int y, unsigned mo, unsigned d, int h = 0, int mi = 0, int s = 0) {
  return sys_days{year{y} / mo / d} + hours{h} + minutes{mi} + seconds{s};
}

// Renders to the second, so a failure shows the date and proves the seconds were dropped.
std::string Format(system_clock::time_point t) {
  const sys_days day = std::chrono::floor<std::chrono::days>(t);
  const std::chrono::year_month_day ymd{day};
  const std::chrono::hh_mm_ss hms{std::chrono::floor<seconds>(t - day)};
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%04d-%02u-%02u %02d:%02d:%02d", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()));
  return buf;
}

// "YYYY-MM-DD HH:MM:SS" of the next occurrence, "never", or the parse error.
std::string NextAfter(const std::string& cron, system_clock::time_point after) {
  auto schedule = Schedule::Parse(cron);
  if (!schedule.ok()) return "parse error: " + schedule.status().message();
  auto next = schedule->Next(after);
  return next ? Format(*next) : "never";
}

std::string ParseError(const std::string& cron) {
  auto schedule = Schedule::Parse(cron);
  if (schedule.ok()) return "parsed OK";
  EXPECT_EQ(schedule.status().code(), Code::kInvalid) << cron;
  return schedule.status().message();
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace

TEST(CronTest, ParseErrorMessageIsExact) {
  EXPECT_EQ(ParseError("61 * * * *"), "cron '61 * * * *': minute: 61 is out of range 0-59");
}

TEST(CronTest, ParseRejectsWrongFieldCount) {
  EXPECT_EQ(
      ParseError("* * * *"),
      "cron '* * * *': expected 5 fields (minute hour day-of-month month day-of-week), got 4");
  EXPECT_TRUE(Contains(ParseError("* * * * * *"), "got 6"));
  EXPECT_TRUE(Contains(ParseError(""), "got 0"));
  EXPECT_TRUE(Contains(ParseError("   "), "got 0"));
}

TEST(CronTest, ParseErrorsNameTheFieldAndTheText) {
  struct Case {
    const char* cron;
    const char* message_part;
  };
  for (const Case& c : {
           Case{"* 24 * * *", "hour: 24 is out of range 0-23"},
           Case{"* * 0 * *", "day-of-month: 0 is out of range 1-31"},
           Case{"* * 32 * *", "day-of-month: 32 is out of range 1-31"},
           Case{"* * * 13 *", "month: 13 is out of range 1-12"},
           Case{"* * * * 8", "day-of-week: 8 is out of range 0-7"},
           Case{"99999999999 * * * *", "minute: 99999999999 is out of range 0-59"},
           Case{"*/0 * * * *", "minute: step 0 is out of range 1-60"},
           Case{"* */25 * * *", "hour: step 25 is out of range 1-24"},
           Case{"*/ * * * *", "minute: step '' is not a number"},
           Case{"* * 5-1 * *", "day-of-month: range 5-1 is reversed"},
           Case{"* * * * fri-mon", "day-of-week: range fri-mon is reversed"},
           Case{"* * * foo *", "month: unknown name 'foo' (expected jan..dec)"},
           Case{"* * * * funday", "day-of-week: unknown name 'funday' (expected sun..sat)"},
           Case{"jan * * * *", "minute: 'jan' is not a number"},
           Case{"1x * * * *", "minute: '1x' is not a number"},
           Case{"1,,2 * * * *", "minute: empty element in list '1,,2'"},
           Case{"* 1, * * *", "hour: empty element in list '1,'"},
           Case{"* 1-/2 * * *", "hour: incomplete range '1-'"},
           Case{"* * * -3 *", "month: incomplete range '-3'"},
       }) {
    std::string message = ParseError(c.cron);
    EXPECT_TRUE(Contains(message, std::string("cron '") + c.cron + "': ")) << message;
    EXPECT_TRUE(Contains(message, c.message_part)) << c.cron << " -> " << message;
  }
}

TEST(CronTest, ParseAcceptsNamesInAnyCaseAndKeepsText) {
  for (const char* cron : {"0 0 * * Mon-FRI", "0 0 1 JAN,jul *", "0 0 * feb-Apr/2 sun,7",
                           "  0\t0  * *   *  ", "10-40/5 1/6 */3 * 0-7"}) {
    auto schedule = Schedule::Parse(cron);
    ASSERT_TRUE(schedule.ok()) << cron << ": " << schedule.status().message();
    EXPECT_EQ(schedule->text(), cron);
  }
}

TEST(CronTest, EveryMinuteIsTheNextWholeMinute) {
  EXPECT_EQ(NextAfter("* * * * *", At(2026, 11, 29, 10, 30, 45)), "2026-11-29 10:31:00");
  EXPECT_EQ(NextAfter("* * * * *", At(2026, 11, 29, 10, 30)), "2026-11-29 10:31:00");
  EXPECT_EQ(NextAfter("* * * * *", At(2026, 11, 29, 10, 30) + std::chrono::milliseconds{999}),
            "2026-11-29 10:31:00");
  EXPECT_EQ(NextAfter("* * * * *", At(2026, 12, 31, 23, 59, 30)), "2027-01-01 00:00:00");
}

TEST(CronTest, EveryQuarterHour) {
  EXPECT_EQ(NextAfter("*/15 * * * *", At(2026, 11, 29, 10, 30)), "2026-11-29 10:45:00");
  EXPECT_EQ(NextAfter("*/15 * * * *", At(2026, 11, 29, 10, 50)), "2026-11-29 11:00:00");
  EXPECT_EQ(NextAfter("*/15 * * * *", At(2026, 11, 29, 23, 46)), "2026-11-30 00:00:00");
}

TEST(CronTest, DailyAtNinePm) {
  EXPECT_EQ(NextAfter("0 21 * * *", At(2026, 11, 29, 20, 59, 59)), "2026-11-29 21:00:00");
  EXPECT_EQ(NextAfter("0 21 * * *", At(2026, 11, 29, 21, 0)), "2026-11-30 21:00:00");
}

TEST(CronTest, WeekdaysSkipTheWeekend) {
  // 2026-11-27 is a Friday, 2026-11-30 a Monday.
  EXPECT_EQ(NextAfter("30 9 * * Mon-Fri", At(2026, 11, 27, 9, 29)), "2026-11-27 09:30:00");
  EXPECT_EQ(NextAfter("30 9 * * Mon-Fri", At(2026, 11, 27, 9, 30)), "2026-11-30 09:30:00");
  EXPECT_EQ(NextAfter("30 9 * * Mon-Fri", At(2026, 11, 28, 12, 0)), "2026-11-30 09:30:00");
}

TEST(CronTest, NewYearCrossesTheYear) {
  EXPECT_EQ(NextAfter("0 0 1 jan *", At(2026, 11, 29)), "2027-01-01 00:00:00");
  EXPECT_EQ(NextAfter("0 0 1 jan *", At(2027, 1, 1)), "2028-01-01 00:00:00");
}

TEST(CronTest, LeapDayWaitsForALeapYear) {
  EXPECT_EQ(NextAfter("0 0 29 2 *", At(2026, 11, 29)), "2028-02-29 00:00:00");
  // 2100 is not a leap year, so this gap is eight years.
  EXPECT_EQ(NextAfter("0 0 29 2 *", At(2096, 3, 1)), "2104-02-29 00:00:00");
  // The next one, 2264, is past the end of system_clock's range.
  EXPECT_EQ(NextAfter("0 0 29 2 *", At(2260, 3, 1)), "never");
}

TEST(CronTest, DayOfMonthOrDayOfWeekWhenBothRestricted) {
  // From Sunday 2026-11-29: Friday 12-04 and 12-11 match by weekday, Sunday 12-13 by date.
  EXPECT_EQ(NextAfter("0 0 13 * fri", At(2026, 11, 29)), "2026-12-04 00:00:00");
  EXPECT_EQ(NextAfter("0 0 13 * fri", At(2026, 12, 4)), "2026-12-11 00:00:00");
  EXPECT_EQ(NextAfter("0 0 13 * fri", At(2026, 12, 11)), "2026-12-13 00:00:00");
}

TEST(CronTest, StarPrefixedDayFieldMeansBothMustMatch) {
  // As in Vixie cron, `*/10` counts as unrestricted: days 1, 11, 21, 31 that are Mondays.
  EXPECT_EQ(NextAfter("0 0 */10 * mon", At(2026, 11, 29)), "2026-12-21 00:00:00");
}

TEST(CronTest, SevenAndZeroAndSunAreSunday) {
  // From Monday 2026-11-30 the next Sunday is 2026-12-06.
  for (const char* cron : {"0 0 * * 7", "0 0 * * 0", "0 0 * * SUN"}) {
    EXPECT_EQ(NextAfter(cron, At(2026, 11, 30, 12, 0)), "2026-12-06 00:00:00") << cron;
  }
  EXPECT_EQ(NextAfter("0 0 * * 6-7", At(2026, 11, 30, 12, 0)), "2026-12-05 00:00:00");
  EXPECT_EQ(NextAfter("0 0 * * 6-7", At(2026, 12, 5)), "2026-12-06 00:00:00");
  EXPECT_EQ(NextAfter("0 0 * * 6-7", At(2026, 12, 6)), "2026-12-12 00:00:00");
}

TEST(CronTest, ListsRangesAndStepsCombine) {
  const std::string cron = "5,10-12 */6 1-7 * *";
  EXPECT_EQ(NextAfter(cron, At(2026, 11, 29)), "2026-12-01 00:05:00");
  EXPECT_EQ(NextAfter(cron, At(2026, 12, 1, 0, 5)), "2026-12-01 00:10:00");
  EXPECT_EQ(NextAfter(cron, At(2026, 12, 1, 0, 11)), "2026-12-01 00:12:00");
  EXPECT_EQ(NextAfter(cron, At(2026, 12, 1, 0, 12)), "2026-12-01 06:05:00");
  EXPECT_EQ(NextAfter(cron, At(2026, 12, 1, 18, 12)), "2026-12-02 00:05:00");
  EXPECT_EQ(NextAfter(cron, At(2026, 12, 7, 18, 12)), "2027-01-01 00:05:00");
}

TEST(CronTest, StepsOverARangeOrFromAStart) {
  EXPECT_EQ(NextAfter("10-40/5 * * * *", At(2026, 11, 29, 10, 35)), "2026-11-29 10:40:00");
  EXPECT_EQ(NextAfter("10-40/5 * * * *", At(2026, 11, 29, 10, 40)), "2026-11-29 11:10:00");
  // NCrontab's `N/S`: from N to the end of the field, so hours 1, 7, 13, 19.
  EXPECT_EQ(NextAfter("0 1/6 * * *", At(2026, 11, 29, 13, 0)), "2026-11-29 19:00:00");
  EXPECT_EQ(NextAfter("0 1/6 * * *", At(2026, 11, 29, 19, 0)), "2026-11-30 01:00:00");
  EXPECT_EQ(NextAfter("0 0 * jan-dec/3 *", At(2026, 11, 29)), "2027-01-01 00:00:00");
  EXPECT_EQ(NextAfter("0 0 * jan-dec/3 *", At(2027, 1, 31, 23, 59)), "2027-04-01 00:00:00");
}

TEST(CronTest, ThirtyFirstSkipsShortMonths) {
  const std::string cron = "0 0 31 * *";
  EXPECT_EQ(NextAfter(cron, At(2026, 11, 29)), "2026-12-31 00:00:00");
  EXPECT_EQ(NextAfter(cron, At(2026, 12, 31)), "2027-01-31 00:00:00");
  EXPECT_EQ(NextAfter(cron, At(2027, 1, 31)), "2027-03-31 00:00:00");
  EXPECT_EQ(NextAfter(cron, At(2027, 3, 31)), "2027-05-31 00:00:00");
  EXPECT_EQ(NextAfter(cron, At(2027, 7, 31)), "2027-08-31 00:00:00");
}

TEST(CronTest, NeverIsNullopt) {
  EXPECT_EQ(NextAfter("0 0 30 2 *", At(2026, 11, 29)), "never");
  EXPECT_EQ(NextAfter("0 0 31 4,6,9,11 *", At(2026, 11, 29)), "never");
}

TEST(CronTest, OccurrencesAreStrictlyIncreasing) {
  auto schedule = Schedule::Parse("7 */5 * * mon,thu");
  ASSERT_TRUE(schedule.ok());
  system_clock::time_point t = At(2026, 11, 29);
  for (int i = 0; i < 200; ++i) {
    auto next = schedule->Next(t);
    ASSERT_TRUE(next.has_value());
    ASSERT_GT(*next, t);
    t = *next;
  }
  // Ten a week (two days, five hours), from Monday 2026-11-30: the 200th ends week 20.
  EXPECT_EQ(Format(t), "2027-04-15 20:07:00");
}
