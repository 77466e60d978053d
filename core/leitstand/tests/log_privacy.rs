//! No personal data in what Leitstand writes at the default log level (CONTRACT §1).
//!
//! The example day of three tenants, followed by broken and unusual events that carry
//! pseudonyms of their own (malformed JSON, a missing field, an unknown tenant, a routing
//! key naming another tenant, a bad slot, data that is not an object, an event over the
//! size limit, a custom type, a duplicate), is replayed through the example bundles with the
//! default log filter. None of the callers' or citizens' pseudonyms (`caller_ref`,
//! `citizen_ref`) may appear on stderr (the log and the replay's notices), on stdout (the
//! report) or in the metrics; they do reach the commands, where the ministry connector needs
//! them.

mod support;

use std::collections::BTreeSet;

use serde_json::{Value, json};

/// The `caller_ref` and `citizen_ref` values of `lines`.
fn pseudonyms(lines: &str) -> BTreeSet<String> {
    lines
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .flat_map(|event| {
            ["caller_ref", "citizen_ref"]
                .into_iter()
                .filter_map(move |k| event["data"][k].as_str().map(str::to_owned))
        })
        .collect()
}

/// Broken and unusual events, each with a pseudonym seen nowhere else.
fn hostile_lines() -> Vec<String> {
    let event = |id: &str, tenant: &str, ty: &str, data: Value| {
        json!({
            "specversion": "1.0", "id": id, "source": "acd/privacy-test", "type": ty,
            "tenant": tenant, "time": "2026-11-19T23:58:00+01:00", "data": data,
        })
    };
    let offered = |n: u32| {
        json!({"call_id": format!("privacy-c{n}"), "queue": "impf",
               "caller_ref": format!("p-leak-{n:02}")})
    };
    let mut missing_queue = offered(2);
    missing_queue
        .as_object_mut()
        .expect("object")
        .remove("queue");
    let mut too_large = offered(7);
    too_large["concern"] = json!("x".repeat(70_000));
    vec![
        // Cut off in the middle: malformed JSON.
        r#"{"specversion":"1.0","id":"privacy-1","source":"acd/privacy-test","type":"call.offered","tenant":"rlp-impf","data":{"caller_ref":"p-leak-01","#.to_owned(),
        event("privacy-2", "rlp-impf", "call.offered", missing_queue).to_string(),
        event("privacy-3", "nobody", "call.offered", offered(3)).to_string(),
        json!({"routing_key": "soest.call.offered",
               "event": event("privacy-4", "rlp-impf", "call.offered", offered(4))})
        .to_string(),
        event(
            "privacy-5",
            "rlp-impf",
            "booking.requested",
            json!({"booking_id": "privacy-b5", "center": "impfzentrum-kl",
                   "slot": "next tuesday", "citizen_ref": "p-leak-05"}),
        )
        .to_string(),
        {
            let mut e = event("privacy-6", "rlp-impf", "call.offered", json!({}));
            e["data"] = json!("caller p-leak-06 called");
            e.to_string()
        },
        event("privacy-7", "rlp-impf", "call.offered", too_large).to_string(),
        event(
            "privacy-8",
            "rlp-impf",
            "x.callback.note",
            json!({"caller_ref": "p-leak-08", "note": "call back after 3"}),
        )
        .to_string(),
        event("privacy-8", "rlp-impf", "call.offered", offered(9)).to_string(),
    ]
}

#[test]
fn the_default_log_level_shows_no_caller_or_citizen_refs() {
    let root = support::root();
    let day = std::fs::read_to_string(root.join("examples/day.jsonl")).expect("example day");
    let hostile = hostile_lines().join("\n");
    let mut refs = pseudonyms(&day);
    let day_refs = refs.len();
    assert!(
        day_refs > 1_000,
        "the example day has {day_refs} pseudonyms"
    );
    refs.extend(pseudonyms(&hostile));
    refs.extend((1..=9).map(|n| format!("p-leak-{n:02}")));

    let dir = tempfile::tempdir().expect("tmp");
    let events = dir.path().join("events.jsonl");
    std::fs::write(&events, format!("{day}{hostile}\n")).expect("write events");
    let commands = dir.path().join("commands.jsonl");
    let metrics = dir.path().join("metrics.prom");
    let out = support::leitstand_command()
        // The default log level: nothing from the environment may change it.
        .env_remove("LEITSTAND_LOG__FILTER")
        .env_remove("RUST_LOG")
        .arg("replay")
        .arg("--bundles")
        .arg(root.join("examples/bundles"))
        .arg("--commands")
        .arg(&commands)
        .arg("--metrics")
        .arg(&metrics)
        .arg(&events)
        .output()
        .expect("leitstand replay runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "replay failed:\n{stderr}");

    // The broken lines went through the paths that report them.
    let total = day.lines().count() + hostile_lines().len();
    for expected in [
        format!("line {}: malformed-json", day.lines().count() + 1),
        "missing".to_owned(),
        "unknown-tenant".to_owned(),
        "tenant-mismatch".to_owned(),
        "too-large".to_owned(),
        "data is not a JSON object".to_owned(),
        format!("line {total}: duplicate"),
    ] {
        assert!(
            stderr.contains(&expected),
            "no {expected:?} on stderr:\n{stderr}"
        );
    }

    let metrics_text = std::fs::read_to_string(&metrics).expect("metrics written");
    for (what, text) in [
        ("stderr", stderr.as_ref()),
        ("stdout", stdout.as_ref()),
        ("the metrics", metrics_text.as_str()),
    ] {
        let leaked: Vec<&String> = refs.iter().filter(|r| text.contains(r.as_str())).collect();
        assert!(
            leaked.is_empty(),
            "{what} shows pseudonyms {leaked:?}:\n{text}"
        );
    }

    // Where personal data is meant to go, it arrives: the ministry connector's http.post
    // commands carry the citizens' pseudonyms (so the check above is not vacuous).
    let commands = std::fs::read_to_string(&commands).expect("commands written");
    assert!(
        refs.iter().any(|r| commands.contains(r.as_str())),
        "no pseudonym in the commands"
    );
}
