//! The SQLite writer's commits, from the moment they are visible to the moment they are
//! on disk: who is answered when.
//!
//! Performance: a group commit of the tablet rush writes a few MiB of WAL, and syncing it
//! took about 3 ms of the writer's 18 ms cycle, during which it ran nothing. Now the
//! commit only hands its frames to the kernel ([`super::wal_batch::defer_commit_sync`]),
//! the writer goes on with the next group at once, and the syncer thread syncs the WAL
//! (one sync for every commit waiting) and then answers.
//!
//! Nobody learns of a commit before it is on disk, so durability is what it was with a
//! sync inside each commit:
//! - A write job is answered (and its pokes sent, the commit counted in the generation)
//!   only after its commit was synced, by the syncer, in commit order.
//! - A read may run on a snapshot that holds a commit not yet synced (readers find the
//!   frames at once). Its answer waits until every commit the writer had begun when the
//!   read finished is settled ([`Durability::until_settled`]): at most one sync. So a device
//!   is never told of a change, nor given a cursor past it, that a power cut could undo.
//! - A later group reads what an unsynced commit wrote; its own answers come after its own
//!   sync, which covers the earlier commit too.
//! - If a sync fails the disk's state is unknown (the kernel may have dropped the pages):
//!   that commit and every later one are answered with an error, no later group runs, and
//!   reads that may have seen them fail too, until the server is restarted. What was not
//!   acknowledged the devices send again.

use std::any::Any;
use std::fs::File;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};

use tokio::sync::{broadcast, oneshot, watch};

use super::{StoreError, StoreResult, TouchedScopes};

pub(super) type Reply = oneshot::Sender<StoreResult<Box<dyn Any + Send>>>;

/// How the syncer syncs a WAL file: `File::sync_all` (what SQLite's own sync does on
/// Linux), replaced in tests to hold a sync back or fail it.
pub type SyncWal = Arc<dyn Fn(&File) -> std::io::Result<()> + Send + Sync>;

pub fn sync_all() -> SyncWal {
    Arc::new(File::sync_all)
}

/// Group-commit counters, bumped when a commit is settled.
#[derive(Default)]
pub(super) struct WriteCounters {
    /// Bumped after every commit, before anyone hears of it ([`super::Store::generation`]).
    pub generation: AtomicU64,
    /// Bumped after every commit that wrote users or tokens, before anyone hears of it
    /// ([`super::Store::session_generation`]).
    pub sessions: AtomicU64,
    pub commits: AtomicU64,
    pub jobs: AtomicU64,
    pub largest_group: AtomicU64,
}

/// Which commits may be visible and which are settled (synced, or rolled back).
pub(super) struct Durability {
    /// The number of the latest commit the writer began: set before its `COMMIT`, so a
    /// snapshot holding it was taken after this was set.
    began: AtomicU64,
    /// Every commit up to this number is settled (mirrors `watch`, read without a lock).
    settled: AtomicU64,
    watch: watch::Sender<u64>,
    /// A sync failed: nothing after the last settled commit is ever settled.
    failed: AtomicBool,
}

fn sync_failed() -> StoreError {
    StoreError::Database("the database's write-ahead log could not be synced to disk; restart the server".into())
}

impl Durability {
    pub fn new() -> Self {
        Durability { began: AtomicU64::new(0), settled: AtomicU64::new(0), watch: watch::Sender::new(0), failed: AtomicBool::new(false) }
    }

    /// The writer's next commit number; called right before its `COMMIT`.
    pub fn begin(&self) -> u64 {
        self.began.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// The latest commit a snapshot that has ended may hold.
    pub fn began(&self) -> u64 {
        self.began.load(Ordering::SeqCst)
    }

    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::SeqCst)
    }

    fn settle(&self, commit: u64) {
        self.settled.store(commit, Ordering::SeqCst);
        self.watch.send_replace(commit);
    }

    /// The writer is gone: a commit it began and never handed on will not settle.
    fn abandon(&self) {
        if self.began() > self.settled.load(Ordering::SeqCst) {
            self.fail();
        }
    }

    fn fail(&self) {
        self.failed.store(true, Ordering::SeqCst);
        // Wakes every waiting read.
        self.watch.send_modify(|_| {});
    }

    /// Resolves once every commit up to `commit` is settled; an error if a sync failed
    /// before.
    pub async fn until_settled(&self, commit: u64) -> StoreResult<()> {
        if self.settled.load(Ordering::SeqCst) >= commit {
            return Ok(());
        }
        let mut rx = self.watch.subscribe();
        let _ = rx.wait_for(|&s| s >= commit || self.failed()).await;
        if self.settled.load(Ordering::SeqCst) >= commit {
            Ok(())
        } else {
            Err(sync_failed())
        }
    }
}

/// A committed group's answers, held until its commit is settled.
pub(super) struct Group {
    pub done: Vec<(Reply, StoreResult<Box<dyn Any + Send>>)>,
    pub touched: TouchedScopes,
    pub wrote_sessions: bool,
}

