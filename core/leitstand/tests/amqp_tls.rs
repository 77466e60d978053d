//! AMQP over TLS: the daemon connects to RabbitMQ with `amqps://`, checking the broker's
//! certificate against `amqp.tls_ca_file` and presenting a client certificate, and refuses
//! a broker whose certificate it cannot trust, with an error that says so.
//!
//! The test makes its own PKI (a CA, a server certificate for `localhost` and 127.0.0.1, a
//! client certificate, and a second, unrelated CA) and starts a RabbitMQ node of its own —
//! a throw-away node with only a TLS listener on a free port, its data, logs and
//! configuration in a temporary directory — so that the shared broker on 127.0.0.1:5672 is
//! never touched. The node is stopped when the test ends, passed or failed. The daemon
//! running against it also shows `POST /admin/reload` at work behind its bearer token.
//!
//! It needs RabbitMQ's scripts (`rabbitmq-server`, `rabbitmqctl`) in
//! `/usr/lib/rabbitmq/bin`, or in the directory `LEITSTAND_RABBITMQ_SCRIPTS` names. When the
//! node cannot be started the test fails; `LEITSTAND_SKIP_BROKER_TESTS=1` skips it
//! explicitly, except under `CI=true`, where it always runs.
#![allow(missing_docs)]

mod support;

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use leitstand_amqp::AmqpConfig;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

use support::broker::{free_port, http_get, http_post, offered, publish, publisher, structured};

const TENANT: &str = "tls-probe";

/// The daemon's admin token in this test.
const ADMIN_TOKEN: &str = "tls-test-admin-token-0123456789";

/// The PEM files the test makes.
struct Pki {
    ca: PathBuf,
    other_ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    CertifiedIssuer::self_signed(params, KeyPair::generate().expect("CA key")).expect("CA")
}

/// A certificate for `names`, signed by `issuer`: its PEM and its key's PEM.
fn leaf(
    issuer: &CertifiedIssuer<'static, KeyPair>,
    cn: &str,
    names: &[&str],
    usage: ExtendedKeyUsagePurpose,
) -> (String, String) {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let mut params = CertificateParams::new(names).expect("params");
    params.distinguished_name.push(DnType::CommonName, cn);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![usage];
    let key = KeyPair::generate().expect("key");
    let cert = params.signed_by(&key, issuer).expect("sign");
    (cert.pem(), key.serialize_pem())
}

impl Pki {
    fn make(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).expect("pki dir");
        let write = |name: &str, text: &str| {
            let path = dir.join(name);
            std::fs::write(&path, text).expect("write pem");
            path
        };
        let authority = ca("Leitstand test CA");
        let stranger = ca("Some other CA");
        let (server, server_key) = leaf(
            &authority,
            "localhost",
            &["localhost", "127.0.0.1"],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let (client, client_key) = leaf(
            &authority,
            "leitstand",
            &[],
            ExtendedKeyUsagePurpose::ClientAuth,
        );
        Self {
            ca: write("ca.pem", &authority.pem()),
            other_ca: write("other-ca.pem", &stranger.pem()),
            server_cert: write("server.pem", &server),
            server_key: write("server-key.pem", &server_key),
            client_cert: write("client.pem", &client),
            client_key: write("client-key.pem", &client_key),
        }
    }
}

/// Where RabbitMQ's scripts are, or `None` when the test is skipped explicitly.
fn rabbitmq_scripts() -> Option<PathBuf> {
    let dir = std::env::var_os("LEITSTAND_RABBITMQ_SCRIPTS")
        .map_or_else(|| PathBuf::from("/usr/lib/rabbitmq/bin"), PathBuf::from);
    if dir.join("rabbitmq-server").is_file() && dir.join("rabbitmqctl").is_file() {
        return Some(dir);
    }
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    if !ci && std::env::var_os("LEITSTAND_SKIP_BROKER_TESTS").is_some_and(|v| v == "1") {
        eprintln!("LEITSTAND_SKIP_BROKER_TESTS=1: skipping the AMQP TLS test");
        return None;
    }
    panic!(
        "rabbitmq-server and rabbitmqctl are not in {} (CI={}): install RabbitMQ, point \
         LEITSTAND_RABBITMQ_SCRIPTS at its scripts, or set LEITSTAND_SKIP_BROKER_TESTS=1 \
         outside CI to skip",
        dir.display(),
        std::env::var("CI").unwrap_or_default()
    );
}

/// A RabbitMQ node of this test's own with one TLS listener; stopped on drop.
struct TlsNode {
    name: String,
    port: u16,
    home: PathBuf,
    scripts: PathBuf,
    child: Child,
}

