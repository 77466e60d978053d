//! The tenant's calendar end to end: `bundle check` refuses a bad one naming the key; the
//! `soest` example is closed on Good Friday 2027 — to its plugin, its `leitstand_tenant_open`
//! gauge and its client report alike — though no date of 2027 is typed into its bundle;
//! and one bundle runs components built against the plugin contract 0.1.0, 0.2.0 and 0.3.0
//! side by side, each on its own contract.

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use leitstand_calendar::DayKind;
use leitstand_engine::sandbox::{Contract, Sandbox};
use leitstand_engine::tenants::Bundle;
use leitstand_metrics::CustomMetrics;
use serde_json::json;
use support::PluginEntry;

/// Writes `manifest` as `<dir>/<name>/tenant.toml` and returns the bundle directory.
fn bundle(dir: &Path, name: &str, manifest: &str) -> PathBuf {
    let bundle = dir.join(name);
    std::fs::create_dir_all(&bundle).expect("bundle dir");
    std::fs::write(bundle.join("tenant.toml"), manifest).expect("manifest");
    bundle
}

/// `leitstand bundle check DIR`: (success, what it said).
fn check(dir: &Path) -> (bool, String) {
    let out = support::leitstand(&["bundle", "check", dir.to_str().expect("utf-8 path")]);
    let said =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    (out.status.success(), said)
}

#[test]
fn bundle_check_refuses_a_bad_calendar_naming_the_key() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let head = "id = \"amt\"\ntimezone = \"Europe/Berlin\"\n";
    let week = "hours = { mon = [\"08:00-17:00\"], thu = [\"08:00-12:00\", \"13:00-18:00\"] }\n";
    let good = format!(
        "{head}[calendar]\n{week}holidays = \"DE-NW\"\n\
         [calendars.kfz]\ninherit = \"tenant\"\nclosed = [\"2026-11-27\"]\n"
    );
    let (ok, said) = check(&bundle(tmp.path(), "good", &good));
    assert!(ok, "a valid calendar passes:\n{said}");

    for (name, manifest, key, reason) in [
        (
            "state",
            good.replace("\"DE-NW\"", "\"DE-XX\""),
            "calendar.holidays",
            "\"DE-XX\" is not a German state (one of DE-BW, DE-BY, DE-BE, DE-BB, DE-HB, \
             DE-HH, DE-HE, DE-MV, DE-NI, DE-NW, DE-RP, DE-SL, DE-SN, DE-ST, DE-SH, DE-TH)",
        ),
        (
            "overlap",
            good.replace("\"13:00-18:00\"", "\"11:00-18:00\""),
            "calendar.hours.thu[1]",
            "11:00-18:00 overlaps 08:00-12:00",
        ),
        (
            "overlap-named",
            format!(
                "{good}[calendars.buero]\nhours = {{ fri = [\"07:30-12:30\", \"12:00-14:00\"] }}\n"
            ),
            "calendars.buero.hours.fri[1]",
            "12:00-14:00 overlaps 07:30-12:30",
        ),
        (
            "unknown",
            good.replace("inherit = \"tenant\"", "inherit = \"rathaus\""),
            "calendars.kfz.inherit",
            "no calendar named \"rathaus\"",
        ),
    ] {
        let (ok, said) = check(&bundle(tmp.path(), name, &manifest));
        assert!(!ok, "{name}: refused:\n{said}");
        let expected = format!("tenant.toml: key `{key}`: {reason}");
        assert!(said.contains(&expected), "{name}: {expected:?} in:\n{said}");
    }

    // A plugin that asks a calendar the bundle does not declare is refused at load too.
    support::write_bundle(
        &tmp.path().join("nocalendar"),
        "ohne",
        "",
        &[PluginEntry {
            name: "rota",
            guest: "leitstand_rota",
            subscribe: &["call.offered"],
            grant: &["call.route"],
            limits: "",
            config: "[plugins.config.sites.kl]\n[plugins.config.duty]\ndefault_site = \"kl\"",
        }],
    );
    let (ok, said) = check(&tmp.path().join("nocalendar/ohne"));
    assert!(!ok, "{said}");
    assert!(
        said.contains(
            "key `plugins.rota.config`: the plugin refused its configuration: invalid-config: \
             calendar: the tenant declares no calendar; add `[calendar]` to its tenant.toml"
        ),
        "{said}"
    );
}

/// The soest example as a copy in `dir` can use: its plugin referred to by absolute path.
fn soest_copy(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(support::root().join("examples/bundles/soest/tenant.toml"))
        .expect("the soest example");
    let guest = support::guest("leitstand_switchboard");
    let text = text.replace(
        "\"../../../target/wasm32-wasip2/release/leitstand_switchboard.wasm\"",
        &format!("\"{}\"", guest.display()),
    );
    bundle(dir, "soest", &text)
}

