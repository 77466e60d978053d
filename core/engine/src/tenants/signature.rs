//! Signed bundles: an ed25519 signature over a bundle's manifest, its plugins' wasm files
//! and every other file of its directory, kept in `signature.toml` beside the manifest; the
//! key files that make and check it; and the policy by which a loader refuses unsigned
//! bundles and unknown keys (`[bundles]` of the daemon's configuration).
//!
//! Owns the key files, the signature file and the canonical statement a signature covers
//! ([`Statement::encode`]). It does not read `tenant.toml` itself ([`Bundle::load`] does)
//! and does not decide what a refused bundle means for a running tenant (the daemon's
//! registry does). The format and its reasons: `docs/adr/0010-signed-bundles.md`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::Write as _;
use std::path::{Component, Path, PathBuf};

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::{Bundle, BundleError, MANIFEST, PluginSpec, WasmDigest};

/// The name of the signature file in a bundle directory.
pub const SIGNATURE_FILE: &str = "signature.toml";

/// The version of the signature file and of its statement this Leitstand writes and reads.
pub const FORMAT: u32 = 1;

/// The first line of every statement: what is signed, and in which encoding. A signature
/// over it can be taken for nothing else.
const STATEMENT_HEADER: &str = "leitstand-bundle-signature/1";

/// The first word of a public key file's key line.
const PUBLIC_TAG: &str = "leitstand-ed25519-public";

/// The first word of a secret key file's key line.
const SECRET_TAG: &str = "leitstand-ed25519-secret";

/// A short name of a public key: the first 8 bytes (16 hex digits) of the sha256 of its 32
/// bytes. Shown by `bundle keygen`, written into signatures, named when a key is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId([u8; 8]);

impl KeyId {
    /// The id of `key`.
    pub fn of(key: &VerifyingKey) -> Self {
        let digest = Sha256::digest(key.as_bytes());
        let mut id = [0; 8];
        id.copy_from_slice(&digest[..8]);
        Self(id)
    }

    fn parse(s: &str) -> Option<Self> {
        hex::decode(s).ok()?.try_into().ok().map(Self)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// A key file that cannot be used: the file (or setting) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {reason}", path.display())]
pub struct KeyError {
    /// The key file or directory at fault, or the setting (`bundles.trusted_keys`).
    pub path: PathBuf,
    /// What is wrong. Never contains secret key material.
    pub reason: String,
}

impl KeyError {
    fn new(path: &Path, reason: impl Into<String>) -> Self {
        Self {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }
}

impl From<KeyError> for BundleError {
    fn from(e: KeyError) -> Self {
        BundleError::new(&e.path, None, e.reason)
    }
}

/// The key line of a key file, `TAG HEX KEYID`: the 32 key bytes and the id the file
/// claims. Blank lines and `#` comments around it are allowed. Errors never echo the key.
fn key_line(text: &str, tag: &str) -> Result<([u8; 32], KeyId), String> {
    let mut lines = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'));
    let (Some(line), None) = (lines.next(), lines.next()) else {
        return Err(format!(
            "expected one line `{tag} <64 hex digits> <key id>`"
        ));
    };
    let fields: Vec<&str> = line.split_ascii_whitespace().collect();
    let [found, key, id] = fields.as_slice() else {
        return Err(format!(
            "expected one line `{tag} <64 hex digits> <key id>`"
        ));
    };
    if *found != tag {
        return Err(format!("the line starts with {found:?}, expected {tag:?}"));
    }
    let bytes: [u8; 32] = hex::decode(key)
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or("the key is not 64 hex digits")?;
    let id = KeyId::parse(id).ok_or("the key id is not 16 hex digits")?;
    Ok((bytes, id))
}

/// An ed25519 public key read from a `.pub` file, whose signatures may be trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    key: VerifyingKey,
    id: KeyId,
    source: PathBuf,
}

impl PublicKey {
    /// Reads the public key file `path` (written by `leitstand bundle keygen`).
    pub fn read(path: &Path) -> Result<Self, KeyError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| KeyError::new(path, format!("cannot read the public key: {e}")))?;
        let (bytes, id) = key_line(&text, PUBLIC_TAG).map_err(|r| KeyError::new(path, r))?;
        let key = VerifyingKey::from_bytes(&bytes)
            .map_err(|_| KeyError::new(path, "not an ed25519 public key"))?;
        if key.is_weak() {
            return Err(KeyError::new(path, "a weak ed25519 key, refused"));
        }
        if KeyId::of(&key) != id {
            return Err(KeyError::new(
                path,
                format!(
                    "the key id {id} does not belong to this key (its id is {})",
                    KeyId::of(&key)
                ),
            ));
        }
        Ok(Self {
            key,
            id,
            source: path.to_path_buf(),
        })
    }

    /// Its key id.
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The file it was read from.
    pub fn source(&self) -> &Path {
        &self.source
    }
}

/// An ed25519 signing key read from a `.key` file. Its `Debug` shows the key id only.
pub struct SecretKey {
    key: SigningKey,
    id: KeyId,
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKey").field("id", &self.id).finish()
    }
}

impl SecretKey {
    /// A new key from the operating system's random number generator.
    pub fn generate() -> Result<Self, String> {
        use rand::TryRng as _;
        let mut seed = [0u8; 32];
        rand::rngs::SysRng
            .try_fill_bytes(&mut seed)
            .map_err(|e| format!("the operating system gave no random bytes: {e}"))?;
        let key = SigningKey::from_bytes(&seed);
        seed.fill(0);
        let id = KeyId::of(&key.verifying_key());
        Ok(Self { key, id })
    }

