//! Savepoints opened in the database only when they have to be, for both stores.
//!
//! Performance. Every push runs in a savepoint (so a failing job is undone alone) and each
//! of its mutations in another (so a rejected one is undone alone). Most mutations check
//! everything, then write one or two entities and their outcome: a tablet's arrival is one
//! row and one outcome. In SQLite a savepoint made each of them copy every page it touched
//! into the savepoint's journal and walk it again on release (a sixth of the writer
//! thread's time, and as much again for the job's); in PostgreSQL each savepoint and each
//! statement is a round trip to the database.
//!
//! So `Tx::savepoint` only marks a [`Frame`], and the frame's entity and outcome writes
//! wait in [`Deferred::pending`] (reads of an entity or an outcome see them). When a frame
//! with no open frame around it is released, its writes go to the database in order, as
//! they would have been; when it is rolled back they are dropped, and nothing was written.
//! Any other statement that writes, or that reads `entities` by a query the pending rows
//! would change, first opens the frames' savepoints in the database and writes the pending
//! rows inside them ([`Deferred::materialize`]); from then on they are real savepoints.
//! Either way the database ends as it would with a savepoint each.
//!
//! Both stores run one writer at a time (SQLite's single writer, PostgreSQL's advisory
//! write lock), so nothing can change what a pending write would have met in between.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use domain::wire::MutationResult;
use serde_json::value::RawValue;
use uuid::Uuid;

use super::{EntityRow, EntityValue, StoreError, StoreResult};

/// A write waiting for its frame to be released.
#[derive(Debug)]
pub(crate) enum PendingWrite {
    Put { ty: String, id: Uuid, scope: String, seq: i64, data: EntityData },
    Delete { ty: String, id: Uuid, scope: String, seq: i64 },
    Outcome(Box<PendingOutcome>),
}

/// What a pending put writes: JSON text, or the rules' typed value, turned into JSON only
/// when it is written or read as text.
///
/// Performance: a tablet that syncs a day at once marks a child arrived and then departed
/// in one push. The departure read the arrival's row back by parsing its JSON, and the
/// arrival's JSON was then never written (see [`coalesced`]): a tenth of the writer
/// thread's time in that rush went to JSON that no one needed.
#[derive(Debug, Clone)]
pub(crate) enum EntityData {
    Json(String),
    Value(Arc<dyn EntityValue>),
}

impl EntityData {
    /// The JSON text that is stored.
    pub fn json(&self) -> StoreResult<Cow<'_, str>> {
        match self {
            EntityData::Json(s) => Ok(Cow::Borrowed(s)),
            EntityData::Value(v) => v.to_json().map(Cow::Owned).map_err(|e| StoreError::Corrupt(e.to_string())),
        }
    }
}

/// A mutation's first outcome (the idempotency record).
#[derive(Debug)]
pub(crate) struct PendingOutcome {
    pub id: Uuid,
    pub owner: Uuid,
    pub client_id: Uuid,
    pub name: String,
    /// The result as stored (serialised once; a replay in the same group parses it back).
    pub result: String,
    pub at: DateTime<Utc>,
}

impl PendingWrite {
    pub fn put(ty: &str, id: Uuid, scope: &str, seq: i64, data: &RawValue) -> PendingWrite {
        let data = EntityData::Json(data.get().to_string());
        PendingWrite::Put { ty: ty.to_string(), id, scope: scope.to_string(), seq, data }
    }

    /// A put of a typed value (see [`EntityData`]).
    pub fn put_value(ty: &str, id: Uuid, scope: &str, seq: i64, value: Arc<dyn EntityValue>) -> PendingWrite {
        PendingWrite::Put { ty: ty.to_string(), id, scope: scope.to_string(), seq, data: EntityData::Value(value) }
    }

    pub fn outcome(
        id: Uuid,
        owner: Uuid,
        client_id: Uuid,
        name: &str,
        result: &MutationResult,
        at: DateTime<Utc>,
    ) -> StoreResult<PendingWrite> {
        let result = serde_json::to_string(result).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(PendingWrite::Outcome(Box::new(PendingOutcome { id, owner, client_id, name: name.to_string(), result, at })))
    }

