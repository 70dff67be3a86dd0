//! Storage behind one trait, so the server runs on an embedded SQLite file or on PostgreSQL
//! (several instances on one database) with the same rules code above it.
//!
//! The rules run synchronously inside a [`Tx`]; a [`Store`] runs them on its own threads.
//! Writes go through [`Store::write`]: implementations may group several concurrent jobs
//! into one commit (group commit), but a job's result is delivered only after its commit.

mod commit_sync;
pub(crate) mod deferred;
pub mod postgres;
mod priority;
pub(crate) mod scope_heads;
pub mod sqlite;
mod tx_cache;
mod wal_batch;

use std::any::Any;
use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use domain::pin::{PinState, PinVerifier};
use domain::wire::entity::Unit;
use domain::wire::MutationResult;
use domain::wire::Role;
use serde_json::value::RawValue;
use uuid::Uuid;

pub(crate) use tx_cache::TxCache;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Database(String),
    #[error("corrupt row: {0}")]
    Corrupt(String),
    #[error("storage is shutting down")]
    Closed,
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A job run inside a transaction. Its result travels back type-erased.
pub type Job = Box<dyn FnOnce(&mut dyn Tx) -> StoreResult<Box<dyn Any + Send>> + Send>;
pub type JobFuture = Pin<Box<dyn Future<Output = StoreResult<Box<dyn Any + Send>>> + Send>>;

pub trait Store: Send + Sync + 'static {
    /// Runs `job` in a read-only snapshot.
    fn submit_read(&self, job: Job) -> JobFuture;
    /// Runs `job` in a write transaction; resolves after its commit.
    fn submit_write(&self, job: Job) -> JobFuture;
    /// [`Store::submit_write`] told what the job will look up ([`ReadHint`]).
    fn submit_write_hinted(&self, job: Job, _hint: ReadHint) -> JobFuture {
        self.submit_write(job)
    }
    /// How write jobs were grouped into commits so far, for `/metrics` and the benchmark;
    /// `None` for a store that does not count.
    fn write_stats(&self) -> Option<WriteStats> {
        None
    }
    /// Pulls whose page of changes was read with their person, in one statement
    /// ([`Tx::expect_changes`]), for `/metrics`; `None` for a store that does not.
    fn pulls_read_ahead(&self) -> Option<u64> {
        None
    }
    /// Ranges of scopes with nothing after the cursor that pulls did not read
    /// ([`Tx::scopes_written_after`]), for `/metrics`; `None` for a store that reads them all.
    fn pull_ranges_skipped(&self) -> Option<u64> {
        None
    }
    /// A number that changes with every commit to the database, by this process or any
    /// other, read no earlier than this call; `None` when it cannot be read (then nothing is
    /// answered from memory). Awaited before a snapshot, it tells later whether anything at
    /// all has changed since ([`crate::pull_cache`]). The embedded SQLite counts its own
    /// commits in memory; PostgreSQL reads a counter every instance's writer bumps.
    fn generation(&self) -> GenerationFuture {
        Box::pin(std::future::ready(None))
    }

    /// The latest commit generation ([`Store::generation`]'s numbers) this instance knows to
    /// be committed, every one before it included, and visible to any snapshot begun from
    /// now on; `None` when the store does not know it without a read. Only a store shared by
    /// several instances has it (PostgreSQL, from the commits every instance announces): it
    /// answers a pull that names the commit it must see (`min_commit`) without waiting for
    /// a read, and it is the `commit` of push and pull answers and of pokes.
    fn known_commit(&self) -> Option<u64> {
        None
    }

    /// The latest commit generation this instance has made or heard of, also while it
    /// cannot tell that it knows every commit (its listener down): what a write's answer
    /// names, at or after the write's own commit (noted before the write is answered).
    /// `None` for a store without commit numbers.
    fn last_commit(&self) -> Option<u64> {
        None
    }

    /// A number that changes with every commit that wrote users or session tokens, when
    /// this process sees every commit (the embedded SQLite); `None` otherwise. Read before a
    /// snapshot, it tells later whether a token's user may have changed since
    /// ([`crate::session_cache`]).
    fn session_generation(&self) -> Option<u64> {
        None
    }
}

