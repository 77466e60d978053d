//! `leitstand plugin new NAME`: a new plugin crate from the template in
//! `plugins/template`, with its passing fixture, in a plugin workspace.

use std::path::Path;

use anyhow::{Context as _, bail};

/// The template's files, relative to the crate directory.
const FILES: [(&str, &str); 7] = [
    (
        "Cargo.toml",
        include_str!("../../../plugins/template/Cargo.toml"),
    ),
    (
        "src/lib.rs",
        include_str!("../../../plugins/template/src/lib.rs"),
    ),
    (
        "README.md",
        include_str!("../../../plugins/template/README.md"),
    ),
    (
        "fixtures/harness.toml",
        include_str!("../../../plugins/template/fixtures/harness.toml"),
    ),
    (
        "fixtures/routes-and-escalates/config.toml",
        include_str!("../../../plugins/template/fixtures/routes-and-escalates/config.toml"),
    ),
    (
        "fixtures/routes-and-escalates/events.jsonl",
        include_str!("../../../plugins/template/fixtures/routes-and-escalates/events.jsonl"),
    ),
    (
        "fixtures/routes-and-escalates/expect.jsonl",
        include_str!("../../../plugins/template/fixtures/routes-and-escalates/expect.jsonl"),
    ),
];

/// Creates the plugin `name` in the workspace `dir` and returns what to do next.
pub fn create(dir: &Path, name: &str) -> anyhow::Result<String> {
    let valid = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid {
        bail!("{name:?} is not a plugin name ([a-z][a-z0-9-]*)");
    }
    if !dir.join("Cargo.toml").is_file() {
        bail!(
            "{} is not a plugin workspace (no Cargo.toml); give one with --dir",
            dir.display()
        );
    }
    let crate_dir = dir.join(name);
    if crate_dir.exists() {
        bail!("{} exists already", crate_dir.display());
    }
    let package = format!("leitstand-{name}");
    for (file, text) in FILES {
        let path = crate_dir.join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let text = text
            .replace("leitstand-template", &package)
            .replace("leitstand_template", &package.replace('-', "_"));
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let wasm = format!("{}.wasm", package.replace('-', "_"));
    Ok(format!(
        "created {dir}\n\
         next:\n  \
         1. add \"{name}\" to `members` in {workspace}\n  \
         2. build:  (cd {root} && cargo build --release -p {package})\n  \
         3. test:   leitstand plugin test target/wasm32-wasip2/release/{wasm} --suite {dir}/fixtures\n  \
         4. change Config and handle() in {dir}/src/lib.rs, and the fixtures with them",
        dir = crate_dir.display(),
        workspace = dir.join("Cargo.toml").display(),
        root = dir.display(),
    ))
}
