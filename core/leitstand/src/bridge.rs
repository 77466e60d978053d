//! `leitstand bridge asterisk`: the driver of a live bridge between a provider's Asterisk
//! and Leitstand. One way it follows the `queue_log` and publishes each line's events to
//! `leitstand.events` with confirms, saving its position (and the calls it knows) only
//! once the broker has them; the other way it takes the tenant's `call.route` commands
//! from a queue of its own and carries each out as an AMI `Redirect` of the waiting
//! caller, acknowledged only after the manager answered `Success`.
//!
//! The parts are the crates': the follower, the reader, the route and the manager
//! interface `leitstand-adapters`', publishing and consuming `leitstand-amqp`'s. This page
//! says where lines come from and where events and actions go.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context as _;
use leitstand_adapters::ami::Manager;
use leitstand_adapters::follow::{Checkpoint, FollowedLine, Follower};
use leitstand_adapters::route::{Dialplan, RouteCommand};
use leitstand_adapters::{EntryState, QueueLogReader, Read};
use leitstand_amqp::bridge::{
    BridgeEvent, CommandQueue, CommandRetry, EventPublisher, Handled, carry_out_commands,
};
use tokio::sync::watch;

use crate::config::Config;
use crate::import::AcdOptions;

/// Most lines read, published and confirmed as one batch.
const BATCH_LINES: usize = 1_000;
/// How long (seconds of log time) calls that are over are remembered after they entered:
/// their late lines are still judged, and the state file stays small.
const REMEMBER_SECONDS: i64 = 600;
/// How long the manager may take to answer.
const AMI_TIMEOUT: Duration = Duration::from_secs(10);
/// The environment variable holding the manager's secret when no file names it.
const AMI_SECRET_ENV: &str = "LEITSTAND_AMI_SECRET";
/// The reason code of a command the manager refused every time.
const AMI_REFUSED: &str = "ami-refused";
/// The reason code of a command the bridge cannot read or carry out.
const BAD_COMMAND: &str = "bad-command";

/// `leitstand bridge …`.
#[derive(Debug, clap::Subcommand)]
pub enum BridgeCommand {
    /// Follow Asterisk's queue_log and publish its calls' events to leitstand.events;
    /// with --ami, carry out the tenant's call.route commands as manager Redirects.
    /// SIGTERM or SIGINT stop it after the batch in hand.
    Asterisk(AsteriskArgs),
}

/// `leitstand bridge asterisk`.
#[derive(Debug, clap::Args)]
pub struct AsteriskArgs {
    /// Asterisk's queue_log (usually /var/log/asterisk/queue_log).
    #[arg(long, value_name = "FILE")]
    queue_log: PathBuf,
    /// Where the bridge keeps its position in the log and the calls in the queues,
    /// written after each batch the broker confirmed; a restart goes on from there.
    #[arg(long, value_name = "FILE")]
    state: PathBuf,
    /// On the first start (no state file yet), publish the lines already in the log too.
    /// Without it they are only read, to know the calls already waiting, and publishing
    /// starts with the next line written.
    #[arg(long)]
    from_beginning: bool,
    /// How often to look for new lines, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 200)]
    poll_ms: u64,
    /// Whose calls, and how they are named.
    #[command(flatten)]
    acd: AcdOptions,
    /// The Asterisk manager interface (AMI), HOST:PORT. Without it the bridge only
    /// publishes events.
    #[arg(long, value_name = "HOST:PORT")]
    ami: Option<String>,
    /// The manager user (manager.conf; Redirect needs the `call` write class).
    #[arg(long, value_name = "USER", default_value = "leitstand")]
    ami_user: String,
    /// A file holding the manager user's secret (default: the environment variable
    /// LEITSTAND_AMI_SECRET).
    #[arg(long, value_name = "FILE")]
    ami_secret_file: Option<PathBuf>,
    /// The dialplan context a routed call is redirected to; the extension is the route's
    /// target, at priority 1.
    #[arg(long, value_name = "CONTEXT", default_value = "leitstand-route")]
    context: String,
    /// The dialplan context of routes to an announcement.
    #[arg(long, value_name = "CONTEXT", default_value = "leitstand-announcement")]
    announcement_context: String,
    /// The bridge's command queue (default: `leitstand.bridge.<tenant>`, with `.<site>`
    /// when --site is given), bound to leitstand.commands with `<tenant>.call.route`.
    #[arg(long, value_name = "NAME")]
    command_queue: Option<String>,
    /// How often a Redirect the manager refuses is tried before the command is
    /// dead-lettered (ami-refused).
    #[arg(long, value_name = "N", default_value_t = 5)]
    attempts: u32,
    /// The wait after the first refusal, in milliseconds; it doubles up to a minute.
    #[arg(long, value_name = "MS", default_value_t = 1_000)]
    retry_ms: u64,
}

