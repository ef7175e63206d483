// The proleptic Gregorian calendar of timestamps (H. Hinnant's days_from_civil /
// civil_from_days), shared by timestamp parsing and formatting (engine/values/cell_convert.cc) and
// the Python binding's datetime conversion (python/src/convert.cc). Thread-safety: pure functions.
#pragma once

#include <cstdint>

#include "larder/types.h"

namespace larder {

inline constexpr int64_t kMicrosPerSecond = 1'000'000;
inline constexpr int64_t kSecondsPerDay = 86'400;

// Days since 1970-01-01 of y-m-d (m in 1..12, d in 1..31).
inline int64_t DaysFromCivil(int64_t y, int m, int d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;                                    // [0, 399]
  const int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;  // [0, 365]
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;            // [0, 146096]
  return era * 146097 + doe - 719468;
}

struct CivilDate {
  int64_t year;
  int month;
  int day;
};

// The date `z` days after 1970-01-01.
inline CivilDate CivilFromDays(int64_t z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;                                       // [0, 146096]
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;  // [0, 399]
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);                // [0, 365]
  const int64_t mp = (5 * doy + 2) / 153;                                     // [0, 11]
  const int day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  const int month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  return {yoe + era * 400 + (month <= 2 ? 1 : 0), month, day};
}

// A timestamp split by floor division: times before 1970 get a non-negative time of day.
struct DayTime {
  int64_t days;           // since 1970-01-01
  int64_t second_of_day;  // [0, 86399]
  int64_t micros;         // [0, 999999]
};

inline DayTime SplitTimestamp(TimestampMicros ts) {
  int64_t secs = ts / kMicrosPerSecond;
  int64_t micros = ts % kMicrosPerSecond;
  if (micros < 0) {
    micros += kMicrosPerSecond;
    --secs;
  }
  int64_t days = secs / kSecondsPerDay;
  int64_t sod = secs % kSecondsPerDay;
  if (sod < 0) {
    sod += kSecondsPerDay;
    --days;
  }
  return {days, sod, micros};
}

}  // namespace larder
