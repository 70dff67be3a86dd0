//! A signed-in person's session, answered from memory (issue 6: every push first looked its
//! token up in a read job of its own, a sixth of the server's CPU in the absence rush).
//!
//! A token resolves to its user from the `users` and `tokens` tables alone, so the answer
//! holds while neither has been written: the embedded SQLite's writer bumps a separate
//! *session generation* after every commit that wrote either (a sign-in, a logout, a new
//! user), before any reply. Each answer is remembered with the generation read *before*
//! its snapshot; a later request with the same token, at the same generation and before the
//! token expires, gets the same user at once. Unlike the pull cache this survives the
//! steady stream of pushes: they write entities, not sessions.
//!
//! Only a store that sees every commit in this process has a session generation
//! ([`crate::store::Store::session_generation`]); with PostgreSQL every lookup goes to the
//! database. Losing an entry costs one store trip.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use crate::store::UserRow;

/// Entries kept at most; past this the map starts again.
const MAX_ENTRIES: usize = 200_000;

#[derive(Debug, Clone)]
struct Entry {
    generation: u64,
    user: UserRow,
    expires_at: DateTime<Utc>,
}

#[derive(Debug, Default)]
pub struct SessionCache {
    entries: Mutex<HashMap<String, Entry>>,
}

impl SessionCache {
    /// The user of `token_hash` if it was looked up at `generation` and has not expired by
    /// `now`.
    pub fn user(&self, token_hash: &str, generation: u64, now: DateTime<Utc>) -> Option<UserRow> {
        let map = self.entries.lock().ok()?;
        map.get(token_hash).filter(|e| e.generation == generation && now < e.expires_at).map(|e| e.user.clone())
    }

    /// Remembers that `token_hash` was `user`'s, valid until `expires_at`, in a snapshot
    /// taken at `generation` or later.
    pub fn remember(&self, token_hash: &str, generation: u64, user: &UserRow, expires_at: DateTime<Utc>) {
        let Ok(mut map) = self.entries.lock() else { return };
        if map.len() >= MAX_ENTRIES && !map.contains_key(token_hash) {
            map.clear();
        }
        map.insert(token_hash.to_string(), Entry { generation, user: user.clone(), expires_at });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};
    use domain::wire::Role;
    use uuid::Uuid;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 7, 30, 0).unwrap()
    }

    fn anna() -> UserRow {
        UserRow {
            id: Uuid::from_u128(1),
            username: "anna".into(),
            display_name: "Anna Andersson".into(),
            role: Role::Guardian,
            locale: "sv".into(),
            password_hash: "x".into(),
            email: None,
            phone: None,
        }
    }

    #[test]
    fn a_session_at_the_same_generation_is_answered_until_it_expires() {
        let c = SessionCache::default();
        c.remember("tok", 3, &anna(), t0() + Duration::days(90));
        assert_eq!(c.user("tok", 3, t0()), Some(anna()));
        assert_eq!(c.user("tok", 3, t0() + Duration::days(90)), None, "expired");
    }

    #[test]
    fn a_sign_in_or_logout_since_or_another_token_is_not() {
        let c = SessionCache::default();
        c.remember("tok", 3, &anna(), t0() + Duration::days(90));
        assert_eq!(c.user("tok", 4, t0()), None, "sessions written since");
        assert_eq!(c.user("other", 3, t0()), None);
    }
}
