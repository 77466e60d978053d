//! The raw form of `tenant.toml` and its conversion into a [`Bundle`]: the one place where
//! user-typed bundle text becomes a validated value.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use figment::Figment;
use figment::providers::{Format, Toml};
use leitstand_calendar::{CalendarFile, Calendars, CalendarsFile, NamedCalendarFile};
use serde::Deserialize;

use leitstand_sla::sites::{ProviderSpec, Providers, SiteSpec};

use super::{
    AbandonPolicy, Bundle, BundleError, Capability, CommandMode, Endpoint, FailurePolicy, Fallback,
    HTTP_POST, MANIFEST, PluginLimits, PluginSpec, QuarantinePolicy, QueueSpec, ServiceProfile,
    SlaSettings, TenantId, TenantLimits, WasmDigest,
};

/// `tenant.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantFile {
    /// The tenant id (`[a-z0-9][a-z0-9-]{0,62}`), as events carry it.
    id: String,
    /// A readable name for reports; defaults to the id.
    name: Option<String>,
    /// IANA timezone, e.g. `Europe/Berlin`.
    timezone: String,
    /// Tenant-wide SLA settings.
    #[serde(default)]
    sla: SlaFile,
    /// Queues by id.
    #[serde(default)]
    queues: BTreeMap<String, QueueFile>,
    /// Plugins, in the order they run.
    #[serde(default)]
    plugins: Vec<PluginFile>,
    /// The tenant's calendar: weekly hours, public holidays, closed and special days.
    calendar: Option<CalendarFile>,
    /// Calendars of departments or sites, each inheriting the tenant's or another one.
    #[serde(default)]
    calendars: BTreeMap<String, NamedCalendarFile>,
    /// `[hours]` of bundles written before the calendar: refused, saying where it went.
    hours: Option<serde::de::IgnoredAny>,
    /// Tenant-wide quotas; each key defaults.
    #[serde(default)]
    limits: TenantLimitsFile,
    /// How the tenant's commands are laid out on the broker.
    #[serde(default)]
    commands: CommandsFile,
    /// The sites its calls are answered at, by id.
    #[serde(default)]
    sites: BTreeMap<String, SiteFile>,
    /// The providers it contracts, by id; each names its sites.
    #[serde(default)]
    providers: BTreeMap<String, ProviderFile>,
}

/// `[sites.<id>]`: a site the tenant's calls are answered at.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SiteFile {
    /// A readable name; defaults to the id.
    name: Option<String>,
}

/// `[providers.<id>]`: a contracted provider.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProviderFile {
    /// A readable name; defaults to the id.
    name: Option<String>,
    /// Its sites, each declared under `[sites]` and belonging to this provider only.
    sites: Vec<String>,
    /// Contracted share of each queue's handled calls, a fraction; the providers' shares
    /// of a queue add up to 1.
    #[serde(default)]
    shares: BTreeMap<String, f64>,
    /// Calls per local day at most; none: no cap.
    daily_cap: Option<u64>,
    /// Its own service-level target, a fraction in (0, 1]; none: the tenant's.
    target: Option<f64>,
}

/// `[commands]`: how the tenant's commands are laid out on the broker.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CommandsFile {
    /// `structured` (the default), `amqp-binary` or `rabbitmq-binary`.
    mode: Option<String>,
}

/// `[limits]`: tenant-wide quotas.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantLimitsFile {
    state_keys: Option<u64>,
    state_bytes: Option<u64>,
    commands_per_event: Option<usize>,
    log_bytes_per_minute: Option<u64>,
}

/// `[plugins.quarantine]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct QuarantineFile {
    after_failures: Option<u32>,
    backoff_seconds: Option<u64>,
    max_backoff_seconds: Option<u64>,
}

/// `[sla]`; every key has a default.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SlaFile {
    /// Seconds; a wait of at most this is within. Default 20.
    #[serde(default = "default_threshold")]
    threshold_seconds: u32,
    /// Fraction in (0, 1]. Default 0.8.
    #[serde(default = "default_target")]
    target: f64,
    /// Seconds; an abandon of at most this is short. Default 5.
    #[serde(default = "default_short")]
    short_abandon_seconds: u32,
    /// Default `exclude-short`.
    #[serde(default = "default_policy")]
    abandon_policy: AbandonPolicy,
    /// Staffing: the highest occupancy to plan for, in (0, 1]. Default none.
    max_occupancy: Option<f64>,
    /// Staffing: the share of paid time not on the phones, in [0, 1). Default 0.
    #[serde(default)]
    shrinkage: f64,
    /// The promised first-contact resolution, in (0, 1]. Default none.
    first_contact_target: Option<f64>,
}

impl Default for SlaFile {
    fn default() -> Self {
        Self {
            threshold_seconds: default_threshold(),
            target: default_target(),
            short_abandon_seconds: default_short(),
            abandon_policy: default_policy(),
            max_occupancy: None,
            shrinkage: 0.0,
            first_contact_target: None,
        }
    }
}

fn default_threshold() -> u32 {
    20
}
fn default_target() -> f64 {
    0.8
}
fn default_short() -> u32 {
    5
}
fn default_policy() -> AbandonPolicy {
    AbandonPolicy::ExcludeShort
}

/// `[queues.<id>]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QueueFile {
    /// A readable name; defaults to the id.
    name: Option<String>,
    /// Overrides of the tenant's SLA settings for this queue.
    #[serde(default)]
    sla: SlaOverride,
}

/// `[queues.<id>.sla]`: any subset of `[sla]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SlaOverride {
    threshold_seconds: Option<u32>,
    target: Option<f64>,
    short_abandon_seconds: Option<u32>,
    abandon_policy: Option<AbandonPolicy>,
    max_occupancy: Option<f64>,
    shrinkage: Option<f64>,
    first_contact_target: Option<f64>,
}