    /// The id of the entity or the mutation written.
    fn id(&self) -> Uuid {
        match self {
            PendingWrite::Put { id, .. } | PendingWrite::Delete { id, .. } => *id,
            PendingWrite::Outcome(o) => o.id,
        }
    }

    /// The scope of the entity written.
    pub fn scope(&self) -> Option<&str> {
        match self {
            PendingWrite::Put { scope, .. } | PendingWrite::Delete { scope, .. } => Some(scope),
            PendingWrite::Outcome(_) => None,
        }
    }

    /// The sequence number of an entity write.
    pub fn seq(&self) -> Option<i64> {
        match self {
            PendingWrite::Put { seq, .. } | PendingWrite::Delete { seq, .. } => Some(*seq),
            PendingWrite::Outcome(_) => None,
        }
    }

    /// The entity written.
    fn key(&self) -> Option<(&str, Uuid)> {
        match self {
            PendingWrite::Put { ty, id, .. } | PendingWrite::Delete { ty, id, .. } => Some((ty, *id)),
            PendingWrite::Outcome(_) => None,
        }
    }

    /// The row a read sees (of an entity write).
    fn row(&self) -> StoreResult<Option<EntityRow>> {
        Ok(Some(match self {
            PendingWrite::Put { ty, id, scope, seq, data } => EntityRow {
                entity_type: ty.clone(),
                id: *id,
                scope: scope.clone(),
                seq: *seq,
                deleted: false,
                data: Some(data.json()?.into_owned()),
            },
            PendingWrite::Delete { ty, id, scope, seq } => EntityRow {
                entity_type: ty.clone(),
                id: *id,
                scope: scope.clone(),
                seq: *seq,
                deleted: true,
                data: None,
            },
            PendingWrite::Outcome(_) => return Ok(None),
        }))
    }
}

/// What a store does for [`Deferred`]: real savepoints named by their depth, and the
/// pending writes in order.
pub(crate) trait SavepointDb {
    fn open(&mut self, depth: usize) -> StoreResult<()>;
    fn release(&mut self, depth: usize) -> StoreResult<()>;
    /// `ROLLBACK TO` and `RELEASE`: undone and closed.
    fn rollback(&mut self, depth: usize) -> StoreResult<()>;
    fn write(&mut self, writes: &[&PendingWrite]) -> StoreResult<()>;
}

/// The writes of `writes` that decide how the database ends, in order: an entity write
/// that a later put of the same entity replaces is left out. A put sets every column of the
/// row (scope, sequence number, deleted, data), so the row ends the same; the left-out
/// write's sequence number is never seen, a gap that a pull's range reads over. Writes
/// before a delete stay (the delete only marks a row that exists).
///
/// Performance: a tablet that syncs a day at once marks each child arrived and then
/// departed in one push; each attendance row is then written once per push instead of
/// once per mutation. (On SQLite a job's writes go in when the job's own frame is
/// released, so two pushes of one group still write the same row once each; PostgreSQL's
/// writer keeps a group's writes in a frame of its own until the group's end, see
/// `postgres::writer::run_batch`.)
pub(crate) fn coalesced(writes: &[PendingWrite]) -> Vec<&PendingWrite> {
    let mut put_later: HashSet<(&str, Uuid)> = HashSet::new();
    let mut keep = vec![true; writes.len()];
    for (i, w) in writes.iter().enumerate().rev() {
        let Some(key) = w.key() else { continue };
        if put_later.contains(&key) {
            keep[i] = false;
        } else if matches!(w, PendingWrite::Put { .. }) {
            put_later.insert(key);
        }
    }
    writes.iter().zip(keep).filter_map(|(w, k)| k.then_some(w)).collect()
}

