//! Signed bundles: `leitstand bundle keygen`, `sign` and `verify` through the binary, and
//! the daemon's loader with `bundles.require_signature`, which refuses unsigned bundles,
//! unknown keys and any file changed since signing, each named.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;

use leitstand_engine::registry::BundlesConfig;
use leitstand_engine::registry::Registry;
use leitstand_engine::sandbox::Sandbox;
use leitstand_engine::state::Detached;
use leitstand_engine::tenants::{Bundle, WasmDigest};
use leitstand_metrics::CustomMetrics;
use support::{PluginEntry, leitstand_command};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn run(args: &[&Path]) -> Output {
    leitstand_command()
        .args(args)
        .output()
        .expect("leitstand runs")
}

fn said(out: &Output) -> String {
    format!("{}{}", text(&out.stdout), text(&out.stderr))
}

fn digest_of(path: &Path) -> String {
    WasmDigest::of(&std::fs::read(path).expect("read")).to_string()
}

/// A workspace of two bundles, two key pairs and a guest kept outside the bundles:
/// `bundles/calm` carries its plugin's wasm and a nested data file inside its directory,
/// `bundles/remote` names a wasm in `guests/` outside it (as the example bundles do).
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let bundles = root.join("bundles");
        support::write_bundle(
            &bundles,
            "calm",
            "",
            &[PluginEntry {
                name: "router",
                guest: "leitstand_template",
                subscribe: &["call.offered"],
                grant: &["call.route"],
                limits: "",
                config: "default_target = \"kl\"",
            }],
        );
        std::fs::create_dir_all(bundles.join("calm/zones")).expect("mkdir");
        std::fs::write(
            bundles.join("calm/zones/notes.txt"),
            "Zone 1: Kaiserslautern\n",
        )
        .expect("write");

        std::fs::create_dir_all(root.join("guests")).expect("mkdir");
        let guest = root.join("guests/leitstand_template.wasm");
        std::fs::copy(support::guest("leitstand_template"), &guest).expect("copy guest");
        std::fs::create_dir_all(bundles.join("remote")).expect("mkdir");
        std::fs::write(
            bundles.join("remote/tenant.toml"),
            format!(
                "id = \"remote\"\ntimezone = \"Europe/Berlin\"\n\n[[plugins]]\nname = \"router\"\n\
                 wasm = \"../../guests/leitstand_template.wasm\"\nsha256 = \"{}\"\n\
                 subscribe = [\"call.offered\"]\ngrant = [\"call.route\"]\n\
                 capabilities = [\"state\", \"timers\", \"metrics\"]\n\n[plugins.config]\n\
                 default_target = \"kl\"\n",
                digest_of(&guest)
            ),
        )
        .expect("write manifest");

        std::fs::create_dir_all(root.join("keys")).expect("mkdir");
        for name in ["ops", "stranger"] {
            let out = run(&[
                Path::new("bundle"),
                Path::new("keygen"),
                Path::new("--out"),
                &root.join("keys").join(name),
            ]);
            assert!(out.status.success(), "{}", said(&out));
        }
        Self { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn key_id(&self, name: &str) -> String {
        let line = std::fs::read_to_string(self.path(&format!("keys/{name}.pub"))).expect("pub");
        line.split_whitespace().nth(2).expect("key id").to_owned()
    }

    fn sign(&self, bundle: &str, key: &str) -> Output {
        run(&[
            Path::new("bundle"),
            Path::new("sign"),
            &self.path(bundle),
            Path::new("--key"),
            &self.path(&format!("keys/{key}.key")),
        ])
    }

    fn verify(&self, bundle: &str, trusted: &str) -> Output {
        run(&[
            Path::new("bundle"),
            Path::new("verify"),
            &self.path(bundle),
            Path::new("--trusted-key"),
            &self.path(trusted),
        ])
    }

    /// Signs `bundle` with `key`, which must succeed.
    fn signed(&self, bundle: &str, key: &str) {
        let out = self.sign(bundle, key);
        assert!(out.status.success(), "{}", said(&out));
    }

    fn edit(&self, file: &str, from: &str, to: &str) {
        let path = self.path(file);
        let before = std::fs::read_to_string(&path).expect("read");
        assert!(before.contains(from), "{from:?} not in {file}");
        std::fs::write(&path, before.replacen(from, to, 1)).expect("write");
    }
}

