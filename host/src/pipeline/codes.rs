//! Reply codes: four digits that tell which offer an answer is for, since one phone can
//! have several open cases (a birth fans out to three ministries for the same mother).

/// A code for a case, unique among the phone's open cases. Derived from the case id so a
/// re-run assigns the same codes, then stepped past any code already in use.
pub fn assign(case_id: i64, in_use: &[String]) -> String {
    let mut n = (case_id.unsigned_abs().wrapping_mul(7_919) % 9_000) + 1_000;
    loop {
        let code = n.to_string();
        if !in_use.contains(&code) {
            return code;
        }
        n = if n == 9_999 { 1_000 } else { n + 1 };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_four_digits_stable_and_avoid_those_in_use() {
        for id in [0, 1, 2, 1_125, 9_000, i64::MAX, i64::MIN] {
            let c = assign(id, &[]);
            assert_eq!(c.len(), 4, "{c}");
            assert_eq!(c, assign(id, &[]));
        }
        let first = assign(5, &[]);
        let second = assign(5, std::slice::from_ref(&first));
        assert_ne!(first, second);
        assert_eq!(second.len(), 4);
    }
}
