//! Leitstand's fuzzing entry points: what each cargo-fuzz target in `fuzz_targets/` runs on
//! one input. Each function takes the raw input, drives it through the daemon's own code
//! and panics when an invariant breaks, so that libFuzzer reports the input as a crash.
//!
//! - [`check_event`]: bytes as an AMQP delivery through the daemon's intake, dispatch's
//!   tenant checks, and then either the command the host would write for a plugin's answer
//!   or the dead letter it would write for a refusal.
//! - [`check_bundle`]: bytes as a `tenant.toml` through the bundle loader.
//! - [`check_fixture`]: JSON Lines as a plugin test's expectation and output through the
//!   harness's line-by-line difference and its report.
//! - [`check_boundary`]: scripts a plugin carries out — host calls and decisions of any
//!   shape — through a replay beside a calm neighbour: every event ends classified, the
//!   neighbour is served ([`check_script`] reads fuzz bytes as one).
//!
//! The daemon's test suite compiles this very file too (`core/leitstand/tests/
//! fuzz_regressions.rs` and `boundary.rs` include it by path) and feeds it the committed seeds and every input that once failed;
//! so it uses only crates the daemon's tests have, and the same function decides in both.
//! How to run the targets: `docs/FUZZING.md`.
#![forbid(unsafe_code)]

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use figment::Figment;
use figment::providers::{Format, Toml};
use lapin::BasicProperties;
use lapin::types::{AMQPValue, ByteArray, FieldArray, FieldTable, LongString, ShortString};
use serde_json::{Map, Value};

use leitstand::harness::{CaseReport, DiffLine, Line, diff, render};
use leitstand_amqp::{DETAIL_HEADER, ERROR_HEADER, Message, envelope_of};
use leitstand_contract::domain::DomainEvent;
use leitstand_contract::envelope::{
    DEFAULT_MAX_EVENT_BYTES, Envelope, IntakeLimits, RejectReason, Rejection, TenantId,
    parse_structured,
};
use leitstand_contract::wire::CommandMode;
use leitstand_engine::dispatch::{Command, Dispatcher, command_id, routing_key_tenant};
use leitstand_engine::sandbox::{Sandbox, SandboxConfig};
use leitstand_engine::state::MemoryStore;
use leitstand_engine::tenants::{self, Bundle, BundleError, HTTP_POST, MANIFEST, WasmDigest};
use leitstand_metrics::CustomMetrics;
use leitstand_sla::books::SlaBook;

// ---------------------------------------------------------------------------------------
// event
// ---------------------------------------------------------------------------------------

/// The tenants the `event` target's daemon has bundles for (without plugins); events of
/// other tenants are `unknown-tenant`.
pub const TENANTS: [&str; 3] = ["notruf-pfalz", "rlp-impf", "soest"];

/// The receive time the intake uses for an event without `time`: fixed, so that a verdict
/// is a function of the input alone.
pub fn received() -> DateTime<Utc> {
    // 2026-05-04T08:00:00Z
    DateTime::from_timestamp(1_777_881_600, 0).unwrap_or_default()
}

/// An inbound AMQP message as a tenant worker of the daemon receives it.
///
/// The `event` target reads its input in one of two forms:
///
/// - anything not starting with `>`: the whole input is the body of a message without
///   properties and without routing key (structured mode, as a replay file's line);
/// - `>` routing key, newline, then header lines `name: value` up to an empty line, then
///   the body. A header named `content-type` sets the content type; the others become AMQP
///   headers. A value may carry a type tag: `b:` boolean, `i:` 64-bit integer, `u:` 32-bit
///   unsigned, `d:` double, `f:` float, `t:` timestamp, `s:` short string, `a:` array,
///   `m:N` tables nested N deep, `x:` byte array, `v:` void; untagged values are long
///   strings (raw bytes).
///
/// Names and the content type longer than AMQP allows (255 bytes) are dropped, and a
/// longer routing key is cut: the broker delivers no such message.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Delivery {
    /// The routing key; `None` for a replay file's line, which has none.
    pub routing_key: Option<String>,
    /// Content type and headers.
    pub properties: BasicProperties,
    /// The body.
    pub body: Vec<u8>,
}

/// The most bytes of an AMQP short string (routing key, header name, content type).
const SHORT_STRING_BYTES: usize = 255;

