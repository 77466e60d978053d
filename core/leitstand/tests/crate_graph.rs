//! The crate graph is the architecture (docs/ARCHITECTURE.md), and this test keeps it so,
//! over `cargo metadata` of the workspace: lapin, wasmtime and sqlx are each a dependency
//! of exactly one crate; no crate depends on both lapin and wasmtime; the contract types
//! and the tenant's calendar depend on no other crate of Leitstand's; the engine reaches
//! neither the store nor the transport, and they do not reach the engine; the ACD adapters
//! stand on the contract and the SLA books alone, and so does the simulator's center; the
//! binary is the only crate on top. Dependencies count as a crate's own (normal and
//! build); a test's dev-dependencies do not (the binary's integration tests publish on
//! RabbitMQ themselves).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;

/// Each workspace crate with its own dependencies (normal and build), by package name.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(support::root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).expect("metadata JSON");
    let members: BTreeSet<String> = meta["workspace_members"]
        .as_array()
        .expect("members")
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect();
    meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter(|p| members.contains(p["id"].as_str().unwrap_or_default()))
        .map(|p| {
            let deps = p["dependencies"]
                .as_array()
                .expect("dependencies")
                .iter()
                .filter(|d| d["kind"].as_str() != Some("dev"))
                .filter_map(|d| d["name"].as_str().map(str::to_owned))
                .collect();
            (p["name"].as_str().expect("name").to_owned(), deps)
        })
        .collect()
}

/// Every crate `name` depends on, directly or through Leitstand's other crates.
fn reach(graph: &BTreeMap<String, BTreeSet<String>>, name: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![name.to_owned()];
    while let Some(n) = todo.pop() {
        for d in graph.get(&n).into_iter().flatten() {
            if seen.insert(d.clone()) {
                todo.push(d.clone());
            }
        }
    }
    seen
}

#[test]
fn the_crate_graph_keeps_the_architecture() {
    let graph = graph();
    for expected in [
        "leitstand-contract",
        "leitstand-calendar",
        "leitstand-sla",
        "leitstand-metrics",
        "leitstand-engine",
        "leitstand-store",
        "leitstand-amqp",
        "leitstand-adapters",
        "leitstand-sim",
        "leitstand",
    ] {
        assert!(
            graph.contains_key(expected),
            "{expected} is a workspace crate"
        );
    }
    // Each heavy dependency lives in exactly one crate.
    for (dependency, owner) in [
        ("lapin", "leitstand-amqp"),
        ("wasmtime", "leitstand-engine"),
        ("wasmtime-wasi", "leitstand-engine"),
        ("sqlx", "leitstand-store"),
    ] {
        let users: Vec<&String> = graph
            .iter()
            .filter(|(_, deps)| deps.contains(dependency))
            .map(|(name, _)| name)
            .collect();
        assert_eq!(users, [owner], "{dependency} is {owner}'s alone");
    }
    for (name, deps) in &graph {
        assert!(
            !(deps.contains("lapin") && deps.contains("wasmtime")),
            "{name} depends on both lapin and wasmtime"
        );
        assert!(
            !reach(&graph, name).contains(name),
            "{name} depends on itself (a cycle)"
        );
    }
    let ours = |name: &str| -> BTreeSet<String> {
        reach(&graph, name)
            .into_iter()
            .filter(|d| d.starts_with("leitstand"))
            .collect()
    };
    for bottom in ["leitstand-contract", "leitstand-calendar"] {
        assert!(ours(bottom).is_empty(), "{bottom} is at the bottom");
    }
    // The calendar sits beside the contract at the bottom: the books read the tenant's
    // (whether it is open, what holds on a report's day), the engine's bundle loader
    // validates it and the sandbox answers plugins from it. The store does not need it.
    const BOTTOM: [&str; 2] = ["leitstand-contract", "leitstand-calendar"];
    for (name, allowed) in [
        ("leitstand-sla", &BOTTOM[..]),
        (
            "leitstand-metrics",
            &[BOTTOM[0], BOTTOM[1], "leitstand-sla"],
        ),
        ("leitstand-store", &["leitstand-contract"]),
        (
            "leitstand-amqp",
            &[BOTTOM[0], BOTTOM[1], "leitstand-sla", "leitstand-metrics"],
        ),
        (
            "leitstand-engine",
            &[BOTTOM[0], BOTTOM[1], "leitstand-sla", "leitstand-metrics"],
        ),
        // The ACD adapters read and write the contract's events and count them by the
        // SLA books; they reach neither the engine, the store nor the broker.
        (
            "leitstand-adapters",
            &[BOTTOM[0], BOTTOM[1], "leitstand-sla"],
        ),
        // The simulator's center emits events and reads commands as JSON and counts by the
        // SLA books' staffing; the plugins reach it only through the binary's driver.
        ("leitstand-sim", &[BOTTOM[0], BOTTOM[1], "leitstand-sla"]),
    ] {
        let extra: Vec<String> = ours(name)
            .into_iter()
            .filter(|d| !allowed.contains(&d.as_str()))
            .collect();
        assert!(extra.is_empty(), "{name} must not reach {extra:?}");
    }
    // Nothing builds on the binary.
    for (name, deps) in &graph {
        assert!(!deps.contains("leitstand"), "{name} depends on the binary");
    }
}
