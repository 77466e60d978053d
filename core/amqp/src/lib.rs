//! Leitstand's RabbitMQ transport: connections (plain or TLS), the CONTRACT §4 topology,
//! deliveries in, commands and dead letters out with publisher confirms, and the workers
//! that need nothing but the broker: dead-lettering unrouted events and delivering
//! plugins' `http.post`.
//!
//! TLS (`amqps://`) is rustls on ring, through lapin: the broker's certificate is checked
//! against the built-in webpki roots plus `amqp.tls_ca_file`, and its name against the URL's
//! host; a client certificate is optional.
//!
//! Owns everything that speaks AMQP (the only crate with lapin); it knows nothing of
//! plugins, bundles or the store. The daemon's driver consumes a tenant's queue
//! ([`TenantQueue`]), runs each batch through the engine's pipeline with the [`Amqp`]
//! carrier and hands the committed outbox to the [`relay`].
//!
//! # Layout
//!
//! - [`AmqpConfig`]: `[amqp]`, connections, TLS, reconnect backoff.
//! - `topology`: the exchanges and queues of CONTRACT §4.
//! - [`session`]: one session's consuming and publishing connections.
//! - `intake`: a delivery's properties and body → an envelope (both modes).
//! - `carrier`: the pipeline's carrier on RabbitMQ.
//! - `queue`: a tenant's input queue, batch by batch.
//! - `publish`: messages (commands, dead letters, the host's events) and confirms.
//! - [`relay`]: the outbox of one tenant to the broker, in order, confirmed.
//! - [`unrouted`]: events no tenant queue took, dead-lettered with their reason.
//! - [`deliveries`]: plugins' `http.post` delivered over HTTP with retries.
//! - [`bridge`]: an ACD bridge's side of the broker: its events out with confirms, its
//!   commands in, settled as the ACD carried them out or dead-lettered with the reason.
#![forbid(unsafe_code)]

pub mod bridge;
mod carrier;
pub mod deliveries;
mod intake;
mod publish;
mod queue;
pub mod relay;
pub mod session;
mod topology;
pub mod unrouted;

use std::path::PathBuf;
use std::time::Duration;

use lapin::tcp::{OwnedIdentity, OwnedTLSConfig};
use lapin::{Connection, ConnectionProperties};
use serde::{Deserialize, Serialize};

pub use carrier::Amqp;
pub use intake::envelope_of;
pub use publish::{Confirms, Message, PublishFailure, Publisher, dead_letter_headers};
pub use queue::{Acknowledger, Delivery, Next, TenantQueue};
pub use session::{Session, Watch, declare_topology};
pub use topology::{Topology, tenant_queue};

use std::sync::Arc;

use leitstand_contract::envelope::IntakeLimits;
use leitstand_metrics::Metrics;

/// What the broker's workers of a daemon share.
pub struct Context {
    /// The broker settings.
    pub config: AmqpConfig,
    /// The limits every event is read under.
    pub limits: IntakeLimits,
    /// The daemon's figures.
    pub metrics: Arc<Metrics>,
}

/// The exchange events arrive on (CONTRACT §4).
pub const EVENTS_EXCHANGE: &str = "leitstand.events";
/// The exchange commands are published to (CONTRACT §4).
pub const COMMANDS_EXCHANGE: &str = "leitstand.commands";
/// The exchange and queue of messages that cannot be processed (CONTRACT §4).
pub const DEAD: &str = "leitstand.dead";
/// The alternate exchange and queue of events no tenant queue is bound for: the daemon
/// reads them and dead-letters each with its reason (usually `unknown-tenant`).
pub const UNROUTED: &str = "leitstand.unrouted";
/// The quorum queue of `http.post` commands awaiting delivery, bound to
/// `leitstand.commands` with `*.http.post`.
pub const HTTP_QUEUE: &str = "leitstand.http";
/// The header naming why a message was dead-lettered.
pub const ERROR_HEADER: &str = "x-leitstand-error";
/// The header with one human-readable line about it.
pub const DETAIL_HEADER: &str = "x-leitstand-detail";

