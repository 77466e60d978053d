//! Sites and providers end to end (CONTRACT §8, ADR 0017): `bundle check` refuses a provider
//! naming an unknown site and shares that do not add up to 100 %, each with its key; a
//! replay through the rota attributes an answered call to the site that answered it only,
//! an abandoned one to the site it waited at, and a call routed to the announcement to no
//! site; its metrics say the same as its report.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};
use support::PluginEntry;

const HEADER: &str = r#"
[sla]
threshold_seconds = 20
target = 0.8
short_abandon_seconds = 5

[queues.q]

[calendar]
hours = { thu = ["08:00-18:00"] }
holidays = "none"

[sites.a]
name = "Site A"
[sites.b]
name = "Site B"

[providers.alpha]
name = "Alpha"
sites = ["a"]
shares = { q = 0.5 }
daily_cap = 10

[providers.beta]
name = "Beta"
sites = ["b"]
shares = { q = 0.5 }
target = 0.9
"#;

/// A bundle of tenant `t` whose rota routes every call to site `a` while open and to the
/// announcement `closed` while not.
fn bundle(dir: &Path, header: &str) {
    support::write_bundle(
        dir,
        "t",
        header,
        &[PluginEntry {
            name: "rota",
            guest: "leitstand_rota",
            subscribe: &["call.offered"],
            grant: &["call.route"],
            limits: "",
            config: "[plugins.config.sites.a]\n[plugins.config.sites.b]\n\
                     [plugins.config.duty]\ndefault_site = \"a\"\n\
                     [plugins.config.out_of_hours]\nannouncement = \"closed\"\n",
        }],
    );
}

/// `leitstand bundle check DIR`: (success, what it said).
fn check(dir: &Path) -> (bool, String) {
    let out = support::leitstand(&["bundle", "check", dir.to_str().expect("utf-8 path")]);
    let said =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    (out.status.success(), said)
}

#[test]
fn bundle_check_names_an_unknown_site_and_shares_not_adding_up() {
    let tmp = tempfile::tempdir().expect("tempdir");
    bundle(tmp.path(), HEADER);
    let (ok, said) = check(tmp.path());
    assert!(ok, "the intact bundle passes:\n{said}");

    let cases = [
        (
            HEADER.replace(r#"sites = ["b"]"#, r#"sites = ["b", "c"]"#),
            "key `providers.beta.sites[1]`",
            "site \"c\" is not declared under [sites]",
        ),
        (
            HEADER.replace(
                "shares = { q = 0.5 }\ntarget",
                "shares = { q = 0.4 }\ntarget",
            ),
            "key `providers.beta.shares.q`",
            "the contracted shares of queue \"q\" add up to 90 % (alpha 50 %, beta 40 %), not 100 %",
        ),
    ];
    for (header, key, reason) in cases {
        assert_ne!(header, HEADER, "the case changes the bundle");
        let tmp = tempfile::tempdir().expect("tempdir");
        bundle(tmp.path(), &header);
        let (ok, said) = check(tmp.path());
        assert!(!ok, "refused:\n{said}");
        assert!(said.contains("tenant.toml"), "the file is named:\n{said}");
        assert!(said.contains(key), "{key} in:\n{said}");
        assert!(said.contains(reason), "{reason} in:\n{said}");
    }
}

fn ev(id: &str, ty: &str, time: &str, data: Value) -> String {
    support::event("t", id, ty, time, data)
}

/// The report's line of `site`.
fn site<'a>(tenant: &'a Value, site: &str) -> &'a Value {
    tenant["sites"]
        .as_array()
        .expect("sites")
        .iter()
        .find(|s| s["site"] == site)
        .unwrap_or_else(|| panic!("site {site} in {tenant}"))
}

