//! Helpers for the tests of the operations kit in `ops/`: the tools it is checked with
//! (promtool, prometheus), the metric catalogue of docs/METRICS.md, the rule files and the
//! Grafana dashboard's queries.
//!
//! The tools come from Debian's `prometheus` and `systemd` packages, which `make ops-tools`
//! (part of `make test`) installs when they are missing. A missing tool fails the test that needs it, with the command that
//! installs it; it never skips.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_norway::Value as Yaml;

/// `ops/` of the checkout.
pub fn ops() -> PathBuf {
    super::root().join("ops")
}

/// The path of `tool` (`promtool`, `prometheus`) after checking that it runs.
pub fn tool(tool: &str) -> PathBuf {
    tool_of(tool, "prometheus")
}

/// The path of `tool` from the Debian package `package` after checking that it runs.
pub fn tool_of(tool: &str, package: &str) -> PathBuf {
    match Command::new(tool).arg("--version").output() {
        Ok(out) if out.status.success() => PathBuf::from(tool),
        Ok(out) => panic!(
            "`{tool} --version` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => panic!(
            "{tool} is missing ({e}): install it with `apt-get install {package}` \
             (or run `make ops-tools`)"
        ),
    }
}

/// Runs `promtool ARGS…` in `ops/prometheus` and panics with its output unless it succeeds.
pub fn promtool(args: &[&str]) -> String {
    let out = Command::new(tool("promtool"))
        .args(args)
        .current_dir(ops().join("prometheus"))
        .output()
        .expect("run promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

/// A metric family of docs/METRICS.md: its name and whether it is a histogram.
pub type Catalogue = BTreeMap<String, bool>;

/// The families docs/METRICS.md lists: every table row whose first cell is a
/// `` `leitstand_…` `` name, with its type.
pub fn catalogue() -> Catalogue {
    let path = super::root().join("docs/METRICS.md");
    let text = std::fs::read_to_string(&path).expect("docs/METRICS.md");
    let mut out = Catalogue::new();
    for line in text.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // "| `name` | type | labels | meaning |" splits into ["", name, type, …].
        let (Some(name), Some(kind)) = (cells.get(1), cells.get(2)) else {
            continue;
        };
        if let Some(name) = name
            .strip_prefix('`')
            .and_then(|n| n.strip_suffix('`'))
            .filter(|n| n.starts_with("leitstand_"))
        {
            out.insert(name.to_owned(), *kind == "histogram");
        }
    }
    assert!(
        out.len() > 30,
        "docs/METRICS.md lists only {} metrics: did its table format change?",
        out.len()
    );
    out
}

/// One rule of a rule file: its group, `record` or `alert` name, expression and the rest.
#[derive(Debug, Clone)]
pub struct Rule {
    pub group: String,
    pub record: Option<String>,
    pub alert: Option<String>,
    pub expr: String,
    pub yaml: Yaml,
}

/// Reads a YAML file of `ops/`.
pub fn yaml(path: &Path) -> Yaml {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The rules of `ops/prometheus/rules/FILE`.
pub fn rules(file: &str) -> Vec<Rule> {
    let path = ops().join("prometheus/rules").join(file);
    let doc = yaml(&path);
    let mut out = Vec::new();
    for group in doc["groups"].as_sequence().expect("groups") {
        let name = group["name"].as_str().expect("group name");
        for rule in group["rules"].as_sequence().expect("rules") {
            out.push(Rule {
                group: name.to_owned(),
                record: rule["record"].as_str().map(str::to_owned),
                alert: rule["alert"].as_str().map(str::to_owned),
                expr: rule["expr"].as_str().expect("expr").to_owned(),
                yaml: rule.clone(),
            });
        }
    }
    out
}

/// The names the recording rules record.
pub fn recorded() -> BTreeSet<String> {
    rules("leitstand-recording.yml")
        .into_iter()
        .filter_map(|r| r.record)
        .collect()
}

/// The promtool test files `ops/prometheus/tests/*.yml`, by file name.
pub fn rule_tests() -> BTreeMap<String, Yaml> {
    let dir = ops().join("prometheus/tests");
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).expect("ops/prometheus/tests") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "yml") {
            let name = path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            out.insert(name, yaml(&path));
        }
    }
    assert!(!out.is_empty(), "no promtool tests in {}", dir.display());
    out
}

/// The metric names (and recording rule names) an expression selects: identifiers starting
/// with `leitstand`, after string literals are taken out.
pub fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut bare = String::with_capacity(expr.len());
    let mut quote = None;
    let mut escaped = false;
    for c in expr.chars() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
                bare.push(' ');
            }
            None if matches!(c, '"' | '\'' | '`') => {
                quote = Some(c);
                bare.push(' ');
            }
            None => bare.push(c),
        }
    }
    bare.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|t| t.starts_with("leitstand"))
        .map(str::to_owned)
        .collect()
}

/// Whether `name` is a family of the catalogue (a histogram's `_bucket`, `_sum` and `_count`
/// included) or a recording rule.
pub fn known(name: &str, catalogue: &Catalogue, recorded: &BTreeSet<String>) -> bool {
    if recorded.contains(name) || catalogue.contains_key(name) {
        return true;
    }
    ["_bucket", "_sum", "_count"].iter().any(|suffix| {
        name.strip_suffix(suffix)
            .is_some_and(|base| catalogue.get(base) == Some(&true))
    })
}

/// `ops/grafana/leitstand.json`.
pub fn dashboard() -> serde_json::Value {
    let path = ops().join("grafana/leitstand.json");
    let text = std::fs::read_to_string(&path).expect("ops/grafana/leitstand.json");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One panel's query.
#[derive(Debug, Clone)]
pub struct PanelQuery {
    pub panel: String,
    pub ref_id: String,
    pub expr: String,
}

/// Every panel of the dashboard that is not a row, rows' nested panels included.
pub fn panels(dashboard: &serde_json::Value) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for p in dashboard["panels"].as_array().expect("panels") {
        if p["type"] == "row" {
            out.extend(p["panels"].as_array().into_iter().flatten().cloned());
        } else {
            out.push(p.clone());
        }
    }
    out
}

/// Every query of every panel.
pub fn panel_queries(dashboard: &serde_json::Value) -> Vec<PanelQuery> {
    let mut out = Vec::new();
    for p in panels(dashboard) {
        let title = p["title"].as_str().unwrap_or("(untitled)");
        for t in p["targets"].as_array().into_iter().flatten() {
            out.push(PanelQuery {
                panel: title.to_owned(),
                ref_id: t["refId"].as_str().unwrap_or("?").to_owned(),
                expr: t["expr"].as_str().unwrap_or_default().to_owned(),
            });
        }
    }
    out
}

/// The dashboard's template variables that query Prometheus, as (name, query).
pub fn variable_queries(dashboard: &serde_json::Value) -> Vec<(String, String)> {
    dashboard["templating"]["list"]
        .as_array()
        .expect("templating.list")
        .iter()
        .filter(|v| v["type"] == "query")
        .map(|v| {
            let query = v["query"]["query"]
                .as_str()
                .or_else(|| v["query"].as_str())
                .expect("variable query");
            (
                v["name"].as_str().expect("variable name").to_owned(),
                query.to_owned(),
            )
        })
        .collect()
}

/// A panel expression as Prometheus runs it once Grafana has filled in the variables:
/// every tenant and queue, one-minute rate windows.
pub fn substitute(expr: &str) -> String {
    expr.replace("$tenant", ".*")
        .replace("$queue", ".*")
        .replace("$__rate_interval", "1m")
        .replace("$__interval", "1m")
}
