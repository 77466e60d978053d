//! The plugin test harness: `leitstand plugin test`. Runs one plugin over fixture events —
//! with state, timers in event time and simulated HTTP endpoints — on the replay's path
//! through the store, and compares what it did with the fixture's expectation, line by
//! line. Integrators test a plugin without writing host code.
//!
//! A case is a directory (or four files named on the command line):
//!
//! - `config.toml`: the plugin's configuration (the bundle's `[plugins.config]` table);
//! - `events.jsonl`: CloudEvents, one per line, in time order, all of one tenant;
//! - `expect.jsonl`: what the plugin does, one JSON object per line (see [`Line`]);
//! - `endpoints.toml` (optional): simulated endpoints for `http.post` ([`SimEndpoint`]);
//! - `calendar.toml` (optional, in the case or the suite directory): the tenant's
//!   calendars, `[calendar]` and `[calendars.<name>]` as in a bundle, which plugins of
//!   contract 0.2.0 and later ask about;
//! - `harness.toml` (optional, in the case or the suite directory): [`Settings`].

mod case;
mod diff;
pub mod template;

pub use case::{
    CALENDAR_FILE, CONFIG_FILE, Case, ENDPOINTS_FILE, EVENTS_FILE, EXPECT_FILE, LimitSettings,
    SETTINGS_FILE, Settings, SimAnswer, SimEndpoint, suite,
};
pub use diff::{CaseReport, DiffLine, Line, diff, render};

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value, json};

use crate::replay::{Notice, Replay, ReplayOptions};
use leitstand_calendar::{Calendars, CalendarsFile};
use leitstand_contract::delivery::{self, Answer, Next, Request};
use leitstand_contract::envelope::IntakeLimits;
use leitstand_engine::dispatch::Dispatcher;
use leitstand_engine::sandbox::{GRANT_ALL, Sandbox};
use leitstand_engine::state::{Detached, StateStore};
use leitstand_engine::tenants::{
    Bundle, Capability, Endpoint, FailurePolicy, HTTP_POST, PluginLimits, PluginSpec,
    QuarantinePolicy, ServiceProfile, SlaSettings, TenantId, TenantLimits, WasmDigest,
};
use leitstand_store::{Store, StoreConfig};

/// Runs `plugin` (a component file) over one case in `sandbox`.
pub fn run_case(sandbox: &Arc<Sandbox>, plugin: &Path, case: &Case) -> anyhow::Result<CaseReport> {
    let expected = read_lines(&case.expect)?;
    let actual = execute(sandbox, plugin, case)?;
    let diff = diff(&expected, &actual);
    Ok(CaseReport {
        name: case.name.clone(),
        actual,
        expected,
        diff,
    })
}

/// Writes `lines` as an expectation file.
pub fn write_expectation(path: &Path, lines: &[Line]) -> anyhow::Result<()> {
    let mut out = String::new();
    for line in lines {
        out.push_str(&render(line));
        out.push('\n');
    }
    std::fs::write(path, out).with_context(|| format!("cannot write {}", path.display()))
}

/// The plugin's name in the harness's bundle: its file name, `leitstand_` and the
/// extension dropped, `_` as `-` (`leitstand_rota.wasm` → `rota`).
fn plugin_name(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default()
        .replace('_', "-");
    let name = stem.strip_prefix("leitstand-").unwrap_or(&stem);
    let valid = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if valid {
        name.to_owned()
    } else {
        "plugin".to_owned()
    }
}

/// The event lines of `path`, with the tenant and event types they use.
struct Events {
    lines: Vec<Vec<u8>>,
    tenant: String,
    types: BTreeSet<String>,
}

fn read_events(path: &Path) -> anyhow::Result<Events> {
    let text = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let lines: Vec<Vec<u8>> = text.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect();
    let mut tenant = None;
    let mut types = BTreeSet::new();
    for line in &lines {
        let Ok(Value::Object(event)) = serde_json::from_slice::<Value>(line) else {
            continue; // the replay reports it with its number
        };
        if let Some(t) = event.get("type").and_then(Value::as_str) {
            types.insert(t.to_owned());
        }
        if tenant.is_none() {
            tenant = event
                .get("tenant")
                .and_then(Value::as_str)
                .map(str::to_owned);
        }
    }
    types.remove(leitstand_engine::dispatch::TIMER_FIRED);
    types.remove(leitstand_engine::dispatch::HTTP_RESPONSE);
    if types.is_empty() {
        types.insert("call.offered".to_owned());
    }
    Ok(Events {
        lines,
        tenant: tenant.unwrap_or_else(|| "fixture".to_owned()),
        types,
    })
}

