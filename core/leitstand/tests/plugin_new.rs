//! The README's way to a new plugin works as written: its three commands, run in a scratch
//! copy of the plugin workspace, create the crate (a member of the workspace), build it and
//! pass its fixture suite.

mod support;

use std::path::Path;
use std::process::Command;

/// The README's code block that starts with `leitstand plugin new`.
fn readme_commands() -> Vec<String> {
    let readme = std::fs::read_to_string(support::root().join("README.md")).expect("README");
    let start = readme
        .find("leitstand plugin new rueckruf")
        .expect("the README shows `leitstand plugin new`");
    let block = &readme[start..];
    let end = block.find("```").expect("the code block ends");
    block[..end]
        .lines()
        .map(|l| l.split(" #").next().unwrap_or_default().trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir").flatten() {
        let path = entry.path();
        let target = to.join(entry.file_name());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).expect("copy");
        }
    }
}

#[test]
fn the_readmes_commands_create_build_and_test_a_new_plugin() {
    let commands = readme_commands();
    assert_eq!(commands.len(), 3, "{commands:?}");
    let root = support::root();
    let tmp = tempfile::tempdir().expect("tmp");
    let scratch = tmp.path();
    // The plugin workspace as a newcomer has it: the manifest, the SDK and the template.
    let plugins = scratch.join("plugins");
    std::fs::create_dir_all(&plugins).expect("plugins");
    for file in ["Cargo.toml", "Cargo.lock"] {
        std::fs::copy(root.join("plugins").join(file), plugins.join(file)).expect("copy");
    }
    for dir in [".cargo", "sdk", "template"] {
        copy_dir(&root.join("plugins").join(dir), &plugins.join(dir));
    }
    copy_dir(&root.join("wit"), &scratch.join("wit"));
    // Only the workspace's own members: the copy has no field plugins.
    let manifest = plugins.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).expect("manifest");
    let members_start = text.find("members = [").expect("members");
    let members_end = members_start + text[members_start..].find(']').expect("closed");
    let text = format!(
        "{}members = [\"sdk\", \"template\"]{}",
        &text[..members_start],
        &text[members_end + 1..]
    );
    std::fs::write(&manifest, text).expect("manifest");
    // Builds share the repository's target directory (its compiled dependencies).
    std::os::unix::fs::symlink(root.join("target"), scratch.join("target")).expect("link");
    let bin = scratch.join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_leitstand"), bin.join("leitstand"))
        .expect("link leitstand");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for command in &commands {
        let out = Command::new("bash")
            .args(["-c", command])
            .current_dir(scratch)
            .env("PATH", &path)
            .env_remove("CARGO_TARGET_DIR")
            .env(
                "LEITSTAND_SANDBOX__COMPILE_CACHE",
                support::sandbox_config().compile_cache.expect("cache"),
            )
            .output()
            .expect("bash runs");
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "`{command}` failed:\n{said}");
        if command.starts_with("leitstand plugin test") {
            assert!(said.contains("0 failed"), "{said}");
        }
    }
    let members = std::fs::read_to_string(&manifest).expect("manifest");
    assert!(members.contains("\"rueckruf\""), "{members}");
}