impl Delivery {
    /// Reads a fuzz input (see [`Delivery`] for the two forms).
    pub fn from_input(data: &[u8]) -> Self {
        let Some(framed) = data.strip_prefix(b">") else {
            return Self {
                routing_key: None,
                properties: BasicProperties::default(),
                body: data.to_vec(),
            };
        };
        let (head, body) = match find(framed, b"\n\n") {
            Some(at) => (&framed[..at], &framed[at + 2..]),
            None => (framed, &[][..]),
        };
        let mut lines = head.split(|b| *b == b'\n');
        let routing_key = lines.next().map(|l| {
            let mut key = String::from_utf8_lossy(l).into_owned();
            let mut cut = key.len().min(SHORT_STRING_BYTES);
            while !key.is_char_boundary(cut) {
                cut -= 1;
            }
            key.truncate(cut);
            key
        });
        let mut properties = BasicProperties::default();
        let mut headers = FieldTable::default();
        let mut any_header = false;
        for line in lines {
            let (name, value) = match find(line, b": ") {
                Some(at) => (&line[..at], &line[at + 2..]),
                None => (line, &[][..]),
            };
            let name = String::from_utf8_lossy(name);
            if name.eq_ignore_ascii_case("content-type") {
                if let Ok(ct) = ShortString::try_new(String::from_utf8_lossy(value)) {
                    properties = properties.with_content_type(ct);
                }
                continue;
            }
            let Ok(name) = ShortString::try_new(name) else {
                continue;
            };
            headers.insert(name, header_value(value));
            any_header = true;
        }
        if any_header {
            properties = properties.with_headers(headers);
        }
        Self {
            routing_key,
            properties,
            body: body.to_vec(),
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A header value with its optional type tag (see [`Delivery`]).
fn header_value(raw: &[u8]) -> AMQPValue {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let typed = match raw {
        [b'b', b':', rest @ ..] => Some(AMQPValue::Boolean(rest == b"true")),
        [b'i', b':', rest @ ..] => text(rest).parse().ok().map(AMQPValue::LongLongInt),
        [b'u', b':', rest @ ..] => text(rest).parse().ok().map(AMQPValue::LongUInt),
        [b'd', b':', rest @ ..] => text(rest).parse().ok().map(AMQPValue::Double),
        [b'f', b':', rest @ ..] => text(rest).parse().ok().map(AMQPValue::Float),
        [b't', b':', rest @ ..] => text(rest).parse().ok().map(AMQPValue::Timestamp),
        [b's', b':', rest @ ..] => ShortString::try_new(text(rest))
            .ok()
            .map(AMQPValue::ShortString),
        [b'a', b':', rest @ ..] => Some(AMQPValue::FieldArray(FieldArray::from(vec![
            AMQPValue::LongString(LongString::from(rest.to_vec())),
        ]))),
        [b'm', b':', rest @ ..] => Some(nested_table(text(rest).parse().unwrap_or(0))),
        [b'x', b':', rest @ ..] => Some(AMQPValue::ByteArray(ByteArray::from(rest.to_vec()))),
        [b'v', b':', ..] => Some(AMQPValue::Void),
        _ => None,
    };
    typed.unwrap_or_else(|| AMQPValue::LongString(LongString::from(raw.to_vec())))
}

/// A table holding a table … `depth` levels deep, at most 300 (deeper than the outbox's
/// JSON reader goes, shallower than a recursive walk overflows a test thread's stack).
fn nested_table(depth: usize) -> AMQPValue {
    let mut value = AMQPValue::FieldTable(FieldTable::default());
    for _ in 0..depth.min(300) {
        let mut outer = FieldTable::default();
        outer.insert(ShortString::from("n"), value);
        value = AMQPValue::FieldTable(outer);
    }
    value
}

/// What the daemon did with one delivery: the accepted event, or the refusal it
/// dead-letters.
pub type Verdict = Result<Envelope, Rejection>;

/// The `event` target: reads `data` as a [`Delivery`] and checks it with
/// [`check_delivery`].
pub fn check_event(data: &[u8]) -> Verdict {
    check_delivery(&Delivery::from_input(data))
}

/// Runs `delivery` through the daemon's intake ([`envelope_of`], under the default
/// limits of CONTRACT §1) and dispatch's tenant checks against bundles of [`TENANTS`],
/// and checks on the way:
///
/// - the verdict is an accepted event or a refusal with a reason code and a non-empty
///   detail; no panic;
/// - a limit of exactly the body's size changes nothing, one byte less refuses it (an
///   event that was accepted is then `too-large`);
/// - an accepted event has a valid tenant id, non-empty `id`, `source` and `type`, its
///   typed reading agrees with its `data`, and written again as a structured-mode and as a
///   binary-mode message it is read back as the same envelope;
/// - a routing key naming another tenant gives `tenant-mismatch`, a tenant without bundle
///   `unknown-tenant`; otherwise the event is dispatched (to no plugin);
/// - a command caused by an accepted event can be written and kept in the outbox;
/// - a refusal's dead letter keeps the body, names the reason code, has a one-line detail,
///   and survives the outbox unchanged.
pub fn check_delivery(delivery: &Delivery) -> Verdict {
    let limits = IntakeLimits::default();
    let verdict = envelope_of(&delivery.properties, &delivery.body, limits, received());
    check_limits(delivery, &verdict);
    let verdict = verdict.and_then(|env| {
        check_accepted(&env);
        dispatched(delivery, env)
    });
    match &verdict {
        Ok(env) => check_command(env),
        Err(rejection) => check_dead_letter(delivery, rejection),
    }
    verdict
}

fn check_limits(delivery: &Delivery, verdict: &Verdict) {
    let len = delivery.body.len();
    let parse = |max_event_bytes| {
        let limits = IntakeLimits {
            max_event_bytes,
            ..IntakeLimits::default()
        };
        envelope_of(&delivery.properties, &delivery.body, limits, received())
    };
    if len <= DEFAULT_MAX_EVENT_BYTES {
        assert_eq!(
            &parse(len),
            verdict,
            "a limit of exactly the body's size changes the verdict"
        );
    }
    if len > 0 {
        match (verdict, parse(len - 1)) {
            (_, Ok(_)) => panic!("an event one byte over the limit was accepted"),
            (Ok(_), Err(r)) => assert_eq!(
                r.reason,
                RejectReason::TooLarge,
                "an event over the limit was refused for another reason: {r}"
            ),
            (Err(_), Err(_)) => {}
        }
    }
}

/// The default limits but for the size: the re-written forms of an event may be longer
/// than the original.
fn any_size() -> IntakeLimits {
    IntakeLimits {
        max_event_bytes: usize::MAX,
        ..IntakeLimits::default()
    }
}

fn check_accepted(env: &Envelope) {
    assert!(
        TenantId::parse(env.tenant.as_str()).is_ok(),
        "accepted an invalid tenant id {:?}",
        env.tenant.as_str()
    );
    assert!(!env.id.is_empty(), "accepted an empty id");
    assert!(!env.source.is_empty(), "accepted an empty source");
    assert!(!env.event_type.is_empty(), "accepted an empty type");
    assert_eq!(
        DomainEvent::parse(&env.event_type, &env.data),
        Ok(env.domain.clone()),
        "the typed reading disagrees with data"
    );

    let structured = structured_body(env);
    let again = parse_structured(&structured, any_size(), received());
    assert_eq!(
        again.as_ref(),
        Ok(env),
        "the event written again in structured mode reads differently: {}",
        String::from_utf8_lossy(&structured)
    );

    let (properties, body) = binary_message(env);
    let again = envelope_of(&properties, &body, any_size(), received());
    assert_eq!(
        again.as_ref(),
        Ok(env),
        "the event written again in binary mode reads differently"
    );
}

/// `env` as a structured-mode CloudEvent, its time to the nanosecond.
fn structured_body(env: &Envelope) -> Vec<u8> {
    let mut event = Map::new();
    for (name, value) in attributes(env) {
        event.insert(name.to_owned(), Value::String(value));
    }
    event.insert("data".to_owned(), Value::Object(env.data.clone()));
    serde_json::to_vec(&event).expect("an envelope serialises")
}

/// `env` as a binary-mode message: attributes as `ce-` headers, `data` as the body.
fn binary_message(env: &Envelope) -> (BasicProperties, Vec<u8>) {
    let mut headers = FieldTable::default();
    for (name, value) in attributes(env) {
        headers.insert(
            ShortString::from(format!("ce-{name}")),
            AMQPValue::LongString(LongString::from(value.into_bytes())),
        );
    }
    let properties = BasicProperties::default()
        .with_content_type(ShortString::from("application/json"))
        .with_headers(headers);
    let body = serde_json::to_vec(&env.data).expect("data serialises");
    (properties, body)
}

fn attributes(env: &Envelope) -> Vec<(&'static str, String)> {
    let mut attrs = vec![
        ("specversion", "1.0".to_owned()),
        ("id", env.id.clone()),
        ("source", env.source.clone()),
        ("type", env.event_type.clone()),
        ("tenant", env.tenant.to_string()),
        (
            "time",
            env.time.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        ),
        ("datacontenttype", "application/json".to_owned()),
    ];
    if let Some(subject) = &env.subject {
        attrs.push(("subject", subject.clone()));
    }
    attrs
}

thread_local! {
    /// The daemon's dispatcher over plugin-less bundles of [`TENANTS`], built once per
    /// process (it starts a sandbox).
    static DISPATCHER: Dispatcher = dispatcher();
}

fn dispatcher() -> Dispatcher {
    let dir = tempfile::Builder::new()
        .prefix("leitstand-fuzz-tenants")
        .tempdir()
        .expect("a temporary directory");
    for tenant in TENANTS {
        let bundle = dir.path().join(tenant);
        std::fs::create_dir(&bundle).expect("a bundle directory");
        std::fs::write(
            bundle.join(MANIFEST),
            format!("id = \"{tenant}\"\ntimezone = \"Europe/Berlin\"\n"),
        )
        .expect("a manifest");
    }
    let bundles = tenants::load_all(dir.path()).expect("the tenants' bundles load");
    let config = SandboxConfig {
        pool_instances: 1,
        max_memory_mib: 1,
        tick_ms: 1_000,
        keep_resident_kib: 0,
        ..SandboxConfig::default()
    };
    let sandbox = Sandbox::new(config, Arc::new(CustomMetrics::new())).expect("a sandbox");
    Dispatcher::from_bundles(bundles, Arc::new(sandbox), Arc::new(MemoryStore::new()))
        .expect("plugin-less bundles prepare")
}

/// Dispatch's verdict: the tenant named by the routing key (its first segment) must be the
/// event's, and the event's tenant must have a bundle.
fn dispatched(delivery: &Delivery, env: Envelope) -> Verdict {
    let routed = delivery.routing_key.as_deref().map(routing_key_tenant);
    let outcome = DISPATCHER.with(|d| d.dispatch(&env, routed));
    let mismatch = routed.is_some_and(|t| t != env.tenant.as_str());
    let known = TENANTS.contains(&env.tenant.as_str());
    match outcome {
        Ok(outcome) => {
            assert!(!mismatch, "dispatched an event its routing key disowns");
            assert!(known, "dispatched an event of a tenant without bundle");
            assert_eq!(outcome.invoked, 0, "a plugin ran where there is none");
            assert!(outcome.commands.is_empty(), "commands without plugins");
            Ok(env)
        }
        Err(rejection) => {
            let expected = if mismatch {
                RejectReason::TenantMismatch
            } else {
                RejectReason::UnknownTenant
            };
            assert_eq!(rejection.reason, expected, "{rejection}");
            assert!(mismatch || !known, "refused a routable event: {rejection}");
            Err(rejection)
        }
    }
}

/// A command a plugin might emit for `env`, as dispatch builds it, written as the daemon
/// writes it in every command mode: to a message, into the outbox, and back.
fn check_command(env: &Envelope) {
    let plugin = "router";
    let command = Command {
        specversion: "1.0".to_owned(),
        id: command_id(&env.source, &env.id, plugin, 0),
        source: format!("leitstand/{}/{plugin}", env.tenant),
        command_type: "call.route".to_owned(),
        tenant: env.tenant.to_string(),
        time: env.time_rfc3339(),
        causationid: env.id.clone(),
        subject: env.subject.clone(),
        datacontenttype: "application/json".to_owned(),
        data: Map::new(),
    };
    for mode in CommandMode::ALL {
        let message = Message::command(&command, mode).expect("a command is written");
        let entry = message
            .clone()
            .into_outgoing()
            .map(|o| o.at(0))
            .expect("a command is kept in the outbox");
        let back = Message::from_outbox(&entry).expect("a command is read back from the outbox");
        assert_eq!(back, message, "the outbox changed a command ({mode:?})");
    }
}

fn check_dead_letter(delivery: &Delivery, rejection: &Rejection) {
    // Every other reason is the intake's or dispatch's tenant checks'.
    assert_ne!(
        rejection.reason,
        RejectReason::PluginFailed,
        "no plugin ran: {rejection}"
    );
    assert!(
        !rejection.detail.trim().is_empty(),
        "a refusal without detail: {}",
        rejection.reason
    );
    let code = rejection.reason.code();
    let message = Message::dead_letter(
        &delivery.properties,
        delivery.routing_key.as_deref().unwrap_or_default(),
        &delivery.body,
        code,
        &rejection.detail,
    );
    assert_eq!(
        message.body, delivery.body,
        "a dead letter changed the body"
    );
    let headers = message
        .properties
        .headers()
        .as_ref()
        .expect("a dead letter has headers");
    let header = |name: &str| {
        headers
            .inner()
            .get(name)
            .and_then(AMQPValue::as_long_string)
            .map(|s| String::from_utf8_lossy(s.as_bytes()).into_owned())
    };
    assert_eq!(header(ERROR_HEADER).as_deref(), Some(code));
    let detail = header(DETAIL_HEADER).expect("a dead letter has a detail");
    assert!(!detail.trim().is_empty(), "an empty detail header");
    assert!(
        !detail.chars().any(char::is_control),
        "the detail header is not one line: {detail:?}"
    );
    let entry = message
        .clone()
        .into_outgoing()
        .map(|o| o.at(0))
        .expect("a dead letter is kept in the outbox");
    let back = Message::from_outbox(&entry).expect("a dead letter is read back from the outbox");
    let again = back
        .clone()
        .into_outgoing()
        .map(|o| o.at(0))
        .expect("a read-back dead letter is kept again");
    assert_eq!(
        again.properties, entry.properties,
        "the outbox changed a dead letter's properties"
    );
    assert_eq!(back.body, message.body);
    assert_eq!(back.routing_key, message.routing_key);
}

// ---------------------------------------------------------------------------------------
// bundle
// ---------------------------------------------------------------------------------------

/// The wasm files the `bundle` target's bundle directory holds, by name: placeholders, so
/// that a manifest naming one of them with its digest gets past the pin check. No wasm is
/// compiled.
pub const PLACEHOLDERS: [(&str, &[u8]); 2] =
    [("p.wasm", b""), ("plugin.wasm", b"\0asm\x0d\0\x01\0")];

thread_local! {
    /// The `bundle` target's bundle directory, made once per process.
    static BUNDLE_DIR: tempfile::TempDir = bundle_dir();
}

fn bundle_dir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("leitstand-fuzz-bundle")
        .tempdir()
        .expect("a temporary directory");
    for (name, bytes) in PLACEHOLDERS {
        std::fs::write(dir.path().join(name), bytes).expect("a placeholder wasm file");
    }
    dir
}

/// The `bundle` target: writes `data` as the `tenant.toml` of a bundle directory holding
/// the [`PLACEHOLDERS`] and loads it with [`Bundle::load`], the daemon's loader. Checks:
///
/// - the result is a bundle or an error naming the manifest and giving a reason; no panic;
/// - loading again gives the same result;
/// - a bundle satisfies every rule the loader enforces (tenant id, SLA fractions, plugin
///   names unique, pins equal to the files' digests, limits, fallbacks granted and
///   subscribed, endpoints exactly with `http.post`), and its calendars and SLA
///   settings can be used.
///
/// Returns `None`, without loading, for a manifest whose plugins name a wasm file outside
/// the bundle directory: the loader would read any file of the machine (`/dev/zero`
/// never ends), which is the operator's business, not a fuzzer's.
pub fn check_bundle(data: &[u8]) -> Option<Result<Bundle, BundleError>> {
    if !wasm_stays_home(data) {
        return None;
    }
    Some(BUNDLE_DIR.with(|dir| {
        let manifest = dir.path().join(MANIFEST);
        std::fs::write(&manifest, data).expect("writing the manifest");
        let result = Bundle::load(dir.path());
        assert_eq!(
            Bundle::load(dir.path()),
            result,
            "loading twice gives different results"
        );
        match &result {
            Ok(bundle) => check_valid_bundle(bundle, dir.path()),
            Err(e) => {
                assert_eq!(e.file, manifest, "the error names another file: {e}");
                // The key may be empty: TOML allows `"" = 1`, and the loader names it.
                assert!(!e.reason.trim().is_empty(), "an error without reason: {e}");
            }
        }
        result
    }))
}

/// Whether every `wasm` of the manifest stays inside the bundle directory (a plain file
/// name). Reads the manifest with the loader's own parser; what it cannot read the loader
/// refuses before it reads any wasm file.
fn wasm_stays_home(data: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Manifest {
        #[serde(default)]
        plugins: Vec<Plugin>,
    }
    #[derive(serde::Deserialize)]
    struct Plugin {
        wasm: Option<String>,
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return true;
    };
    match Figment::from(Toml::string(text)).extract::<Manifest>() {
        Ok(m) => m
            .plugins
            .iter()
            .all(|p| p.wasm.as_deref().is_none_or(|w| !w.contains('/'))),
        Err(_) => true,
    }
}

fn check_valid_bundle(b: &Bundle, dir: &Path) {
    assert!(TenantId::parse(b.tenant.as_str()).is_ok(), "bad tenant id");
    assert_eq!(b.manifest, dir.join(MANIFEST));
    let slas = std::iter::once(("[sla]", b.service.sla))
        .chain(b.service.queues.iter().map(|(q, s)| (&**q, s.sla)));
    for (queue, s) in slas {
        assert!(s.target > 0.0 && s.target <= 1.0, "{queue}: target");
        assert!(s.threshold_seconds >= 1, "{queue}: threshold");
        assert!(
            s.max_occupancy.is_none_or(|m| m > 0.0 && m <= 1.0),
            "{queue}: max_occupancy"
        );
        assert!((0.0..1.0).contains(&s.shrinkage), "{queue}: shrinkage");
    }
    for (queue, spec) in &b.service.queues {
        assert_eq!(b.service.sla_for(queue), spec.sla, "{queue}: settings");
    }
    for (i, p) in b.plugins.iter().enumerate() {
        assert!(
            b.plugins[..i].iter().all(|q| q.name != p.name),
            "plugin {} twice",
            p.name
        );
        let mut chars = p.name.chars();
        assert!(
            chars.next().is_some_and(|c| c.is_ascii_lowercase())
                && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "bad plugin name {:?}",
            p.name
        );
        assert!(!p.subscribe.is_empty(), "{}: no subscription", p.name);
        assert_eq!(p.digest, WasmDigest::of(&p.wasm), "{}: digest", p.name);
        assert!(p.wasm_path.starts_with(dir), "{}: wasm outside", p.name);
        let l = p.limits;
        assert!(
            l.cpu_ms >= 1 && l.wall_ms >= l.cpu_ms,
            "{}: time limits",
            p.name
        );
        assert!((1..=1024).contains(&l.memory_mib), "{}: memory", p.name);
        assert!(p.config.is_object(), "{}: config", p.name);
        if let Some(f) = &p.fallback {
            assert!(p.grant.contains(&f.command_type), "{}: fallback", p.name);
            assert_ne!(f.command_type, HTTP_POST, "{}: fallback", p.name);
            assert!(f.events.is_subset(&p.subscribe), "{}: fallback", p.name);
        }
        assert_eq!(
            p.endpoints.is_empty(),
            !p.grant.contains(HTTP_POST),
            "{}: endpoints without http.post or the other way",
            p.name
        );
        for e in p.endpoints.values() {
            assert!(
                e.timeout_ms >= 1 && e.max_attempts >= 1,
                "{}: endpoint",
                p.name
            );
            assert!(e.first_backoff_ms >= 1, "{}: endpoint", p.name);
            assert!(
                e.max_backoff_ms >= e.first_backoff_ms,
                "{}: endpoint",
                p.name
            );
            for attempt in [0, 1, 2, 40, u32::MAX] {
                assert!(
                    e.backoff_ms(attempt) <= e.max_backoff_ms,
                    "{}: backoff",
                    p.name
                );
            }
        }
    }
    if let Some(calendars) = &b.service.calendars {
        // The daemon and plugins ask with event times: times of this century, around
        // daylight saving changes too, of every calendar the bundle declares.
        for secs in [
            0,
            1_774_746_000,
            1_774_749_600,
            1_777_881_600,
            1_792_890_000,
            1_792_893_600,
            4_102_444_800,
        ] {
            let t = DateTime::from_timestamp(secs, 0).unwrap_or_default();
            for name in std::iter::once("tenant").chain(calendars.names()) {
                let Some(calendar) = calendars.get(name) else {
                    panic!("{name}: a declared calendar is not found");
                };
                calendar.is_open(t);
                calendar.next_change(t);
                calendar.day(t.date_naive());
                calendar.always_open();
            }
        }
    }
    SlaBook::new().open(&b.service);
}

// ---------------------------------------------------------------------------------------
// fixture
// ---------------------------------------------------------------------------------------

/// The non-empty lines of `text` that are JSON objects, as the harness reads a case's
/// `expect.jsonl` (it refuses a file with other lines; here they are skipped).
pub fn jsonl_objects(text: &str) -> Vec<Line> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| match serde_json::from_str::<Value>(l) {
            Ok(Value::Object(map)) => Some(map),
            _ => None,
        })
        .collect()
}

