//! Replay: the broker-free driver of the pipeline. Reads a JSON Lines file of CloudEvents,
//! runs it through the one batch pipeline in file order, writes the commands as JSON Lines
//! and reports the service levels.
//!
//! Owns the line format, the batching of lines and what the operator hears about them
//! (notices with line numbers); everything that decides — intake, dedup, timers in event
//! time, plugins, the commit, the figures — is the pipeline's, as on the daemon. A bad line
//! is reported with its number and reason and the run goes on.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::sync::Arc;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use leitstand_contract::attribute::AttributeValue;
use leitstand_contract::envelope::{
    self, Envelope, IntakeLimits, RejectReason, Rejection, TenantId,
};
use leitstand_contract::wire::CommandMode;
use leitstand_engine::dispatch::{Command, Dispatcher};
use leitstand_engine::pipeline::memory::MemoryJournal;
use leitstand_engine::pipeline::{
    Carrier, EncodeError, Fire, InPlace, Intake, Journal, Outgoing, Pipeline, PipelineError,
    PipelineOptions, Settled, Tenants, Verdict, intake,
};
use leitstand_metrics::Metrics;
use leitstand_sla::books::SlaReport;
use leitstand_store::Store;

/// How a replay runs.
#[derive(Debug, Clone, Copy)]
pub struct ReplayOptions {
    /// Limits applied to every event.
    pub limits: IntakeLimits,
    /// After the last line, timers due at most this long after their tenant's last event
    /// still fire; later ones are reported as pending.
    pub timer_horizon: chrono::Duration,
    /// The most timers one batch may fire per tenant; a plugin re-arming timers without
    /// end is stopped there.
    pub max_timer_firings: u64,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        let pipeline = PipelineOptions::default();
        Self {
            limits: pipeline.limits,
            timer_horizon: chrono::Duration::hours(24),
            max_timer_firings: pipeline.max_timer_firings,
        }
    }
}

/// Something the operator should hear about while the run goes on.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// A line was refused (dead-lettered as bad input).
    Rejected {
        /// 1-based line number.
        line: u64,
        /// Why.
        rejection: Rejection,
    },
    /// A plugin failed on an event (or a timer); its decisions were dropped.
    PluginFailed {
        /// 1-based line number; `None` for a timer.
        line: Option<u64>,
        /// The tenant.
        tenant: String,
        /// The plugin.
        plugin: String,
        /// The event's id.
        event_id: String,
        /// What went wrong (`kind: detail`).
        failure: leitstand_engine::sandbox::PluginFailure,
    },
    /// A line repeated the `source` and `id` of an earlier one and was skipped.
    Duplicate {
        /// 1-based line number.
        line: u64,
    },
    /// Timers stopped firing because of the firing limit.
    TimerStorm {
        /// Timers fired in the batch that hit the limit.
        fired: u64,
    },
}

/// What a replay did, by the numbers.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReplayStats {
    /// Non-empty lines read.
    pub lines: u64,
    /// Events accepted and dispatched without a dead letter.
    pub processed: u64,
    /// Events a plugin failed on whose failure policy dead-letters them (`plugin-failed`).
    pub failed: u64,
    /// Lines refused as bad input.
    pub rejected: u64,
    /// Lines skipped as duplicates.
    pub duplicates: u64,
    /// Refused lines by reason code.
    pub rejected_by_reason: BTreeMap<String, u64>,
    /// Every dead letter (refused lines and failed events) by reason code.
    pub dead_letters: BTreeMap<String, u64>,
    /// Plugin calls made.
    pub plugin_calls: u64,
    /// Plugin calls failed, by failure kind.
    pub plugin_failures: BTreeMap<String, u64>,
    /// Fallback commands emitted in place of failed plugins.
    pub fallbacks: u64,
    /// Commands written.
    pub commands: u64,
    /// Timers fired.
    pub timers_fired: u64,
    /// Timers still pending at the end.
    pub timers_pending: u64,
}