/// `[[plugins]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PluginFile {
    /// Name within the tenant (`[a-z][a-z0-9-]*`).
    name: String,
    /// Path of the component, relative to the bundle directory.
    wasm: PathBuf,
    /// Hex sha256 of the component.
    sha256: String,
    /// Event types the plugin receives.
    subscribe: Vec<String>,
    /// Command types the plugin may emit.
    #[serde(default)]
    grant: Vec<String>,
    /// Per-call limits; each key defaults.
    #[serde(default)]
    limits: LimitsFile,
    /// What happens to an event this plugin fails on.
    #[serde(default)]
    on_failure: FailurePolicy,
    /// With `on_failure = "retry"`: more calls on a failed event before it is
    /// dead-lettered.
    retries: Option<u32>,
    /// When the plugin is switched off after failing again and again.
    #[serde(default)]
    quarantine: QuarantineFile,
    /// What the plugin may use besides events and command types: `state`, `timers`,
    /// `metrics`.
    #[serde(default)]
    capabilities: Vec<String>,
    /// The plugin's own configuration.
    #[serde(default = "empty_table")]
    config: serde_json::Value,
    /// The command emitted in the plugin's place when it fails.
    fallback: Option<FallbackFile>,
    /// HTTP endpoints its `http.post` commands may name.
    #[serde(default)]
    endpoints: BTreeMap<String, EndpointFile>,
}

/// `[plugins.fallback]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FallbackFile {
    #[serde(rename = "type")]
    command_type: String,
    events: Option<Vec<String>>,
    #[serde(default)]
    when: BTreeMap<String, serde_json::Value>,
    #[serde(default = "empty_table")]
    data: serde_json::Value,
    #[serde(default)]
    copy: Vec<String>,
}

/// `[plugins.endpoints.<name>]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EndpointFile {
    url: String,
    #[serde(default = "default_timeout_ms")]
    timeout_ms: u64,
    token_env: Option<String>,
    #[serde(default = "default_first_backoff_ms")]
    first_backoff_ms: u64,
    #[serde(default = "default_max_backoff_ms")]
    max_backoff_ms: u64,
    #[serde(default = "default_max_attempts")]
    max_attempts: u32,
}

fn default_timeout_ms() -> u64 {
    10_000
}
fn default_first_backoff_ms() -> u64 {
    1_000
}
fn default_max_backoff_ms() -> u64 {
    300_000
}
fn default_max_attempts() -> u32 {
    // With the defaults: about 13 hours of retries, most of them 5 minutes apart.
    160
}

fn empty_table() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

/// `[plugins.limits]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsFile {
    cpu_ms: Option<u64>,
    wall_ms: Option<u64>,
    memory_mib: Option<u64>,
    max_commands: Option<usize>,
    max_timers: Option<usize>,
    stdio_bytes: Option<usize>,
    log_bytes: Option<usize>,
}

/// The largest memory a plugin may be granted, in MiB.
pub const MAX_PLUGIN_MEMORY_MIB: u64 = 1024;

