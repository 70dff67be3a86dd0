//! Answers a no-change pull without a trip to the store (issue 6: no-change pulls at half
//! the HTTP ceiling).
//!
//! A pull answered with `has_more: false` ends at the head: pulled again with the cursor it
//! returned, while nothing at all has been committed since, it can only answer the same
//! cursor and no changes — the caller's scope (roster, threads), the entities and the
//! tokens are all as they were. So each such answer is remembered per token together with
//! the store's commit generation read *before* the pull's snapshot; a later pull with the
//! same token and cursor, at the same generation and before the token expires, gets that
//! answer at once. Any commit (a mutation, a logout, a roster change) moves the
//! generation, and every entry made before it stops matching.
//!
//! The generation ([`crate::store::Store::generation`]) counts the commits of every process on the
//! database: the embedded SQLite keeps it in memory; on PostgreSQL every instance's writer
//! bumps a counter in the database, and reading it is one round trip shared by all the pulls
//! waiting at that moment, instead of a snapshot per pull. A pull that names the commit it
//! must see (`min_commit`, docs/protocol.md "Commits") skips even that read when the
//! instance already knows of that commit: the entry is then checked against the commit the
//! instance knows ([`crate::store::Store::known_commit`]). Nothing here is needed by another
//! instance: losing it costs one store trip.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

/// Entries kept at most; past this the map starts again (a cold entry costs one store trip).
const MAX_ENTRIES: usize = 200_000;

#[derive(Debug, Clone)]
struct Entry {
    generation: u64,
    cursor: String,
    token_expires_at: DateTime<Utc>,
}

#[derive(Debug, Default)]
pub struct PullCache {
    entries: Mutex<HashMap<String, Entry>>,
}

impl PullCache {
    /// Whether a pull by `token_hash` with `cursor`, at `generation` and `now`, is known to
    /// answer `cursor` with no changes.
    pub fn is_unchanged(&self, token_hash: &str, cursor: &str, generation: u64, now: DateTime<Utc>) -> bool {
        let Ok(map) = self.entries.lock() else { return false };
        map.get(token_hash)
            .is_some_and(|e| e.generation == generation && e.cursor == cursor && now < e.token_expires_at)
    }

    /// Remembers that `token_hash`'s pull ended at the head with `cursor`, from a snapshot
    /// taken at `generation` or later.
    pub fn remember(&self, token_hash: &str, cursor: &str, generation: u64, token_expires_at: DateTime<Utc>) {
        let Ok(mut map) = self.entries.lock() else { return };
        if map.len() >= MAX_ENTRIES && !map.contains_key(token_hash) {
            map.clear();
        }
        map.insert(token_hash.to_string(), Entry { generation, cursor: cursor.to_string(), token_expires_at });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 7, 0, 0).unwrap()
    }

    #[test]
    fn a_pull_at_the_same_generation_and_cursor_is_unchanged() {
        let c = PullCache::default();
        c.remember("tok", "v1.5.abc", 7, t0() + Duration::days(90));
        assert!(c.is_unchanged("tok", "v1.5.abc", 7, t0()));
    }

    #[test]
    fn any_commit_another_cursor_or_another_token_is_not() {
        let c = PullCache::default();
        c.remember("tok", "v1.5.abc", 7, t0() + Duration::days(90));
        assert!(!c.is_unchanged("tok", "v1.5.abc", 8, t0()), "a commit since");
        assert!(!c.is_unchanged("tok", "v1.4.abc", 7, t0()), "an older cursor");
        assert!(!c.is_unchanged("other", "v1.5.abc", 7, t0()), "another token");
    }

    #[test]
    fn an_expired_token_is_not_answered_from_memory() {
        let c = PullCache::default();
        c.remember("tok", "v1.5.abc", 7, t0() + Duration::minutes(1));
        assert!(c.is_unchanged("tok", "v1.5.abc", 7, t0()));
        assert!(!c.is_unchanged("tok", "v1.5.abc", 7, t0() + Duration::minutes(1)));
    }
}
