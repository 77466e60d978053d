//! `leitstand bundle check` on the `soest` example bundle: the intact bundle passes, and a
//! copy with one broken reference in the switchboard's directory — a concern pointing at no
//! department, a knowledge answer for an unknown concern, a default naming no department,
//! a department naming a calendar the bundle does not declare — is refused with a non-zero
//! exit and the entry named.

mod support;

use std::path::{Path, PathBuf};

/// The soest manifest as a copy in a temporary directory can use: the component pinned in
/// it is referred to by its absolute path instead of the example's relative one.
fn soest_manifest() -> String {
    let root = support::root();
    let text = std::fs::read_to_string(root.join("examples/bundles/soest/tenant.toml"))
        .expect("the soest example bundle");
    let guest = support::guest("leitstand_switchboard");
    let mut replaced = 0;
    let lines: Vec<String> = text
        .lines()
        .map(|line| match line.strip_prefix("wasm = \"") {
            Some(path) if path.ends_with("leitstand_switchboard.wasm\"") => {
                replaced += 1;
                format!("wasm = \"{}\"", guest.display())
            }
            _ => line.to_owned(),
        })
        .collect();
    assert_eq!(replaced, 1, "soest runs the switchboard once");
    lines.join("\n") + "\n"
}

/// Writes `manifest` as `<dir>/soest/tenant.toml` and returns the bundle directory.
fn write(dir: &Path, manifest: &str) -> PathBuf {
    let bundle = dir.join("soest");
    std::fs::create_dir_all(&bundle).expect("bundle dir");
    std::fs::write(bundle.join("tenant.toml"), manifest).expect("manifest");
    bundle
}

/// `manifest` with the first line equal to `from` after the line `after` replaced by `to`.
fn replace_after(manifest: &str, after: &str, from: &str, to: &str) -> String {
    let mut lines: Vec<&str> = manifest.lines().collect();
    let start = lines
        .iter()
        .position(|l| *l == after)
        .unwrap_or_else(|| panic!("{after:?} not in the manifest"));
    let at = lines[start..]
        .iter()
        .position(|l| *l == from)
        .map(|i| start + i)
        .unwrap_or_else(|| panic!("{from:?} not after {after:?}"));
    lines[at] = to;
    lines.join("\n") + "\n"
}

/// Runs `leitstand bundle check DIR`: (success, stderr and stdout).
fn check(dir: &Path) -> (bool, String) {
    let out = support::leitstand(&["bundle", "check", dir.to_str().expect("utf-8 path")]);
    let said =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    (out.status.success(), said)
}

/// Checks a copy of soest changed by `change`: refused, naming the switchboard's config
/// and `expected`.
fn refused(change: impl FnOnce(&str) -> String, expected: &str) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let bundle = write(tmp.path(), &change(&soest_manifest()));
    let (ok, said) = check(&bundle);
    assert!(!ok, "a broken reference must be refused:\n{said}");
    assert!(
        said.contains("tenant.toml") && said.contains("key `plugins.switchboard.config`"),
        "the file and the plugin are named:\n{said}"
    );
    assert!(said.contains(expected), "expected {expected:?} in:\n{said}");
}

#[test]
fn the_intact_soest_bundle_passes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let bundle = write(tmp.path(), &soest_manifest());
    let (ok, said) = check(&bundle);
    assert!(ok, "{said}");
    assert!(said.contains("ok: tenant soest"), "{said}");
    assert!(said.contains("plugins: switchboard"), "{said}");
}

#[test]
fn a_concern_pointing_at_no_department_is_refused() {
    refused(
        |m| {
            replace_after(
                m,
                "[plugins.config.concerns.kfz-zulassung]",
                "department = \"kfz-stelle\"",
                "department = \"kfz\"",
            )
        },
        "concerns.kfz-zulassung.department: \"kfz\" is not a department of `departments`",
    );
}

#[test]
fn a_knowledge_answer_for_an_unknown_concern_is_refused() {
    let manifest = soest_manifest();
    // The entry's index, as the error names it: how many entries come before it.
    let entry = "id = \"wohngeld-formular-neu\"";
    let before = &manifest[..manifest.find(entry).expect("the entry")];
    let index = before.matches("[[plugins.config.knowledge]]").count() - 1;
    refused(
        |m| {
            replace_after(
                m,
                entry,
                "concerns = [\"wohngeld\"]",
                "concerns = [\"wohngld\"]",
            )
        },
        &format!(
            "knowledge[{index}] (id wohngeld-formular-neu).concerns[0]: \"wohngld\" is not a \
             concern of `concerns`"
        ),
    );
}

#[test]
fn a_default_naming_no_department_is_refused() {
    refused(
        |m| {
            replace_after(
                m,
                "[plugins.config]",
                "[plugins.config]",
                "[plugins.config]\ndefault = \"buergeramt\"",
            )
        },
        "default: \"buergeramt\" is not a department of `departments`",
    );
}

#[test]
fn a_department_naming_an_undeclared_calendar_is_refused() {
    refused(
        |m| {
            replace_after(
                m,
                "[plugins.config.departments.sozialamt]",
                "calendar = \"sozialamt\"",
                "calendar = \"sozialamt-alt\"",
            )
        },
        "departments.sozialamt.calendar: the tenant declares no calendar \"sozialamt-alt\"",
    );
}