    /// Reads the secret key file `path` (written by `leitstand bundle keygen`).
    pub fn read(path: &Path) -> Result<Self, KeyError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| KeyError::new(path, format!("cannot read the secret key: {e}")))?;
        let (mut seed, id) = key_line(&text, SECRET_TAG).map_err(|r| KeyError::new(path, r))?;
        let key = SigningKey::from_bytes(&seed);
        seed.fill(0);
        if KeyId::of(&key.verifying_key()) != id {
            return Err(KeyError::new(
                path,
                format!("the key id {id} does not belong to this key (the file is damaged)"),
            ));
        }
        Ok(Self { key, id })
    }

    /// The id of its public key.
    pub fn id(&self) -> KeyId {
        self.id
    }

    fn public_line(&self) -> String {
        let public = self.key.verifying_key();
        format!(
            "{PUBLIC_TAG} {} {}\n",
            hex::encode(public.as_bytes()),
            self.id
        )
    }

    fn secret_line(&self) -> String {
        format!(
            "{SECRET_TAG} {} {}\n",
            hex::encode(self.key.to_bytes()),
            self.id
        )
    }
}

/// The files `leitstand bundle keygen --out NAME` writes: `NAME.key` and `NAME.pub`.
pub fn key_paths(name: &Path) -> (PathBuf, PathBuf) {
    let with = |ext: &str| {
        let mut s = name.as_os_str().to_owned();
        s.push(ext);
        PathBuf::from(s)
    };
    (with(".key"), with(".pub"))
}

/// Makes a new signing key and writes it as `NAME.key` (the secret, mode 0600) and
/// `NAME.pub` (the public key with its id). Refuses to overwrite either file. Returns the
/// two paths and the key id.
pub fn keygen(name: &Path) -> Result<(PathBuf, PathBuf, KeyId), KeyError> {
    let (secret_path, public_path) = key_paths(name);
    for path in [&secret_path, &public_path] {
        if path.symlink_metadata().is_ok() {
            return Err(KeyError::new(
                path,
                "exists already; a key is never overwritten",
            ));
        }
    }
    let key = SecretKey::generate().map_err(|r| KeyError::new(&secret_path, r))?;
    write_new(&secret_path, &key.secret_line(), 0o600)?;
    if let Err(e) = write_new(&public_path, &key.public_line(), 0o644) {
        // Leave no secret behind without its public half.
        let _ = std::fs::remove_file(&secret_path);
        return Err(e);
    }
    Ok((secret_path, public_path, key.id))
}

/// Creates `path` (it must not exist) with `mode` on Unix and writes `text` to it.
fn write_new(path: &Path, text: &str, mode: u32) -> Result<(), KeyError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options
        .open(path)
        .map_err(|e| KeyError::new(path, format!("cannot create: {e}")))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| KeyError::new(path, format!("cannot write: {e}")))
}

/// The public keys whose signatures a loader accepts, by key id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedKeys {
    keys: BTreeMap<KeyId, PublicKey>,
}

impl TrustedKeys {
    /// Reads each of `paths`: a public key file, or a directory whose `*.pub` files are all
    /// read. A directory without any is an error, so that a mistyped path is not taken for
    /// "trust nothing".
    pub fn read(paths: &[PathBuf]) -> Result<Self, KeyError> {
        let mut keys = BTreeMap::new();
        for path in paths {
            let files = if path.is_dir() {
                let entries = std::fs::read_dir(path)
                    .map_err(|e| KeyError::new(path, format!("cannot read directory: {e}")))?;
                let mut files: Vec<PathBuf> = entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "pub") && p.is_file())
                    .collect();
                files.sort();
                if files.is_empty() {
                    return Err(KeyError::new(path, "no *.pub key file in this directory"));
                }
                files
            } else {
                vec![path.clone()]
            };
            for file in files {
                let key = PublicKey::read(&file)?;
                keys.entry(key.id).or_insert(key);
            }
        }
        Ok(Self { keys })
    }

    /// The trusted key with this id.
    pub fn get(&self, id: KeyId) -> Option<&PublicKey> {
        self.keys.get(&id)
    }

    /// How many keys are trusted.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is trusted.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// One plugin as a signature names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedPlugin {
    /// Its name in the manifest.
    pub name: String,
    /// Its wasm path exactly as the manifest names it (relative to the bundle directory,
    /// possibly outside it).
    pub wasm: String,
    /// The sha256 of the wasm file.
    pub sha256: WasmDigest,
}

/// What a bundle signature says: the tenant, the signing key, and the sha256 of every file
/// the bundle consists of. The signature is over [`Statement::encode`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// The tenant id of the manifest.
    pub tenant: String,
    /// The key that signs.
    pub key_id: KeyId,
    /// The sha256 of `tenant.toml`.
    pub manifest: WasmDigest,
    /// The plugins in manifest order.
    pub plugins: Vec<SignedPlugin>,
    /// Every other file of the bundle directory, recursively, by its path relative to the
    /// directory with `/` between components: all but `tenant.toml`, `signature.toml` and
    /// the plugins' wasm files (which the plugin entries cover).
    pub files: BTreeMap<String, WasmDigest>,
}

