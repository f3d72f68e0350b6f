//! Backup retention as PVE decides it (`prune-backups`): which of one guest's backups to keep,
//! as a pure function, shared by proxctl's prune (which plans before it deletes) and the
//! simulator's `prunebackups` (which answers as PVE would).

use std::collections::HashSet;

use jiff::tz::TimeZone;
use serde::Serialize;

use crate::prop::PruneBackups;

/// What retention decided for one backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mark {
    Keep,
    Remove,
    Protected,
}

/// A backup's creation time and protection: all prune needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PruneInput {
    pub ctime: i64,
    pub protected: bool,
}

/// PVE's prune algorithm for one guest's backups (PVE::Storage::prune_mark_backup_group):
/// protected backups are set aside; the rest, newest first, go through keep-last, -hourly,
/// -daily, -weekly (ISO week), -monthly and -yearly in turn. Each rule keeps the newest backup
/// of each of the next N time buckets that earlier rules did not already cover, and marks
/// other backups in buckets it covers for removal. Whatever no rule kept is removed.
/// Buckets are reckoned in `tz`, the node's local time zone, as PVE does (`localtime`).
/// Returns one mark per input, in input order.
pub fn prune_marks(backups: &[PruneInput], opts: &PruneBackups, tz: &TimeZone) -> Vec<Mark> {
    let mut marks: Vec<Option<Mark>> =
        backups.iter().map(|b| b.protected.then_some(Mark::Protected)).collect();
    if opts.keeps_all() {
        return marks.into_iter().map(|m| m.unwrap_or(Mark::Keep)).collect();
    }
    let mut order: Vec<usize> = (0..backups.len()).filter(|i| !backups[*i].protected).collect();
    order.sort_by_key(|i| std::cmp::Reverse(backups[*i].ctime));
    for (rule, keep) in opts.counts() {
        if keep == 0 {
            continue;
        }
        let id = |i: usize| bucket(rule, backups[i].ctime, tz);
        let already: HashSet<String> =
            order.iter().filter(|i| marks[**i] == Some(Mark::Keep)).map(|i| id(*i)).collect();
        let mut newly: HashSet<String> = HashSet::new();
        for &i in &order {
            let b = id(i);
            if marks[i].is_some() || already.contains(&b) {
                continue;
            }
            if newly.contains(&b) {
                marks[i] = Some(Mark::Remove);
            } else {
                if newly.len() >= keep as usize {
                    break;
                }
                newly.insert(b);
                marks[i] = Some(Mark::Keep);
            }
        }
    }
    marks.into_iter().map(|m| m.unwrap_or(Mark::Remove)).collect()
}

