//! `leitstand import`: a provider's ACD records (Asterisk's `queue_log`, Amazon Connect's
//! contact trace records) to CloudEvents JSON Lines that `leitstand replay` and
//! `leitstand report` read, and for a `queue_log` the service level as Asterisk reports it
//! beside Leitstand's. The work is `leitstand-adapters`'; this page turns options into an
//! [`Import`], runs it and says what it did.
//!
//! Exit codes: 0 when every line was mapped, understood or skipped; 1 when lines were
//! refused (each is printed with its number and reason; the events of every other line
//! are written all the same); 2 for options or files that cannot be used.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use leitstand_adapters::{ComparisonTable, Import, ImportReport, PseudonymKey, QueueMap};
use leitstand_contract::envelope::TenantId;
use leitstand_engine::tenants::{self, Bundle};
use leitstand_sla::profile::{AbandonPolicy, ServiceProfile, SlaSettings};

/// `leitstand import …`.
#[derive(Debug, clap::Subcommand)]
pub enum ImportCommand {
    /// Asterisk's queue_log (time|callid|queue|agent|event|data…) to call events.
    AsteriskQueueLog {
        /// The queue_log file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// What every import is told.
        #[command(flatten)]
        options: ImportOptions,
        /// Also print the service level as Asterisk reports it (SL and SL2 of `queue
        /// show`) beside Leitstand's four policies, per queue, for the same calls.
        #[arg(long)]
        sla_as_asterisk: bool,
        /// With --sla-as-asterisk and without --bundles: the threshold T in seconds
        /// (a wait ≤ T is within).
        #[arg(
            long,
            value_name = "SECONDS",
            default_value_t = 20,
            conflicts_with = "bundles"
        )]
        threshold_seconds: u32,
        /// With --sla-as-asterisk and without --bundles: the short-abandon limit S in
        /// seconds.
        #[arg(
            long,
            value_name = "SECONDS",
            default_value_t = 5,
            conflicts_with = "bundles"
        )]
        short_abandon_seconds: u32,
    },
    /// Amazon Connect contact trace records (one JSON record per line) to call events.
    ConnectCtr {
        /// The file of contact trace records.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// What every import is told.
        #[command(flatten)]
        options: ImportOptions,
    },
}

/// What every adapter of a provider's ACD is told: whose calls, how the ACD's names map,
/// which site, which timezone, which pseudonym key.
#[derive(Debug, clap::Args)]
pub struct AcdOptions {
    /// The tenant the events are for (default: `tenant` of the queue map).
    #[arg(long, value_name = "ID")]
    tenant: Option<String>,
    /// How the ACD's queue names and transfer targets become the tenant's (TOML; see
    /// examples/acd/queue-map.toml). Without one every queue keeps its ACD name.
    #[arg(long, value_name = "MAP.toml")]
    queue_map: Option<PathBuf>,
    /// The provider site these records are from: `site` of every event, and part of
    /// their `source`.
    #[arg(long, value_name = "SITE")]
    site: Option<String>,
    /// The timezone event times are written in (default: the tenant bundle's with
    /// --bundles, else Europe/Berlin).
    #[arg(long, value_name = "TZ")]
    timezone: Option<String>,
    /// A file whose bytes (at least 16) key the pseudonyms `caller_ref` and `agent_ref`;
    /// keep it secret and keep it as long as references must match. Without one, no
    /// references are written.
    #[arg(long, value_name = "FILE")]
    pseudonym_key: Option<PathBuf>,
    /// The tenant bundles (a bundle directory or a directory of them): the tenant's
    /// timezone, and its thresholds for --sla-as-asterisk.
    #[arg(long, value_name = "DIR")]
    bundles: Option<PathBuf>,
}

/// The options of every import.
#[derive(Debug, clap::Args)]
pub struct ImportOptions {
    /// Whose calls, and how they are named.
    #[command(flatten)]
    acd: AcdOptions,
    /// Write the events here (default: standard output).
    #[arg(long, value_name = "OUT.jsonl")]
    out: Option<PathBuf>,
}

/// Runs `leitstand import …`.
pub fn run(command: ImportCommand) -> anyhow::Result<ExitCode> {
    match command {
        ImportCommand::AsteriskQueueLog {
            file,
            options,
            sla_as_asterisk,
            threshold_seconds,
            short_abandon_seconds,
        } => {
            let (import, bundle) = options.acd.import()?;
            let log = import
                .read_queue_log(open(&file)?)
                .with_context(|| format!("reading {}", file.display()))?;
            options.write(|out| log.write_events(out))?;
            eprint!("{}", log.report());
            if sla_as_asterisk {
                let profile = match &bundle {
                    Some(b) => b.service.clone(),
                    None => default_profile(&import, threshold_seconds, short_abandon_seconds)?,
                };
                eprint!("{}", ComparisonTable(&log.compare_service_levels(&profile)));
            }
            Ok(exit_code(log.report()))
        }
        ImportCommand::ConnectCtr { file, options } => {
            let (import, _) = options.acd.import()?;
            let records = import
                .read_contact_trace_records(open(&file)?)
                .with_context(|| format!("reading {}", file.display()))?;
            options.write(|out| records.write_events(out))?;
            eprint!("{}", records.report());
            Ok(exit_code(records.report()))
        }
    }
}