pub(super) fn load(dir: &Path) -> Result<Bundle, BundleError> {
    let manifest = dir.join(MANIFEST);
    if !manifest.is_file() {
        return Err(BundleError::new(&manifest, None, "file not found"));
    }
    let raw: TenantFile = Figment::from(Toml::file_exact(&manifest))
        .extract()
        .map_err(|e| figment_error(&manifest, e))?;
    let err = |key: &str, reason: String| BundleError::new(&manifest, Some(key.to_owned()), reason);

    let tenant = TenantId::parse(&raw.id).map_err(|e| err("id", e))?;
    let timezone = raw.timezone.parse::<chrono_tz::Tz>().map_err(|_| {
        err(
            "timezone",
            format!("{:?} is not an IANA timezone", raw.timezone),
        )
    })?;
    let calendars = calendars(raw.calendar, raw.calendars, raw.hours.is_some(), timezone)
        .map_err(|(k, r)| err(&k, r))?;
    let sla = SlaSettings {
        threshold_seconds: raw.sla.threshold_seconds,
        target: raw.sla.target,
        short_abandon_seconds: raw.sla.short_abandon_seconds,
        abandon_policy: raw.sla.abandon_policy,
        max_occupancy: raw.sla.max_occupancy,
        shrinkage: raw.sla.shrinkage,
        first_contact_target: raw.sla.first_contact_target,
    };
    check_sla(&sla).map_err(|(k, r)| err(&format!("sla.{k}"), r))?;

    let mut queues = BTreeMap::new();
    for (id, q) in raw.queues {
        let o = q.sla;
        let qsla = SlaSettings {
            threshold_seconds: o.threshold_seconds.unwrap_or(sla.threshold_seconds),
            target: o.target.unwrap_or(sla.target),
            short_abandon_seconds: o.short_abandon_seconds.unwrap_or(sla.short_abandon_seconds),
            abandon_policy: o.abandon_policy.unwrap_or(sla.abandon_policy),
            max_occupancy: o.max_occupancy.or(sla.max_occupancy),
            shrinkage: o.shrinkage.unwrap_or(sla.shrinkage),
            first_contact_target: o.first_contact_target.or(sla.first_contact_target),
        };
        check_sla(&qsla).map_err(|(k, r)| err(&format!("queues.{id}.sla.{k}"), r))?;
        queues.insert(
            id.clone(),
            QueueSpec {
                display_name: q.name.unwrap_or_else(|| id.clone()),
                sla: qsla,
            },
        );
    }

    let mut plugins: Vec<PluginSpec> = Vec::new();
    for (index, p) in raw.plugins.into_iter().enumerate() {
        let key = |k: &str| format!("plugins[{index}].{k}");
        if !is_plugin_name(&p.name) {
            return Err(err(
                &key("name"),
                format!("{:?} is not a plugin name ([a-z][a-z0-9-]*)", p.name),
            ));
        }
        if plugins.iter().any(|q| q.name == p.name) {
            return Err(err(
                &key("name"),
                format!("plugin {:?} is defined twice", p.name),
            ));
        }
        let key = |k: &str| format!("plugins.{}.{k}", p.name);
        let wasm_path = dir.join(&p.wasm);
        let bytes = std::fs::read(&wasm_path).map_err(|e| {
            err(
                &key("wasm"),
                format!("cannot read wasm file {}: {e}", wasm_path.display()),
            )
        })?;
        let digest = WasmDigest::of(&bytes);
        let pinned = p.sha256.trim().to_ascii_lowercase();
        if pinned.len() != 64 || !pinned.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(err(
                &key("sha256"),
                format!("{:?} is not a hex sha256 digest (64 hex digits)", p.sha256),
            ));
        }
        if pinned != digest.to_string() {
            return Err(err(
                &key("sha256"),
                format!(
                    "digest mismatch for {}: pinned {pinned}, file has {digest}",
                    wasm_path.display()
                ),
            ));
        }
        if p.subscribe.is_empty() {
            return Err(err(
                &key("subscribe"),
                "a plugin must subscribe to at least one event type".into(),
            ));
        }
        for t in p.subscribe.iter().chain(&p.grant) {
            if !is_type_name(t) {
                return Err(err(
                    &key(if p.subscribe.contains(t) {
                        "subscribe"
                    } else {
                        "grant"
                    }),
                    format!("{t:?} is not an event or command type ([a-z0-9][a-z0-9._-]*)"),
                ));
            }
        }
        let limits = limits(&p.limits).map_err(|(k, r)| err(&key(&format!("limits.{k}")), r))?;
        if !p.config.is_object() {
            return Err(err(&key("config"), "must be a table".into()));
        }
        let subscribe = p.subscribe.into_iter().collect::<BTreeSet<_>>();
        let grant: BTreeSet<String> = p.grant.into_iter().collect();
        let fallback = match p.fallback {
            Some(f) => Some(
                fallback(f, &subscribe, &grant)
                    .map_err(|(k, r)| err(&key(&format!("fallback.{k}")), r))?,
            ),
            None => None,
        };
        let mut endpoints = BTreeMap::new();
        for (name, e) in p.endpoints {
            let endpoint =
                endpoint(e).map_err(|(k, r)| err(&key(&format!("endpoints.{name}.{k}")), r))?;
            endpoints.insert(name, endpoint);
        }
        if !endpoints.is_empty() && !grant.contains(HTTP_POST) {
            return Err(err(
                &key("grant"),
                format!("the plugin declares endpoints but is not granted {HTTP_POST:?}"),
            ));
        }
        if grant.contains(HTTP_POST) && endpoints.is_empty() {
            return Err(err(
                &key("endpoints"),
                format!("the plugin is granted {HTTP_POST:?} but declares no endpoint"),
            ));
        }
        let mut capabilities = BTreeSet::new();
        for c in &p.capabilities {
            let Some(cap) = Capability::parse(c) else {
                return Err(err(
                    &key("capabilities"),
                    format!(
                        "{c:?} is not a capability (one of {})",
                        Capability::ALL.map(Capability::name).join(", ")
                    ),
                ));
            };
            capabilities.insert(cap);
        }
        let retries = match (p.on_failure, p.retries) {
            (FailurePolicy::Retry, Some(n)) if (1..=MAX_RETRIES).contains(&n) => n,
            (FailurePolicy::Retry, Some(n)) => {
                return Err(err(
                    &key("retries"),
                    format!("{n} is not within 1..={MAX_RETRIES}"),
                ));
            }
            (FailurePolicy::Retry, None) => 2,
            (_, Some(_)) => {
                return Err(err(
                    &key("retries"),
                    "only used with on_failure = \"retry\"".into(),
                ));
            }
            (_, None) => 0,
        };
        let quarantine =
            quarantine(&p.quarantine).map_err(|(k, r)| err(&key(&format!("quarantine.{k}")), r))?;
        plugins.push(PluginSpec {
            name: p.name,
            wasm_path,
            digest,
            wasm: Arc::from(bytes),
            subscribe,
            grant,
            limits,
            on_failure: p.on_failure,
            retries,
            quarantine,
            capabilities,
            config: p.config,
            fallback,
            endpoints,
        });
    }

    let providers = providers(raw.sites, raw.providers, &queues).map_err(|(k, r)| err(&k, r))?;
    for p in &mut plugins {
        providers_into_config(&mut p.config, &providers, &queues)
            .map_err(|r| err(&format!("plugins.{}.config.providers", p.name), r))?;
    }
    let limits = tenant_limits(&raw.limits).map_err(|(k, r)| err(&format!("limits.{k}"), r))?;
    let command_mode = raw
        .commands
        .mode
        .as_deref()
        .map_or(Ok(CommandMode::default()), CommandMode::parse)
        .map_err(|r| err("commands.mode", r))?;
    Ok(Bundle {
        limits,
        command_mode,
        dir: dir.to_path_buf(),
        manifest,
        service: ServiceProfile {
            tenant: tenant.clone(),
            display_name: raw.name.unwrap_or_else(|| raw.id.clone()),
            timezone,
            sla,
            queues,
            calendars,
            providers,
        },
        tenant,
        timezone,
        plugins,
    })
}