/// Asserts that `out` failed and said each of `needles`, and never `unwanted`.
fn refused(out: &Output, needles: &[&str], unwanted: &[&str]) {
    let said = said(out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    for n in needles {
        assert!(said.contains(n), "{n:?} missing from:\n{said}");
    }
    for u in unwanted {
        assert!(!said.contains(u), "{u:?} said in:\n{said}");
    }
}

#[test]
fn a_signed_bundle_verifies_and_says_which_key_signed_it() {
    let f = Fixture::new();
    let ops = f.key_id("ops");
    assert_eq!(ops.len(), 16);

    // Key files: the secret is private, a second keygen overwrites nothing.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(f.path("keys/ops.key"))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }
    let secret = std::fs::read(f.path("keys/ops.key")).expect("read");
    let again = run(&[
        Path::new("bundle"),
        Path::new("keygen"),
        Path::new("--out"),
        &f.path("keys/ops"),
    ]);
    assert_eq!(again.status.code(), Some(2), "{}", said(&again));
    assert!(
        said(&again).contains("never overwritten"),
        "{}",
        said(&again)
    );
    assert_eq!(std::fs::read(f.path("keys/ops.key")).expect("read"), secret);

    // Signing the directory of bundles signs each.
    let out = f.sign("bundles", "ops");
    assert!(out.status.success(), "{}", said(&out));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("signed: tenant calm"), "{stdout}");
    assert!(stdout.contains("signed: tenant remote"), "{stdout}");
    assert!(stdout.contains(&format!("with key {ops}")), "{stdout}");

    // The signature file: the key, the manifest, the plugin as the manifest names it, the
    // other files — not the plugin's wasm twice.
    let signature = std::fs::read_to_string(f.path("bundles/calm/signature.toml")).expect("sig");
    let parsed: toml::Table = toml::from_str(&signature).expect("toml");
    assert_eq!(parsed["format"].as_integer(), Some(1));
    assert_eq!(parsed["key_id"].as_str(), Some(ops.as_str()));
    assert_eq!(
        parsed["manifest_sha256"].as_str(),
        Some(digest_of(&f.path("bundles/calm/tenant.toml")).as_str())
    );
    let plugins = parsed["plugins"].as_array().expect("plugins");
    assert_eq!(plugins[0]["wasm"].as_str(), Some("leitstand_template.wasm"));
    let files: Vec<&str> = parsed["files"]
        .as_array()
        .expect("files")
        .iter()
        .filter_map(|f| f["path"].as_str())
        .collect();
    assert_eq!(files, ["zones/notes.txt"]);
    let remote = std::fs::read_to_string(f.path("bundles/remote/signature.toml")).expect("sig");
    assert!(
        remote.contains("wasm = \"../../guests/leitstand_template.wasm\""),
        "{remote}"
    );

    // Verified by the key file and by a directory of keys.
    for trusted in ["keys/ops.pub", "keys"] {
        let out = f.verify("bundles", trusted);
        let stdout = text(&out.stdout);
        assert!(out.status.success(), "{}", said(&out));
        let calm = f.path("bundles/calm");
        let expected = format!("ok: tenant calm ({}) signed by key {ops}", calm.display());
        assert!(stdout.contains(&expected), "{stdout}");
        assert!(stdout.contains("ok: tenant remote"), "{stdout}");
    }

    // A signature file is no obstacle to `bundle check`.
    let out = run(&[Path::new("bundle"), Path::new("check"), &f.path("bundles")]);
    assert!(out.status.success(), "{}", said(&out));
}

