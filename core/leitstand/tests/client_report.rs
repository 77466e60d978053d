//! `leitstand report`: the client report of the example day carries the figures of the
//! JSON report (`leitstand replay --report json`, same input) and renders in a real
//! browser (headless Chromium) to a page that is not blank. The pages and screenshots are
//! kept under `target/tmp/client-report/` to look at.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const WIDTH: u32 = 1280;
const HEIGHT: u32 = 2400;

use support::leitstand;

fn example(name: &str) -> String {
    support::root()
        .join("examples")
        .join(name)
        .to_str()
        .expect("utf8")
        .to_owned()
}

fn out_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("client-report");
    std::fs::create_dir_all(&dir).expect("output dir");
    dir
}

/// The JSON report of the example day.
fn json_report() -> Value {
    let out = leitstand(&[
        "replay",
        "--bundles",
        &example("bundles"),
        "--report",
        "json",
        &example("day.jsonl"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

fn report_page(tenant: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "report",
        "--bundles",
        &example("bundles")[..],
        "--tenant",
        tenant,
    ]
    .into_iter()
    .map(str::to_owned)
    .collect::<Vec<_>>();
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    args.push(example("day.jsonl"));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    leitstand(&refs)
}

/// The value the page carries for a figure: as the JSON report writes it, empty for null.
fn json_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The part of `html` from `start` up to the next `end`.
fn between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let from = html
        .find(start)
        .unwrap_or_else(|| panic!("{start:?} not in the page"));
    let rest = &html[from..];
    &rest[..rest.find(end).unwrap_or(rest.len())]
}

fn shown_percent(v: &Value) -> String {
    v.as_f64()
        .map_or_else(|| "–".to_owned(), |v| format!("{:.1} %", v * 100.0))
}

/// Every figure of `q` (a queue of the JSON report) and of some of its intervals is on
/// the page, exactly.
fn check_queue(html: &str, q: &Value) {
    let id = q["queue"].as_str().expect("queue id");
    let section = between(html, &format!("data-queue=\"{id}\""), "</section>");
    let summary = between(section, "<table class=\"summary\">", "</table>");
    for key in [
        "offered",
        "answered",
        "answered_within",
        "abandoned",
        "short_abandoned",
        "service_level",
        "asa_seconds",
        "abandon_rate",
        "aht_seconds",
        "first_contact_resolution",
    ] {
        let cell = format!("data-key=\"{key}\" data-value=\"{}\">", json_text(&q[key]));
        assert!(
            summary.contains(&cell),
            "{id}: {cell} missing in\n{summary}"
        );
    }
    let level = format!(
        "data-key=\"service_level\" data-value=\"{}\">{}",
        json_text(&q["service_level"]),
        shown_percent(&q["service_level"])
    );
    assert!(summary.contains(&level), "{id}: {level}");
    let verdict = if q["target_met"] == true {
        "target met"
    } else {
        "target missed"
    };
    assert!(summary.contains(verdict), "{id}: {verdict}");

    let intervals = q["intervals"].as_array().expect("intervals");
    assert!(intervals.len() > 4, "{id}: a day of intervals");
    let target = q["target"].as_f64().expect("target");
    let picks = [
        0,
        intervals.len() / 3,
        intervals.len() / 2,
        intervals.len() - 1,
    ];
    let mut below_seen = false;
    for i in intervals {
        let start = i["start"].as_str().expect("start");
        let row = between(section, &format!("<tr data-start=\"{start}\""), "</tr>");
        let below = i["service_level"].as_f64().is_some_and(|l| l < target);
        below_seen |= below;
        assert_eq!(
            row.contains("class=\"below\""),
            below,
            "{id} {start}: highlighted iff below target: {row}"
        );
    }
    for pick in picks {
        let i = &intervals[pick];
        let start = i["start"].as_str().expect("start");
        let row = between(section, &format!("<tr data-start=\"{start}\""), "</tr>");
        for key in [
            "offered",
            "answered",
            "abandoned",
            "service_level",
            "asa_seconds",
            "abandon_rate",
            "agents_required",
            "agents_scheduled",
        ] {
            let cell = format!("data-key=\"{key}\" data-value=\"{}\">", json_text(&i[key]));
            assert!(
                row.contains(&cell),
                "{id} {start}: {cell} missing in\n{row}"
            );
        }
        let level = format!(
            "data-value=\"{}\">{}",
            json_text(&i["service_level"]),
            shown_percent(&i["service_level"])
        );
        assert!(row.contains(&level), "{id} {start}: {level} in\n{row}");
    }
    assert!(
        below_seen || q["target_met"] == true,
        "{id}: a missed day has intervals below target"
    );
}

fn chromium() -> PathBuf {
    let candidates = [
        std::env::var_os("LEITSTAND_CHROMIUM").map(PathBuf::from),
        Some(PathBuf::from("/usr/bin/chromium")),
        Some(PathBuf::from("/usr/bin/chromium-browser")),
    ];
    if let Some(found) = candidates.into_iter().flatten().find(|p| p.is_file()) {
        return found;
    }
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    panic!(
        "headless Chromium is needed to check that the client report renders{}: install it \
         (`apt-get install chromium`) or point LEITSTAND_CHROMIUM at the binary",
        if ci { " (CI=true)" } else { "" }
    );
}

/// Screenshots `page` with headless Chromium into `png`, within a time limit.
fn screenshot(page: &Path, png: &Path) {
    let home = tempfile::tempdir().expect("browser home");
    let _ = std::fs::remove_file(png);
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--no-first-run",
            &format!("--user-data-dir={}", home.path().join("profile").display()),
            &format!("--screenshot={}", png.display()),
            &format!("--window-size={WIDTH},{HEIGHT}"),
            &format!("file://{}", page.display()),
        ])
        .env("HOME", home.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium starts");
    let limit = Duration::from_secs(120);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for chromium") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "chromium took longer than {limit:?} to screenshot {}",
                page.display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = child.wait_with_output().expect("chromium output");
    assert!(
        status.success() && png.is_file(),
        "chromium failed ({status}): {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The screenshot is a PNG of the window's size with a drawing on it: many colours, a
/// fair share of pixels that are not the background.
fn check_screenshot(png: &Path) {
    let file = std::fs::File::open(png).expect("screenshot");
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().expect("a valid PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("buffer size")];
    let info = reader.next_frame(&mut buf).expect("a PNG frame");
    assert_eq!((info.width, info.height), (WIDTH, HEIGHT), "window size");
    let channels = info.color_type.samples();
    let pixels = &buf[..info.buffer_size()];
    let mut colours = std::collections::HashSet::new();
    let mut inked = 0usize;
    for px in pixels.chunks_exact(channels) {
        let rgb = (px[0], px[1], px[2.min(channels - 1)]);
        colours.insert(rgb);
        if rgb != (255, 255, 255) {
            inked += 1;
        }
    }
    let total = (WIDTH * HEIGHT) as usize;
    assert!(
        colours.len() > 50,
        "{}: only {} colours, the page looks blank",
        png.display(),
        colours.len()
    );
    assert!(
        inked * 50 > total,
        "{}: only {inked} of {total} pixels drawn",
        png.display()
    );
}

#[test]
fn the_client_report_carries_the_json_figures_and_renders() {
    let report = json_report();
    let dir = out_dir();
    for (tenant, target) in [("soest", "75 % in 30 s"), ("rlp-impf", "80 % in 20 s")] {
        let page = dir.join(format!("{tenant}.html"));
        let out = report_page(tenant, &["--out", page.to_str().expect("utf8")]);
        assert!(
            out.status.success(),
            "{tenant}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let html = std::fs::read_to_string(&page).expect("the page");
        let t = report["tenants"]
            .as_array()
            .expect("tenants")
            .iter()
            .find(|t| t["tenant"] == tenant)
            .expect("tenant in the JSON report");
        assert!(html.contains("data-key=\"day\">Thursday, 2026-11-19"));
        assert!(
            html.contains(&format!("data-key=\"target\">{target}")),
            "{tenant}"
        );
        assert!(html.contains("Europe/Berlin"));
        assert!(html.contains("Generated by Leitstand"));
        assert!(html.contains("<svg"));
        let name = t["name"].as_str().expect("name");
        assert!(
            html.contains(&format!("<h1>{name}</h1>")),
            "{tenant}: {name}"
        );
        for q in t["queues"].as_array().expect("queues") {
            check_queue(&html, q);
        }
        // The same page on standard output, for the given day.
        let again = report_page(tenant, &["--day", "2026-11-19"]);
        assert!(again.status.success());
        assert_eq!(String::from_utf8_lossy(&again.stdout), html);

        let png = dir.join(format!("{tenant}.png"));
        screenshot(&page, &png);
        check_screenshot(&png);
    }
}

#[test]
fn an_unknown_tenant_or_an_empty_day_is_refused_with_exit_2() {
    let out = report_page("nobody", &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--tenant nobody"), "{stderr}");
    assert!(
        stderr.contains("soest"),
        "names the tenants there are: {stderr}"
    );

    let out = report_page("soest", &["--day", "2026-11-20"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--day 2026-11-20"), "{stderr}");
    assert!(
        stderr.contains("2026-11-19"),
        "names the days with events: {stderr}"
    );
    assert!(out.stdout.is_empty());

    let out = report_page("soest", &["--day", "19.11.2026"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--day"));
}

/// The providers' scorecard of rlp-impf carries the JSON report's figures per provider and
/// per site, flags the provider that missed its target, and renders in Chromium.
#[test]
fn the_scorecard_shows_each_provider_against_its_contract() {
    let report = json_report();
    let t = report["tenants"]
        .as_array()
        .expect("tenants")
        .iter()
        .find(|t| t["tenant"] == "rlp-impf")
        .expect("rlp-impf");
    let dir = out_dir();
    let page = dir.join("rlp-impf-scorecard.html");
    let out = report_page("rlp-impf", &["--out", page.to_str().expect("utf8")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = std::fs::read_to_string(&page).expect("the page");
    let card = between(&html, "data-section=\"providers\"", "</section>");
    let providers = t["providers"].as_array().expect("providers");
    assert_eq!(providers.len(), 2);
    for p in providers {
        let id = p["provider"].as_str().expect("id");
        let row = between(card, &format!("<tr data-provider=\"{id}\""), "</tr>");
        assert!(
            row.contains(&esc(p["name"].as_str().expect("name"))),
            "{row}"
        );
        for key in [
            "offered",
            "answered",
            "abandoned",
            "service_level",
            "target",
            "intervals_below_target",
            "asa_seconds",
            "abandon_rate",
            "first_contact_resolution",
        ] {
            let cell = format!("data-key=\"{key}\" data-value=\"{}\">", json_text(&p[key]));
            assert!(row.contains(&cell), "{id}: {cell} in {row}");
        }
        let share = &p["shares"][0];
        assert!(
            row.contains(&format!(
                "data-actual=\"{}\" data-contracted=\"{}\"",
                json_text(&share["actual"]),
                json_text(&share["contracted"])
            )),
            "{id}: share in {row}"
        );
        let missed = p["target_met"] == false;
        assert_eq!(row.contains("target missed"), missed, "{id}: {row}");
        assert_eq!(
            card.contains(&format!("data-missed=\"{id}\"")),
            p["intervals_below_target"].as_u64() > Some(0),
            "{id}: the intervals below target are listed"
        );
    }
    assert!(card.contains("data-key=\"cap_used\""), "the daily cap used");
    for s in t["sites"].as_array().expect("sites") {
        let id = s["site"].as_str().expect("site");
        let row = between(card, &format!("<tr data-site=\"{id}\""), "</tr>");
        let cell = format!(
            "data-key=\"answered\" data-value=\"{}\">",
            json_text(&s["answered"])
        );
        assert!(row.contains(&cell), "{id}: {cell} in {row}");
    }
    // A tenant without sites has no scorecard.
    let soest = report_page("soest", &[]);
    assert!(!String::from_utf8_lossy(&soest.stdout).contains("data-section=\"providers\""));

    let png = dir.join("rlp-impf-scorecard.png");
    screenshot(&page, &png);
    check_screenshot(&png);

    // The national hotline: Nordkontakt's afternoon intervals below its target are named.
    let national = dir.join("bund-info.html");
    let out = leitstand(&[
        "report",
        "--bundles",
        &example("national"),
        "--tenant",
        "bund-info",
        "--out",
        national.to_str().expect("utf8"),
        &example("national-day.jsonl"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = std::fs::read_to_string(&national).expect("the page");
    let card = between(&html, "data-section=\"providers\"", "</section>");
    for id in ["callando", "hoerwerk", "nordkontakt"] {
        assert!(
            card.contains(&format!("<tr data-provider=\"{id}\"")),
            "{id}"
        );
    }
    assert!(card.contains("data-missed=\"nordkontakt\""), "{card}");
    assert!(!card.contains("data-missed=\"callando\""), "{card}");
    let png = dir.join("bund-info.png");
    screenshot(&national, &png);
    check_screenshot(&png);
}

/// HTML text as the page escapes it.
fn esc(text: &str) -> String {
    leitstand_sla::report::esc(text)
}