/// `[amqp]`: how Leitstand reaches RabbitMQ.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AmqpConfig {
    /// The broker, `amqp://user:pass@host:port/vhost` or `amqps://…` for TLS.
    /// Default `amqp://guest:guest@127.0.0.1:5672/%2f`.
    pub url: String,
    /// Deliveries one tenant may have unacknowledged at once. Default 256.
    pub prefetch: u16,
    /// The connection name shown in RabbitMQ's management UI; `-consume` and `-publish`
    /// are appended. Default `leitstand`.
    pub connection_name: String,
    /// Deliveries of one message before the broker dead-letters it as poison
    /// (`x-delivery-limit` of the quorum queues). Every return counts (a restart returns
    /// up to `prefetch` messages), so the limit stays well above a few restarts in a row.
    /// Default 20.
    pub delivery_limit: u32,
    /// A PEM file of CA certificates to trust for `amqps://`, besides the built-in webpki
    /// roots (Mozilla's): the CA of a broker with a certificate of its own. Default none.
    /// Set only with an `amqps://` URL.
    pub tls_ca_file: Option<PathBuf>,
    /// A PEM client certificate (chain) for `amqps://`, for a broker that verifies its
    /// clients (`ssl_options.verify = verify_peer`); needs `tls_key_file`. Default none.
    pub tls_cert_file: Option<PathBuf>,
    /// The PEM private key (PKCS#8, PKCS#1 or SEC1) of `tls_cert_file`. Default none.
    pub tls_key_file: Option<PathBuf>,
    /// The first wait before reconnecting, in milliseconds; it doubles up to
    /// `reconnect_max_ms`, each wait jittered by up to half its length. Default 200.
    pub reconnect_min_ms: u64,
    /// The longest wait before reconnecting, in milliseconds. Default 15000.
    pub reconnect_max_ms: u64,
}

impl Default for AmqpConfig {
    fn default() -> Self {
        Self {
            url: "amqp://guest:guest@127.0.0.1:5672/%2f".into(),
            prefetch: 256,
            connection_name: "leitstand".into(),
            delivery_limit: 20,
            tls_ca_file: None,
            tls_cert_file: None,
            tls_key_file: None,
            reconnect_min_ms: 200,
            reconnect_max_ms: 15_000,
        }
    }
}

/// Why the broker could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// A TLS file named in `[amqp]` could not be read or is incomplete.
    #[error("amqp.{key}: {reason}")]
    Tls {
        /// The configuration key.
        key: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A message could not be encoded.
    #[error("{0}")]
    Encode(String),
    /// The session cannot go on (a consumer was cancelled, state could not be written);
    /// unacknowledged inputs are redelivered to the next session.
    #[error("{0}")]
    Session(String),
    /// The broker refused or dropped an operation.
    #[error("{context}: {source}")]
    Amqp {
        /// What was being done.
        context: String,
        /// The broker's or client's error.
        source: lapin::Error,
    },
}

impl TransportError {
    /// An error of the broker while doing `context`.
    pub fn amqp(context: impl Into<String>) -> impl FnOnce(lapin::Error) -> Self {
        let context = context.into();
        move |source| Self::Amqp { context, source }
    }
}

impl AmqpConfig {
    /// The URL with any password replaced, for logs and errors.
    pub fn redacted_url(&self) -> String {
        redact(&self.url)
    }

    /// Whether `url` asks for TLS (`amqps://`).
    pub fn uses_tls(&self) -> bool {
        self.url
            .trim_start()
            .get(..8)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("amqps://"))
    }

    /// The TLS settings, read from the configured files. Without `amqps://` there are none,
    /// and a TLS file set anyway is refused: the connection would not be encrypted.
    fn tls(&self) -> Result<OwnedTLSConfig, TransportError> {
        if !self.uses_tls() {
            let set = [
                ("tls_ca_file", &self.tls_ca_file),
                ("tls_cert_file", &self.tls_cert_file),
                ("tls_key_file", &self.tls_key_file),
            ]
            .into_iter()
            .find(|(_, file)| file.is_some());
            return match set {
                Some((key, _)) => Err(TransportError::Tls {
                    key,
                    reason: "is set, but amqp.url does not start with amqps://: \
                             the connection would not be encrypted"
                        .into(),
                }),
                None => Ok(OwnedTLSConfig::default()),
            };
        }
        let read = |key: &'static str, path: &PathBuf| {
            std::fs::read(path).map_err(|e| TransportError::Tls {
                key,
                reason: format!("cannot read {}: {e}", path.display()),
            })
        };
        let cert_chain = match &self.tls_ca_file {
            Some(p) => {
                let text = String::from_utf8(read("tls_ca_file", p)?).map_err(|_| {
                    TransportError::Tls {
                        key: "tls_ca_file",
                        reason: format!("{} is not a PEM text file", p.display()),
                    }
                })?;
                // The TLS layer skips what it cannot parse; without this check a wrong
                // file would leave only the built-in roots, and the error would come later
                // as an unknown issuer.
                if !text.contains("-----BEGIN CERTIFICATE-----") {
                    return Err(TransportError::Tls {
                        key: "tls_ca_file",
                        reason: format!("{} holds no PEM certificate", p.display()),
                    });
                }
                Some(text)
            }
            None => None,
        };
        let identity = match (&self.tls_cert_file, &self.tls_key_file) {
            (Some(cert), Some(key)) => Some(OwnedIdentity::PKCS8 {
                pem: read("tls_cert_file", cert)?,
                key: read("tls_key_file", key)?,
            }),
            (None, None) => None,
            (Some(_), None) => {
                return Err(TransportError::Tls {
                    key: "tls_key_file",
                    reason: "a client certificate needs its key".into(),
                });
            }
            (None, Some(_)) => {
                return Err(TransportError::Tls {
                    key: "tls_cert_file",
                    reason: "a client key needs its certificate".into(),
                });
            }
        };
        Ok(OwnedTLSConfig {
            identity,
            cert_chain,
        })
    }

    /// Opens one connection; `role` (`consume`, `publish`, `topology`) is appended to the
    /// connection name.
    ///
    /// Over `amqps://` the broker's certificate must chain to the built-in webpki roots
    /// (Mozilla's) or to a certificate in `tls_ca_file`, and name the URL's host; the
    /// client presents `tls_cert_file` when the broker asks for one. A failed check is an
    /// error naming TLS and the CA file.
    pub async fn connect(&self, role: &str) -> Result<Connection, TransportError> {
        let props = ConnectionProperties::default()
            .with_connection_name(format!("{}-{role}", self.connection_name).into());
        let tls = self.tls()?;
        let runtime = lapin::runtime::default_runtime().map_err(TransportError::amqp(format!(
            "starting the AMQP runtime for {}",
            self.redacted_url()
        )))?;
        let how = if self.uses_tls() {
            let trust = self.tls_ca_file.as_ref().map_or_else(
                || "the built-in roots".to_owned(),
                |ca| format!("the built-in roots and amqp.tls_ca_file {}", ca.display()),
            );
            format!(" over TLS, trusting {trust}")
        } else {
            String::new()
        };
        Connection::connect_with_config(&self.url, props, tls, runtime)
            .await
            .map_err(TransportError::amqp(format!(
                "connecting to {}{how} ({role})",
                self.redacted_url()
            )))
    }

    /// The wait before reconnect attempt `attempt` (0-based): exponential, capped, with
    /// up to half of it added at random so that many daemons do not reconnect in step.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let base = self
            .reconnect_min_ms
            .saturating_mul(1u64 << attempt.min(20))
            .min(self.reconnect_max_ms.max(self.reconnect_min_ms));
        let jitter = rand::random_range(0..=base / 2);
        Duration::from_millis(base + jitter)
    }
}

