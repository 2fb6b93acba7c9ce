//! Local time in a user's time zone (IANA names, jiff's bundled database):
//! quiet hours and digest hours.

use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

/// A window of the day in local time, `[start, end)` minutes after
/// midnight; `start > end` wraps past midnight (22:00–07:00).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    pub start_minute: u16,
    pub end_minute: u16,
}

pub fn time_zone(name: &str) -> TimeZone {
    TimeZone::get(name).unwrap_or(TimeZone::UTC)
}

fn local(now_ms: i64, tz: &TimeZone) -> Zoned {
    Timestamp::from_millisecond(now_ms)
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .to_zoned(tz.clone())
}

fn minute_of_day(z: &Zoned) -> u16 {
    z.hour() as u16 * 60 + z.minute() as u16
}

impl QuietHours {
    pub fn contains(&self, minute: u16) -> bool {
        if self.start_minute <= self.end_minute {
            (self.start_minute..self.end_minute).contains(&minute)
        } else {
            minute >= self.start_minute || minute < self.end_minute
        }
    }

    /// When the quiet hours `now_ms` falls in end (unix ms), or `None` if it
    /// falls outside them.
    pub fn ends_after(&self, now_ms: i64, tz: &TimeZone) -> Option<i64> {
        let now = local(now_ms, tz);
        if !self.contains(minute_of_day(&now)) {
            return None;
        }
        next_local_minute(&now, self.end_minute)
    }

    pub fn parse(start: &str, end: &str) -> Option<QuietHours> {
        Some(QuietHours {
            start_minute: parse_hh_mm(start)?,
            end_minute: parse_hh_mm(end)?,
        })
    }
}

/// The first instant after `now` whose local time is `minute` past midnight.
fn next_local_minute(now: &Zoned, minute: u16) -> Option<i64> {
    let today = now
        .with()
        .hour((minute / 60) as i8)
        .minute((minute % 60) as i8)
        .second(0)
        .subsec_nanosecond(0)
        .build()
        .ok()?;
    let at = if today.timestamp() > now.timestamp() {
        today
    } else {
        today.tomorrow().ok()?
    };
    Some(at.timestamp().as_millisecond())
}

pub fn parse_hh_mm(text: &str) -> Option<u16> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

pub fn format_hh_mm(minute: u16) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

/// The local hour digests go out at.
pub const DIGEST_HOUR: i8 = 8;

/// Whether a digest is due now: at or after the digest hour, local time,
/// on a day (a Monday, for weekly) with none sent yet.
pub fn digest_due(frequency: &str, last_sent_ms: Option<i64>, now_ms: i64, tz: &TimeZone) -> bool {
    let now = local(now_ms, tz);
    if now.hour() < DIGEST_HOUR {
        return false;
    }
    let period_start = match frequency {
        "daily" => now.start_of_day().ok(),
        "weekly" => {
            let days_since_monday = now.weekday().to_monday_zero_offset() as i64;
            now.start_of_day().ok().and_then(|d| {
                d.checked_sub(jiff::Span::new().days(days_since_monday))
                    .ok()
            })
        }
        _ => return false,
    };
    let Some(period_start) = period_start else {
        return false;
    };
    let due_from = period_start
        .checked_add(jiff::Span::new().hours(DIGEST_HOUR as i64))
        .map(|z| z.timestamp().as_millisecond())
        .unwrap_or(i64::MAX);
    now_ms >= due_from && last_sent_ms.is_none_or(|last| last < due_from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(text: &str) -> i64 {
        text.parse::<Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn quiet_hours_wrap_midnight_and_end_in_local_time() {
        let q = QuietHours::parse("22:00", "07:00").unwrap();
        let paris = time_zone("Europe/Paris");
        // 23:30 in Paris (UTC+1 in December) is quiet until 07:00 Paris.
        let end = q.ends_after(ms("2026-12-04T22:30:00Z"), &paris).unwrap();
        assert_eq!(end, ms("2026-12-05T06:00:00Z"));
        // 03:00 Paris is quiet until 07:00 the same day.
        assert_eq!(
            q.ends_after(ms("2026-12-05T02:00:00Z"), &paris),
            Some(ms("2026-12-05T06:00:00Z"))
        );
        // 12:00 Paris is not quiet.
        assert_eq!(q.ends_after(ms("2026-12-05T11:00:00Z"), &paris), None);
        let day = QuietHours::parse("13:00", "14:00").unwrap();
        assert!(day.contains(13 * 60) && !day.contains(14 * 60));
    }

    #[test]
    fn digests_fall_due_at_eight_local_once_per_period() {
        let tokyo = time_zone("Asia/Tokyo");
        // 07:59 Tokyo: not yet; 08:00: due; sent at 08:01: not again that day.
        assert!(!digest_due(
            "daily",
            None,
            ms("2026-12-04T22:59:00Z"),
            &tokyo
        ));
        assert!(digest_due(
            "daily",
            None,
            ms("2026-12-04T23:00:00Z"),
            &tokyo
        ));
        let sent = ms("2026-12-04T23:01:00Z");
        assert!(!digest_due(
            "daily",
            Some(sent),
            ms("2026-12-05T10:00:00Z"),
            &tokyo
        ));
        assert!(digest_due(
            "daily",
            Some(sent),
            ms("2026-12-05T23:00:00Z"),
            &tokyo
        ));
        // Weekly: due from Monday 08:00 (2026-12-07 is a Monday).
        let utc = time_zone("UTC");
        assert!(digest_due(
            "weekly",
            Some(ms("2026-11-30T09:00:00Z")),
            ms("2026-12-07T08:00:00Z"),
            &utc
        ));
        assert!(!digest_due(
            "weekly",
            Some(ms("2026-12-07T08:00:00Z")),
            ms("2026-12-09T08:00:00Z"),
            &utc
        ));
        assert!(!digest_due("off", None, ms("2026-12-07T08:00:00Z"), &utc));
    }

    #[test]
    fn parses_times_strictly() {
        assert_eq!(parse_hh_mm("07:30"), Some(450));
        for bad in ["7:30", "24:00", "12:60", "noon", "12-00"] {
            assert_eq!(parse_hh_mm(bad), None, "{bad}");
        }
        assert!(TimeZone::get("America/New_York").is_ok());
        assert_eq!(time_zone("Mars/Olympus_Mons"), TimeZone::UTC);
    }
}
