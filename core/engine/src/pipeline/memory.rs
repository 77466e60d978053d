//! A journal in memory: what a batch commits kept in maps of one process, for drivers whose
//! state need not outlive them — the simulator's runs, each a day on a throw-away journal.
//! It keeps what the durable store keeps, by the same rules (a timer set again replaces the
//! one pending, a fired one is kept apart, a cancel removes only a pending one), so the
//! pipeline decides on it exactly as on the store; it only skips the database and the
//! thread hop of every statement.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

use foldhash::HashSet as FastSet;
use leitstand_contract::envelope::TenantId;
use leitstand_contract::journal::{
    Commit, Fence, Journal, JournalError, KeptBoard, Opening, StateUsage, StoredTimer, TimerChange,
};
use leitstand_contract::wire::OutboxEntry;

#[derive(Debug, Default)]
struct Kept {
    state: BTreeMap<(String, String), Vec<u8>>,
    processed: FastSet<String>,
    /// Timers by (plugin, name), with the time they fired, if they did.
    timers: BTreeMap<(String, String), (StoredTimer, Option<i64>)>,
    outbox: BTreeMap<i64, OutboxEntry>,
    board: Option<Board>,
}

/// The board's summary and its calls waiting by call id.
type Board = (Vec<u8>, BTreeMap<String, Vec<u8>>);

/// A journal kept in memory; clones share it. Each tenant's part has a lock of its own, so
/// that jobs running different tenants (a replay's) do not wait for each other's commits.
#[derive(Debug, Clone, Default)]
pub struct MemoryJournal {
    tenants: Arc<Mutex<BTreeMap<TenantId, Arc<Mutex<Kept>>>>>,
}

impl MemoryJournal {
    /// An empty journal.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<R>(&self, tenant: &TenantId, f: impl FnOnce(&mut Kept) -> R) -> R {
        let kept = {
            let mut all = self.tenants.lock().unwrap_or_else(|p| p.into_inner());
            all.entry(tenant.clone()).or_default().clone()
        };
        let mut kept = kept.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut kept)
    }

    /// Clears `seqs` from `tenant`'s outbox: those messages went out.
    pub fn outbox_done(&self, tenant: &TenantId, seqs: &[i64]) {
        self.with(tenant, |k| {
            for s in seqs {
                k.outbox.remove(s);
            }
        });
    }
}

impl Journal for MemoryJournal {
    async fn open(&self, tenant: &TenantId) -> Result<Opening, JournalError> {
        Ok(self.with(tenant, |k| {
            let mut pending: Vec<StoredTimer> = k
                .timers
                .values()
                .filter(|(_, fired)| fired.is_none())
                .map(|(t, _)| t.clone())
                .collect();
            pending.sort_by_key(|t| (t.due_ms, t.seq));
            Opening {
                pending,
                // As the store answers it: the largest sequence of the timers it keeps.
                last_timer_seq: k.timers.values().map(|(t, _)| t.seq).max().unwrap_or(0),
                outbox: k.outbox.values().cloned().collect(),
                last_outbox_seq: k.outbox.keys().next_back().copied().unwrap_or(0),
                has_state: !k.state.is_empty(),
                board: k.board.as_ref().map(|(summary, calls)| KeptBoard {
                    summary: summary.clone(),
                    calls: calls.iter().map(|(c, v)| (c.clone(), v.clone())).collect(),
                }),
            }
        }))
    }

    async fn processed_among(
        &self,
        tenant: &TenantId,
        keys: &[String],
    ) -> Result<HashSet<String>, JournalError> {
        Ok(self.with(tenant, |k| {
            keys.iter()
                .filter(|key| k.processed.contains(*key))
                .cloned()
                .collect()
        }))
    }

    async fn get(
        &self,
        tenant: &TenantId,
        plugin: &str,
        key: &str,
    ) -> Result<Option<Vec<u8>>, JournalError> {
        Ok(self.with(tenant, |k| {
            k.state.get(&(plugin.to_owned(), key.to_owned())).cloned()
        }))
    }

    async fn usage(&self, tenant: &TenantId) -> Result<StateUsage, JournalError> {
        Ok(self.with(tenant, |k| StateUsage {
            keys: k.state.len() as u64,
            bytes: k
                .state
                .iter()
                .map(|((_, key), value)| (key.len() + value.len()) as u64)
                .sum(),
        }))
    }