fn read_lines(path: &Path) -> anyhow::Result<Vec<Line>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!(
                "{}: not found (write the expected lines there; `--write-expect` writes what the plugin did)",
                path.display()
            )
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut lines = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(map)) => lines.push(map),
            Ok(_) => bail!("{}:{}: not a JSON object", path.display(), i + 1),
            Err(e) => bail!("{}:{}: not JSON: {e}", path.display(), i + 1),
        }
    }
    Ok(lines)
}

fn read_toml_table(path: &Path) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let table: toml::Table =
        toml::from_str(&text).with_context(|| format!("{}", path.display()))?;
    serde_json::to_value(table).with_context(|| format!("{}", path.display()))
}

/// The harness's in-memory bundle: one tenant, one plugin subscribed to every type the
/// events use.
fn bundle(plugin: &Path, case: &Case, events: &Events) -> anyhow::Result<Bundle> {
    let wasm =
        std::fs::read(plugin).with_context(|| format!("cannot read {}", plugin.display()))?;
    let tenant = TenantId::parse(&events.tenant)
        .map_err(|e| anyhow::anyhow!("{}: tenant: {e}", case.events.display()))?;
    let tz_name = case.settings.timezone.as_deref().unwrap_or("Europe/Berlin");
    let timezone: Tz = tz_name.parse().map_err(|_| {
        anyhow::anyhow!("{SETTINGS_FILE}: timezone {tz_name:?} is not an IANA timezone")
    })?;
    let grant: BTreeSet<String> = match &case.settings.grant {
        Some(types) => types.iter().cloned().collect(),
        None => [GRANT_ALL.to_owned()].into(),
    };
    let capabilities: BTreeSet<Capability> = match &case.settings.capabilities {
        Some(names) => names
            .iter()
            .map(|n| {
                Capability::parse(n).ok_or_else(|| {
                    anyhow::anyhow!("{SETTINGS_FILE}: capabilities: {n:?} is not a capability")
                })
            })
            .collect::<anyhow::Result<_>>()?,
        None => Capability::ALL.into_iter().collect(),
    };
    let mut endpoints = BTreeMap::new();
    for (name, sim) in sim_endpoints(case)? {
        endpoints.insert(name, sim.0);
    }
    let d = PluginLimits::default();
    let l = &case.settings.limits;
    let limits = PluginLimits {
        cpu_ms: l.cpu_ms.unwrap_or(d.cpu_ms),
        wall_ms: l.wall_ms.unwrap_or(d.wall_ms),
        memory_mib: l.memory_mib.unwrap_or(d.memory_mib),
        ..d
    };
    let config = if case.config.is_file() {
        read_toml_table(&case.config)?
    } else {
        Value::Object(Map::new())
    };
    Ok(Bundle {
        dir: case
            .config
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default(),
        manifest: case.config.clone(),
        service: ServiceProfile {
            tenant: tenant.clone(),
            display_name: events.tenant.clone(),
            timezone,
            sla: SlaSettings {
                threshold_seconds: 20,
                target: 0.8,
                short_abandon_seconds: 5,
                abandon_policy: leitstand_engine::tenants::AbandonPolicy::ExcludeShort,
                max_occupancy: None,
                shrinkage: 0.0,
                first_contact_target: None,
            },
            queues: BTreeMap::new(),
            calendars: calendars(case, timezone)?,
            providers: Default::default(),
        },
        tenant,
        timezone,
        plugins: vec![PluginSpec {
            name: plugin_name(plugin),
            wasm_path: plugin.to_path_buf(),
            digest: WasmDigest::of(&wasm),
            wasm: Arc::from(wasm),
            subscribe: events.types.clone(),
            grant,
            limits,
            on_failure: FailurePolicy::Ignore,
            retries: 0,
            quarantine: QuarantinePolicy {
                // The harness shows every failure; it never switches a plugin off.
                after_failures: u32::MAX,
                ..QuarantinePolicy::default()
            },
            capabilities,
            config,
            fallback: None,
            endpoints,
        }],
        limits: TenantLimits::default(),
        // The harness writes commands as lines; the mode is the broker's concern.
        command_mode: Default::default(),
    })
}