impl Statement {
    /// The statement for the loaded `bundle`, signed by `key_id`: the plugin digests are
    /// those of the bytes the bundle loaded; the manifest and the other files are hashed
    /// now.
    pub fn of_bundle(bundle: &Bundle, key_id: KeyId) -> Result<Self, SignatureError> {
        let manifest =
            digest_file(&bundle.manifest).map_err(|reason| SignatureError::Unreadable {
                path: MANIFEST.into(),
                reason,
            })?;
        let plugins = bundle
            .plugins
            .iter()
            .map(|p| {
                Ok(SignedPlugin {
                    name: p.name.clone(),
                    wasm: wasm_as_named(bundle, p)?,
                    sha256: p.digest,
                })
            })
            .collect::<Result<Vec<_>, SignatureError>>()?;
        let files = bundle_files(&bundle.dir, &inside_paths(&plugins))?;
        Ok(Self {
            tenant: bundle.tenant.as_str().to_owned(),
            key_id,
            manifest,
            plugins,
            files,
        })
    }

    /// The bytes a signature is made over. One line per entry, `\n`-terminated; each line
    /// is a tag and fields, each field preceded by a space and written as its length in
    /// bytes (decimal), `:`, and its UTF-8 bytes, so that no name or path, whatever it
    /// contains, can be read as another entry:
    ///
    /// ```text
    /// leitstand-bundle-signature/1
    /// tenant <id>
    /// key <key id>
    /// manifest tenant.toml <sha256>
    /// plugin <name> <wasm path> <sha256>      (one per plugin, in manifest order)
    /// file <path> <sha256>                    (one per file, sorted by path bytes)
    /// ```
    ///
    /// e.g. `tenant 5:soest`. Digests and the key id are lowercase hex.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(STATEMENT_HEADER.as_bytes());
        out.push(b'\n');
        entry(&mut out, "tenant", &[&self.tenant]);
        entry(&mut out, "key", &[&self.key_id.to_string()]);
        entry(
            &mut out,
            "manifest",
            &[MANIFEST, &self.manifest.to_string()],
        );
        for p in &self.plugins {
            entry(
                &mut out,
                "plugin",
                &[&p.name, &p.wasm, &p.sha256.to_string()],
            );
        }
        for (path, sha256) in &self.files {
            entry(&mut out, "file", &[path, &sha256.to_string()]);
        }
        out
    }
}

/// Appends one statement line: `tag`, then ` <len>:<bytes>` per field, then `\n`.
fn entry(out: &mut Vec<u8>, tag: &str, fields: &[&str]) {
    out.extend_from_slice(tag.as_bytes());
    for field in fields {
        out.push(b' ');
        out.extend_from_slice(field.len().to_string().as_bytes());
        out.push(b':');
        out.extend_from_slice(field.as_bytes());
    }
    out.push(b'\n');
}

/// `signature.toml` as written and read.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignatureFile {
    /// [`FORMAT`].
    format: u32,
    /// The tenant id.
    tenant: String,
    /// The signing key's id.
    key_id: String,
    /// The signing key, 64 hex digits: for the operator who has to add it to the trusted
    /// keys. Never used to check the signature; only a trusted key is.
    public_key: String,
    /// The ed25519 signature over the statement, 128 hex digits.
    signature: String,
    /// The sha256 of `tenant.toml`.
    manifest_sha256: String,
    /// The plugins, in manifest order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    plugins: Vec<PluginLine>,
    /// The other files, sorted by path.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    files: Vec<FileLine>,
}

/// `[[plugins]]` of `signature.toml`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PluginLine {
    name: String,
    wasm: String,
    sha256: String,
}

/// `[[files]]` of `signature.toml`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLine {
    path: String,
    sha256: String,
}

/// The comment at the top of every signature file.
const SIGNATURE_HEADER: &str = "\
# The signature of this bundle, written by `leitstand bundle sign`. Checked by
# `leitstand bundle verify` and, with `bundles.require_signature`, by the daemon: any change
# to tenant.toml, a plugin's wasm file or another file of this directory needs a new
# signature.
";

/// A change to a bundle since it was signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// `tenant.toml` is not what was signed.
    Manifest {
        /// Its sha256 now.
        actual: WasmDigest,
        /// The signed sha256.
        expected: WasmDigest,
    },
    /// A plugin's wasm file is not what was signed, or cannot be read.
    Plugin {
        /// The plugin.
        name: String,
        /// Its wasm path as the manifest names it.
        wasm: String,
        /// Its sha256 now, or why it cannot be read.
        actual: Result<WasmDigest, String>,
        /// The signed sha256.
        expected: WasmDigest,
    },
    /// A file that was not signed is in the bundle directory.
    Added(String),
    /// A signed file is gone.
    Removed(String),
    /// A file was written to while the bundle was being checked and loaded; the next
    /// reload judges it again.
    Rewritten(String),
    /// A signed file has other contents.
    Changed {
        /// Its path in the bundle directory.
        path: String,
        /// Its sha256 now.
        actual: WasmDigest,
        /// The signed sha256.
        expected: WasmDigest,
    },
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Manifest { actual, expected } => write!(
                f,
                "{MANIFEST} changed since signing (sha256 {actual}, expected {expected})"
            ),
            Self::Plugin {
                name,
                wasm,
                actual: Ok(actual),
                expected,
            } => write!(
                f,
                "plugin {name}: {wasm} changed since signing (sha256 {actual}, expected {expected})"
            ),
            Self::Plugin {
                name,
                wasm,
                actual: Err(reason),
                expected,
            } => write!(
                f,
                "plugin {name}: {wasm} cannot be read ({reason}); signed with sha256 {expected}"
            ),
            Self::Added(path) => write!(f, "{path} added since signing"),
            Self::Removed(path) => write!(f, "{path} removed since signing"),
            Self::Rewritten(path) => write!(
                f,
                "{path} was written to while it was being checked; not loaded"
            ),
            Self::Changed {
                path,
                actual,
                expected,
            } => write!(
                f,
                "{path} changed since signing (sha256 {actual}, expected {expected})"
            ),
        }
    }
}

