//! Which scopes hold rows after a cursor, known without reading them.
//!
//! Performance. A pull after a cursor reads a range of the `(scope, seq)` index for each
//! of the caller's scopes (a guardian has a dozen or so), and under the morning's writes
//! almost every pull goes to the store: a phone poked for one change read eleven empty
//! ranges beside the one that had it. Worse, SQLite drops a reader's page cache whenever it
//! begins a read after another connection committed, so each of those ranges was read
//! through the OS page cache again ("What limits each figure", the morning peak held, in
//! docs/benchmarks.md). So the store keeps the newest sequence number written in each
//! scope here, and a pull reads only the scopes written after its cursor.
//!
//! Who records:
//! - SQLite: the writer, the database's only writer, which knows the scopes each group
//!   wrote (the same ones its pokes announce), before its COMMIT.
//! - PostgreSQL: each instance's listener, which hears every instance's commits in commit
//!   order, each with the sequence numbers it took and the scopes it wrote
//!   (`store/postgres/commits.rs`), after the commit is visible; and the instance's writer,
//!   its own commits right after COMMIT, before it answers, when they follow the last one
//!   recorded (so a phone's pull after its push finds its commit recorded; the listener
//!   then hears it again, and that is ignored). A snapshot holding a commit not recorded
//!   yet reads every range (`covered`, below).
//!
//! Correctness rests on three things:
//! - A commit is recorded with its scopes and the range of sequence numbers it took, in
//!   commit order. SQLite's writer records before its COMMIT (under the write lock, so no
//!   other connection commits in between). Every write that takes a sequence number
//!   touches its scope (the entity writes of `SqliteTx` and `PgTx`).
//! - `covered` is the last sequence number recorded. A snapshot whose newest number is
//!   above it holds commits not recorded (another connection's, or one PostgreSQL's
//!   listener has not heard of yet): such a pull reads every range. After a group that
//!   recorded and then failed to commit, or a listener that lost its connection or heard a
//!   commit it cannot read, nothing is known until the next commit (`forget`).
//! - A commit whose range does not start at `covered` (another connection committed in
//!   between, or nothing was known) makes the record start again from there (`floor`): a
//!   cursor below the floor reads every range, as at the start, when nothing is known.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;

use crate::store::TouchedScopes;

/// Scopes remembered at most (each about 60 bytes); past it the writer starts again.
const KEPT_AT_MOST: usize = 1_000_000;

pub(crate) struct ScopeHeads {
    heads: RwLock<Heads>,
    /// Range reads spared, for `/metrics`.
    skipped: AtomicU64,
}

struct Heads {
    /// Every row above this number is in `last`.
    floor: i64,
    /// The last sequence number recorded.
    covered: i64,
    /// The newest sequence number written in each scope since `floor` (at least that).
    last: HashMap<String, i64>,
}

impl Heads {
    fn record(&mut self, start: i64, end: i64, touched: &TouchedScopes) {
        if start != self.covered || self.last.len() + touched.len() > KEPT_AT_MOST {
            // Written by someone else since (or too much to keep): known from `start` on.
            self.last.clear();
            self.floor = start;
        }
        for scope in touched {
            match self.last.get_mut(scope.as_str()) {
                Some(seq) => *seq = (*seq).max(end),
                None => {
                    self.last.insert(scope.clone(), end);
                }
            }
        }
        self.covered = end;
    }
}

impl ScopeHeads {
    /// Nothing known yet: the database's counter is `head`.
    pub(crate) fn new(head: i64) -> Self {
        ScopeHeads { heads: RwLock::new(Heads { floor: head, covered: head, last: HashMap::new() }), skipped: AtomicU64::new(0) }
    }

    /// Nothing known until the first commit is recorded.
    pub(crate) fn unknown() -> Self {
        let h = ScopeHeads::new(0);
        h.forget();
        h
    }

    /// A commit that found the counter at `start` and numbered its writes up to `end`, in
    /// (at most) the scopes `touched`: by SQLite's writer before its COMMIT.
    pub(crate) fn record(&self, start: i64, end: i64, touched: &TouchedScopes) {
        if let Ok(mut h) = self.heads.write() {
            h.record(start, end, touched);
        }
    }

    /// [`ScopeHeads::record`] of a commit a PostgreSQL listener heard: one whose numbers are
    /// all at or below `covered` was recorded already (by this instance's writer,
    /// [`ScopeHeads::record_next`]) or is below the floor, where nothing is known anyway.
    /// Checked under the same lock as recorded, so that a record of the writer's in between
    /// cannot make it start again.
    pub(crate) fn record_committed(&self, start: i64, end: i64, touched: &TouchedScopes) {
        if let Ok(mut h) = self.heads.write() {
            if h.covered == i64::MIN || end > h.covered {
                h.record(start, end, touched);
            }
        }
    }

    /// PostgreSQL's writer, its own commit right after COMMIT: recorded only if it follows
    /// the last one recorded. Otherwise another instance committed in between and the
    /// listener has not heard of it yet; the listener then records both, in order (a
    /// record here would make everything before `start` unknown).
    pub(crate) fn record_next(&self, start: i64, end: i64, touched: &TouchedScopes) {
        if let Ok(mut h) = self.heads.write() {
            if start == h.covered {
                h.record(start, end, touched);
            }
        }
    }