/// Where `writes` (a group's, in order) can be cut in two closest to `target`: at one of
/// `bounds` (where a job's writes end), with both parts non-empty and no entity written
/// on both sides. The two parts can then go in on two connections at once without either
/// waiting for a row the other holds (see `postgres::split::split_off_lower_half`).
pub(crate) fn split_point(writes: &[PendingWrite], bounds: &[usize], target: usize) -> Option<usize> {
    let n = writes.len();
    let mut span: HashMap<(&str, Uuid), (usize, usize)> = HashMap::new();
    for (i, w) in writes.iter().enumerate() {
        if let Some(key) = w.key() {
            span.entry(key).and_modify(|s| s.1 = i).or_insert((i, i));
        }
    }
    // covered[c] > 0: some entity is written both before c and at or after it.
    let mut covered = vec![0i32; n + 2];
    for &(first, last) in span.values() {
        if first < last {
            covered[first + 1] += 1;
            covered[last + 1] -= 1;
        }
    }
    for i in 1..covered.len() {
        covered[i] += covered[i - 1];
    }
    bounds.iter().copied().filter(|&b| b > 0 && b < n && covered[b] == 0).min_by_key(|&b| b.abs_diff(target))
}

/// A savepoint of a job or a mutation (`Tx::savepoint`).
#[derive(Debug)]
struct Frame {
    /// The store's sequence counter when the frame began (restored on rollback).
    seq: Option<i64>,
    /// Whether the database has the savepoint.
    opened: bool,
    /// Where its writes begin in `pending`.
    pending_from: usize,
}

/// The open frames of one transaction and their waiting writes.
#[derive(Debug, Default)]
pub(crate) struct Deferred {
    /// Outermost first; opened in the database outermost first, so the opened ones are a
    /// prefix.
    frames: Vec<Frame>,
    /// Writes of frames not yet opened in the database, in order.
    pending: Vec<PendingWrite>,
    /// Where each id's writes are in `pending`, in order. Performance: PostgreSQL's writer
    /// keeps a whole group's writes waiting (hundreds to thousands), and every read of an
    /// entity or an outcome first looks for a waiting write of it; walking the list made
    /// that grow with the square of the group.
    by_id: HashMap<Uuid, Vec<usize>>,
    /// Pending writes failed half-way with no savepoint around them: the transaction must
    /// be rolled back as a whole (the writer does, and answers every job of its group with
    /// the error). Only a failing database gets here.
    pub poisoned: bool,
}

impl Deferred {
    pub fn depth(&self) -> usize {
        self.frames.len()
    }

    /// Opens a frame; `seq` is the store's counter now.
    pub fn begin(&mut self, seq: Option<i64>) {
        self.frames.push(Frame { seq, opened: false, pending_from: self.pending.len() });
    }

    /// Whether a write now waits (the innermost frame is not opened in the database).
    pub fn buffering(&self) -> bool {
        self.frames.last().is_some_and(|f| !f.opened)
    }

    /// Queues `w` while the innermost frame waits; writes it now otherwise.
    pub fn write(&mut self, w: PendingWrite, db: &mut impl SavepointDb) -> StoreResult<()> {
        if self.buffering() {
            self.by_id.entry(w.id()).or_default().push(self.pending.len());
            self.pending.push(w);
            Ok(())
        } else {
            db.write(&[&w])
        }
    }

    /// The latest pending write of an entity, as a read sees it.
    pub fn entity(&self, ty: &str, id: Uuid) -> StoreResult<Option<Option<EntityRow>>> {
        self.latest(ty, id).map(PendingWrite::row).transpose()
    }

    /// The typed value of an entity whose latest pending write is a put of one.
    pub fn value(&self, ty: &str, id: Uuid) -> Option<Arc<dyn EntityValue>> {
        match self.latest(ty, id)? {
            PendingWrite::Put { data: EntityData::Value(v), .. } => Some(v.clone()),
            _ => None,
        }
    }

    /// The pending writes of `id` (an entity's or a mutation's), latest first.
    fn of_id(&self, id: Uuid) -> impl Iterator<Item = &PendingWrite> {
        self.by_id.get(&id).into_iter().flat_map(|at| at.iter().rev().map(|&i| &self.pending[i]))
    }

    fn latest(&self, ty: &str, id: Uuid) -> Option<&PendingWrite> {
        self.of_id(id).find(|w| w.key() == Some((ty, id)))
    }

    /// A pending outcome: its owner and stored result.
    pub fn outcome(&self, id: Uuid) -> Option<(Uuid, &str)> {
        self.of_id(id).find_map(|w| match w {
            PendingWrite::Outcome(o) if o.id == id => Some((o.owner, o.result.as_str())),
            _ => None,
        })
    }

