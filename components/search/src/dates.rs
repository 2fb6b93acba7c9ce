//! Times in query parameters: RFC 3339 (`2026-12-01T09:00:00Z`,
//! `2026-12-01T10:00:00.5+01:00`) or a whole day (`2026-12-01`, UTC).

const DAY_MS: i64 = 86_400_000;
/// 9999-12-31T23:59:59.999Z, the last time RFC 3339 can write.
const LAST_MS: i64 = 253_402_300_799_999;

/// `ms` moved into 1970-01-01 to 9999-12-31.
pub fn clamp(ms: i64) -> i64 {
    ms.clamp(0, LAST_MS)
}

/// Which end of a range a time is: a whole day starts at its first
/// millisecond and ends at its last, so `to=2026-12-01` includes that day.
#[derive(Clone, Copy)]
pub enum Bound {
    Start,
    End,
}

/// Milliseconds since the Unix epoch; `None` unless `raw` is a valid
/// RFC 3339 time or `YYYY-MM-DD` date (real calendar days only).
pub fn parse(raw: &str, bound: Bound) -> Option<i64> {
    let b = raw.as_bytes();
    let day = day_number(b.get(..10)?)?;
    if b.len() == 10 {
        return Some(match bound {
            Bound::Start => day * DAY_MS,
            Bound::End => (day + 1) * DAY_MS - 1,
        });
    }
    if !matches!(b[10], b'T' | b't') {
        return None;
    }
    let (hour, minute, second) = (
        number(b.get(11..13)?)?,
        number(b.get(14..16)?)?,
        number(b.get(17..19)?)?,
    );
    if b[13] != b':' || b[16] != b':' || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &b[19..];
    let mut millis = 0;
    if let Some(fraction) = rest.strip_prefix(b".") {
        let digits = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        for (i, d) in fraction[..digits.min(3)].iter().enumerate() {
            millis += i64::from(d - b'0') * [100, 10, 1][i];
        }
        rest = &fraction[digits..];
    }
    let offset_minutes = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let (hours, minutes) = (number(&[*h1, *h2])?, number(&[*m1, *m2])?);
            if hours > 23 || minutes > 59 {
                return None;
            }
            let total = hours * 60 + minutes;
            if *sign == b'-' { -total } else { total }
        }
        _ => return None,
    };
    // A leap second counts as the last millisecond-second of its minute.
    let second = second.min(59);
    Some(day * DAY_MS + ((hour * 60 + minute - offset_minutes) * 60 + second) * 1000 + millis)
}

fn number(digits: &[u8]) -> Option<i64> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(digits.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
}

/// Days since 1970-01-01 of `YYYY-MM-DD`.
fn day_number(b: &[u8]) -> Option<i64> {
    if b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (year, month, day) = (number(&b[0..4])?, number(&b[5..7])?, number(&b[8..10])?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rfc3339_with_offsets_and_fractions() {
        assert_eq!(parse("1970-01-01T00:00:00Z", Bound::Start), Some(0));
        assert_eq!(
            parse("2026-11-23T11:15:02.007Z", Bound::Start),
            Some(1_795_432_502_007)
        );
        assert_eq!(
            parse("2026-11-23T12:15:02.0071+01:00", Bound::End),
            Some(1_795_432_502_007)
        );
        assert_eq!(
            parse("1970-01-01T00:00:00-00:30", Bound::Start),
            Some(1_800_000)
        );
    }

    #[test]
    fn a_day_covers_all_of_it() {
        assert_eq!(parse("1970-01-02", Bound::Start), Some(DAY_MS));
        assert_eq!(parse("1970-01-02", Bound::End), Some(2 * DAY_MS - 1));
        assert_eq!(parse("2024-02-29", Bound::Start), Some(1_709_164_800_000));
    }

    #[test]
    fn refuses_what_is_not_a_time() {
        for raw in [
            "",
            "yesterday",
            "2026-02-30",
            "2025-02-29",
            "2026-13-01",
            "2026-1-01",
            "2026-12-01T09:00:00",
            "2026-12-01T24:00:00Z",
            "2026-12-01T09:00:00.Z",
            "2026-12-01T09:00:00+0200",
            "2026-12-01T09:00:00Zjunk",
            "2026-12-01 09:00:00Z",
            "+026-12-01",
            "2026-12-01T09:00:00+24:00",
        ] {
            assert_eq!(parse(raw, Bound::Start), None, "{raw}");
        }
    }
}
