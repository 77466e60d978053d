//! The fuzz targets' entry points in the normal test suite: the committed seed corpora,
//! hand-made hostile inputs (deep nesting, huge strings, invalid UTF-8, NUL bytes,
//! duplicate keys) and every input a fuzzing run once failed on go through the very
//! functions the targets run (`fuzz/src/lib.rs`, compiled in here by path), which panic
//! when an invariant breaks. How to add a failing input: `docs/FUZZING.md`.

#[path = "../../../fuzz/src/lib.rs"]
mod fuzz_entry;

use std::path::{Path, PathBuf};

use fuzz_entry::{
    Delivery, PLACEHOLDERS, TENANTS, Verdict, check_boundary, check_bundle, check_delivery,
    check_event, check_fixture, check_script, jsonl_objects, received,
};
use leitstand_contract::envelope::{DEFAULT_MAX_EVENT_BYTES, RejectReason};
use leitstand_engine::tenants::WasmDigest;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// The files of `fuzz/<kind>/<target>/`, sorted, with their names.
fn inputs(kind: &str, target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = fuzz_dir().join(kind).join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<(String, Vec<u8>)> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().is_file())
        .map(|e| {
            let bytes = std::fs::read(e.path()).expect("readable input");
            (e.file_name().to_string_lossy().into_owned(), bytes)
        })
        .collect();
    files.sort();
    files
}

fn reason(verdict: &Verdict) -> Option<RejectReason> {
    verdict.as_ref().err().map(|r| r.reason)
}

#[test]
fn the_event_seeds_pass_and_get_their_verdicts() {
    let seeds = inputs("seeds", "event");
    assert!(seeds.len() >= 20, "the event seeds are missing");
    for (name, bytes) in seeds {
        let verdict = check_event(&bytes);
        let expected = match name.as_str() {
            "tenant-mismatch" => Some(RejectReason::TenantMismatch),
            "custom-unknown-tenant" => Some(RejectReason::UnknownTenant),
            "data-base64" => Some(RejectReason::InvalidData),
            "binary-bad-header" => Some(RejectReason::InvalidAttribute),
            "nested" => Some(RejectReason::MissingAttribute),
            // The worked example's tenant has no bundle here.
            "worked-example-answered" => Some(RejectReason::UnknownTenant),
            _ => None,
        };
        assert_eq!(reason(&verdict), expected, "{name}: {verdict:?}");
    }
}

