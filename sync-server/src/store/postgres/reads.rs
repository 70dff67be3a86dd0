//! The reader threads: each job in its own `REPEATABLE READ READ ONLY` transaction.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use crate::store::scope_heads::ScopeHeads;
use crate::store::{Job, StoreError};

use super::people::People;
use super::tx::PgTx;
use super::{begin, Conn, Msg, Reply};

/// Read jobs go to the reader that became idle last, whose connection is open and whose
/// statements are prepared (a new connection to a database costs tens of milliseconds), or
/// wait in `backlog` until a reader is free. So a quiet instance uses one read connection,
/// a busy one up to [`READERS`](super::READERS).
pub(super) struct Readers {
    pub(super) inboxes: Vec<mpsc::Sender<Msg>>,
    /// Idle readers, the most recently idle on top.
    pub(super) idle: Vec<usize>,
    pub(super) backlog: VecDeque<Msg>,
    pub(super) closed: bool,
}

pub(super) fn reader_loop(
    config: postgres::Config,
    me: usize,
    inbox: mpsc::Receiver<Msg>,
    shared: Arc<Mutex<Readers>>,
    people: Arc<People>,
    heads: Arc<ScopeHeads>,
) {
    // Connected at the first job, so an idle instance holds only its writer and listener.
    let mut conn: Option<Conn> = None;
    while let Ok(first) = inbox.recv() {
        let mut next = Some(first);
        while let Some(msg) = next {
            read_job(&config, &mut conn, &people, &heads, msg.job, msg.reply);
            let Ok(mut r) = shared.lock() else { return };
            if r.closed {
                return;
            }
            next = r.backlog.pop_front();
            if next.is_none() {
                r.idle.push(me);
            }
        }
    }
}

/// Runs `job` in its own snapshot and answers `reply`, then ends the transaction.
///
/// The answer goes out before the ROLLBACK, so its round trip is not in the answer's
/// latency (a read-only transaction holds nothing another needs). The next job's BEGIN
/// goes with it: a REPEATABLE READ transaction takes its snapshot at its first statement,
/// not at BEGIN (and holds no transaction id until then), so the job still sees every
/// commit made before it started, with one round trip fewer (about 100 µs of a PostgreSQL
/// initial sync's 1.6 ms read job, 2026-12-06). A transaction begun longer ago than
/// [`READ_BEGUN_FOR`] is begun again, so that a connection the database dropped while idle
/// is found (and replaced) by BEGIN, not by the job's first statement; within that time a
/// job on a connection the database has just dropped fails, as one in flight then would.
fn read_job(config: &postgres::Config, conn: &mut Option<Conn>, people: &People, heads: &ScopeHeads, job: Job, reply: Reply) {
    let begun = conn
        .as_ref()
        .is_some_and(|c| !c.client.is_closed() && c.read_begun.is_some_and(|at| at.elapsed() < READ_BEGUN_FOR));
    let c = match conn.as_mut() {
        Some(c) if begun => c,
        _ => match begin(config, conn, |c| {
            if c.read_begun.take().is_some() {
                c.batch(&format!("ROLLBACK; {BEGIN_READ}"))
            } else {
                c.batch(BEGIN_READ)
            }
        }) {
            Ok(c) => c,
            Err(e) => {
                let _ = reply.send(Err(e));
                return;
            }
        },
    };
    c.read_begun = None;
    let out = {
        let mut tx = PgTx::new(c, false);
        tx.people = Some(people);
        tx.heads = Some(heads);
        catch_unwind(AssertUnwindSafe(|| job(&mut tx)))
            .unwrap_or_else(|_| Err(StoreError::Database("a read job panicked".into())))
    };
    let _ = reply.send(out);
    match c.batch(&format!("ROLLBACK; {BEGIN_READ}")) {
        Ok(()) => c.read_begun = Some(Instant::now()),
        // Lost, or in a state this does not know: the next job connects afresh.
        Err(_) => *conn = None,
    }
}

const BEGIN_READ: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";

/// How long a reader's transaction begun ahead is used (see [`read_job`]): what it saves
/// counts under load, when jobs follow each other closely.
const READ_BEGUN_FOR: Duration = Duration::from_millis(250);