/// The `fixture` target: `data` is an expectation and an output in JSON Lines, separated
/// by a line `---` (without one, the text is both). Checks the harness's difference:
///
/// - a list differs in nothing from itself;
/// - a difference, when there is one, shows every expected line as `Same` or `Missing`,
///   every output line as `Same` or `Extra`, each once and in order;
/// - a rendered line is JSON and reads back as the line;
/// - the case report prints, and passes exactly when the difference is empty.
pub fn check_fixture(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (expected, actual) = match text.split_once("\n---\n") {
        Some((e, a)) => (jsonl_objects(e), jsonl_objects(a)),
        None => (jsonl_objects(&text), jsonl_objects(&text)),
    };
    assert!(
        diff(&expected, &expected).is_empty(),
        "a list differs from itself"
    );
    let d = diff(&expected, &actual);
    if d.is_empty() {
        // Equal lists (times compared as instants) have no difference to show.
        assert_eq!(
            expected.len(),
            actual.len(),
            "unequal lists without difference"
        );
    } else {
        check_alignment(&d, &expected, &actual);
    }
    for line in expected.iter().chain(&actual) {
        let rendered = render(line);
        let back: Value = serde_json::from_str(&rendered).expect("a rendered line is JSON");
        assert_eq!(back, Value::Object(line.clone()), "{rendered}");
    }
    let passed = d.is_empty();
    let report = CaseReport {
        name: "fuzz".to_owned(),
        actual,
        expected,
        diff: d,
    };
    assert_eq!(report.passed(), passed);
    assert!(!report.to_string().is_empty());
}

