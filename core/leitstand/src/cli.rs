//! The `leitstand` command line: parses arguments, loads configuration, and runs one
//! subcommand. Errors at this level are reported with their context and an exit code;
//! the work itself lives in the library modules.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};

use crate::config::Config;
use crate::replay::{Notice, Replay, ReplayJournal, ReplayOptions, ReplayReport};
use leitstand_engine::dispatch::Dispatcher;
use leitstand_engine::pipeline::memory::MemoryJournal;
use leitstand_engine::sandbox::Sandbox;
use leitstand_engine::state::{Detached, MemoryStore, StateStore};
use leitstand_engine::tenants::signature::{self, SecretKey, SignaturePolicy, TrustedKeys};
use leitstand_engine::tenants::{self, BundleError};
use leitstand_metrics::{Clock, CustomMetrics, Metrics, SlaMetrics};
use leitstand_store::{Store, StoreConfig};

/// Exit code for unusable arguments, configuration or bundles.
pub(crate) const EXIT_USAGE: u8 = 2;

/// Leitstand: runs tenants' plugins on call and booking events and accounts service levels.
#[derive(Debug, Parser)]
#[command(name = "leitstand", version, about)]
pub struct Cli {
    /// Configuration file (TOML); `LEITSTAND_<SECTION>__<KEY>` variables override it.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Run tenant bundles over a JSON Lines file of CloudEvents, with no broker, and print
    /// the SLA report.
    Replay(ReplayArgs),
    /// Work with tenant bundles.
    #[command(subcommand)]
    Bundle(BundleCommand),
    /// Write and test plugins.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Run the daemon: consume events from RabbitMQ, publish commands, serve /metrics,
    /// /healthz and /readyz. SIGTERM or SIGINT stop it gracefully, SIGHUP reloads bundles.
    Run {
        /// The directory of tenant bundles (default: `daemon.bundles` of the configuration).
        #[arg(long, value_name = "DIR")]
        bundles: Option<PathBuf>,
    },
    /// Declare the RabbitMQ exchanges and queues (CONTRACT §4) for the bundles, then exit.
    Topology {
        /// The directory of tenant bundles (default: `daemon.bundles` of the configuration).
        #[arg(long, value_name = "DIR")]
        bundles: Option<PathBuf>,
    },
    /// How many agents a load needs (Erlang C): e.g. 5,000 calls in 3 hours after a press
    /// conference at 240 s handling time, 80 % answered within 20 s.
    Staffing(StaffingArgs),
    /// Replay events and write one tenant's day as a self-contained HTML page: service
    /// level per queue and per 30 minutes against the target, with a chart.
    Report(ClientReportArgs),
    /// Turn a provider's ACD records into Leitstand's events (JSON Lines for replay and
    /// report). Exits 1 when lines were refused (each is named by its number), 2 when the
    /// options or files cannot be used.
    #[command(subcommand)]
    Import(crate::import::ImportCommand),
    /// Bridge a provider's ACD and Leitstand live: its call events to leitstand.events,
    /// the tenant's commands back to it.
    #[command(subcommand)]
    Bridge(crate::bridge::BridgeCommand),
    /// What-if: run the tenant's own plugins against a simulated contact center (arrivals
    /// with surges, sites with agents per interval, handling times, callers' patience) and
    /// report the SLA figures of many runs with their 99 % confidence intervals.
    Simulate(crate::simulate::SimulateArgs),
}

/// `leitstand staffing`.
#[derive(Debug, clap::Args)]
struct StaffingArgs {
    /// Calls offered in the interval.
    #[arg(long, value_name = "N", value_parser = leitstand_sla::staffing::parse_calls)]
    calls: f64,
    /// The interval's length: `30m`, `3h`, `1800s` or seconds (`1800`).
    #[arg(long, value_name = "DURATION", value_parser = leitstand_sla::staffing::parse_duration)]
    interval: f64,
    /// Average handling time per call: `240s`, `4m` or seconds (`240`).
    #[arg(long, value_name = "DURATION", value_parser = leitstand_sla::staffing::parse_duration)]
    aht: f64,
    /// The service-level target LEVEL/SECONDS: `80/20` (or `0.8/20`) is 80 % of calls
    /// answered within 20 s.
    #[arg(long, value_name = "LEVEL/SECONDS")]
    target: leitstand_sla::staffing::Target,
    /// The highest share of time agents may be busy: `0.85` or `85%` (default: no limit).
    #[arg(long, value_name = "FRACTION", value_parser = leitstand_sla::staffing::parse_max_occupancy)]
    max_occupancy: Option<f64>,
    /// The share of paid time agents are not on the phones (breaks, training, absence):
    /// `0.3` or `30%`.
    #[arg(long, value_name = "FRACTION", default_value = "0", value_parser = leitstand_sla::staffing::parse_shrinkage)]
    shrinkage: f64,
    /// How to print the answer.
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    format: ReportFormat,
}