/// The result of a replay: its numbers and its SLA report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplayReport {
    /// Per tenant and queue (CONTRACT §6).
    pub tenants: Vec<leitstand_sla::books::TenantReport>,
    /// The run's numbers.
    pub replay: ReplayStats,
}

impl ReplayReport {
    /// The SLA part alone.
    pub fn sla(&self) -> SlaReport {
        SlaReport {
            tenants: self.tenants.clone(),
        }
    }
}

/// Lines run through the pipeline at once: one transaction per tenant per batch. The same
/// whatever the jobs: an event without a time happens at the clock its batch starts with
/// (in the first batch, at the time of its first event that has one).
const BATCH_LINES: usize = 1_024;

/// One line of the input.
#[derive(Debug)]
pub struct Line {
    /// 1-based line number.
    pub number: u64,
    /// The line, without its line end.
    pub raw: Vec<u8>,
    /// The routing key of a recorded delivery (`{"routing_key": …}`).
    pub routing_key: Option<String>,
}

/// How replay lines are read and how their commands and dead letters are written: a
/// structured CloudEvent per line, or a recorded delivery `{"routing_key": …, "event":
/// {…}}` (structured) or `{"routing_key": …, "headers": {…}, "body": {…}}` (binary mode).
#[derive(Debug, Clone, Copy, Default)]
pub struct Lines;

impl Carrier for Lines {
    type Delivery = Line;

    fn routing_key<'a>(&self, line: &'a Line) -> Option<&'a str> {
        line.routing_key.as_deref()
    }

    fn envelope(
        &self,
        line: &Line,
        limits: IntakeLimits,
        received: DateTime<Utc>,
    ) -> Result<Envelope, Rejection> {
        if line.routing_key.is_none() || line.raw.len() > limits.max_event_bytes {
            return envelope::parse_structured(&line.raw, limits, received);
        }
        parse_record(&line.raw, limits, received)
    }

    // A commands file holds each command whole, one per line, whatever the tenant's
    // `[commands] mode` asks of the broker.
    fn command(&self, command: &Command, _mode: CommandMode) -> Result<Outgoing, EncodeError> {
        Ok(Outgoing {
            exchange: leitstand_amqp::COMMANDS_EXCHANGE.to_owned(),
            routing_key: command.routing_key(),
            properties: String::new(),
            body: command.to_json()?,
        })
    }

    fn tenant_hint(&self, line: &Line) -> Option<String> {
        let value: Value = serde_json::from_slice(&line.raw).ok()?;
        value.get("tenant")?.as_str().map(str::to_owned)
    }

    fn dead_letter(&self, line: &Line, reason: &str, detail: &str) -> Outgoing {
        let properties = json!({
            "line": line.number,
            leitstand_amqp::ERROR_HEADER: reason,
            leitstand_amqp::DETAIL_HEADER: detail,
        });
        Outgoing {
            exchange: leitstand_amqp::DEAD.to_owned(),
            routing_key: line.routing_key.clone().unwrap_or_default(),
            properties: properties.to_string(),
            body: line.raw.clone(),
        }
    }
}

impl Line {
    /// Line `number`, its routing key read when it is a recorded delivery.
    pub fn new(number: u64, raw: &[u8]) -> Self {
        Self {
            number,
            raw: raw.to_vec(),
            routing_key: record_key(raw),
        }
    }
}

/// The routing key of a recorded delivery; `None` for a plain event (or a line that is not
/// an object at all).
fn record_key(raw: &[u8]) -> Option<String> {
    const KEY: &[u8] = b"\"routing_key\"";
    // Compared only where a string starts: a line has a few dozen quotes, against hundreds
    // of places a window could start.
    let quoted = |(i, b): (usize, &u8)| *b == b'"' && raw[i..].starts_with(KEY);
    if !raw.iter().enumerate().any(quoted) {
        return None;
    }
    let Ok(Value::Object(record)) = serde_json::from_slice::<Value>(raw) else {
        return None;
    };
    match record.get("routing_key") {
        Some(Value::String(k)) => Some(k.clone()),
        // Not a string: the record is refused when it is read.
        Some(_) => Some(String::new()),
        None => None,
    }
}