    /// Drops the pending writes from `from` on.
    fn truncate(&mut self, from: usize) {
        if from == 0 {
            self.by_id.clear();
        } else {
            for w in &self.pending[from.min(self.pending.len())..] {
                let id = w.id();
                if let Some(at) = self.by_id.get_mut(&id) {
                    while at.last().is_some_and(|&i| i >= from) {
                        at.pop();
                    }
                    if at.is_empty() {
                        self.by_id.remove(&id);
                    }
                }
            }
        }
        self.pending.truncate(from);
    }

    /// Opens in the database every frame not yet opened (outermost first) and writes its
    /// pending rows inside it.
    pub fn materialize(&mut self, db: &mut impl SavepointDb) -> StoreResult<()> {
        if !self.buffering() {
            return Ok(());
        }
        let first = self.frames.iter().position(|f| !f.opened).unwrap_or(self.frames.len());
        for i in first..self.frames.len() {
            db.open(i)?;
            self.frames[i].opened = true;
            let end = self.frames.get(i + 1).map_or(self.pending.len(), |f| f.pending_from);
            db.write(&coalesced(&self.pending[self.frames[i].pending_from..end]))?;
        }
        self.truncate(0);
        Ok(())
    }

    /// Releases the innermost frame. Its writes then belong to the frame around it, or are
    /// written now when that one is open in the database (or there is none).
    pub fn release(&mut self, db: &mut impl SavepointDb) -> StoreResult<()> {
        let Some(frame) = self.frames.pop() else {
            return Err(StoreError::Database("release without a savepoint".into()));
        };
        if frame.opened {
            return db.release(self.frames.len());
        }
        if !self.buffering() {
            let written = db.write(&coalesced(&self.pending[frame.pending_from..]));
            self.truncate(frame.pending_from);
            if written.is_err() && self.frames.is_empty() {
                self.poisoned = true;
            }
            written?;
        }
        Ok(())
    }

    /// Rolls the innermost frame back; returns the counter to restore.
    pub fn rollback(&mut self, db: &mut impl SavepointDb) -> StoreResult<Option<i64>> {
        let Some(frame) = self.frames.pop() else {
            return Err(StoreError::Database("rollback without a savepoint".into()));
        };
        self.truncate(frame.pending_from);
        if frame.opened {
            db.rollback(self.frames.len())?;
        }
        Ok(frame.seq)
    }

    /// Whether frame `i` (outermost 0) is a savepoint in the database.
    pub fn opened_at(&self, i: usize) -> bool {
        self.frames.get(i).is_some_and(|f| f.opened)
    }

    /// No frame open and no write waiting.
    #[cfg(test)]
    pub fn is_idle(&self) -> bool {
        self.frames.is_empty() && self.pending.is_empty()
    }


    /// How many writes wait.
    pub fn waiting(&self) -> usize {
        self.pending.len()
    }

    /// The writes waiting, in order.
    pub fn waiting_writes(&self) -> &[PendingWrite] {
        &self.pending
    }

    /// Takes the first `at` waiting writes out (to be written elsewhere, see
    /// [`split_point`]); only while a single frame, not opened in the database, holds them.
    pub fn take_front(&mut self, at: usize) -> StoreResult<Vec<PendingWrite>> {
        if self.frames.len() != 1 || !self.buffering() || at > self.pending.len() {
            return Err(StoreError::Database("a group's writes can only be cut while they all wait".into()));
        }
        let front: Vec<PendingWrite> = self.pending.drain(..at).collect();
        self.by_id.clear();
        for (i, w) in self.pending.iter().enumerate() {
            self.by_id.entry(w.id()).or_default().push(i);
        }
        Ok(front)
    }

    /// Puts writes taken by [`Deferred::take_front`] back where they were.
    pub fn put_front(&mut self, mut front: Vec<PendingWrite>) {
        front.append(&mut self.pending);
        self.pending = front;
        self.by_id.clear();
        for (i, w) in self.pending.iter().enumerate() {
            self.by_id.entry(w.id()).or_default().push(i);
        }
    }

