//! `leitstand simulate`: the center checked against queueing theory (Erlang C with patient
//! callers, Erlang A with impatient ones), the same seed giving the same bytes, the
//! rlp-impf press-conference example with and without overflow, and scenarios refused
//! naming the key.

mod support;

use std::path::Path;

use serde_json::Value;

use leitstand_sla::staffing;

/// A tenant with one queue answered at one site and no plugin at all: the ACD's own
/// queueing alone, as Erlang's models assume.
fn plain_bundle(dir: &Path) {
    std::fs::create_dir_all(dir).expect("bundle dir");
    std::fs::write(
        dir.join("tenant.toml"),
        r#"id = "einfach"
name = "Eine Warteschlange"
timezone = "Europe/Berlin"
[sla]
threshold_seconds = 20
target = 0.8
short_abandon_seconds = 0
abandon_policy = "count"
[queues.q]
name = "Q"
[sites.s]
name = "S"
"#,
    )
    .expect("write bundle");
}

fn scenario(dir: &Path, name: &str, body: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, body).expect("write scenario");
    path.to_string_lossy().into_owned()
}

/// Runs `leitstand simulate` with `args`, expecting success; its JSON document.
fn simulate(args: &[&str]) -> Value {
    let out = support::leitstand(&[&["simulate", "--report", "json"], args].concat());
    assert!(
        out.status.success(),
        "simulate failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("a JSON document")
}

fn estimate(e: &Value) -> (f64, f64) {
    (
        e["mean"].as_f64().expect("a mean"),
        e["ci99"].as_f64().expect("a confidence interval"),
    )
}

/// The theory lies within the simulation's 99 % confidence interval, and that interval is
/// at most `widest` on either side (narrow enough to tell a wrong model from a right one).
fn assert_within(what: &str, e: &Value, theory: f64, widest: f64) {
    let (mean, half) = estimate(e);
    eprintln!("{what}: simulated {mean:.4} ± {half:.4} (99 %), theory {theory:.4}");
    assert!(
        (mean - theory).abs() <= half,
        "{what}: simulated {mean:.4} ± {half:.4} (99 %), theory {theory:.4}"
    );
    assert!(
        half <= widest,
        "{what}: ± {half} is too wide to test anything"
    );
}

/// 200 calls an hour, exponential talk times of 180 s: 10 Erlangs.
const ONE_SITE: &str = r#"
day = "2026-11-19"
start = "06:00"
end = "24:00"
[queues.q]
per_hour = 200
[handling]
talk = { distribution = "exponential", mean_seconds = 180 }
"#;

#[test]
fn one_site_with_patient_callers_agrees_with_erlang_c() {
    let dir = tempfile::tempdir().expect("tempdir");
    plain_bundle(&dir.path().join("einfach"));
    let s = scenario(
        dir.path(),
        "erlang-c.toml",
        &format!("{ONE_SITE}patience = {{ distribution = \"none\" }}\n[sites.s]\nagents = 12\n"),
    );
    let bundles = dir.path().to_string_lossy().into_owned();
    let doc = simulate(&[
        "--bundles",
        &bundles,
        "--tenant",
        "einfach",
        "--scenario",
        &s,
        "--runs",
        "30",
        "--seed",
        "7",
    ]);
    let sim = &doc["scenario"];
    let q = &sim["queues"][0];
    let (a, c, aht) = (10.0, 12, 180.0);
    let pw = staffing::probability_of_wait(a, c);
    assert_within(
        "service level",
        &q["service_level"],
        staffing::service_level(a, c, 20.0, aht),
        0.03,
    );
    assert_within("ASA", &q["asa_seconds"], pw * aht / (f64::from(c) - a), 8.0);
    assert_within(
        "probability of waiting",
        &sim["center"]["probability_of_waiting"],
        pw,
        0.03,
    );
    assert_eq!(q["abandoned"]["mean"], 0.0, "patient callers never hang up");
}

#[test]
fn one_site_with_impatient_callers_agrees_with_erlang_a() {
    let dir = tempfile::tempdir().expect("tempdir");
    plain_bundle(&dir.path().join("einfach"));
    let s = scenario(
        dir.path(),
        "erlang-a.toml",
        &format!(
            "{ONE_SITE}patience = {{ distribution = \"exponential\", mean_seconds = 120 }}\n[sites.s]\nagents = 11\n"
        ),
    );
    let bundles = dir.path().to_string_lossy().into_owned();
    let doc = simulate(&[
        "--bundles",
        &bundles,
        "--tenant",
        "einfach",
        "--scenario",
        &s,
        "--runs",
        "30",
        "--seed",
        "11",
    ]);
    let q = &doc["scenario"]["queues"][0];
    let theory = ErlangA {
        arrivals_per_second: 200.0 / 3600.0,
        service_rate: 1.0 / 180.0,
        patience_rate: 1.0 / 120.0,
        agents: 11,
    };
    let (abandon, level) = theory.abandon_and_service_level(20.0);
    assert_within("abandon rate", &q["abandon_rate"], abandon, 0.02);
    assert_within("service level", &q["service_level"], level, 0.03);
}

/// M/M/n+M (Erlang A; Garnett, Mandelbaum and Reiman 2002), computed from its birth–death
/// chain: arrivals at λ; with k callers in the system, k ≤ n of them talking, departures at
/// min(k, n)·μ + max(k − n, 0)·θ.
struct ErlangA {
    arrivals_per_second: f64,
    service_rate: f64,
    patience_rate: f64,
    agents: u32,
}

impl ErlangA {
    /// The stationary distribution, up to where it vanishes.
    fn stationary(&self) -> Vec<f64> {
        let n = f64::from(self.agents);
        let mut p = vec![1.0_f64];
        for k in 1..5_000 {
            let k = k as f64;
            let death = k.min(n) * self.service_rate + (k - n).max(0.0) * self.patience_rate;
            let next = p[p.len() - 1] * self.arrivals_per_second / death;
            p.push(next);
            if next < 1e-16 * p.iter().sum::<f64>() {
                break;
            }
        }
        let total: f64 = p.iter().sum();
        p.iter().map(|x| x / total).collect()
    }

    /// The share of callers who hang up, and the share answered within `t` seconds (every
    /// caller counted: the report's `count` policy with no short abandons).
    fn abandon_and_service_level(&self, t: f64) -> (f64, f64) {
        let p = self.stationary();
        let n = self.agents as usize;
        // Abandons per second over arrivals per second.
        let abandon: f64 = p
            .iter()
            .enumerate()
            .skip(n)
            .map(|(k, pk)| pk * (k - n) as f64 * self.patience_rate)
            .sum::<f64>()
            / self.arrivals_per_second;
        // An arrival that finds k ≥ n callers has q = k − n waiting ahead (PASTA).
        let level: f64 = p
            .iter()
            .enumerate()
            .map(|(k, pk)| {
                if k < n {
                    *pk
                } else {
                    pk * self.answered_within(k - n, t)
                }
            })
            .sum();
        (abandon, level)
    }

    /// The chance that a caller with `ahead` callers waiting before them is answered within
    /// `t` without hanging up: the caller moves up as agents free (n·μ) or a caller ahead
    /// hangs up (θ each), and hangs up at θ; integrated with fourth-order Runge–Kutta.
    fn answered_within(&self, ahead: usize, t: f64) -> f64 {
        let n = f64::from(self.agents);
        let move_up = |r: usize| n * self.service_rate + r as f64 * self.patience_rate;
        // state[r]: still waiting with r ahead; state[ahead + 1]: answered.
        let derivative = |s: &[f64]| -> Vec<f64> {
            let mut d = vec![0.0; s.len()];
            for r in 0..=ahead {
                d[r] -= (move_up(r) + self.patience_rate) * s[r];
                if r > 0 {
                    d[r - 1] += move_up(r) * s[r];
                } else {
                    d[ahead + 1] += move_up(0) * s[0];
                }
            }
            d
        };
        let mut s = vec![0.0; ahead + 2];
        s[ahead] = 1.0;
        let steps = 4_000;
        let h = t / steps as f64;
        for _ in 0..steps {
            let k1 = derivative(&s);
            let y2: Vec<f64> = s.iter().zip(&k1).map(|(y, k)| y + h / 2.0 * k).collect();
            let k2 = derivative(&y2);
            let y3: Vec<f64> = s.iter().zip(&k2).map(|(y, k)| y + h / 2.0 * k).collect();
            let k3 = derivative(&y3);
            let y4: Vec<f64> = s.iter().zip(&k3).map(|(y, k)| y + h * k).collect();
            let k4 = derivative(&y4);
            for i in 0..s.len() {
                s[i] += h / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]);
            }
        }
        s[ahead + 1]
    }
}