#[test]
fn a_rerouted_call_counts_for_the_answering_site_and_an_announcement_for_none() {
    let tmp = tempfile::tempdir().expect("tempdir");
    bundle(tmp.path(), HEADER);
    // Thursday 2026-11-19, Europe/Berlin.
    let events = [
        // 1: offered at the ACD's front door, routed to a by the rota, waits there, is
        // moved by the ACD and answered at b.
        ev(
            "1",
            "call.offered",
            "2026-11-19T09:00:00+01:00",
            json!({"call_id": "c1", "queue": "q", "site": "front"}),
        ),
        ev(
            "2",
            "call.answered",
            "2026-11-19T09:00:30+01:00",
            json!({"call_id": "c1", "queue": "q", "wait_seconds": 30, "site": "b"}),
        ),
        ev(
            "3",
            "call.ended",
            "2026-11-19T09:03:30+01:00",
            json!({"call_id": "c1", "queue": "q", "talk_seconds": 180, "resolved": true}),
        ),
        // 2: routed to a, abandoned without a site: a, where it waited.
        ev(
            "4",
            "call.offered",
            "2026-11-19T09:10:00+01:00",
            json!({"call_id": "c2", "queue": "q", "site": "front"}),
        ),
        ev(
            "5",
            "call.abandoned",
            "2026-11-19T09:10:40+01:00",
            json!({"call_id": "c2", "queue": "q", "wait_seconds": 40}),
        ),
        // 3: after hours, routed to the announcement, hangs up: no site.
        ev(
            "6",
            "call.offered",
            "2026-11-19T19:00:00+01:00",
            json!({"call_id": "c3", "queue": "q", "site": "front"}),
        ),
        ev(
            "7",
            "call.abandoned",
            "2026-11-19T19:00:20+01:00",
            json!({"call_id": "c3", "queue": "q", "wait_seconds": 20}),
        ),
    ]
    .join("\n")
        + "\n";
    let run = support::replay(tmp.path(), &events);
    let routes: Vec<(&str, &str, bool)> = run
        .commands
        .iter()
        .map(|c| {
            (
                c["data"]["call_id"].as_str().expect("call_id"),
                c["data"]["target"].as_str().expect("target"),
                c["data"]["announcement"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    assert_eq!(
        routes,
        [
            ("c1", "a", false),
            ("c2", "a", false),
            ("c3", "closed", true)
        ],
        "the rota routed as the test expects"
    );
    let report = serde_json::to_value(run.report.sla()).expect("json");
    let t = &report["tenants"][0];
    let figures = |s: &Value| {
        [
            "offered",
            "answered",
            "answered_within",
            "abandoned",
            "short_abandoned",
            "ended",
        ]
        .map(|k| s[k].as_u64().expect(k))
    };
    // a: offered both calls routed there, answered none, the abandon it waited for.
    assert_eq!(figures(site(t, "a")), [2, 0, 0, 1, 0, 0]);
    // b: answered c1 (and its end), offered nothing: the ACD moved the call, no route did.
    assert_eq!(figures(site(t, "b")), [0, 1, 0, 0, 0, 1]);
    assert_eq!(site(t, "b")["asa_seconds"], 30.0);
    assert_eq!(site(t, "b")["first_contact_resolution"], 1.0);
    // The announcement: offered and abandoned there, no site's figure.
    assert_eq!(figures(site(t, "_announcement")), [1, 0, 0, 1, 0, 0]);
    assert!(
        t["sites"]
            .as_array()
            .expect("sites")
            .iter()
            .all(|s| s["site"] != "front"),
        "an undeclared site is no line of its own"
    );
    // The providers: alpha holds a, beta holds b.
    let providers: BTreeMap<&str, &Value> = t["providers"]
        .as_array()
        .expect("providers")
        .iter()
        .map(|p| (p["provider"].as_str().expect("id"), p))
        .collect();
    let alpha = providers["alpha"];
    let beta = providers["beta"];
    assert_eq!(
        (alpha["answered"].as_u64(), alpha["abandoned"].as_u64()),
        (Some(0), Some(1))
    );
    assert_eq!(alpha["service_level"], 0.0);
    assert_eq!(alpha["target"], 0.8);
    assert_eq!(alpha["days"][0]["offered"], 2);
    assert_eq!(alpha["days"][0]["cap_used"], 0.2);
    assert_eq!(beta["answered"], 1);
    assert_eq!(beta["target"], 0.9);
    assert_eq!(
        beta["service_level"], 0.0,
        "answered after 30 s, beyond T = 20 s"
    );
    assert_eq!(beta["shares"][0]["contracted"], 0.5);
    assert_eq!(beta["shares"][0]["actual"], 1.0);
    assert_eq!(alpha["shares"][0]["actual"], 0.0);
    assert_eq!(alpha["intervals_below_target"], 1);
    // The queue still counts every call once.
    let q = &t["queues"][0];
    assert_eq!(
        (
            q["offered"].as_u64(),
            q["answered"].as_u64(),
            q["abandoned"].as_u64()
        ),
        (Some(3), Some(1), Some(2))
    );
}

/// The figures of one place, counted by hand.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Hand {
    offered: u64,
    answered: u64,
    answered_within: u64,
    abandoned: u64,
    short_abandoned: u64,
    wait: f64,
    ended: u64,
    reported: u64,
    resolved: u64,
}

/// Counts `tenant`'s calls in `events` per site by CONTRACT §8, from the events and the
/// `call.route` commands (joined by `causationid`), with threshold `t` and short limit `s`:
/// a second implementation of the rule, written from the contract's words.
fn hand_count(
    events: &str,
    commands: &str,
    tenant: &str,
    declared: &[&str],
    t: f64,
    s: f64,
) -> BTreeMap<String, Hand> {
    let mut routes: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for line in commands.lines().filter(|l| !l.trim().is_empty()) {
        let c: Value = serde_json::from_str(line).expect("a command");
        if c["type"] != "call.route" || c["tenant"] != tenant {
            continue;
        }
        let place = if c["data"]["announcement"] == true {
            "_announcement".to_owned()
        } else {
            c["data"]["target"].as_str().expect("target").to_owned()
        };
        routes
            .entry(c["causationid"].as_str().expect("causationid").to_owned())
            .or_default()
            .push((
                c["data"]["call_id"].as_str().expect("call_id").to_owned(),
                place,
            ));
    }
    let label = |place: &str| -> String {
        if place.starts_with('_') || declared.contains(&place) {
            place.to_owned()
        } else {
            "_other".to_owned()
        }
    };
    let mut out: BTreeMap<String, Hand> = BTreeMap::new();
    // call → (where it waits, where it was offered, where it was answered)
    let mut calls: BTreeMap<String, (String, Vec<String>, Option<String>)> = BTreeMap::new();
    let mut seen = std::collections::BTreeSet::new();
    for line in events.lines().filter(|l| !l.trim().is_empty()) {
        let e: Value = serde_json::from_str(line).expect("an event");
        if e["tenant"] != tenant || !seen.insert((e["source"].to_string(), e["id"].to_string())) {
            continue;
        }
        let d = &e["data"];
        let call = d["call_id"].as_str().unwrap_or_default().to_owned();
        let site = d["site"].as_str().map(str::to_owned);
        let id = e["id"].as_str().expect("id");
        let decided = routes.get(id).cloned().unwrap_or_default();
        let mut others = Vec::new();
        match e["type"].as_str().expect("type") {
            "call.offered" => {
                let mut place = site.unwrap_or_else(|| "_unknown".into());
                for (c, p) in decided {
                    if c == call {
                        place = p;
                    } else {
                        others.push((c, p));
                    }
                }
                out.entry(label(&place)).or_default().offered += 1;
                calls.insert(call, (place.clone(), vec![place], None));
            }
            "call.answered" => {
                others = decided;
                let w = d["wait_seconds"].as_f64().expect("wait");
                let place = site
                    .or_else(|| calls.get(&call).map(|c| c.0.clone()))
                    .unwrap_or_else(|| "_unknown".into());
                if let Some(c) = calls.get_mut(&call) {
                    c.2 = Some(place.clone());
                }
                let h = out.entry(label(&place)).or_default();
                h.answered += 1;
                h.wait += w;
                h.answered_within += u64::from(w <= t);
            }
            "call.abandoned" => {
                others = decided;
                let w = d["wait_seconds"].as_f64().expect("wait");
                let known = calls.remove(&call);
                let place = site
                    .or_else(|| known.map(|c| c.0))
                    .unwrap_or_else(|| "_unknown".into());
                let h = out.entry(label(&place)).or_default();
                h.abandoned += 1;
                h.short_abandoned += u64::from(w <= s);
            }
            "call.ended" => {
                others = decided;
                let place = calls
                    .remove(&call)
                    .map_or_else(|| "_unknown".into(), |c| c.2.unwrap_or(c.0));
                let h = out.entry(label(&place)).or_default();
                h.ended += 1;
                if let Some(r) = d["resolved"].as_bool() {
                    h.reported += 1;
                    h.resolved += u64::from(r);
                }
            }
            _ => others = decided,
        }
        for (c, p) in others {
            if let Some(known) = calls.get_mut(&c)
                && known.2.is_none()
            {
                known.0 = p.clone();
                if !known.1.contains(&p) {
                    known.1.push(p.clone());
                    out.entry(label(&p)).or_default().offered += 1;
                }
            }
        }
    }
    out
}

fn ratio(n: f64, d: f64) -> Option<f64> {
    (d > 0.0).then(|| n / d)
}

fn close(a: Option<f64>, b: &Value, what: &str) {
    match (a, b.as_f64()) {
        (None, None) => {}
        (Some(x), Some(y)) => assert!((x - y).abs() < 1e-9, "{what}: by hand {x}, reported {y}"),
        _ => panic!("{what}: by hand {a:?}, reported {b}"),
    }
}

/// Sums `family` over the series of `tenant` whose `label` is `value`, in Prometheus text.
fn metric(text: &str, family: &str, tenant: &str, label: &str, value: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{family}{{")))
        .filter(|l| {
            l.contains(&format!("tenant=\"{tenant}\""))
                && l.contains(&format!("{label}=\"{value}\""))
        })
        .map(|l| {
            l.rsplit_once(' ')
                .and_then(|(_, v)| v.parse::<f64>().ok())
                .expect("a value")
        })
        .sum()
}

/// Replays `events` through the bundles under `bundles` and checks `tenant`'s per-site and
/// per-provider figures in the JSON report against a hand count and against the metrics;
/// returns the tenant's report.
fn check_against_hand_count(bundles: &str, events: &str, tenant: &str, declared: &[&str]) -> Value {
    let root = support::root();
    let dir = tempfile::tempdir().expect("tempdir");
    let commands_file = dir.path().join("commands.jsonl");
    let metrics_file = dir.path().join("replay.prom");
    let out = support::leitstand_command()
        .current_dir(&root)
        .args(["replay", "--bundles", bundles, "--report", "json"])
        .arg("--commands")
        .arg(&commands_file)
        .arg("--metrics")
        .arg(&metrics_file)
        .arg(events)
        .output()
        .expect("leitstand runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    let events = std::fs::read_to_string(root.join(events)).expect("events");
    let commands = std::fs::read_to_string(&commands_file).expect("commands");
    let metrics = std::fs::read_to_string(&metrics_file).expect("metrics");

    let t = report["tenants"]
        .as_array()
        .expect("tenants")
        .iter()
        .find(|t| t["tenant"] == tenant)
        .expect("the tenant in the report")
        .clone();
    let hand = hand_count(&events, &commands, tenant, declared, 20.0, 5.0);
    let sites = t["sites"].as_array().expect("sites");
    assert!(sites.len() >= declared.len(), "{sites:?}");
    let mut answered_total = 0;
    for line in sites {
        let name = line["site"].as_str().expect("site");
        let h = hand.get(name).copied().unwrap_or_default();
        let n = |k: &str| line[k].as_u64().unwrap_or_else(|| panic!("{name}.{k}"));
        assert_eq!(
            [
                n("offered"),
                n("answered"),
                n("answered_within"),
                n("abandoned"),
                n("short_abandoned"),
                n("ended")
            ],
            [
                h.offered,
                h.answered,
                h.answered_within,
                h.abandoned,
                h.short_abandoned,
                h.ended
            ],
            "site {name}: offered, answered, within, abandoned, short, ended"
        );
        let (a, ab, sh) = (
            h.answered as f64,
            h.abandoned as f64,
            h.short_abandoned as f64,
        );
        close(
            ratio(h.answered_within as f64, a + ab - sh),
            &line["service_level"],
            name,
        );
        close(ratio(h.wait, a), &line["asa_seconds"], name);
        close(ratio(ab - sh, a + ab - sh), &line["abandon_rate"], name);
        close(
            ratio(h.resolved as f64, h.reported as f64),
            &line["first_contact_resolution"],
            name,
        );
        // The metrics say the same.
        for (family, want) in [
            ("leitstand_site_calls_offered_total", h.offered),
            ("leitstand_site_calls_answered_total", h.answered),
            (
                "leitstand_site_calls_answered_within_threshold_total",
                h.answered_within,
            ),
            ("leitstand_site_calls_abandoned_total", h.abandoned),
            (
                "leitstand_site_calls_short_abandoned_total",
                h.short_abandoned,
            ),
            ("leitstand_site_calls_ended_total", h.ended),
            ("leitstand_site_calls_resolved_total", h.resolved),
        ] {
            assert_eq!(
                metric(&metrics, family, tenant, "site", name),
                want as f64,
                "{family} {name}"
            );
        }
        let wait = metric(
            &metrics,
            "leitstand_site_answered_wait_seconds_total",
            tenant,
            "site",
            name,
        );
        assert!((wait - h.wait).abs() < 1e-6, "wait sum {name}");
        if declared.contains(&name) {
            answered_total += h.answered;
        }
    }
    for name in hand.keys() {
        assert!(
            sites.iter().any(|s| s["site"] == name.as_str()),
            "{name} has a line"
        );
    }
    assert!(
        hand.values().map(|h| h.answered).sum::<u64>() > 1000,
        "a real day was counted"
    );

    // Providers: their sites together; shares of the calls answered at declared sites.
    for p in t["providers"].as_array().expect("providers") {
        let id = p["provider"].as_str().expect("id");
        let mut h = Hand::default();
        for s in p["sites"].as_array().expect("sites") {
            let x = hand
                .get(s.as_str().expect("site"))
                .copied()
                .unwrap_or_default();
            h.offered += x.offered;
            h.answered += x.answered;
            h.answered_within += x.answered_within;
            h.abandoned += x.abandoned;
            h.short_abandoned += x.short_abandoned;
        }
        assert_eq!(p["offered"].as_u64(), Some(h.offered), "{id} offered");
        assert_eq!(p["answered"].as_u64(), Some(h.answered), "{id} answered");
        assert_eq!(p["abandoned"].as_u64(), Some(h.abandoned), "{id} abandoned");
        let (a, ab, sh) = (
            h.answered as f64,
            h.abandoned as f64,
            h.short_abandoned as f64,
        );
        close(
            ratio(h.answered_within as f64, a + ab - sh),
            &p["service_level"],
            id,
        );
        close(
            ratio(a, answered_total as f64),
            &p["shares"][0]["actual"],
            id,
        );
        assert_eq!(
            p["days"][0]["offered"].as_u64(),
            Some(h.offered),
            "one day: {id}"
        );
        let cap = p["daily_cap"].as_f64();
        close(
            cap.map(|c| h.offered as f64 / c),
            &p["days"][0]["cap_used"],
            id,
        );
        assert_eq!(
            metric(
                &metrics,
                "leitstand_site_calls_answered_total",
                tenant,
                "provider",
                id
            ),
            a,
            "{id}: the metrics' provider label"
        );
        assert_eq!(
            metric(
                &metrics,
                "leitstand_provider_calls_today",
                tenant,
                "provider",
                id
            ),
            h.offered as f64,
            "{id}: calls today"
        );
        let target = p["target"].as_f64().expect("target");
        let below = p["intervals"]
            .as_array()
            .expect("intervals")
            .iter()
            .filter(|i| i["service_level"].as_f64().is_some_and(|l| l < target))
            .count();
        assert_eq!(p["intervals_below_target"].as_u64(), Some(below as u64));
    }
    t
}

/// The provider `id` of a tenant's report.
fn provider<'a>(t: &'a Value, id: &str) -> &'a Value {
    t["providers"]
        .as_array()
        .expect("providers")
        .iter()
        .find(|p| p["provider"] == id)
        .unwrap_or_else(|| panic!("provider {id}"))
}

#[test]
fn the_example_days_sites_and_providers_equal_a_hand_count_and_the_metrics() {
    let t = check_against_hand_count(
        "examples/bundles",
        "examples/day.jsonl",
        "rlp-impf",
        &["kaiserslautern", "mainz", "pirmasens", "saarbruecken"],
    );
    assert_eq!(t["providers"].as_array().map(Vec::len), Some(2));
    assert_eq!(provider(&t, "pfalzruf")["shares"][0]["contracted"], 0.8);
    assert_eq!(provider(&t, "saarcall")["daily_cap"], 600);
    assert_eq!(provider(&t, "saarcall")["target"], 0.75);
}

/// The national hotline of examples/national: three providers through the pool; Nordkontakt
/// misses its target in the afternoon only, the others keep theirs all day.
#[test]
fn the_national_hotline_equals_a_hand_count_and_one_provider_misses_in_the_afternoon() {
    let t = check_against_hand_count(
        "examples/national",
        "examples/national-day.jsonl",
        "bund-info",
        &["berlin", "hamburg", "kassel", "kiel", "leipzig"],
    );
    assert_eq!(t["providers"].as_array().map(Vec::len), Some(3));
    for id in ["callando", "hoerwerk"] {
        assert_eq!(provider(&t, id)["intervals_below_target"], 0, "{id}");
    }
    let nord = provider(&t, "nordkontakt");
    let missed: Vec<&str> = nord["intervals"]
        .as_array()
        .expect("intervals")
        .iter()
        .filter(|i| i["below_target"] == true)
        .map(|i| &i["start"].as_str().expect("start")[11..16])
        .collect();
    assert!(!missed.is_empty(), "Nordkontakt misses its target");
    assert!(
        missed.iter().all(|m| ("13:00".."17:00").contains(m)),
        "only in the afternoon: {missed:?}"
    );
    // The pool routed by the contracted shares: offered splits 50/30/20.
    let offered: Vec<u64> = ["callando", "hoerwerk", "nordkontakt"]
        .map(|id| provider(&t, id)["offered"].as_u64().expect("offered"))
        .to_vec();
    let all: u64 = offered.iter().sum();
    for (o, share) in offered.iter().zip([0.5, 0.3, 0.2]) {
        assert!(
            (*o as f64 / all as f64 - share).abs() < 0.001,
            "{offered:?}"
        );
    }
}

/// The provider pool reads the bundle's `[providers]` (`providers = "from-bundle"`): it
/// routes by their contracted shares and sites, and the report counts the routed calls as
/// offered at those sites, against the same caps.
#[test]
fn the_pool_routes_by_the_bundles_providers() {
    let tmp = tempfile::tempdir().expect("tempdir");
    support::write_bundle(
        tmp.path(),
        "t",
        HEADER,
        &[PluginEntry {
            name: "pool",
            guest: "leitstand_pool",
            subscribe: &["call.offered", "site.status"],
            grant: &["call.route"],
            limits: "",
            config: "providers = \"from-bundle\"\noverflow_target = \"ansage\"\nqueues = [\"q\"]\n",
        }],
    );
    let (ok, said) = check(tmp.path());
    assert!(ok, "{said}");
    let events: String = (0..4)
        .map(|n| {
            ev(
                &format!("o{n}"),
                "call.offered",
                &format!("2026-11-19T10:0{n}:00+01:00"),
                json!({"call_id": format!("c{n}"), "queue": "q"}),
            ) + "\n"
        })
        .collect();
    let run = support::replay(tmp.path(), &events);
    let routed: Vec<(&str, &str)> = run
        .commands
        .iter()
        .map(|c| {
            (
                c["data"]["target"].as_str().expect("target"),
                c["data"]["provider"].as_str().expect("provider"),
            )
        })
        .collect();
    assert_eq!(
        routed,
        [("a", "alpha"), ("b", "beta"), ("a", "alpha"), ("b", "beta")],
        "shares 50/50 of the bundle's providers"
    );
    let report = serde_json::to_value(run.report.sla()).expect("json");
    let t = &report["tenants"][0];
    assert_eq!(site(t, "a")["offered"], 2);
    assert_eq!(site(t, "b")["offered"], 2);
    let alpha = t["providers"]
        .as_array()
        .expect("providers")
        .iter()
        .find(|p| p["provider"] == "alpha")
        .expect("alpha");
    assert_eq!(alpha["days"][0]["cap_used"], 0.2);
}
