//! `leitstand plugin new NAME`: a new plugin crate from the template in
//! `plugins/template`, with its passing fixture, in a plugin workspace.

use std::path::Path;

use anyhow::{Context as _, bail};

/// The template's files, relative to the crate directory.
const FILES: [(&str, &str); 7] = [
    (
        "Cargo.toml",
        include_str!("../../../../plugins/template/Cargo.toml"),
    ),
    (
        "src/lib.rs",
        include_str!("../../../../plugins/template/src/lib.rs"),
    ),
    (
        "README.md",
        include_str!("../../../../plugins/template/README.md"),
    ),
    (
        "fixtures/harness.toml",
        include_str!("../../../../plugins/template/fixtures/harness.toml"),
    ),
    (
        "fixtures/routes-and-escalates/config.toml",
        include_str!("../../../../plugins/template/fixtures/routes-and-escalates/config.toml"),
    ),
    (
        "fixtures/routes-and-escalates/events.jsonl",
        include_str!("../../../../plugins/template/fixtures/routes-and-escalates/events.jsonl"),
    ),
    (
        "fixtures/routes-and-escalates/expect.jsonl",
        include_str!("../../../../plugins/template/fixtures/routes-and-escalates/expect.jsonl"),
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
    let manifest = dir.join("Cargo.toml");
    join_workspace(&manifest, name)?;
    let wasm = format!("{}.wasm", package.replace('-', "_"));
    Ok(format!(
        "created {dir} (a member of {workspace} now)\n\
         next:\n  \
         1. build:  (cd {root} && cargo build --release -p {package})\n  \
         2. test:   leitstand plugin test target/wasm32-wasip2/release/{wasm} --suite {dir}/fixtures\n  \
         3. change Config and handle() in {dir}/src/lib.rs, and the fixtures with them",
        dir = crate_dir.display(),
        workspace = manifest.display(),
        root = dir.display(),
    ))
}

/// Adds `member` to the `members` list of the workspace manifest at `path`, keeping the
/// rest of the file (comments, layout) as it is.
fn join_workspace(path: &Path, member: &str) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let table: toml::Table =
        toml::from_str(&text).with_context(|| format!("{} is not TOML", path.display()))?;
    let Some(workspace) = table.get("workspace") else {
        bail!("{}: no [workspace] to add {member:?} to", path.display());
    };
    let Some(members) = workspace.get("members").and_then(toml::Value::as_array) else {
        // A workspace without a list: the list starts under its header.
        let header = text
            .find("[workspace]")
            .with_context(|| format!("{}: cannot find [workspace]", path.display()))?;
        let at = header + "[workspace]".len();
        let updated = format!("{}\nmembers = [\"{member}\"]{}", &text[..at], &text[at..]);
        return std::fs::write(path, updated)
            .with_context(|| format!("cannot write {}", path.display()));
    };
    if members.iter().any(|m| m.as_str() == Some(member)) {
        return Ok(());
    }
    // The list's closing bracket: the first `]` after `members = [` that is not in a string.
    let start = text
        .find("members")
        .and_then(|i| text[i..].find('[').map(|j| i + j + 1))
        .with_context(|| format!("{}: cannot find the `members` list", path.display()))?;
    let mut in_string = false;
    let close = text[start..]
        .char_indices()
        .find(|&(_, c)| {
            if c == '"' {
                in_string = !in_string;
            }
            c == ']' && !in_string
        })
        .map(|(i, _)| start + i)
        .with_context(|| format!("{}: the `members` list is not closed", path.display()))?;
    let before = text[start..close].trim_end();
    let separator = match before.chars().last() {
        None => "",
        Some(',') => " ",
        Some(_) => ", ",
    };
    let at = start + before.len();
    let updated = format!("{}{separator}\"{member}\"{}", &text[..at], &text[at..]);
    std::fs::write(path, updated).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_plugin_joins_the_workspace_members_and_keeps_the_file_as_it_was() {
        let dir = tempfile::tempdir().expect("tmp");
        let manifest = dir.path().join("Cargo.toml");
        let text = "# plugins\n[workspace]\nresolver = \"2\"\nmembers = [\"sdk\", \"rota\"]\n\n[workspace.dependencies]\nserde = \"1\"\n";
        std::fs::write(&manifest, text).expect("write");
        join_workspace(&manifest, "rueckruf").expect("joined");
        let after = std::fs::read_to_string(&manifest).expect("read");
        assert!(after.starts_with("# plugins\n"), "{after}");
        assert!(
            after.contains("members = [\"sdk\", \"rota\", \"rueckruf\"]"),
            "{after}"
        );
        join_workspace(&manifest, "rueckruf").expect("twice is once");
        assert_eq!(std::fs::read_to_string(&manifest).expect("read"), after);
        std::fs::write(&manifest, "[workspace]\nresolver = \"2\"\n").expect("write");
        join_workspace(&manifest, "rueckruf").expect("joined");
        let after = std::fs::read_to_string(&manifest).expect("read");
        assert_eq!(
            after,
            "[workspace]\nmembers = [\"rueckruf\"]\nresolver = \"2\"\n"
        );
        std::fs::write(&manifest, "[package]\nname = \"x\"\n").expect("write");
        let e = join_workspace(&manifest, "rueckruf").expect_err("no workspace");
        assert!(e.to_string().contains("no [workspace] to add"), "{e}");
    }
}