/// Every expected line is `Same` or `Missing`, every output line `Same` or `Extra`, each
/// once and in order, with its rendering.
fn check_alignment(d: &[DiffLine], expected: &[Line], actual: &[Line]) {
    let (mut next_e, mut next_a) = (1, 1);
    for line in d {
        match line {
            DiffLine::Same(e, a, text) => {
                assert_eq!((*e, *a), (next_e, next_a), "out of order");
                assert_eq!(*text, render(&actual[a - 1]));
                next_e += 1;
                next_a += 1;
            }
            DiffLine::Missing(e, text) => {
                assert_eq!(*e, next_e, "out of order");
                assert_eq!(*text, render(&expected[e - 1]));
                next_e += 1;
            }
            DiffLine::Extra(a, text) => {
                assert_eq!(*a, next_a, "out of order");
                assert_eq!(*text, render(&actual[a - 1]));
                next_a += 1;
            }
        }
    }
    assert_eq!(
        (next_e - 1, next_a - 1),
        (expected.len(), actual.len()),
        "lines left out"
    );
}

// ---------------------------------------------------------------------------------------
// boundary
// ---------------------------------------------------------------------------------------

/// The failure kinds the host classifies a plugin's event into.
pub const FAILURE_KINDS: [&str; 8] = [
    "timeout",
    "out-of-memory",
    "guest-panic",
    "bad-output",
    "plugin-error",
    "access-denied",
    "quota-exceeded",
    "quarantined",
];

