//! When a cron schedule fires: a pattern (croner's syntax, seconds optional) read on the wall
//! clock of a named time zone (the IANA database of chrono-tz).
//!
//! The pattern is matched against wall-clock times in order; each time becomes an instant in
//! the zone: a time that does not exist (the hour skipped when clocks go forward) does not
//! fire, and a time that happens twice (the hour repeated when clocks go back) fires once, at
//! its first occurrence. Firings are strictly increasing instants.

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use std::str::FromStr;

/// How many wall-clock matches are looked at for one next firing before the pattern is taken
/// never to fire again (a repeated hour of a once-a-second pattern skips 3600).
const MAX_CANDIDATES: usize = 100_000;

/// Why a schedule cannot be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScheduleError {
    /// The cron pattern is not valid.
    #[error("`{pattern}` is not a cron pattern: {reason}")]
    Pattern {
        /// The pattern as written.
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The time zone is not one of the IANA database.
    #[error("`{0}` is not a time zone name (write one such as `Europe/London` or `UTC`)")]
    Zone(String),
}

/// A cron pattern on the wall clock of a time zone.
#[derive(Clone, Debug)]
pub struct Calendar {
    cron: Cron,
    zone: Tz,
}

impl Calendar {
    /// Reads `pattern` (5 fields, or 6 with seconds first; names such as `MON` and `JAN`;
    /// `@daily` and the like) in `zone` (`UTC` when `None`).
    pub fn new(pattern: &str, zone: Option<&str>) -> Result<Self, ScheduleError> {
        let cron = Cron::from_str(pattern)
            .map_err(|e| ScheduleError::Pattern { pattern: pattern.to_string(), reason: e.to_string() })?;
        let zone = match zone {
            None => Tz::UTC,
            Some(name) => name.parse::<Tz>().map_err(|_| ScheduleError::Zone(name.to_string()))?,
        };
        Ok(Calendar { cron, zone })
    }

    /// The first firing strictly after `after_ms` (milliseconds since the Unix epoch), or
    /// `None` if the pattern never matches again.
    pub fn next_after(&self, after_ms: u64) -> Option<u64> {
        let after = Utc.timestamp_millis_opt(i64::try_from(after_ms).ok()?).single()?;
        let wall = after.with_timezone(&self.zone).naive_local();
        // Wall-clock times are walked as if they were UTC, which has no clock changes.
        let mut candidate = wall.and_utc();
        for _ in 0..MAX_CANDIDATES {
            candidate = self.cron.find_next_occurrence(&candidate, false).ok()?;
            match self.instant(candidate.naive_utc()) {
                Some(instant) if instant > after => return u64::try_from(instant.timestamp_millis()).ok(),
                _ => {} // skipped hour, or the second pass of a repeated one
            }
        }
        None
    }