/// `url` with the password of its user-info replaced by `***`.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}{tail}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_the_logs() {
        assert_eq!(
            redact("amqp://guest:secret@host:5672/%2f"),
            "amqp://guest:***@host:5672/%2f"
        );
        assert_eq!(redact("amqp://host/%2f"), "amqp://host/%2f");
        assert_eq!(redact("amqps://u:p@h"), "amqps://u:***@h");
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let c = AmqpConfig {
            reconnect_min_ms: 100,
            reconnect_max_ms: 1_000,
            ..AmqpConfig::default()
        };
        for _ in 0..50 {
            let first = c.backoff(0).as_millis();
            assert!((100..=150).contains(&first), "{first}");
            let late = c.backoff(30).as_millis();
            assert!((1_000..=1_500).contains(&late), "{late}");
        }
    }

    #[test]
    fn tls_files_are_named_when_unusable() {
        let tls = |c: AmqpConfig| {
            AmqpConfig {
                url: "amqps://guest:guest@broker:5671/%2f".into(),
                ..c
            }
            .tls()
        };
        let e = tls(AmqpConfig {
            tls_cert_file: Some("/nonexistent/cert.pem".into()),
            ..AmqpConfig::default()
        })
        .expect_err("key missing");
        assert!(e.to_string().contains("amqp.tls_key_file"), "{e}");
        let e = tls(AmqpConfig {
            tls_ca_file: Some("/nonexistent/ca.pem".into()),
            ..AmqpConfig::default()
        })
        .expect_err("unreadable");
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");

        let dir = tempfile::tempdir().expect("tmp");
        let not_pem = dir.path().join("ca.der");
        std::fs::write(&not_pem, "not a certificate").expect("write");
        let e = tls(AmqpConfig {
            tls_ca_file: Some(not_pem),
            ..AmqpConfig::default()
        })
        .expect_err("no certificate");
        assert!(e.to_string().contains("holds no PEM certificate"), "{e}");
    }

    #[test]
    fn tls_files_without_amqps_are_refused() {
        let c = AmqpConfig {
            tls_ca_file: Some("/etc/leitstand/ca.pem".into()),
            ..AmqpConfig::default()
        };
        assert!(!c.uses_tls());
        let e = c.tls().expect_err("plain URL with a CA file");
        assert!(
            e.to_string()
                .starts_with("amqp.tls_ca_file: is set, but amqp.url"),
            "{e}"
        );

        let plain = AmqpConfig::default()
            .tls()
            .expect("no TLS, nothing to read");
        assert!(plain.cert_chain.is_none() && plain.identity.is_none());
        for url in ["amqps://h/%2f", "AMQPS://h", " amqps://u:p@h:5671"] {
            let c = AmqpConfig {
                url: url.into(),
                ..AmqpConfig::default()
            };
            assert!(c.uses_tls(), "{url}");
        }
    }
}