/// A journal a replay runs on: the durable store (in memory or lasting), or a journal in
/// memory of this process for runs nobody resumes (the simulator's).
pub trait ReplayJournal: Journal {
    /// Clears `seqs` from `tenant`'s outbox: the replay wrote those messages out.
    fn written_out(
        &self,
        tenant: &TenantId,
        seqs: &[i64],
    ) -> impl std::future::Future<Output = anyhow::Result<()>> + Send;
}

impl ReplayJournal for Store {
    async fn written_out(&self, tenant: &TenantId, seqs: &[i64]) -> anyhow::Result<()> {
        Ok(self.outbox_done(tenant, seqs).await?)
    }
}

impl ReplayJournal for MemoryJournal {
    async fn written_out(&self, tenant: &TenantId, seqs: &[i64]) -> anyhow::Result<()> {
        self.outbox_done(tenant, seqs);
        Ok(())
    }
}

/// A replay in progress: the lines' batches through the pipeline on its journal (a journal
/// in memory, or a lasting store, on which a second run resumes: its processed events are
/// duplicates, its pending timers fire, its unwritten commands are written first), its
/// tenants spread over one or more jobs ([`Self::with_jobs`]).
pub struct Replay<'a, J: ReplayJournal = Store> {
    dispatcher: &'a Dispatcher,
    /// One pipeline per job, each opened for its own tenants, all on clones of one
    /// journal.
    jobs: Vec<Pipeline<J>>,
    /// The job that runs each tenant.
    owner: BTreeMap<TenantId, usize>,
    /// With several jobs, the threads that run all but the first job's part of every
    /// batch (the calling thread runs the first): kept for the whole replay, so that a
    /// batch starts no thread and each thread keeps its allocator's caches.
    pool: Option<rayon::ThreadPool>,
    runtime: tokio::runtime::Handle,
    options: ReplayOptions,
    pending: Vec<Line>,
    line_no: u64,
    stats: ReplayStats,
    commands: &'a mut dyn Write,
    dead_letters: Option<&'a mut dyn Write>,
    notices: &'a mut dyn FnMut(Notice),
    metrics: Option<Arc<Metrics>>,
}

impl<'a, J: ReplayJournal> Replay<'a, J> {
    /// A replay through `dispatcher`'s bundles with plugin state, timers, processed ids and
    /// the outbox in `store`, whose calls run on `runtime` (a multi-threaded runtime; the
    /// replay itself must run outside it). Commands go to `commands` as JSON Lines;
    /// notices to `notices`.
    pub fn new(
        dispatcher: &'a Dispatcher,
        store: J,
        runtime: tokio::runtime::Handle,
        options: ReplayOptions,
        commands: &'a mut dyn Write,
        notices: &'a mut dyn FnMut(Notice),
    ) -> Self {
        let pipeline = job(dispatcher, store, options);
        Self {
            dispatcher,
            jobs: vec![pipeline],
            owner: BTreeMap::new(),
            pool: None,
            runtime,
            options,
            pending: Vec::new(),
            line_no: 0,
            stats: ReplayStats::default(),
            commands,
            dead_letters: None,
            notices,
            metrics: None,
        }
    }

    /// Also writes every dead letter to `out`, one JSON object per line: the line number,
    /// the reason code and detail the daemon would put into `x-leitstand-error` and
    /// `x-leitstand-detail`, the routing key, and the line itself (`input`).
    pub fn with_dead_letters(mut self, out: &'a mut dyn Write) -> Self {
        self.dead_letters = Some(out);
        self
    }

