//! `cargo xtask bench-smpp` (and the end of `cargo xtask bench`): `submit_sm` throughput
//! of the SMPP gateway against the test SMSC (npm's `smpp` server, `tests/smsc`) on
//! loopback, for several window sizes, as a ratio to a window of 1 in the same round.
//! Writes the SMPP section of `BENCHMARKS.md`.

mod common;
#[allow(dead_code, reason = "the tests use more of the SMSC's control API than this does")]
#[path = "../../tests/e2e/smsc.rs"]
mod smsc;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use proactive_host::sms::gateway::{Gateway, Next, OutgoingSms, Progress};
use proactive_host::sms::smpp::{SmppConfig, SmppGateway};

struct Args {
    out: PathBuf,
    messages: usize,
    rounds: usize,
}

fn args() -> Args {
    let mut a = Args { out: PathBuf::from("BENCHMARKS.md"), messages: 2000, rounds: 5 };
    common::parse_flags(|flag, value| {
        match flag {
            "--out" => a.out = value.into(),
            "--messages" => a.messages = value.parse().expect("--messages N"),
            "--rounds" => a.rounds = value.parse().expect("--rounds N"),
            // xtask passes every harness the plugins folder; this one needs none.
            "--plugins" => {}
            _ => return false,
        }
        true
    });
    a
}

const WINDOWS: [usize; 3] = [1, 10, 50];
/// How long the SMSC takes to answer each `submit_sm`: loopback, and a far SMSC.
const DELAYS_MS: [u64; 2] = [0, 5];

/// Messages a second for one batch through a fresh session with `window`.
fn one_batch(rt: &tokio::runtime::Runtime, port: u16, window: usize, first_id: i64, n: usize) -> f64 {
    let mut config = SmppConfig::new(format!("127.0.0.1:{port}"));
    config.password = "secret".into();
    config.window = window;
    config.submit_deadline = Duration::from_secs(600);
    let (gateway, session, _deliveries) = SmppGateway::start(config, rt.handle());
    assert!(rt.block_on(gateway.wait_bound(Duration::from_secs(10))), "the SMSC did not bind");
    let texts: Vec<String> = (0..n).map(|i| format!("Benchmark message {i}")).collect();
    let keys: Vec<String> = (0..n).map(|i| format!("{}-bench", first_id + i as i64)).collect();
    let batch: Vec<OutgoingSms<'_>> = texts
        .iter()
        .enumerate()
        .map(|(i, text)| OutgoingSms::standalone(first_id + i as i64, &keys[i], "+77015550000", text))
        .collect();
    let started = Instant::now();
    let mut accepted = 0;
    gateway
        .submit_each(&batch, &mut |_, progress| {
            if let Progress::Done(result) = progress {
                result.expect("every submission is accepted");
                accepted += 1;
            }
            Ok(Next::Continue)
        })
        .expect("submitting");
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(accepted, n);
    rt.block_on(session.stop());
    n as f64 / elapsed
}

fn main() {
    let args = args();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut md = format!(
        "## SMPP (`cargo xtask bench-smpp`)\n\nMachine: {}. Release build. `submit_sm` throughput of the \
         SMPP gateway (`SmppGateway::submit_each`, one {}-message batch of one-part GSM-7 texts per \
         measurement, a fresh bound session each time) against the test SMSC, npm's `smpp` server in one \
         Node.js process on the same 2 cores, over loopback, its journal not synced per submission. The SMSC answers each `submit_sm` at once, or \
         after a fixed delay standing in for a far SMSC. {} rounds; each round measures every window \
         size in turn, and the ratio is taken within the round. Medians with the min–max spread.\n\n\
         | SMSC answer delay | window | submit_sm/s | against window 1 |\n|---|---|---|---|\n",
        common::machine(),
        args.messages,
        args.rounds,
    );
    let mut next_id = 1i64;
    for delay in DELAYS_MS {
        let journal = dir.path().join(format!("journal-{delay}"));
        let delay_env = delay.to_string();
        let env = [("SMSC_RESP_DELAY_MS", delay_env.as_str()), ("SMSC_RECEIPTS", "none"), ("SMSC_SYNC", "0")];
        let smsc = smsc::Smsc::start(journal, &env);
        let mut rates: Vec<Vec<f64>> = vec![Vec::new(); WINDOWS.len()];
        for round in 0..args.rounds {
            for (w, window) in WINDOWS.iter().enumerate() {
                let rate = one_batch(&rt, smsc.smpp_port, *window, next_id, args.messages);
                next_id += args.messages as i64;
                eprintln!("delay {delay} ms, round {}, window {window}: {rate:.0} submit_sm/s", round + 1);
                rates[w].push(rate);
            }
        }
        for (w, window) in WINDOWS.iter().enumerate() {
            let ratios: Vec<f64> = rates[w].iter().zip(&rates[0]).map(|(r, base)| r / base).collect();
            md += &format!(
                "| {delay} ms | {window} | {} | {}× |\n",
                common::stat(&rates[w]).show(""),
                common::stat(&ratios).show("")
            );
        }
    }
    print!("{md}");
    common::write_section(&args.out, "<!-- smpp-benchmarks:start -->", "<!-- smpp-benchmarks:end -->", &md);
}