/// Runs `leitstand bridge …` until SIGTERM or SIGINT.
pub async fn run(config: Config, command: BridgeCommand) -> anyhow::Result<()> {
    let BridgeCommand::Asterisk(args) = command;
    let (import, _) = args.acd.import()?;
    let tenant = import.tenant().to_owned();
    let site = import.site().map(str::to_owned);
    let checkpoint = Checkpoint::load(&args.state)?;
    let resumed = checkpoint.is_some();
    let open = |what: &str| format!("{what} {}", args.queue_log.display());
    let (reader, follower) = match checkpoint {
        Some(c) => (
            QueueLogReader::restore(import, c.reader),
            Follower::resume(&args.queue_log, &c.position).with_context(|| open("resuming"))?,
        ),
        None => (
            QueueLogReader::new(import),
            Follower::start(&args.queue_log).with_context(|| open("opening"))?,
        ),
    };
    let reader = Arc::new(Mutex::new(reader));
    let (stop_tx, stop) = watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("stopping after the batch in hand");
        let _ = stop_tx.send(true);
    });

    let commands = match &args.ami {
        Some(addr) => {
            let secret = ami_secret(&args)?;
            let route = Route {
                tenant: tenant.clone(),
                reader: reader.clone(),
                dialplan: Dialplan {
                    context: args.context.clone(),
                    announcement_context: args.announcement_context.clone(),
                    priority: 1,
                },
                addr: addr.clone(),
                user: args.ami_user.clone(),
                secret,
                manager: Arc::new(tokio::sync::Mutex::new(None)),
            };
            let queue = CommandQueue {
                queue: args.command_queue.clone().unwrap_or_else(|| match &site {
                    Some(site) => format!("leitstand.bridge.{tenant}.{site}"),
                    None => format!("leitstand.bridge.{tenant}"),
                }),
                binding: format!("{tenant}.call.route"),
            };
            let retry = CommandRetry {
                attempts: args.attempts.max(1),
                first_backoff: Duration::from_millis(args.retry_ms),
                max_backoff: Duration::from_secs(60),
            };
            Some(tokio::spawn(carry_out_commands(
                config.amqp.clone(),
                queue,
                retry,
                move |body| route.clone().carry_out(body),
                stop.clone(),
            )))
        }
        None => None,
    };

    let lines = Lines {
        follower,
        reader,
        state: args.state.clone(),
        poll: Duration::from_millis(args.poll_ms),
        stop: stop.clone(),
        refused: 0,
    };
    let ready = match (resumed, args.from_beginning) {
        (true, _) => Ok(lines),
        // Saved at once: a stop before the first batch is confirmed must still find the
        // file it began in, should the log be rotated meanwhile.
        (false, true) => lines.save().map(|()| lines),
        (false, false) => lines.learn(),
    };
    let followed = match ready {
        Ok(lines) => {
            lines
                .follow(EventPublisher::new(config.amqp.clone()), &tenant)
                .await
        }
        Err(e) => Err(e),
    };
    if let Some(task) = commands {
        if followed.is_err() {
            task.abort();
        } else {
            task.await
                .context("the command consumer")?
                .context("taking commands")?;
        }
    }
    followed
}

