//! People remembered between their pulls, shared by an instance's readers.
//!
//! A pull reads its caller by token together with what the pull asks next of them: their
//! children with the children's groups, their threads, the token's expiry
//! (`PgTx::person_by_token`). That query was a third of the database's work for a pull
//! that finds a change or two. It is remembered here per token, with the person's
//! `person_gen` read in the same snapshot (migration 0007). A later pull with the token
//! reads only the person's current `person_gen` (with the sequence counters it needs
//! anyway) and uses what is remembered when it is the same. Every write that changes what
//! the query reads counts that person's `person_gen` up in its own transaction
//! (`PgTx::person_changed`), so within the pull's snapshot the two are equal exactly when
//! the remembered person is the person as of that snapshot, whichever instance wrote.
//! Nothing here is needed by another instance: losing it costs one read.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::store::{ChildRow, UserRow};

/// Tokens remembered at most; past this the map starts again (a cold entry costs one read).
const MAX_PEOPLE: usize = 100_000;

/// What `PgTx::person_by_token` read with a token, as of `person_gen`.
#[derive(Debug, Clone)]
pub(super) struct Person {
    pub(super) user: UserRow,
    pub(super) person_gen: i64,
    pub(super) expires_at: DateTime<Utc>,
    /// The children the person is a guardian of, in id order, each as `Tx::child` answers.
    pub(super) children: Vec<(Uuid, Option<ChildRow>)>,
    pub(super) threads: Vec<Uuid>,
    /// The scopes of the last page of changes a pull with the token read after a cursor:
    /// the next pull reads its changes in them with the person, in the same statement
    /// (`PgTx::person_by_token`), and uses them only if it asks for exactly those.
    pub(super) scopes: Option<Arc<Vec<String>>>,
}

#[derive(Debug, Default)]
pub(super) struct People {
    by_token: Mutex<HashMap<String, Person>>,
    /// Pulls whose changes were read with their person (for `/metrics`).
    read_ahead: AtomicU64,
}

impl People {
    /// The person last read with `token_hash`, if any.
    pub(super) fn get(&self, token_hash: &str) -> Option<Person> {
        self.by_token.lock().ok()?.get(token_hash).cloned()
    }

    /// The scopes a pull with `token_hash` read its changes in, for the next one.
    pub(super) fn remember_scopes(&self, token_hash: &str, scopes: Arc<Vec<String>>) {
        if let Ok(mut m) = self.by_token.lock() {
            if let Some(p) = m.get_mut(token_hash) {
                p.scopes = Some(scopes);
            }
        }
    }

    pub(super) fn count_read_ahead(&self) {
        self.read_ahead.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn read_ahead(&self) -> u64 {
        self.read_ahead.load(Ordering::Relaxed)
    }

    pub(super) fn remember(&self, token_hash: &str, person: Person) {
        if let Ok(mut m) = self.by_token.lock() {
            if m.len() >= MAX_PEOPLE && !m.contains_key(token_hash) {
                m.clear();
            }
            m.insert(token_hash.to_string(), person);
        }
    }
}
