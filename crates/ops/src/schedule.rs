//! When jobs run: PVE's calendar events (`mon..fri 20:00`, `*:0/15`, `sat 02:00`, `daily`,
//! `Sat *-1..7 15:00`), which PVE admins know from vzdump, and 5-field cron (`0 */4 * * *`),
//! in an explicit time zone.
//!
//! Local times that a DST change skips run at the end of the gap (02:30 on a spring-forward
//! night runs at 03:30); local times that occur twice run once, at the first. So a daily job
//! runs exactly once every day, whatever the clocks do.

use std::fmt;
use std::str::FromStr;

use jiff::civil::{Date, DateTime};
use jiff::tz::{Disambiguation, TimeZone};
use jiff::{Timestamp, ToSpan};

/// A set of small numbers (minutes, hours, days, months, weekdays), as a bit mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Set(u64);

impl Set {
    fn all(lo: u32, hi: u32) -> Self {
        let mut s = Set(0);
        for v in lo..=hi {
            s.add(v);
        }
        s
    }
    fn add(&mut self, v: u32) {
        self.0 |= 1 << v;
    }
    fn has(self, v: u32) -> bool {
        v < 64 && self.0 & (1 << v) != 0
    }
    fn values(self, lo: u32, hi: u32) -> impl Iterator<Item = u32> {
        (lo..=hi).filter(move |v| self.has(*v))
    }
}

/// A parsed schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    source: String,
    minutes: Set,
    hours: Set,
    /// Days of the month, 1-31.
    days: Set,
    /// 1-12.
    months: Set,
    /// 0 = Sunday .. 6 = Saturday.
    weekdays: Set,
    /// Years, when the schedule names some (`2027-01-01`).
    years: Option<Vec<(i16, i16)>>,
    /// Cron's rule: when both the day of month and the weekday are restricted, either matches.
    either_day: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("schedule '{spec}': {why}")]
pub struct ScheduleError {
    pub spec: String,
    pub why: String,
}

const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
const MONTHS: [&str; 12] =
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];

fn weekday_number(s: &str) -> Option<u32> {
    let s = s.to_ascii_lowercase();
    WEEKDAYS.iter().position(|d| s.starts_with(d) && d.len() <= s.len()).map(|i| i as u32)
}

/// One field of numbers: `*`, `5`, `1,3`, `8..17` (`8-17` in cron), `0/15`, `*/15`, `8..17/2`.
fn field(
    text: &str,
    lo: u32,
    hi: u32,
    range: &str,
    names: &dyn Fn(&str) -> Option<u32>,
) -> Result<Set, String> {
    let mut set = Set(0);
    for part in text.split(',') {
        let (base, step) = match part.split_once('/') {
            Some((b, s)) => {
                let step: u32 = s.parse().map_err(|_| format!("'{s}' is not a step"))?;
                if step == 0 {
                    return Err("a step of 0 never repeats".into());
                }
                (b, Some(step))
            }
            None => (part, None),
        };
        let num = |s: &str| -> Result<u32, String> {
            s.parse::<u32>()
                .ok()
                .or_else(|| names(s))
                .ok_or_else(|| format!("'{s}' is not a number"))
        };
        let (from, to) = if base == "*" {
            (lo, hi)
        } else if let Some((a, b)) = base.split_once(range) {
            (num(a)?, num(b)?)
        } else {
            let v = num(base)?;
            // `0/15`: from 0 up, every 15; a lone value is just itself.
            (v, if step.is_some() { hi } else { v })
        };
        if from < lo || to > hi || from > to {
            return Err(format!("'{base}' is outside {lo}..{hi}"));
        }
        let step = step.unwrap_or(1);
        let mut v = from;
        while v <= to {
            set.add(v);
            v += step;
        }
    }
    if set.0 == 0 {
        return Err(format!("'{text}' selects nothing"));
    }
    Ok(set)
}

fn no_names(_: &str) -> Option<u32> {
    None
}

