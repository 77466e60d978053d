//! The what-if simulator's speed: one run of the rlp-impf press-conference surge (the
//! release binary, end to end: bundles loaded, plugins from the compile cache, the center
//! against the one pipeline), then 100 runs on one core and on all cores. Run with
//! `make bench` (or `cargo bench -p leitstand --bench simulate` after `make guests`);
//! figures go into docs/BENCHMARKS.md.
#![allow(missing_docs)]

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use serde_json::Value;

/// Runs `leitstand simulate` on `scenario` with `runs` runs on `jobs` threads; the wall
/// time in seconds and the JSON document.
fn simulate(root: &Path, scenario: &str, runs: u32, jobs: usize) -> anyhow::Result<(f64, Value)> {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_leitstand"))
        .current_dir(root)
        .args([
            "simulate",
            "--bundles",
            "examples/bundles",
            "--tenant",
            "rlp-impf",
            "--report",
            "json",
        ])
        .args(["--scenario", scenario, "--seed", "1"])
        .args(["--runs", &runs.to_string(), "--jobs", &jobs.to_string()])
        .output()?;
    let wall = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        out.status.success(),
        "simulate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((wall, serde_json::from_slice(&out.stdout)?))
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() -> anyhow::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    for scenario in [
        "examples/scenarios/rlp-impf-surge-alone.toml",
        "examples/scenarios/rlp-impf-surge-overflow.toml",
    ] {
        // Warm the compile cache, then one run, five times.
        simulate(&root, scenario, 1, 1)?;
        let mut walls = Vec::new();
        let mut doc = Value::Null;
        for _ in 0..5 {
            let (wall, d) = simulate(&root, scenario, 1, 1)?;
            walls.push(wall);
            doc = d;
        }
        let one = median(walls);
        let center = &doc["scenario"]["center"];
        let calls = center["calls"]["mean"].as_f64().unwrap_or_default();
        let events = center["events"]["mean"].as_f64().unwrap_or_default();
        println!(
            "{scenario}: one run {one:.2} s wall for {calls:.0} calls, {events:.0} events ({:.0} events/s, start-up included)",
            events / one
        );
        let (serial, _) = simulate(&root, scenario, 100, 1)?;
        let (parallel, _) = simulate(&root, scenario, 100, cores)?;
        println!(
            "{scenario}: 100 runs {serial:.1} s on one core ({:.3} s a run), {parallel:.1} s on {cores} cores ({:.3} s a run, {:.2}× faster)",
            serial / 100.0,
            parallel / 100.0,
            serial / parallel
        );
    }
    Ok(())
}