    /// Frames a job left open (a panic, an error or a forgotten release) end with the
    /// job's own frame at `depth`: released with it, keeping their writes as a database
    /// would, or rolled back with it.
    pub fn close_above(&mut self, depth: usize, db: &mut impl SavepointDb) -> StoreResult<()> {
        self.frames.truncate(depth + 1);
        // Writes of closed frames that were waiting inside an opened one go in now.
        if !self.buffering() && !self.pending.is_empty() {
            let written = db.write(&coalesced(&self.pending));
            self.truncate(0);
            written?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Uuid = Uuid::from_u128(0xa);
    const B: Uuid = Uuid::from_u128(0xb);

    fn put(id: Uuid, seq: i64) -> PendingWrite {
        PendingWrite::Put { ty: "attendance".into(), id, scope: "child:x".into(), seq, data: EntityData::Json("{}".into()) }
    }

    fn delete(id: Uuid, seq: i64) -> PendingWrite {
        PendingWrite::Delete { ty: "attendance".into(), id, scope: "child:x".into(), seq }
    }

    fn outcome(n: u128) -> PendingWrite {
        PendingWrite::Outcome(Box::new(PendingOutcome {
            id: Uuid::from_u128(n),
            owner: Uuid::nil(),
            client_id: Uuid::nil(),
            name: "attendance.mark".into(),
            result: "{}".into(),
            at: DateTime::UNIX_EPOCH,
        }))
    }

    /// (kind, id or outcome id, seq) of each write, to compare.
    fn shape(writes: &[&PendingWrite]) -> Vec<(char, Uuid, i64)> {
        writes
            .iter()
            .map(|w| match w {
                PendingWrite::Put { id, seq, .. } => ('p', *id, *seq),
                PendingWrite::Delete { id, seq, .. } => ('d', *id, *seq),
                PendingWrite::Outcome(o) => ('o', o.id, 0),
            })
            .collect()
    }

    #[test]
    fn an_entity_put_again_later_in_the_push_is_written_once_with_its_last_put() {
        // A tablet's day at once: arrived (seq 1, 2), then departed (seq 3, 4), each with
        // its outcome.
        let writes = [put(A, 1), outcome(1), put(B, 2), outcome(2), put(A, 3), outcome(3), put(B, 4), outcome(4)];
        let kept = coalesced(&writes);
        assert_eq!(
            shape(&kept),
            vec![
                ('o', Uuid::from_u128(1), 0),
                ('o', Uuid::from_u128(2), 0),
                ('p', A, 3),
                ('o', Uuid::from_u128(3), 0),
                ('p', B, 4),
                ('o', Uuid::from_u128(4), 0),
            ]
        );
    }

    #[test]
    fn the_writes_before_a_last_delete_stay_and_a_put_after_a_delete_replaces_both() {
        // A put then a delete: the row must exist for the delete to mark it.
        let writes = [put(A, 1), delete(A, 2)];
        assert_eq!(shape(&coalesced(&writes)), vec![('p', A, 1), ('d', A, 2)]);
        // Put, delete, put: the last put sets every column.
        let writes = [put(A, 1), delete(A, 2), put(A, 3), put(B, 4)];
        assert_eq!(shape(&coalesced(&writes)), vec![('p', A, 3), ('p', B, 4)]);
    }

    /// A database that only counts the writes it is given.
    #[derive(Default)]
    struct Counting(usize);

    impl SavepointDb for Counting {
        fn open(&mut self, _: usize) -> StoreResult<()> {
            Ok(())
        }
        fn release(&mut self, _: usize) -> StoreResult<()> {
            Ok(())
        }
        fn rollback(&mut self, _: usize) -> StoreResult<()> {
            Ok(())
        }
        fn write(&mut self, writes: &[&PendingWrite]) -> StoreResult<()> {
            self.0 += writes.len();
            Ok(())
        }
    }

    fn seq_of(d: &Deferred, id: Uuid) -> Option<(i64, bool)> {
        d.entity("attendance", id).unwrap().map(|row| row.map(|r| (r.seq, r.deleted)).unwrap())
    }

    #[test]
    fn a_read_sees_the_latest_waiting_write_and_after_a_rollback_the_one_before_it() {
        let mut db = Counting::default();
        let mut d = Deferred::default();
        // A group's frame with one push's writes, then a second push that is rolled back.
        d.begin(None);
        d.write(put(A, 1), &mut db).unwrap();
        d.write(outcome(1), &mut db).unwrap();
        d.begin(None);
        d.write(put(A, 2), &mut db).unwrap();
        d.write(delete(B, 3), &mut db).unwrap();
        d.write(outcome(2), &mut db).unwrap();
        assert_eq!(seq_of(&d, A), Some((2, false)));
        assert_eq!(seq_of(&d, B), Some((3, true)));
        assert!(d.outcome(Uuid::from_u128(2)).is_some());
        // Another type with the same id is another entity.
        assert!(d.entity("absence", A).unwrap().is_none());
        d.rollback(&mut db).unwrap();
        assert_eq!(seq_of(&d, A), Some((1, false)), "the first push's write again");
        assert_eq!(seq_of(&d, B), None, "nothing of B waits any more");
        assert!(d.outcome(Uuid::from_u128(2)).is_none());
        assert!(d.outcome(Uuid::from_u128(1)).is_some());
        // A write after the rollback is found, and the release writes what waits.
        d.write(put(B, 4), &mut db).unwrap();
        assert_eq!(seq_of(&d, B), Some((4, false)));
        d.release(&mut db).unwrap();
        assert_eq!(db.0, 3, "A, its outcome and B");
        assert!(d.is_idle());
        assert_eq!(seq_of(&d, A), None);
        assert!(d.outcome(Uuid::from_u128(1)).is_none());
    }

    #[test]
    fn a_group_is_cut_at_the_job_end_nearest_the_target_where_no_entity_is_on_both_sides() {
        let c = Uuid::from_u128(0xc);
        // Three jobs: A and its outcome; B, A again and an outcome; C and its outcome.
        let writes = [put(A, 1), outcome(1), put(B, 2), put(A, 3), outcome(2), put(c, 4), outcome(3)];
        let bounds = [2, 5, 7];
        // After the first job A is written again later: no cut there, the next job end is taken.
        assert_eq!(split_point(&writes, &bounds, 2), Some(5));
        assert_eq!(split_point(&writes, &bounds, 0), Some(5));
        // Never at the very end (one side would be empty).
        assert_eq!(split_point(&writes, &bounds, 7), Some(5));
        // Every job writes A: nowhere to cut.
        let writes = [put(A, 1), put(A, 2), put(B, 3), put(A, 4)];
        assert_eq!(split_point(&writes, &[1, 3, 4], 2), None);
        // Outcomes alone never hold a cut back.
        let writes = [outcome(1), outcome(2), outcome(3), outcome(4)];
        assert_eq!(split_point(&writes, &[1, 2, 3, 4], 2), Some(2));
        assert_eq!(split_point(&writes, &[], 2), None);
    }

    #[test]
    fn writes_taken_from_the_front_are_no_longer_read_and_put_back_are_read_again() {
        let mut db = Counting::default();
        let mut d = Deferred::default();
        d.begin(None);
        for w in [put(A, 1), outcome(1), put(B, 2), outcome(2)] {
            d.write(w, &mut db).unwrap();
        }
        let front = d.take_front(2).unwrap();
        assert_eq!(shape(&front.iter().collect::<Vec<_>>()), vec![('p', A, 1), ('o', Uuid::from_u128(1), 0)]);
        assert_eq!(seq_of(&d, A), None);
        assert_eq!(seq_of(&d, B), Some((2, false)));
        assert!(d.outcome(Uuid::from_u128(1)).is_none() && d.outcome(Uuid::from_u128(2)).is_some());
        d.put_front(front);
        assert_eq!(seq_of(&d, A), Some((1, false)));
        assert_eq!(seq_of(&d, B), Some((2, false)));
        assert!(d.outcome(Uuid::from_u128(1)).is_some());
        // Not while a job's frame is open inside the group's.
        d.begin(None);
        assert!(d.take_front(1).is_err());
        d.release(&mut db).unwrap();
        d.release(&mut db).unwrap();
        assert_eq!(db.0, 4);
    }
}