#[test]
fn a_manifest_changed_by_one_byte_is_named() {
    let f = Fixture::new();
    f.signed("bundles/calm", "ops");
    let signed = digest_of(&f.path("bundles/calm/tenant.toml"));
    f.edit(
        "bundles/calm/tenant.toml",
        "default_target = \"kl\"",
        "default_target = \"km\"",
    );
    let now = digest_of(&f.path("bundles/calm/tenant.toml"));
    refused(
        &f.verify("bundles/calm", "keys/ops.pub"),
        &[
            "signature.toml: tenant.toml changed since signing",
            &format!("(sha256 {now}, expected {signed})"),
        ],
        &["bad signature", "plugin router"],
    );
}

#[test]
fn a_swapped_wasm_is_named_with_its_plugin_and_file() {
    let f = Fixture::new();
    f.signed("bundles", "ops");
    let template = support::guest("leitstand_template");
    let hostile = support::guest("leitstand_hostile");
    let (signed, swapped) = (digest_of(&template), digest_of(&hostile));

    // Only the wasm changed: its pin in the manifest catches it too, but the signature
    // check names it first.
    std::fs::copy(&hostile, f.path("bundles/calm/leitstand_template.wasm")).expect("swap");
    refused(
        &f.verify("bundles/calm", "keys/ops.pub"),
        &[&format!(
            "plugin router: leitstand_template.wasm changed since signing \
             (sha256 {swapped}, expected {signed})"
        )],
        &["tenant.toml changed", "zones/", "bad signature"],
    );

    // The wasm and its pin changed together: the bundle is valid without signatures, so
    // only the signature catches it; both changes are named.
    f.edit("bundles/calm/tenant.toml", &signed, &swapped);
    Bundle::load(&f.path("bundles/calm")).expect("the pins alone accept the swap");
    refused(
        &f.verify("bundles/calm", "keys/ops.pub"),
        &[
            "tenant.toml changed since signing",
            "plugin router: leitstand_template.wasm changed since signing",
        ],
        &["bad signature"],
    );

    // A wasm outside the bundle directory, named as the manifest names it.
    std::fs::copy(&hostile, f.path("guests/leitstand_template.wasm")).expect("swap");
    f.edit("bundles/remote/tenant.toml", &signed, &swapped);
    refused(
        &f.verify("bundles/remote", "keys/ops.pub"),
        &[
            "tenant.toml changed since signing",
            &format!(
                "plugin router: ../../guests/leitstand_template.wasm changed since signing \
                 (sha256 {swapped}, expected {signed})"
            ),
        ],
        &[],
    );
}

#[test]
fn a_wrong_key_is_named_by_its_id_and_a_forged_signature_is_bad() {
    let f = Fixture::new();
    let stranger = f.key_id("stranger");
    let ops = f.key_id("ops");
    f.signed("bundles/calm", "stranger");
    refused(
        &f.verify("bundles/calm", "keys/ops.pub"),
        &[&format!(
            "signed by key {stranger}, which is not a trusted key"
        )],
        &[&ops],
    );

    // The stranger's signature passed off as ops's: the key is trusted, the signature not.
    let ops_public = std::fs::read_to_string(f.path("keys/ops.pub")).expect("pub");
    let ops_hex = ops_public.split_whitespace().nth(1).expect("hex");
    let stranger_public = std::fs::read_to_string(f.path("keys/stranger.pub")).expect("pub");
    let stranger_hex = stranger_public.split_whitespace().nth(1).expect("hex");
    f.edit("bundles/calm/signature.toml", &stranger, &ops);
    f.edit("bundles/calm/signature.toml", stranger_hex, ops_hex);
    refused(
        &f.verify("bundles/calm", "keys/ops.pub"),
        &[&format!(
            "bad signature: signature.toml is not as key {ops} signed it"
        )],
        &[],
    );

    // A file's digest rewritten in the signature to hide a change: a bad signature.
    f.signed("bundles/calm", "ops");
    std::fs::write(
        f.path("bundles/calm/zones/notes.txt"),
        "Zone 1: elsewhere\n",
    )
    .expect("w");
    let signed = {
        let sig = std::fs::read_to_string(f.path("bundles/calm/signature.toml")).expect("sig");
        let t: toml::Table = toml::from_str(&sig).expect("toml");
        t["files"][0]["sha256"].as_str().expect("sha").to_owned()
    };
    f.edit(
        "bundles/calm/signature.toml",
        &signed,
        &digest_of(&f.path("bundles/calm/zones/notes.txt")),
    );
    refused(
        &f.verify("bundles/calm", "keys/ops.pub"),
        &["bad signature"],
        &[],
    );
}

