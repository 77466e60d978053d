//! What a case did, line by line, against what its fixture expects: the lines, the
//! line-by-line difference (a longest common subsequence) and how it is shown.

use chrono::DateTime;
use serde_json::{Map, Value, json};

/// One line of a case's output or expectation.
///
/// - a command: `{"time", "cause", "type", "subject"?, "data"}` — `time` is the causing
///   event's (compared as an instant), `cause` its id (`timer/<name>/<due ms>` for a timer,
///   `http/<request id>` for an `http.response`);
/// - a plugin failure: `{"cause", "failure": <kind>, "detail"}`;
/// - an attempt to deliver an `http.post`: `{"time", "http": <endpoint>, "attempt",
///   "idempotency_key", "status" | "error", "outcome"}` with outcome `retry`, `delivered`,
///   `rejected` or `gave-up`;
/// - a refused event line: `{"line", "rejected": <reason>, "detail"}`;
/// - a refused configuration: `{"refused": <message>}`.
pub type Line = Map<String, Value>;

/// How one case went.
#[derive(Debug, Clone)]
pub struct CaseReport {
    /// The case's name.
    pub name: String,
    /// What the plugin did.
    pub actual: Vec<Line>,
    /// What the fixture expects.
    pub expected: Vec<Line>,
    /// The difference, empty when the case passes.
    pub diff: Vec<DiffLine>,
}

impl CaseReport {
    /// Whether the plugin did exactly what the fixture expects.
    pub fn passed(&self) -> bool {
        self.diff.is_empty()
    }
}

/// One line of a difference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiffLine {
    /// Expected and done (1-based line numbers in expectation and output).
    Same(usize, usize, String),
    /// Expected, not done.
    Missing(usize, String),
    /// Done, not expected.
    Extra(usize, String),
}

impl std::fmt::Display for CaseReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.passed() {
            return writeln!(f, "ok      {} ({} lines)", self.name, self.actual.len());
        }
        writeln!(f, "FAILED  {}", self.name)?;
        writeln!(
            f,
            "  - expected (line of expect.jsonl), + what the plugin did (its output line):"
        )?;
        // Context: unchanged lines within two of a change.
        let changed: Vec<bool> = self
            .diff
            .iter()
            .map(|d| !matches!(d, DiffLine::Same(..)))
            .collect();
        let near = |i: usize| {
            let lo = i.saturating_sub(2);
            let hi = (i + 2).min(changed.len() - 1);
            changed[lo..=hi].iter().any(|c| *c)
        };
        let mut skipped = false;
        for (i, d) in self.diff.iter().enumerate() {
            match d {
                DiffLine::Same(e, _, text) if near(i) => {
                    skipped = false;
                    writeln!(f, "    {e:>4}  {text}")?;
                }
                DiffLine::Same(..) => {
                    if !skipped {
                        writeln!(f, "    ...")?;
                        skipped = true;
                    }
                }
                DiffLine::Missing(e, text) => {
                    skipped = false;
                    writeln!(f, "  - {e:>4}  {text}")?;
                }
                DiffLine::Extra(a, text) => {
                    skipped = false;
                    writeln!(f, "  + {a:>4}  {text}")?;
                }
            }
        }
        Ok(())
    }
}

/// A line in a form where equal meanings compare equal: `time` as an instant.
fn normalised(line: &Line) -> Value {
    let mut line = line.clone();
    if let Some(t) = line
        .get("time")
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
    {
        line.insert("time".into(), json!(t.timestamp_millis()));
    }
    Value::Object(line)
}

/// The line-by-line difference of `expected` and `actual` (a longest common subsequence).
pub fn diff(expected: &[Line], actual: &[Line]) -> Vec<DiffLine> {
    let e: Vec<Value> = expected.iter().map(normalised).collect();
    let a: Vec<Value> = actual.iter().map(normalised).collect();
    if e == a {
        return Vec::new();
    }
    let (n, m) = (e.len(), a.len());
    // lcs[i][j]: the longest common subsequence of e[i..] and a[j..].
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if e[i] == a[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < n || j < m {
        if i < n && j < m && e[i] == a[j] {
            out.push(DiffLine::Same(i + 1, j + 1, render(&actual[j])));
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push(DiffLine::Missing(i + 1, render(&expected[i])));
            i += 1;
        } else {
            out.push(DiffLine::Extra(j + 1, render(&actual[j])));
            j += 1;
        }
    }
    out
}

/// The order keys are printed in: what happened when, then what it carries.
const KEY_ORDER: [&str; 17] = [
    "time",
    "cause",
    "line",
    "type",
    "subject",
    "http",
    "attempt",
    "idempotency_key",
    "status",
    "error",
    "outcome",
    "failure",
    "rejected",
    "duplicate",
    "refused",
    "detail",
    "data",
];

/// One line as JSON text, its keys in a fixed order (time, cause, type, subject, …, data),
/// others after them.
pub fn render(line: &Line) -> String {
    let rank = |k: &str| {
        KEY_ORDER
            .iter()
            .position(|o| *o == k)
            .unwrap_or(KEY_ORDER.len())
    };
    let mut keys: Vec<&String> = line.keys().collect();
    keys.sort_by_key(|k| (rank(k), (*k).clone()));
    let fields: Vec<String> = keys
        .into_iter()
        .map(|k| format!("{}:{}", Value::String(k.clone()), line[k.as_str()]))
        .collect();
    format!("{{{}}}", fields.join(","))
}