/// `[calendar]` and `[calendars.<name>]`, validated by the calendar crate once, here; an
/// error is the key (`calendar.holidays`, `calendars.kfz-stelle.inherit`) and the reason.
fn calendars(
    calendar: Option<CalendarFile>,
    named: BTreeMap<String, NamedCalendarFile>,
    old_hours: bool,
    timezone: chrono_tz::Tz,
) -> Result<Option<Arc<Calendars>>, (String, String)> {
    if old_hours {
        return Err((
            "hours".into(),
            "[hours] gave way to the tenant's calendar: write `[calendar]` with the same \
             weekdays as `hours = { mon = [\"08:00-17:00\"], … }`, the state's public \
             holidays as `holidays = \"DE-NW\"`, and the other dates under `closed` \
             (docs/MIGRATION-0.2.md)"
                .into(),
        ));
    }
    let Some(calendar) = calendar else {
        return match named.keys().next() {
            Some(name) => Err((
                format!("calendars.{name}"),
                "a named calendar inherits the tenant's: declare `[calendar]` too".into(),
            )),
            None => Ok(None),
        };
    };
    let file = CalendarsFile {
        calendar,
        calendars: named,
    };
    Calendars::from_file(file, timezone)
        .map(|c| Some(Arc::new(c)))
        .map_err(|e| (e.key().to_owned(), e.reason().to_owned()))
}

fn fallback(
    f: FallbackFile,
    subscribe: &BTreeSet<String>,
    grant: &BTreeSet<String>,
) -> Result<Fallback, (&'static str, String)> {
    if !grant.contains(&f.command_type) {
        return Err((
            "type",
            format!(
                "{:?} is not granted to the plugin (add it to `grant`)",
                f.command_type
            ),
        ));
    }
    if f.command_type == HTTP_POST {
        return Err(("type", format!("{HTTP_POST:?} cannot be a fallback")));
    }
    let events: BTreeSet<String> = match f.events {
        Some(events) => events.into_iter().collect(),
        None => subscribe.clone(),
    };
    if let Some(e) = events.iter().find(|e| !subscribe.contains(*e)) {
        return Err((
            "events",
            format!("{e:?} is not an event type the plugin subscribes to"),
        ));
    }
    let serde_json::Value::Object(data) = f.data else {
        return Err(("data", "must be a table".into()));
    };
    Ok(Fallback {
        command_type: f.command_type,
        events,
        when: f.when,
        data,
        copy: f.copy,
    })
}

fn endpoint(e: EndpointFile) -> Result<Endpoint, (&'static str, String)> {
    let scheme_ok = e.url.starts_with("https://") || e.url.starts_with("http://");
    if !scheme_ok || e.url.parse::<http::Uri>().is_err() {
        return Err((
            "url",
            format!("{:?} is not an http:// or https:// URL", e.url),
        ));
    }
    if e.timeout_ms == 0 {
        return Err(("timeout_ms", "must be at least 1".into()));
    }
    if e.first_backoff_ms == 0 {
        return Err(("first_backoff_ms", "must be at least 1".into()));
    }
    if e.max_backoff_ms < e.first_backoff_ms {
        return Err((
            "max_backoff_ms",
            format!(
                "{} is less than first_backoff_ms ({})",
                e.max_backoff_ms, e.first_backoff_ms
            ),
        ));
    }
    if e.max_attempts == 0 {
        return Err(("max_attempts", "must be at least 1".into()));
    }
    if let Some(var) = &e.token_env {
        let valid = !var.is_empty()
            && var
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        if !valid {
            return Err((
                "token_env",
                format!("{var:?} is not an environment variable name ([A-Z0-9_]+)"),
            ));
        }
    }
    Ok(Endpoint {
        url: e.url,
        timeout_ms: e.timeout_ms,
        token_env: e.token_env,
        first_backoff_ms: e.first_backoff_ms,
        max_backoff_ms: e.max_backoff_ms,
        max_attempts: e.max_attempts,
    })
}

/// `[sites]` and `[providers]` (CONTRACT §8): every site a provider names is declared and
/// belongs to it alone; each queue's contracted shares add up to 100 %. An error is the key
/// (`providers.callwerk.sites[1]`, `providers.callwerk.shares.impf`) and the reason.
fn providers(
    sites: BTreeMap<String, SiteFile>,
    raw: BTreeMap<String, ProviderFile>,
    queues: &BTreeMap<String, QueueSpec>,
) -> Result<Providers, (String, String)> {
    let mut out = Providers::default();
    for (id, s) in sites {
        if !is_label(&id) {
            return Err((
                format!("sites.{id}"),
                format!("{id:?} is not a site id ([a-z0-9][a-z0-9_-]*)"),
            ));
        }
        out.sites.insert(
            id.clone(),
            SiteSpec {
                display_name: s.name.unwrap_or(id),
                provider: None,
            },
        );
    }
    // Per queue: the providers' shares, for the sum.
    let mut shares: BTreeMap<String, Vec<(String, f64)>> = BTreeMap::new();
    for (id, p) in raw {
        let key = |k: &str| format!("providers.{id}.{k}");
        if !is_label(&id) {
            return Err((
                format!("providers.{id}"),
                format!("{id:?} is not a provider id ([a-z0-9][a-z0-9_-]*)"),
            ));
        }
        if p.sites.is_empty() {
            return Err((key("sites"), "a provider has at least one site".into()));
        }
        for (i, site) in p.sites.iter().enumerate() {
            let Some(spec) = out.sites.get_mut(site) else {
                return Err((
                    key(&format!("sites[{i}]")),
                    format!("site {site:?} is not declared under [sites]"),
                ));
            };
            if let Some(other) = &spec.provider {
                return Err((
                    key(&format!("sites[{i}]")),
                    format!(
                        "site {site:?} belongs to provider {other:?} already (a site belongs to one provider)"
                    ),
                ));
            }
            spec.provider = Some(id.clone());
        }
        for (queue, share) in &p.shares {
            if !queues.is_empty() && !queues.contains_key(queue) {
                return Err((
                    key(&format!("shares.{queue}")),
                    format!("queue {queue:?} is not declared under [queues]"),
                ));
            }
            if !(*share >= 0.0 && *share <= 1.0) {
                return Err((
                    key(&format!("shares.{queue}")),
                    format!("{share} is not a fraction in [0, 1] (60 % is 0.6)"),
                ));
            }
            shares
                .entry(queue.clone())
                .or_default()
                .push((id.clone(), *share));
        }
        if let Some(t) = p.target
            && !(t > 0.0 && t <= 1.0)
        {
            return Err((
                key("target"),
                format!("{t} is not a fraction in (0, 1] (80 % is 0.8)"),
            ));
        }
        out.providers.insert(
            id.clone(),
            ProviderSpec {
                display_name: p.name.unwrap_or_else(|| id.clone()),
                sites: p.sites,
                shares: p.shares,
                daily_cap: p.daily_cap,
                target: p.target,
            },
        );
    }
    for (queue, parts) in shares {
        let sum: f64 = parts.iter().map(|(_, s)| s).sum();
        if (sum - 1.0).abs() > 1e-6 {
            let each = parts
                .iter()
                .map(|(p, s)| format!("{p} {}", percent(*s)))
                .collect::<Vec<_>>()
                .join(", ");
            let last = parts.last().map_or("", |(p, _)| p.as_str());
            return Err((
                format!("providers.{last}.shares.{queue}"),
                format!(
                    "the contracted shares of queue {queue:?} add up to {} ({each}), not 100 %",
                    percent(sum)
                ),
            ));
        }
    }
    Ok(out)
}