    /// Counts the run in `metrics` as the daemon counts it: the SLA families from the same
    /// events the report counts, events by outcome, dead letters by reason, plugin calls
    /// and failures, fallbacks, timers and commands. At the end the interval in progress
    /// is closed, so that the staffing gauges show the last interval.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.jobs = std::mem::take(&mut self.jobs)
            .into_iter()
            .map(|p| p.with_metrics(metrics.clone()))
            .collect();
        self.metrics = Some(metrics);
        self
    }

    /// Runs the tenants on `jobs` threads (at least one): the tenants are dealt out to the
    /// jobs in turn, each job runs its tenants' part of every batch, and their commands,
    /// dead letters, notices and report are put back into the order one job gives, byte
    /// for byte. A day whose tenants differ in size gains as much as its largest tenant
    /// leaves. Call before [`Self::start`].
    pub fn with_jobs(mut self, jobs: usize) -> anyhow::Result<Self> {
        let journal = self.jobs[0].journal().clone();
        self.pool = if jobs > 1 {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(jobs - 1)
                .thread_name(|i| format!("replay-job-{}", i + 1))
                .build()
                .context("starting the replay's job threads")?;
            Some(pool)
        } else {
            None
        };
        self.jobs = (0..jobs.max(1))
            .map(|_| {
                let p = job(self.dispatcher, journal.clone(), self.options);
                match &self.metrics {
                    Some(m) => p.with_metrics(m.clone()),
                    None => p,
                }
            })
            .collect();
        Ok(self)
    }

    /// Reads every line of `input`, then fires the timers within the horizon.
    pub fn run(mut self, mut input: impl BufRead) -> anyhow::Result<ReplayReport> {
        self.start()?;
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let n = input
                .read_until(b'\n', &mut buf)
                .context("reading events")?;
            if n == 0 {
                break;
            }
            self.feed(&buf)?;
        }
        self.finish()
    }

    /// Opens every tenant: takes what the store holds (pending timers, unwritten commands,
    /// which are written first). Call once before the first [`Self::feed`].
    pub fn start(&mut self) -> anyhow::Result<()> {
        let runtimes: Vec<_> = self.dispatcher.runtimes().values().cloned().collect();
        for (i, rt) in runtimes.into_iter().enumerate() {
            let job = i % self.jobs.len();
            self.owner.insert(rt.bundle.tenant.clone(), job);
            let left = self
                .runtime
                .block_on(self.jobs[job].open(&rt, None, 0))
                .with_context(|| format!("opening the store of {}", rt.bundle.tenant))?;
            let tenant = rt.bundle.tenant.clone();
            let settled = left.into_iter().map(|e| (Some(tenant.clone()), e));
            self.write_out(settled.collect())?;
        }
        Ok(())
    }

    /// Takes one line (a CloudEvent; blank lines are skipped but counted); a full batch
    /// goes through the pipeline.
    pub fn feed(&mut self, raw: &[u8]) -> anyhow::Result<()> {
        self.line_no += 1;
        let line = raw.trim_ascii();
        if line.is_empty() {
            return Ok(());
        }
        self.stats.lines += 1;
        self.pending.push(Line::new(self.line_no, line));
        if self.pending.len() >= BATCH_LINES {
            self.flush()?;
        }
        Ok(())
    }

    /// Runs the lines taken so far, then fires every timer due at or before `until_ms`.
    pub fn advance(&mut self, until_ms: i64) -> anyhow::Result<()> {
        self.batch(Fire::Until(until_ms))
    }

    /// When the next pending timer of any tenant is due.
    pub fn next_timer_ms(&self) -> Option<i64> {
        self.dispatcher
            .runtimes()
            .keys()
            .filter_map(|t| self.job_of(t).next_due(t))
            .min()
    }

    /// The latest event time processed so far.
    pub fn clock(&self) -> Option<DateTime<Utc>> {
        self.jobs.iter().filter_map(Pipeline::clock).max()
    }

    /// The pipeline that runs `tenant`.
    fn job_of(&self, tenant: &TenantId) -> &Pipeline<J> {
        let job = self.owner.get(tenant).copied().unwrap_or(0);
        &self.jobs[job.min(self.jobs.len() - 1)]
    }

    /// Runs the lines taken so far through the pipeline and writes their commands.
    pub fn flush(&mut self) -> anyhow::Result<()> {
        self.batch(Fire::EventTime)
    }

    /// Runs the last lines, fires the timers within the horizon, and reports.
    pub fn finish(mut self) -> anyhow::Result<ReplayReport> {
        let horizon = self.options.timer_horizon.num_milliseconds();
        self.batch(Fire::Horizon(horizon))?;
        self.stats.timers_pending = self.jobs.iter().map(|p| p.pending_timers() as u64).sum();
        self.commands.flush().context("writing commands")?;
        if let Some(out) = self.dead_letters.as_mut() {
            out.flush().context("writing dead letters")?;
        }
        if let Some(m) = &self.metrics {
            m.sla.close_intervals();
        }
        let mut tenants: Vec<_> = self
            .jobs
            .iter()
            .flat_map(|p| p.report().unwrap_or_default().tenants)
            .collect();
        tenants.sort_by(|a, b| a.tenant.cmp(&b.tenant));
        Ok(ReplayReport {
            tenants,
            replay: self.stats,
        })
    }

    /// One batch through the pipeline: the pending lines, then the timers `fire` names.
    fn batch(&mut self, fire: Fire) -> anyhow::Result<()> {
        if self.pending.is_empty() && fire == Fire::EventTime {
            return Ok(());
        }
        let lines = std::mem::take(&mut self.pending);
        let numbers: Vec<u64> = lines.iter().map(|l| l.number).collect();
        // An event without `time` happened when the replay's clock says; before the first
        // batch, at the time of its first event that has one.
        let received = self
            .clock()
            .or_else(|| first_time(&lines, self.options.limits))
            .unwrap_or_else(Utc::now);
        let settled = if self.jobs.len() == 1 {
            self.runtime.block_on(self.jobs[0].process(
                self.dispatcher,
                &Lines,
                &lines,
                received,
                fire,
                &InPlace,
            ))?
        } else {
            self.spread(lines, received, fire)?
        };
        self.notify(&numbers, &settled);
        self.write_out(settled.outbox)?;
        self.commands.flush().context("writing commands")
    }

    /// Tells the operator about the batch in the order it happened: each line's plugin
    /// failures (and those of the timers due before it), then the line's own fate.
    fn notify(&mut self, numbers: &[u64], settled: &Settled) {
        let mut failures = settled.failures.iter().peekable();
        for (i, (&number, verdict)) in numbers.iter().zip(&settled.verdicts).enumerate() {
            while let Some(f) = failures.next_if(|f| f.at <= i) {
                self.plugin_failed(f.input.and_then(|j| numbers.get(j).copied()), f);
            }
            match verdict {
                Verdict::Processed => self.stats.processed += 1,
                Verdict::Failed(r) => {
                    self.stats.failed += 1;
                    *self.stats.dead_letters.entry(code(r)).or_default() += 1;
                }
                Verdict::Duplicate => {
                    self.stats.duplicates += 1;
                    (self.notices)(Notice::Duplicate { line: number });
                }
                Verdict::DeadLettered(rejection) => {
                    self.stats.rejected += 1;
                    *self
                        .stats
                        .rejected_by_reason
                        .entry(code(rejection))
                        .or_default() += 1;
                    *self.stats.dead_letters.entry(code(rejection)).or_default() += 1;
                    (self.notices)(Notice::Rejected {
                        line: number,
                        rejection: rejection.clone(),
                    });
                }
            }
        }
        for f in failures {
            self.plugin_failed(None, f);
        }
        self.stats.plugin_calls += settled.plugin_calls;
        self.stats.timers_fired += settled.timers_fired;
        if let Some(fired) = settled.timer_storm {
            (self.notices)(Notice::TimerStorm { fired });
        }
    }

    fn plugin_failed(&mut self, line: Option<u64>, f: &leitstand_engine::pipeline::Failure) {
        *self
            .stats
            .plugin_failures
            .entry(f.failure.kind().to_owned())
            .or_default() += 1;
        if f.fallback {
            self.stats.fallbacks += 1;
        }
        (self.notices)(Notice::PluginFailed {
            line,
            tenant: f.tenant.to_string(),
            plugin: f.plugin.clone(),
            event_id: f.event_id.clone(),
            failure: f.failure.clone(),
        });
    }

    /// Writes the committed commands in the order they were decided and clears them from
    /// the store's outbox; dead letters were told as notices.
    fn write_out(
        &mut self,
        outbox: Vec<(Option<TenantId>, leitstand_engine::pipeline::OutboxEntry)>,
    ) -> anyhow::Result<()> {
        let mut done: BTreeMap<TenantId, Vec<i64>> = BTreeMap::new();
        for (tenant, entry) in outbox {
            if entry.exchange == leitstand_amqp::DEAD
                && let Some(out) = self.dead_letters.as_mut()
            {
                let headers: Value = serde_json::from_str(&entry.properties).unwrap_or_default();
                let line = json!({
                    "line": headers["line"],
                    "reason": headers[leitstand_amqp::ERROR_HEADER],
                    "detail": headers[leitstand_amqp::DETAIL_HEADER],
                    "routing_key": entry.routing_key,
                    "input": String::from_utf8_lossy(&entry.body),
                });
                writeln!(out, "{line}").context("writing dead letters")?;
            }
            if entry.exchange == leitstand_amqp::COMMANDS_EXCHANGE {
                self.commands
                    .write_all(&entry.body)
                    .and_then(|()| self.commands.write_all(b"\n"))
                    .context("writing commands")?;
                self.stats.commands += 1;
                if let (Some(m), Some(t)) = (&self.metrics, &tenant) {
                    m.commands_published_total
                        .with_label_values(&[t.as_str()])
                        .inc();
                }
            }
            if let Some(t) = tenant {
                done.entry(t).or_default().push(entry.seq);
            }
        }
        for (tenant, seqs) in done {
            self.runtime
                .block_on(self.jobs[0].journal().written_out(&tenant, &seqs))
                .with_context(|| format!("clearing the outbox of {tenant}"))?;
        }
        Ok(())
    }
}

