//! A fixture case: its files (`config.toml`, `events.jsonl`, `expect.jsonl`, optional
//! `endpoints.toml`, `calendar.toml` and `harness.toml`), the harness settings, the
//! simulated endpoints, and a suite of cases in a directory.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use chrono::DateTime;
use leitstand_contract::delivery::Answer;
use serde::Deserialize;
use serde_json::Value;

/// The file names of a case directory.
pub const CONFIG_FILE: &str = "config.toml";
/// The fixture's events.
pub const EVENTS_FILE: &str = "events.jsonl";
/// The fixture's expectation.
pub const EXPECT_FILE: &str = "expect.jsonl";
/// The simulated endpoints.
pub const ENDPOINTS_FILE: &str = "endpoints.toml";
/// The harness settings.
pub const SETTINGS_FILE: &str = "harness.toml";
/// The tenant's calendars: `[calendar]` and `[calendars.<name>]` as in a bundle's
/// `tenant.toml`, in the case or the suite directory.
pub const CALENDAR_FILE: &str = "calendar.toml";

/// `harness.toml`: how the plugin is set up for a case.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The tenant's IANA timezone (default `Europe/Berlin`).
    pub timezone: Option<String>,
    /// Command types granted (default: every type; the expectation checks what is emitted).
    pub grant: Option<Vec<String>>,
    /// Capabilities granted (`state`, `timers`, `metrics`; default: all of them).
    pub capabilities: Option<Vec<String>>,
    /// Per-call limits; each defaults as in a bundle.
    #[serde(default)]
    pub limits: LimitSettings,
}

/// `[limits]` of `harness.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    /// CPU milliseconds per call.
    pub cpu_ms: Option<u64>,
    /// Wall milliseconds per call.
    pub wall_ms: Option<u64>,
    /// Memory in MiB.
    pub memory_mib: Option<u64>,
}

impl Settings {
    /// Reads `harness.toml` at `path`.
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("{}", path.display()))
    }

    /// These settings with `other`'s keys taking precedence.
    pub fn overridden_by(self, other: Settings) -> Settings {
        Settings {
            timezone: other.timezone.or(self.timezone),
            grant: other.grant.or(self.grant),
            capabilities: other.capabilities.or(self.capabilities),
            limits: LimitSettings {
                cpu_ms: other.limits.cpu_ms.or(self.limits.cpu_ms),
                wall_ms: other.limits.wall_ms.or(self.limits.wall_ms),
                memory_mib: other.limits.memory_mib.or(self.limits.memory_mib),
            },
        }
    }
}

/// One simulated endpoint of `endpoints.toml`: `[<name>]` with its answers in event time
/// and, optionally, the retry policy keys of a bundle's endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimEndpoint {
    /// Tried in order: the first answer whose `until` lies after the attempt answers; the
    /// last one should have no `until`.
    pub answers: Vec<SimAnswer>,
    /// As in a bundle (default 1,000).
    pub first_backoff_ms: Option<u64>,
    /// As in a bundle (default 300,000).
    pub max_backoff_ms: Option<u64>,
    /// As in a bundle (default 160).
    pub max_attempts: Option<u32>,
}

/// One answer of a simulated endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimAnswer {
    /// This answer holds for attempts before this time (RFC 3339); absent: forever.
    pub until: Option<String>,
    /// The endpoint cannot be reached (connection refused).
    #[serde(default)]
    pub down: bool,
    /// The status it answers with (default 200).
    pub status: Option<u16>,
    /// The body it answers with.
    #[serde(default)]
    pub body: Value,
}

/// A case's inputs.
#[derive(Debug, Clone)]
pub struct Case {
    /// A name for reports (the case directory's name).
    pub name: String,
    /// The plugin's configuration (TOML).
    pub config: PathBuf,
    /// The events.
    pub events: PathBuf,
    /// The expectation.
    pub expect: PathBuf,
    /// Simulated endpoints, when the plugin posts.
    pub endpoints: Option<PathBuf>,
    /// The tenant's calendars, when the case (or its suite) declares them.
    pub calendar: Option<PathBuf>,
    /// Settings.
    pub settings: Settings,
}

impl Case {
    /// The case in directory `dir`, with `inherited` settings (the suite's) overridden by
    /// the case's own `harness.toml`, and the case's `calendar.toml`, else the suite's (in
    /// the directory above).
    pub fn in_dir(dir: &Path, inherited: &Settings) -> anyhow::Result<Self> {
        let own = dir.join(SETTINGS_FILE);
        let settings = if own.is_file() {
            inherited.clone().overridden_by(Settings::read(&own)?)
        } else {
            inherited.clone()
        };
        let endpoints = dir.join(ENDPOINTS_FILE);
        let calendar = [Some(dir), dir.parent()]
            .into_iter()
            .flatten()
            .map(|d| d.join(CALENDAR_FILE))
            .find(|f| f.is_file());
        Ok(Self {
            name: dir
                .file_name()
                .map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into()),
            config: dir.join(CONFIG_FILE),
            events: dir.join(EVENTS_FILE),
            expect: dir.join(EXPECT_FILE),
            endpoints: endpoints.is_file().then_some(endpoints),
            calendar,
            settings,
        })
    }
}

/// Every case of the suite in `dir`: each subdirectory holding an `events.jsonl`, sorted
/// by name, with the suite's `harness.toml` as their defaults.
pub fn suite(dir: &Path) -> anyhow::Result<Vec<Case>> {
    let settings_file = dir.join(SETTINGS_FILE);
    let settings = if settings_file.is_file() {
        Settings::read(&settings_file)?
    } else {
        Settings::default()
    };
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read suite {}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join(EVENTS_FILE).is_file())
        .collect();
    dirs.sort();
    if dirs.is_empty() {
        bail!(
            "{}: no case here (a case is a subdirectory with {EVENTS_FILE}, {CONFIG_FILE} and {EXPECT_FILE})",
            dir.display()
        );
    }
    dirs.iter().map(|d| Case::in_dir(d, &settings)).collect()
}

impl SimEndpoint {
    pub(super) fn answer(&self, at_ms: i64) -> Answer {
        let rule = self.answers.iter().find(|a| match &a.until {
            Some(until) => DateTime::parse_from_rfc3339(until)
                .map(|u| at_ms < u.timestamp_millis())
                .unwrap_or(false),
            None => true,
        });
        match rule {
            None => Answer::Unreachable("no answer is configured for this time".into()),
            Some(a) if a.down => Answer::Unreachable("connection refused".into()),
            Some(a) => Answer::Status {
                status: a.status.unwrap_or(200),
                body: a.body.clone(),
            },
        }
    }
}
