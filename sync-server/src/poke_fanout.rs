//! Which open event streams a commit pokes. Each stream registers the scopes it watches
//! and its own scope (`user:<id>`, `device:<id>`); the fan-out keeps, per scope, the
//! streams that watch it, so a commit costs the streams it concerns, not every open
//! stream.
//!
//! Performance: every stream used to hold a receiver of the commits' broadcast and was
//! woken for every commit to check the touched scopes against its own. With 8,000 streams
//! open that took the absence rush on SQLite from 13,960 to 988 reports/s, the server's CPU
//! a report from 83 to 1,831 µs (docs/benchmarks.md, "Event streams"). Now one task hears
//! the broadcast ([`run`]) and wakes only the streams of the touched scopes.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, watch, Notify};

use crate::store::{TouchedScopes, POKE_EVERYONE};

/// The registry of open streams and the scopes they watch.
#[derive(Default)]
pub struct PokeFanout {
    inner: Mutex<Registry>,
}

#[derive(Default)]
struct Registry {
    next_id: u64,
    /// Scope → the streams watching it (a stream's own scope included).
    by_scope: HashMap<String, Vec<u64>>,
    streams: HashMap<u64, Entry>,
}

struct Entry {
    slot: Arc<Slot>,
    own: String,
    /// What the stream is registered under in `by_scope`, to take it out again.
    scopes: HashSet<String>,
}

/// Where the fan-out leaves a stream's wake-up.
#[derive(Default)]
struct Slot {
    notify: Notify,
    poke: AtomicBool,
    reload: AtomicBool,
}

impl Slot {
    fn wake(&self, reload: bool) {
        if reload {
            self.reload.store(true, Ordering::Release);
        }
        self.poke.store(true, Ordering::Release);
        // Stores a permit when the stream is not waiting: no wake-up is lost.
        self.notify.notify_one();
    }
}

/// Why a stream was woken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wake {
    /// The stream's own scope was touched (or everyone's, or announcements were missed):
    /// its scopes must be looked up again before it pokes.
    pub reload: bool,
}

/// A stream's registration; dropping it takes the stream out.
pub struct Subscription {
    fanout: Arc<PokeFanout>,
    id: u64,
    slot: Arc<Slot>,
}

impl Registry {
    fn add(&mut self, id: u64, scope: &str) {
        self.by_scope.entry(scope.to_string()).or_default().push(id);
    }

    fn remove(&mut self, id: u64, scope: &str) {
        if let Some(ids) = self.by_scope.get_mut(scope) {
            if let Some(i) = ids.iter().position(|x| *x == id) {
                ids.swap_remove(i);
            }
            if ids.is_empty() {
                self.by_scope.remove(scope);
            }
        }
    }
}

impl PokeFanout {
    fn lock(&self) -> MutexGuard<'_, Registry> {
        // A panic elsewhere while holding it leaves the maps whole: every change is one call.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a stream whose own scope is `own` and which watches `scopes`.
    pub fn subscribe(self: &Arc<Self>, own: String, scopes: impl IntoIterator<Item = String>) -> Subscription {
        let slot = Arc::new(Slot::default());
        let mut r = self.lock();
        let id = r.next_id;
        r.next_id += 1;
        let mut all: HashSet<String> = scopes.into_iter().collect();
        all.insert(own.clone());
        for s in &all {
            r.add(id, s);
        }
        r.streams.insert(id, Entry { slot: slot.clone(), own, scopes: all });
        Subscription { fanout: self.clone(), id, slot }
    }

    /// Wakes the streams that watch a scope `touched` names; those whose own scope it names,
    /// or all when it names everyone ([`POKE_EVERYONE`]), look their scopes up again.
    pub fn announce(&self, touched: &TouchedScopes) {
        if touched.contains(POKE_EVERYONE) {
            self.wake_all();
            return;
        }
        let r = self.lock();
        for scope in touched {
            let Some(ids) = r.by_scope.get(scope) else { continue };
            for id in ids {
                if let Some(e) = r.streams.get(id) {
                    e.slot.wake(e.own == *scope);
                }
            }
        }
    }

    /// Wakes every stream to look its scopes up again and poke.
    pub fn wake_all(&self) {
        let r = self.lock();
        for e in r.streams.values() {
            e.slot.wake(true);
        }
    }

    /// Open streams.
    pub fn len(&self) -> usize {
        self.lock().streams.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Scopes some stream watches (for tests: a closed stream leaves none behind).
    pub fn watched_scopes(&self) -> usize {
        self.lock().by_scope.len()
    }
}

impl Subscription {
    /// Waits until a commit concerns this stream.
    pub async fn woken(&self) -> Wake {
        loop {
            self.slot.notify.notified().await;
            let reload = self.slot.reload.swap(false, Ordering::AcqRel);
            if self.slot.poke.swap(false, Ordering::AcqRel) || reload {
                return Wake { reload };
            }
        }
    }