/// `leitstand report`.
#[derive(Debug, clap::Args)]
struct ClientReportArgs {
    /// A tenant bundle directory, or a directory of them.
    #[arg(long, value_name = "DIR")]
    bundles: PathBuf,
    /// The tenant to report on.
    #[arg(long, value_name = "ID")]
    tenant: String,
    /// The day, in the tenant's local time (default: the day of its first call event).
    #[arg(long, value_name = "YYYY-MM-DD")]
    day: Option<chrono::NaiveDate>,
    /// Write the page here (default: standard output).
    #[arg(long, value_name = "FILE.html")]
    out: Option<PathBuf>,
    /// The events, one CloudEvent per line.
    #[arg(value_name = "EVENTS.jsonl")]
    events: PathBuf,
}

/// `leitstand replay`.
#[derive(Debug, clap::Args)]
struct ReplayArgs {
    /// A tenant bundle directory, or a directory of them.
    #[arg(long, value_name = "DIR")]
    bundles: PathBuf,
    /// The events, one CloudEvent per line.
    #[arg(value_name = "EVENTS.jsonl")]
    events: PathBuf,
    /// Write the commands here, one per line (default: not written).
    #[arg(long, value_name = "OUT.jsonl")]
    commands: Option<PathBuf>,
    /// Write the dead letters here, one per line: line number, reason, detail, routing
    /// key and the line itself — what the daemon would copy to `leitstand.dead`.
    #[arg(long, value_name = "DEAD.jsonl")]
    dead_letters: Option<PathBuf>,
    /// How to print the SLA report.
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    report: ReportFormat,
    /// Timers due up to this many hours after the last event still fire at the end.
    #[arg(long, default_value_t = 24, value_name = "HOURS")]
    timer_horizon_hours: u32,
    /// Keep plugin state, timers, processed ids and the outbox in this store
    /// (`sqlite://PATH` or `postgres://…`) instead of a journal in memory that ends with
    /// the run. A later
    /// replay on the same store resumes: events it processed are skipped as duplicates
    /// and its pending timers fire.
    #[arg(long, value_name = "URL")]
    state: Option<String>,
    /// Write the run's metrics here after the run, in the Prometheus text format the
    /// daemon serves on /metrics (the SLA families count what the report counts).
    #[arg(long, value_name = "FILE")]
    metrics: Option<PathBuf>,
    /// Run the tenants on this many threads (default: one per core). The output is the
    /// same byte for byte whatever the number; tenants are dealt out to the threads in
    /// turn, so a replay of one tenant runs on one.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    jobs: Option<u16>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ReportFormat {
    /// A readable table.
    Table,
    /// One JSON document (CONTRACT §6).
    Json,
}