impl<J: ReplayJournal> Replay<'_, J> {
    /// One batch spread over the jobs: read on as many threads, each job runs its
    /// tenants' lines (and their timers) on a thread of its own, and what they settled is
    /// put back into the order of the lines, as one job would have settled it: a line's
    /// decisions (and the timers due before it) where the line is, timers fired after the
    /// last line by tenant.
    fn spread(
        &mut self,
        lines: Vec<Line>,
        received: DateTime<Utc>,
        fire: Fire,
    ) -> anyhow::Result<Settled> {
        let jobs = self.jobs.len();
        let n = lines.len();
        let limits = self.options.limits;
        let (dispatcher, owner, runtime) = (self.dispatcher, &self.owner, &self.runtime);
        let served = |t: &str| {
            owner
                .get_key_value(t)
                .map(|(k, _)| k)
                .filter(|k| Tenants::runtime(dispatcher, k).is_some())
                .cloned()
        };
        let chunk = n.div_ceil(jobs).max(1);
        let pool = self.pool.as_ref();
        let read: Vec<Intake> = at_once(pool, lines.chunks(chunk).collect(), |part| {
            part.iter()
                .map(|l| intake(&served, &Lines, l, limits, received))
                .collect::<Vec<_>>()
        })
        .into_iter()
        .flatten()
        .collect();
        // Each job's lines and their intake, and their places in the batch.
        let mut parts: Vec<(Vec<Line>, Vec<Intake>)> =
            (0..jobs).map(|_| Default::default()).collect();
        let mut places: Vec<Vec<usize>> = vec![Vec::new(); jobs];
        for (i, (line, entry)) in lines.into_iter().zip(read).enumerate() {
            let job = entry
                .tenant()
                .and_then(|t| owner.get(t))
                .copied()
                .unwrap_or(0);
            parts[job].0.push(line);
            parts[job].1.push(entry);
            places[job].push(i);
        }
        let results: Vec<Result<Settled, PipelineError>> = at_once(
            pool,
            self.jobs.iter_mut().zip(parts).collect(),
            |(job, (lines, read))| {
                if lines.is_empty() && fire == Fire::EventTime {
                    return Ok(Settled::default());
                }
                runtime.block_on(job.process_read(dispatcher, &Lines, &lines, read, fire, &InPlace))
            },
        );
        // Where a job's decision goes in the batch: at its line, or after the last line
        // by tenant.
        let place = |places: &[usize], at: usize, tenant: Option<&TenantId>| match places.get(at) {
            Some(&i) => (i, None),
            None => (n, tenant.cloned()),
        };
        let mut verdicts: Vec<(usize, Verdict)> = Vec::with_capacity(n);
        let mut outbox = Vec::new();
        let mut failures = Vec::new();
        let mut merged = Settled::default();
        for (settled, places) in results.into_iter().zip(&places) {
            let settled = settled?;
            verdicts.extend(places.iter().copied().zip(settled.verdicts));
            for ((tenant, entry), at) in settled.outbox.into_iter().zip(settled.decided_at) {
                let key = place(places, at, tenant.as_ref());
                outbox.push((key, tenant, entry));
            }
            for mut f in settled.failures {
                let key = place(places, f.at, Some(&f.tenant));
                f.at = key.0;
                f.input = f.input.and_then(|j| places.get(j).copied());
                failures.push((key, f));
            }
            merged.plugin_calls += settled.plugin_calls;
            merged.timers_fired += settled.timers_fired;
            // Of several tenants stopped at the limit in one batch, the notice names one.
            merged.timer_storm = merged.timer_storm.max(settled.timer_storm);
        }
        // Stable: decisions of one place come from one job, in its order.
        verdicts.sort_by_key(|(i, _)| *i);
        outbox.sort_by(|a, b| a.0.cmp(&b.0));
        failures.sort_by(|a, b| a.0.cmp(&b.0));
        merged.verdicts = verdicts.into_iter().map(|(_, v)| v).collect();
        for ((at, _), tenant, entry) in outbox {
            merged.outbox.push((tenant, entry));
            merged.decided_at.push(at);
        }
        merged.failures = failures.into_iter().map(|(_, f)| f).collect();
        Ok(merged)
    }
}