/// The log's side: lines in, events out, the checkpoint after each confirmed batch.
struct Lines {
    follower: Follower,
    reader: Arc<Mutex<QueueLogReader>>,
    state: PathBuf,
    poll: Duration,
    stop: watch::Receiver<bool>,
    /// Lines refused since the bridge started.
    refused: u64,
}

impl Lines {
    /// The next lines (file reads, done on this worker thread with the runtime told so).
    fn poll(&mut self, max: usize) -> anyhow::Result<Vec<FollowedLine>> {
        let lines = tokio::task::block_in_place(|| self.follower.poll(max));
        for notice in self.follower.take_notices() {
            tracing::warn!(queue_log = %self.follower.path().display(), %notice, "queue_log");
        }
        lines.with_context(|| format!("reading {}", self.follower.path().display()))
    }

    /// First start without --from-beginning: reads what the log holds to know the calls
    /// already in the queues, publishes nothing of it, and saves where it stands.
    fn learn(mut self) -> anyhow::Result<Self> {
        let mut lines_read = 0;
        loop {
            let lines = self.poll(10 * BATCH_LINES)?;
            if lines.is_empty() {
                break;
            }
            lines_read += lines.len();
            let mut reader = self.reader.lock().unwrap_or_else(PoisonError::into_inner);
            for line in &lines {
                reader.read_line(line.number, &line.bytes);
            }
            reader.forget_finished(REMEMBER_SECONDS);
        }
        self.save()?;
        let waiting = self
            .reader
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .waiting()
            .count();
        tracing::info!(
            lines = lines_read,
            waiting,
            "read the log's existing lines without publishing them; publishing from the next line"
        );
        Ok(self)
    }

    /// Follows the log until stopped.
    async fn follow(mut self, mut publisher: EventPublisher, tenant: &str) -> anyhow::Result<()> {
        while !*self.stop.borrow() {
            let lines = self.poll(BATCH_LINES)?;
            if lines.is_empty() {
                let mut stop = self.stop.clone();
                tokio::select! {
                    () = tokio::time::sleep(self.poll) => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
            let events = {
                let mut reader = self.reader.lock().unwrap_or_else(PoisonError::into_inner);
                let mut events = Vec::new();
                for line in &lines {
                    match reader.read_line(line.number, &line.bytes) {
                        Read::Mapped(mapped) => events.extend(mapped),
                        Read::Refused(refusal) => {
                            self.refused += 1;
                            tracing::warn!(
                                file = %line.file.display(),
                                refused_since_start = self.refused,
                                "line refused, no event published: {refusal}"
                            );
                        }
                        Read::Understood | Read::Skipped(_) => {}
                    }
                }
                reader.forget_finished(REMEMBER_SECONDS);
                events
            };
            let out: Vec<BridgeEvent> = events
                .iter()
                .map(|e| BridgeEvent {
                    routing_key: format!("{tenant}.{}", e.event_type()),
                    id: e.id.clone(),
                    event_type: e.event_type().to_owned(),
                    body: e.to_json().into_bytes(),
                })
                .collect();
            let mut attempt = 0;
            while let Err(e) = publisher.publish(&out).await {
                tracing::warn!(error = %e, events = out.len(), "publishing failed; trying again");
                let mut stop = self.stop.clone();
                let wait = backoff(attempt);
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    _ = stop.changed() => {}
                }
                if *self.stop.borrow() {
                    // Not saved: the next start reads these lines again and publishes the
                    // same events (the same ids, duplicates to Leitstand).
                    publisher.close().await;
                    return Ok(());
                }
                attempt += 1;
            }
            self.save()?;
            tracing::debug!(
                lines = lines.len(),
                events = out.len(),
                "published and confirmed"
            );
        }
        publisher.close().await;
        Ok(())
    }

    fn save(&self) -> anyhow::Result<()> {
        let state = self
            .reader
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .state();
        Checkpoint::new(self.follower.position(), state).save(&self.state)?;
        Ok(())
    }
}

/// The wait before publishing again: doubling from 200 ms to 15 s.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(200u64.saturating_mul(1 << attempt.min(7)).min(15_000))
}

