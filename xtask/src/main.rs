//! `cargo xtask`: the project's command runner (the rust-analyzer convention).
//!
//! - `cargo xtask demo [ARGS]`: build the plugins to wasm, then run `proactive demo`.
//! - `cargo xtask test`: build the plugins, install the test SMSC (npm's `smpp` package,
//!   at the version `tests/smsc/package-lock.json` pins), then run every test in the
//!   workspace.
//! - `cargo xtask bench [ARGS]`: build the plugins, run the platform benchmarks, then the
//!   serve benchmarks, updating `BENCHMARKS.md` (ARGS, for the platform ones: `--people N`,
//!   `--batch-events N`, `--rounds N`, `--only abcd`).
//! - `cargo xtask bench-serve [ARGS]`: only the serve benchmarks (`--people N`, `--rounds N`).
//! - `cargo xtask bench-smpp [ARGS]`: only the SMPP window benchmark (`--messages N`,
//!   `--rounds N`); needs Node.js for its SMSC.
//! - `cargo xtask plugins`: only build the plugins into `target/plugins/`.
//!
//! Everything a fresh machine needs beyond Rust itself (the `wasm32-wasip2` target) is
//! installed here, so the README's two commands work on a clean checkout.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};

/// Guest crates, and the file name each plugin gets in the plugins folder.
const PLUGINS: [(&str, &str); 4] = [
    ("plugin-health", "health"),
    ("plugin-labour", "labour"),
    ("plugin-defence", "defence"),
    ("plugin-education", "education"),
];
const TARGET: &str = "wasm32-wasip2";

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let task = args.next().unwrap_or_default();
    let rest: Vec<String> = args.collect();
    let root = root();
    match task.as_str() {
        "plugins" => build_plugins(&root).map(|_| ()),
        "demo" => {
            let dir = build_plugins(&root)?;
            run(Command::new(cargo())
                .current_dir(&root)
                .args([
                    "run",
                    "--quiet",
                    "--package",
                    "proactive-host",
                    "--bin",
                    "proactive",
                    "--",
                    "demo",
                    "--plugins",
                ])
                .arg(&dir)
                .args(&rest))
        }
        "bench" => {
            let dir = build_plugins(&root)?;
            install_smsc(&root)?;
            bench(&root, &dir, "platform", &rest)?;
            bench(&root, &dir, "serve", &[])?;
            bench(&root, &dir, "smpp", &[])
        }
        "bench-smpp" => {
            install_smsc(&root)?;
            bench(&root, Path::new("target/plugins"), "smpp", &rest)
        }
        "bench-serve" => {
            let dir = build_plugins(&root)?;
            bench(&root, &dir, "serve", &rest)
        }
        "test" => {
            build_plugins(&root)?;
            install_smsc(&root)?;
            run(Command::new(cargo()).current_dir(&root).args(["test", "--workspace"]).args(&rest))
        }
        _ => {
            eprintln!(
                "usage: cargo xtask <demo [ARGS] | test [ARGS] | bench [ARGS] | bench-serve [ARGS] | bench-smpp [ARGS] | plugins>"
            );
            bail!("unknown task {task:?}")
        }
    }
}

/// One benchmark harness of the host, writing its section of `BENCHMARKS.md`.
fn bench(root: &Path, plugins: &Path, name: &str, args: &[String]) -> anyhow::Result<()> {
    run(Command::new(cargo())
        .current_dir(root)
        .args(["bench", "--package", "proactive-host", "--bench", name, "--", "--plugins"])
        .arg(plugins)
        .arg("--out")
        .arg(root.join("BENCHMARKS.md"))
        .args(args))
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// The SMPP tests' peer: an SMSC from the npm registry, not written here. Needs Node.js
/// and npm; `npm ci` installs exactly what the lock file names.
fn install_smsc(root: &Path) -> anyhow::Result<()> {
    let dir = root.join("tests/smsc");
    if dir.join("node_modules/smpp/package.json").exists() {
        return Ok(());
    }
    eprintln!("installing the test SMSC (npm ci in tests/smsc)");
    run(Command::new("npm").current_dir(&dir).args(["ci", "--no-audit", "--no-fund"]))
        .context("the SMPP tests need Node.js and npm to install their SMSC peer")
}

fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let status = cmd.status().with_context(|| format!("running {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

/// Install the wasm target if missing, build every plugin in release mode, and copy the
/// components to `target/plugins/NAME.wasm`.
fn build_plugins(root: &Path) -> anyhow::Result<PathBuf> {
    let installed = Command::new("rustup").args(["target", "list", "--installed"]).output();
    let has_target =
        installed.as_ref().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).lines().any(|l| l.trim() == TARGET));
    if !has_target {
        eprintln!("installing the {TARGET} target with rustup");
        run(Command::new("rustup").args(["target", "add", TARGET]))?;
    }
    let mut build = Command::new(cargo());
    build.current_dir(root).args(["build", "--release", "--target", TARGET, "--target-dir", "target/guests"]);
    // Small components compile faster in the host: no debug info, symbols stripped.
    build.env("CARGO_PROFILE_RELEASE_DEBUG", "false").env("CARGO_PROFILE_RELEASE_STRIP", "true");
    for (krate, _) in PLUGINS {
        build.args(["--package", krate]);
    }
    run(&mut build)?;
    let out = root.join("target/plugins");
    std::fs::create_dir_all(&out)?;
    for (krate, name) in PLUGINS {
        let from =
            root.join("target/guests").join(TARGET).join("release").join(format!("{}.wasm", krate.replace('-', "_")));
        let to = out.join(format!("{name}.wasm"));
        std::fs::copy(&from, &to).with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    }
    Ok(out)
}