#[test]
fn the_bundle_seeds_pass() {
    let seeds = inputs("seeds", "bundle");
    assert!(seeds.len() >= 5, "the bundle seeds are missing");
    for (name, bytes) in seeds {
        let result = check_bundle(&bytes).unwrap_or_else(|| panic!("{name} was not loaded"));
        if ["minimal.toml", "endpoints.toml", "calendar.toml"].contains(&name.as_str()) {
            result.unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}

#[test]
fn the_fixture_seeds_pass() {
    let seeds = inputs("seeds", "fixture");
    assert!(!seeds.is_empty(), "the fixture seeds are missing");
    for (_, bytes) in seeds {
        check_fixture(&bytes);
    }
}

/// Inputs a fuzzing run failed on, kept as files in `fuzz/regressions/<target>/`.
#[test]
fn the_boundary_seeds_pass() {
    let seeds = inputs("seeds", "boundary");
    assert!(seeds.len() >= 5, "the boundary seeds are missing");
    let scripts: Vec<_> = seeds
        .iter()
        .map(|(name, bytes)| check_script(bytes).unwrap_or_else(|| panic!("{name} is no script")))
        .collect();
    check_boundary(&scripts);
}

#[test]
fn every_input_that_once_failed_passes_now() {
    for (name, bytes) in inputs("regressions", "event") {
        let verdict = check_event(&bytes);
        assert!(verdict.is_ok() || verdict.is_err(), "{name}");
    }
    for (name, bytes) in inputs("regressions", "bundle") {
        assert!(check_bundle(&bytes).is_some(), "{name} was not loaded");
    }
    for (_, bytes) in inputs("regressions", "fixture") {
        check_fixture(&bytes);
    }
    let scripts: Vec<_> = inputs("regressions", "boundary")
        .iter()
        .filter_map(|(_, bytes)| check_script(bytes))
        .collect();
    if !scripts.is_empty() {
        check_boundary(&scripts);
    }
}

fn offered(id: &str, tenant: &str) -> String {
    format!(
        r#"{{"specversion":"1.0","id":"{id}","source":"acd/kl","type":"call.offered","tenant":"{tenant}","time":"2026-11-19T08:00:00+01:00","data":{{"call_id":"c1","queue":"impf"}}}}"#
    )
}

/// What a hostile input must come to.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    Accepted,
    /// Refused, whichever the reason (a nesting or length limit may say it first).
    Refused,
    Reason(RejectReason),
}

fn judge(what: &str, verdict: &Verdict, expect: Expect) {
    match (expect, verdict) {
        (Expect::Accepted, Ok(_)) | (Expect::Refused, Err(_)) => {}
        (Expect::Reason(r), Err(e)) if e.reason == r => {}
        _ => panic!("{what}: expected {expect:?}, got {verdict:?}"),
    }
}

#[test]
fn hostile_events_are_refused_with_a_reason_or_accepted_consistently() {
    let deep_array = "[".repeat(100_000).into_bytes();
    let deep_data = offered("e", "soest")
        .replacen(
            r#"{"call_id":"c1","queue":"impf"}"#,
            &format!("{}1{}", r#"{"a":"#.repeat(500), "}".repeat(500)),
            1,
        )
        .into_bytes();
    let duplicate_keys = offered("e", "soest")
        .replacen(
            r#""tenant":"soest""#,
            r#""tenant":"RLP","tenant":"soest""#,
            1,
        )
        .into_bytes();
    let nul_in_routing_key =
        format!(">soest\0.call.offered\n\n{}", offered("e", "soest")).into_bytes();
    let typed_headers = b">soest.x\ncontent-type: application/json\nce-specversion: 1.0\n\
        ce-id: e\nce-source: s\nce-type: x.y\nce-tenant: soest\nx-nan: d:NaN\n\
        x-list: a:1\nx-void: v:\n\n{}"
        .to_vec();
    let nan_attribute =
        b">soest.x\ncontent-type: application/json\nce-specversion: 1.0\nce-id: d:NaN\n\n{}"
            .to_vec();
    let cases: Vec<(&str, Vec<u8>, Expect)> = vec![
        ("deep array", deep_array, Expect::Refused),
        ("deep data", deep_data, Expect::Refused),
        (
            "over the limit",
            vec![b' '; DEFAULT_MAX_EVENT_BYTES + 1],
            Expect::Reason(RejectReason::TooLarge),
        ),
        (
            "invalid UTF-8",
            b"{\"id\":\"\xff\xfe\"}".to_vec(),
            Expect::Reason(RejectReason::MalformedJson),
        ),
        (
            "a lone surrogate escape",
            offered("e\\ud800", "soest").into_bytes(),
            Expect::Reason(RejectReason::MalformedJson),
        ),
        (
            "a raw NUL byte in a string",
            offered("e\0", "soest").into_bytes(),
            Expect::Reason(RejectReason::MalformedJson),
        ),
        (
            "an escaped NUL",
            offered("e\\u0000", "soest").into_bytes(),
            Expect::Accepted,
        ),
        (
            "duplicate keys: the last counts",
            duplicate_keys,
            Expect::Accepted,
        ),
        (
            "a NUL in the routing key",
            nul_in_routing_key,
            Expect::Reason(RejectReason::TenantMismatch),
        ),
        (
            "NaN, array and void headers",
            typed_headers,
            Expect::Accepted,
        ),
        // A double is no CloudEvents type: refused naming the attribute and the type.
        (
            "a NaN where an attribute is",
            nan_attribute,
            Expect::Reason(RejectReason::InvalidAttribute),
        ),
    ];
    for (what, bytes, expect) in cases {
        judge(what, &check_event(&bytes), expect);
    }
}

#[test]
fn the_largest_event_the_contract_promises_passes_every_check() {
    let base = offered("e", "rlp-impf");
    let pad = DEFAULT_MAX_EVENT_BYTES - base.len() - r#","pad":"""#.len();
    let body = base.replacen(
        r#""queue":"impf""#,
        &format!(r#""queue":"impf","pad":"{}""#, "x".repeat(pad)),
        1,
    );
    assert_eq!(body.len(), DEFAULT_MAX_EVENT_BYTES);
    judge("64 KiB", &check_event(body.as_bytes()), Expect::Accepted);
}

/// Found by the `event` target: an accepted event whose id is longer than 255 bytes (an
/// AMQP short string) made writing any command it caused panic, as `correlation_id`.
#[test]
fn a_cause_longer_than_an_amqp_short_string_is_written() {
    for len in [255, 256, 303, 1000] {
        let id = "i".repeat(len);
        judge(
            &format!("id of {len} bytes"),
            &check_event(offered(&id, "soest").as_bytes()),
            Expect::Accepted,
        );
    }
}

/// Found by a hand-made input through the `event` entry point: a refused message with a
/// NaN or an infinity in its headers became a dead letter the outbox could not read back
/// (the outbox keeps properties as JSON, which has neither), and the tenant's outbox relay
/// failed on it again after every reconnect; headers nested deeper than the outbox's JSON
/// reader goes did the same.
#[test]
fn a_dead_letter_with_headers_json_cannot_hold_leaves_the_outbox() {
    for header in [
        "x-nan: d:NaN",
        "x-inf: d:inf",
        "x-float: f:-inf",
        "x-list: a:1",
        "x-deep: m:200",
    ] {
        let input = format!(
            ">soest.x\ncontent-type: application/json\nce-specversion: 1.0\n{header}\n\n{{}}"
        );
        judge(
            header,
            &check_event(input.as_bytes()),
            Expect::Reason(RejectReason::MissingAttribute),
        );
    }
}

/// Found by the `fixture` target: without serde_json's `float_roundtrip`, a number read,
/// printed and read again could come back one unit in the last place off, so a plugin
/// test's expectation written with `--write-expect` could fail against the very output it
/// was written from, and a plugin could see a number in an event's `data` that its sender
/// never sent. (This suite always had the feature, as a dev-dependency; the fuzz build,
/// with the daemon's features, showed it.)
#[test]
fn numbers_are_read_to_the_last_bit() {
    let number = "0.100000000000011512312578274";
    let line = format!(r#"{{"line":{number},"rejected":"malformed-json","detail":"x"}}"#);
    check_fixture(line.as_bytes());
    let event = offered("e", "soest").replacen(
        r#""queue":"impf""#,
        &format!(r#""queue":"impf","weight":{number}"#),
        1,
    );
    judge(
        "a long decimal",
        &check_event(event.as_bytes()),
        Expect::Accepted,
    );
}

#[test]
fn each_tenant_is_dispatched_and_the_receive_time_fills_in() {
    for tenant in TENANTS {
        let body = offered("e", tenant).replacen(r#""time":"2026-11-19T08:00:00+01:00","#, "", 1);
        let delivery = Delivery::from_input(format!(">{tenant}.call.offered\n\n{body}").as_bytes());
        assert_eq!(
            delivery.routing_key.as_deref(),
            Some(&*format!("{tenant}.call.offered"))
        );
        let env = check_delivery(&delivery).unwrap_or_else(|e| panic!("{tenant}: {e}"));
        assert_eq!(env.time, received());
    }
}

#[test]
fn hostile_manifests_are_refused_with_a_reason() {
    let deep = format!(
        "id = \"t\"\ntimezone = \"UTC\"\nx = {}1{}\n",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("deep nesting", deep.into_bytes()),
        (
            "a huge string",
            format!("id = \"{}\"\ntimezone = \"UTC\"\n", "a".repeat(1 << 20)).into_bytes(),
        ),
        ("invalid UTF-8", b"id = \"\xff\"\ntimezone = \"UTC\"\n".to_vec()),
        ("a NUL byte", b"id = \"t\0\"\ntimezone = \"UTC\"\n".to_vec()),
        ("an escaped NUL", b"id = \"t\\u0000\"\ntimezone = \"UTC\"\n".to_vec()),
        (
            "a duplicate key",
            b"id = \"t\"\nid = \"u\"\ntimezone = \"UTC\"\n".to_vec(),
        ),
        (
            "a duplicate plugin",
            format!(
                "id = \"t\"\ntimezone = \"UTC\"\n{p}{p}",
                p = format!(
                    "[[plugins]]\nname = \"p\"\nwasm = \"p.wasm\"\nsha256 = \"{}\"\nsubscribe = [\"x\"]\n",
                    WasmDigest::of(PLACEHOLDERS[0].1)
                )
            )
            .into_bytes(),
        ),
        (
            "a wasm file that is the manifest",
            b"id = \"t\"\ntimezone = \"UTC\"\n[[plugins]]\nname = \"p\"\nwasm = \"tenant.toml\"\n\
              sha256 = \"00\"\nsubscribe = [\"x\"]\n"
                .to_vec(),
        ),
        (
            "a wasm file that is a directory",
            b"id = \"t\"\ntimezone = \"UTC\"\n[[plugins]]\nname = \"p\"\nwasm = \"..\"\n\
              sha256 = \"00\"\nsubscribe = [\"x\"]\n"
                .to_vec(),
        ),
    ];
    for (what, bytes) in cases {
        let result = check_bundle(&bytes).unwrap_or_else(|| panic!("{what} was not loaded"));
        assert!(result.is_err(), "{what} was accepted");
    }
    // The loader would read any file; the fuzz entry point does not let it.
    let outside = b"id = \"t\"\ntimezone = \"UTC\"\n[[plugins]]\nname = \"p\"\n\
                    wasm = \"/dev/zero\"\nsha256 = \"00\"\nsubscribe = [\"x\"]\n";
    assert!(check_bundle(outside).is_none());
}

#[test]
fn hostile_fixtures_pass() {
    let deep = format!("{}1{}\n", r#"{"a":"#.repeat(1_000), "}".repeat(1_000));
    let nul = "{\"cause\":\"e\\u0000\"}\n---\n{\"cause\":\"e\"}\n";
    let dup = "{\"cause\":\"a\",\"cause\":\"b\"}\n---\n{\"cause\":\"b\"}\n";
    let huge = format!("{{\"detail\":\"{}\"}}\n", "x".repeat(1 << 20));
    for text in [deep.as_str(), nul, dup, huge.as_str(), "\u{feff}{}\n---\n"] {
        check_fixture(text.as_bytes());
    }
    check_fixture(b"\xff\xfe{}\n");
    assert_eq!(jsonl_objects(dup).len(), 2);
    assert_eq!(
        jsonl_objects(&deep).len(),
        0,
        "nesting beyond serde_json's limit"
    );
}