/// The time of the first of `lines` that carries one (an event whose time does not depend on
/// when it was received), if any: where a replay's clock starts, so that an event without a
/// time ahead of it is stamped alike in every run.
fn first_time(lines: &[Line], limits: IntakeLimits) -> Option<DateTime<Utc>> {
    let (early, late) = (DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC);
    lines.iter().find_map(|line| {
        let time = Lines.envelope(line, limits, early).ok()?.time;
        (Lines.envelope(line, limits, late).ok()?.time == time).then_some(time)
    })
}

/// Runs `work` on each of `parts` at once, the first on the calling thread and the others
/// on `pool` (all on the calling thread without one); the results in the order of
/// `parts`. A panic in any of them is the caller's.
fn at_once<P: Send, T: Send>(
    pool: Option<&rayon::ThreadPool>,
    parts: Vec<P>,
    work: impl Fn(P) -> T + Sync,
) -> Vec<T> {
    let mut results: Vec<Option<T>> = parts.iter().map(|_| None).collect();
    let mut pairs = parts.into_iter().zip(results.iter_mut());
    match pool {
        None => pairs.for_each(|(part, slot)| *slot = Some(work(part))),
        Some(pool) => pool.in_place_scope(|scope| {
            let first = pairs.next();
            for (part, slot) in pairs {
                let work = &work;
                scope.spawn(move |_| *slot = Some(work(part)));
            }
            if let Some((part, slot)) = first {
                *slot = Some(work(part));
            }
        }),
    }
    // Every slot is filled: the scope returns only when all its work has, and a panic
    // in it is raised here.
    results.into_iter().flatten().collect()
}