/// Why a bundle's signature is not accepted. The signature covers a statement of digests,
/// not the files themselves, so a changed file leaves the signature valid and is named as
/// the change it is ([`SignatureError::Changed`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// There is no `signature.toml`.
    #[error("not found: the bundle is not signed (`leitstand bundle sign` signs it)")]
    Unsigned,
    /// `signature.toml` cannot be read as a signature.
    #[error("not a signature this Leitstand reads: {0}")]
    Malformed(String),
    /// Files of the bundle changed since signing, each named.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Changed(Vec<Change>),
    /// The bundle is signed by a key that is not trusted.
    #[error("signed by key {0}, which is not a trusted key")]
    UnknownKey(KeyId),
    /// The signature does not match the statement for the trusted key.
    #[error("bad signature: signature.toml is not as key {0} signed it")]
    BadSignature(KeyId),
    /// A file of the bundle cannot be read.
    #[error("{path}: {reason}")]
    Unreadable {
        /// The file, relative to the bundle directory.
        path: String,
        /// Why.
        reason: String,
    },
}

impl SignatureError {
    /// The same error as a [`BundleError`] about the signature file of `dir`, as a loader
    /// reports it.
    pub fn in_bundle(&self, dir: &Path) -> BundleError {
        BundleError::new(&dir.join(SIGNATURE_FILE), None, self.to_string())
    }
}

/// Signs the loaded `bundle` with `key`: writes `signature.toml` into its directory
/// (replacing an older one at once, never half-written). Returns the statement signed.
pub fn sign(bundle: &Bundle, key: &SecretKey) -> Result<Statement, SignatureError> {
    let statement = Statement::of_bundle(bundle, key.id)?;
    let signature = key.key.sign(&statement.encode());
    let file = SignatureFile {
        format: FORMAT,
        tenant: statement.tenant.clone(),
        key_id: key.id.to_string(),
        public_key: hex::encode(key.key.verifying_key().as_bytes()),
        signature: hex::encode(signature.to_bytes()),
        manifest_sha256: statement.manifest.to_string(),
        plugins: statement
            .plugins
            .iter()
            .map(|p| PluginLine {
                name: p.name.clone(),
                wasm: p.wasm.clone(),
                sha256: p.sha256.to_string(),
            })
            .collect(),
        files: statement
            .files
            .iter()
            .map(|(path, sha256)| FileLine {
                path: path.clone(),
                sha256: sha256.to_string(),
            })
            .collect(),
    };
    let text = toml::to_string(&file).map_err(|e| SignatureError::Unreadable {
        path: SIGNATURE_FILE.into(),
        reason: format!("cannot write: {e}"),
    })?;
    let target = bundle.dir.join(SIGNATURE_FILE);
    let partial = bundle.dir.join(format!(".{SIGNATURE_FILE}.partial"));
    let write_err = |e: std::io::Error| SignatureError::Unreadable {
        path: SIGNATURE_FILE.into(),
        reason: format!("cannot write: {e}"),
    };
    std::fs::write(&partial, format!("{SIGNATURE_HEADER}{text}")).map_err(write_err)?;
    std::fs::rename(&partial, &target).map_err(|e| {
        let _ = std::fs::remove_file(&partial);
        write_err(e)
    })?;
    Ok(statement)
}

/// A bundle whose signature was accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// What was signed.
    pub statement: Statement,
    /// The trusted key that signed it.
    pub signer: PublicKey,
}

/// Checks the signature of the bundle in `dir` against the `trusted` keys: that the key is
/// trusted and the signature is its signature of the statement in `signature.toml`, then
/// that the manifest, every plugin's wasm file and every other file of the directory are
/// what the statement says (every change is named). A changed file is thus named as such,
/// not as a bad signature; and no path from an unauthenticated statement is ever opened.
pub fn verify(dir: &Path, trusted: &TrustedKeys) -> Result<Verified, SignatureError> {
    let (statement, signature) = read_signature(dir)?;
    let Some(signer) = trusted.get(statement.key_id) else {
        return Err(SignatureError::UnknownKey(statement.key_id));
    };
    signer
        .key
        .verify_strict(&statement.encode(), &signature)
        .map_err(|_| SignatureError::BadSignature(statement.key_id))?;
    let changes = compare(dir, &statement)?;
    if !changes.is_empty() {
        return Err(SignatureError::Changed(changes));
    }
    Ok(Verified {
        statement,
        signer: signer.clone(),
    })
}