    /// The instant a wall-clock time is in the zone: `None` for a time the clocks skip, the
    /// first occurrence of a time they repeat.
    fn instant(&self, wall: NaiveDateTime) -> Option<DateTime<Utc>> {
        match self.zone.from_local_datetime(&wall) {
            LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
            LocalResult::Ambiguous(first, _) => Some(first.with_timezone(&Utc)),
            LocalResult::None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(utc: &str) -> u64 {
        DateTime::parse_from_rfc3339(utc).unwrap().timestamp_millis() as u64
    }

    fn utc(ms: u64) -> String {
        Utc.timestamp_millis_opt(ms as i64).unwrap().format("%Y-%m-%dT%H:%M:%SZ").to_string()
    }

    fn firings(calendar: &Calendar, from: &str, count: usize) -> Vec<String> {
        let mut at = ms(from);
        (0..count)
            .map(|_| {
                at = calendar.next_after(at).unwrap();
                utc(at)
            })
            .collect()
    }

    #[test]
    fn weekdays_at_nine_in_london_follow_summer_time() {
        let calendar = Calendar::new("0 9 * * 1-5", Some("Europe/London")).unwrap();
        // Friday 27 March 2026 in GMT; Monday 30 March in BST (clocks went forward on the 29th).
        assert_eq!(firings(&calendar, "2026-03-27T00:00:00Z", 2), ["2026-03-27T09:00:00Z", "2026-03-30T08:00:00Z"]);
    }

    #[test]
    fn a_time_in_the_skipped_hour_does_not_fire_that_day() {
        // 29 March 2026, London: 01:00 GMT becomes 02:00 BST; 01:30 does not happen.
        let calendar = Calendar::new("30 1 * * *", Some("Europe/London")).unwrap();
        assert_eq!(
            firings(&calendar, "2026-03-28T00:00:00Z", 3),
            ["2026-03-28T01:30:00Z", "2026-03-30T00:30:00Z", "2026-03-31T00:30:00Z"]
        );
        // A pattern every 20 minutes resumes after the gap.
        let calendar = Calendar::new("*/20 * * * *", Some("Europe/London")).unwrap();
        assert_eq!(
            firings(&calendar, "2026-03-29T00:30:00Z", 3),
            ["2026-03-29T00:40:00Z", "2026-03-29T01:00:00Z", "2026-03-29T01:20:00Z"]
        );
    }

    #[test]
    fn a_time_in_the_repeated_hour_fires_once() {
        // 25 October 2026, London: 02:00 BST becomes 01:00 GMT; 01:30 happens twice.
        let calendar = Calendar::new("30 1 * * *", Some("Europe/London")).unwrap();
        assert_eq!(
            firings(&calendar, "2026-10-24T12:00:00Z", 2),
            ["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"],
            "01:30 BST, not again at 01:30 GMT"
        );
        // Every 30 minutes: 01:00 and 01:30 BST, then not the repeated 01:00 and 01:30 GMT.
        let calendar = Calendar::new("*/30 * * * *", Some("Europe/London")).unwrap();
        assert_eq!(
            firings(&calendar, "2026-10-24T23:45:00Z", 3),
            ["2026-10-25T00:00:00Z", "2026-10-25T00:30:00Z", "2026-10-25T02:00:00Z"]
        );
        // Looking from inside the second pass finds the next new wall-clock time.
        assert_eq!(firings(&calendar, "2026-10-25T01:10:00Z", 1), ["2026-10-25T02:00:00Z"]);
    }

    #[test]
    fn seconds_are_optional_and_utc_is_the_default() {
        let calendar = Calendar::new("*/15 * * * * *", None).unwrap();
        assert_eq!(firings(&calendar, "2026-01-01T00:00:00Z", 2), ["2026-01-01T00:00:15Z", "2026-01-01T00:00:30Z"]);
        let calendar = Calendar::new("@daily", None).unwrap();
        assert_eq!(firings(&calendar, "2026-01-01T00:00:00Z", 1), ["2026-01-02T00:00:00Z"]);
        assert_eq!(calendar.next_after(ms("2026-01-01T23:59:59.500Z")), Some(ms("2026-01-02T00:00:00Z")));
    }

    #[test]
    fn bad_patterns_and_zones_are_refused_with_what_is_wrong() {
        assert!(matches!(Calendar::new("61 * * * *", None), Err(ScheduleError::Pattern { .. })));
        assert!(matches!(Calendar::new("every day", None), Err(ScheduleError::Pattern { .. })));
        assert_eq!(
            Calendar::new("0 9 * * *", Some("Europe/Londres")).unwrap_err(),
            ScheduleError::Zone("Europe/Londres".into())
        );
    }

    #[test]
    fn a_date_that_never_comes_never_fires() {
        let calendar = Calendar::new("0 0 30 2 *", None);
        // croner may refuse it outright or find no firing; either way nothing is due.
        if let Ok(calendar) = calendar {
            assert_eq!(calendar.next_after(ms("2026-01-01T00:00:00Z")), None);
        }
    }
}
