//! The Grafana dashboard and the recording rules against a live daemon: `leitstand run` on
//! the example bundles processes the example day from RabbitMQ while a real Prometheus
//! scrapes it every second and evaluates `ops/prometheus/rules/`. Then every rule must
//! evaluate without error, and every recording rule, every dashboard panel query and every
//! template variable must return data.
//!
//! Needs RabbitMQ (like the other broker tests: it fails when the broker is unreachable,
//! `LEITSTAND_SKIP_BROKER_TESTS=1` skips it explicitly) and Debian's `prometheus` (it fails
//! when it is missing; `make ops-tools` installs it).
//!
//! The example day is of 2026-11-19 while Prometheus' windows are in scrape time: the
//! counters grow while the daemon works through the day, within the first minute of
//! scraping, so the rules' 5- and 30-minute windows and the panels' rate windows (1 minute
//! here for `$__rate_interval`) all hold that growth when the queries run.
#![allow(missing_docs)]

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lapin::BasicProperties;

use support::broker::{Daemon, Vhost, free_port, publish_all, publisher, skip, structured, tap};
use support::ops;

/// A `prometheus` server of this test; killed on drop.
struct Prometheus {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Prometheus {
    /// Starts Prometheus scraping `target` every second, with both rule files evaluated every
    /// second and its storage in `dir`; waits until it is ready.
    fn start(target: SocketAddr, dir: &Path) -> Self {
        let binary = ops::tool("prometheus");
        let rules = ops::ops().join("prometheus/rules");
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 rule_files:\n  - {}\n  - {}\n\
                 scrape_configs:\n  - job_name: leitstand\n    static_configs:\n      \
                 - targets: [\"{target}\"]\n",
                rules.join("leitstand-recording.yml").display(),
                rules.join("leitstand-alerts.yml").display(),
            ),
        )
        .expect("write prometheus.yml");
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
        let log = dir.join("prometheus.log");
        let file = std::fs::File::create(&log).expect("prometheus.log");
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("prometheus-data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .spawn()
            .expect("start prometheus");
        let mut p = Self { child, addr, log };
        let deadline = Instant::now() + Duration::from_secs(60);
        while get(p.addr, "/-/ready").map(|(s, _)| s) != Some(200) {
            if let Ok(Some(status)) = p.child.try_wait() {
                panic!("prometheus exited with {status}:\n{}", p.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "prometheus did not get ready:\n{}",
                p.log_text()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        p
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `GET /api/v1/PATH`'s `data`.
    fn api(&self, path_and_query: &str) -> serde_json::Value {
        let (status, body) = get(self.addr, &format!("/api/v1/{path_and_query}"))
            .unwrap_or_else(|| panic!("prometheus does not answer:\n{}", self.log_text()));
        let v: serde_json::Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("/api/v1/{path_and_query}: {e}: {body}"));
        assert!(
            status == 200 && v["status"] == "success",
            "/api/v1/{path_and_query}: {status} {body}"
        );
        v["data"].clone()
    }

    /// The samples an instant query returns now.
    fn query(&self, expr: &str) -> Vec<serde_json::Value> {
        let data = self.api(&format!("query?query={}", encode(expr)));
        data["result"].as_array().cloned().unwrap_or_default()
    }

    /// The sum of the instant query's values, 0 for no samples.
    fn value(&self, expr: &str) -> f64 {
        self.query(expr)
            .iter()
            .filter_map(|s| s["value"][1].as_str()?.parse::<f64>().ok())
            .sum()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP/1.0 GET (no chunked answers): status and body.
fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
    Some((status, body))
}

/// Percent-encodes a query parameter.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The example day as deliveries (routing key `<tenant>.<type>`), and one malformed event of
/// soest so that the dead-letter panels have a reason to show.
fn example_day() -> Vec<(String, Vec<u8>, BasicProperties)> {
    let text = std::fs::read_to_string(support::root().join("examples/day.jsonl"))
        .expect("examples/day.jsonl");
    let mut out: Vec<_> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let e: serde_json::Value = serde_json::from_str(line).expect("an event");
            let key = format!(
                "{}.{}",
                e["tenant"].as_str().expect("tenant"),
                e["type"].as_str().expect("type")
            );
            (key, line.as_bytes().to_vec(), structured())
        })
        .collect();
    out.push((
        "soest.call.offered".into(),
        b"{\"specversion\": \"1.0\", \"id\": ".to_vec(),
        structured(),
    ));
    out
}

/// The sum of a counter family over all its series in the daemon's `/metrics`.
fn counter_sum(metrics: &str, family: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| {
            l.strip_prefix(family)
                .is_some_and(|rest| rest.starts_with(['{', ' ']))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_recording_rule_and_panel_has_data_from_the_example_day() {
    if skip() {
        return;
    }
    // Fail before anything starts when Prometheus is not installed.
    ops::tool("prometheus");
    let vhost = Vhost::new("dashboard");
    let tmp = tempfile::tempdir().expect("tmp");
    let daemon = Daemon::start(
        &vhost,
        &support::root().join("examples/bundles"),
        tmp.path(),
        // The ministry connector's endpoint (unreachable here: its deliveries retry).
        &[("RLP_IMPFPORTAL_TOKEN", "test-token")],
    );
    let conn = vhost.connect().await;
    // Commands need a queue to be routed to (the daemon counts unroutable ones as failures).
    tap(&conn, "test.commands", "leitstand.commands").await;
    let prometheus = Prometheus::start(daemon.http, tmp.path());

    // Scraped before the first event, so that every counter's growth lies in the windows.
    let deadline = Instant::now() + Duration::from_secs(30);
    while prometheus.value("up{job=\"leitstand\"}") < 1.0 {
        assert!(
            Instant::now() < deadline,
            "prometheus does not scrape the daemon:\n{}",
            prometheus.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let day = example_day();
    let ch = publisher(&conn).await;
    publish_all(&ch, &day).await;

    // Every delivery settled, and Prometheus has scraped the final counts.
    let n = day.len() as f64;
    let deadline = Instant::now() + Duration::from_secs(600);
    while counter_sum(&daemon.metrics(), "leitstand_events_total") < n {
        assert!(
            Instant::now() < deadline,
            "the daemon settled only {} of {n} events:\n{}",
            counter_sum(&daemon.metrics(), "leitstand_events_total"),
            daemon.report()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while prometheus.value("sum(leitstand_events_total)") < n {
        assert!(
            Instant::now() < deadline,
            "prometheus lags behind the daemon"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A few more rule evaluations on the final counts.
    tokio::time::sleep(Duration::from_secs(3)).await;

    // `promtool check metrics` on the daemon's live scrape: names, types, help, units.
    let scrape = daemon.metrics();
    let mut check = std::process::Command::new(ops::tool("promtool"))
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run promtool check metrics");
    {
        use std::io::Write as _;
        let mut stdin = check.stdin.take().expect("stdin");
        stdin
            .write_all(scrape.as_bytes())
            .expect("write the scrape to promtool");
    }
    let checked = check
        .wait_with_output()
        .expect("promtool check metrics ends");
    assert!(
        checked.status.success() && checked.stdout.is_empty() && checked.stderr.is_empty(),
        "promtool check metrics on the live scrape:\n{}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    for family in [
        "leitstand_calls_offered_total",
        "leitstand_call_wait_seconds",
        "leitstand_plugin_call_seconds",
    ] {
        assert!(
            scrape.contains(&format!("# TYPE {family} ")),
            "{family} is on the live scrape"
        );
    }

    // Every rule evaluates without error.
    let mut problems = Vec::new();
    for group in prometheus.api("rules")["groups"]
        .as_array()
        .expect("rule groups")
    {
        for rule in group["rules"].as_array().expect("rules") {
            if rule["health"] == "err" {
                problems.push(format!(
                    "rule {} fails: {}",
                    rule["name"], rule["lastError"]
                ));
            }
        }
    }

    // Every recording rule, panel query and template variable returns samples.
    let mut empty = Vec::new();
    for name in ops::recorded() {
        if prometheus.query(&name).is_empty() {
            empty.push(format!("recording rule {name}"));
        }
    }
    let dashboard = ops::dashboard();
    for q in ops::panel_queries(&dashboard) {
        let expr = ops::substitute(&q.expr);
        if prometheus.query(&expr).is_empty() {
            empty.push(format!("panel \"{}\" ({}): {expr}", q.panel, q.ref_id));
        }
    }
    for (name, query) in ops::variable_queries(&dashboard) {
        // label_values(SELECTOR, LABEL): the selector must have series.
        let selector = query
            .strip_prefix("label_values(")
            .and_then(|q| q.rsplit_once(','))
            .map(|(s, _)| ops::substitute(s))
            .unwrap_or_else(|| panic!("variable {name}: {query} is not label_values(…)"));
        if prometheus.query(&selector).is_empty() {
            empty.push(format!("variable {name}: {selector}"));
        }
    }
    if !empty.is_empty() {
        problems.push(format!(
            "{} queries return no data:\n  {}",
            empty.len(),
            empty.join("\n  ")
        ));
    }
    // Which alerts the day leaves pending or firing, for whoever reads a failure.
    let alerts: Vec<String> = prometheus
        .query("ALERTS")
        .iter()
        .map(|a| a["metric"].to_string())
        .collect();
    assert!(
        problems.is_empty(),
        "{}\n\nalerts: {alerts:#?}\n\nfamilies on /metrics:\n{}",
        problems.join("\n"),
        families(&daemon.metrics()).join(" ")
    );
}

/// The metric families a `/metrics` text has samples of.
fn families(metrics: &str) -> Vec<String> {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(|name| {
            ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .unwrap_or(name)
                .to_owned()
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}
