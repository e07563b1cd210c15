//! Shared by the benchmark harnesses: each owns one marked section of `BENCHMARKS.md` and
//! replaces only that, so harnesses run by different people never overwrite each other.

use std::path::Path;

/// Replace the section between `start` and `end` markers, or append it if it is missing,
/// keeping everything else in the file (which is created if absent).
pub fn write_section(path: &Path, start: &str, end: &str, section: &str) {
    let old = std::fs::read_to_string(path).unwrap_or_else(|_| "# Benchmarks\n".into());
    let block = format!("{start}\n{section}{end}");
    let new = match (old.find(start), old.find(end)) {
        (Some(a), Some(b)) if b > a => format!("{}{block}{}", &old[..a], &old[b + end.len()..]),
        _ => format!("{}\n\n{block}\n", old.trim_end()),
    };
    std::fs::write(path, new).expect("writing BENCHMARKS.md");
}

/// The machine a figure was measured on: CPU model, cores, memory.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().next().map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_owned()))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| format!("{:.0} GiB", kb / 1024.0 / 1024.0))
        .unwrap_or_default();
    format!("{cpu}, {cores} cores, {mem}")
}

/// Median and spread of samples.
#[derive(Clone, Copy)]
pub struct Stat {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

pub fn stat(samples: &[f64]) -> Stat {
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    Stat { median: s[s.len() / 2], min: s[0], max: s[s.len() - 1] }
}

impl Stat {
    /// `median unit (min–max)`, with two decimals below 10 so small ratios stay legible.
    pub fn show(&self, unit: &str) -> String {
        let unit = if unit.is_empty() { String::new() } else { format!(" {unit}") };
        let p = if self.median.abs() < 10.0 { 2 } else { 1 };
        format!("{:.p$}{unit} ({:.p$}–{:.p$})", self.median, self.min, self.max)
    }
}

/// Walk the harness's `--flag value` arguments (`cargo bench` adds a bare `--bench`):
/// `set` takes each flag with its value and says whether it knew the flag.
pub fn parse_flags(mut set: impl FnMut(&str, String) -> bool) {
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--bench" {
            continue;
        }
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        assert!(set(&flag, value), "unknown flag {flag}");
    }
}