impl Verified {
    /// Checks that `bundle`, loaded after [`verify`], is what was signed: the wasm bytes it
    /// loaded (those the sandbox runs) have the signed digests, and the manifest still has
    /// its signed digest. A file swapped between the check and the load is caught here.
    pub fn matches(&self, bundle: &Bundle) -> Result<(), SignatureError> {
        let mut changes = Vec::new();
        match digest_file(&bundle.manifest) {
            Ok(actual) if actual == self.statement.manifest => {}
            Ok(actual) => changes.push(Change::Manifest {
                actual,
                expected: self.statement.manifest,
            }),
            Err(reason) => {
                return Err(SignatureError::Unreadable {
                    path: MANIFEST.into(),
                    reason,
                });
            }
        }
        let named = |p: &PluginSpec| wasm_as_named(bundle, p);
        let loaded = bundle
            .plugins
            .iter()
            .map(|p| Ok((p.name.as_str(), named(p)?, p.digest)))
            .collect::<Result<Vec<_>, SignatureError>>()?;
        let same_plugins = loaded.len() == self.statement.plugins.len()
            && loaded
                .iter()
                .zip(&self.statement.plugins)
                .all(|((name, wasm, _), s)| *name == s.name && *wasm == s.wasm);
        if !same_plugins && changes.is_empty() {
            return Err(SignatureError::Malformed(
                "the signed plugins are not the manifest's".into(),
            ));
        }
        for ((name, wasm, actual), signed) in loaded.into_iter().zip(&self.statement.plugins) {
            if actual != signed.sha256 {
                changes.push(Change::Plugin {
                    name: name.to_owned(),
                    wasm,
                    actual: Ok(actual),
                    expected: signed.sha256,
                });
            }
        }
        if !changes.is_empty() {
            return Err(SignatureError::Changed(changes));
        }
        if bundle.tenant.as_str() != self.statement.tenant {
            return Err(SignatureError::Malformed(format!(
                "signed for tenant {:?}, the manifest is tenant {:?}",
                self.statement.tenant,
                bundle.tenant.as_str()
            )));
        }
        Ok(())
    }
}

/// Verifies the bundle in `dir` ([`verify`]), loads it, and checks that what was loaded
/// is what was signed ([`Verified::matches`]). Signature errors name the signature file.
///
/// The manifest is read twice, once to check its digest and once to parse it; a write to
/// it in between (even one put back at once) changes its inode, size or times and refuses
/// the bundle, so the parsed manifest is the checked one.
pub fn load_verified(dir: &Path, trusted: &TrustedKeys) -> Result<(Bundle, Verified), BundleError> {
    let manifest = dir.join(MANIFEST);
    let before = FileVersion::of(&manifest);
    let verified = verify(dir, trusted).map_err(|e| e.in_bundle(dir))?;
    let bundle = Bundle::load(dir)?;
    verified.matches(&bundle).map_err(|e| e.in_bundle(dir))?;
    if before.is_none() || before != FileVersion::of(&manifest) {
        let rewritten = Change::Rewritten(MANIFEST.into());
        return Err(SignatureError::Changed(vec![rewritten]).in_bundle(dir));
    }
    Ok((bundle, verified))
}

/// What tells one version of a file from another without reading it: any write or
/// replacement changes it (on Unix the inode and the change time, which cannot be set
/// back).
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileVersion {
    len: u64,
    modified: Option<std::time::SystemTime>,
    #[cfg(unix)]
    inode: (u64, u64),
    #[cfg(unix)]
    changed: (i64, i64),
}

impl FileVersion {
    fn of(path: &Path) -> Option<Self> {
        let meta = std::fs::metadata(path).ok()?;
        #[cfg(unix)]
        use std::os::unix::fs::MetadataExt as _;
        Some(Self {
            len: meta.len(),
            modified: meta.modified().ok(),
            #[cfg(unix)]
            inode: (meta.dev(), meta.ino()),
            #[cfg(unix)]
            changed: (meta.ctime(), meta.ctime_nsec()),
        })
    }
}

/// Which bundles a loader accepts: `[bundles]` of the daemon's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignaturePolicy {
    /// Any valid bundle; signatures are not checked.
    Unchecked,
    /// Only bundles signed by one of these keys and unchanged since.
    Required(TrustedKeys),
}

impl SignaturePolicy {
    /// The policy of `require_signature` and `trusted_keys` (`[bundles]`): reads the keys.
    /// Requiring signatures with no key to trust is an error.
    pub fn new(require_signature: bool, trusted_keys: &[PathBuf]) -> Result<Self, KeyError> {
        if !require_signature {
            return Ok(Self::Unchecked);
        }
        if trusted_keys.is_empty() {
            return Err(KeyError::new(
                Path::new("bundles.trusted_keys"),
                "is empty while bundles.require_signature is set: name the public key files \
                 (or directories of them) whose signatures are trusted",
            ));
        }
        Ok(Self::Required(TrustedKeys::read(trusted_keys)?))
    }

    /// Loads the bundle in `dir` under this policy.
    pub fn load(&self, dir: &Path) -> Result<Bundle, BundleError> {
        match self {
            Self::Unchecked => Bundle::load(dir),
            Self::Required(trusted) => load_verified(dir, trusted).map(|(bundle, _)| bundle),
        }
    }
}