/// The command side: a `call.route` of a call waiting in this bridge's log, as a Redirect.
#[derive(Clone)]
struct Route {
    tenant: String,
    reader: Arc<Mutex<QueueLogReader>>,
    dialplan: Dialplan,
    addr: String,
    user: String,
    secret: String,
    /// The manager session, opened on the first command and again after a failure.
    manager: Arc<tokio::sync::Mutex<Option<Manager>>>,
}

impl Route {
    async fn carry_out(self, body: Vec<u8>) -> Handled {
        let invalid = |detail: String| Handled::Invalid {
            reason: BAD_COMMAND.into(),
            detail,
        };
        let command = match RouteCommand::parse(&body) {
            Ok(c) => c,
            Err(detail) => return invalid(detail),
        };
        if command.tenant != self.tenant {
            return invalid(format!(
                "a command of tenant {} on the bridge of tenant {}",
                command.tenant, self.tenant
            ));
        }
        // Only a call this bridge saw enter a queue, and only while it waits there: a
        // call of another site's ACD is that bridge's, and a caller already with an
        // agent (or gone) is never moved.
        let channel = {
            let reader = self.reader.lock().unwrap_or_else(PoisonError::into_inner);
            match reader.entry(&command.call_id) {
                None => {
                    return Handled::Skipped(format!(
                        "call {} did not enter a queue of this bridge's log",
                        command.call_id
                    ));
                }
                Some(entry) if entry.state != EntryState::Waiting => {
                    return Handled::Skipped(format!(
                        "call {} no longer waits in its queue",
                        command.call_id
                    ));
                }
                Some(entry) => entry.callid.clone(),
            }
        };
        let action = match self.dialplan.redirect(&command, &channel) {
            Ok(a) => a,
            Err(e) => return invalid(e.to_string()),
        };
        let mut manager = self.manager.lock().await;
        if manager.is_none() {
            match Manager::connect(&self.addr, &self.user, &self.secret, AMI_TIMEOUT).await {
                Ok(m) => {
                    tracing::info!(ami = %self.addr, banner = m.banner(), "logged in to the Asterisk manager");
                    *manager = Some(m);
                }
                Err(e) => return Handled::Unavailable(e.to_string()),
            }
        }
        let Some(session) = manager.as_mut() else {
            return Handled::Unavailable("no manager session".into());
        };
        match session.send(&action).await {
            Ok(answer) if answer.is_success() => Handled::Done,
            Ok(answer) => Handled::Refused {
                reason: AMI_REFUSED.into(),
                detail: format!(
                    "the Asterisk manager refused to redirect call {} to {}@{}: {}",
                    command.call_id,
                    command.target,
                    action.get("Context").unwrap_or_default(),
                    answer.message()
                ),
            },
            Err(e) => {
                // The answer was lost with the session: the next attempt logs in anew,
                // and finds the call gone from its queue if the Redirect did happen.
                *manager = None;
                Handled::Unavailable(e.to_string())
            }
        }
    }
}

/// The manager's secret: from --ami-secret-file (its first line), else the environment.
fn ami_secret(args: &AsteriskArgs) -> anyhow::Result<String> {
    match &args.ami_secret_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the manager secret {}", path.display()))?;
            Ok(text.lines().next().unwrap_or_default().to_owned())
        }
        None => std::env::var(AMI_SECRET_ENV).map_err(|_| {
            anyhow::anyhow!(
                "--ami needs the manager user's secret: --ami-secret-file FILE, or {AMI_SECRET_ENV}"
            )
        }),
    }
}

/// SIGTERM or SIGINT.
async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGTERM; stop with SIGINT");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
