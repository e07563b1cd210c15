//! An offer from the state that wakes a citizen at night is an intrusion, whatever it offers;
//! so messages wait for the sending window, judged by the clock on the citizen's wall. That
//! clock is Almaty's, and its offset is not a constant — Kazakhstan moved from UTC+6 to UTC+5
//! on 1 March 2024 — so local time always comes from the tz database, never a fixed offset.

use chrono::{DateTime, NaiveDateTime, NaiveTime, TimeDelta, TimeZone};
use chrono_tz::Tz;

const fn time(h: u32, m: u32) -> NaiveTime {
    match NaiveTime::from_hms_opt(h, m, 0) {
        Some(t) => t,
        None => panic!("invalid constant time"),
    }
}

/// Opening of the default window, local time.
pub const DEFAULT_START: NaiveTime = time(9, 0);
/// Closing of the default window, local time (exclusive).
pub const DEFAULT_END: NaiveTime = time(21, 0);

/// Why a window was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    #[error("sending window must start before it ends (got {start}–{end})")]
    StartNotBeforeEnd { start: NaiveTime, end: NaiveTime },
}

/// The daily local hours `[start, end)` in which messages may go out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendingWindow {
    start: NaiveTime,
    end: NaiveTime,
    tz: Tz,
}

impl Default for SendingWindow {
    /// 09:00–21:00 in Asia/Almaty.
    fn default() -> Self {
        SendingWindow { start: DEFAULT_START, end: DEFAULT_END, tz: chrono_tz::Asia::Almaty }
    }
}

/// Minutes to look ahead for the end of a clock gap; covers even a skipped calendar day.
const MAX_GAP_MINUTES: i64 = 25 * 60;

impl SendingWindow {
    /// A window of `[start, end)` in Asia/Almaty; it may not wrap past midnight.
    pub fn new(start: NaiveTime, end: NaiveTime) -> Result<Self, WindowError> {
        if start < end {
            Ok(SendingWindow { start, end, tz: chrono_tz::Asia::Almaty })
        } else {
            Err(WindowError::StartNotBeforeEnd { start, end })
        }
    }

    /// The earliest instant at or after `at` (Unix seconds) when the window is open: `at`
    /// itself if local time is in `[start, end)`, else today's opening if it is still to come,
    /// else tomorrow's. A timestamp outside the calendar chrono can represent is returned
    /// unchanged.
    pub fn next_open(&self, at: i64) -> i64 {
        let Some(now) = self.tz.timestamp_opt(at, 0).single() else {
            return at;
        };
        let local = now.naive_local();
        let time = local.time();
        if self.start <= time && time < self.end {
            return at;
        }
        let day = if time < self.start { Some(local.date()) } else { local.date().succ_opt() };
        day.and_then(|d| self.first_instant_from(d.and_time(self.start))).map_or(at, |opening| opening.timestamp())
    }