/// The case's calendars (`calendar.toml`), read and checked as a bundle's; an error names
/// the file and the key.
fn calendars(case: &Case, timezone: Tz) -> anyhow::Result<Option<Arc<Calendars>>> {
    let Some(path) = &case.calendar else {
        return Ok(None);
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let file: CalendarsFile =
        toml::from_str(&text).with_context(|| format!("{}", path.display()))?;
    let calendars = Calendars::from_file(file, timezone)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(Some(Arc::new(calendars)))
}

/// The case's simulated endpoints, each with its policy as a bundle endpoint.
fn sim_endpoints(case: &Case) -> anyhow::Result<BTreeMap<String, (Endpoint, SimEndpoint)>> {
    let Some(path) = &case.endpoints else {
        return Ok(BTreeMap::new());
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let sims: BTreeMap<String, SimEndpoint> =
        toml::from_str(&text).with_context(|| format!("{}", path.display()))?;
    let mut out = BTreeMap::new();
    for (name, sim) in sims {
        for a in &sim.answers {
            if let Some(until) = &a.until
                && DateTime::parse_from_rfc3339(until).is_err()
            {
                bail!(
                    "{}: {name}.answers: until {until:?} is not an RFC 3339 time",
                    path.display()
                );
            }
        }
        let endpoint = Endpoint {
            url: format!("http://{name}.fixture.invalid/"),
            timeout_ms: 10_000,
            token_env: None,
            first_backoff_ms: sim.first_backoff_ms.unwrap_or(1_000),
            max_backoff_ms: sim.max_backoff_ms.unwrap_or(300_000),
            max_attempts: sim.max_attempts.unwrap_or(160),
        };
        out.insert(name, (endpoint, sim));
    }
    Ok(out)
}

/// What the run writes, in the order it happens.
#[derive(Default)]
struct Tape {
    lines: Vec<Line>,
    partial: Vec<u8>,
    /// `http.post` commands seen since the last look.
    posts: Vec<Value>,
}

/// The replay's command output: every complete line becomes a [`Line`].
struct TapeWriter {
    tape: Rc<RefCell<Tape>>,
    tz: Tz,
}

impl Write for TapeWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut tape = self.tape.borrow_mut();
        tape.partial.extend_from_slice(buf);
        while let Some(i) = tape.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = tape.partial.drain(..=i).collect();
            let command: Value = serde_json::from_slice(&line).map_err(std::io::Error::other)?;
            tape.lines.push(command_line(&command, self.tz));
            if command.get("type").and_then(Value::as_str) == Some(HTTP_POST) {
                tape.posts.push(command);
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A time as the harness prints it: in the tenant's timezone, whole seconds when it has
/// no milliseconds.
fn local(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz)
        .to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn command_line(command: &Value, tz: Tz) -> Line {
    let mut line = Map::new();
    if let Some(t) = command
        .get("time")
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
    {
        line.insert("time".into(), json!(local(t.with_timezone(&Utc), tz)));
    }
    for (from, to) in [
        ("causationid", "cause"),
        ("type", "type"),
        ("subject", "subject"),
    ] {
        if let Some(v) = command.get(from) {
            line.insert(to.into(), v.clone());
        }
    }
    line.insert(
        "data".into(),
        command.get("data").cloned().unwrap_or(Value::Null),
    );
    line
}

/// A delivery in flight in the simulation.
struct Pending {
    request: Request,
    attempt: u32,
    due_ms: i64,
}

/// Runs `plugin` over one case and returns what it did, without comparing.
pub fn execute_case(
    sandbox: &Arc<Sandbox>,
    plugin: &Path,
    case: &Case,
) -> anyhow::Result<Vec<Line>> {
    execute(sandbox, plugin, case)
}

fn execute(sandbox: &Arc<Sandbox>, plugin: &Path, case: &Case) -> anyhow::Result<Vec<Line>> {
    let events = read_events(&case.events)?;
    let bundle = bundle(plugin, case, &events)?;
    let tz = bundle.timezone;
    let sims = sim_endpoints(case)?;
    let detached: Arc<dyn StateStore> = Arc::new(Detached);
    let dispatcher = match Dispatcher::from_bundles(vec![bundle], sandbox.clone(), detached) {
        Ok(d) => d,
        Err(errors) => {
            let message = errors
                .iter()
                .map(|e| e.reason.clone())
                .collect::<Vec<_>>()
                .join("; ");
            let mut line = Map::new();
            line.insert("refused".into(), json!(message));
            return Ok(vec![line]);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let store = runtime
        .block_on(Store::open(&StoreConfig {
            url: "sqlite::memory:".to_owned(),
            ..StoreConfig::default()
        }))
        .context("opening the harness's store")?;
    let tape = Rc::new(RefCell::new(Tape::default()));
    let mut writer = TapeWriter {
        tape: tape.clone(),
        tz,
    };
    let notices_tape = tape.clone();
    let mut on_notice = move |n: Notice| {
        let mut line = Map::new();
        match n {
            Notice::Rejected {
                line: no,
                rejection,
            } => {
                line.insert("line".into(), json!(no));
                line.insert("rejected".into(), json!(rejection.reason.code()));
                line.insert("detail".into(), json!(rejection.detail));
            }
            Notice::PluginFailed {
                event_id, failure, ..
            } => {
                line.insert("cause".into(), json!(event_id));
                line.insert("failure".into(), json!(failure.kind()));
                line.insert("detail".into(), json!(failure.to_string()));
            }
            Notice::Duplicate { line: no } => {
                line.insert("line".into(), json!(no));
                line.insert("duplicate".into(), json!(true));
            }
            Notice::TimerStorm { fired } => {
                line.insert("timer_storm".into(), json!(fired));
            }
        }
        notices_tape.borrow_mut().lines.push(line);
    };
    let options = ReplayOptions {
        limits: IntakeLimits::default(),
        ..ReplayOptions::default()
    };
    let horizon = options.timer_horizon.num_milliseconds();
    let mut replay = Replay::new(
        &dispatcher,
        store,
        runtime.handle().clone(),
        options,
        &mut writer,
        &mut on_notice,
    );
    replay.start()?;
    let mut pending: Vec<Pending> = Vec::new();
    let mut sim = Simulation {
        sims: &sims,
        tape: &tape,
        tz,
    };
    for line in &events.lines {
        if let Some(at) = event_time(line) {
            sim.run_until(&mut replay, &mut pending, at)?;
        }
        replay.feed(line)?;
        replay.flush()?;
        sim.take_posts(&mut pending);
    }
    if let Some(last) = replay.clock() {
        sim.run_until(&mut replay, &mut pending, last.timestamp_millis() + horizon)?;
    }
    replay.finish()?;
    drop(writer);
    let lines = std::mem::take(&mut tape.borrow_mut().lines);
    Ok(lines)
}

/// The simulated endpoints' side of a run.
struct Simulation<'a> {
    sims: &'a BTreeMap<String, (Endpoint, SimEndpoint)>,
    tape: &'a Rc<RefCell<Tape>>,
    tz: Tz,
}

impl Simulation<'_> {
    /// Schedules the `http.post` commands written since the last call: the first attempt
    /// at the command's time.
    fn take_posts(&self, pending: &mut Vec<Pending>) {
        let posts = std::mem::take(&mut self.tape.borrow_mut().posts);
        for post in posts {
            let plugin = post
                .get("source")
                .and_then(Value::as_str)
                .and_then(|s| s.rsplit('/').next())
                .unwrap_or_default()
                .to_owned();
            let due_ms = post
                .get("time")
                .and_then(Value::as_str)
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map_or(0, |t| t.timestamp_millis());
            let Some(request) = request_of(&post, &plugin) else {
                continue;
            };
            if self.sims.contains_key(&request.endpoint) {
                pending.push(Pending {
                    request,
                    attempt: 1,
                    due_ms,
                });
            }
        }
    }

    /// Makes every attempt due at or before `until_ms`, in time order, with the timers due
    /// before each attempt fired first; a settled delivery's `http.response` goes to the
    /// plugin at the attempt's time.
    fn run_until(
        &mut self,
        replay: &mut Replay<'_>,
        pending: &mut Vec<Pending>,
        until_ms: i64,
    ) -> anyhow::Result<()> {
        loop {
            let Some((index, due_ms)) = pending
                .iter()
                .enumerate()
                .map(|(i, p)| (i, p.due_ms))
                .min_by_key(|(_, d)| *d)
                .filter(|(_, d)| *d <= until_ms)
            else {
                return Ok(());
            };
            replay.advance(due_ms)?;
            replay.flush()?;
            self.take_posts(pending);
            let mut p = pending.swap_remove(index);
            let Some((endpoint, sim)) = self.sims.get(&p.request.endpoint) else {
                continue;
            };
            let answer = sim.answer(due_ms);
            let next = delivery::judge(endpoint, p.attempt, &answer);
            let at = DateTime::<Utc>::from_timestamp_millis(due_ms).unwrap_or_default();
            let mut line = Map::new();
            line.insert("time".into(), json!(local(at, self.tz)));
            line.insert("http".into(), json!(p.request.endpoint));
            line.insert("attempt".into(), json!(p.attempt));
            line.insert("idempotency_key".into(), json!(p.request.request_id));
            match &answer {
                Answer::Status { status, .. } => line.insert("status".into(), json!(status)),
                Answer::Unreachable(why) => line.insert("error".into(), json!(why)),
            };
            match next {
                Next::Retry { after_ms } => {
                    line.insert("outcome".into(), json!("retry"));
                    self.tape.borrow_mut().lines.push(line);
                    p.attempt += 1;
                    p.due_ms = due_ms.saturating_add(i64::try_from(after_ms).unwrap_or(i64::MAX));
                    pending.push(p);
                }
                Next::Settled(outcome) => {
                    line.insert("outcome".into(), json!(outcome.code()));
                    self.tape.borrow_mut().lines.push(line);
                    let event = p.request.response(outcome, p.attempt, &answer, at);
                    replay.feed(event.to_string().as_bytes())?;
                    replay.flush()?;
                    self.take_posts(pending);
                }
            }
        }
    }
}

/// The delivery an `http.post` command line asks for.
fn request_of(post: &Value, plugin: &str) -> Option<Request> {
    let data = post.get("data")?.as_object()?;
    Some(Request {
        tenant: post.get("tenant")?.as_str()?.to_owned(),
        plugin: plugin.to_owned(),
        request_id: post.get("id")?.as_str()?.to_owned(),
        endpoint: data.get("endpoint")?.as_str()?.to_owned(),
        subject: post
            .get("subject")
            .and_then(Value::as_str)
            .map(str::to_owned),
        body: data.get("body").cloned().unwrap_or(Value::Null),
    })
}

fn event_time(line: &[u8]) -> Option<i64> {
    let v: Value = serde_json::from_slice(line).ok()?;
    let t = v.get("time")?.as_str()?;
    DateTime::parse_from_rfc3339(t)
        .ok()
        .map(|t| t.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(v: Value) -> Line {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn times_compare_as_instants_and_differences_are_line_by_line() {
        let expected = vec![
            line(json!({"time": "2026-11-19T08:00:00+01:00", "cause": "e1", "type": "call.route"})),
            line(json!({"time": "2026-11-19T08:01:00+01:00", "cause": "e2", "type": "call.route"})),
            line(json!({"time": "2026-11-19T08:02:00+01:00", "cause": "e3", "type": "call.route"})),
        ];
        let mut actual = expected.clone();
        actual[0].insert("time".into(), json!("2026-11-19T07:00:00Z"));
        assert!(diff(&expected, &actual).is_empty());
        actual[1].insert("cause".into(), json!("e9"));
        let d = diff(&expected, &actual);
        assert!(matches!(d[0], DiffLine::Same(1, 1, _)));
        assert!(
            d.iter()
                .any(|l| matches!(l, DiffLine::Missing(2, t) if t.contains("\"e2\"")))
        );
        assert!(
            d.iter()
                .any(|l| matches!(l, DiffLine::Extra(2, t) if t.contains("\"e9\"")))
        );
        assert!(matches!(d.last(), Some(DiffLine::Same(3, 3, _))));
    }

    #[test]
    fn plugin_names_come_from_the_file_name() {
        assert_eq!(plugin_name(Path::new("x/leitstand_rota.wasm")), "rota");
        assert_eq!(plugin_name(Path::new("my_plugin.wasm")), "my-plugin");
        assert_eq!(plugin_name(Path::new("9lives.wasm")), "plugin");
    }
}