/// The value of a plugin's `providers` config key that asks for the bundle's declaration.
const FROM_BUNDLE: &str = "from-bundle";

/// A plugin config with `providers = "from-bundle"` (the provider pool) gets the bundle's
/// `[providers]` in its place, as the pool reads them: one entry per provider with a share of
/// the plugin's queue above 0, in the order of the ids — `{name, share, daily_cap, sites}`.
/// The queue is the one the plugin's `queues` names, or the tenant's only queue. The
/// plugin's configuration is otherwise its own; contract 0.1.0 guests see plain config.
fn providers_into_config(
    config: &mut serde_json::Value,
    providers: &Providers,
    queues: &BTreeMap<String, QueueSpec>,
) -> Result<(), String> {
    let Some(table) = config.as_object_mut() else {
        return Ok(());
    };
    if table.get("providers").and_then(serde_json::Value::as_str) != Some(FROM_BUNDLE) {
        return Ok(());
    }
    let named: Vec<&str> = table
        .get("queues")
        .and_then(serde_json::Value::as_array)
        .map(|q| q.iter().filter_map(serde_json::Value::as_str).collect())
        .unwrap_or_default();
    let queue = match (named.as_slice(), queues.len()) {
        ([one], _) => (*one).to_owned(),
        ([], 1) => queues.keys().next().cloned().unwrap_or_default(),
        _ => {
            return Err(format!(
                "{FROM_BUNDLE:?} takes each provider's share of one queue: name exactly one \
                 in the plugin's `queues`"
            ));
        }
    };
    let list: Vec<serde_json::Value> = providers
        .providers
        .iter()
        .filter_map(|(id, p)| {
            let share = p.shares.get(&queue).copied().filter(|s| *s > 0.0)?;
            let mut entry = serde_json::json!({"name": id, "share": share, "sites": p.sites});
            if let (Some(cap), Some(e)) = (p.daily_cap, entry.as_object_mut()) {
                e.insert("daily_cap".into(), cap.into());
            }
            Some(entry)
        })
        .collect();
    if list.is_empty() {
        return Err(format!(
            "{FROM_BUNDLE:?}: no provider of the bundle has a share of queue {queue:?}"
        ));
    }
    table.insert("providers".into(), serde_json::Value::Array(list));
    Ok(())
}

fn percent(f: f64) -> String {
    let p = format!("{:.2}", f * 100.0);
    let p = p.trim_end_matches('0').trim_end_matches('.');
    format!("{p} %")
}