#[test]
fn an_unsigned_bundle_is_refused() {
    let f = Fixture::new();
    refused(
        &f.verify("bundles", "keys/ops.pub"),
        &[
            "calm/signature.toml: not found: the bundle is not signed",
            "remote/signature.toml: not found: the bundle is not signed",
        ],
        &["ok:"],
    );
}

#[test]
fn added_removed_and_changed_files_are_named() {
    let f = Fixture::new();
    f.signed("bundles/calm", "ops");
    std::fs::write(f.path("bundles/calm/extra.txt"), "new\n").expect("write");
    std::fs::create_dir_all(f.path("bundles/calm/zones/deep")).expect("mkdir");
    std::fs::write(f.path("bundles/calm/zones/deep/more.csv"), "a,b\n").expect("write");
    refused(
        &f.verify("bundles/calm", "keys/ops.pub"),
        &[
            "extra.txt added since signing",
            "zones/deep/more.csv added since signing",
        ],
        &["tenant.toml changed", "bad signature"],
    );
    std::fs::remove_file(f.path("bundles/calm/extra.txt")).expect("rm");
    std::fs::remove_dir_all(f.path("bundles/calm/zones/deep")).expect("rm");
    std::fs::write(
        f.path("bundles/calm/zones/notes.txt"),
        "Zone 1: elsewhere\n",
    )
    .expect("w");
    refused(
        &f.verify("bundles/calm", "keys/ops.pub"),
        &["zones/notes.txt changed since signing (sha256 "],
        &["added"],
    );
    std::fs::remove_file(f.path("bundles/calm/zones/notes.txt")).expect("rm");
    refused(
        &f.verify("bundles/calm", "keys/ops.pub"),
        &["zones/notes.txt removed since signing"],
        &[],
    );
}

#[test]
fn a_bundle_that_check_refuses_is_not_signed() {
    let f = Fixture::new();
    f.edit("bundles/calm/tenant.toml", "sha256 = \"", "sha256 = \"00");
    let out = f.sign("bundles", "ops");
    refused(
        &out,
        &["plugins.router.sha256", "nothing signed"],
        &["signed:"],
    );
    assert!(!f.path("bundles/calm/signature.toml").exists());
    assert!(!f.path("bundles/remote/signature.toml").exists());
}

#[test]
fn bundle_check_honours_require_signature_from_the_environment() {
    let f = Fixture::new();
    let check = || {
        leitstand_command()
            .args([Path::new("bundle"), Path::new("check"), &f.path("bundles")])
            .env("LEITSTAND_BUNDLES__REQUIRE_SIGNATURE", "true")
            .env(
                "LEITSTAND_BUNDLES__TRUSTED_KEYS",
                format!("[{}]", f.path("keys/ops.pub").display()),
            )
            .output()
            .expect("leitstand runs")
    };
    refused(&check(), &["calm/signature.toml: not found"], &["ok:"]);
    f.signed("bundles", "ops");
    let out = check();
    assert!(out.status.success(), "{}", said(&out));
    assert!(
        text(&out.stdout).contains(&format!("signed by key {}", f.key_id("ops"))),
        "{}",
        said(&out)
    );
    f.edit(
        "bundles/remote/tenant.toml",
        "default_target = \"kl\"",
        "default_target = \"km\"",
    );
    refused(
        &check(),
        &["remote/signature.toml: tenant.toml changed since signing"],
        &[],
    );
}

