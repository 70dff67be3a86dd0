//! The reader threads: each owns one read-only connection and runs every read job in a
//! transaction of its own (one snapshot a job).

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{mpsc, Arc, Mutex};

use rusqlite::{Connection, OpenFlags};

use crate::store::commit_sync::Durability;
use crate::store::{Job, StoreError, StoreResult};

use crate::store::scope_heads::ScopeHeads;
use super::tx::SqliteTx;
use super::{exec, tune, ReadMsg};

/// Performance: reads run on a fixed set of threads, each owning one read-only connection
/// for the life of the store, fed from one queue. (Before, each read took a connection from
/// a small idle list on a `spawn_blocking` thread and opened a new one when the list was
/// empty: under load most reads paid for opening a connection, parsing the schema and
/// re-preparing every statement, then closed it again. Now the prepared-statement caches
/// stay warm and the number of connections is bounded.)
pub(super) fn reader_loop(
    path: String,
    rx: Arc<Mutex<mpsc::Receiver<ReadMsg>>>,
    durability: Arc<Durability>,
    heads: Arc<ScopeHeads>,
) {
    let opened = Connection::open_with_flags(
        &path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .and_then(|c| c.busy_timeout(std::time::Duration::from_secs(10)).map(|_| c))
    .and_then(|c| tune(&c).map(|_| c));
    loop {
        // The lock is held only while waiting for the next job, never while running one.
        let msg = match rx.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(ReadMsg { job, reply }) = msg else { return };
        let out = match &opened {
            Err(e) => Err(StoreError::Database(format!("cannot open a read connection: {e}"))),
            Ok(conn) => run_read(conn, &heads, job),
        };
        // Read after the snapshot ended: it cannot hold a commit begun later.
        let _ = reply.send((out, durability.began()));
    }
}

fn run_read(conn: &Connection, heads: &ScopeHeads, job: Job) -> StoreResult<Box<dyn Any + Send>> {
    exec(conn, "BEGIN")?;
    let out = {
        let mut tx = SqliteTx::new(conn);
        tx.heads = Some(heads);
        catch_unwind(AssertUnwindSafe(|| job(&mut tx)))
            .unwrap_or_else(|_| Err(StoreError::Database("a read job panicked".into())))
    };
    let _ = exec(conn, "COMMIT");
    out
}