impl TlsNode {
    /// Starts the node in `home` and waits until its TLS listener accepts connections.
    fn start(scripts: &Path, home: &Path, pki: &Pki) -> Result<Self, String> {
        std::fs::create_dir_all(home.join("mnesia")).map_err(|e| e.to_string())?;
        std::fs::create_dir_all(home.join("log")).map_err(|e| e.to_string())?;
        let port = free_port();
        let dist_port = loop {
            let p = free_port();
            if p != port {
                break p;
            }
        };
        // Only a TLS listener, on the loopback address; every client must show a
        // certificate of the test CA.
        let conf = format!(
            "listeners.tcp = none\n\
             listeners.ssl.default = 127.0.0.1:{port}\n\
             ssl_options.cacertfile = {}\n\
             ssl_options.certfile = {}\n\
             ssl_options.keyfile = {}\n\
             ssl_options.verify = verify_peer\n\
             ssl_options.fail_if_no_peer_cert = true\n\
             log.console = false\n\
             log.file.level = info\n",
            pki.ca.display(),
            pki.server_cert.display(),
            pki.server_key.display(),
        );
        let write = |name: &str, text: &str| {
            std::fs::write(home.join(name), text).map_err(|e| format!("{name}: {e}"))
        };
        write("rabbitmq.conf", &conf)?;
        write("enabled_plugins", "[].\n")?;
        // Instead of the system's rabbitmq-env.conf (which names the shared node): the
        // node's distribution port listens on the loopback address only.
        write(
            "rabbitmq-env.conf",
            "ERL_FLAGS=\"-kernel inet_dist_use_interface {127,0,0,1}\"\n",
        )?;
        let name = format!("leitstand-tls-{}@localhost", std::process::id());
        let mut cmd = Command::new(scripts.join("rabbitmq-server"));
        node_env(&mut cmd, home, &name)
            .env("RABBITMQ_DIST_PORT", dist_port.to_string())
            .env("RABBITMQ_CONFIG_FILE", home.join("rabbitmq"))
            .env(
                "RABBITMQ_ADVANCED_CONFIG_FILE",
                home.join("advanced.config"),
            )
            .env("RABBITMQ_MNESIA_BASE", home.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", home.join("log"))
            .env(
                "RABBITMQ_ENABLED_PLUGINS_FILE",
                home.join("enabled_plugins"),
            )
            .current_dir(home)
            .stdin(Stdio::null())
            .stdout(file(&home.join("server.out")))
            .stderr(file(&home.join("server.out")))
            // A process group of its own: whatever the node starts can be stopped with it.
            .process_group(0);
        let child = cmd.spawn().map_err(|e| {
            format!(
                "cannot start {}: {e}",
                scripts.join("rabbitmq-server").display()
            )
        })?;
        let mut node = Self {
            name,
            port,
            home: home.to_owned(),
            scripts: scripts.to_owned(),
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(90);
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(node);
            }
            if let Ok(Some(status)) = node.child.try_wait() {
                return Err(format!(
                    "the TLS node exited with {status}:\n{}",
                    node.log()
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the TLS node did not open port {port} within 90 s:\n{}",
                    node.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `rabbitmqctl -n <node> ARGS…`.
    fn ctl(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(self.scripts.join("rabbitmqctl"));
        node_env(&mut cmd, &self.home, &self.name)
            .arg("-n")
            .arg(&self.name)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("rabbitmqctl runs")
    }

    /// The node's console output and log, for a failure.
    fn log(&self) -> String {
        let mut text = std::fs::read_to_string(self.home.join("server.out")).unwrap_or_default();
        if let Ok(entries) = std::fs::read_dir(self.home.join("log")) {
            for entry in entries.flatten() {
                let mut f = String::new();
                if std::fs::File::open(entry.path())
                    .and_then(|mut file| file.read_to_string(&mut f))
                    .is_ok()
                {
                    text.push_str(&format!("\n--- {}\n{f}", entry.path().display()));
                }
            }
        }
        text
    }
}

impl Drop for TlsNode {
    fn drop(&mut self) {
        // A clean stop, then, if the node is still there, its process group.
        let _ = self.ctl(&["stop"]);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }
}

/// The environment both the node and `rabbitmqctl` need to find each other: the node's
/// name, its own env file instead of the system's, and a home holding the Erlang cookie.
fn node_env<'a>(cmd: &'a mut Command, home: &Path, name: &str) -> &'a mut Command {
    cmd.env("HOME", home)
        .env("RABBITMQ_NODENAME", name)
        .env("RABBITMQ_CONF_ENV_FILE", home.join("rabbitmq-env.conf"))
}

fn file(path: &Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("log file")
}

/// `[amqp]` for the node at `host`, with the given CA file and the client certificate.
fn amqp(node: &TlsNode, host: &str, ca: Option<&Path>, pki: &Pki) -> AmqpConfig {
    AmqpConfig {
        url: format!("amqps://guest:guest@{host}:{}/%2f", node.port),
        connection_name: "leitstand-tls-test".into(),
        tls_ca_file: ca.map(Path::to_path_buf),
        tls_cert_file: Some(pki.client_cert.clone()),
        tls_key_file: Some(pki.client_key.clone()),
        ..AmqpConfig::default()
    }
}

/// `c` as the daemon's `LEITSTAND_AMQP__*` environment.
fn amqp_env(c: &AmqpConfig) -> Vec<(String, String)> {
    let mut env = vec![
        ("LEITSTAND_AMQP__URL".to_owned(), c.url.clone()),
        (
            "LEITSTAND_AMQP__CONNECTION_NAME".to_owned(),
            c.connection_name.clone(),
        ),
    ];
    for (key, file) in [
        ("TLS_CA_FILE", &c.tls_ca_file),
        ("TLS_CERT_FILE", &c.tls_cert_file),
        ("TLS_KEY_FILE", &c.tls_key_file),
    ] {
        if let Some(f) = file {
            env.push((format!("LEITSTAND_AMQP__{key}"), f.display().to_string()));
        }
    }
    env
}

/// `leitstand topology` against `c`.
fn topology(bundles: &Path, c: &AmqpConfig) -> Output {
    support::leitstand_command()
        .args(["topology", "--bundles"])
        .arg(bundles)
        .envs(amqp_env(c))
        .env("LEITSTAND_LOG__FILTER", "info")
        .output()
        .expect("leitstand topology runs")
}

fn text(out: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A child process killed when the test ends early (a failed assertion), so that no
/// daemon is left reconnecting to a node that is gone.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Waits for `child` to exit, up to `within`.
fn wait_exit(child: &mut Child, within: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[test]
fn the_daemon_speaks_amqps_and_refuses_a_broker_it_cannot_trust() {
    let Some(scripts) = rabbitmq_scripts() else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let pki = Pki::make(&tmp.path().join("pki"));
    let node = TlsNode::start(&scripts, &tmp.path().join("node"), &pki)
        .unwrap_or_else(|e| panic!("cannot start a RabbitMQ node with a TLS listener: {e}"));

    // A bundle without plugins: the daemon only has to receive and account its events.
    let bundles = tmp.path().join("bundles");
    std::fs::create_dir_all(bundles.join(TENANT)).expect("bundle dir");
    std::fs::write(
        bundles.join(TENANT).join("tenant.toml"),
        format!("id = \"{TENANT}\"\ntimezone = \"Europe/Berlin\"\n"),
    )
    .expect("tenant.toml");

    // 1. `leitstand topology` over TLS, by name (`localhost`) with the test CA.
    let trusted = amqp(&node, "localhost", Some(&pki.ca), &pki);
    let out = topology(&bundles, &trusted);
    assert!(out.status.success(), "topology over TLS: {}", text(&out));

    // 2. `leitstand run` over TLS: ready, and an event published over TLS (by the
    //    daemon's own connection code, to 127.0.0.1 this time) is processed.
    let http: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let log = tmp.path().join("daemon.log");
    let mut daemon = Killed(
        support::leitstand_command()
            .args(["run", "--bundles"])
            .arg(&bundles)
            .envs(amqp_env(&trusted))
            .env("LEITSTAND_HTTP__LISTEN", http.to_string())
            .env("LEITSTAND_LOG__FILTER", "info")
            .env(
                "LEITSTAND_STORE__URL",
                format!("sqlite://{}", tmp.path().join("state.db").display()),
            )
            .env("LEITSTAND_DAEMON__RELOAD_POLL_MS", "0")
            .env(
                "LEITSTAND_HTTP__ADMIN_TOKEN_ENV",
                "LEITSTAND_TEST_ADMIN_TOKEN",
            )
            .env("LEITSTAND_TEST_ADMIN_TOKEN", ADMIN_TOKEN)
            .stdin(Stdio::null())
            .stdout(file(&log))
            .stderr(file(&log))
            .spawn()
            .expect("leitstand run starts"),
    );
    let daemon = &mut daemon.0;
    let daemon_log = || std::fs::read_to_string(&log).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !matches!(http_get(http, "/readyz"), Some((200, _))) {
        if let Ok(Some(status)) = daemon.try_wait() {
            panic!("the daemon exited with {status}:\n{}", daemon_log());
        }
        if Instant::now() > deadline {
            let _ = daemon.kill();
            panic!("the daemon did not get ready over TLS:\n{}", daemon_log());
        }
        std::thread::sleep(Duration::from_millis(100));
    }

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let by_address = amqp(&node, "127.0.0.1", Some(&pki.ca), &pki);
    let conn = runtime
        .block_on(by_address.connect("probe"))
        .unwrap_or_else(|e| panic!("connecting to 127.0.0.1 over TLS: {e}"));
    runtime.block_on(async {
        let ch = publisher(&conn).await;
        publish(
            &ch,
            &format!("{TENANT}.call.offered"),
            &offered(TENANT, 1),
            structured(),
        )
        .await;
    });
    let processed = format!(r#"leitstand_events_total{{outcome="processed",tenant="{TENANT}"}} 1"#);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let metrics = http_get(http, "/metrics")
            .map(|(_, b)| b)
            .unwrap_or_default();
        if metrics.contains(&processed) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the event sent over TLS was not processed:\n{}",
            daemon_log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // The broker's own view: every connection of the daemon and the probe is TLS, with the
    // client certificate the test made.
    let listed = node.ctl(&[
        "list_connections",
        "-q",
        "--no-table-headers",
        "client_properties",
        "ssl",
        "peer_cert_subject",
    ]);
    let listed_text = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(
        listed.status.success(),
        "list_connections: {}",
        text(&listed)
    );
    let lines: Vec<&str> = listed_text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    for role in ["consume", "publish", "probe"] {
        let line = lines
            .iter()
            .find(|l| l.contains(&format!("leitstand-tls-test-{role}")))
            .unwrap_or_else(|| panic!("no {role} connection:\n{listed_text}"));
        assert!(line.contains("\ttrue\t"), "{role} is not TLS: {line}");
        assert!(
            line.contains("CN=leitstand"),
            "{role} without the client cert: {line}"
        );
    }
    runtime.block_on(async {
        let _ = conn.close(200, "done".into()).await;
    });

    // `POST /admin/reload` reloads the bundles as SIGHUP does, and only with the token
    // (the bundle directory is not watched here: `reload_poll_ms = 0`).
    let second = "tls-second";
    std::fs::create_dir_all(bundles.join(second)).expect("bundle dir");
    std::fs::write(
        bundles.join(second).join("tenant.toml"),
        format!("id = \"{second}\"\ntimezone = \"Europe/Berlin\"\n"),
    )
    .expect("tenant.toml");
    assert_eq!(http_post(http, "/admin/reload", None).0, 401);
    assert_eq!(
        http_post(http, "/admin/reload", Some("not-the-admin-token")).0,
        401
    );
    assert_eq!(http_post(http, "/admin/reload", Some(ADMIN_TOKEN)).0, 202);
    let applied =
        format!(r#"leitstand_bundle_reloads_total{{outcome="applied",tenant="{second}"}} 1"#);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !http_get(http, "/metrics").is_some_and(|(_, b)| b.contains(&applied)) {
        assert!(
            Instant::now() < deadline,
            "POST /admin/reload did not add {second}:\n{}",
            daemon_log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let _ = Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status();
    let status = wait_exit(daemon, Duration::from_secs(30)).unwrap_or_else(|| {
        let _ = daemon.kill();
        panic!("the daemon did not stop on SIGTERM:\n{}", daemon_log())
    });
    assert!(status.success(), "{status}:\n{}", daemon_log());
    let logged = daemon_log();
    assert!(
        !logged.contains("guest:guest"),
        "the broker password reached the log:\n{logged}"
    );

    // 3. A CA that did not sign the broker's certificate: refused, and the error says why.
    let out = topology(
        &bundles,
        &amqp(&node, "localhost", Some(&pki.other_ca), &pki),
    );
    assert!(
        !out.status.success(),
        "a wrong CA was accepted: {}",
        text(&out)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("over TLS"), "{stderr}");
    assert!(
        stderr.contains("other-ca.pem"),
        "the CA file is named: {stderr}"
    );
    assert!(stderr.contains("certificate"), "{stderr}");
    assert!(stderr.contains("UnknownIssuer"), "{stderr}");

    // 4. No CA file: the built-in roots do not know the test CA either.
    let out = topology(&bundles, &amqp(&node, "localhost", None, &pki));
    assert!(
        !out.status.success(),
        "an unknown CA was trusted: {}",
        text(&out)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("UnknownIssuer"), "{stderr}");

    // 5. No client certificate: the broker, which verifies its clients, refuses.
    let anonymous = AmqpConfig {
        tls_cert_file: None,
        tls_key_file: None,
        ..amqp(&node, "localhost", Some(&pki.ca), &pki)
    };
    let out = topology(&bundles, &anonymous);
    assert!(
        !out.status.success(),
        "a client without a certificate got in: {}",
        text(&out)
    );

    drop(node);
}
