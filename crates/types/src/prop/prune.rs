//! `prune-backups`: PVE's retention property string
//! (`keep-all=<0|1>,keep-last=N,keep-hourly=N,...`).

use super::{Extra, Fields, PropError, Writer, invalid, prop_string_impls};

/// Retention options, in the order PVE applies them. `None` and `Some(0)` both mean "not set".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneBackups {
    pub keep_all: Option<bool>,
    pub keep_last: Option<u32>,
    pub keep_hourly: Option<u32>,
    pub keep_daily: Option<u32>,
    pub keep_weekly: Option<u32>,
    pub keep_monthly: Option<u32>,
    pub keep_yearly: Option<u32>,
    pub extra: Extra,
}

impl PruneBackups {
    /// The count-based options as `(key, n)`, in application order.
    pub fn counts(&self) -> [(&'static str, u32); 6] {
        [
            ("keep-last", self.keep_last.unwrap_or(0)),
            ("keep-hourly", self.keep_hourly.unwrap_or(0)),
            ("keep-daily", self.keep_daily.unwrap_or(0)),
            ("keep-weekly", self.keep_weekly.unwrap_or(0)),
            ("keep-monthly", self.keep_monthly.unwrap_or(0)),
            ("keep-yearly", self.keep_yearly.unwrap_or(0)),
        ]
    }

    /// PVE keeps everything when `keep-all=1` or when no count is positive.
    pub fn keeps_all(&self) -> bool {
        self.keep_all == Some(true) || self.counts().iter().all(|(_, n)| *n == 0)
    }

    fn parse_str(s: &str) -> Result<Self, PropError> {
        let mut f = Fields::parse(s, None)?;
        let p = Self {
            keep_all: f.take_bool("keep-all")?,
            keep_last: f.take_parse("keep-last")?,
            keep_hourly: f.take_parse("keep-hourly")?,
            keep_daily: f.take_parse("keep-daily")?,
            keep_weekly: f.take_parse("keep-weekly")?,
            keep_monthly: f.take_parse("keep-monthly")?,
            keep_yearly: f.take_parse("keep-yearly")?,
            extra: f.rest(),
        };
        if p.keep_all == Some(true) && p.counts().iter().any(|(_, n)| *n > 0) {
            return Err(invalid(
                "keep-all",
                "1",
                "keep-all cannot be set together with other options.",
            ));
        }
        Ok(p)
    }

    fn write_to(&self, w: &mut Writer) {
        w.opt_bool("keep-all", self.keep_all)
            .opt("keep-last", &self.keep_last)
            .opt("keep-hourly", &self.keep_hourly)
            .opt("keep-daily", &self.keep_daily)
            .opt("keep-weekly", &self.keep_weekly)
            .opt("keep-monthly", &self.keep_monthly)
            .opt("keep-yearly", &self.keep_yearly)
            .extra(&self.extra);
    }
}
prop_string_impls!(PruneBackups);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prune_backups_round_trips_and_reads_counts_in_pve_order() {
        let s = "keep-last=3,keep-daily=13,keep-yearly=9";
        let p: PruneBackups = s.parse().unwrap();
        assert_eq!(p.keep_last, Some(3));
        assert_eq!(p.keep_daily, Some(13));
        assert_eq!(p.to_string(), s);
        assert_eq!(p.counts().map(|(k, _)| k)[1], "keep-hourly");
        assert!(!p.keeps_all());
    }

    #[test]
    fn keep_all_with_a_count_is_rejected_like_pve_and_empty_means_keep_all() {
        let e = "keep-all=1,keep-last=2".parse::<PruneBackups>().unwrap_err();
        assert!(e.to_string().contains("keep-all cannot be set together"), "{e}");
        assert!("".parse::<PruneBackups>().unwrap().keeps_all());
        assert!("keep-last=0".parse::<PruneBackups>().unwrap().keeps_all());
        assert!("keep-last=x".parse::<PruneBackups>().is_err());
    }
}
