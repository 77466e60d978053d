//! What a plugin instance may reach: the per-call host state behind the WIT imports
//! (state, log, metrics, clock and, from contract 0.2.0 on, the tenant's calendars), the
//! deny-by-default WASI context, and the CPU, wall-clock and memory budget of the call.
//!
//! Each import is written once, as a method of [`HostState`]; the traits `bindgen!`
//! generates per contract version (`leitstand:plugin@0.1.0`, `@0.2.0`, `@0.3.0`) only hand
//! over to those methods, so every version gets the same checks, quotas and denials.

use std::convert::Infallible;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate};
use leitstand_calendar::{Calendar, Calendars, Change, DayKind};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _, TryRng};
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::Caps;
use super::bindings::v0_1::leitstand::plugin::types;
use super::bindings::{v0_1, v0_2, v0_3};
use super::quota::{StateDelta, TenantQuota};
use super::stdio::BoundedOutput;
use crate::state::{MAX_KEY_BYTES, MAX_VALUE_BYTES, StateError, StateStore, StateWrites};
use crate::tenants::Capability;
use leitstand_contract::envelope::TenantId;
use leitstand_metrics::{CustomMetricError, CustomMetrics, Refusal};

/// Why the host stopped a call; carried as the trap's error so it can be classified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Abort {
    /// The call used more CPU time than its limit.
    #[error("used more than {0:?} of CPU time")]
    Cpu(Duration),
    /// The call took longer than its wall-clock limit.
    #[error("took longer than {0:?} of wall-clock time")]
    Wall(Duration),
    /// The instance asked for more memory than its limit.
    #[error("asked for {asked} bytes of memory, the limit is {limit}")]
    Memory {
        /// Bytes asked for.
        asked: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// The state backend failed; the event must be retried, not blamed on the plugin.
    #[error("{0}")]
    State(StateError),
    /// The plugin tried to sleep; waiting is what timers are for.
    #[error("plugins may not sleep or wait on a clock; set a timer instead")]
    Sleep,
}

/// The CPU and wall-clock budget of one call, checked on every epoch tick and at every
/// host call.
///
/// The call's CPU time is counted from the first epoch tick that finds it running:
/// reading a thread's CPU clock is a system call, which most calls, over long before a
/// tick, would otherwise pay once each. So a call shorter than a tick is not charged,
/// and a runaway call is stopped at most a tick later than if it were counted from its
/// start (its wall-clock limit is counted from the start).
pub(crate) struct Budget {
    /// The thread's CPU time at the call's first tick (the call runs on one thread from
    /// start to end; a `ThreadTime` itself may not leave its thread, so its reading is
    /// kept).
    cpu_start: Option<Duration>,
    wall_start: Instant,
    cpu_limit: Duration,
    wall_limit: Duration,
}

impl Budget {
    pub(crate) fn start(cpu_limit: Duration, wall_limit: Duration) -> Self {
        Self {
            cpu_start: None,
            wall_start: Instant::now(),
            cpu_limit,
            wall_limit,
        }
    }

    /// Whether this call is over its wall-clock limit: cheap enough for every host call.
    pub(crate) fn wall_exceeded(&self) -> Option<Abort> {
        (self.wall_start.elapsed() > self.wall_limit).then_some(Abort::Wall(self.wall_limit))
    }

    /// The limit this call is over, if any. Reading the thread's CPU time is a system
    /// call, so this runs on epoch ticks only; the first starts the CPU count.
    pub(crate) fn exceeded(&mut self) -> Option<Abort> {
        if let Some(abort) = self.wall_exceeded() {
            return Some(abort);
        }
        let now = cpu_time::ThreadTime::now().as_duration();
        let cpu = now.saturating_sub(*self.cpu_start.get_or_insert(now));
        if cpu > self.cpu_limit {
            return Some(Abort::Cpu(self.cpu_limit));
        }
        None
    }
}

/// Enforces the plugin's memory limit and remembers when it was hit.
pub(crate) struct MemoryLimit {
    pub(crate) limit: usize,
    pub(crate) hit: Option<Abort>,
    /// The largest linear memory the instance has grown to, in bytes.
    pub(crate) grown: usize,
}