/// Reads `signature.toml` of `dir`: the statement it makes and its signature.
fn read_signature(dir: &Path) -> Result<(Statement, Signature), SignatureError> {
    let path = dir.join(SIGNATURE_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(SignatureError::Unsigned);
        }
        Err(e) => {
            return Err(SignatureError::Unreadable {
                path: SIGNATURE_FILE.into(),
                reason: e.to_string(),
            });
        }
    };
    let malformed = SignatureError::Malformed;
    let file: SignatureFile =
        toml::from_str(&text).map_err(|e| malformed(e.message().to_owned()))?;
    if file.format != FORMAT {
        return Err(malformed(format!(
            "format {} (this Leitstand reads format {FORMAT})",
            file.format
        )));
    }
    let key_id = KeyId::parse(&file.key_id)
        .ok_or_else(|| malformed("key_id is not 16 hex digits".into()))?;
    let public: [u8; 32] = hex::decode(&file.public_key)
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| malformed("public_key is not 64 hex digits".into()))?;
    let public = VerifyingKey::from_bytes(&public)
        .map_err(|_| malformed("public_key is not an ed25519 public key".into()))?;
    if KeyId::of(&public) != key_id {
        return Err(malformed(format!(
            "key_id {key_id} is not the id of public_key ({})",
            KeyId::of(&public)
        )));
    }
    let signature: [u8; 64] = hex::decode(&file.signature)
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| malformed("signature is not 128 hex digits".into()))?;
    let digest = |what: &str, s: &str| {
        parse_digest(s).ok_or_else(|| malformed(format!("{what} is not a sha256 (64 hex digits)")))
    };
    let manifest = digest("manifest_sha256", &file.manifest_sha256)?;
    let mut plugins = Vec::new();
    for p in file.plugins {
        if plugins.iter().any(|q: &SignedPlugin| q.name == p.name) {
            return Err(malformed(format!("plugin {:?} is listed twice", p.name)));
        }
        let sha256 = digest(&format!("the sha256 of plugin {:?}", p.name), &p.sha256)?;
        plugins.push(SignedPlugin {
            name: p.name,
            wasm: p.wasm,
            sha256,
        });
    }
    let mut files = BTreeMap::new();
    for f in file.files {
        let sha256 = digest(&format!("the sha256 of file {:?}", f.path), &f.sha256)?;
        if files.insert(f.path.clone(), sha256).is_some() {
            return Err(malformed(format!("file {:?} is listed twice", f.path)));
        }
    }
    let statement = Statement {
        tenant: file.tenant,
        key_id,
        manifest,
        plugins,
        files,
    };
    Ok((statement, Signature::from_bytes(&signature)))
}

/// What differs between the files in `dir` and the `statement`: the manifest, then each
/// plugin's wasm, then the other files (added, removed, changed), all of them.
fn compare(dir: &Path, statement: &Statement) -> Result<Vec<Change>, SignatureError> {
    let mut changes = Vec::new();
    let manifest =
        digest_file(&dir.join(MANIFEST)).map_err(|reason| SignatureError::Unreadable {
            path: MANIFEST.into(),
            reason,
        })?;
    if manifest != statement.manifest {
        changes.push(Change::Manifest {
            actual: manifest,
            expected: statement.manifest,
        });
    }
    for p in &statement.plugins {
        match digest_file(&dir.join(&p.wasm)) {
            Ok(actual) if actual == p.sha256 => {}
            actual => changes.push(Change::Plugin {
                name: p.name.clone(),
                wasm: p.wasm.clone(),
                actual,
                expected: p.sha256,
            }),
        }
    }
    let files = bundle_files(dir, &inside_paths(&statement.plugins))?;
    for (path, actual) in &files {
        match statement.files.get(path) {
            None => changes.push(Change::Added(path.clone())),
            Some(expected) if expected != actual => changes.push(Change::Changed {
                path: path.clone(),
                actual: *actual,
                expected: *expected,
            }),
            Some(_) => {}
        }
    }
    for path in statement.files.keys() {
        if !files.contains_key(path) {
            changes.push(Change::Removed(path.clone()));
        }
    }
    Ok(changes)
}

/// The wasm path of `plugin` as the manifest of `bundle` names it.
fn wasm_as_named(bundle: &Bundle, plugin: &PluginSpec) -> Result<String, SignatureError> {
    let named = plugin
        .wasm_path
        .strip_prefix(&bundle.dir)
        .unwrap_or(&plugin.wasm_path);
    named
        .to_str()
        .map(str::to_owned)
        .ok_or_else(|| SignatureError::Unreadable {
            path: named.display().to_string(),
            reason: "a wasm path that is not UTF-8 cannot be signed".into(),
        })
}

/// The plugins' wasm files that lie inside the bundle directory, as paths relative to it
/// (`/`-separated, `.` and `..` resolved by name): the plugin entries cover them.
fn inside_paths(plugins: &[SignedPlugin]) -> BTreeSet<String> {
    plugins.iter().filter_map(|p| inside(&p.wasm)).collect()
}