fn sandbox() -> Arc<Sandbox> {
    Arc::new(
        Sandbox::new(support::sandbox_config(), Arc::new(CustomMetrics::new())).expect("sandbox"),
    )
}

#[test]
fn the_daemons_loader_refuses_unsigned_changed_and_foreign_bundles_and_keeps_the_running_one() {
    let f = Fixture::new();
    let bundles = f.path("bundles");
    let required = BundlesConfig {
        require_signature: true,
        trusted_keys: vec![f.path("keys/ops.pub")],
    };
    let load =
        |accept: &BundlesConfig| Registry::load(&bundles, accept, sandbox(), Arc::new(Detached));
    let message = |errors: Vec<leitstand_engine::tenants::BundleError>| {
        errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    };

    // Off by default: unsigned bundles load.
    let off = load(&BundlesConfig::default())
        .map_err(message)
        .expect("unsigned loads");
    assert_eq!(off.slots().len(), 2);

    // Required without keys: refused, naming the setting.
    let e = load(&BundlesConfig {
        require_signature: true,
        trusted_keys: vec![],
    })
    .map(|_| ())
    .map_err(message)
    .expect_err("no keys");
    assert!(e.contains("bundles.trusted_keys"), "{e}");

    // Required: unsigned bundles stop the start, each named.
    let e = load(&required)
        .map(|_| ())
        .map_err(message)
        .expect_err("unsigned");
    assert!(e.contains("calm/signature.toml: not found"), "{e}");
    assert!(e.contains("remote/signature.toml: not found"), "{e}");

    f.signed("bundles", "ops");
    let registry = load(&required).map_err(message).expect("signed loads");
    assert_eq!(registry.slots().len(), 2);
    let calm = leitstand_contract::envelope::TenantId::parse("calm").expect("id");
    let running = registry.slot(&calm).expect("calm").runtime();

    // A changed manifest on reload: refused and named; the running bundle stays.
    f.edit(
        "bundles/calm/tenant.toml",
        "default_target = \"kl\"",
        "default_target = \"km\"",
    );
    let report = registry.reload();
    assert_eq!(report.refused.len(), 1, "{:?}", report.refused);
    let (tenant, error) = &report.refused[0];
    assert_eq!(tenant.as_ref(), Some(&calm));
    assert!(
        error
            .to_string()
            .contains("signature.toml: tenant.toml changed since signing"),
        "{error}"
    );
    assert!(report.replaced.is_empty() && report.removed.is_empty());
    assert!(Arc::ptr_eq(
        &registry.slot(&calm).expect("calm").runtime(),
        &running
    ));

    // Re-signed by an unknown key: refused, naming the key.
    f.signed("bundles/calm", "stranger");
    let report = registry.reload();
    assert_eq!(report.refused.len(), 1, "{:?}", report.refused);
    assert!(
        report.refused[0].1.to_string().contains(&format!(
            "signed by key {}, which is not a trusted key",
            f.key_id("stranger")
        )),
        "{:?}",
        report.refused
    );

    // Re-signed by the trusted key: swapped in.
    f.signed("bundles/calm", "ops");
    let report = registry.reload();
    assert!(report.refused.is_empty(), "{:?}", report.refused);
    assert_eq!(report.replaced, std::slice::from_ref(&calm));
    let config = &registry.slot(&calm).expect("calm").runtime().bundle.plugins[0].config;
    assert_eq!(config["default_target"], "km");

    // A file added to a signed bundle is refused on reload.
    std::fs::write(f.path("bundles/remote/stray.txt"), "x").expect("write");
    let report = registry.reload();
    assert_eq!(report.refused.len(), 1, "{:?}", report.refused);
    assert!(
        report.refused[0]
            .1
            .to_string()
            .contains("stray.txt added since signing"),
        "{:?}",
        report.refused
    );
}