impl Schedule {
    /// The text it was parsed from.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    fn every_day(source: &str) -> Schedule {
        Schedule {
            source: source.to_string(),
            minutes: Set::all(0, 59),
            hours: Set::all(0, 23),
            days: Set::all(1, 31),
            months: Set::all(1, 12),
            weekdays: Set::all(0, 6),
            years: None,
            either_day: false,
        }
    }

    /// 5-field cron: minute hour day-of-month month day-of-week.
    fn cron(source: &str, f: &[&str]) -> Result<Schedule, String> {
        let month_name =
            |s: &str| MONTHS.iter().position(|m| s.eq_ignore_ascii_case(m)).map(|i| i as u32 + 1);
        let day_name = |s: &str| weekday_number(s);
        let mut weekdays = field(f[4], 0, 7, "-", &day_name)?;
        if weekdays.has(7) {
            weekdays.add(0); // 7 is Sunday too
        }
        weekdays.0 &= Set::all(0, 6).0;
        Ok(Schedule {
            source: source.to_string(),
            minutes: field(f[0], 0, 59, "-", &no_names)?,
            hours: field(f[1], 0, 23, "-", &no_names)?,
            days: field(f[2], 1, 31, "-", &no_names)?,
            months: field(f[3], 1, 12, "-", &month_name)?,
            weekdays,
            years: None,
            either_day: f[2] != "*" && f[4] != "*",
        })
    }

    /// PVE's calendar event: `[WEEKDAYS] [[YEAR-]MONTH-DAY] [[HOUR:]MINUTE]`.
    fn calendar(source: &str) -> Result<Schedule, String> {
        let lower = source.trim().to_ascii_lowercase();
        let alias = match lower.as_str() {
            "minutely" => Some("*:*"),
            "hourly" => Some("*:00"),
            "daily" => Some("00:00"),
            "weekly" => Some("mon 00:00"),
            "monthly" => Some("*-*-01 00:00"),
            "yearly" | "annually" => Some("*-01-01 00:00"),
            "quarterly" => Some("*-01,04,07,10-01 00:00"),
            "semiannually" => Some("*-01,07-01 00:00"),
            _ => None,
        };
        let text = alias.unwrap_or(&lower);
        let mut s = Schedule::every_day(source);
        let mut words: Vec<&str> = text.split_whitespace().collect();
        if words.is_empty() {
            return Err("it is empty".into());
        }
        let mut has_time = false;
        let mut has_date_or_day = false;
        // Weekdays come first, when given: letters.
        if words[0].chars().next().is_some_and(|c| c.is_ascii_alphabetic()) {
            let w = words.remove(0);
            let mut set = Set(0);
            for part in w.split(',') {
                let (a, b) = part.split_once("..").unwrap_or((part, part));
                let (Some(a), Some(b)) = (weekday_number(a), weekday_number(b)) else {
                    return Err(format!("'{part}' is not a weekday (mon, tue, ... or mon..fri)"));
                };
                // `fri..mon` wraps over the weekend.
                let mut d = a;
                loop {
                    set.add(d);
                    if d == b {
                        break;
                    }
                    d = (d + 1) % 7;
                }
            }
            s.weekdays = set;
            has_date_or_day = true;
        }
        for w in words {
            if w.contains(':') || !w.contains('-') {
                if has_time {
                    return Err(format!("'{w}': a second time"));
                }
                has_time = true;
                let parts: Vec<&str> = w.split(':').collect();
                let (h, m) = match parts.as_slice() {
                    [m] => ("*", *m),
                    [h, m] => (*h, *m),
                    [h, m, "0" | "00"] => (*h, *m),
                    _ => return Err(format!("'{w}' is not a time such as 20:00 or *:0/15")),
                };
                s.hours = field(h, 0, 23, "..", &no_names)?;
                s.minutes = field(m, 0, 59, "..", &no_names)?;
            } else {
                has_date_or_day = true;
                let parts: Vec<&str> = w.split('-').collect();
                let (y, mo, d) = match parts.as_slice() {
                    [mo, d] => (None, *mo, *d),
                    [y, mo, d] => (Some(*y), *mo, *d),
                    _ => return Err(format!("'{w}' is not a date such as 2027-01-31 or *-01")),
                };
                // `*-05` is "the 5th of every month": a two-part date whose first part is `*`.
                s.months = field(mo, 1, 12, "..", &no_names)?;
                s.days = field(d, 1, 31, "..", &no_names)?;
                if let Some(y) = y.filter(|y| *y != "*") {
                    let mut years = Vec::new();
                    for part in y.split(',') {
                        let (a, b) = part.split_once("..").unwrap_or((part, part));
                        let (Ok(a), Ok(b)) = (a.parse::<i16>(), b.parse::<i16>()) else {
                            return Err(format!("'{part}' is not a year"));
                        };
                        years.push((a, b));
                    }
                    s.years = Some(years);
                }
            }
        }
        if !has_time {
            if !has_date_or_day {
                return Err("it names no time, day or date".into());
            }
            // A day or date alone means its midnight.
            s.hours = Set(1);
            s.minutes = Set(1);
        }
        Ok(s)
    }

    fn matches_date(&self, d: Date) -> bool {
        let (day, month) = (d.day() as u32, d.month() as u32);
        let weekday = d.weekday().to_sunday_zero_offset() as u32;
        if !self.months.has(month) {
            return false;
        }
        if let Some(years) = &self.years
            && !years.iter().any(|(a, b)| (*a..=*b).contains(&d.year()))
        {
            return false;
        }
        if self.either_day {
            self.days.has(day) || self.weekdays.has(weekday)
        } else {
            self.days.has(day) && self.weekdays.has(weekday)
        }
    }

    /// The first run strictly after `after`, in `tz`; `None` when there is none within ten
    /// years (a date in the past, or the 30th of February).
    pub fn next_after(&self, after: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let start = after.to_zoned(tz.clone()).date();
        let mut day = start;
        for _ in 0..3700 {
            if self.matches_date(day) {
                let mut best: Option<Timestamp> = None;
                for h in self.hours.values(0, 23) {
                    for m in self.minutes.values(0, 59) {
                        let Ok(local) = DateTime::new(
                            day.year(),
                            day.month(),
                            day.day(),
                            h as i8,
                            m as i8,
                            0,
                            0,
                        ) else {
                            continue;
                        };
                        // A skipped local time runs at the end of the gap; a repeated one
                        // at its first occurrence.
                        let Ok(z) =
                            tz.to_ambiguous_zoned(local).disambiguate(Disambiguation::Compatible)
                        else {
                            continue;
                        };
                        let t = z.timestamp();
                        if t > after && best.is_none_or(|b| t < b) {
                            best = Some(t);
                        }
                    }
                }
                if best.is_some() {
                    return best;
                }
            }
            day = day.checked_add(1.day()).ok()?;
        }
        None
    }
}