fn open(file: &Path) -> anyhow::Result<BufReader<File>> {
    let f = File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    Ok(BufReader::with_capacity(1 << 16, f))
}

fn exit_code(report: &ImportReport) -> ExitCode {
    if report.refusals.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

impl AcdOptions {
    /// The validated import, and the tenant's bundle when `--bundles` is given.
    pub fn import(&self) -> anyhow::Result<(Import, Option<Bundle>)> {
        let map = match &self.queue_map {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read the queue map {}", path.display()))?;
                QueueMap::from_toml(&text)
                    .with_context(|| format!("the queue map {}", path.display()))?
            }
            None => QueueMap::default(),
        };
        let tenant = match (&self.tenant, map.tenant()) {
            (Some(t), _) => t.clone(),
            (None, Some(t)) => t.to_owned(),
            (None, None) => {
                anyhow::bail!("name the tenant: --tenant ID, or `tenant = \"…\"` in the queue map")
            }
        };
        let mut import = Import::new(&tenant).context("--tenant")?;
        let bundle = match &self.bundles {
            Some(dir) => Some(tenant_bundle(dir, &tenant)?),
            None => None,
        };
        if let Some(b) = &bundle {
            import = import.with_timezone(b.timezone);
        }
        if let Some(tz) = &self.timezone {
            import = import.with_timezone_name(tz).context("--timezone")?;
        }
        if let Some(site) = &self.site {
            import = import.with_site(site).context("--site")?;
        }
        if let Some(path) = &self.pseudonym_key {
            let bytes = std::fs::read(path)
                .with_context(|| format!("cannot read the pseudonym key {}", path.display()))?;
            let key = PseudonymKey::new(&bytes)
                .with_context(|| format!("--pseudonym-key {}", path.display()))?;
            import = import.with_pseudonym_key(key);
        }
        Ok((import.with_queue_map(map), bundle))
    }
}

impl ImportOptions {
    /// Writes the events with `write` to `--out` or standard output.
    fn write(
        &self,
        write: impl FnOnce(&mut dyn Write) -> Result<(), leitstand_adapters::ImportError>,
    ) -> anyhow::Result<()> {
        match &self.out {
            Some(path) => {
                let file = File::create(path)
                    .with_context(|| format!("cannot create {}", path.display()))?;
                let mut out = BufWriter::new(file);
                write(&mut out).with_context(|| format!("writing {}", path.display()))?;
                out.flush()
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            None => {
                let mut out = std::io::stdout().lock();
                write(&mut out).context("writing the events")?;
            }
        }
        Ok(())
    }
}

/// The bundle of `tenant` under `dir`. Other tenants' bundles that cannot be loaded
/// (their plugins not built, say) do not stand in the way; they are named only when the
/// tenant's is not found.
fn tenant_bundle(dir: &Path, tenant: &str) -> anyhow::Result<Bundle> {
    let mut known = Vec::new();
    let mut errors = Vec::new();
    for d in tenants::bundle_dirs(dir).map_err(|e| anyhow::anyhow!("--bundles: {e}"))? {
        match Bundle::load(&d) {
            Ok(bundle) if bundle.tenant.as_str() == tenant => return Ok(bundle),
            Ok(bundle) => known.push(bundle.tenant.to_string()),
            Err(e) => errors.push(e.to_string()),
        }
    }
    let mut message = format!(
        "--bundles {}: no bundle of tenant {tenant} (loaded: {})",
        dir.display(),
        if known.is_empty() {
            "none".to_owned()
        } else {
            known.join(", ")
        }
    );
    for e in errors {
        message.push_str(&format!("\n  not loaded: {e}"));
    }
    anyhow::bail!(message)
}

/// The contract's SLA defaults (CONTRACT §5) with `threshold` and `short` for the tenant
/// of `import`, for a comparison without the tenant's bundle.
fn default_profile(import: &Import, threshold: u32, short: u32) -> anyhow::Result<ServiceProfile> {
    let tenant = TenantId::parse(import.tenant()).map_err(|e| anyhow::anyhow!("--tenant: {e}"))?;
    Ok(ServiceProfile {
        display_name: tenant.to_string(),
        tenant,
        timezone: import.timezone(),
        sla: SlaSettings {
            threshold_seconds: threshold,
            target: 0.8,
            short_abandon_seconds: short,
            abandon_policy: AbandonPolicy::ExcludeShort,
            max_occupancy: None,
            shrinkage: 0.0,
            first_contact_target: None,
        },
        queues: BTreeMap::new(),
        calendars: None,
        providers: Default::default(),
    })
}