    /// A commit up to `end` whose scopes are not known (too many to announce): known again
    /// from `end` on, unless recorded already (see [`ScopeHeads::record_committed`]).
    pub(crate) fn record_unknown_scopes(&self, end: i64) {
        if let Ok(mut h) = self.heads.write() {
            if h.covered != i64::MIN && end <= h.covered {
                return;
            }
            h.last.clear();
            (h.floor, h.covered) = (end, end);
        }
    }

    /// Until the next commit recorded, nothing is known: SQLite's writer recorded a group
    /// that did not commit (another connection could commit the numbers it recorded); a
    /// PostgreSQL listener lost its connection or heard a commit it cannot read.
    pub(crate) fn forget(&self) {
        if let Ok(mut h) = self.heads.write() {
            h.last.clear();
            h.covered = i64::MIN;
        }
    }

    /// Of `scopes`, those that may hold rows above `after` in a snapshot whose newest
    /// sequence number is `max_seq`; `None` when that is not known (every one may).
    pub(crate) fn written_after(&self, scopes: &[String], after: i64, max_seq: i64) -> Option<Vec<String>> {
        let (written, covered) = self.view(scopes, after)?;
        if max_seq > covered {
            return None;
        }
        self.count_skipped(scopes.len() - written.len());
        Some(written)
    }

    /// Of `scopes`, those that may hold rows above `after`, in any snapshot whose newest
    /// sequence number is at most the second value (what was recorded so far); `None` when
    /// nothing is known after `after`. Not counted as skipped until used
    /// ([`ScopeHeads::count_skipped`]).
    pub(crate) fn view(&self, scopes: &[String], after: i64) -> Option<(Vec<String>, i64)> {
        let h = self.heads.read().ok()?;
        if after < h.floor || after > h.covered {
            return None;
        }
        let written = scopes.iter().filter(|s| h.last.get(s.as_str()).is_some_and(|&seq| seq > after)).cloned().collect();
        Some((written, h.covered))
    }

    /// `n` range reads spared by a pull.
    pub(crate) fn count_skipped(&self, n: usize) {
        self.skipped.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Range reads of scopes with nothing after the cursor that pulls were spared.
    pub(crate) fn skipped(&self) -> u64 {
        self.skipped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    fn touched(s: &[&str]) -> TouchedScopes {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_pull_reads_only_the_scopes_written_after_its_cursor() {
        let h = ScopeHeads::new(10);
        h.record(10, 12, &touched(&["child:a", "care:a"]));
        h.record(12, 13, &touched(&["child:b"]));
        let mine = scopes(&["care:a", "child:a", "child:c", "unit:u"]);
        assert_eq!(h.written_after(&mine, 10, 13), Some(scopes(&["care:a", "child:a"])));
        assert_eq!(h.written_after(&mine, 12, 13), Some(vec![]), "child:a's rows are at 12 at most");
        assert_eq!(h.skipped(), 2 + 4);
    }

    #[test]
    fn a_cursor_from_before_anything_was_recorded_reads_every_scope() {
        let h = ScopeHeads::new(10);
        h.record(10, 12, &touched(&["child:a"]));
        assert_eq!(h.written_after(&scopes(&["child:b"]), 9, 12), None, "rows at or below 10 are not known");
        assert_eq!(h.written_after(&scopes(&["child:b"]), 10, 12), Some(vec![]));
    }

    #[test]
    fn a_snapshot_newer_than_what_was_recorded_reads_every_scope() {
        // Another connection committed 13 (or a group is being recorded): unknown rows.
        let h = ScopeHeads::new(10);
        h.record(10, 12, &touched(&["child:a"]));
        assert_eq!(h.written_after(&scopes(&["child:b"]), 12, 13), None);
    }

    #[test]
    fn a_commit_by_another_connection_in_between_makes_the_writer_start_again() {
        let h = ScopeHeads::new(10);
        h.record(10, 12, &touched(&["child:a"]));
        // Another connection wrote 13 in child:b; the writer's next group starts at 13.
        h.record(13, 14, &touched(&["child:c"]));
        assert_eq!(h.written_after(&scopes(&["child:b"]), 12, 14), None, "13 in child:b is not known");
        assert_eq!(h.written_after(&scopes(&["child:a", "child:b", "child:c"]), 13, 14), Some(scopes(&["child:c"])));
    }

    #[test]
    fn after_a_group_that_did_not_commit_nothing_is_known_until_the_next_one() {
        let h = ScopeHeads::new(10);
        h.record(10, 12, &touched(&["child:a"]));
        // Recorded, then its COMMIT failed: the counter stays 10, and another connection
        // could now commit 11 and 12 anywhere.
        h.forget();
        assert_eq!(h.written_after(&scopes(&["child:b"]), 10, 12), None);
        // The writer's next group starts again from the counter.
        h.record(10, 11, &touched(&["child:b"]));
        assert_eq!(h.written_after(&scopes(&["child:a", "child:b"]), 10, 11), Some(scopes(&["child:b"])));
        assert_eq!(h.written_after(&scopes(&["child:a"]), 10, 12), None, "12 is someone else's");
    }
}