/// `path` (relative to the bundle directory) as a path inside it, or `None` when it leads
/// out of it or is absolute.
fn inside(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for component in Path::new(path).components() {
        match component {
            Component::Normal(part) => parts.push(part.to_str()?),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// Every file under `dir`, recursively, by its `/`-separated path relative to `dir`, with
/// its sha256: all but the manifest and the signature file at the top and the paths in
/// `skip`. A symbolic link to a file counts as that file; one to a directory is refused.
fn bundle_files(
    dir: &Path,
    skip: &BTreeSet<String>,
) -> Result<BTreeMap<String, WasmDigest>, SignatureError> {
    let mut files = BTreeMap::new();
    walk(dir, "", skip, &mut files)?;
    Ok(files)
}

fn walk(
    dir: &Path,
    prefix: &str,
    skip: &BTreeSet<String>,
    out: &mut BTreeMap<String, WasmDigest>,
) -> Result<(), SignatureError> {
    let unreadable = |path: &str, reason: String| SignatureError::Unreadable {
        path: if path.is_empty() {
            ".".into()
        } else {
            path.into()
        },
        reason,
    };
    let entries =
        std::fs::read_dir(dir).map_err(|e| unreadable(prefix, format!("cannot read: {e}")))?;
    for entry in entries {
        let entry = entry.map_err(|e| unreadable(prefix, format!("cannot read: {e}")))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            return Err(unreadable(
                &format!("{prefix}/{}", name.to_string_lossy()),
                "a file name that is not UTF-8 cannot be signed".into(),
            ));
        };
        if prefix.is_empty() && (name == MANIFEST || name == SIGNATURE_FILE) {
            continue;
        }
        let path = if prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{prefix}/{name}")
        };
        let file_type = entry
            .file_type()
            .map_err(|e| unreadable(&path, format!("cannot read: {e}")))?;
        let is_dir = if file_type.is_symlink() {
            let target = std::fs::metadata(entry.path())
                .map_err(|e| unreadable(&path, format!("a symbolic link to nothing: {e}")))?;
            if target.is_dir() {
                return Err(unreadable(
                    &path,
                    "a symbolic link to a directory cannot be signed".into(),
                ));
            }
            false
        } else {
            file_type.is_dir()
        };
        if is_dir {
            walk(&entry.path(), &path, skip, out)?;
        } else if !skip.contains(&path) {
            let digest = digest_file(&entry.path()).map_err(|r| unreadable(&path, r))?;
            out.insert(path, digest);
        }
    }
    Ok(())
}

/// The sha256 of the regular file at `path` (or a link to one), read in pieces. Devices,
/// pipes and sockets are refused: reading them may never end.
fn digest_file(path: &Path) -> Result<WasmDigest, String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    let mut file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(|e| e.to_string())?;
    Ok(WasmDigest(hasher.finalize().into()))
}