/// The bundles of the boundary check: `wild` with the hostile guest carrying out its
/// events' scripts (never switched off), `calm` with the example router.
fn boundary_bundles() -> (tempfile::TempDir, Dispatcher) {
    let dir = tempfile::Builder::new()
        .prefix("leitstand-fuzz-boundary")
        .tempdir()
        .expect("a temporary directory");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|a| a.join("plugins").is_dir() && a.join("wit").is_dir())
        .expect("the repository root")
        .to_path_buf();
    let guest = |name: &str| {
        let path = root.join(format!("target/wasm32-wasip2/release/{name}.wasm"));
        let bytes = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (build the guests: make guests)", path.display()));
        (path, WasmDigest::of(&bytes))
    };
    let (hostile, hostile_digest) = guest("leitstand_hostile");
    let (router, router_digest) = guest("leitstand_template");
    let manifests = [
        (
            "wild",
            format!(
                "[[plugins]]\nname = \"scripted\"\nwasm = \"{}\"\nsha256 = \"{hostile_digest}\"\n\
                 subscribe = [\"test.script\"]\ngrant = [\"call.route\", \"test.out\", \"notify\"]\n\
                 capabilities = [\"state\", \"timers\", \"metrics\"]\n\
                 quarantine = {{ after_failures = 1000000 }}\n[plugins.config]\nmode = \"scripted\"\n",
                hostile.display()
            ),
        ),
        (
            "calm",
            format!(
                "[[plugins]]\nname = \"router\"\nwasm = \"{}\"\nsha256 = \"{router_digest}\"\n\
                 subscribe = [\"call.offered\"]\ngrant = [\"call.route\", \"call.escalate\"]\n\
                 capabilities = [\"state\", \"timers\", \"metrics\"]\n\
                 [plugins.config]\ndefault_target = \"kl\"\n",
                router.display()
            ),
        ),
    ];
    for (tenant, plugins) in manifests {
        let bundle = dir.path().join(tenant);
        std::fs::create_dir(&bundle).expect("a bundle directory");
        std::fs::write(
            bundle.join(MANIFEST),
            format!("id = \"{tenant}\"\ntimezone = \"Europe/Berlin\"\n{plugins}"),
        )
        .expect("a manifest");
    }
    let bundles = tenants::load_all(dir.path()).expect("the boundary bundles load");
    let config = SandboxConfig {
        pool_instances: 4,
        ..SandboxConfig::default()
    };
    let sandbox = Sandbox::new(config, Arc::new(CustomMetrics::new())).expect("a sandbox");
    let dispatcher =
        Dispatcher::from_bundles(bundles, Arc::new(sandbox), Arc::new(MemoryStore::new()))
            .expect("the boundary bundles prepare");
    (dir, dispatcher)
}