pub type GenerationFuture = Pin<Box<dyn Future<Output = Option<u64>> + Send>>;

/// What a write job will look up, as far as its submitter can tell without the store (a
/// push: its mutation ids, the children its mutations name, the day records they name).
/// Only a hint: PostgreSQL fetches the hints of a whole group commit in a few queries
/// before running its jobs, where each look-up would be a round trip of its own under the
/// write lock; every answer stays the one the look-up would give.
#[derive(Debug, Default, Clone)]
pub struct ReadHint {
    pub outcomes: Vec<Uuid>,
    /// Children whose record and guardians the rules read.
    pub children: Vec<Uuid>,
    pub entities: Vec<(&'static str, Uuid)>,
    /// Attendance marks (child, when): the rules read the child's record, its unit and the
    /// day's attendance record, whose id only the unit's time zone names
    /// ([`domain::attendance::attendance_record`]).
    pub marks: Vec<(Uuid, DateTime<Utc>)>,
    /// Token hashes the job looks up ([`Tx::user_for_token`], [`Tx::device_for_token`]):
    /// a push whose caller is not known from memory finds it in its own write job.
    pub session_tokens: Vec<String>,
    pub device_tokens: Vec<String>,
}

impl ReadHint {
    pub fn is_empty(&self) -> bool {
        self.outcomes.is_empty()
            && self.children.is_empty()
            && self.entities.is_empty()
            && self.marks.is_empty()
            && self.session_tokens.is_empty()
            && self.device_tokens.is_empty()
    }

    /// `other`'s keys added to these (then [`Self::dedup`] once, not after each).
    pub fn extend(&mut self, other: ReadHint) {
        self.outcomes.extend(other.outcomes);
        self.children.extend(other.children);
        self.entities.extend(other.entities);
        self.marks.extend(other.marks);
        self.session_tokens.extend(other.session_tokens);
        self.device_tokens.extend(other.device_tokens);
    }

    /// Each key once.
    pub fn dedup(&mut self) {
        self.outcomes.sort_unstable();
        self.outcomes.dedup();
        self.children.sort_unstable();
        self.children.dedup();
        self.entities.sort_unstable();
        self.entities.dedup();
        self.marks.sort_unstable();
        self.marks.dedup();
        self.session_tokens.sort_unstable();
        self.session_tokens.dedup();
        self.device_tokens.sort_unstable();
        self.device_tokens.dedup();
    }
}

impl dyn Store {
    pub async fn read<R, F>(&self, f: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut dyn Tx) -> StoreResult<R> + Send + 'static,
    {
        let out = self.submit_read(erase(f)).await?;
        unerase(out)
    }

    pub async fn write<R, F>(&self, f: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut dyn Tx) -> StoreResult<R> + Send + 'static,
    {
        let out = self.submit_write(erase(f)).await?;
        unerase(out)
    }

    /// [`Self::write`] with what `f` will look up ([`ReadHint`]).
    pub async fn write_hinted<R, F>(&self, hint: ReadHint, f: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut dyn Tx) -> StoreResult<R> + Send + 'static,
    {
        let out = self.submit_write_hinted(erase(f), hint).await?;
        unerase(out)
    }
}

fn erase<R, F>(f: F) -> Job
where
    R: Send + 'static,
    F: FnOnce(&mut dyn Tx) -> StoreResult<R> + Send + 'static,
{
    Box::new(move |tx| f(tx).map(|r| Box::new(r) as Box<dyn Any + Send>))
}

fn unerase<R: 'static>(out: Box<dyn Any + Send>) -> StoreResult<R> {
    out.downcast::<R>()
        .map(|b| *b)
        .map_err(|_| StoreError::Corrupt("job result of unexpected type".into()))
}

