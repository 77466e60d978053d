//! Fair scheduling of sandbox time between tenants.
//!
//! Each tenant's worker runs one batch at a time (per-tenant concurrency one). Building a
//! batch — running its plugins — needs one of a fixed number of slots (`[sandbox] slots`,
//! by default one per core). When tenants wait for a slot, the one that has used the least
//! sandbox time gets it next (start-time fair queueing), so a tenant whose plugins burn CPU
//! cannot crowd out a neighbour: it waits behind the neighbour's short batches instead of
//! the other way round.
//!
//! Slots bound how many batches run at once; the CPU the plugins may take together is a
//! budget of its own (`[sandbox] plugin_cores`, by default one core fewer than the
//! machine has, so that the broker connection, the store and the relay keep a core).
//! While several tenants are busy, each may use its equal part of that budget; one that
//! has lately used more waits before it asks again. So an expensive tenant takes at most
//! its part of the CPU, and, holding one slot at most, leaves the others free: a
//! neighbour's short batch does not wait behind its long one. Workers also cut their
//! batches to about one time slice of sandbox time (see [`Slice`]), so that no batch holds
//! a slot for long.
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use leitstand_contract::envelope::TenantId;

struct Waiter {
    /// The tenant's virtual time when it asked.
    tag: Duration,
    /// Order of arrival, to break ties.
    seq: u64,
    wake: oneshot::Sender<()>,
}

#[derive(Default)]
struct Inner {
    free: usize,
    /// Sandbox time used per tenant, never behind the scheduler's virtual time when the
    /// tenant asks again (idle time earns no credit).
    used: HashMap<TenantId, Duration>,
    /// The start tag of the batch granted last.
    virtual_time: Duration,
    waiting: Vec<Waiter>,
    seq: u64,
    /// Per tenant: sandbox time used lately (decaying with [`PACE_WINDOW`]) and when it
    /// last asked for a slot.
    recent: HashMap<TenantId, Recent>,
    /// Sandbox seconds per second the busy tenants share while more than one is busy.
    budget: f64,
}

/// How long a tenant's use of sandbox time weighs in its pace.
const PACE_WINDOW: Duration = Duration::from_secs(1);

/// The longest a tenant is held back at once for having used more than its share.
const MAX_PACE: Duration = Duration::from_millis(250);

#[derive(Clone, Copy)]
struct Recent {
    /// Sandbox time used, decayed exponentially over [`PACE_WINDOW`].
    load: f64,
    /// When `load` was last brought up to date.
    at: Instant,
    /// When the tenant last asked for a slot.
    asked: Instant,
}

impl Recent {
    fn decayed(&self, now: Instant) -> f64 {
        let dt = now.saturating_duration_since(self.at).as_secs_f64();
        self.load * (-dt / PACE_WINDOW.as_secs_f64()).exp()
    }
}

/// The slots of sandbox time, handed out fairly.
pub struct FairScheduler {
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for FairScheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FairScheduler").finish_non_exhaustive()
    }
}

/// A held slot; dropping it gives it back as [`Permit::release`] does.
pub struct Permit<'a> {
    scheduler: &'a FairScheduler,
    tenant: Option<TenantId>,
    started: Instant,
    /// How long the tenant was held back for having used more than its part.
    pub paced: Duration,
    /// How long it then waited for a free slot.
    pub queued: Duration,
}

impl Permit<'_> {
    /// Gives the slot back and charges the tenant the time it was held.
    pub fn release(mut self) -> Duration {
        let held = self.started.elapsed();
        if let Some(tenant) = self.tenant.take() {
            self.scheduler.give_back(&tenant, held);
        }
        held
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if let Some(tenant) = self.tenant.take() {
            self.scheduler.give_back(&tenant, self.started.elapsed());
        }
    }
}