    /// The stream now watches `scopes` (besides its own), instead of what it watched.
    pub fn set_scopes(&self, scopes: impl IntoIterator<Item = String>) {
        let mut r = self.fanout.lock();
        let Some(mut e) = r.streams.remove(&self.id) else { return };
        let mut new: HashSet<String> = scopes.into_iter().collect();
        new.insert(e.own.clone());
        for gone in e.scopes.difference(&new) {
            r.remove(self.id, gone);
        }
        for added in new.difference(&e.scopes) {
            r.add(self.id, added);
        }
        e.scopes = new;
        r.streams.insert(self.id, e);
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut r = self.fanout.lock();
        if let Some(e) = r.streams.remove(&self.id) {
            for s in &e.scopes {
                r.remove(self.id, s);
            }
        }
    }
}

/// Hands every commit's touched scopes from the store's broadcast to `fanout` until
/// `shutdown`. Announcements missed (the channel ran over) wake every stream, to look its
/// scopes up again and poke: what was missed is unknown.
pub async fn run(
    fanout: Arc<PokeFanout>,
    mut commits: broadcast::Receiver<Arc<TouchedScopes>>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let next = tokio::select! {
            n = commits.recv() => n,
            _ = shutdown.wait_for(|stop| *stop) => return,
        };
        match next {
            Ok(touched) => fanout.announce(&touched),
            Err(RecvError::Lagged(n)) => {
                tracing::warn!(missed = n, "poke fan-out fell behind; waking every stream");
                fanout.wake_all();
            }
            Err(RecvError::Closed) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn touched(scopes: &[&str]) -> TouchedScopes {
        scopes.iter().map(|s| s.to_string()).collect()
    }

    async fn woken_soon(s: &Subscription) -> Option<Wake> {
        tokio::time::timeout(Duration::from_millis(50), s.woken()).await.ok()
    }

    #[tokio::test]
    async fn a_commit_wakes_only_the_streams_watching_a_scope_it_touched() {
        let f = Arc::new(PokeFanout::default());
        let a = f.subscribe("user:a".into(), ["child:1".to_string(), "unit:u".to_string()]);
        let b = f.subscribe("user:b".into(), ["child:2".to_string(), "unit:u".to_string()]);
        f.announce(&touched(&["child:1"]));
        assert_eq!(woken_soon(&a).await, Some(Wake { reload: false }));
        assert_eq!(woken_soon(&b).await, None);
        f.announce(&touched(&["unit:u", "child:9"]));
        assert_eq!(woken_soon(&a).await, Some(Wake { reload: false }));
        assert_eq!(woken_soon(&b).await, Some(Wake { reload: false }));
    }

    #[tokio::test]
    async fn a_touch_of_the_streams_own_scope_asks_it_to_look_its_scopes_up_again() {
        let f = Arc::new(PokeFanout::default());
        let a = f.subscribe("user:a".into(), ["child:1".to_string()]);
        f.announce(&touched(&["user:a"]));
        assert_eq!(woken_soon(&a).await, Some(Wake { reload: true }));
        // Once looked up, the next plain touch is plain.
        f.announce(&touched(&["child:1"]));
        assert_eq!(woken_soon(&a).await, Some(Wake { reload: false }));
    }

    #[tokio::test]
    async fn everyone_is_woken_to_look_up_their_scopes_when_a_commit_names_everyone() {
        let f = Arc::new(PokeFanout::default());
        let a = f.subscribe("user:a".into(), ["child:1".to_string()]);
        let b = f.subscribe("device:d".into(), Vec::<String>::new());
        f.announce(&touched(&[POKE_EVERYONE]));
        assert_eq!(woken_soon(&a).await, Some(Wake { reload: true }));
        assert_eq!(woken_soon(&b).await, Some(Wake { reload: true }));
    }

    #[tokio::test]
    async fn a_commit_announced_before_the_stream_waits_is_not_lost_and_wakes_it_once() {
        let f = Arc::new(PokeFanout::default());
        let a = f.subscribe("user:a".into(), ["child:1".to_string()]);
        f.announce(&touched(&["child:1"]));
        f.announce(&touched(&["child:1"]));
        assert_eq!(woken_soon(&a).await, Some(Wake { reload: false }));
        assert_eq!(woken_soon(&a).await, None, "two commits while busy are one poke");
    }

    #[tokio::test]
    async fn new_scopes_replace_the_old_and_a_closed_stream_leaves_nothing_behind() {
        let f = Arc::new(PokeFanout::default());
        let a = f.subscribe("user:a".into(), ["child:1".to_string()]);
        a.set_scopes(["child:2".to_string()]);
        f.announce(&touched(&["child:1"]));
        assert_eq!(woken_soon(&a).await, None);
        f.announce(&touched(&["child:2"]));
        assert_eq!(woken_soon(&a).await, Some(Wake { reload: false }));
        f.announce(&touched(&["user:a"]));
        assert_eq!(woken_soon(&a).await, Some(Wake { reload: true }), "its own scope stays watched");
        assert_eq!((f.len(), f.watched_scopes()), (1, 2));
        drop(a);
        assert_eq!((f.len(), f.watched_scopes()), (0, 0));
    }

    #[tokio::test]
    async fn the_fan_out_task_hands_commits_on_and_wakes_everyone_when_it_fell_behind() {
        let f = Arc::new(PokeFanout::default());
        let a = f.subscribe("user:a".into(), ["child:1".to_string()]);
        let b = f.subscribe("user:b".into(), ["child:2".to_string()]);
        let (tx, rx) = broadcast::channel(2);
        let (stop, stop_rx) = watch::channel(false);
        // Three commits into a channel of two before the task reads: it missed one.
        for s in ["child:7", "child:8", "child:9"] {
            tx.send(Arc::new(touched(&[s]))).unwrap();
        }
        let task = tokio::spawn(run(f.clone(), rx, stop_rx));
        assert_eq!(woken_soon(&a).await, Some(Wake { reload: true }));
        assert_eq!(woken_soon(&b).await, Some(Wake { reload: true }));
        tx.send(Arc::new(touched(&["child:2"]))).unwrap();
        assert_eq!(woken_soon(&b).await, Some(Wake { reload: false }));
        assert_eq!(woken_soon(&a).await, None);
        stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(1), task).await.unwrap().unwrap();
    }
}