#[derive(Debug, Clone, PartialEq)]
pub struct UserRow {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub locale: String,
    pub password_hash: String,
    pub email: Option<String>,
    pub phone: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChildRow {
    pub id: Uuid,
    pub unit_id: Uuid,
    pub class_id: Option<Uuid>,
    pub student_user_id: Option<Uuid>,
    pub personnummer: String,
    pub group_ids: Vec<Uuid>,
}

/// A tablet paired to a unit (R-STAFF-1, 3). Its credential is stored only as a hash.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceRow {
    pub id: Uuid,
    pub unit_id: Uuid,
    pub name: String,
    pub paired_by: Uuid,
    pub paired_at: DateTime<Utc>,
    pub last_seen_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// None with `revoked_at` set: the device unpaired itself.
    pub revoked_by: Option<Uuid>,
}

/// A pairing code not yet used (R-STAFF-3): its first half as typed, its secret half hashed.
#[derive(Debug, Clone, PartialEq)]
pub struct PairingRow {
    pub id: Uuid,
    pub unit_id: Uuid,
    pub lookup: String,
    pub secret_hash: String,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub failed_attempts: u32,
    pub used_at: Option<DateTime<Utc>>,
}

/// A staff member's personal PIN and its lockout state (R-STAFF-3).
#[derive(Debug, Clone, PartialEq)]
pub struct StaffPin {
    pub verifier: PinVerifier,
    pub state: PinState,
}

/// An entity row as stored: the latest version or a tombstone.
///
/// Performance: `data` stays the JSON text the store holds. A pull copies it into the
/// answer without parsing it, not even to check it, and the rules parse it straight into
/// their typed entity (no `serde_json::Value` tree in between). It is JSON because only the
/// server writes it, and only as a [`RawValue`] ([`Tx::put_entity`]); PostgreSQL's `json`
/// column checks it once more on the way in.
#[derive(Debug, Clone)]
pub struct EntityRow {
    pub entity_type: String,
    pub id: Uuid,
    pub scope: String,
    pub seq: i64,
    pub deleted: bool,
    pub data: Option<String>,
}

/// An entity as the rules hold it, kept typed by a transaction until its JSON is needed
/// ([`Tx::put_entity_value`]).
pub trait EntityValue: Any + Send + Sync + std::fmt::Debug {
    fn to_json(&self) -> serde_json::Result<String>;
    fn as_any(&self) -> &dyn Any;
}

impl<T: serde::Serialize + Any + Send + Sync + std::fmt::Debug> EntityValue for T {
    fn to_json(&self) -> serde_json::Result<String> {
        serde_json::to_string(self)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A row visited by [`Tx::changes`], borrowed from the store for the length of the visit.
///
/// Performance: a first sync is about 1,250 rows, and copying each into an owned
/// [`EntityRow`] (three strings) and freeing it again was a fifth of its server time.
#[derive(Debug, Clone, Copy)]
pub struct ChangeRef<'a> {
    pub entity_type: &'a str,
    pub id: Uuid,
    pub seq: i64,
    pub deleted: bool,
    /// JSON text, as stored (see [`EntityRow::data`]), as bytes: it goes into the answer as
    /// it is, and checking it for UTF-8 once more was a twentieth of a first sync's time.
    /// (Were a hand edit to break it, the client's parse would refuse the page just as the
    /// server would have refused to send it.)
    pub data: Option<&'a [u8]>,
}

/// The operations the rules need, inside one transaction.
pub trait Tx {
    // Savepoints, so one rejected mutation is undone without the rest of its batch.
    fn savepoint(&mut self) -> StoreResult<()>;
    fn release_savepoint(&mut self) -> StoreResult<()>;
    fn rollback_savepoint(&mut self) -> StoreResult<()>;