/// The time bucket `rule` puts a backup taken at `ctime` into.
fn bucket(rule: &str, ctime: i64, tz: &TimeZone) -> String {
    let Ok(t) = jiff::Timestamp::from_second(ctime) else { return ctime.to_string() };
    let d = t.to_zoned(tz.clone());
    match rule {
        "keep-hourly" => format!("{}/{}/{}/{}", d.year(), d.month(), d.day(), d.hour()),
        "keep-daily" => format!("{}/{}/{}", d.year(), d.month(), d.day()),
        "keep-weekly" => {
            let w = d.date().iso_week_date();
            format!("{}/{}", w.year(), w.week())
        }
        "keep-monthly" => format!("{}/{}", d.year(), d.month()),
        "keep-yearly" => d.year().to_string(),
        // keep-last: every backup is its own bucket.
        _ => ctime.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn at(s: &str) -> i64 {
        s.parse::<jiff::Timestamp>().map(|t| t.as_second()).unwrap()
    }

    fn marks(opts: &str, backups: &[(&str, bool)]) -> Vec<Mark> {
        let input: Vec<PruneInput> =
            backups.iter().map(|(t, p)| PruneInput { ctime: at(t), protected: *p }).collect();
        prune_marks(&input, &opts.parse().unwrap(), &TimeZone::UTC)
    }

    use Mark::{Keep as K, Protected as P, Remove as R};

    /// Why, the prune options, (creation time, protected) per backup, and the expected marks.
    type Case<'a> = (&'a str, &'a str, &'a [(&'a str, bool)], &'a [Mark]);

    /// Each case is one sentence of PVE's documented prune rules.
    #[test]
    fn prune_marks_follow_pve_rules_case_by_case() {
        let cases: &[Case] = &[
            (
                "keep-last keeps the newest N, whatever their order in the listing",
                "keep-last=2",
                &[
                    ("2025-01-01T10:00:00Z", false),
                    ("2025-01-03T10:00:00Z", false),
                    ("2025-01-02T10:00:00Z", false),
                ],
                &[R, K, K],
            ),
            (
                "more than one backup in a day: only the latest of that day is kept",
                "keep-daily=2",
                &[
                    ("2025-01-03T08:00:00Z", false),
                    ("2025-01-02T12:00:00Z", false),
                    ("2025-01-02T09:00:00Z", false),
                    ("2025-01-01T10:00:00Z", false),
                ],
                &[K, K, R, R],
            ),
            (
                "a later option does not count buckets an earlier one covered; it reaches older",
                "keep-last=1,keep-daily=2",
                &[
                    ("2025-01-03T08:00:00Z", false),
                    ("2025-01-03T07:00:00Z", false),
                    ("2025-01-02T10:00:00Z", false),
                    ("2025-01-01T10:00:00Z", false),
                ],
                &[K, R, K, K],
            ),
            (
                "weeks are ISO weeks: 2024-12-30 and 2025-01-02 share week 2025-W01",
                "keep-weekly=5",
                &[("2025-01-02T10:00:00Z", false), ("2024-12-30T10:00:00Z", false)],
                &[K, R],
            ),
            (
                "periods without backups do not count",
                "keep-monthly=2",
                &[
                    ("2025-06-01T00:00:00Z", false),
                    ("2025-01-15T00:00:00Z", false),
                    ("2024-11-15T00:00:00Z", false),
                ],
                &[K, K, R],
            ),
            (
                "protected backups are never removed and do not use up a slot",
                "keep-last=1",
                &[
                    ("2025-01-03T10:00:00Z", true),
                    ("2025-01-02T10:00:00Z", false),
                    ("2025-01-01T10:00:00Z", false),
                ],
                &[P, K, R],
            ),
            (
                "hourly then yearly: each keeps its own buckets",
                "keep-hourly=1,keep-yearly=2",
                &[
                    ("2025-03-01T10:30:00Z", false),
                    ("2025-03-01T10:10:00Z", false),
                    ("2025-02-01T00:00:00Z", false),
                    ("2024-05-01T00:00:00Z", false),
                    ("2023-05-01T00:00:00Z", false),
                ],
                &[K, R, R, K, K],
            ),
            (
                "no positive option keeps everything",
                "keep-last=0",
                &[("2025-01-01T10:00:00Z", false), ("2024-01-01T10:00:00Z", false)],
                &[K, K],
            ),
            (
                "keep-all keeps everything",
                "keep-all=1",
                &[("2025-01-01T10:00:00Z", false), ("2024-01-01T10:00:00Z", true)],
                &[K, P],
            ),
        ];
        for (why, opts, backups, want) in cases {
            assert_eq!(marks(opts, backups), *want, "{why} ({opts})");
        }
    }

    #[test]
    fn buckets_follow_the_nodes_local_day_not_utcs() {
        // 22:30 and 23:30 UTC are one UTC day, but 23:30 and 00:30 on a node at UTC+1.
        let input: Vec<PruneInput> =
            ["2026-03-09T12:00:00Z", "2026-03-10T22:30:00Z", "2026-03-10T23:30:00Z"]
                .iter()
                .map(|t| PruneInput { ctime: at(t), protected: false })
                .collect();
        let opts = "keep-daily=2".parse().unwrap();
        assert_eq!(prune_marks(&input, &opts, &TimeZone::UTC), [K, R, K]);
        let plus_one = TimeZone::fixed(jiff::tz::Offset::from_hours(1).unwrap());
        assert_eq!(prune_marks(&input, &opts, &plus_one), [R, K, K]);
    }
}