impl FairScheduler {
    /// A scheduler with `slots` slots (at least one) whose busy tenants share a budget of
    /// `cores` cores of sandbox time (at most the slots; a budget that is not a positive
    /// number is one core).
    pub fn new(slots: usize, cores: f64) -> Self {
        let slots = slots.max(1);
        let budget = if cores.is_finite() && cores > 0.0 {
            cores.min(slots as f64)
        } else {
            1.0
        };
        Self {
            inner: Mutex::new(Inner {
                free: slots,
                budget,
                ..Inner::default()
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How long `tenant` should wait before it asks for a slot: while other tenants are
    /// busy too and together use more than the budget, a tenant that has lately used more
    /// than its share of the budget (the budget over the busy tenants) waits until its use
    /// has decayed to its share. A tenant alone is never held back, nor one whose
    /// neighbours leave room in the budget.
    fn pace(&self, tenant: &TenantId) -> Duration {
        let mut inner = self.lock();
        let now = Instant::now();
        let recent = *inner.recent.entry(tenant.clone()).or_insert(Recent {
            load: 0.0,
            at: now,
            asked: now,
        });
        if let Some(r) = inner.recent.get_mut(tenant) {
            r.asked = now;
        }
        let busy = inner
            .recent
            .values()
            .filter(|r| now.saturating_duration_since(r.asked) < PACE_WINDOW)
            .count()
            .max(1);
        if busy < 2 {
            return Duration::ZERO;
        }
        // While the busy tenants together stay within the budget, nobody is crowded out:
        // holding one back would only leave the CPU idle and its callers waiting (after a
        // burst, for up to `MAX_PACE`).
        let budget = inner.budget * PACE_WINDOW.as_secs_f64();
        let together: f64 = inner
            .recent
            .values()
            .filter(|r| now.saturating_duration_since(r.asked) < PACE_WINDOW)
            .map(|r| r.decayed(now))
            .sum();
        if together <= budget {
            return Duration::ZERO;
        }
        let share = budget / busy as f64;
        let load = recent.decayed(now);
        if load <= share {
            return Duration::ZERO;
        }
        // load · e^(−t/W) = share  ⇒  t = W · ln(load / share)
        let wait = PACE_WINDOW.as_secs_f64() * (load / share).ln();
        Duration::from_secs_f64(wait).min(MAX_PACE)
    }

    /// Waits for a slot for `tenant`.
    pub async fn acquire(&self, tenant: &TenantId) -> Permit<'_> {
        let pace = self.pace(tenant);
        if !pace.is_zero() {
            tokio::time::sleep(pace).await;
        }
        let asked = Instant::now();
        let rx = {
            let mut inner = self.lock();
            let vt = inner.virtual_time;
            let used = inner.used.entry(tenant.clone()).or_default();
            *used = (*used).max(vt);
            let tag = *used;
            if inner.free > 0 && inner.waiting.is_empty() {
                inner.free -= 1;
                inner.virtual_time = tag;
                None
            } else {
                let (tx, rx) = oneshot::channel();
                inner.seq += 1;
                let seq = inner.seq;
                inner.waiting.push(Waiter { tag, seq, wake: tx });
                Some(rx)
            }
        };
        if let Some(rx) = rx {
            // The sender is dropped only after a slot was handed to this waiter; an error
            // means the scheduler itself is gone, and then there is nothing to share.
            let _ = rx.await;
        }
        let started = Instant::now();
        Permit {
            scheduler: self,
            tenant: Some(tenant.clone()),
            started,
            paced: pace,
            queued: started - asked,
        }
    }

    fn give_back(&self, tenant: &TenantId, held: Duration) {
        let mut inner = self.lock();
        *inner.used.entry(tenant.clone()).or_default() += held;
        let now = Instant::now();
        let r = inner.recent.entry(tenant.clone()).or_insert(Recent {
            load: 0.0,
            at: now,
            asked: now,
        });
        r.load = r.decayed(now) + held.as_secs_f64();
        r.at = now;
        inner.free += 1;
        while inner.free > 0 && !inner.waiting.is_empty() {
            let next = inner
                .waiting
                .iter()
                .enumerate()
                .min_by_key(|(_, w)| (w.tag, w.seq))
                .map(|(i, _)| i)
                .unwrap_or(0);
            let w = inner.waiting.swap_remove(next);
            // A waiter whose worker has gone (its future dropped) takes no slot.
            if w.wake.send(()).is_ok() {
                inner.free -= 1;
                inner.virtual_time = inner.virtual_time.max(w.tag);
            }
        }
    }
}

/// Runs `work` on a thread of its own at a lower CPU priority (`nicer` than the daemon, at
/// most nice 19), and
/// waits for it: for the batch of a tenant that has used more than its part, so that the
/// CPU it takes is the CPU nothing else of higher priority wants — its neighbours'
/// plugins and pipelines, the broker on the same machine. Its plugins' CPU limits are
/// unchanged (CPU time is what they count); their wall-clock limits bound how long they
/// may be kept waiting for a core. Where a thread cannot be started, `work` runs here.
pub fn yielding<R: Send>(nicer: i32, work: impl FnOnce() -> R + Send) -> R {
    // The thread borrows `work` and takes it; one that never started leaves it here.
    let mut work = Some(work);
    let ran = std::thread::scope(|scope| {
        let started = std::thread::Builder::new()
            .name("leitstand-yield".into())
            .spawn_scoped(scope, || {
                // The calling thread's nice value (per thread on Linux); a failure leaves
                // the batch at normal priority.
                let lowered = rustix::process::getpriority_process(None)
                    .map(|own| own.saturating_add(nicer).min(19))
                    .and_then(|nice| rustix::process::setpriority_process(None, nice));
                if let Err(e) = lowered {
                    tracing::debug!(error = %e, "cannot lower a batch's CPU priority");
                }
                work.take().map(|w| w())
            });
        match started {
            Ok(thread) => thread
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Err(e) => {
                tracing::debug!(error = %e, "cannot start a thread for a yielding batch");
                None
            }
        }
    });
    match ran.or_else(|| work.take().map(|w| w())) {
        Some(r) => r,
        None => unreachable!("a started thread takes the work and returns its result"),
    }
}

/// How many events a worker takes into one batch: about one time slice of sandbox time,
/// from the cost per event seen so far, between one and the store's batch size.
#[derive(Debug, Clone, Copy)]
pub struct Slice {
    target: Duration,
    /// Smoothed sandbox time per event.
    per_event: Option<Duration>,
}

impl Slice {
    /// A slice of `target`.
    pub fn new(target: Duration) -> Self {
        Self {
            target,
            per_event: None,
        }
    }

    /// The batch size for the next batch, at most `batch_max`.
    pub fn events(&self, batch_max: usize) -> usize {
        match self.per_event {
            Some(cost) if !cost.is_zero() => {
                let n = self.target.as_nanos() / cost.as_nanos();
                usize::try_from(n)
                    .unwrap_or(usize::MAX)
                    .clamp(1, batch_max.max(1))
            }
            _ => batch_max.max(1),
        }
    }

    /// Learns from a batch of `events` that held a slot for `took`.
    pub fn observe(&mut self, events: usize, took: Duration) {
        if events == 0 {
            return;
        }
        let cost = took / u32::try_from(events).unwrap_or(u32::MAX);
        self.per_event = Some(match self.per_event {
            // An exponential average that weighs the newest batch by a quarter.
            Some(old) => (old * 3 + cost) / 4,
            None => cost,
        });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn t(s: &str) -> TenantId {
        TenantId::parse(s).expect("valid")
    }

    #[tokio::test]
    async fn the_tenant_that_used_least_goes_first() {
        let s = Arc::new(FairScheduler::new(1, 1.0));
        let holder = s.acquire(&t("other")).await;
        // The hog has used 100 ms of sandbox time before, the calm tenant nothing.
        s.lock().used.insert(t("hog"), Duration::from_millis(100));
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for name in ["hog", "calm"] {
            let (s, order) = (s.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let permit = s.acquire(&t(name)).await;
                order
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(name);
                permit.release();
            }));
            // The hog asks first.
            tokio::task::yield_now().await;
        }
        holder.release();
        for task in tasks {
            task.await.expect("task");
        }
        let order = order.lock().unwrap_or_else(PoisonError::into_inner).clone();
        assert_eq!(order, ["calm", "hog"]);
    }

    #[tokio::test]
    async fn slots_are_shared_and_given_back() {
        let s = FairScheduler::new(2, 1.0);
        let a = s.acquire(&t("a")).await;
        let b = s.acquire(&t("b")).await;
        assert_eq!(s.lock().free, 0);
        drop(a);
        assert_eq!(s.lock().free, 1);
        b.release();
        assert_eq!(s.lock().free, 2);
        let inner = s.lock();
        assert!(inner.used.contains_key(&t("a")) && inner.used.contains_key(&t("b")));
    }

    #[test]
    fn a_busy_tenant_over_its_share_is_paced_only_beside_another() {
        let s = FairScheduler::new(1, 1.0);
        // Alone, however much it used, it is never held back.
        s.give_back(&t("hog"), Duration::from_millis(900));
        s.lock().free -= 1;
        assert_eq!(s.pace(&t("hog")), Duration::ZERO);
        // With a neighbour busy too but using nothing, the two stay within the budget:
        // holding the hog back would only leave the core idle.
        assert_eq!(s.pace(&t("calm")), Duration::ZERO);
        assert_eq!(s.pace(&t("hog")), Duration::ZERO);
        // Once the neighbour uses the core too, together over the budget, the hog's share
        // is half of it: 0.9 s used lately is over it.
        s.give_back(&t("calm"), Duration::from_millis(300));
        s.lock().free -= 1;
        let wait = s.pace(&t("hog"));
        assert!(
            wait > Duration::from_millis(100) && wait <= MAX_PACE,
            "{wait:?}"
        );
        // The neighbour, under its share, goes at once.
        assert_eq!(s.pace(&t("calm")), Duration::ZERO);
    }

    #[tokio::test]
    async fn a_neighbour_finds_a_slot_free_beside_a_busy_tenant_paced_to_its_part() {
        use futures_util::FutureExt;
        // Two slots, a budget of one core: the busy tenant's one batch leaves a slot free.
        let s = FairScheduler::new(2, 1.0);
        let hog = s.acquire(&t("hog")).await;
        let calm = s
            .acquire(&t("calm"))
            .now_or_never()
            .expect("a free slot at once");
        calm.release();
        hog.release();
        // Its part is the budget, not the slots: beside a neighbour's 0.4 s, 0.7 s lately
        // is over half a core…
        s.give_back(&t("hog"), Duration::from_millis(700));
        s.give_back(&t("calm"), Duration::from_millis(400));
        s.lock().free -= 2;
        assert_eq!(s.pace(&t("calm")), Duration::ZERO);
        assert!(s.pace(&t("hog")) > Duration::ZERO);
        // …and within half of two cores.
        let roomy = FairScheduler::new(2, 2.0);
        roomy.give_back(&t("hog"), Duration::from_millis(700));
        roomy.lock().free -= 1;
        assert_eq!(roomy.pace(&t("calm")), Duration::ZERO);
        assert_eq!(roomy.pace(&t("hog")), Duration::ZERO);
        // The budget is at most the slots, and a budget that is no number is one core.
        assert_eq!(FairScheduler::new(1, 4.0).lock().budget, 1.0);
        assert_eq!(FairScheduler::new(3, f64::NAN).lock().budget, 1.0);
        assert_eq!(FairScheduler::new(3, 0.5).lock().budget, 0.5);
    }

    #[test]
    fn a_yielding_batch_runs_at_a_lower_priority_and_returns_its_result() {
        let here = rustix::process::getpriority_process(None).expect("own priority");
        let (there, name) = yielding(10, || {
            (
                rustix::process::getpriority_process(None).expect("own priority"),
                std::thread::current().name().map(str::to_owned),
            )
        });
        assert_eq!(name.as_deref(), Some("leitstand-yield"));
        assert_eq!(there, (here + 10).min(19));
        // This thread keeps its own.
        assert_eq!(
            rustix::process::getpriority_process(None).expect("own"),
            here
        );
        let borrowed = String::from("borrowed");
        assert_eq!(yielding(5, || borrowed.len()), 8);
    }

    #[test]
    fn slices_follow_the_cost_per_event() {
        let mut slice = Slice::new(Duration::from_millis(50));
        assert_eq!(slice.events(256), 256);
        // 10 events took 200 ms: 20 ms each, so 2 fit into 50 ms.
        slice.observe(10, Duration::from_millis(200));
        assert_eq!(slice.events(256), 2);
        // Cheap batches bring it back up, never above the batch size.
        for _ in 0..40 {
            slice.observe(256, Duration::from_millis(5));
        }
        assert_eq!(slice.events(256), 256);
        // A very expensive event still makes a batch of one.
        slice.observe(1, Duration::from_secs(10));
        assert_eq!(slice.events(256), 1);
    }
}
