//! `leitstand simulate`: the driver of the what-if simulator. The center of
//! `leitstand-sim` emits the events an ACD would; this driver runs them through the one
//! pipeline over the tenant's bundle (a replay on a journal in memory per run: a run is
//! never resumed, so it needs no database) and gives the center the commands back. Runs go
//! in parallel on all cores, each with its own journal and its own random numbers; their SLA reports are summed up in run order, so the
//! output depends on the seed alone.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use serde_json::{Value, json};

use crate::cli::{EXIT_USAGE, ReportFormat, replay_dispatcher, replay_runtime};
use crate::config::Config;
use crate::replay::{Notice, Replay, ReplayOptions};
use leitstand_contract::envelope::TenantId;
use leitstand_engine::dispatch::Dispatcher;
use leitstand_engine::pipeline::memory::MemoryJournal;
use leitstand_engine::state::{Detached, StateStore};
use leitstand_engine::tenants::Bundle;
use leitstand_sim::center::{Decisions, Run};
use leitstand_sim::scenario::{Recorded, Scenario};
use leitstand_sim::search::{self, Search};
use leitstand_sim::summary::{RunResult, Summary};

/// `leitstand simulate`.
#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// A tenant bundle directory, or a directory of them.
    #[arg(long, value_name = "DIR")]
    bundles: PathBuf,
    /// The tenant whose contact center is simulated.
    #[arg(long, value_name = "ID")]
    tenant: String,
    /// The scenario (TOML): arrivals, sites, agents, handling times, patience.
    #[arg(long, value_name = "SCENARIO.toml")]
    scenario: PathBuf,
    /// A second scenario to compare with (same seed): the HTML page shows both.
    #[arg(long, value_name = "BASELINE.toml")]
    baseline: Option<PathBuf>,
    /// A recorded day: the offers of queues without a rate, and "fitted" distributions.
    #[arg(long = "from", value_name = "EVENTS.jsonl")]
    from: Option<PathBuf>,
    /// Runs per scenario.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    runs: u32,
    /// The seed: the same seed gives the same output, byte for byte.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Runs at once (default: the machine's cores).
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    /// How to print the figures.
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    report: ReportFormat,
    /// Write the scenario (beside the baseline) as an HTML page.
    #[arg(long, value_name = "OUT.html")]
    html: Option<PathBuf>,
    /// Search the fewest agents of these sites (comma-separated) per interval of
    /// `--search-window` that meet the target in every interval.
    #[arg(long, value_name = "SITE,…", value_delimiter = ',')]
    search_sites: Vec<String>,
    /// The window of the search, local `HH:MM-HH:MM` on the scenario's day.
    #[arg(long, value_name = "HH:MM-HH:MM", requires = "search_sites")]
    search_window: Option<String>,
    /// The most agents the search gives one site in one interval.
    #[arg(long, default_value_t = 200)]
    search_max_agents: u32,
    /// The most candidate plans the search judges.
    #[arg(long, default_value_t = 200)]
    search_max_evaluations: usize,
}