    /// The first real instant whose local time is `local` or, if the clocks skip over
    /// `local`, the first one after the gap. Where the clocks repeat it, the earlier one.
    fn first_instant_from(&self, local: NaiveDateTime) -> Option<DateTime<Tz>> {
        (0..=MAX_GAP_MINUTES).find_map(|m| {
            let candidate = local.checked_add_signed(TimeDelta::minutes(m))?;
            self.tz.from_local_datetime(&candidate).earliest()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hm(h: u32, m: u32) -> NaiveTime {
        time(h, m)
    }

    fn ts(rfc3339: &str) -> i64 {
        match DateTime::parse_from_rfc3339(rfc3339) {
            Ok(t) => t.timestamp(),
            Err(e) => panic!("bad test timestamp {rfc3339}: {e}"),
        }
    }

    #[track_caller]
    fn check(input: (SendingWindow, &str), expected: &str) {
        let (window, at) = input;
        let got = window.next_open(ts(at));
        let shown = DateTime::from_timestamp(got, 0).map(|t| t.with_timezone(&chrono_tz::Asia::Almaty).to_rfc3339());
        assert_eq!(got, ts(expected), "at {at}: got {shown:?}, want {expected}");
    }

    #[test]
    fn next_open() {
        let day = SendingWindow::default();
        let office = SendingWindow { start: hm(10, 30), end: hm(18, 0), tz: chrono_tz::Asia::Almaty };
        // Almaty has had no clock gaps or repeats near a sensible opening time since 2005;
        // New York's DST shows how one is handled.
        let gap = SendingWindow { start: hm(2, 30), end: hm(5, 0), tz: chrono_tz::America::New_York };
        let repeat = SendingWindow { start: hm(1, 30), end: hm(5, 0), tz: chrono_tz::America::New_York };
        let rows = [
            // Since 1 March 2024 Almaty is UTC+5.
            ((day, "2025-06-10T08:59:00+05:00"), "2025-06-10T09:00:00+05:00"),
            ((day, "2025-06-10T09:00:00+05:00"), "2025-06-10T09:00:00+05:00"),
            ((day, "2025-06-10T14:00:00+05:00"), "2025-06-10T14:00:00+05:00"),
            ((day, "2025-06-10T20:59:59+05:00"), "2025-06-10T20:59:59+05:00"),
            ((day, "2025-06-10T21:00:00+05:00"), "2025-06-11T09:00:00+05:00"),
            ((day, "2025-06-10T23:30:00+05:00"), "2025-06-11T09:00:00+05:00"),
            ((day, "2025-06-10T00:00:00+05:00"), "2025-06-10T09:00:00+05:00"),
            // The same instants given in UTC.
            ((day, "2025-06-10T03:59:00Z"), "2025-06-10T04:00:00Z"),
            ((day, "2025-06-10T16:00:00Z"), "2025-06-11T04:00:00Z"),
            // A UTC date that is already tomorrow in Almaty.
            ((day, "2025-06-10T19:30:00Z"), "2025-06-11T04:00:00Z"),
            // Across a month end, a leap day and a year end.
            ((day, "2025-01-31T22:00:00+05:00"), "2025-02-01T09:00:00+05:00"),
            ((day, "2028-02-28T21:00:00+05:00"), "2028-02-29T09:00:00+05:00"),
            ((day, "2025-12-31T21:15:00+05:00"), "2026-01-01T09:00:00+05:00"),
            // Before 1 March 2024 Almaty was UTC+6: 02:59Z was 08:59 local (under +5 it would
            // be 07:59), and 15:30Z was 21:30 local, closed (under +5, 20:30, open).
            ((day, "2023-06-15T02:59:00Z"), "2023-06-15T09:00:00+06:00"),
            ((day, "2023-06-15T03:00:00Z"), "2023-06-15T03:00:00Z"),
            ((day, "2023-06-15T15:30:00Z"), "2023-06-16T09:00:00+06:00"),
            ((day, "2023-06-15T14:59:59Z"), "2023-06-15T14:59:59Z"),
            // The evening before the change is +6; the next morning is already +5.
            ((day, "2024-02-29T22:00:00+06:00"), "2024-03-01T09:00:00+05:00"),
            // A custom window.
            ((office, "2025-06-10T10:29:00+05:00"), "2025-06-10T10:30:00+05:00"),
            ((office, "2025-06-10T17:59:00+05:00"), "2025-06-10T17:59:00+05:00"),
            ((office, "2025-06-10T18:00:00+05:00"), "2025-06-11T10:30:00+05:00"),
            // 02:30 does not exist on 9 March 2025 in New York: the window opens when the
            // clocks resume, at 03:00 EDT.
            ((gap, "2025-03-09T01:00:00-05:00"), "2025-03-09T03:00:00-04:00"),
            // 01:30 happens twice on 2 November 2025: the window opens at the first.
            ((repeat, "2025-11-02T00:00:00-04:00"), "2025-11-02T01:30:00-04:00"),
        ];
        for (input, expected) in rows {
            check(input, expected);
        }
    }

    #[track_caller]
    fn check_new(input: (NaiveTime, NaiveTime), expected: Result<(), WindowError>) {
        let (start, end) = input;
        assert_eq!(
            SendingWindow::new(start, end).map(|w| (w.start, w.end, w.tz)),
            expected.map(|()| (start, end, chrono_tz::Asia::Almaty))
        );
    }

    #[test]
    fn new() {
        let rows = [
            ((hm(9, 0), hm(21, 0)), Ok(())),
            ((hm(0, 0), hm(23, 59)), Ok(())),
            ((hm(9, 0), hm(9, 0)), Err(WindowError::StartNotBeforeEnd { start: hm(9, 0), end: hm(9, 0) })),
            ((hm(22, 0), hm(8, 0)), Err(WindowError::StartNotBeforeEnd { start: hm(22, 0), end: hm(8, 0) })),
        ];
        for (input, expected) in rows {
            check_new(input, expected);
        }
    }

    #[track_caller]
    fn check_extreme(at: i64, expected: i64) {
        assert_eq!(SendingWindow::default().next_open(at), expected);
    }

    #[test]
    fn unrepresentable_instants_come_back_unchanged() {
        for at in [i64::MIN, i64::MAX] {
            check_extreme(at, at);
        }
    }
}