/// A site or provider id: a label value, never one of the reserved `_` names.
fn is_label(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

fn figment_error(file: &Path, e: figment::Error) -> BundleError {
    // Figment reports one error at a time here (extraction stops at the first).
    let key = (!e.path.is_empty()).then(|| e.path.join("."));
    BundleError::new(file, key, e.kind.to_string())
}

fn check_sla(s: &SlaSettings) -> Result<(), (&'static str, String)> {
    if !(s.target > 0.0 && s.target <= 1.0) {
        return Err((
            "target",
            format!("{} is not a fraction in (0, 1] (80 % is 0.8)", s.target),
        ));
    }
    if s.threshold_seconds == 0 {
        return Err(("threshold_seconds", "must be at least 1".into()));
    }
    if let Some(m) = s.max_occupancy
        && !(m > 0.0 && m <= 1.0)
    {
        return Err((
            "max_occupancy",
            format!("{m} is not a fraction in (0, 1] (85 % is 0.85)"),
        ));
    }
    if !(0.0..1.0).contains(&s.shrinkage) {
        return Err((
            "shrinkage",
            format!("{} is not a fraction in [0, 1) (30 % is 0.3)", s.shrinkage),
        ));
    }
    if let Some(t) = s.first_contact_target
        && !(t > 0.0 && t <= 1.0)
    {
        return Err((
            "first_contact_target",
            format!("{t} is not a fraction in (0, 1] (65 % is 0.65)"),
        ));
    }
    Ok(())
}

fn limits(l: &LimitsFile) -> Result<PluginLimits, (&'static str, String)> {
    let d = PluginLimits::default();
    let out = PluginLimits {
        cpu_ms: l.cpu_ms.unwrap_or(d.cpu_ms),
        wall_ms: l.wall_ms.unwrap_or(d.wall_ms),
        memory_mib: l.memory_mib.unwrap_or(d.memory_mib),
        max_commands: l.max_commands.unwrap_or(d.max_commands),
        max_timers: l.max_timers.unwrap_or(d.max_timers),
        stdio_bytes: l.stdio_bytes.unwrap_or(d.stdio_bytes),
        log_bytes: l.log_bytes.unwrap_or(d.log_bytes),
    };
    if out.cpu_ms == 0 {
        return Err(("cpu_ms", "must be at least 1".into()));
    }
    if out.wall_ms < out.cpu_ms {
        return Err((
            "wall_ms",
            format!("{} is less than cpu_ms ({})", out.wall_ms, out.cpu_ms),
        ));
    }
    if out.memory_mib == 0 || out.memory_mib > MAX_PLUGIN_MEMORY_MIB {
        return Err((
            "memory_mib",
            format!(
                "{} is not within 1..={MAX_PLUGIN_MEMORY_MIB}",
                out.memory_mib
            ),
        ));
    }
    Ok(out)
}

/// The most retries a plugin may ask for on one event.
pub const MAX_RETRIES: u32 = 5;

fn quarantine(q: &QuarantineFile) -> Result<QuarantinePolicy, (&'static str, String)> {
    let d = QuarantinePolicy::default();
    let out = QuarantinePolicy {
        after_failures: q.after_failures.unwrap_or(d.after_failures),
        backoff_seconds: q.backoff_seconds.unwrap_or(d.backoff_seconds),
        max_backoff_seconds: q.max_backoff_seconds.unwrap_or(d.max_backoff_seconds),
    };
    if out.after_failures == 0 {
        return Err(("after_failures", "must be at least 1".into()));
    }
    if out.backoff_seconds == 0 {
        return Err(("backoff_seconds", "must be at least 1".into()));
    }
    if out.max_backoff_seconds < out.backoff_seconds {
        return Err((
            "max_backoff_seconds",
            format!(
                "{} is less than backoff_seconds ({})",
                out.max_backoff_seconds, out.backoff_seconds
            ),
        ));
    }
    Ok(out)
}

fn tenant_limits(l: &TenantLimitsFile) -> Result<TenantLimits, (&'static str, String)> {
    let d = TenantLimits::default();
    let out = TenantLimits {
        state_keys: l.state_keys.unwrap_or(d.state_keys),
        state_bytes: l.state_bytes.unwrap_or(d.state_bytes),
        commands_per_event: l.commands_per_event.unwrap_or(d.commands_per_event),
        log_bytes_per_minute: l.log_bytes_per_minute.unwrap_or(d.log_bytes_per_minute),
    };
    for (k, v) in [
        ("state_keys", out.state_keys),
        ("state_bytes", out.state_bytes),
        ("commands_per_event", out.commands_per_event as u64),
    ] {
        if v == 0 {
            return Err((k, "must be at least 1".into()));
        }
    }
    Ok(out)
}

fn is_plugin_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && s.len() <= 63
}