/// One commit the writer began, in order.
pub(super) struct Settle {
    pub commit: u64,
    /// The WAL file whose sync the commit left; `None` if it synced itself.
    pub wal: Option<Arc<File>>,
    /// `None` for a commit that failed and was rolled back (its jobs were answered).
    pub group: Option<Group>,
}

/// Answers settled commits: counts them, pokes, replies.
pub(super) struct Publisher {
    pub counters: Arc<WriteCounters>,
    pub durability: Arc<Durability>,
    pub pokes: broadcast::Sender<Arc<TouchedScopes>>,
}

impl Publisher {
    /// `s` is on disk (or needs no sync): every answer goes out, unless a sync failed before.
    pub fn settled(&self, s: Settle) {
        if self.durability.failed() {
            return self.failed(s);
        }
        if let Some(g) = s.group {
            let c = &self.counters;
            let size = g.done.len() as u64;
            // Before the replies and pokes: whoever learns of this commit sees the new
            // generation.
            c.generation.fetch_add(1, Ordering::SeqCst);
            if g.wrote_sessions {
                c.sessions.fetch_add(1, Ordering::SeqCst);
            }
            c.commits.fetch_add(1, Ordering::Relaxed);
            c.jobs.fetch_add(size, Ordering::Relaxed);
            c.largest_group.fetch_max(size, Ordering::Relaxed);
            self.durability.settle(s.commit);
            if !g.touched.is_empty() {
                let _ = self.pokes.send(Arc::new(g.touched));
            }
            for (reply, outcome) in g.done {
                let _ = reply.send(outcome);
            }
        } else {
            self.durability.settle(s.commit);
        }
    }

    /// `s` may not be on disk: its jobs get an error, and so does everything after it.
    pub fn failed(&self, s: Settle) {
        self.durability.fail();
        for (reply, _) in s.group.into_iter().flat_map(|g| g.done) {
            let _ = reply.send(Err(sync_failed()));
        }
    }

    /// Answers the jobs of a group that cannot run because a sync failed.
    pub fn refuse(&self, replies: impl IntoIterator<Item = Reply>) {
        for reply in replies {
            let _ = reply.send(Err(sync_failed()));
        }
    }
}

/// Starts the syncer thread; commits sent to it are settled in order, each batch of them
/// after one sync of every WAL file they left.
pub(super) fn spawn_syncer(publisher: Arc<Publisher>, sync: SyncWal) -> StoreResult<mpsc::Sender<Settle>> {
    let (tx, rx) = mpsc::channel::<Settle>();
    std::thread::Builder::new()
        .name("sqlite-syncer".into())
        .spawn(move || {
            while let Ok(first) = rx.recv() {
                let mut batch = vec![first];
                batch.extend(rx.try_iter());
                let mut files: Vec<&Arc<File>> = Vec::new();
                for f in batch.iter().filter_map(|s| s.wal.as_ref()) {
                    if !files.iter().any(|g| Arc::ptr_eq(g, f)) {
                        files.push(f);
                    }
                }
                match files.iter().try_for_each(|f| sync(f)) {
                    Ok(()) => batch.into_iter().for_each(|s| publisher.settled(s)),
                    Err(e) => {
                        tracing::error!(
                            error = %e,
                            "syncing the SQLite write-ahead log failed: no write is acknowledged from now on; restart the server"
                        );
                        batch.into_iter().for_each(|s| publisher.failed(s));
                    }
                }
            }
            // No reader may wait for ever on a commit the writer began before it stopped.
            publisher.durability.abandon();
        })
        .map_err(|e| StoreError::Database(format!("cannot start the syncer thread: {e}")))?;
    Ok(tx)
}

#[cfg(test)]
mod tests {
    //! The store as the routes use it, on a real database file, with the syncer's sync held
    //! back or failing.
    use std::sync::{Condvar, Mutex};
    use std::time::Duration;

    use serde_json::value::RawValue;
    use uuid::Uuid;

    use super::*;
    use crate::store::sqlite::SqliteStore;
    use crate::store::Store;

    /// A sync that waits while held, and tells when it is entered.
    struct Gate {
        held: Mutex<bool>,
        open: Condvar,
        entered: Mutex<mpsc::Sender<()>>,
    }

    impl Gate {
        fn new() -> (Arc<Gate>, mpsc::Receiver<()>) {
            let (tx, rx) = mpsc::channel();
            (Arc::new(Gate { held: Mutex::new(true), open: Condvar::new(), entered: Mutex::new(tx) }), rx)
        }

        fn sync(self: &Arc<Self>) -> SyncWal {
            let gate = self.clone();
            Arc::new(move |f: &File| {
                let _ = gate.entered.lock().unwrap().send(());
                let mut held = gate.held.lock().unwrap();
                while *held {
                    held = gate.open.wait(held).unwrap();
                }
                f.sync_all()
            })
        }

