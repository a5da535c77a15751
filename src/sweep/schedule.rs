//! Five-field cron expressions (minute hour day-of-month month day-of-week, UTC) for scheduled
//! sweeps: `*`, `a`, `a-b`, `*/n`, `a-b/n` and comma lists; day-of-week 0–7 with 0 and 7 Sunday.
//! As in cron, when both day fields are restricted a day matching either one is taken.

use chrono::{DateTime, Datelike, Duration, Timelike, Utc};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    minutes: u64,
    hours: u64,
    dom: u64,
    months: u64,
    dow: u64,
    dom_any: bool,
    dow_any: bool,
}

impl std::str::FromStr for Schedule {
    type Err = String;

    fn from_str(s: &str) -> Result<Schedule, String> {
        let f: Vec<&str> = s.split_whitespace().collect();
        if f.len() != 5 {
            return Err(format!(
                "cron expression {s:?}: expected 5 fields (minute hour day month weekday), found {}",
                f.len()
            ));
        }
        let field = |i: usize, lo: u32, hi: u32, name: &str| {
            parse_field(f[i], lo, hi)
                .map_err(|e| format!("cron expression {s:?}: {name} field {:?}: {e}", f[i]))
        };
        let mut dow = field(4, 0, 7, "weekday")?;
        if dow & (1 << 7) != 0 {
            dow |= 1;
        }
        Ok(Schedule {
            minutes: field(0, 0, 59, "minute")?,
            hours: field(1, 0, 23, "hour")?,
            dom: field(2, 1, 31, "day")?,
            months: field(3, 1, 12, "month")?,
            dow,
            dom_any: f[2] == "*",
            dow_any: f[4] == "*",
        })
    }
}

fn parse_field(s: &str, lo: u32, hi: u32) -> Result<u64, String> {
    let mut bits = 0u64;
    for part in s.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, st)) => (
                r,
                st.parse::<u32>()
                    .map_err(|_| format!("step {st:?} is not a number"))?,
            ),
            None => (part, 1),
        };
        if step == 0 {
            return Err("step 0".into());
        }
        let (a, b) = if range == "*" {
            (lo, hi)
        } else if let Some((a, b)) = range.split_once('-') {
            (num(a)?, num(b)?)
        } else {
            let a = num(range)?;
            (a, if part.contains('/') { hi } else { a })
        };
        if a < lo || b > hi || a > b {
            return Err(format!("{part:?} is outside {lo}-{hi}"));
        }
        let mut v = a;
        while v <= b {
            bits |= 1 << v;
            v += step;
        }
    }
    Ok(bits)
}

fn num(s: &str) -> Result<u32, String> {
    s.parse().map_err(|_| format!("{s:?} is not a number"))
}

impl Schedule {
    fn day_matches(&self, t: &DateTime<Utc>) -> bool {
        let dom = self.dom & (1 << t.day()) != 0;
        let dow = self.dow & (1 << t.weekday().num_days_from_sunday()) != 0;
        match (self.dom_any, self.dow_any) {
            (true, true) => true,
            (false, true) => dom,
            (true, false) => dow,
            (false, false) => dom || dow,
        }
    }

    /// The first whole minute strictly after `t` that matches, within about four years (an
    /// expression such as `0 0 30 2 *` never matches and gives `None`).
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut c = t.with_second(0)?.with_nanosecond(0)? + Duration::minutes(1);
        let end = t + Duration::days(4 * 366);
        while c <= end {
            if self.months & (1 << c.month()) == 0 || !self.day_matches(&c) {
                c = (c + Duration::days(1)).with_hour(0)?.with_minute(0)?;
                continue;
            }
            if self.hours & (1 << c.hour()) == 0 {
                c = (c + Duration::hours(1)).with_minute(0)?;
                continue;
            }
            if self.minutes & (1 << c.minute()) != 0 {
                return Some(c);
            }
            c += Duration::minutes(1);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn next_times() {
        let t = Utc.with_ymd_and_hms(2026, 11, 28, 17, 59, 30).unwrap();
        let s: Schedule = "*/15 * * * *".parse().unwrap();
        assert_eq!(
            s.next_after(t),
            Some(Utc.with_ymd_and_hms(2026, 11, 28, 18, 0, 0).unwrap())
        );
        let s: Schedule = "30 3 * * 1".parse().unwrap(); // Mondays 03:30; 2026-11-30 is a Monday
        assert_eq!(
            s.next_after(t),
            Some(Utc.with_ymd_and_hms(2026, 11, 30, 3, 30, 0).unwrap())
        );
        let s: Schedule = "0 0 1 1 *".parse().unwrap();
        assert_eq!(
            s.next_after(t),
            Some(Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap())
        );
        assert_eq!("0 0 30 2 *".parse::<Schedule>().unwrap().next_after(t), None);
    }

    #[test]
    fn bad_expressions_name_the_field() {
        let e = "61 * * * *".parse::<Schedule>().unwrap_err();
        assert!(e.contains("minute"), "{e}");
        assert!("* * *".parse::<Schedule>().unwrap_err().contains("5 fields"));
        assert!("*/0 * * * *".parse::<Schedule>().is_err());
    }
}