fn is_type_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || ".-_".contains(c))
        && s.len() <= 128
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn bundle(toml: &str, wasm: &[u8]) -> (tempfile::TempDir, Result<Bundle, BundleError>) {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(dir.path().join("p.wasm"), wasm).expect("write wasm");
        fs::write(dir.path().join(MANIFEST), toml).expect("write manifest");
        let result = Bundle::load(dir.path());
        (dir, result)
    }

    fn plugin_toml(sha: &str, extra: &str) -> String {
        format!(
            "id = \"t1\"\ntimezone = \"Europe/Berlin\"\n[[plugins]]\nname = \"p\"\nwasm = \"p.wasm\"\n\
             sha256 = \"{sha}\"\nsubscribe = [\"call.offered\"]\n{extra}"
        )
    }

    #[test]
    fn a_minimal_bundle_gets_the_contract_defaults() {
        let (_d, b) = bundle("id = \"t1\"\ntimezone = \"Europe/Berlin\"\n", b"");
        let b = b.expect("valid");
        assert_eq!(b.service.sla.threshold_seconds, 20);
        assert_eq!(b.service.sla.short_abandon_seconds, 5);
        assert_eq!(b.service.sla.abandon_policy, AbandonPolicy::ExcludeShort);
        assert_eq!(b.service.sla_for("any"), b.service.sla);
    }

    #[test]
    fn commands_are_structured_unless_the_bundle_asks_for_a_binary_mode() {
        let (_d, b) = bundle("id = \"t1\"\ntimezone = \"UTC\"\n", b"");
        assert_eq!(b.expect("valid").command_mode, CommandMode::Structured);
        for mode in CommandMode::ALL {
            let toml = format!(
                "id = \"t1\"\ntimezone = \"UTC\"\n[commands]\nmode = \"{}\"\n",
                mode.name()
            );
            let (_d, b) = bundle(&toml, b"");
            assert_eq!(b.expect(&toml).command_mode, mode);
        }
        for (lines, key, says) in [
            (
                "[commands]\nmode = \"binary\"\n",
                "commands.mode",
                "\"binary\" is not a command mode (one of structured, amqp-binary, rabbitmq-binary)",
            ),
            ("[commands]\nmode = 1\n", "commands.mode", "string"),
            (
                "[commands]\nprefix = \"ce-\"\n",
                "commands.prefix",
                "unknown field",
            ),
        ] {
            let toml = format!("id = \"t1\"\ntimezone = \"UTC\"\n{lines}");
            let (_d, b) = bundle(&toml, b"");
            let e = b.expect_err(&toml);
            assert_eq!(e.key.as_deref(), Some(key), "{e}");
            assert!(e.reason.contains(says), "{e}");
        }
    }

    #[test]
    fn queue_overrides_apply_to_their_queue_only() {
        let (_d, b) = bundle(
            "id = \"t1\"\ntimezone = \"UTC\"\n[sla]\nthreshold_seconds = 20\n\
             [queues.notruf]\nsla = { threshold_seconds = 10, abandon_policy = \"count\" }\n",
            b"",
        );
        let b = b.expect("valid");
        assert_eq!(b.service.sla_for("notruf").threshold_seconds, 10);
        assert_eq!(
            b.service.sla_for("notruf").abandon_policy,
            AbandonPolicy::Count
        );
        assert_eq!(b.service.sla_for("other").threshold_seconds, 20);
    }

    #[test]
    fn staffing_settings_default_and_override_per_queue() {
        let (_d, b) = bundle("id = \"t1\"\ntimezone = \"UTC\"\n", b"");
        let b = b.expect("valid");
        assert_eq!(b.service.sla.max_occupancy, None);
        assert_eq!(b.service.sla.shrinkage, 0.0);
        let (_d, b) = bundle(
            "id = \"t1\"\ntimezone = \"UTC\"\n[sla]\nmax_occupancy = 0.85\nshrinkage = 0.3\n\
             [queues.notruf]\nsla = { max_occupancy = 0.7, shrinkage = 0 }\n",
            b"",
        );
        let b = b.expect("valid");
        assert_eq!(b.service.sla_for("other").max_occupancy, Some(0.85));
        assert_eq!(b.service.sla_for("other").shrinkage, 0.3);
        assert_eq!(b.service.sla_for("notruf").max_occupancy, Some(0.7));
        assert_eq!(b.service.sla_for("notruf").shrinkage, 0.0);
    }

    #[test]
    fn the_first_contact_target_defaults_to_none_and_overrides_per_queue() {
        let (_d, b) = bundle("id = \"t1\"\ntimezone = \"UTC\"\n", b"");
        assert_eq!(b.expect("valid").service.sla.first_contact_target, None);
        let (_d, b) = bundle(
            "id = \"t1\"\ntimezone = \"UTC\"\n[sla]\nfirst_contact_target = 0.65\n\
             [queues.notruf]\nsla = { first_contact_target = 0.9 }\n[queues.info]\n",
            b"",
        );
        let b = b.expect("valid");
        assert_eq!(b.service.sla.first_contact_target, Some(0.65));
        assert_eq!(b.service.sla_for("notruf").first_contact_target, Some(0.9));
        assert_eq!(b.service.sla_for("info").first_contact_target, Some(0.65));
        assert_eq!(
            b.service.sla_for("undeclared").first_contact_target,
            Some(0.65)
        );
    }

    #[test]
    fn a_bad_first_contact_target_is_named_with_its_key() {
        for (lines, key) in [
            (
                "[sla]\nfirst_contact_target = 0\n",
                "sla.first_contact_target",
            ),
            (
                "[sla]\nfirst_contact_target = 65\n",
                "sla.first_contact_target",
            ),
            (
                "[sla]\nfirst_contact_target = -0.5\n",
                "sla.first_contact_target",
            ),
            (
                "[queues.q]\nsla = { first_contact_target = 1.5 }\n",
                "queues.q.sla.first_contact_target",
            ),
        ] {
            let toml = format!("id = \"t1\"\ntimezone = \"UTC\"\n{lines}");
            let (_d, b) = bundle(&toml, b"");
            let e = b.expect_err(&toml);
            assert_eq!(e.key.as_deref(), Some(key), "{e}");
            assert!(e.reason.contains("(0, 1]"), "{e}");
            let shown = e.to_string();
            assert!(shown.contains(MANIFEST) && shown.contains(key), "{shown}");
        }
        // Not a number: named by the key too.
        let (_d, b) = bundle(
            "id = \"t1\"\ntimezone = \"UTC\"\n[sla]\nfirst_contact_target = \"65 %\"\n",
            b"",
        );
        let e = b.expect_err("a string");
        assert_eq!(e.key.as_deref(), Some("sla.first_contact_target"), "{e}");
    }

    #[test]
    fn bad_staffing_settings_are_named_with_their_key() {
        for (lines, key, says) in [
            ("[sla]\nmax_occupancy = 0\n", "sla.max_occupancy", "(0, 1]"),
            ("[sla]\nmax_occupancy = 85\n", "sla.max_occupancy", "(0, 1]"),
            ("[sla]\nshrinkage = 1.0\n", "sla.shrinkage", "[0, 1)"),
            ("[sla]\nshrinkage = -0.1\n", "sla.shrinkage", "[0, 1)"),
            (
                "[queues.q]\nsla = { shrinkage = 30 }\n",
                "queues.q.sla.shrinkage",
                "[0, 1)",
            ),
        ] {
            let toml = format!("id = \"t1\"\ntimezone = \"UTC\"\n{lines}");
            let (_d, b) = bundle(&toml, b"");
            let e = b.expect_err(&toml);
            assert_eq!(e.key.as_deref(), Some(key), "{e}");
            assert!(e.reason.contains(says), "{e}");
        }
    }

    #[test]
    fn an_unknown_key_is_named() {
        let (_d, b) = bundle(
            "id = \"t1\"\ntimezone = \"UTC\"\n[sla]\ntreshold_seconds = 3\n",
            b"",
        );
        let e = b.expect_err("unknown key");
        assert!(e.to_string().contains("treshold_seconds"), "{e}");
        assert!(e.to_string().contains(MANIFEST), "{e}");
    }

    #[test]
    fn a_wrong_pin_names_both_digests() {
        let wasm = b"\0asm not really";
        let (_d, b) = bundle(&plugin_toml(&"0".repeat(64), ""), wasm);
        let e = b.expect_err("mismatch");
        assert_eq!(e.key.as_deref(), Some("plugins.p.sha256"));
        assert!(e.reason.contains(&WasmDigest::of(wasm).to_string()), "{e}");
    }

    #[test]
    fn a_missing_wasm_file_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(dir.path().join(MANIFEST), plugin_toml(&"0".repeat(64), "")).expect("write");
        let e = Bundle::load(dir.path()).expect_err("missing wasm");
        assert_eq!(e.key.as_deref(), Some("plugins.p.wasm"));
        assert!(e.reason.contains("p.wasm"), "{e}");
    }

    #[test]
    fn bad_values_are_named_with_their_key() {
        let sha = WasmDigest::of(b"x").to_string();
        let cases = [
            ("id = \"T\"\ntimezone = \"UTC\"\n".to_owned(), "id"),
            (
                "id = \"t\"\ntimezone = \"Mars/Olympus\"\n".to_owned(),
                "timezone",
            ),
            (
                "id = \"t\"\ntimezone = \"UTC\"\n[sla]\ntarget = 80\n".to_owned(),
                "sla.target",
            ),
            (
                plugin_toml(&sha, "[plugins.limits]\nmemory_mib = 0\n"),
                "plugins.p.limits.memory_mib",
            ),
            (
                plugin_toml(&sha, "grant = [\"Call Route\"]\n"),
                "plugins.p.grant",
            ),
            (plugin_toml("xyz", ""), "plugins.p.sha256"),
        ];
        for (toml, key) in cases {
            let (_d, b) = bundle(&toml, b"x");
            let e = b.expect_err(&toml);
            assert_eq!(e.key.as_deref(), Some(key), "{e}");
        }
    }

    const PROVIDERS: &str = r#"id = "t"