thread_local! {
    /// The boundary check's bundles, built once per thread (it starts a sandbox).
    static BOUNDARY: (tempfile::TempDir, Dispatcher) = boundary_bundles();
}

/// Bytes as a script of the hostile guest's `scripted` mode: a JSON object, or nothing.
pub fn check_script(data: &[u8]) -> Option<Value> {
    match serde_json::from_slice::<Value>(data) {
        Ok(v @ Value::Object(_)) => Some(v),
        _ => None,
    }
}

/// Replays one event of tenant `wild` per script, each beside a `call.offered` of tenant
/// `calm`, and panics unless every event ends processed or failed with a classified kind,
/// the run ends, and every calm call is routed.
pub fn check_boundary(scripts: &[Value]) {
    let mut lines = Vec::new();
    for (n, script) in scripts.iter().enumerate() {
        let time = format!("2026-11-19T09:{:02}:{:02}Z", (n / 60) % 60, n % 60);
        for (tenant, id, kind, data) in [
            ("wild", format!("w{n}"), "test.script", script.clone()),
            (
                "calm",
                format!("c{n}"),
                "call.offered",
                serde_json::json!({"call_id": format!("c{n}"), "queue": "q"}),
            ),
        ] {
            lines.push(
                serde_json::json!({"specversion": "1.0", "id": id, "source": "fuzz",
                    "type": kind, "tenant": tenant, "time": time, "data": data})
                .to_string(),
            );
        }
    }
    // The property is about the plugin's output: events stay within the intake's limit.
    if lines.iter().any(|l| l.len() > DEFAULT_MAX_EVENT_BYTES) {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    let store = runtime
        .block_on(leitstand_store::Store::open(
            &leitstand_store::StoreConfig {
                url: "sqlite::memory:".into(),
                ..leitstand_store::StoreConfig::default()
            },
        ))
        .expect("an in-memory store");
    let mut commands = Vec::new();
    let mut failed_tenants = Vec::new();
    let mut on_notice = |n: leitstand::replay::Notice| {
        if let leitstand::replay::Notice::PluginFailed { tenant, .. } = n {
            failed_tenants.push(tenant);
        }
    };
    let report = BOUNDARY.with(|(_, dispatcher)| {
        leitstand::replay::Replay::new(
            dispatcher,
            store,
            runtime.handle().clone(),
            leitstand::replay::ReplayOptions::default(),
            &mut commands,
            &mut on_notice,
        )
        .run(lines.join("\n").as_bytes())
        .expect("the replay ends")
    });
    let n = scripts.len() as u64;
    let stats = &report.replay;
    assert_eq!(stats.lines, 2 * n, "{stats:?}");
    assert_eq!(
        stats.processed + stats.failed,
        2 * n,
        "every event is processed or failed: {stats:?}"
    );
    for kind in stats.plugin_failures.keys() {
        assert!(
            FAILURE_KINDS.contains(&kind.as_str()),
            "unclassified failure {kind}"
        );
    }
    assert!(
        failed_tenants.iter().all(|t| t == "wild"),
        "only the wild tenant fails: {failed_tenants:?}"
    );
    let routed = String::from_utf8_lossy(&commands)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|c| c["tenant"] == "calm" && c["type"] == "call.route")
        .count() as u64;
    assert_eq!(routed, n, "every neighbour call is routed");
}
