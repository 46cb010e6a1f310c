//! Schedules (reference §2.11): not cron, but the original's fields. A
//! project may be due once per "marker" (UTC midnight + 1 s + h hours + m
//! minutes, for each listed hour and minute of today); the latest marker
//! already passed is the one that counts. Saturday and Sunday use the
//! weekend fields (the original used the weekday fields on Saturdays).

use chrono::{DateTime, Datelike, Duration, NaiveTime, Utc, Weekday};

/// A project's schedule fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schedule {
    pub enabled: bool,
    /// Monday first.
    pub days: [bool; 7],
    pub weekday_start_hours: String,
    pub weekday_start_minutes: String,
    pub weekend_start_hours: String,
    pub weekend_start_minutes: String,
    /// Minutes; 0 (or less) counts as 1.
    pub threshold_minutes: i64,
}

/// A comma list of integers and inclusive `a-b` ranges, each within
/// `0..=max`, read as saving a project validates it. Anything malformed
/// makes the whole list empty, as in the original: no schedule.
pub fn parse_list(text: &str, max: u32) -> Vec<u32> {
    crate::db::projects::parse_schedule_list(text, max).unwrap_or_default()
}

/// Why a schedule does or does not queue a build now, for the messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Queue a build for this marker.
    Due(DateTime<Utc>),
    NotEnabled,
    Busy,
    DayOff,
    NoTimes,
    NoMarkerYet,
    AlreadyBuilt,
    TooSoon,
}

impl Schedule {
    fn uses_weekend_fields(day: Weekday) -> bool {
        matches!(day, Weekday::Sat | Weekday::Sun)
    }

    /// Today's markers that have already passed, latest last.
    pub fn passed_markers(&self, now: DateTime<Utc>) -> Vec<DateTime<Utc>> {
        let weekend = Self::uses_weekend_fields(now.weekday());
        let (hours, minutes) = if weekend {
            (&self.weekend_start_hours, &self.weekend_start_minutes)
        } else {
            (&self.weekday_start_hours, &self.weekday_start_minutes)
        };
        let hours = parse_list(hours, 24);
        let minutes = parse_list(minutes, 60);
        let midnight = now.date_naive().and_time(NaiveTime::MIN).and_utc();
        let mut markers: Vec<DateTime<Utc>> = hours
            .iter()
            .flat_map(|&h| {
                minutes.iter().map(move |&m| {
                    midnight
                        + Duration::seconds(1)
                        + Duration::hours(i64::from(h))
                        + Duration::minutes(i64::from(m))
                })
            })
            .filter(|m| *m < now)
            .collect();
        markers.sort();
        markers
    }

    /// Whether to queue a build now. `busy`: the project has an active or a
    /// queued build; `last_queued`: when its latest build was queued.
    pub fn verdict(
        &self,
        now: DateTime<Utc>,
        busy: bool,
        last_queued: Option<DateTime<Utc>>,
    ) -> Verdict {
        if !self.enabled {
            return Verdict::NotEnabled;
        }
        if busy {
            return Verdict::Busy;
        }
        if !self.days[now.weekday().num_days_from_monday() as usize] {
            return Verdict::DayOff;
        }
        let weekend = Self::uses_weekend_fields(now.weekday());
        let (h, m) = if weekend {
            (&self.weekend_start_hours, &self.weekend_start_minutes)
        } else {
            (&self.weekday_start_hours, &self.weekday_start_minutes)
        };
        if parse_list(h, 24).is_empty() || parse_list(m, 60).is_empty() {
            return Verdict::NoTimes;
        }
        let Some(marker) = self.passed_markers(now).pop() else {
            return Verdict::NoMarkerYet;
        };
        if let Some(q) = last_queued {
            if q >= marker {
                return Verdict::AlreadyBuilt;
            }
            let threshold = Duration::minutes(self.threshold_minutes.max(1));
            if now - q < threshold {
                return Verdict::TooSoon;
            }
        }
        Verdict::Due(marker)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    fn weekdays_16_and_19() -> Schedule {
        Schedule {
            enabled: true,
            days: [true, true, true, true, true, false, false],
            weekday_start_hours: "16, 19".into(),
            weekday_start_minutes: "0".into(),
            weekend_start_hours: "10".into(),
            weekend_start_minutes: "30".into(),
            threshold_minutes: 10,
        }
    }

    #[test]
    fn lists_and_ranges() {
        assert_eq!(parse_list("1,3-5, 9", 24), [1, 3, 4, 5, 9]);
        assert_eq!(parse_list("0-60", 60).len(), 61);
        assert!(parse_list("", 24).is_empty());
        assert!(parse_list("5-3", 24).is_empty());
        assert!(parse_list("1,25", 24).is_empty());
        assert!(parse_list("1,x", 24).is_empty());
    }

    #[test]
    fn the_latest_passed_marker_counts_once() {
        let s = weekdays_16_and_19();
        // Monday 2026-11-23.
        assert_eq!(
            s.verdict(at(2026, 11, 23, 15, 0), false, None),
            Verdict::NoMarkerYet
        );
        let marker = at(2026, 11, 23, 16, 0) + Duration::seconds(1);
        assert_eq!(
            s.verdict(at(2026, 11, 23, 17, 0), false, None),
            Verdict::Due(marker)
        );
        // Already queued after the marker: nothing more until 19:00.
        let queued = at(2026, 11, 23, 16, 5);
        assert_eq!(
            s.verdict(at(2026, 11, 23, 18, 0), false, Some(queued)),
            Verdict::AlreadyBuilt
        );
        let marker19 = at(2026, 11, 23, 19, 0) + Duration::seconds(1);
        assert_eq!(
            s.verdict(at(2026, 11, 23, 19, 30), false, Some(queued)),
            Verdict::Due(marker19)
        );
        // A build queued just before the marker is too recent.
        assert_eq!(
            s.verdict(
                at(2026, 11, 23, 19, 2),
                false,
                Some(at(2026, 11, 23, 18, 58))
            ),
            Verdict::TooSoon
        );
        assert_eq!(
            s.verdict(at(2026, 11, 23, 19, 30), true, None),
            Verdict::Busy
        );
    }

    #[test]
    fn saturday_uses_the_weekend_fields() {
        let mut s = weekdays_16_and_19();
        s.days = [true; 7];
        // Saturday 2026-11-28: weekend fields (10:30), not 16:00.
        let marker = at(2026, 11, 28, 10, 30) + Duration::seconds(1);
        assert_eq!(
            s.verdict(at(2026, 11, 28, 11, 0), false, None),
            Verdict::Due(marker)
        );
        assert_eq!(
            s.verdict(at(2026, 11, 28, 10, 0), false, None),
            Verdict::NoMarkerYet
        );
        // Sunday too.
        let sunday = at(2026, 11, 29, 10, 30) + Duration::seconds(1);
        assert_eq!(
            s.verdict(at(2026, 11, 29, 12, 0), false, None),
            Verdict::Due(sunday)
        );
        // Days switched off.
        s.days[5] = false;
        assert_eq!(
            s.verdict(at(2026, 11, 28, 11, 0), false, None),
            Verdict::DayOff
        );
    }

    #[test]
    fn malformed_or_disabled_schedules_do_nothing() {
        let mut s = weekdays_16_and_19();
        s.weekday_start_hours = "16,99".into();
        assert_eq!(
            s.verdict(at(2026, 11, 23, 20, 0), false, None),
            Verdict::NoTimes
        );
        s.enabled = false;
        assert_eq!(
            s.verdict(at(2026, 11, 23, 20, 0), false, None),
            Verdict::NotEnabled
        );
    }
}