timezone = "Europe/Berlin"
[queues.q]
[queues.r]
[sites.a]
name = "Site A"
[sites.b]
[sites.c]
[providers.one]
name = "One"
sites = ["a", "b"]
daily_cap = 100
target = 0.75
shares = { q = 0.6, r = 1.0 }
[providers.two]
sites = ["c"]
shares = { q = 0.4 }
"#;

    #[test]
    fn sites_belong_to_providers_with_their_contract() {
        let (_d, b) = bundle(PROVIDERS, b"x");
        let p = b.expect("valid").service.providers;
        assert_eq!(p.sites["a"].display_name, "Site A");
        assert_eq!(p.sites["b"].provider.as_deref(), Some("one"));
        assert_eq!(p.sites["c"].provider.as_deref(), Some("two"));
        assert_eq!(p.providers["one"].shares["q"], 0.6);
        assert_eq!(p.providers["one"].daily_cap, Some(100));
        assert_eq!(p.providers["one"].target, Some(0.75));
        assert_eq!(p.providers["two"].display_name, "two");
    }

    #[test]
    fn bad_provider_declarations_are_named_with_their_key() {
        let cases = [
            (
                PROVIDERS.replace(r#"sites = ["c"]"#, r#"sites = ["c", "z"]"#),
                "providers.two.sites[1]",
                "site \"z\" is not declared under [sites]",
            ),
            (
                PROVIDERS.replace("q = 0.4", "q = 0.3"),
                "providers.two.shares.q",
                "add up to 90 % (one 60 %, two 30 %), not 100 %",
            ),
            (
                PROVIDERS.replace(r#"sites = ["c"]"#, r#"sites = ["b"]"#),
                "providers.two.sites[0]",
                "belongs to provider \"one\" already",
            ),
            (
                PROVIDERS.replace("q = 0.4", "q = 0.4, s = 1.0"),
                "providers.two.shares.s",
                "not declared under [queues]",
            ),
            (
                PROVIDERS.replace("target = 0.75", "target = 75"),
                "providers.one.target",
                "not a fraction",
            ),
            (
                PROVIDERS.replace("[sites.c]", "[sites._c]"),
                "sites._c",
                "not a site id",
            ),
        ];
        for (toml, key, reason) in cases {
            let (_d, b) = bundle(&toml, b"x");
            let e = b.expect_err(&toml);
            assert_eq!(e.key.as_deref(), Some(key), "{e}");
            assert!(e.to_string().contains(reason), "{e}");
        }
    }

    #[test]
    fn a_plugin_reads_the_bundles_providers_from_bundle() {
        let sha = WasmDigest::of(b"x").to_string();
        let pool = format!(
            "\n[[plugins]]\nname = \"pool\"\nwasm = \"p.wasm\"\nsha256 = \"{sha}\"\n\
             subscribe = [\"call.offered\"]\n[plugins.config]\nproviders = \"from-bundle\"\n\
             overflow_target = \"ansage\"\nqueues = [\"q\"]\n"
        );
        let (_d, b) = bundle(&format!("{PROVIDERS}{pool}"), b"x");
        let b = b.expect("valid");
        assert_eq!(
            b.plugins[0].config["providers"],
            serde_json::json!([
                {"name": "one", "share": 0.6, "daily_cap": 100, "sites": ["a", "b"]},
                {"name": "two", "share": 0.4, "sites": ["c"]},
            ])
        );
        // Two queues have shares: the plugin must say which one it routes.
        let (_d, b) = bundle(
            &format!("{PROVIDERS}{}", pool.replace("queues = [\"q\"]\n", "")),
            b"x",
        );
        let e = b.expect_err("which queue");
        assert_eq!(
            e.key.as_deref(),
            Some("plugins.pool.config.providers"),
            "{e}"
        );
    }
}
