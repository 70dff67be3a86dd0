//! Copying the WAL back into the database file: when the writer is idle, and by a
//! background thread beside it.

use std::sync::mpsc;

use rusqlite::Connection;

use crate::store::{StoreError, StoreResult};

/// Copies the WAL back into the database file while no job waits (the writer has been idle
/// for `EXTERNAL_CHECK`); whether it is done until the next commit. A reader still on an
/// older snapshot keeps part of it from being copied: the next idle moment tries again. A
/// failure is logged once and left to the commits' own checkpoints.
///
/// Performance: after a write rush the WAL can hold up to [`WAL_AUTOCHECKPOINT`](super::WAL_AUTOCHECKPOINT) pages, and
/// every page a reader fetches is first looked up in it; copying it back while idle keeps
/// that look-up short and takes the work out of the next rush's commits.
pub(super) fn checkpoint_when_idle(conn: &Connection) -> bool {
    let r = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
    });
    match r {
        Ok((busy, log, copied)) => busy == 0 && log == copied,
        Err(e) => {
            tracing::warn!(error = %e, "idle WAL checkpoint failed");
            true
        }
    }
}

/// Pause of the background checkpointer after each checkpoint: commits in between are
/// copied back together, each page once.
const CHECKPOINT_PAUSE: std::time::Duration = std::time::Duration::from_millis(100);

/// Starts the background checkpointer: a thread with its own connection that copies the WAL
/// back into the database file (`PRAGMA wal_checkpoint(PASSIVE)`) after commits, at most
/// once per [`CHECKPOINT_PAUSE`]. The writer pokes it after every commit through the
/// returned sender (of room one, so pokes coalesce); it stops when the writer drops it.
///
/// Performance: the writer's own checkpoints (`wal_autocheckpoint`) copied up to
/// [`WAL_AUTOCHECKPOINT`](super::WAL_AUTOCHECKPOINT) pages at a time inside a commit, a twelfth of the writer thread
/// in the care-week rush. A passive checkpoint runs beside the writer without blocking it;
/// what it has copied the writer's checkpoint skips, so when the WAL reaches
/// `WAL_AUTOCHECKPOINT` the writer copies only the rest and the WAL starts over.
/// Durability is unchanged: a commit is durable once its WAL frames are synced, and a
/// checkpoint syncs the database file before it marks frames as copied.
pub(super) fn spawn_checkpointer(path: &str) -> StoreResult<mpsc::SyncSender<()>> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.execute_batch("PRAGMA synchronous=FULL")?;
    let (tx, rx) = mpsc::sync_channel::<()>(1);
    std::thread::Builder::new()
        .name("sqlite-checkpointer".into())
        .spawn(move || {
            let mut warned = false;
            while rx.recv().is_ok() {
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    if !warned {
                        tracing::warn!(error = %e, "background WAL checkpoint failed; the writer's own checkpoints go on");
                        warned = true;
                    }
                }
                std::thread::sleep(CHECKPOINT_PAUSE);
            }
        })
        .map_err(|e| StoreError::Database(format!("cannot start the checkpointer thread: {e}")))?;
    Ok(tx)
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    /// A database file in WAL mode in a fresh directory, never checkpointed by itself, with
    /// a table `t`: the directory, the file and the connection.
    fn wal_db(name: &str) -> (std::path::PathBuf, std::path::PathBuf, Connection) {
        let dir = std::env::temp_dir().join(format!("hub-{name}-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("hub.db");
        let conn = Connection::open(&path).unwrap();
        conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get::<_, String>(0)).unwrap();
        conn.execute_batch("PRAGMA wal_autocheckpoint = 0; CREATE TABLE t (v INTEGER)").unwrap();
        (dir, path, conn)
    }

    #[test]
    fn an_idle_checkpoint_copies_the_committed_wal_into_the_database_file() {
        let (dir, path, conn) = wal_db("idle-checkpoint");
        conn.execute_batch("INSERT INTO t VALUES (7)").unwrap();
        // The database file alone (a copy without its WAL) has only what was copied back.
        let file_alone = |name: &str| {
            let copy = dir.join(name);
            std::fs::copy(&path, &copy).unwrap();
            let c = Connection::open(&copy).unwrap();
            c.query_row("SELECT count(*) FROM sqlite_master WHERE name = 't'", [], |r| r.get::<_, i64>(0)).unwrap()
        };
        assert_eq!(file_alone("before.db"), 0, "the commit is only in the WAL");
        assert!(checkpoint_when_idle(&conn), "no reader holds the WAL back");
        assert_eq!(file_alone("after.db"), 1);
        drop(conn);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_background_checkpointer_copies_the_wal_into_the_database_file_beside_the_writer() {
        let (dir, path, conn) = wal_db("background-checkpoint");
        // What the database file alone (a copy without its WAL) holds; `None` while a copy
        // caught the file half-written.
        let file_alone = |name: &str| -> Option<i64> {
            let copy = dir.join(name);
            std::fs::copy(&path, &copy).ok()?;
            let c = Connection::open(&copy).ok()?;
            let n = c.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).ok();
            drop(c);
            let _ = std::fs::remove_file(&copy);
            n
        };
        let poke = spawn_checkpointer(path.to_str().unwrap()).unwrap();
        // The writer goes on committing (it never idles) while the checkpointer works.
        let mut copied = None;
        for i in 0..200 {
            conn.execute("INSERT INTO t VALUES (?1)", [i]).unwrap();
            poke.try_send(()).ok();
            std::thread::sleep(std::time::Duration::from_millis(20));
            if let Some(n) = file_alone("copy.db").filter(|&n| n > 0) {
                copied = Some((i, n));
                break;
            }
        }
        let (i, n) = copied.expect("the committed rows reached the database file");
        assert!(n <= i + 1, "never more than was committed");
        assert_eq!(conn.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0)).unwrap(), i + 1);
        drop(poke);
        drop(conn);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
