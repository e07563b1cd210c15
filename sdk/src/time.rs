//! Calendar time in Kazakhstan. The host's clock is UTC seconds; rules speak of local dates
//! ("turns 17 this year", "the MCI of the birth year"), so convert through the tz database
//! rather than a fixed offset: the country moved to a single zone on 1 March 2024.
//!
//! Inside a component the conversion is the host's (`local-date` import), so the tz database
//! is updated with the host and never frozen into a plugin build. Natively (tests, the host
//! itself) it uses the same database directly.

pub use chrono;
use chrono::NaiveDate;
#[cfg(not(target_arch = "wasm32"))]
use chrono::{DateTime, TimeZone, Utc};
#[cfg(not(target_arch = "wasm32"))]
pub use chrono_tz::Asia::Almaty as ALMATY;

/// The local (Asia/Almaty) date of a host timestamp.
pub fn local_date(ts: i64) -> NaiveDate {
    #[cfg(target_arch = "wasm32")]
    {
        let d = crate::bindings::kz_gov::proactive::host::local_date(ts);
        NaiveDate::from_ymd_opt(d.year, d.month.into(), d.day.into()).unwrap_or_default()
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let utc = DateTime::<Utc>::from_timestamp(ts, 0).unwrap_or_default();
        ALMATY.from_utc_datetime(&utc.naive_utc()).date_naive()
    }
}

/// The host timestamp of a local date and time in Asia/Almaty (the earliest one if the
/// local time is ambiguous). Native only: for tests and the host.
#[cfg(not(target_arch = "wasm32"))]
pub fn local_timestamp(date: NaiveDate, hour: u32, minute: u32) -> i64 {
    let naive = date.and_hms_opt(hour, minute, 0).unwrap_or_default();
    ALMATY.from_local_datetime(&naive).earliest().map(|t| t.timestamp()).unwrap_or_else(|| naive.and_utc().timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn almaty_is_utc_plus_five_since_march_2024() {
        // 2026-11-30T20:00Z is already 1 December in Almaty.
        let ts = 1_796_068_800; // 2026-11-30T20:00:00Z
        assert_eq!(local_date(ts), NaiveDate::from_ymd_opt(2026, 12, 1).unwrap());
        let d = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        assert_eq!(local_timestamp(d, 1, 0), ts);
    }

    #[test]
    fn before_march_2024_almaty_was_utc_plus_six() {
        let d = NaiveDate::from_ymd_opt(2023, 6, 1).unwrap();
        let ts = local_timestamp(d, 6, 0);
        assert_eq!(DateTime::<Utc>::from_timestamp(ts, 0).unwrap().to_rfc3339(), "2023-06-01T00:00:00+00:00");
    }
}