        fn release(&self) {
            *self.held.lock().unwrap() = false;
            self.open.notify_all();
        }
    }

    struct Db {
        dir: std::path::PathBuf,
        store: Arc<dyn Store>,
        pokes: broadcast::Receiver<Arc<TouchedScopes>>,
    }

    impl Db {
        fn open(sync: SyncWal) -> Db {
            let dir = std::env::temp_dir().join(format!("hub-commit-sync-{}", Uuid::new_v4()));
            std::fs::create_dir_all(&dir).unwrap();
            let (tx, pokes) = broadcast::channel(16);
            let store = SqliteStore::open_with(dir.join("hub.db").to_str().unwrap(), tx, sync).unwrap();
            Db { dir, store: Arc::new(store), pokes }
        }

        fn put(&self, id: Uuid, ran: Option<mpsc::Sender<()>>) -> tokio::task::JoinHandle<StoreResult<i64>> {
            let store = self.store.clone();
            tokio::spawn(async move {
                store
                    .write(move |tx| {
                        if let Some(ran) = ran {
                            let _ = ran.send(());
                        }
                        let data = RawValue::from_string(r#"{"title":"x"}"#.to_string()).unwrap();
                        tx.put_entity("news", id, "unit:x", &data)
                    })
                    .await
            })
        }

        fn get(&self, id: Uuid) -> tokio::task::JoinHandle<StoreResult<Option<i64>>> {
            let store = self.store.clone();
            tokio::spawn(async move { store.read(move |tx| Ok(tx.get_entity("news", id)?.map(|r| r.seq))).await })
        }
    }

    impl Drop for Db {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    const WAIT: Duration = Duration::from_secs(10);
    /// Long enough for an answer that is not held back to arrive.
    const A_WHILE: Duration = Duration::from_millis(300);

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_is_answered_after_its_commit_is_synced_and_the_writer_runs_the_next_group_meanwhile() {
        let (gate, entered) = Gate::new();
        let mut db = Db::open(gate.sync());
        let g0 = db.store.generation().await;
        let a = db.put(Uuid::from_u128(1), None);
        entered.recv_timeout(WAIT).expect("the first commit's sync is under way");
        // The writer takes the next job while the first commit's sync waits.
        let (ran, b_ran) = mpsc::channel();
        let b = db.put(Uuid::from_u128(2), Some(ran));
        b_ran.recv_timeout(WAIT).expect("the second group ran during the first one's sync");
        tokio::time::sleep(A_WHILE).await;
        assert!(!a.is_finished() && !b.is_finished(), "nobody is answered before the sync");
        assert_eq!(db.store.generation().await, g0, "nor is the commit counted");
        assert!(db.pokes.try_recv().is_err(), "nor poked");
        gate.release();
        let (a, b) = (a.await.unwrap().unwrap(), b.await.unwrap().unwrap());
        assert!(a < b, "in commit order: {a} then {b}");
        assert_eq!(db.store.generation().await, g0.map(|g| g + 2));
        assert!(db.pokes.recv().await.unwrap().contains("unit:x"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_read_that_sees_a_commit_not_yet_synced_is_answered_after_the_sync() {
        let (gate, entered) = Gate::new();
        let db = Db::open(gate.sync());
        let id = Uuid::from_u128(7);
        let write = db.put(id, None);
        entered.recv_timeout(WAIT).unwrap();
        let read = db.get(id);
        tokio::time::sleep(A_WHILE).await;
        assert!(!read.is_finished(), "the read's snapshot may hold the unsynced commit: it waits");
        gate.release();
        let seq = write.await.unwrap().unwrap();
        assert_eq!(read.await.unwrap().unwrap(), Some(seq), "and it did hold it");
        // With nothing unsynced a read is answered at once.
        assert_eq!(tokio::time::timeout(A_WHILE, db.get(id)).await.unwrap().unwrap().unwrap(), Some(seq));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn after_a_failed_sync_no_write_is_acknowledged_and_reads_of_it_fail_without_a_panic() {
        let failing: SyncWal = Arc::new(|_: &File| Err(std::io::Error::other("disk gone")));
        let db = Db::open(failing);
        let id = Uuid::from_u128(9);
        let err = db.put(id, None).await.unwrap().unwrap_err();
        assert!(err.to_string().contains("could not be synced"), "{err}");
        // The commit is in the file, perhaps not on the disk: a read that may see it fails.
        let err = db.get(id).await.unwrap().unwrap_err();
        assert!(err.to_string().contains("could not be synced"), "{err}");
        // A later write does not even run.
        let (ran, b_ran) = mpsc::channel();
        let err = db.put(Uuid::from_u128(10), Some(ran)).await.unwrap().unwrap_err();
        assert!(err.to_string().contains("could not be synced"), "{err}");
        assert!(b_ran.try_recv().is_err());
    }
}
