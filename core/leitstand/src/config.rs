//! The daemon's configuration: built-in defaults, overridden by an optional TOML file,
//! overridden by `LEITSTAND_<SECTION>__<KEY>` environment variables (CONTRACT §6).
//!
//! Owns the raw → typed step for daemon settings and nothing else; tenant bundles have
//! their own format in [`leitstand_engine::tenants`].

use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::daemon::DaemonConfig;
use crate::http::HttpConfig;
use leitstand_amqp::AmqpConfig;
use leitstand_contract::envelope::IntakeLimits;
use leitstand_engine::registry::BundlesConfig;
use leitstand_engine::sandbox::SandboxConfig;
use leitstand_store::StoreConfig;

/// Everything the daemon can be told.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// How events are accepted.
    pub intake: IntakeConfig,
    /// How plugins run.
    pub sandbox: SandboxConfig,
    /// What is logged.
    pub log: LogConfig,
    /// How RabbitMQ is reached.
    pub amqp: AmqpConfig,
    /// Where `/metrics`, `/healthz` and `/readyz` are served.
    pub http: HttpConfig,
    /// The daemon's bundle directory, shutdown grace and reload watching.
    pub daemon: DaemonConfig,
    /// Where state, timers, processed ids and the outbox are kept.
    pub store: StoreConfig,
    /// How the live SLA figures are kept.
    pub metrics: MetricsConfig,
    /// Which bundles are accepted: signatures and the keys trusted to make them.
    pub bundles: BundlesConfig,
}

/// `[metrics]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// The rolling window of `leitstand_service_level`, in minutes of event time.
    /// Default 30.
    pub sla_window_minutes: u32,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            sla_window_minutes: 30,
        }
    }
}

/// `[intake]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntakeConfig {
    /// The largest event accepted, in bytes; larger ones are dead-lettered `too-large`.
    /// Default 65536 (CONTRACT §1).
    pub max_event_bytes: usize,
    /// The deepest nesting of arrays and objects accepted; deeper events are dead-lettered
    /// `too-deep`. Default 32.
    pub max_json_depth: usize,
    /// The longest string (key or value) in `data` accepted, in bytes; longer ones are
    /// dead-lettered `string-too-long`. Default 65536.
    pub max_string_bytes: usize,
    /// The longest attribute value (`id`, `source`, `type`, `subject`, …) accepted, in
    /// bytes; longer ones are dead-lettered `string-too-long`. Default 1024.
    pub max_attribute_bytes: usize,
}

impl Default for IntakeConfig {
    fn default() -> Self {
        let d = IntakeLimits::default();
        Self {
            max_event_bytes: d.max_event_bytes,
            max_json_depth: d.max_json_depth,
            max_string_bytes: d.max_string_bytes,
            max_attribute_bytes: d.max_attribute_bytes,
        }
    }
}

impl IntakeConfig {
    /// The limits the envelope parser applies.
    pub fn limits(&self) -> IntakeLimits {
        IntakeLimits {
            max_event_bytes: self.max_event_bytes,
            max_json_depth: self.max_json_depth,
            max_string_bytes: self.max_string_bytes,
            max_attribute_bytes: self.max_attribute_bytes,
        }
    }
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A `tracing` filter, e.g. `info` or `leitstand=debug`. Default `info`. Payloads are
    /// never logged at `info` or above.
    pub filter: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            filter: "info".into(),
        }
    }
}

/// The prefix of environment overrides.
pub const ENV_PREFIX: &str = "LEITSTAND_";