/// A pipeline of a replay's job.
fn job<J: ReplayJournal>(
    dispatcher: &Dispatcher,
    journal: J,
    options: ReplayOptions,
) -> Pipeline<J> {
    Pipeline::new(
        journal,
        dispatcher.sandbox().clone(),
        PipelineOptions {
            limits: options.limits,
            max_timer_firings: options.max_timer_firings,
        },
    )
    .with_report()
}

fn code(r: &Rejection) -> String {
    r.reason.code().to_owned()
}

/// Reads a recorded delivery: `{"routing_key": …, "event": {…}}` (structured) or
/// `{"routing_key": …, "headers": {…}, "body": {…}}` (binary mode).
fn parse_record(
    line: &[u8],
    limits: IntakeLimits,
    received: DateTime<Utc>,
) -> Result<Envelope, Rejection> {
    let text = std::str::from_utf8(line).map_err(|e| {
        Rejection::new(
            RejectReason::MalformedJson,
            format!(
                "line is not UTF-8 (invalid byte at offset {})",
                e.valid_up_to()
            ),
        )
    })?;
    let value: Value = serde_json::from_str(text).map_err(|e| envelope::json_error(&e))?;
    let Value::Object(mut record) = value else {
        return Err(Rejection::new(
            RejectReason::MalformedJson,
            "line is JSON but not an object",
        ));
    };
    if !matches!(record.get("routing_key"), Some(Value::String(_))) {
        return Err(Rejection::new(
            RejectReason::MalformedJson,
            "a delivery record's `routing_key` must be a string",
        ));
    }
    if let Some(event) = record.remove("event") {
        return envelope::parse_value(event, limits, received);
    }
    let headers = match record.remove("headers") {
        Some(Value::Object(map)) => map,
        _ => {
            return Err(Rejection::new(
                RejectReason::MalformedJson,
                "a delivery record needs `event` or `headers`",
            ));
        }
    };
    let body = record.get("body").map(Value::to_string).unwrap_or_default();
    envelope::parse_binary(
        headers
            .iter()
            .filter_map(|(k, v)| AttributeValue::from_json(v).map(|v| (k.as_str(), v))),
        body.as_bytes(),
        limits,
        received,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_records_carry_a_routing_key() {
        let now = Utc::now();
        let limits = IntakeLimits::default();
        let line = Line::new(
            1,
            br#"{"routing_key":"a.x","event":{"specversion":"1.0","id":"1","source":"s","type":"x","tenant":"b"}}"#,
        );
        assert_eq!(line.routing_key.as_deref(), Some("a.x"));
        let env = Lines.envelope(&line, limits, now).expect("valid");
        assert_eq!(env.tenant.as_str(), "b");
        let line = Line::new(
            2,
            br#"{"routing_key":"b.x","headers":{"ce-specversion":"1.0","ce-id":"1","ce-source":"s","ce-type":"x","ce-tenant":"b"},"body":{"k":1}}"#,
        );
        let env = Lines.envelope(&line, limits, now).expect("valid");
        assert_eq!(env.data["k"], 1);
        let plain = Line::new(
            3,
            br#"{"specversion":"1.0","id":"1","data":{"routing_key":1}}"#,
        );
        assert_eq!(plain.routing_key, None);
    }

    #[test]
    fn a_record_is_held_to_the_same_limits_as_any_event() {
        let limits = IntakeLimits {
            max_json_depth: 3,
            ..IntakeLimits::default()
        };
        let line = Line::new(
            1,
            br#"{"routing_key":"b.x","event":{"specversion":"1.0","id":"1","source":"s","type":"x","tenant":"b","data":{"a":{"b":{}}}}}"#,
        );
        let e = Lines
            .envelope(&line, limits, Utc::now())
            .expect_err("too deep");
        assert_eq!(e.reason, RejectReason::TooDeep, "{e}");
    }
}