/// `leitstand bundle …`.
#[derive(Debug, Subcommand)]
enum BundleCommand {
    /// Validate bundles without running them: keys, values, wasm pins, plugin configs, and
    /// their signatures when `bundles.require_signature` is set.
    Check {
        /// A tenant bundle directory, or a directory of them.
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// Make a key pair for signing bundles: NAME.key (the secret, readable by its owner
    /// only) and NAME.pub (the public key and its key id). Never overwrites a file.
    Keygen {
        /// The key's name: NAME.key and NAME.pub are written.
        #[arg(long, value_name = "NAME")]
        out: PathBuf,
    },
    /// Sign bundles: write DIR/signature.toml over the manifest, each plugin's wasm file
    /// and every other file of the bundle directory. Refuses a bundle `bundle check`
    /// refuses.
    Sign {
        /// A tenant bundle directory, or a directory of them.
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        /// The secret key (NAME.key of `bundle keygen`).
        #[arg(long, value_name = "NAME.key")]
        key: PathBuf,
    },
    /// Check bundles' signatures: signed by a trusted key, and no file changed since. Says
    /// which key signed; otherwise names what is wrong and exits non-zero.
    Verify {
        /// A tenant bundle directory, or a directory of them.
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        /// A public key to trust (NAME.pub), or a directory of them; repeatable. Default:
        /// `bundles.trusted_keys` of the configuration.
        #[arg(long = "trusted-key", value_name = "NAME.pub|DIR")]
        trusted_keys: Vec<PathBuf>,
    },
}

/// `leitstand plugin …`.
#[derive(Debug, Subcommand)]
enum PluginCommand {
    /// Run a plugin over fixture events and compare what it does with the expectation,
    /// line by line. Give a suite (`--suite DIR`: every subdirectory with an events.jsonl
    /// is a case), one case directory (`--case DIR`), or the files themselves.
    Test(PluginTestArgs),
    /// Start a new plugin from the template, with a passing fixture.
    New {
        /// The plugin's name (`[a-z][a-z0-9-]*`); the crate is `leitstand-NAME`.
        #[arg(value_name = "NAME")]
        name: String,
        /// The plugin workspace to create it in.
        #[arg(long, value_name = "DIR", default_value = "plugins")]
        dir: PathBuf,
    },
}

/// `leitstand plugin test`.
#[derive(Debug, clap::Args)]
struct PluginTestArgs {
    /// The plugin component.
    #[arg(value_name = "PLUGIN.wasm")]
    plugin: PathBuf,
    /// A directory of cases.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["case", "events"])]
    suite: Option<PathBuf>,
    /// One case directory.
    #[arg(long, value_name = "DIR", conflicts_with = "events")]
    case: Option<PathBuf>,
    /// The plugin's configuration (TOML; the bundle's `[plugins.config]` table).
    #[arg(long, value_name = "CFG.toml", requires = "events")]
    config: Option<PathBuf>,
    /// The fixture events, one CloudEvent per line.
    #[arg(long, value_name = "IN.jsonl", requires = "expect")]
    events: Option<PathBuf>,
    /// The expected lines.
    #[arg(long, value_name = "OUT.jsonl")]
    expect: Option<PathBuf>,
    /// Simulated endpoints for `http.post`.
    #[arg(long, value_name = "ENDPOINTS.toml")]
    endpoints: Option<PathBuf>,
    /// The tenant's calendars (`[calendar]`, `[calendars.<name>]`) for a case given by its
    /// files.
    #[arg(long, value_name = "CALENDAR.toml")]
    calendar: Option<PathBuf>,
    /// Harness settings (timezone, grants, limits) for a case given by its files.
    #[arg(long, value_name = "HARNESS.toml")]
    settings: Option<PathBuf>,
    /// Write what the plugin did into the expectation files instead of comparing. Review
    /// every line before committing it: the fixture is the specification.
    #[arg(long)]
    write_expect: bool,
}

/// Runs `work` on a multi-threaded runtime (plugins run on its workers); a failure to
/// start or a fatal error is exit code 1.
fn daemon<F, Fut>(work: F) -> anyhow::Result<ExitCode>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("leitstand")
        .build()
        .context("starting the async runtime")?;
    match runtime.block_on(work()) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("leitstand: {e:#}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Runs the command line and turns the outcome into an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("leitstand: configuration: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    init_logging(&config.log.filter);
    let result = match cli.command {
        Command::Replay(args) => replay(&config, &args),
        Command::Bundle(command) => bundle(&config, command),
        Command::Plugin(PluginCommand::Test(args)) => plugin_test(&config, &args),
        Command::Plugin(PluginCommand::New { name, dir }) => {
            crate::harness::template::create(&dir, &name).map(|created| {
                println!("{created}");
                ExitCode::SUCCESS
            })
        }
        Command::Run { bundles } => {
            let dir = bundles.unwrap_or_else(|| config.daemon.bundles.clone());
            daemon(|| crate::daemon::run(config.clone(), dir))
        }
        Command::Topology { bundles } => {
            let dir = bundles.unwrap_or_else(|| config.daemon.bundles.clone());
            daemon(|| async {
                crate::daemon::declare_topology(&config, &dir).await?;
                eprintln!("leitstand: topology declared");
                Ok(())
            })
        }
        Command::Staffing(args) => staffing(&args),
        Command::Report(args) => client_report(&config, &args),
        Command::Import(command) => crate::import::run(command),
        Command::Bridge(command) => daemon(|| crate::bridge::run(config.clone(), command)),
        Command::Simulate(args) => crate::simulate::run(&config, &args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("leitstand: {e:#}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // A second initialisation (tests calling in twice) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn sandbox(config: &Config) -> anyhow::Result<Arc<Sandbox>> {
    Ok(Arc::new(
        Sandbox::new(config.sandbox.clone(), Arc::new(CustomMetrics::new()))
            .context("starting the wasm sandbox")?,
    ))
}

/// The bundles under `dir` for a replay, whose plugins read and write through the
/// replay's batch views only. `None` after printing the bundles' errors and `what` did not
/// happen.
pub(crate) fn replay_dispatcher(
    config: &Config,
    dir: &Path,
    what: &str,
) -> anyhow::Result<Option<Dispatcher>> {
    let detached: Arc<dyn StateStore> = Arc::new(Detached);
    match Dispatcher::load(dir, sandbox(config)?, detached) {
        Ok(d) => Ok(Some(d)),
        Err(errors) => {
            print_bundle_errors(&errors);
            eprintln!("leitstand: {} bundle error(s); {what}", errors.len());
            Ok(None)
        }
    }
}

/// The runtime a replay's store calls run on (the replay itself runs outside it).
pub(crate) fn replay_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .thread_name("leitstand-store")
        .build()
        .context("starting the async runtime")
}

/// Metrics for a replay: ages and opening hours read on the replay's event clock.
fn replay_metrics(config: &Config) -> anyhow::Result<Metrics> {
    let sla = SlaMetrics::new(config.metrics.sla_window_minutes, Clock::Event)
        .context("registering metrics")?;
    Metrics::with_sla(Arc::new(CustomMetrics::new()), sla).context("registering metrics")
}

fn print_bundle_errors(errors: &[BundleError]) {
    for e in errors {
        eprintln!("error: {e}");
    }
}

fn replay(config: &Config, args: &ReplayArgs) -> anyhow::Result<ExitCode> {
    let input = File::open(&args.events)
        .with_context(|| format!("cannot open events {}", args.events.display()))?;
    let Some(dispatcher) = replay_dispatcher(config, &args.bundles, "nothing replayed")? else {
        return Ok(ExitCode::from(EXIT_USAGE));
    };
    let create = |path: &Option<PathBuf>, what: &str| -> anyhow::Result<Box<dyn Write>> {
        Ok(match path {
            Some(path) => {
                Box::new(BufWriter::new(File::create(path).with_context(|| {
                    format!("cannot create {what} {}", path.display())
                })?))
            }
            None => Box::new(std::io::sink()),
        })
    };
    let mut commands = create(&args.commands, "command output")?;
    let mut dead = create(&args.dead_letters, "dead-letter output")?;
    let len = input.metadata().map(|m| m.len()).unwrap_or(0);
    let progress = if std::io::stderr().is_terminal() && len > 1024 * 1024 {
        indicatif::ProgressBar::new(len)
    } else {
        indicatif::ProgressBar::hidden()
    };
    let reader = BufReader::with_capacity(1 << 16, progress.wrap_read(input));
    let mut on_notice = |n: Notice| {
        progress.suspend(|| report_notice(&n));
    };
    let options = ReplayOptions {
        limits: config.intake.limits(),
        timer_horizon: chrono::Duration::hours(i64::from(args.timer_horizon_hours)),
        ..ReplayOptions::default()
    };
    let runtime = replay_runtime()?;
    let metrics = match &args.metrics {
        Some(_) => Some(Arc::new(replay_metrics(config)?)),
        None => None,
    };
    let run = RunReplay {
        dispatcher: &dispatcher,
        runtime: runtime.handle().clone(),
        options,
        metrics: metrics.clone(),
        jobs: args
            .jobs
            .map_or_else(leitstand_engine::sandbox::cores, usize::from),
    };
    let report = match &args.state {
        // A lasting store: a second run resumes from it.
        Some(url) => {
            let store_config = StoreConfig {
                url: url.clone(),
                ..config.store.clone()
            };
            let store = runtime
                .block_on(Store::open(&store_config))
                .context("opening the replay's store")?;
            run.run(store, &mut commands, &mut dead, &mut on_notice, reader)?
        }
        // Nothing outlives the run: the journal is kept in memory by the store's rules.
        None => run.run(
            MemoryJournal::new(),
            &mut commands,
            &mut dead,
            &mut on_notice,
            reader,
        )?,
    };
    if let (Some(path), Some(m)) = (&args.metrics, &metrics) {
        std::fs::write(path, m.render())
            .with_context(|| format!("cannot write metrics {}", path.display()))?;
    }
    progress.finish_and_clear();
    let s = &report.replay;
    eprintln!(
        "replay: {} lines, {} processed, {} failed, {} rejected, {} duplicates; {} plugin calls, {} failed; {} commands; {} timers fired, {} pending",
        s.lines,
        s.processed,
        s.failed,
        s.rejected,
        s.duplicates,
        s.plugin_calls,
        s.plugin_failures.values().sum::<u64>(),
        s.commands,
        s.timers_fired,
        s.timers_pending,
    );
    let mut out = std::io::stdout().lock();
    match args.report {
        ReportFormat::Table => write!(out, "{}", report.sla())?,
        ReportFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &report)?;
            writeln!(out)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What every replay run needs, whatever its journal.
struct RunReplay<'a> {
    dispatcher: &'a Dispatcher,
    runtime: tokio::runtime::Handle,
    options: ReplayOptions,
    metrics: Option<Arc<Metrics>>,
    jobs: usize,
}

impl RunReplay<'_> {
    fn run<J: ReplayJournal>(
        self,
        journal: J,
        commands: &mut dyn Write,
        dead: &mut dyn Write,
        notices: &mut dyn FnMut(Notice),
        reader: impl BufRead,
    ) -> anyhow::Result<ReplayReport> {
        let mut replay = Replay::new(
            self.dispatcher,
            journal,
            self.runtime,
            self.options,
            commands,
            notices,
        )
        .with_dead_letters(dead);
        if let Some(m) = &self.metrics {
            replay = replay.with_metrics(m.clone());
        }
        replay.with_jobs(self.jobs)?.run(reader)
    }
}

fn plugin_test(config: &Config, args: &PluginTestArgs) -> anyhow::Result<ExitCode> {
    use crate::harness::{self, Case, Settings};
    let settings = match &args.settings {
        Some(path) => Settings::read(path)?,
        None => Settings::default(),
    };
    let cases = if let Some(dir) = &args.suite {
        harness::suite(dir)?
    } else if let Some(dir) = &args.case {
        let parent = dir.parent().map(|p| p.join(harness::SETTINGS_FILE));
        let inherited = match parent.filter(|p| p.is_file()) {
            Some(p) => Settings::read(&p)?.overridden_by(settings),
            None => settings,
        };
        vec![Case::in_dir(dir, &inherited)?]
    } else {
        let (Some(events), Some(expect)) = (&args.events, &args.expect) else {
            anyhow::bail!("give --suite DIR, --case DIR, or --events and --expect (with --config)");
        };
        vec![Case {
            name: events.display().to_string(),
            config: args.config.clone().unwrap_or_default(),
            events: events.clone(),
            expect: expect.clone(),
            endpoints: args.endpoints.clone(),
            calendar: args.calendar.clone(),
            settings,
        }]
    };
    let sandbox = sandbox(config)?;
    let mut failed = 0;
    for case in &cases {
        if args.write_expect {
            let lines = harness::execute_case(&sandbox, &args.plugin, case)?;
            harness::write_expectation(&case.expect, &lines)?;
            println!(
                "wrote   {} ({} lines) to {}",
                case.name,
                lines.len(),
                case.expect.display()
            );
            continue;
        }
        let report = harness::run_case(&sandbox, &args.plugin, case)
            .with_context(|| format!("case {}", case.name))?;
        print!("{report}");
        if !report.passed() {
            failed += 1;
        }
    }
    if args.write_expect {
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} case(s): {} passed, {failed} failed",
        cases.len(),
        cases.len() - failed
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn report_notice(n: &Notice) {
    match n {
        Notice::Rejected { line, rejection } => eprintln!("line {line}: {rejection}"),
        Notice::PluginFailed {
            line,
            tenant,
            plugin,
            event_id,
            failure,
        } => {
            let at = line.map_or_else(|| "timer".to_owned(), |l| format!("line {l}"));
            eprintln!("{at}: tenant {tenant}, plugin {plugin}, event {event_id}: {failure}");
        }
        Notice::Duplicate { line } => {
            eprintln!("line {line}: duplicate of an earlier event (same source and id), skipped");
        }
        Notice::TimerStorm { fired } => {
            eprintln!(
                "timers: stopped after {fired} firings in one drain (a plugin re-arms without end?)"
            );
        }
    }
}

fn bundle(config: &Config, command: BundleCommand) -> anyhow::Result<ExitCode> {
    match command {
        BundleCommand::Check { dir } => bundle_check(config, &dir),
        BundleCommand::Keygen { out } => {
            let (secret, public, id) = signature::keygen(&out)?;
            println!(
                "key {id}: secret {} (keep it private), public {} (trust it with \
                 --trusted-key or bundles.trusted_keys)",
                secret.display(),
                public.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        BundleCommand::Sign { dir, key } => bundle_sign(config, &dir, &key),
        BundleCommand::Verify { dir, trusted_keys } => bundle_verify(config, &dir, &trusted_keys),
    }
}

fn bundle_check(config: &Config, dir: &Path) -> anyhow::Result<ExitCode> {
    // With `bundles.require_signature`, a bundle is judged as the daemon judges it: its
    // signature first, then everything else.
    let policy = SignaturePolicy::new(
        config.bundles.require_signature,
        &config.bundles.trusted_keys,
    )?;
    let mut signers = BTreeMap::new();
    if let SignaturePolicy::Required(trusted) = &policy {
        let mut errors = Vec::new();
        match tenants::bundle_dirs(dir) {
            Ok(dirs) => {
                for d in dirs {
                    match signature::load_verified(&d, trusted) {
                        Ok((b, v)) => {
                            signers.insert(b.dir, v.signer.id());
                        }
                        Err(e) => errors.push(e),
                    }
                }
            }
            Err(e) => errors.push(e),
        }
        if !errors.is_empty() {
            print_bundle_errors(&errors);
            return Ok(ExitCode::FAILURE);
        }
    }
    let state: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
    match Dispatcher::load(dir, sandbox(config)?, state) {
        Ok(d) => {
            for b in d.bundles() {
                let plugins: Vec<&str> = b.plugins.iter().map(|p| p.name.as_str()).collect();
                let signed = signers
                    .get(&b.dir)
                    .map(|id| format!(", signed by key {id}"))
                    .unwrap_or_default();
                println!(
                    "ok: tenant {} ({}), {} queue(s), plugins: {}{signed}",
                    b.tenant,
                    b.manifest.display(),
                    b.service.queues.len(),
                    if plugins.is_empty() {
                        "none".to_owned()
                    } else {
                        plugins.join(", ")
                    }
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            print_bundle_errors(&errors);
            Ok(ExitCode::FAILURE)
        }
    }
}

/// `leitstand bundle sign`: checks the bundles as `bundle check` does (signatures aside),
/// then signs each; signs nothing when one is refused.
fn bundle_sign(config: &Config, dir: &Path, key: &Path) -> anyhow::Result<ExitCode> {
    let key = SecretKey::read(key)?;
    let state: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
    let dispatcher = match Dispatcher::load(dir, sandbox(config)?, state) {
        Ok(d) => d,
        Err(errors) => {
            print_bundle_errors(&errors);
            eprintln!(
                "leitstand: {} bundle error(s); nothing signed",
                errors.len()
            );
            return Ok(ExitCode::FAILURE);
        }
    };
    for b in dispatcher.bundles() {
        let statement = signature::sign(b, &key).map_err(|e| e.in_bundle(&b.dir))?;
        println!(
            "signed: tenant {} ({}) with key {}: manifest, {} plugin(s), {} other file(s)",
            b.tenant,
            b.dir.join(signature::SIGNATURE_FILE).display(),
            key.id(),
            statement.plugins.len(),
            statement.files.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `leitstand bundle verify`: each bundle's signature, as the daemon checks it with
/// `bundles.require_signature`.
fn bundle_verify(config: &Config, dir: &Path, keys: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let keys = if keys.is_empty() {
        &config.bundles.trusted_keys
    } else {
        keys
    };
    if keys.is_empty() {
        anyhow::bail!("no key to trust: give --trusted-key NAME.pub (or set bundles.trusted_keys)");
    }
    let trusted = TrustedKeys::read(keys)?;
    let dirs = match tenants::bundle_dirs(dir) {
        Ok(d) => d,
        Err(e) => {
            print_bundle_errors(&[e]);
            return Ok(ExitCode::FAILURE);
        }
    };
    let mut failed = 0;
    for d in dirs {
        match signature::load_verified(&d, &trusted) {
            Ok((b, v)) => println!(
                "ok: tenant {} ({}) signed by key {} ({})",
                b.tenant,
                d.display(),
                v.signer.id(),
                v.signer.source().display()
            ),
            Err(e) => {
                eprintln!("error: {e}");
                failed += 1;
            }
        }
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn staffing(args: &StaffingArgs) -> anyhow::Result<ExitCode> {
    use leitstand_sla::staffing::{Goal, Load, MAX_TRAFFIC_ERLANGS, Plan};
    let load = Load {
        calls: args.calls,
        interval_seconds: args.interval,
        aht_seconds: args.aht,
    };
    let goal = Goal {
        level: args.target.level,
        within_seconds: args.target.within_seconds,
        max_occupancy: args.max_occupancy,
    };
    let Some(plan) = Plan::new(&load, &goal, args.shrinkage) else {
        anyhow::bail!(
            "--calls {} with --aht {} s over --interval {} s is {:.0} Erlangs, more than the \
             {MAX_TRAFFIC_ERLANGS:.0} Leitstand staffs",
            args.calls,
            args.aht,
            args.interval,
            load.traffic_erlangs()
        );
    };
    let mut out = std::io::stdout().lock();
    match args.format {
        ReportFormat::Table => write!(out, "{plan}")?,
        ReportFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &plan)?;
            writeln!(out)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn client_report(config: &Config, args: &ClientReportArgs) -> anyhow::Result<ExitCode> {
    let tenant = leitstand_contract::envelope::TenantId::parse(&args.tenant)
        .map_err(|e| anyhow::anyhow!("--tenant {:?}: {e}", args.tenant))?;
    let input = File::open(&args.events)
        .with_context(|| format!("cannot open events {}", args.events.display()))?;
    let Some(dispatcher) = replay_dispatcher(config, &args.bundles, "no report")? else {
        return Ok(ExitCode::from(EXIT_USAGE));
    };
    let Some(bundle) = dispatcher.bundle(&tenant).cloned() else {
        let known: Vec<String> = dispatcher.bundles().map(|b| b.tenant.to_string()).collect();
        anyhow::bail!(
            "--tenant {tenant}: no bundle for this tenant in {} (tenants: {})",
            args.bundles.display(),
            known.join(", ")
        );
    };
    let runtime = replay_runtime()?;
    let options = ReplayOptions {
        limits: config.intake.limits(),
        ..ReplayOptions::default()
    };
    let mut commands = std::io::sink();
    let mut on_notice = |n: Notice| report_notice(&n);
    let report = Replay::new(
        &dispatcher,
        MemoryJournal::new(),
        runtime.handle().clone(),
        options,
        &mut commands,
        &mut on_notice,
    )
    .run(BufReader::with_capacity(1 << 16, input))?;
    let Some(figures) = report.tenants.iter().find(|t| t.tenant == tenant.as_str()) else {
        anyhow::bail!("--tenant {tenant}: the replay reported nothing for this tenant");
    };
    let day =
        leitstand_sla::report::DayReport::new(figures, &bundle.service, args.day).map_err(|e| {
            match args.day {
                Some(d) => anyhow::anyhow!("--day {d}: {e}"),
                None => anyhow::anyhow!("{e}"),
            }
        })?;
    let html = day.to_html();
    match &args.out {
        Some(path) => {
            std::fs::write(path, html)
                .with_context(|| format!("cannot write the report {}", path.display()))?;
            eprintln!(
                "report: {} ({}) on {} written to {}",
                day.name,
                day.tenant,
                day.day,
                path.display()
            );
        }
        None => std::io::stdout().lock().write_all(html.as_bytes())?,
    }
    Ok(ExitCode::SUCCESS)
}