fn parse_digest(s: &str) -> Option<WasmDigest> {
    hex::decode(s).ok()?.try_into().ok().map(WasmDigest)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads a statement back from its encoding, as a reader of the format would: the test
    /// that the encoding is unambiguous.
    fn decode(bytes: &[u8]) -> Vec<(String, Vec<String>)> {
        let header = format!("{STATEMENT_HEADER}\n");
        let mut rest = bytes
            .strip_prefix(header.as_bytes())
            .expect("the statement starts with its header");
        let mut entries = Vec::new();
        while !rest.is_empty() {
            let tag_end = rest
                .iter()
                .position(|&b| b == b' ' || b == b'\n')
                .expect("a tag ends");
            let tag = String::from_utf8(rest[..tag_end].to_vec()).expect("utf-8 tag");
            rest = &rest[tag_end..];
            let mut fields = Vec::new();
            while rest[0] == b' ' {
                let colon = rest.iter().position(|&b| b == b':').expect("a length ends");
                let len: usize = std::str::from_utf8(&rest[1..colon])
                    .expect("utf-8 length")
                    .parse()
                    .expect("a decimal length");
                let field = &rest[colon + 1..colon + 1 + len];
                fields.push(String::from_utf8(field.to_vec()).expect("utf-8 field"));
                rest = &rest[colon + 1 + len..];
            }
            assert_eq!(rest[0], b'\n', "an entry ends with a newline");
            rest = &rest[1..];
            entries.push((tag, fields));
        }
        entries
    }

    fn statement() -> Statement {
        Statement {
            tenant: "soest".into(),
            key_id: KeyId([0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef]),
            manifest: WasmDigest([0x11; 32]),
            plugins: vec![SignedPlugin {
                name: "router".into(),
                wasm: "router.wasm".into(),
                sha256: WasmDigest([0x22; 32]),
            }],
            files: BTreeMap::from([
                ("zones/b.csv".into(), WasmDigest([0x44; 32])),
                ("notes.txt".into(), WasmDigest([0x33; 32])),
            ]),
        }
    }

    #[test]
    fn the_encoding_is_one_length_prefixed_line_per_entry_in_a_fixed_order() {
        let h = |b: u8| hex::encode([b; 32]);
        let expected = format!(
            "leitstand-bundle-signature/1\n\
             tenant 5:soest\n\
             key 16:0123456789abcdef\n\
             manifest 11:tenant.toml 64:{}\n\
             plugin 6:router 11:router.wasm 64:{}\n\
             file 9:notes.txt 64:{}\n\
             file 11:zones/b.csv 64:{}\n",
            h(0x11),
            h(0x22),
            h(0x33),
            h(0x44)
        );
        assert_eq!(
            String::from_utf8(statement().encode()).expect("utf-8"),
            expected
        );
    }

    #[test]
    fn names_with_separators_cannot_be_taken_for_other_entries() {
        // A file whose name holds what looks like a whole further entry.
        let mut tricky = statement();
        let fake = format!("a 64:{}\nfile 1:b", hex::encode([0x55; 32]));
        tricky.files = BTreeMap::from([(fake.clone(), WasmDigest([0x66; 32]))]);
        let mut plain = statement();
        plain.files = BTreeMap::from([
            ("a".into(), WasmDigest([0x55; 32])),
            ("b".into(), WasmDigest([0x66; 32])),
        ]);
        assert_ne!(tricky.encode(), plain.encode());
        let entries = decode(&tricky.encode());
        let files: Vec<_> = entries.iter().filter(|(t, _)| t == "file").collect();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].1[0], fake);

        // Spaces, colons and multi-byte characters round-trip, lengths count bytes.
        let mut odd = statement();
        odd.plugins[0].wasm = "../wasm dir/r:1 ü.wasm".into();
        let entries = decode(&odd.encode());
        let plugin = entries.iter().find(|(t, _)| t == "plugin").expect("plugin");
        assert_eq!(
            plugin.1,
            ["router", "../wasm dir/r:1 ü.wasm", &"22".repeat(32)]
        );
        assert!(
            String::from_utf8(odd.encode())
                .expect("utf-8")
                .contains(" 23:../wasm dir/r:1 ü.wasm ")
        );
    }

    #[test]
    fn every_part_of_the_statement_changes_its_encoding() {
        let base = statement().encode();
        let mut changed = Vec::new();
        let mut s = statement();
        s.tenant = "soesT".into();
        changed.push(s);
        let mut s = statement();
        s.key_id = KeyId([0; 8]);
        changed.push(s);
        let mut s = statement();
        s.manifest = WasmDigest([0x12; 32]);
        changed.push(s);
        let mut s = statement();
        s.plugins[0].wasm = "other.wasm".into();
        changed.push(s);
        let mut s = statement();
        s.plugins[0].sha256 = WasmDigest([0x23; 32]);
        changed.push(s);
        let mut s = statement();
        s.files.remove("notes.txt");
        changed.push(s);
        let mut s = statement();
        s.files.insert("new".into(), WasmDigest([0; 32]));
        changed.push(s);
        for s in changed {
            assert_ne!(s.encode(), base, "{s:?}");
        }
    }

    #[test]
    fn a_signature_verifies_only_with_its_key_and_its_statement() {
        let key = SecretKey::generate().expect("random");
        let other = SecretKey::generate().expect("random");
        assert_ne!(key.id(), other.id());
        let bytes = statement().encode();
        let signature = key.key.sign(&bytes);
        let public = key.key.verifying_key();
        assert!(public.verify_strict(&bytes, &signature).is_ok());
        let mut tampered = statement();
        tampered.files.insert("x".into(), WasmDigest([0; 32]));
        assert!(
            public
                .verify_strict(&tampered.encode(), &signature)
                .is_err()
        );
        assert!(
            other
                .key
                .verifying_key()
                .verify_strict(&bytes, &signature)
                .is_err()
        );
    }

    #[test]
    fn key_files_round_trip_and_are_never_overwritten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let name = dir.path().join("ops");
        let (secret, public, id) = keygen(&name).expect("keygen");
        assert_eq!(secret, dir.path().join("ops.key"));
        assert_eq!(public, dir.path().join("ops.pub"));
        assert_eq!(SecretKey::read(&secret).expect("secret").id(), id);
        let public_key = PublicKey::read(&public).expect("public");
        assert_eq!(public_key.id(), id);
        let line = std::fs::read_to_string(&public).expect("read");
        assert_eq!(line.lines().count(), 1);
        assert!(line.ends_with(&format!(" {id}\n")), "{line}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&secret)
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "the secret is private: {mode:o}");
        }
        let e = keygen(&name).expect_err("exists");
        assert!(e.reason.contains("never overwritten"), "{e}");
        assert_eq!(SecretKey::read(&secret).expect("secret").id(), id);

        // A secret key given where a public one belongs is named, without its bytes.
        let e = PublicKey::read(&secret).expect_err("not public");
        assert!(e.reason.contains(SECRET_TAG), "{e}");
        let secret_hex = std::fs::read_to_string(&secret).expect("read");
        let seed = secret_hex.split_whitespace().nth(1).expect("seed");
        assert!(!e.to_string().contains(seed));

        // A key id that does not match its key is refused.
        let other = dir.path().join("forged.pub");
        let forged = line.replace(&id.to_string(), "0000000000000000");
        std::fs::write(&other, forged).expect("write");
        let e = PublicKey::read(&other).expect_err("forged id");
        assert!(e.reason.contains("does not belong"), "{e}");
    }

    #[test]
    fn trusted_keys_come_from_files_and_directories() {
        let dir = tempfile::tempdir().expect("tempdir");
        let keys = dir.path().join("keys");
        std::fs::create_dir(&keys).expect("mkdir");
        let e = TrustedKeys::read(std::slice::from_ref(&keys)).expect_err("empty dir");
        assert!(e.reason.contains("no *.pub"), "{e}");
        let (_, _, a) = keygen(&keys.join("a")).expect("a");
        let (_, b_pub, b) = keygen(&dir.path().join("b")).expect("b");
        let trusted = TrustedKeys::read(&[keys, b_pub]).expect("read");
        assert_eq!(trusted.len(), 2);
        assert!(trusted.get(a).is_some() && trusted.get(b).is_some());
    }

    #[test]
    fn requiring_signatures_without_keys_is_refused() {
        assert_eq!(
            SignaturePolicy::new(false, &[]).expect("off"),
            SignaturePolicy::Unchecked
        );
        let e = SignaturePolicy::new(true, &[]).expect_err("no keys");
        assert_eq!(e.path, Path::new("bundles.trusted_keys"));
    }

    #[test]
    fn paths_inside_the_bundle_are_resolved_by_name() {
        assert_eq!(inside("router.wasm").as_deref(), Some("router.wasm"));
        assert_eq!(inside("./a/../b/r.wasm").as_deref(), Some("b/r.wasm"));
        assert_eq!(inside("../../target/r.wasm"), None);
        assert_eq!(inside("/opt/r.wasm"), None);
    }
}