#[test]
fn soest_is_closed_on_good_friday_2027_without_a_date_typed_into_its_bundle() {
    let manifest = support::root().join("examples/bundles/soest/tenant.toml");
    let text = std::fs::read_to_string(&manifest).expect("the soest example");
    // Nothing of Easter 2027 is written down: not Good Friday, not a year's holidays list.
    for typed in ["2027-03-26", "2027-", "26.03.2027", "Karfreitag"] {
        assert!(!text.contains(typed), "the bundle types {typed:?}");
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = soest_copy(tmp.path());

    // The calendar the bundle loads with.
    let loaded = Bundle::load(&dir).expect("the soest bundle loads");
    let calendar = loaded
        .service
        .calendar()
        .expect("soest declares a calendar");
    let good_friday = "2027-03-26".parse().expect("date");
    assert!(matches!(
        calendar.day(good_friday).kind,
        DayKind::Holiday(h) if h.label == "Karfreitag"
    ));
    let at = |t: &str| {
        chrono::DateTime::parse_from_rfc3339(t)
            .expect("time")
            .to_utc()
    };
    assert!(!calendar.is_open(at("2027-03-26T10:00:00+01:00")));
    // An ordinary Friday a week before and the Thursday before are open.
    assert!(calendar.is_open(at("2027-03-19T10:00:00+01:00")));
    assert!(calendar.is_open(at("2027-03-25T10:00:00+01:00")));

    // The switchboard asks the same calendar: the call hears the closed announcement.
    let events = [
        support::event(
            "soest",
            "thu",
            "call.offered",
            "2027-03-25T10:00:00+01:00",
            json!({"call_id": "c1", "queue": "kreis", "concern": "Zulassung"}),
        ),
        support::event(
            "soest",
            "fri",
            "call.offered",
            "2027-03-26T10:00:00+01:00",
            json!({"call_id": "c2", "queue": "kreis", "concern": "Zulassung"}),
        ),
    ]
    .join("\n");
    let run = support::replay(tmp.path(), &events);
    assert!(run.notices.is_empty(), "{:?}", run.notices);
    let routes: Vec<(String, String)> = run
        .commands
        .iter()
        .map(|c| {
            (
                c["data"]["reason"].as_str().unwrap_or_default().to_owned(),
                c["data"]["target"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        routes,
        [
            ("department".to_owned(), "kreis-kfz".to_owned()),
            ("holiday".to_owned(), "servicecenter-geschlossen".to_owned()),
        ]
    );

    // The core reads it too: the gauge says closed, the client's report says why.
    let file = tmp.path().join("good-friday.jsonl");
    std::fs::write(&file, events.lines().nth(1).expect("the Good Friday call")).expect("events");
    let metrics = tmp.path().join("metrics.prom");
    let out = support::leitstand(&[
        "replay",
        "--bundles",
        tmp.path().to_str().expect("utf-8"),
        "--metrics",
        metrics.to_str().expect("utf-8"),
        file.to_str().expect("utf-8"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let prom = std::fs::read_to_string(&metrics).expect("metrics");
    assert!(
        prom.lines()
            .any(|l| l == "leitstand_tenant_open{tenant=\"soest\"} 0"),
        "{prom}"
    );
    let out = support::leitstand(&[
        "report",
        "--bundles",
        tmp.path().to_str().expect("utf-8"),
        "--tenant",
        "soest",
        file.to_str().expect("utf-8"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(
        page.contains("data-key=\"hours\">closed (Karfreitag, public holiday)</dd>"),
        "the report's opening hours"
    );
}

/// The rota as a 0.3.0 plugin (asking the calendar), a calendar router built against 0.2.0
/// and the template as the last release built it, against 0.1.0, in one bundle.
fn mixed_bundle(dir: &Path) -> PathBuf {
    support::write_bundle(
        dir,
        "mixed",
        "[calendar]\nhours = { thu = [\"08:00-18:00\"] }\nholidays = \"DE-RP\"\n",
        &[
            PluginEntry {
                name: "rota",
                guest: "leitstand_rota",
                subscribe: &["call.offered", "site.status"],
                grant: &["call.route"],
                limits: "",
                config: "[plugins.config.sites.kaiserslautern]\n\
                         [plugins.config.duty]\ndefault_site = \"kaiserslautern\"\n\
                         [plugins.config.out_of_hours]\nannouncement = \"geschlossen\"",
            },
            PluginEntry {
                name: "calendar02",
                guest: "leitstand_calendar_v0_2",
                subscribe: &["call.offered"],
                grant: &["call.route"],
                limits: "",
                config: "open = \"team\"\nclosed = \"ansage\"",
            },
            PluginEntry {
                name: "legacy",
                guest: "leitstand_template_v0_1",
                subscribe: &["call.offered", "call.answered"],
                grant: &["call.route", "call.escalate"],
                limits: "",
                config: "default_target = \"team\"\nescalate_after_seconds = 60",
            },
        ],
    )
}

#[test]
fn a_bundle_runs_components_of_0_1_0_0_2_0_and_0_3_0_side_by_side() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = mixed_bundle(tmp.path());

    // Each component is prepared with the bindings of its own contract version.
    let bundle = Bundle::load(&dir).expect("the bundle loads");
    let sandbox =
        Sandbox::new(support::sandbox_config(), Arc::new(CustomMetrics::new())).expect("sandbox");
    let contracts: Vec<(String, Contract)> = bundle
        .plugins
        .iter()
        .map(|spec| {
            let plugin = sandbox
                .prepare(
                    spec,
                    &bundle.tenant,
                    bundle.timezone.name(),
                    bundle.service.calendars.clone(),
                )
                .unwrap_or_else(|e| panic!("{}: {e}", spec.name));
            (spec.name.clone(), plugin.contract())
        })
        .collect();
    assert_eq!(
        contracts,
        [
            ("rota".to_owned(), Contract::V0_3),
            ("calendar02".to_owned(), Contract::V0_2),
            ("legacy".to_owned(), Contract::V0_1),
        ]
    );

    // All decide on the same events: the rota and the 0.2.0 router by the calendar (open
    // on a Thursday, closed on the Thursday that is Corpus Christi in DE-RP), the old
    // template by its own rule, setting and firing its timer as it always did.
    let events = [
        support::event(
            "mixed",
            "e1",
            "call.offered",
            "2027-05-20T10:00:00+02:00",
            json!({"call_id": "c1", "queue": "q"}),
        ),
        support::event(
            "mixed",
            "e2",
            "call.offered",
            "2027-05-27T10:00:00+02:00",
            json!({"call_id": "c2", "queue": "q"}),
        ),
    ]
    .join("\n");
    let run = support::replay(tmp.path(), &events);
    assert!(run.notices.is_empty(), "{:?}", run.notices);
    let seen: Vec<(String, String, String)> = run
        .commands
        .iter()
        .map(|c| {
            (
                c["source"].as_str().unwrap_or_default().to_owned(),
                c["type"].as_str().unwrap_or_default().to_owned(),
                c["data"]["reason"]
                    .as_str()
                    .or(c["data"]["call_id"].as_str())
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect();
    let rota = |reason: &str| {
        (
            "leitstand/mixed/rota".to_owned(),
            "call.route".to_owned(),
            reason.to_owned(),
        )
    };
    let calendar02 = |reason: &str| {
        (
            "leitstand/mixed/calendar02".to_owned(),
            "call.route".to_owned(),
            reason.to_owned(),
        )
    };
    let legacy = |ty: &str, what: &str| {
        (
            "leitstand/mixed/legacy".to_owned(),
            ty.to_owned(),
            what.to_owned(),
        )
    };
    assert_eq!(
        seen,
        [
            rota("primary"),
            calendar02("open"),
            legacy("call.route", "default"),
            legacy("call.escalate", "c1"),
            rota("holiday"),
            calendar02("closed"),
            legacy("call.route", "default"),
            legacy("call.escalate", "c2"),
        ]
    );
}

/// Capabilities hold alike for every contract version: each component's state or metrics
/// import, of its own version, is refused without the grant.
#[test]
fn capabilities_are_checked_alike_for_every_contract_version() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = mixed_bundle(tmp.path());
    let mut bundle = Bundle::load(&dir).expect("the bundle loads");
    let sandbox =
        Sandbox::new(support::sandbox_config(), Arc::new(CustomMetrics::new())).expect("sandbox");
    for spec in &mut bundle.plugins {
        spec.capabilities.clear();
        let version = match spec.name.as_str() {
            "legacy" => "0.1.0",
            "calendar02" => "0.2.0",
            _ => "0.3.0",
        };
        let refused = sandbox
            .prepare(
                spec,
                &bundle.tenant,
                bundle.timezone.name(),
                bundle.service.calendars.clone(),
            )
            .expect_err("nothing is granted");
        let said = refused.to_string();
        assert!(
            ["state", "metrics"]
                .iter()
                .any(|cap| said.contains(&format!(
                    "imports leitstand:plugin/{cap}@{version}, but the bundle does not grant \
                 the capability \"{cap}\""
                ))),
            "{}: {said}",
            spec.name
        );
    }
}