impl FromStr for Schedule {
    type Err = ScheduleError;

    fn from_str(s: &str) -> Result<Self, ScheduleError> {
        let err = |why: String| ScheduleError { spec: s.to_string(), why };
        let fields: Vec<&str> = s.split_whitespace().collect();
        // Five fields of digits and cron punctuation are cron; anything else a calendar event.
        let cronish = fields.len() == 5
            && fields.iter().all(|f| {
                f.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '*' | ',' | '-' | '/'))
            })
            && !fields.iter().any(|f| f.contains(':'));
        if cronish {
            Schedule::cron(s, &fields).map_err(err)
        } else {
            Schedule::calendar(s).map_err(err)
        }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// A time zone by IANA name (`Europe/Berlin`), or the system's for `None`.
pub fn zone(name: Option<&str>) -> Result<TimeZone, String> {
    match name {
        None => Ok(TimeZone::system()),
        Some(n) => TimeZone::get(n).map_err(|e| format!("time zone '{n}': {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(tz: &str, local: &str) -> Timestamp {
        let dt: DateTime = local.parse().unwrap();
        dt.to_zoned(TimeZone::get(tz).unwrap()).unwrap().timestamp()
    }

    /// The next `n` runs after `from` (local time), shown in local time.
    fn runs(spec: &str, tz: &str, from: &str, n: usize) -> Vec<String> {
        let s: Schedule = spec.parse().unwrap();
        let zone = TimeZone::get(tz).unwrap();
        let mut t = at(tz, from);
        let mut out = Vec::new();
        for _ in 0..n {
            t = s.next_after(t, &zone).unwrap();
            out.push(t.to_zoned(zone.clone()).strftime("%a %Y-%m-%d %H:%M %Z").to_string());
        }
        out
    }

    #[test]
    fn calendar_events_run_when_pve_would() {
        let table: &[(&str, &str, &[&str])] = &[
            (
                "mon..fri 20:00",
                "2026-12-04T21:00",
                &["Mon 2026-12-07 20:00 UTC", "Tue 2026-12-08 20:00 UTC"],
            ),
            (
                "*:0/15",
                "2026-12-02T10:07",
                &["Wed 2026-12-02 10:15 UTC", "Wed 2026-12-02 10:30 UTC"],
            ),
            (
                "sat 02:00",
                "2026-12-02T00:00",
                &["Sat 2026-12-05 02:00 UTC", "Sat 2026-12-12 02:00 UTC"],
            ),
            (
                "daily",
                "2026-12-02T00:00",
                &["Thu 2026-12-03 00:00 UTC", "Fri 2026-12-04 00:00 UTC"],
            ),
            (
                "hourly",
                "2026-12-02T10:00",
                &["Wed 2026-12-02 11:00 UTC", "Wed 2026-12-02 12:00 UTC"],
            ),
            ("*/5", "2026-12-02T10:07", &["Wed 2026-12-02 10:10 UTC", "Wed 2026-12-02 10:15 UTC"]),
            ("12:05", "2026-12-02T12:05", &["Thu 2026-12-03 12:05 UTC"]),
            (
                "mon..wed 30/10",
                "2026-12-06T00:00",
                &[
                    "Mon 2026-12-07 00:30 UTC",
                    "Mon 2026-12-07 00:40 UTC",
                    "Mon 2026-12-07 00:50 UTC",
                    "Mon 2026-12-07 01:30 UTC",
                ],
            ),
            (
                "fri 12..13:5/20",
                "2026-12-02T00:00",
                &[
                    "Fri 2026-12-04 12:05 UTC",
                    "Fri 2026-12-04 12:25 UTC",
                    "Fri 2026-12-04 12:45 UTC",
                    "Fri 2026-12-04 13:05 UTC",
                ],
            ),
            ("*-05", "2026-12-02T00:00", &["Sat 2026-12-05 00:00 UTC", "Tue 2027-01-05 00:00 UTC"]),
            (
                "sat *-1..7 15:00",
                "2026-12-02T00:00",
                &["Sat 2026-12-05 15:00 UTC", "Sat 2027-01-02 15:00 UTC"],
            ),
            (
                "fri..mon 06:00",
                "2026-12-02T00:00",
                &[
                    "Fri 2026-12-04 06:00 UTC",
                    "Sat 2026-12-05 06:00 UTC",
                    "Sun 2026-12-06 06:00 UTC",
                    "Mon 2026-12-07 06:00 UTC",
                    "Fri 2026-12-11 06:00 UTC",
                ],
            ),
            ("2027-03-01 08:00", "2026-12-02T00:00", &["Mon 2027-03-01 08:00 UTC"]),
            (
                "monthly",
                "2026-12-15T00:00",
                &["Fri 2027-01-01 00:00 UTC", "Mon 2027-02-01 00:00 UTC"],
            ),
            (
                "quarterly",
                "2026-12-15T00:00",
                &["Fri 2027-01-01 00:00 UTC", "Thu 2027-04-01 00:00 UTC"],
            ),
        ];
        for (spec, from, want) in table {
            assert_eq!(runs(spec, "UTC", from, want.len()), *want, "{spec} from {from}");
        }
    }

    #[test]
    fn cron_runs_with_its_own_rules() {
        let table: &[(&str, &str, &[&str])] = &[
            (
                "0 */4 * * *",
                "2026-12-02T05:00",
                &["Wed 2026-12-02 08:00 UTC", "Wed 2026-12-02 12:00 UTC"],
            ),
            ("30 2 * * 1-5", "2026-12-04T03:00", &["Mon 2026-12-07 02:30 UTC"]),
            ("0 0 1 jan *", "2026-12-02T00:00", &["Fri 2027-01-01 00:00 UTC"]),
            ("0 20 * * sun", "2026-12-02T00:00", &["Sun 2026-12-06 20:00 UTC"]),
            ("0 20 * * 7", "2026-12-02T00:00", &["Sun 2026-12-06 20:00 UTC"]),
            // Both day fields restricted: either one (cron's rule).
            (
                "0 0 13 * fri",
                "2026-12-02T00:00",
                &[
                    "Fri 2026-12-04 00:00 UTC",
                    "Fri 2026-12-11 00:00 UTC",
                    "Sun 2026-12-13 00:00 UTC",
                ],
            ),
        ];
        for (spec, from, want) in table {
            assert_eq!(runs(spec, "UTC", from, want.len()), *want, "{spec} from {from}");
        }
    }

    #[test]
    fn month_ends_and_leap_days_are_kept() {
        assert_eq!(
            runs("*-31 12:00", "UTC", "2027-01-31T13:00", 3),
            ["Wed 2027-03-31 12:00 UTC", "Mon 2027-05-31 12:00 UTC", "Sat 2027-07-31 12:00 UTC"],
            "months without a 31st are skipped"
        );
        assert_eq!(
            runs("*-02-29 00:00", "UTC", "2026-12-02T00:00", 1),
            ["Tue 2028-02-29 00:00 UTC"]
        );
        let never: Schedule = "*-02-30 00:00".parse().unwrap();
        assert_eq!(never.next_after(at("UTC", "2026-12-02T00:00"), &TimeZone::UTC), None);
        let past: Schedule = "2020-01-01".parse().unwrap();
        assert_eq!(past.next_after(at("UTC", "2026-12-02T00:00"), &TimeZone::UTC), None);
    }

    #[test]
    fn dst_changes_neither_skip_nor_repeat_a_daily_run() {
        // Europe/Berlin springs forward on 2027-03-28 (02:00 -> 03:00) and falls back on
        // 2027-10-31 (03:00 -> 02:00).
        assert_eq!(
            runs("02:30", "Europe/Berlin", "2027-03-27T12:00", 3),
            ["Sun 2027-03-28 03:30 CEST", "Mon 2027-03-29 02:30 CEST", "Tue 2027-03-30 02:30 CEST"],
            "a skipped 02:30 runs at the end of the gap"
        );
        assert_eq!(
            runs("02:30", "Europe/Berlin", "2027-10-30T12:00", 3),
            ["Sun 2027-10-31 02:30 CEST", "Mon 2027-11-01 02:30 CET", "Tue 2027-11-02 02:30 CET"],
            "a repeated 02:30 runs once, at the first"
        );
        // Every hour on the spring-forward night: the 02:00 slot lands on 03:00, once.
        assert_eq!(
            runs("hourly", "Europe/Berlin", "2027-03-28T00:30", 3),
            ["Sun 2027-03-28 01:00 CET", "Sun 2027-03-28 03:00 CEST", "Sun 2027-03-28 04:00 CEST"]
        );
    }

    #[test]
    fn bad_schedules_say_what_is_wrong() {
        for (spec, why) in [
            ("", "empty"),
            ("25:00", "outside 0..23"),
            ("*:0/0", "step of 0"),
            ("noday 10:00", "not a weekday"),
            ("mon 10:00 11:00", "a second time"),
            ("61 * * * *", "outside 0..59"),
            ("2027-13-01", "outside 1..12"),
        ] {
            let e = spec.parse::<Schedule>().unwrap_err();
            assert!(e.to_string().contains(why), "{spec}: {e}");
        }
    }
}
