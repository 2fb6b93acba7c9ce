//! Billing periods in calendar months and years (UTC): a month after
//! 31 January is the last day of February, as card networks and Stripe
//! count it.

use crate::plans::Interval;

const DAY_MS: i64 = 86_400_000;

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) of days since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    let next = if month == 12 {
        days_from_civil(year + 1, 1, 1)
    } else {
        days_from_civil(year, month + 1, 1)
    };
    next - days_from_civil(year, month, 1)
}

/// `months` calendar months after `at_ms`, the day clamped to the month's
/// last, the time of day kept.
pub fn add_months(at_ms: i64, months: i64) -> i64 {
    let days = at_ms.div_euclid(DAY_MS);
    let time_of_day = at_ms.rem_euclid(DAY_MS);
    let (year, month, day) = civil_from_days(days);
    let index = year * 12 + (month - 1) + months;
    let (year, month) = (index.div_euclid(12), index.rem_euclid(12) + 1);
    let day = day.min(days_in_month(year, month));
    days_from_civil(year, month, day) * DAY_MS + time_of_day
}

/// The end of a period of `interval` starting at `start_ms`.
pub fn period_end(start_ms: i64, interval: Interval) -> i64 {
    match interval {
        Interval::Month => add_months(start_ms, 1),
        Interval::Year => add_months(start_ms, 12),
    }
}

/// The year (UTC) of `at_ms`.
pub fn year(at_ms: i64) -> i64 {
    civil_from_days(at_ms.div_euclid(DAY_MS)).0
}

/// `YYYY-MM-DD` of `at_ms`.
pub fn date(at_ms: i64) -> String {
    let (y, m, d) = civil_from_days(at_ms.div_euclid(DAY_MS));
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i64, m: i64, d: i64) -> i64 {
        days_from_civil(y, m, d) * DAY_MS + 9 * 3_600_000
    }

    #[test]
    fn months_clamp_to_the_last_day() {
        assert_eq!(add_months(at(2026, 1, 31), 1), at(2026, 2, 28));
        assert_eq!(add_months(at(2028, 1, 31), 1), at(2028, 2, 29));
        assert_eq!(add_months(at(2026, 12, 15), 1), at(2027, 1, 15));
        assert_eq!(add_months(at(2028, 2, 29), 12), at(2029, 2, 28));
        assert_eq!(
            period_end(at(2026, 3, 31), Interval::Month),
            at(2026, 4, 30)
        );
    }

    #[test]
    fn civil_dates_round_trip() {
        for days in [-1, 0, 59, 365, 10_957, 20_000, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(year(at(2026, 12, 31)), 2026);
    }
}