/// Runs `leitstand simulate`.
pub fn run(config: &Config, args: &SimulateArgs) -> anyhow::Result<ExitCode> {
    let Some(dispatcher) = replay_dispatcher(config, &args.bundles, "nothing simulated")? else {
        return Ok(ExitCode::from(EXIT_USAGE));
    };
    let tenant = TenantId::parse(&args.tenant).map_err(|e| anyhow::anyhow!("--tenant: {e}"))?;
    let Some(bundle) = dispatcher.bundle(&tenant).cloned() else {
        eprintln!(
            "leitstand: --tenant: no bundle of {tenant} under {}",
            args.bundles.display()
        );
        return Ok(ExitCode::from(EXIT_USAGE));
    };
    let recorded = match &args.from {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            Some(
                Recorded::read(&text, tenant.as_str())
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
            )
        }
    };
    let load = |path: &PathBuf| Scenario::load(path, &bundle.service, recorded.as_ref());
    let scenario = match load(&args.scenario) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("leitstand: scenario {}: {e}", args.scenario.display());
            return Ok(ExitCode::from(EXIT_USAGE));
        }
    };
    let baseline = match args.baseline.as_ref().map(load).transpose() {
        Ok(b) => b,
        Err(e) => {
            eprintln!(
                "leitstand: baseline {}: {e}",
                args.baseline
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            );
            return Ok(ExitCode::from(EXIT_USAGE));
        }
    };
    let sim = Simulator {
        config,
        dispatcher: &dispatcher,
        bundle: &bundle,
        runs: args.runs as usize,
        seed: args.seed,
        jobs: args
            .jobs
            .unwrap_or_else(leitstand_engine::sandbox::cores)
            .max(1),
    };
    // The search's arguments are checked before anything runs.
    let search = match (&args.search_window, args.search_sites.is_empty()) {
        (Some(window), false) => {
            let (from, to) = window
                .split_once('-')
                .ok_or_else(|| anyhow::anyhow!("--search-window: {window:?} is not HH:MM-HH:MM"))?;
            let at = |t: &str| {
                scenario
                    .at(t)
                    .map_err(|e| anyhow::anyhow!("--search-window: {e}"))
            };
            let (from_ms, to_ms) = (at(from)?, at(to)?);
            if to_ms <= from_ms {
                anyhow::bail!("--search-window: {window} does not end after it starts");
            }
            for site in &args.search_sites {
                if !scenario.sites.iter().any(|s| s.site == *site) {
                    anyhow::bail!("--search-sites: {site} is not a site of the scenario");
                }
            }
            Some(Search {
                sites: args.search_sites.clone(),
                from_ms,
                to_ms,
                max_agents: args.search_max_agents,
                max_evaluations: args.search_max_evaluations,
            })
        }
        (None, false) => anyhow::bail!("--search-sites needs --search-window"),
        _ => None,
    };
    let summary = sim.summary(&scenario)?;
    let base = baseline.as_ref().map(|b| sim.summary(b)).transpose()?;
    let found = match &search {
        Some(spec) => {
            let found = search::search(&scenario, spec, |candidate| sim.summary(candidate))?;
            eprintln!(
                "search: {} after {} candidate plans",
                if found.met {
                    "every interval meets the target"
                } else {
                    "no plan within the limits meets the target"
                },
                found.evaluations
            );
            Some(found)
        }
        None => None,
    };
    if let Some(path) = &args.html {
        std::fs::write(path, leitstand_sim::html::page(&summary, base.as_ref()))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let mut out = std::io::stdout().lock();
    match args.report {
        ReportFormat::Table => {
            if let Some(b) = &base {
                writeln!(out, "baseline\n{b}")?;
            }
            write!(out, "{summary}")?;
            if let Some(found) = &found {
                writeln!(
                    out,
                    "\nstaffing search ({}):",
                    if found.met { "met" } else { "not met" }
                )?;
                for p in &found.plan {
                    let plan: Vec<String> = p
                        .intervals
                        .iter()
                        .map(|(t, a)| format!("{t} {a}"))
                        .collect();
                    writeln!(out, "  {:<14} {}", p.site, plan.join(", "))?;
                }
            }
        }
        ReportFormat::Json => {
            let doc = json!({"scenario": summary, "baseline": base, "search": found});
            serde_json::to_writer_pretty(&mut out, &doc)?;
            writeln!(out)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What every run of one invocation shares.
struct Simulator<'a> {
    config: &'a Config,
    dispatcher: &'a Dispatcher,
    bundle: &'a Bundle,
    runs: usize,
    seed: u64,
    jobs: usize,
}

impl Simulator<'_> {
    /// Every run of `scenario`, in parallel, summed up in run order.
    fn summary(&self, scenario: &Scenario) -> anyhow::Result<Summary> {
        let runtime = replay_runtime()?;
        let next = AtomicUsize::new(0);
        let results: Mutex<Vec<Option<anyhow::Result<RunResult>>>> =
            Mutex::new((0..self.runs).map(|_| None).collect());
        std::thread::scope(|scope| {
            for _ in 0..self.jobs.min(self.runs) {
                scope.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= self.runs {
                            break;
                        }
                        let result = self.one(scenario, i as u64, runtime.handle());
                        if let Ok(mut all) = results.lock() {
                            all[i] = Some(result);
                        }
                    }
                });
            }
        });
        let results = results
            .into_inner()
            .map_err(|_| anyhow::anyhow!("a run panicked"))?
            .into_iter()
            .enumerate()
            .map(|(i, r)| r.unwrap_or_else(|| Err(anyhow::anyhow!("run {i} did not finish"))))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Summary::of(&scenario.name, self.seed, &results))
    }

    /// Run `run`: the center against the pipeline on a journal of its own.
    fn one(
        &self,
        scenario: &Scenario,
        run: u64,
        runtime: &tokio::runtime::Handle,
    ) -> anyhow::Result<RunResult> {
        let store = MemoryJournal::new();
        let commands = Shared::default();
        let mut sink = commands.clone();
        let failures = RefCell::new(BTreeMap::<String, u64>::new());
        let mut on_notice = |n: Notice| {
            if let Notice::PluginFailed {
                plugin, failure, ..
            } = n
            {
                *failures
                    .borrow_mut()
                    .entry(format!("{plugin}: {}", failure.kind()))
                    .or_default() += 1;
            }
        };
        let options = ReplayOptions {
            limits: self.config.intake.limits(),
            ..ReplayOptions::default()
        };
        // Each run gets the tenant's plugins prepared afresh (the compiled code is shared by
        // digest): quotas, state usage and quarantine belong to one run, never carried into
        // the next.
        let detached: Arc<dyn StateStore> = Arc::new(Detached);
        let dispatcher = Dispatcher::from_bundles(
            vec![(*self.bundle).clone()],
            self.dispatcher.sandbox().clone(),
            detached,
        )
        .map_err(|errors| anyhow::anyhow!("preparing run {run}: {errors:?}"))?;
        let mut replay = Replay::new(
            &dispatcher,
            store,
            runtime.clone(),
            options,
            &mut sink,
            &mut on_notice,
        );
        replay.start()?;
        let providers: BTreeMap<String, Vec<String>> = self
            .bundle
            .service
            .providers
            .providers
            .iter()
            .map(|(id, p)| (id.clone(), p.sites.clone()))
            .collect();
        let mut plugins = Plugins {
            replay,
            commands,
            offers: self
                .bundle
                .plugins
                .iter()
                .any(|p| p.subscribe.contains("call.offered")),
        };
        let figures = Run::new(
            scenario,
            self.bundle.tenant.as_str(),
            &providers,
            self.seed,
            run,
            &mut plugins,
        )
        .run()?;
        let report = plugins.replay.finish()?;
        for (what, n) in failures.borrow().iter() {
            tracing::warn!(run, "plugin failed {n} time(s): {what}");
        }
        let report = report
            .tenants
            .into_iter()
            .find(|t| t.tenant == self.bundle.tenant.as_str())
            .ok_or_else(|| {
                anyhow::anyhow!("run {run} reported nothing for {}", self.bundle.tenant)
            })?;
        Ok(RunResult { report, figures })
    }
}

/// The tenant's plugins as the center sees them: a replay whose commands are read back.
struct Plugins<'a> {
    replay: Replay<'a, MemoryJournal>,
    commands: Shared,
    offers: bool,
}

impl Decisions for Plugins<'_> {
    fn decides_offers(&self) -> bool {
        self.offers
    }

    fn decide(
        &mut self,
        events: &[Vec<u8>],
        fire_until: Option<i64>,
    ) -> anyhow::Result<Vec<Value>> {
        for e in events {
            self.replay.feed(e)?;
        }
        match fire_until {
            Some(t) => self.replay.advance(t)?,
            None => self.replay.flush()?,
        }
        let written = std::mem::take(&mut *self.commands.0.borrow_mut());
        written
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).context("reading a command back"))
            .collect()
    }

    fn next_timer_ms(&self) -> Option<i64> {
        self.replay.next_timer_ms()
    }
}

/// A command sink the driver reads back after each batch.
#[derive(Clone, Default)]
struct Shared(Rc<RefCell<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
