//! `leitstand staffing`: CONTRACT §5's staffing check and the press-conference question
//! through the binary, and bad input refused with the argument named and exit code 2.

use std::process::{Command, Output};

use serde_json::Value;

fn leitstand(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_leitstand"))
        .arg("staffing")
        .args(args)
        .output()
        .expect("leitstand runs")
}

fn json(args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    let out = leitstand(&all);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON document")
}

fn close(v: &Value, expected: f64, tolerance: f64) -> bool {
    v.as_f64()
        .is_some_and(|v| (v - expected).abs() <= tolerance)
}

/// 100 calls in 30 min, AHT 180 s, 80/20, max occupancy 0.85 → 14 agents (SL 0.888);
/// 13 would reach 0.796; shrinkage 0.3 → 20 scheduled.
#[test]
fn the_contract_check() {
    let base = [
        "--calls",
        "100",
        "--interval",
        "30m",
        "--aht",
        "180s",
        "--target",
        "80/20",
    ];
    let capped = [
        &base[..],
        &["--max-occupancy", "0.85", "--shrinkage", "0.3"],
    ]
    .concat();
    let plan = json(&capped);
    assert!(close(&plan["traffic_erlangs"], 10.0, 1e-12), "{plan}");
    assert_eq!(plan["agents_required"], 14, "{plan}");
    assert_eq!(plan["agents_scheduled"], 20, "{plan}");
    assert!(close(&plan["service_level"], 0.888, 5e-4), "{plan}");
    assert!(close(&plan["occupancy"], 10.0 / 14.0, 1e-12), "{plan}");
    assert_eq!(plan["calls"], 100);
    assert_eq!(plan["interval_seconds"], 1800);

    // The same question typed differently gives the same answer.
    let typed = json(&[
        "--calls",
        "100",
        "--interval",
        "1800",
        "--aht",
        "3m",
        "--target",
        "0.8/20s",
        "--max-occupancy",
        "85%",
        "--shrinkage",
        "30%",
    ]);
    assert_eq!(typed, plan);

    // Capped at 70 % occupancy, 14 agents (71 % busy) are not enough.
    let strict = [
        &base[..],
        &["--max-occupancy", "0.70", "--shrinkage", "0.3"],
    ]
    .concat();
    let plan = json(&strict);
    assert_eq!(plan["agents_required"], 15, "{plan}");
    assert_eq!(plan["agents_scheduled"], 22, "{plan}");
}

#[test]
fn the_press_conference_question_reads_as_a_table() {
    let out = leitstand(&[
        "--calls",
        "5000",
        "--interval",
        "3h",
        "--aht",
        "240s",
        "--target",
        "80/20",
        "--max-occupancy",
        "0.85",
        "--shrinkage",
        "0.3",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "5000 calls in 3 h, AHT 240 s",
        "traffic           111.11 Erlangs",
        "agents required   131",
        "occupancy         84.8 %",
        "agents scheduled  188 (with 30 % shrinkage)",
    ] {
        assert!(text.contains(expected), "{expected:?} in\n{text}");
    }
}

#[test]
fn bad_input_names_the_argument_and_exits_2() {
    let base = ["--calls", "100", "--interval", "30m", "--aht", "180"];
    for (extra, argument, value) in [
        (["--target", "80-20"], "--target", "80-20"),
        (["--target", "120/20"], "--target", "120/20"),
        (["--target", "80/2x"], "--target", "80/2x"),
        (["--max-occupancy", "1.5"], "--max-occupancy", "1.5"),
        (["--shrinkage", "1"], "--shrinkage", "1"),
    ] {
        let mut args = base.to_vec();
        if argument != "--target" {
            args.extend(["--target", "80/20"]);
        }
        args.extend(extra);
        let out = leitstand(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(argument) && stderr.contains(value),
            "{args:?}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    let out = leitstand(&[
        "--calls",
        "100",
        "--interval",
        "3d",
        "--aht",
        "180",
        "--target",
        "80/20",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--interval") && stderr.contains("3d"),
        "{stderr}"
    );
}