    async fn commit(
        &self,
        tenant: &TenantId,
        commit: &Commit,
        _fence: Option<&Fence>,
    ) -> Result<(), JournalError> {
        self.with(tenant, |k| {
            for (key, value) in &commit.writes {
                match value {
                    Some(v) => k.state.insert(key.clone(), v.clone()),
                    None => k.state.remove(key),
                };
            }
            for ((plugin, name), change) in &commit.timers {
                let key = (plugin.clone(), name.clone());
                match change {
                    TimerChange::Set {
                        due_ms,
                        payload,
                        seq,
                    } => {
                        let timer = StoredTimer {
                            plugin: plugin.clone(),
                            name: name.clone(),
                            due_ms: *due_ms,
                            payload: payload.clone(),
                            seq: *seq,
                        };
                        k.timers.insert(key, (timer, None));
                    }
                    TimerChange::Cancel => {
                        if k.timers.get(&key).is_some_and(|(_, fired)| fired.is_none()) {
                            k.timers.remove(&key);
                        }
                    }
                    TimerChange::Fired { seq, at_ms } => {
                        if let Some((t, fired)) = k.timers.get_mut(&key)
                            && t.seq == *seq
                        {
                            *fired = Some(*at_ms);
                        }
                    }
                }
            }
            k.processed.extend(commit.processed.iter().cloned());
            for entry in &commit.outbox {
                k.outbox.insert(entry.seq, entry.clone());
            }
            if let Some(change) = &commit.board {
                let (summary, calls) = k.board.get_or_insert_with(Default::default);
                summary.clone_from(&change.summary);
                for (call, value) in &change.calls {
                    match value {
                        Some(v) => calls.insert(call.clone(), v.clone()),
                        None => calls.remove(call),
                    };
                }
            }
        });
        Ok(())
    }

    async fn last_outbox_seq(&self, tenant: &TenantId) -> Result<i64, JournalError> {
        Ok(self.with(tenant, |k| {
            k.outbox.keys().next_back().copied().unwrap_or(0)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    fn set(due_ms: i64, seq: i64) -> TimerChange {
        TimerChange::Set {
            due_ms,
            payload: "{}".into(),
            seq,
        }
    }

    #[test]
    fn a_commit_is_what_the_next_opening_holds() {
        let j = MemoryJournal::new();
        let t = TenantId::parse("t").expect("tenant");
        let key = |n: &str| ("p".to_owned(), n.to_owned());
        let mut c = Commit::default();
        c.writes.insert(key("a"), Some(b"1".to_vec()));
        c.timers.insert(key("late"), set(200, 1));
        c.timers.insert(key("early"), set(100, 2));
        c.timers.insert(key("gone"), set(50, 3));
        c.processed.push("s/1".into());
        c.outbox.push(OutboxEntry {
            seq: 1,
            exchange: "x".into(),
            routing_key: "k".into(),
            properties: String::new(),
            body: b"b".to_vec(),
        });
        block(j.commit(&t, &c, None)).expect("commit");
        let mut c = Commit::default();
        c.timers.insert(key("gone"), TimerChange::Cancel);
        c.timers
            .insert(key("early"), TimerChange::Fired { seq: 2, at_ms: 7 });
        block(j.commit(&t, &c, None)).expect("commit");
        let o = block(j.open(&t)).expect("open");
        assert_eq!(
            o.pending
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>(),
            ["late"]
        );
        // The cancelled timer is gone, the fired one kept: the largest kept is 2.
        assert_eq!(o.last_timer_seq, 2);
        assert_eq!(o.last_outbox_seq, 1);
        assert!(o.has_state);
        let keys = ["s/1".to_owned(), "s/2".to_owned()];
        let seen = block(j.processed_among(&t, &keys)).expect("processed");
        assert_eq!(seen, HashSet::from(["s/1".to_owned()]));
        assert_eq!(
            block(j.get(&t, "p", "a")).expect("get"),
            Some(b"1".to_vec())
        );
        assert_eq!(
            block(j.usage(&t)).expect("usage"),
            StateUsage { keys: 1, bytes: 2 }
        );
        j.outbox_done(&t, &[1]);
        assert_eq!(block(j.last_outbox_seq(&t)).expect("seq"), 0);
    }
}