impl wasmtime::ResourceLimiter for MemoryLimit {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit {
            let abort = Abort::Memory {
                asked: desired,
                limit: self.limit,
            };
            self.hit = Some(abort.clone());
            return Err(wasmtime::Error::new(abort));
        }
        self.grown = self.grown.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// What a call may touch of the tenant's world.
pub(crate) struct Scope {
    pub(crate) tenant: TenantId,
    pub(crate) plugin: Arc<str>,
    pub(crate) timezone: Arc<str>,
    pub(crate) now_ms: i64,
    /// `None` while the configuration is checked: no state exists for that.
    pub(crate) state: Option<Arc<dyn StateStore>>,
    pub(crate) metrics: Arc<CustomMetrics>,
    pub(crate) log_bytes: usize,
    /// What the bundle grants the plugin.
    pub(crate) caps: Caps,
    /// The tenant's quotas; `None` while the configuration is checked.
    pub(crate) quota: Option<Arc<TenantQuota>>,
    /// The tenant's calendars, when its bundle declares them; there while the
    /// configuration is checked too, so that a plugin can check the names it refers to.
    pub(crate) calendars: Option<Arc<Calendars>>,
}

/// The data of one store: one plugin instance handling one event.
pub(crate) struct HostState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) memory: MemoryLimit,
    pub(crate) budget: Budget,
    pub(crate) scope: Scope,
    /// Writes buffered until the event succeeds.
    pub(crate) writes: StateWrites,
    pub(crate) log_used: usize,
    pub(crate) log_dropped: usize,
    /// What this call's buffered writes add to the tenant's state.
    pub(crate) state_delta: StateDelta,
    /// The first quota this call ran into, as (reason, message).
    pub(crate) quota_hit: Option<(&'static str, String)>,
    /// The first capability this call was denied, as (reason, message).
    pub(crate) denied: Option<(&'static str, String)>,
}

impl HostState {
    /// Sets this state for a new call of the instance it belongs to: `budget` and `scope`,
    /// empty buffers and counters, no limit hit. The WASI context (reaching the call's
    /// [`CallWorld`]), the resources the instance holds and the memory it has grown to stay.
    pub(crate) fn begin_call(&mut self, budget: Budget, scope: Scope) {
        // Every field named, so that one added is decided here too.
        let Self {
            wasi: _,
            table: _,
            memory,
            budget: call_budget,
            scope: call_scope,
            writes,
            log_used,
            log_dropped,
            state_delta,
            quota_hit,
            denied,
        } = self;
        memory.hit = None;
        *call_budget = budget;
        *call_scope = scope;
        *writes = StateWrites::new();
        *log_used = 0;
        *log_dropped = 0;
        *state_delta = StateDelta::default();
        *quota_hit = None;
        *denied = None;
    }

    /// Refuses a call that needs `cap` when the bundle does not grant it; counts it.
    fn require(&mut self, cap: Capability) -> Result<(), types::Error> {
        if self.scope.caps.has(cap) {
            return Ok(());
        }
        let message = format!(
            "the bundle does not grant the capability {:?} (add it to `capabilities`)",
            cap.name()
        );
        self.scope.metrics.refused(
            Refusal::Denied,
            &self.scope.tenant,
            &self.scope.plugin,
            cap.name(),
        );
        self.denied.get_or_insert((cap.name(), message.clone()));
        Err(types::Error::AccessDenied(message))
    }

    /// Refuses a call over a quota; counts it.
    fn over_quota(&mut self, reason: &'static str, message: String) -> types::Error {
        self.scope.metrics.refused(
            Refusal::Quota,
            &self.scope.tenant,
            &self.scope.plugin,
            reason,
        );
        self.quota_hit.get_or_insert((reason, message.clone()));
        types::Error::QuotaExceeded(message)
    }

    /// Host calls check the wall clock; CPU time is checked on every epoch tick.
    fn check_budget(&self) -> wasmtime::Result<()> {
        match self.budget.wall_exceeded() {
            Some(abort) => Err(wasmtime::Error::new(abort)),
            None => Ok(()),
        }
    }

    /// What removing the current value of `key` (this call's write, else the stored
    /// one) frees, as a negative delta.
    fn negated_old(&self, key: &str) -> wasmtime::Result<StateDelta> {
        let old = match self.writes.get(key) {
            Some(buffered) => buffered.as_ref().map(Vec::len),
            None => match &self.scope.state {
                Some(store) => store
                    .get(&self.scope.tenant, &self.scope.plugin, key)
                    .map_err(|e| wasmtime::Error::new(Abort::State(e)))?
                    .map(|v| v.len()),
                None => None,
            },
        };
        Ok(match old {
            Some(len) => StateDelta {
                keys: -1,
                bytes: -((key.len() + len) as i64),
            },
            None => StateDelta::default(),
        })
    }

    fn check_key(key: &str) -> Result<(), types::Error> {
        if key.is_empty() || key.len() > MAX_KEY_BYTES {
            return Err(types::Error::QuotaExceeded(format!(
                "state key must have 1 to {MAX_KEY_BYTES} bytes, has {}",
                key.len()
            )));
        }
        Ok(())
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl types::Host for HostState {}

/// The imports every contract version shares, each handed to the one method that does it.
macro_rules! shared_imports {
    ($v:ident) => {
        impl $v::leitstand::plugin::state::Host for HostState {
            fn get(
                &mut self,
                key: String,
            ) -> wasmtime::Result<Result<Option<Vec<u8>>, types::Error>> {
                self.state_get(key)
            }

            fn set(
                &mut self,
                key: String,
                value: Vec<u8>,
            ) -> wasmtime::Result<Result<(), types::Error>> {
                self.state_set(key, value)
            }

            fn delete(&mut self, key: String) -> wasmtime::Result<Result<(), types::Error>> {
                self.state_delete(key)
            }
        }

        impl $v::leitstand::plugin::log::Host for HostState {
            fn log(
                &mut self,
                level: $v::leitstand::plugin::log::Level,
                message: String,
            ) -> wasmtime::Result<()> {
                use $v::leitstand::plugin::log::Level;
                let level = match level {
                    Level::Trace => tracing::Level::TRACE,
                    Level::Debug => tracing::Level::DEBUG,
                    Level::Info => tracing::Level::INFO,
                    Level::Warn => tracing::Level::WARN,
                    Level::Error => tracing::Level::ERROR,
                };
                self.log_message(level, message)
            }
        }

        impl $v::leitstand::plugin::metrics::Host for HostState {
            fn counter_add(
                &mut self,
                name: String,
                value: u64,
            ) -> wasmtime::Result<Result<(), types::Error>> {
                self.metric_counter_add(name, value)
            }

            fn gauge_set(
                &mut self,
                name: String,
                value: f64,
            ) -> wasmtime::Result<Result<(), types::Error>> {
                self.metric_gauge_set(name, value)
            }
        }

        impl $v::leitstand::plugin::clock::Host for HostState {
            fn now(&mut self) -> wasmtime::Result<i64> {
                Ok(self.scope.now_ms)
            }

            fn timezone(&mut self) -> wasmtime::Result<String> {
                Ok(self.scope.timezone.to_string())
            }
        }
    };
}

shared_imports!(v0_1);
shared_imports!(v0_2);
shared_imports!(v0_3);

impl HostState {
    fn state_get(
        &mut self,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, types::Error>> {
        self.check_budget()?;
        if let Err(e) = self.require(Capability::State) {
            return Ok(Err(e));
        }
        if let Err(e) = Self::check_key(&key) {
            return Ok(Err(e));
        }
        let Some(store) = &self.scope.state else {
            return Ok(Err(types::Error::AccessDenied(
                "state is not available while the configuration is checked or prepared".into(),
            )));
        };
        if let Some(buffered) = self.writes.get(&key) {
            return Ok(Ok(buffered.clone()));
        }
        store
            .get(&self.scope.tenant, &self.scope.plugin, &key)
            .map(Ok)
            .map_err(|e| wasmtime::Error::new(Abort::State(e)))
    }

    fn state_set(
        &mut self,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), types::Error>> {
        self.check_budget()?;
        if let Err(e) = self.require(Capability::State) {
            return Ok(Err(e));
        }
        if let Err(e) = Self::check_key(&key) {
            return Ok(Err(e));
        }
        if self.scope.state.is_none() {
            return Ok(Err(types::Error::AccessDenied(
                "state is not available while the configuration is checked or prepared".into(),
            )));
        }
        if value.len() > MAX_VALUE_BYTES {
            let message = format!(
                "a state value may have at most {MAX_VALUE_BYTES} bytes, this one has {}",
                value.len()
            );
            return Ok(Err(self.over_quota("state-value", message)));
        }
        let new = StateDelta {
            keys: 1,
            bytes: (key.len() + value.len()) as i64,
        };
        let more = new.add(self.negated_old(&key)?);
        if let Some(quota) = self.scope.quota.clone()
            && let Some(store) = self.scope.state.clone()
        {
            match quota
                .check_state(&self.scope.tenant, &*store, self.state_delta, more)
                .map_err(|e| wasmtime::Error::new(Abort::State(e)))?
            {
                Ok(()) => {}
                Err(hit) => {
                    let message = hit.message(&self.scope.tenant);
                    return Ok(Err(self.over_quota(hit.reason(), message)));
                }
            }
        }
        self.state_delta = self.state_delta.add(more);
        self.writes.insert(key, Some(value));
        Ok(Ok(()))
    }

    fn state_delete(&mut self, key: String) -> wasmtime::Result<Result<(), types::Error>> {
        self.check_budget()?;
        if let Err(e) = self.require(Capability::State) {
            return Ok(Err(e));
        }
        if let Err(e) = Self::check_key(&key) {
            return Ok(Err(e));
        }
        if self.scope.state.is_none() {
            return Ok(Err(types::Error::AccessDenied(
                "state is not available while the configuration is checked or prepared".into(),
            )));
        }
        let freed = self.negated_old(&key)?;
        self.state_delta = self.state_delta.add(freed);
        self.writes.insert(key, None);
        Ok(Ok(()))
    }
}

impl HostState {
    fn log_message(&mut self, level: tracing::Level, message: String) -> wasmtime::Result<()> {
        self.check_budget()?;
        // A message at a level the host does not record costs no log volume: it is neither
        // counted against the allowances nor dropped.
        let recorded = match level {
            tracing::Level::TRACE => tracing::enabled!(tracing::Level::TRACE),
            tracing::Level::DEBUG => tracing::enabled!(tracing::Level::DEBUG),
            tracing::Level::INFO => tracing::enabled!(tracing::Level::INFO),
            tracing::Level::WARN => tracing::enabled!(tracing::Level::WARN),
            tracing::Level::ERROR => tracing::enabled!(tracing::Level::ERROR),
        };
        if !recorded {
            return Ok(());
        }
        if self.log_used + message.len() > self.scope.log_bytes {
            self.log_dropped += message.len();
            return Ok(());
        }
        if let Some(quota) = &self.scope.quota
            && !quota.take_log(message.len())
        {
            self.log_dropped += message.len();
            self.scope.metrics.refused(
                Refusal::Quota,
                &self.scope.tenant,
                &self.scope.plugin,
                "log-bytes",
            );
            return Ok(());
        }
        self.log_used += message.len();
        let tenant = self.scope.tenant.as_str();
        let plugin = &*self.scope.plugin;
        match level {
            tracing::Level::TRACE => tracing::trace!(tenant, plugin, "{message}"),
            tracing::Level::DEBUG => tracing::debug!(tenant, plugin, "{message}"),
            tracing::Level::INFO => tracing::info!(tenant, plugin, "{message}"),
            tracing::Level::WARN => tracing::warn!(tenant, plugin, "{message}"),
            tracing::Level::ERROR => tracing::error!(tenant, plugin, "{message}"),
        }
        Ok(())
    }
}

fn metric_result(r: Result<(), CustomMetricError>) -> Result<(), types::Error> {
    r.map_err(|e| match e {
        CustomMetricError::TooManyNames => types::Error::QuotaExceeded(e.to_string()),
        other => types::Error::Other(other.to_string()),
    })
}

impl HostState {
    fn metric_counter_add(
        &mut self,
        name: String,
        value: u64,
    ) -> wasmtime::Result<Result<(), types::Error>> {
        self.check_budget()?;
        if let Err(e) = self.require(Capability::Metrics) {
            return Ok(Err(e));
        }
        let s = &self.scope;
        Ok(metric_result(
            s.metrics.counter_add(&s.tenant, &s.plugin, &name, value),
        ))
    }

    fn metric_gauge_set(
        &mut self,
        name: String,
        value: f64,
    ) -> wasmtime::Result<Result<(), types::Error>> {
        self.check_budget()?;
        if let Err(e) = self.require(Capability::Metrics) {
            return Ok(Err(e));
        }
        let s = &self.scope;
        Ok(metric_result(
            s.metrics.gauge_set(&s.tenant, &s.plugin, &name, value),
        ))
    }
}

impl HostState {
    /// The calendar a plugin names: `None` or `"tenant"` is the tenant's own. A calendar
    /// the bundle does not declare is the plugin's configuration error, named.
    fn calendar(&self, name: Option<&str>) -> Result<&Calendar, types::Error> {
        let Some(calendars) = self.scope.calendars.as_deref() else {
            return Err(types::Error::InvalidConfig(
                "the tenant declares no calendar; add `[calendar]` to its tenant.toml".into(),
            ));
        };
        let name = name.unwrap_or(Calendars::TENANT);
        calendars.get(name).ok_or_else(|| {
            types::Error::InvalidConfig(format!(
                "the tenant declares no calendar {name:?} (it declares: {})",
                declared(calendars).join(", ")
            ))
        })
    }
}

/// The calendars a tenant declares, its own first.
fn declared(calendars: &Calendars) -> Vec<String> {
    std::iter::once(Calendars::TENANT)
        .chain(calendars.names())
        .map(str::to_owned)
        .collect()
}

/// An instant a plugin hands over, in milliseconds since the epoch.
fn instant(ms: i64) -> Result<DateTime<chrono::Utc>, types::Error> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| types::Error::Other(format!("{ms} ms is not an instant the calendar knows")))
}

/// The calendar import of the versions that have it (0.2.0 on), handed to the tenant's
/// calendars; each version has its own record types, so each gets its own copy.
macro_rules! calendar_imports {
    ($v:ident) => {
        const _: () = {
            use $v::leitstand::plugin::calendar as wit_calendar;

            impl wit_calendar::Host for HostState {
                fn is_open(
                    &mut self,
                    calendar: Option<String>,
                    at: i64,
                ) -> wasmtime::Result<Result<bool, types::Error>> {
                    self.check_budget()?;
                    Ok(self
                        .calendar(calendar.as_deref())
                        .and_then(|c| Ok(c.is_open(instant(at)?))))
                }

                fn next_change(
                    &mut self,
                    calendar: Option<String>,
                    after: i64,
                ) -> wasmtime::Result<Result<Option<wit_calendar::Change>, types::Error>> {
                    self.check_budget()?;
                    Ok(self.calendar(calendar.as_deref()).and_then(|c| {
                        Ok(c.next_change(instant(after)?)
                            .map(|change| wit_calendar::Change {
                                opens: matches!(change, Change::Opens(_)),
                                at: change.at().timestamp_millis(),
                            }))
                    }))
                }

                fn day(
                    &mut self,
                    calendar: Option<String>,
                    date: String,
                ) -> wasmtime::Result<Result<wit_calendar::LocalDay, types::Error>> {
                    self.check_budget()?;
                    let Ok(local) = NaiveDate::parse_from_str(&date, "%Y-%m-%d") else {
                        return Ok(Err(types::Error::Other(format!(
                            "{date:?} is not a date YYYY-MM-DD"
                        ))));
                    };
                    Ok(self
                        .calendar(calendar.as_deref())
                        .map(|c| local_day(c.day(local))))
                }

                fn day_at(
                    &mut self,
                    calendar: Option<String>,
                    at: i64,
                ) -> wasmtime::Result<Result<wit_calendar::LocalDay, types::Error>> {
                    self.check_budget()?;
                    Ok(self.calendar(calendar.as_deref()).and_then(|c| {
                        let local = instant(at)?.with_timezone(&c.timezone()).date_naive();
                        Ok(local_day(c.day(local)))
                    }))
                }

                fn always_open(
                    &mut self,
                    calendar: Option<String>,
                ) -> wasmtime::Result<Result<bool, types::Error>> {
                    self.check_budget()?;
                    Ok(self
                        .calendar(calendar.as_deref())
                        .map(Calendar::always_open))
                }

                fn calendars(&mut self) -> wasmtime::Result<Vec<String>> {
                    self.check_budget()?;
                    Ok(self
                        .scope
                        .calendars
                        .as_deref()
                        .map(declared)
                        .unwrap_or_default())
                }
            }

            /// A day of a calendar as the contract hands it to a plugin.
            fn local_day(day: leitstand_calendar::Day) -> wit_calendar::LocalDay {
                wit_calendar::LocalDay {
                    date: day.date.format("%Y-%m-%d").to_string(),
                    spans: day
                        .spans
                        .iter()
                        .map(|s| wit_calendar::Span {
                            // Minutes of a day, 0 to 1440: they fit.
                            open: u16::try_from(s.open().minutes()).unwrap_or(u16::MAX),
                            close: u16::try_from(s.close().minutes()).unwrap_or(u16::MAX),
                        })
                        .collect(),
                    rule: match day.kind {
                        DayKind::Special { label } => wit_calendar::DayRule::Special(label),
                        DayKind::Closed { label } => wit_calendar::DayRule::Closed(label),
                        DayKind::Holiday(h) => wit_calendar::DayRule::Holiday(h.label.to_owned()),
                        DayKind::Regular => wit_calendar::DayRule::Regular,
                    },
                }
            }
        };
    };
}

calendar_imports!(v0_2);
calendar_imports!(v0_3);

/// The WASI wall clock a plugin sees: frozen at the event's time, which its
/// [`CallWorld`] sets for every call.
pub(crate) struct EventClock(Arc<AtomicI64>);

impl wasmtime_wasi::HostWallClock for EventClock {
    fn resolution(&self) -> Duration {
        Duration::from_millis(1)
    }

    fn now(&self) -> Duration {
        Duration::from_millis(u64::try_from(self.0.load(Ordering::Relaxed)).unwrap_or(0))
    }
}

/// A WASI random generator seeded anew for every call by its [`CallWorld`]; clones share
/// it.
#[derive(Clone)]
struct CallRng(Arc<Mutex<StdRng>>);

impl CallRng {
    fn new(seed: [u8; 32]) -> Self {
        Self(Arc::new(Mutex::new(StdRng::from_seed(seed))))
    }

    fn lock(&self) -> MutexGuard<'_, StdRng> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl TryRng for CallRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(self.lock().next_u32())
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(self.lock().next_u64())
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.lock().fill_bytes(dst);
        Ok(())
    }
}

/// What of a WASI context is one call's own: the event clock, the secure and the insecure
/// random generators (both seeded by the event) and the bounded stdout and stderr. The
/// context holds handles to these, so that an instance kept for its plugin's next event
/// keeps its context and gets a call's world by [`Self::begin`] instead of a context
/// built anew. `insecure-seed`, which the context answers by value, stays what it was
/// when the context was built: for a prepared instance, its preparation's.
pub(crate) struct CallWorld {
    clock: Arc<AtomicI64>,
    secure: CallRng,
    insecure: CallRng,
    stdout: BoundedOutput,
    pub(crate) stderr: BoundedOutput,
}

impl CallWorld {
    /// A world at `now_ms`, seeded by `seed`, with empty outputs of `stdio_bytes` each;
    /// and the WASI context that reaches it (no network, no files, no environment).
    pub(crate) fn new(now_ms: i64, seed: [u8; 32], stdio_bytes: usize) -> (Self, WasiCtx) {
        let world = Self {
            clock: Arc::new(AtomicI64::new(now_ms)),
            secure: CallRng::new(seed),
            insecure: CallRng::new(seed),
            stdout: BoundedOutput::new(stdio_bytes),
            stderr: BoundedOutput::new(stdio_bytes),
        };
        let mut wasi = WasiCtx::builder();
        wasi.stdout(world.stdout.clone())
            .stderr(world.stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .wall_clock(EventClock(world.clock.clone()))
            .monotonic_clock(FrozenMonotonic)
            .secure_random(world.secure.clone())
            .insecure_random(world.insecure.clone())
            .insecure_random_seed(u128::from_le_bytes(
                seed[..16].try_into().unwrap_or_default(),
            ));
        (world, wasi.build())
    }

    /// Sets the world for the next call: the clock at `now_ms`, both generators seeded by
    /// `seed` (as a context built for the call would seed them), empty outputs.
    pub(crate) fn begin(&self, now_ms: i64, seed: [u8; 32]) {
        self.clock.store(now_ms, Ordering::Relaxed);
        *self.secure.lock() = StdRng::from_seed(seed);
        *self.insecure.lock() = StdRng::from_seed(seed);
        self.stdout.clear();
        self.stderr.clear();
    }
}

/// The WASI monotonic clock a plugin sees: it does not move during a call.
pub(crate) struct FrozenMonotonic;

impl wasmtime_wasi::HostMonotonicClock for FrozenMonotonic {
    fn resolution(&self) -> u64 {
        1_000_000
    }

    fn now(&self) -> u64 {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spins on this thread until it has used `cpu` more of CPU time.
    fn burn(cpu: Duration) {
        let start = cpu_time::ThreadTime::now();
        let mut x = 0u64;
        while start.elapsed() < cpu {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
    }

    #[test]
    fn the_cpu_count_starts_at_the_first_tick_and_stops_a_call_over_its_limit_after_it() {
        let mut budget = Budget::start(Duration::from_millis(20), Duration::from_secs(60));
        // Before the first tick nothing is charged: no clock was read.
        burn(Duration::from_millis(30));
        assert!(budget.exceeded().is_none(), "charged before its first tick");
        burn(Duration::from_millis(10));
        assert!(budget.exceeded().is_none(), "10 ms is within 20 ms");
        burn(Duration::from_millis(15));
        match budget.exceeded() {
            Some(Abort::Cpu(limit)) => assert_eq!(limit, Duration::from_millis(20)),
            other => panic!("expected the CPU limit, got {other:?}"),
        }
    }

    /// What a call sees through `wasi`: the wall clock (ms), 32 secure and 32 insecure
    /// random bytes.
    fn seen(wasi: &mut WasiCtx) -> (u64, Vec<u8>, Vec<u8>) {
        use wasmtime_wasi::p2::bindings::clocks::wall_clock::Host as _;
        use wasmtime_wasi::p2::bindings::random::{insecure::Host as _, random::Host as _};
        let mut table = ResourceTable::new();
        let now = wasmtime_wasi::clocks::WasiClocksCtxView {
            ctx: wasi.clocks(),
            table: &mut table,
        }
        .now()
        .expect("clock");
        let secure = wasi.random().get_random_bytes(32).expect("random");
        let insecure = wasi.random().get_insecure_random_bytes(32).expect("random");
        (now.seconds * 1000, secure, insecure)
    }

    #[test]
    fn a_kept_context_sees_each_call_as_a_context_built_for_it_would() {
        let (first, second) = ([1; 32], [2; 32]);
        let (world, mut kept) = CallWorld::new(0, first, 64);
        seen(&mut kept);
        world.stderr.push(b"left over from the last call");
        world.begin(1_700_000_000_000, second);
        let (_, mut built) = CallWorld::new(1_700_000_000_000, second, 64);
        let (now, secure, insecure) = seen(&mut kept);
        assert_eq!(now, 1_700_000_000_000);
        assert_eq!((now, secure.clone(), insecure), seen(&mut built));
        assert_ne!(secure, seen(&mut CallWorld::new(0, first, 64).1).1);
        assert_eq!(world.stderr.take(), (String::new(), 0));
    }

    #[test]
    fn the_wall_clock_limit_counts_from_the_start() {
        let mut budget = Budget::start(Duration::from_secs(60), Duration::from_millis(5));
        std::thread::sleep(Duration::from_millis(10));
        assert!(matches!(budget.wall_exceeded(), Some(Abort::Wall(_))));
        assert!(matches!(budget.exceeded(), Some(Abort::Wall(_))));
    }
}
