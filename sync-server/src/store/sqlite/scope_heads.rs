//! Which scopes hold rows after a cursor, known without reading them (SQLite).
//!
//! Performance. A pull after a cursor reads a range of the `(scope, seq)` index for each
//! of the caller's scopes (a guardian has a dozen or so), and under the morning's writes
//! almost every pull goes to the store: a phone poked for one change read eleven empty
//! ranges beside the one that had it. Worse, SQLite drops a reader's page cache whenever it
//! begins a read after another connection committed, so each of those ranges was read
//! through the OS page cache again ("What limits each figure", the morning peak held, in
//! docs/benchmarks.md). The writer is the database's only writer and knows the scopes each
//! group wrote (the same ones its pokes announce), so it keeps the newest sequence number
//! it wrote in each scope here, and a pull reads only the scopes written after its cursor.
//!
//! Correctness rests on three things:
//! - The writer records a group's scopes, with the group's last sequence number, before
//!   its COMMIT (under the write lock, so no other connection commits in between): a
//!   reader whose snapshot holds a row finds its scope recorded at or above the row's
//!   number. Every write that takes a sequence number touches its scope (the entity writes
//!   of `SqliteTx`).
//! - `covered` is the last sequence number recorded. A snapshot whose newest number is
//!   above it holds commits the writer did not record (another connection's): such a pull
//!   reads every range. After a group that recorded and then failed to commit, nothing is
//!   known until the next group (`forget`): another connection could commit those numbers.
//! - A group that finds the counter moved since `covered` (another connection committed
//!   in between) forgets everything and starts again from there (`floor`): a cursor below
//!   the floor reads every range, as at the start, when nothing is known.

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

impl ScopeHeads {
    /// Nothing known yet: the database's counter is `head`.
    pub(crate) fn new(head: i64) -> Self {
        ScopeHeads { heads: RwLock::new(Heads { floor: head, covered: head, last: HashMap::new() }), skipped: AtomicU64::new(0) }
    }

    /// The writer, before the COMMIT of a group that found the counter at `start` and
    /// numbered its writes up to `end`, in (at most) the scopes `touched`.
    pub(crate) fn record(&self, start: i64, end: i64, touched: &TouchedScopes) {
        let Ok(mut h) = self.heads.write() else { return };
        if start != h.covered || h.last.len() + touched.len() > KEPT_AT_MOST {
            // Written by someone else since (or too much to keep): known from `start` on.
            h.last.clear();
            h.floor = start;
        }
        for scope in touched {
            match h.last.get_mut(scope.as_str()) {
                Some(seq) => *seq = (*seq).max(end),
                None => {
                    h.last.insert(scope.clone(), end);
                }
            }
        }
        h.covered = end;
    }

    /// The writer recorded a group that did not commit: until its next group, nothing is
    /// known (another connection could commit the numbers it recorded).
    pub(crate) fn forget(&self) {
        if let Ok(mut h) = self.heads.write() {
            h.last.clear();
            h.covered = i64::MIN;
        }
    }

    /// Of `scopes`, those that may hold rows above `after` in a snapshot whose newest
    /// sequence number is `max_seq`; `None` when that is not known (every one may).
    pub(crate) fn written_after(&self, scopes: &[String], after: i64, max_seq: i64) -> Option<Vec<String>> {
        let h = self.heads.read().ok()?;
        if after < h.floor || max_seq > h.covered {
            return None;
        }
        let written: Vec<String> =
            scopes.iter().filter(|s| h.last.get(s.as_str()).is_some_and(|&seq| seq > after)).cloned().collect();
        self.skipped.fetch_add((scopes.len() - written.len()) as u64, Ordering::Relaxed);
        Some(written)
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