impl Config {
    /// Loads the configuration: defaults, then `file` when given (it must exist), then the
    /// environment. The error names the file or variable and the key.
    pub fn load(file: Option<&Path>) -> Result<Self, Box<figment::Error>> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            fig = fig.merge(Toml::file_exact(path));
        }
        // Only `SECTION__KEY` variables are configuration; other LEITSTAND_* variables
        // (for tests or scripts) are not mistaken for unknown keys.
        fig = fig.merge(
            Env::prefixed(ENV_PREFIX)
                .filter(|k| k.as_str().contains("__"))
                .split("__"),
        );
        let config: Self = fig.extract().map_err(Box::new)?;
        config
            .check()
            .map_err(|e| Box::new(figment::Error::from(e)))?;
        Ok(config)
    }

    /// The rules the types alone do not state.
    fn check(&self) -> Result<(), String> {
        let cores = self.sandbox.plugin_cores;
        if !(cores.is_finite() && cores >= 0.0) {
            return Err(format!(
                "sandbox.plugin_cores: {cores} is not a number of cores (0 or more; 0 = one fewer than the machine has)"
            ));
        }
        if self.sandbox.yield_nice > 19 {
            return Err(format!(
                "sandbox.yield_nice: {} is more than 19, the lowest CPU priority there is",
                self.sandbox.yield_nice
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[test]
    // figment's `Jail` fixes the closure's error type; its size is not ours to choose.
    #[allow(clippy::result_large_err)]
    fn file_and_environment_override_defaults_and_unknown_keys_are_refused() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("leitstand.toml", "[intake]\nmax_event_bytes = 1000\n")?;
            jail.set_env("LEITSTAND_SANDBOX__POOL_INSTANCES", "8");
            jail.set_env("LEITSTAND_UNRELATED", "x");
            let c = Config::load(Some(Path::new("leitstand.toml"))).map_err(|e| *e)?;
            assert_eq!(c.intake.max_event_bytes, 1000);
            assert_eq!(c.sandbox.pool_instances, 8);
            assert_eq!(c.log.filter, "info");
            assert_eq!(c.amqp.prefetch, 256);

            jail.set_env("LEITSTAND_AMQP__URL", "amqp://u:p@broker:5672/%2f");
            jail.set_env("LEITSTAND_HTTP__LISTEN", "0.0.0.0:9000");
            let c = Config::load(None).map_err(|e| *e)?;
            assert_eq!(c.amqp.url, "amqp://u:p@broker:5672/%2f");
            assert_eq!(c.http.listen.port(), 9000);

            assert_eq!(c.bundles, BundlesConfig::default());
            jail.set_env("LEITSTAND_BUNDLES__REQUIRE_SIGNATURE", "true");
            jail.set_env("LEITSTAND_BUNDLES__TRUSTED_KEYS", "[keys/ops.pub, keys/ci]");
            let c = Config::load(None).map_err(|e| *e)?;
            assert!(c.bundles.require_signature);
            assert_eq!(
                c.bundles.trusted_keys,
                [PathBuf::from("keys/ops.pub"), PathBuf::from("keys/ci")]
            );

            jail.set_env("LEITSTAND_SANDBOX__PLUGIN_CORES", "0.5");
            assert_eq!(
                Config::load(None).map_err(|e| *e)?.sandbox.plugin_cores,
                0.5
            );
            jail.set_env("LEITSTAND_SANDBOX__PLUGIN_CORES", "-1");
            let e = Config::load(None).expect_err("negative cores");
            assert!(e.to_string().contains("sandbox.plugin_cores: -1"), "{e}");
            jail.set_env("LEITSTAND_SANDBOX__PLUGIN_CORES", "0");
            jail.set_env("LEITSTAND_SANDBOX__YIELD_NICE", "20");
            let e = Config::load(None).expect_err("nicer than 19");
            assert!(e.to_string().contains("sandbox.yield_nice: 20"), "{e}");
            jail.set_env("LEITSTAND_SANDBOX__YIELD_NICE", "0");

            jail.create_file("bad.toml", "[intake]\nmax_event_byte = 1\n")?;
            let e = Config::load(Some(Path::new("bad.toml"))).expect_err("unknown key");
            assert!(e.to_string().contains("max_event_byte"), "{e}");
            Ok(())
        });
    }
}
