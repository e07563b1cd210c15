//! Benefits and fines are set in law as multiples of the monthly calculation index (АЕК /
//! МРП), and the index changes every 1 January with the budget law. Keeping the tenge value
//! in platform configuration rather than in plugin code means a new year's index is one
//! config change, not a rebuild and re-signing of every ministry's component.

use crate::host;

/// The monthly calculation index for one year, in whole tenge (it has always been whole).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mci {
    pub year: i32,
    pub tenge: u32,
}

impl Mci {
    /// Reads the platform configuration (`mci.YEAR`) through the host. None when the year
    /// is not configured or the value is not a whole number of tenge: a rule must not guess
    /// an amount of money.
    pub fn for_year(year: i32) -> Option<Mci> {
        let tenge = host::config(&format!("mci.{year}"))?.trim().parse().ok()?;
        Some(Mci { year, tenge })
    }

    /// n MCI in tenge. u64 because large multiples (fines, one-off grants) times a growing
    /// index can leave u32 over a few decades.
    pub fn times(&self, n: u32) -> u64 {
        u64::from(self.tenge) * u64::from(n)
    }

    /// "164 350 ₸" (thousands separated by a space, as in Kazakh and Russian texts), so an
    /// amount in an SMS reads the way people write it.
    pub fn format_tenge(amount: u64) -> String {
        let digits = amount.to_string();
        let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 4);
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(' ');
            }
            out.push(c);
        }
        out.push_str(" ₸");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_tenge_table() {
        #[track_caller]
        fn check(amount: u64, expected: &str) {
            assert_eq!(Mci::format_tenge(amount), expected);
        }
        check(0, "0 ₸");
        check(7, "7 ₸");
        check(999, "999 ₸");
        check(1000, "1 000 ₸");
        check(4325, "4 325 ₸");
        check(100_000, "100 000 ₸");
        check(164_350, "164 350 ₸");
        check(1_234_567, "1 234 567 ₸");
        check(u64::MAX, "18 446 744 073 709 551 615 ₸");
    }

    #[test]
    fn times_table() {
        #[track_caller]
        fn check(mci: Mci, n: u32, expected: u64) {
            assert_eq!(mci.times(n), expected, "{mci:?} x {n}");
        }
        let y2024 = Mci { year: 2024, tenge: 3692 };
        let y2025 = Mci { year: 2025, tenge: 3932 };
        let y2026 = Mci { year: 2026, tenge: 4325 };
        check(y2026, 0, 0);
        check(y2026, 1, 4325);
        check(y2026, 38, 164_350);
        check(y2025, 10, 39_320);
        check(y2024, 100, 369_200);
        check(Mci { year: 2099, tenge: u32::MAX }, u32::MAX, u64::from(u32::MAX) * u64::from(u32::MAX));
    }
}