    // Pullable entities.
    fn get_entity(&mut self, ty: &str, id: Uuid) -> StoreResult<Option<EntityRow>>;
    /// Writes the latest version with a new sequence number; returns it.
    fn put_entity(&mut self, ty: &str, id: Uuid, scope: &str, data: &RawValue) -> StoreResult<i64>;
    /// [`Tx::put_entity`] of a typed value: the same row in the end, but the store keeps
    /// the value and serialises it only when the row is written, so that
    /// [`Tx::typed_value`] reads it back without parsing (and a put that a later one
    /// replaces is never serialised).
    fn put_entity_value(&mut self, ty: &str, id: Uuid, scope: &str, value: Arc<dyn EntityValue>) -> StoreResult<i64>;
    /// The typed value of an entity whose latest write is a [`Tx::put_entity_value`] the
    /// store still holds as such; `None` says to read it as a row.
    fn typed_value(&self, ty: &str, id: Uuid) -> Option<Arc<dyn EntityValue>>;
    /// Turns the entity into a tombstone (kept so deltas carry the delete).
    fn delete_entity(&mut self, ty: &str, id: Uuid) -> StoreResult<bool>;
    fn entities_in_scope(&mut self, ty: &str, scope: &str) -> StoreResult<Vec<EntityRow>>;
    /// Visits the rows with `after < seq` (and `seq <= up_to` when given) in any of
    /// `scopes`, in seq order, at most `limit` of them. `live_only` leaves tombstones out
    /// (full snapshots, backfills).
    fn changes(
        &mut self,
        scopes: &[String],
        after: i64,
        up_to: Option<i64>,
        limit: Option<u32>,
        live_only: bool,
        visit: &mut dyn FnMut(ChangeRef<'_>) -> StoreResult<()>,
    ) -> StoreResult<()>;
    /// Of `scopes`, those that may hold rows with a sequence number above `after` in this
    /// snapshot, whose newest is `max_seq`: a pull reads only their ranges. `None` when the
    /// store does not know (every one may); SQLite's writer, and PostgreSQL's listener of
    /// every instance's commits, keep what was written where (`store/scope_heads.rs`).
    fn scopes_written_after(&mut self, _scopes: &[String], _after: i64, _max_seq: i64) -> Option<Vec<String>> {
        None
    }
    /// Every row, live or not, in any of `scopes` (for deletes on scope shrink).
    fn all_in_scopes(&mut self, scopes: &[String]) -> StoreResult<Vec<EntityRow>>;
    /// The oldest sequence number a cursor may still name.
    fn min_cursor_seq(&mut self) -> StoreResult<i64>;
    /// The newest sequence number handed out.
    fn max_seq(&mut self) -> StoreResult<i64>;
    /// Scopes touched in this transaction, for SSE pokes after commit.
    fn touch_scope(&mut self, scope: &str);
    /// Performance: a unit (a large document with its opening hours and closed dates) the
    /// rules already parsed in this transaction, if the store keeps them. A store that does
    /// must forget it when the unit is written and on every rollback, like its other
    /// transaction caches.
    fn cached_unit(&mut self, _id: Uuid) -> Option<Arc<Unit>> {
        None
    }
    fn remember_unit(&mut self, _unit: Arc<Unit>) {}

    // Scope sets named by cursors.
    fn scope_set(&mut self, hash: &str) -> StoreResult<Option<Vec<String>>>;
    fn put_scope_set(&mut self, hash: &str, scopes: &[String]) -> StoreResult<()>;
    /// Whether a scope set is stored; a store may answer without reading the set (every
    /// pull asks this).
    fn has_scope_set(&mut self, hash: &str) -> StoreResult<bool> {
        Ok(self.scope_set(hash)?.is_some())
    }

    // Users and tokens.
    fn insert_user(&mut self, u: &UserRow) -> StoreResult<()>;
    fn user_by_username(&mut self, username: &str) -> StoreResult<Option<UserRow>>;
    fn user_by_id(&mut self, id: Uuid) -> StoreResult<Option<UserRow>>;
    fn insert_token(
        &mut self,
        token_hash: &str,
        user_id: Uuid,
        device_id: Option<&str>,
        created_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()>;
    fn user_for_token(&mut self, token_hash: &str, now: DateTime<Utc>) -> StoreResult<Option<UserRow>>;
    /// [`Tx::user_for_token`] for a pull, which asks next for the person's scope
    /// (`scope::scopes_for`), the sequence counters and the token's expiry: a store may
    /// fetch those with it (PostgreSQL does, in the same round trip).
    fn user_for_pull(&mut self, token_hash: &str, now: DateTime<Utc>) -> StoreResult<Option<UserRow>> {
        self.user_for_token(token_hash, now)
    }
    /// Said before [`Tx::user_for_pull`]: the pull will likely ask [`Tx::changes`] for the
    /// rows after `after` with this `limit`, in the scopes the person's last pull read
    /// (`crate::rules::pull::expected_changes`). A store may read them with the person and
    /// answer that call from them when it asks exactly that (PostgreSQL does).
    fn expect_changes(&mut self, _after: i64, _limit: u32) {}
    /// When a session token expires; `None` for an unknown token.
    fn token_expires_at(&mut self, token_hash: &str) -> StoreResult<Option<DateTime<Utc>>>;
    fn revoke_token(&mut self, token_hash: &str) -> StoreResult<bool>;

    // Roster.
    fn insert_unit(&mut self, id: Uuid, name: &str) -> StoreResult<()>;
    fn insert_group(&mut self, id: Uuid, unit_id: Uuid) -> StoreResult<()>;
    fn insert_class(&mut self, id: Uuid, unit_id: Uuid) -> StoreResult<()>;
    fn insert_child(&mut self, c: &ChildRow) -> StoreResult<()>;
    fn add_guardian(&mut self, guardian_id: Uuid, child_id: Uuid) -> StoreResult<()>;
    fn remove_guardian(&mut self, guardian_id: Uuid, child_id: Uuid) -> StoreResult<bool>;
    fn add_staff_unit(&mut self, staff_id: Uuid, unit_id: Uuid) -> StoreResult<()>;
    fn child(&mut self, id: Uuid) -> StoreResult<Option<ChildRow>>;
    fn children_of_guardian(&mut self, guardian_id: Uuid) -> StoreResult<Vec<Uuid>>;
    fn guardians_of(&mut self, child_id: Uuid) -> StoreResult<Vec<Uuid>>;
    fn child_of_student(&mut self, user_id: Uuid) -> StoreResult<Option<Uuid>>;
    fn staff_units(&mut self, staff_id: Uuid) -> StoreResult<Vec<Uuid>>;
    fn staff_of_unit(&mut self, unit_id: Uuid) -> StoreResult<Vec<Uuid>>;
    fn children_of_unit(&mut self, unit_id: Uuid) -> StoreResult<Vec<Uuid>>;
    fn groups_of_unit(&mut self, unit_id: Uuid) -> StoreResult<Vec<Uuid>>;
    fn classes_of_unit(&mut self, unit_id: Uuid) -> StoreResult<Vec<Uuid>>;
    fn all_units(&mut self) -> StoreResult<Vec<Uuid>>;

    // Message threads.
    fn add_thread_participant(&mut self, thread_id: Uuid, user_id: Uuid) -> StoreResult<()>;
    fn thread_participants(&mut self, thread_id: Uuid) -> StoreResult<Vec<Uuid>>;
    fn threads_of_user(&mut self, user_id: Uuid) -> StoreResult<Vec<Uuid>>;

    // Idempotency. The owner of an outcome (`user_id`) is the user who pushed it, or the
    // device for a paired tablet's push.
    fn mutation_outcome(&mut self, id: Uuid) -> StoreResult<Option<(Uuid, MutationResult)>>;
    /// Performance hint: `mutation_outcome` is about to be asked for each of `ids` (a push).
    /// A store whose look-ups are round trips may fetch them in one; answers must stay
    /// those `mutation_outcome` would give.
    fn prefetch_outcomes(&mut self, _ids: &[Uuid]) -> StoreResult<()> {
        Ok(())
    }
    fn store_mutation_outcome(
        &mut self,
        id: Uuid,
        user_id: Uuid,
        client_id: Uuid,
        name: &str,
        result: &MutationResult,
        at: DateTime<Utc>,
    ) -> StoreResult<()>;

    // Paired tablets (R-STAFF-1, 3). None of these change who sees what: a device's scope
    // is its unit's, and the unit's roster is unchanged by pairing.
    fn insert_device(&mut self, d: &DeviceRow, token_hash: &str) -> StoreResult<()>;
    fn device(&mut self, id: Uuid) -> StoreResult<Option<DeviceRow>>;
    /// The device of a credential, if it is not revoked.
    fn device_for_token(&mut self, token_hash: &str) -> StoreResult<Option<DeviceRow>>;
    /// Every device of the unit, revoked ones included, oldest first.
    fn devices_of_unit(&mut self, unit_id: Uuid) -> StoreResult<Vec<DeviceRow>>;
    /// Revokes a device not yet revoked; false if it was (or does not exist).
    fn revoke_device(&mut self, id: Uuid, by: Option<Uuid>, at: DateTime<Utc>) -> StoreResult<bool>;
    fn set_device_last_seen(&mut self, id: Uuid, at: DateTime<Utc>) -> StoreResult<()>;

    fn insert_pairing(&mut self, p: &PairingRow) -> StoreResult<()>;
    fn pairing(&mut self, id: Uuid) -> StoreResult<Option<PairingRow>>;
    /// Pairings not yet used whose code starts with `lookup` (live or not), oldest first.
    fn unused_pairings_by_lookup(&mut self, lookup: &str) -> StoreResult<Vec<PairingRow>>;
    /// Pairings of the unit not yet used (live or not), oldest first.
    fn unused_pairings_of_unit(&mut self, unit_id: Uuid) -> StoreResult<Vec<PairingRow>>;
    fn count_failed_pairing_attempt(&mut self, id: Uuid) -> StoreResult<()>;
    /// Marks a pairing used by `device_id`; false if it was used already.
    fn use_pairing(&mut self, id: Uuid, device_id: Uuid, at: DateTime<Utc>) -> StoreResult<bool>;
    fn delete_pairing(&mut self, id: Uuid) -> StoreResult<bool>;
    /// Forgets pairings never used that expired before `before`.
    fn prune_pairings(&mut self, before: DateTime<Utc>) -> StoreResult<()>;

    // Staff PINs (R-STAFF-3): one per staff member, whatever their units.
    fn staff_pin(&mut self, user_id: Uuid) -> StoreResult<Option<StaffPin>>;
    fn put_staff_pin(&mut self, user_id: Uuid, pin: &StaffPin) -> StoreResult<()>;
    fn delete_staff_pin(&mut self, user_id: Uuid) -> StoreResult<bool>;

    // Outgoing e-mail and SMS.
    fn enqueue_outgoing(
        &mut self,
        channel: &str,
        recipient: &str,
        subject: &str,
        body: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<()>;

    fn is_empty(&mut self) -> StoreResult<bool>;
}

/// What a committed write touched, for SSE pokes.
pub type TouchedScopes = BTreeSet<String>;

/// A touched scope meaning "poke every stream" (announcements too large to list, or that
/// may have been missed, e.g. while the PostgreSQL listener reconnected).
pub const POKE_EVERYONE: &str = "*";

/// Counters of a store's write path: `jobs` write jobs (a push is one job, whatever its
/// number of mutations) were committed in `commits` transactions (group commit: one
/// durable commit for many jobs), the largest group holding `largest_group` jobs.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WriteStats {
    pub commits: u64,
    pub jobs: u64,
    pub largest_group: u64,
    /// Groups whose writes went in on two database connections at once (PostgreSQL).
    pub split_groups: u64,
}