#[test]
fn erlang_a_without_impatience_is_erlang_c() {
    // The test's own Erlang A reduces to the project's Erlang C as patience grows.
    let a = ErlangA {
        arrivals_per_second: 200.0 / 3600.0,
        service_rate: 1.0 / 180.0,
        patience_rate: 1e-9,
        agents: 12,
    };
    let (abandon, level) = a.abandon_and_service_level(20.0);
    assert!(abandon < 1e-6, "{abandon}");
    let c = staffing::service_level(10.0, 12, 20.0, 180.0);
    assert!((level - c).abs() < 1e-4, "{level} vs {c}");
}

fn example(name: &str) -> String {
    support::root()
        .join("examples/scenarios")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn bundles() -> String {
    support::guest("leitstand_rota");
    support::root()
        .join("examples/bundles")
        .to_string_lossy()
        .into_owned()
}

#[test]
fn the_same_seed_gives_the_same_bytes_and_another_seed_does_not() {
    let bundles = bundles();
    let overflow = example("rlp-impf-surge-overflow.toml");
    let run = |seed: &str, jobs: &str| {
        let out = support::leitstand(&[
            "simulate",
            "--bundles",
            &bundles,
            "--tenant",
            "rlp-impf",
            "--scenario",
            &overflow,
            "--runs",
            "2",
            "--seed",
            seed,
            "--jobs",
            jobs,
            "--report",
            "json",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let first = run("5", "2");
    assert_eq!(
        first,
        run("5", "1"),
        "the same seed, one job or two: the same bytes"
    );
    assert_ne!(first, run("6", "2"), "another seed, other figures");
}

fn surge_levels(summary: &Value) -> Vec<(String, f64)> {
    summary["queues"][0]["intervals"]
        .as_array()
        .expect("intervals")
        .iter()
        .filter(|i| {
            let start = i["start"].as_str().unwrap_or_default();
            ("11:00".."14:00").contains(&&start[11..16])
        })
        .map(|i| {
            (
                i["start"].as_str().unwrap_or_default().to_owned(),
                i["service_level"]["mean"]
                    .as_f64()
                    .expect("a service level"),
            )
        })
        .collect()
}

#[test]
fn overflow_to_partner_sites_raises_the_surge_and_the_report_shows_each_site() {
    let bundles = bundles();
    let dir = tempfile::tempdir().expect("tempdir");
    let html = dir.path().join("surge.html");
    let doc = simulate(&[
        "--bundles",
        &bundles,
        "--tenant",
        "rlp-impf",
        "--scenario",
        &example("rlp-impf-surge-overflow.toml"),
        "--baseline",
        &example("rlp-impf-surge-alone.toml"),
        "--runs",
        "4",
        "--seed",
        "1",
        "--html",
        &html.to_string_lossy(),
    ]);
    let alone = surge_levels(&doc["baseline"]);
    let overflow = surge_levels(&doc["scenario"]);
    assert_eq!(
        alone.len(),
        6,
        "six half hours from 11:00 to 14:00: {alone:?}"
    );
    assert_eq!(
        alone.iter().map(|x| &x.0).collect::<Vec<_>>(),
        overflow.iter().map(|x| &x.0).collect::<Vec<_>>()
    );
    // Kaiserslautern alone misses 80/20 as the surge hits; in each of those intervals the
    // overflow sites raise the service level, and in none do they lower it.
    let missed: Vec<_> = alone.iter().filter(|(_, a)| *a < 0.8).collect();
    assert!(
        missed.len() >= 3,
        "Kaiserslautern alone misses the surge: {alone:?}"
    );
    for ((start, a), (_, o)) in alone.iter().zip(&overflow) {
        if *a < 0.8 {
            assert!(
                o > a,
                "{start}: with overflow {o:.3}, Kaiserslautern alone {a:.3}"
            );
        } else {
            assert!(*o >= 0.8, "{start}: with overflow {o:.3}, alone {a:.3}");
        }
    }
    // Per site: alone, only Kaiserslautern answers; with overflow every partner does, in
    // the surge's intervals.
    let answered = |summary: &Value, site: &str| -> f64 {
        summary["sites"]
            .as_array()
            .expect("sites")
            .iter()
            .find(|s| s["site"] == site)
            .map_or(0.0, |s| s["answered"]["mean"].as_f64().unwrap_or(0.0))
    };
    assert!(answered(&doc["baseline"], "kaiserslautern") > 1000.0);
    for partner in ["pirmasens", "saarbruecken", "mainz"] {
        assert_eq!(
            answered(&doc["baseline"], partner),
            0.0,
            "{partner} takes nothing alone"
        );
        assert!(
            answered(&doc["scenario"], partner) > 100.0,
            "{partner} takes the overflow"
        );
        let site = doc["scenario"]["sites"]
            .as_array()
            .expect("sites")
            .iter()
            .find(|s| s["site"] == partner)
            .expect("the partner's line");
        assert!(
            site["intervals"]
                .as_array()
                .expect("intervals")
                .iter()
                .any(|i| i["start"].as_str().unwrap_or_default()[11..16] == *"11:30"),
            "{partner} has its surge intervals"
        );
    }
    let page = std::fs::read_to_string(&html).expect("the page");
    for site in ["kaiserslautern", "pirmasens", "saarbruecken", "mainz"] {
        assert!(
            page.contains(&format!("data-site=\"{site}\"")),
            "the page shows {site}"
        );
    }
    assert!(
        page.contains("data-key=\"baseline\""),
        "the page names the baseline"
    );
    assert!(
        page.contains("data-key=\"baseline_service_level\" class=\"below\""),
        "the baseline's intervals below target are marked"
    );
}

#[test]
fn a_bad_key_an_unknown_site_or_an_impossible_parameter_is_refused_naming_the_key() {
    let bundles = bundles();
    let dir = tempfile::tempdir().expect("tempdir");
    let base = std::fs::read_to_string(example("rlp-impf-surge-overflow.toml")).expect("example");
    for (patch, key) in [
        (
            base.replace("status_every_seconds", "status_every_second"),
            "status_every_second",
        ),
        (
            base.replace("[sites.mainz]\nagents", "[sites.mainz]\nagentz"),
            "sites.mainz",
        ),
        (
            base.replace("[sites.mainz]", "[sites.ludwigshafen]"),
            "sites.ludwigshafen",
        ),
        (
            base.replace("sd_seconds = 90", "sd_seconds = -5"),
            "handling.talk.sd_seconds",
        ),
        (
            base.replace("mean_seconds = 180", "mean_seconds = 0"),
            "handling.patience.mean_seconds",
        ),
        (
            base.replace("half_life_minutes = 60", "half_life_minutes = 0"),
            "queues.impf.surge.half_life_minutes",
        ),
        (
            base.replace("site = \"kaiserslautern\"", "site = \"trier\""),
            "queues.impf.site",
        ),
        (
            base.replace("\"lognormal\"", "\"weibull\""),
            "handling.talk.distribution",
        ),
    ] {
        assert_ne!(patch, base, "the patch for {key} applies");
        let path = scenario(dir.path(), "bad.toml", &patch);
        let out = support::leitstand(&[
            "simulate",
            "--bundles",
            &bundles,
            "--tenant",
            "rlp-impf",
            "--scenario",
            &path,
            "--runs",
            "1",
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{key}: {stderr}");
        assert!(stderr.contains(key), "the refusal names {key}: {stderr}");
        assert!(out.stdout.is_empty(), "nothing simulated for {key}");
    }
}

/// A surge at 09:00 on one site: 100 calls an hour and 600 more, decaying.
const SURGE: &str = r#"
day = "2026-11-19"
start = "08:00"
end = "12:00"
[queues.q]
per_hour = 100
[queues.q.surge]
at = "09:00"
calls = 600
ramp_minutes = 5
half_life_minutes = 30
[handling]
talk = { distribution = "exponential", mean_seconds = 120 }
patience = { distribution = "exponential", mean_seconds = 120 }
"#;

/// The plain tenant's bundle and the surge with 5 agents all day, under `dir`: the bundles'
/// directory and the scenario's path.
fn surge_on_one_site(dir: &Path) -> (String, String) {
    plain_bundle(&dir.join("einfach"));
    let base = scenario(
        dir,
        "surge.toml",
        &format!("{SURGE}[sites.s]\nagents = 5\n"),
    );
    (dir.to_string_lossy().into_owned(), base)
}

#[test]
fn the_staffing_search_finds_the_fewest_agents_that_meet_the_target() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (bundles, base) = surge_on_one_site(dir.path());
    let common = [
        "--bundles",
        &bundles,
        "--tenant",
        "einfach",
        "--runs",
        "4",
        "--seed",
        "3",
    ];
    let doc = simulate(
        &[
            &common[..],
            &[
                "--scenario",
                &base,
                "--search-sites",
                "s",
                "--search-window",
                "09:00-11:00",
            ],
        ]
        .concat(),
    );
    let found = &doc["search"];
    assert_eq!(found["met"], true, "{found}");
    let plan: Vec<(String, u64)> = found["plan"][0]["intervals"]
        .as_array()
        .expect("intervals")
        .iter()
        .map(|i| {
            (
                i[0].as_str().expect("start").to_owned(),
                i[1].as_u64().expect("agents"),
            )
        })
        .collect();
    assert_eq!(
        plan.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(),
        ["09:00", "09:30", "10:00", "10:30"]
    );
    assert!(
        plan[0].1 > 5,
        "the surge needs more than the day's 5 agents: {plan:?}"
    );
    // The plan written as a scenario meets the target in every interval of the window…
    let with = |plan: &[(String, u64)]| -> String {
        let steps: Vec<String> = std::iter::once("{ from = \"08:00\", agents = 5 }".to_owned())
            .chain(
                plan.iter()
                    .map(|(t, a)| format!("{{ from = \"{t}\", agents = {a} }}")),
            )
            .chain(std::iter::once(
                "{ from = \"11:00\", agents = 5 }".to_owned(),
            ))
            .collect();
        format!("{SURGE}[sites.s]\nagents = [{}]\n", steps.join(", "))
    };
    let below = |plan: &[(String, u64)]| -> Vec<String> {
        let s = scenario(dir.path(), "candidate.toml", &with(plan));
        let doc = simulate(&[&common[..], &["--scenario", &s]].concat());
        doc["scenario"]["queues"][0]["intervals"]
            .as_array()
            .expect("intervals")
            .iter()
            .filter(|i| i["below_target"] == true)
            .map(|i| i["start"].as_str().unwrap_or_default()[11..16].to_owned())
            .filter(|t| ("09:00".."11:00").contains(&t.as_str()))
            .collect()
    };
    assert_eq!(
        below(&plan),
        Vec::<String>::new(),
        "the plan found meets the target"
    );
    // …and one agent fewer in any interval misses it somewhere.
    for k in 0..plan.len() {
        if plan[k].1 == 0 {
            continue;
        }
        let mut fewer = plan.clone();
        fewer[k].1 -= 1;
        assert!(
            !below(&fewer).is_empty(),
            "one agent fewer at {} still meets the target",
            plan[k].0
        );
    }
}

#[test]
fn a_recorded_day_gives_the_offers_and_fitted_times() {
    let bundles = bundles();
    let dir = tempfile::tempdir().expect("tempdir");
    let s = scenario(
        dir.path(),
        "recorded.toml",
        r#"
day = "2026-11-19"
start = "07:00"
end = "20:00"
[queues.impf]
site = "kaiserslautern"
[handling]
talk = { distribution = "fitted" }
patience = { distribution = "fitted" }
[sites.kaiserslautern]
agents = "erlang-c"
"#,
    );
    let day = support::root().join("examples/day.jsonl");
    let doc = simulate(&[
        "--bundles",
        &bundles,
        "--tenant",
        "rlp-impf",
        "--scenario",
        &s,
        "--from",
        &day.to_string_lossy(),
        "--runs",
        "1",
    ]);
    // Every recorded offer of rlp-impf (examples/README.md: 4,664) is offered again.
    assert_eq!(doc["scenario"]["center"]["calls"]["mean"], 4664.0);
    assert_eq!(doc["scenario"]["queues"][0]["offered"]["mean"], 4664.0);
    // Staffed by Erlang C for the day's own load, the line does better than it did.
    let level = doc["scenario"]["queues"][0]["service_level"]["mean"]
        .as_f64()
        .expect("a level");
    assert!(level > 0.561, "{level}: the recorded day reached 56.1 %");
}

#[test]
fn a_replay_on_a_journal_in_memory_decides_as_on_the_store() {
    // The simulator's runs keep their journal in memory; the example day replayed on one
    // gives the same commands, byte for byte, and the same report as on the store.
    use leitstand::replay::{Replay, ReplayOptions};
    use leitstand_engine::dispatch::Dispatcher;
    use leitstand_engine::pipeline::memory::MemoryJournal;
    use leitstand_engine::sandbox::Sandbox;
    use leitstand_engine::state::{MemoryStore, StateStore};
    use leitstand_metrics::CustomMetrics;
    use std::sync::Arc;

    let bundles = support::root().join("examples/bundles");
    support::guest("leitstand_rota");
    let day = std::fs::read_to_string(support::root().join("examples/day.jsonl")).expect("day");
    let on_store = support::replay(&bundles, &day);
    let sandbox = Arc::new(
        Sandbox::new(support::sandbox_config(), Arc::new(CustomMetrics::new())).expect("sandbox"),
    );
    let state: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
    let dispatcher = Dispatcher::load(&bundles, sandbox, state).expect("bundles");
    let (runtime, _store) = support::throw_away_store();
    let mut commands = Vec::new();
    let mut on_notice = |_| {};
    let report = Replay::new(
        &dispatcher,
        MemoryJournal::new(),
        runtime.handle().clone(),
        ReplayOptions::default(),
        &mut commands,
        &mut on_notice,
    )
    .run(day.as_bytes())
    .expect("replay runs");
    assert!(!commands.is_empty());
    assert!(
        commands == on_store.command_bytes,
        "the same commands, byte for byte"
    );
    assert_eq!(report, on_store.report);
}

#[test]
fn bad_search_arguments_are_refused_before_anything_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (bundles, base) = surge_on_one_site(dir.path());
    for (sites, window, named) in [
        ("nowhere", "09:00-11:00", "--search-sites"),
        ("s", "11:00-09:00", "--search-window"),
        ("s", "9 bis 11", "--search-window"),
    ] {
        let out = support::leitstand(&[
            "simulate",
            "--bundles",
            &bundles,
            "--tenant",
            "einfach",
            "--scenario",
            &base,
            "--runs",
            "1000",
            "--search-sites",
            sites,
            "--search-window",
            window,
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{named}: {stderr}");
        assert!(
            stderr.contains(named),
            "the refusal names {named}: {stderr}"
        );
        assert!(out.stdout.is_empty());
    }
}
