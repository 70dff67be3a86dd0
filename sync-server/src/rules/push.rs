//! `POST /v1/sync/push`: mutations applied in order, each in its own savepoint, idempotent
//! by id; a rejection never aborts the ones after it.
//!
//! A paired tablet pushes on behalf of its unit's staff (R-STAFF-1, 2): each envelope names
//! the staff member in `actor`, who must be staff of the device's unit, and is applied as
//! them but only on that unit's children. Personal mutations (messages, talks, notification
//! marks) are not taken from a shared tablet. The first outcome of a mutation id belongs to
//! the device, so a replay from the same device gets it back.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use domain::wire::{mutation_names as n, Mutation, MutationEnvelope, MutationResult, Role};
use domain::{RejectCode, RuleError};
use uuid::Uuid;

use super::access::{not_permitted, Actor};
use super::{apply, pins, ApplyError, ApplyResult};
use crate::store::{DeviceRow, StoreError, StoreResult, Tx, UserRow};

/// Counts for metrics.
#[derive(Debug, Default, Clone, Copy)]
pub struct PushStats {
    pub applied: u64,
    pub rejected: u64,
    pub replayed: u64,
}

/// Who sends a push.
#[derive(Debug, Clone)]
pub enum Pusher {
    /// A person with their own session: the actor is always them.
    User(UserRow),
    /// A tablet paired to a unit, acting for the staff member each envelope names.
    Device(DeviceRow),
}

impl Pusher {
    /// Who owns the stored outcomes of this pusher's mutation ids.
    fn owner(&self) -> Uuid {
        match self {
            Pusher::User(u) => u.id,
            Pusher::Device(d) => d.id,
        }
    }
}

/// What staff do on a tablet (R-STAFF-2), and the tablet's own PIN reports (R-STAFF-3).
pub const DEVICE_MUTATIONS: [&str; 8] = [
    n::ATTENDANCE_MARK,
    n::ABSENCE_CONFIRM,
    n::ABSENCE_REPORT,
    n::CARE_COMMENT,
    n::CARE_COMMENT_SEEN,
    n::CARE_SET_DAY,
    n::CARE_CLEAR_DAY,
    n::STAFF_PIN_ATTEMPT,
];

/// Each mutation's arguments read into their typed form, or why they cannot be.
///
/// Performance: this needs nothing from the store, so the request's own task does it
/// before the push queues for the single writer (a twentieth of the writer's time in the
/// tablet rush).
pub fn parse_all(mutations: &[MutationEnvelope]) -> Vec<Result<Mutation, RuleError>> {
    mutations.iter().map(|env| Mutation::parse(&env.name, &env.args)).collect()
}

/// Applies a push's `mutations`, `parsed` being [`parse_all`] of them.
pub fn push(
    tx: &mut dyn Tx,
    pusher: &Pusher,
    now: DateTime<Utc>,
    client_id: Uuid,
    mutations: &[MutationEnvelope],
    parsed: &[Result<Mutation, RuleError>],
) -> StoreResult<(Vec<MutationResult>, PushStats)> {
    if parsed.len() != mutations.len() {
        return Err(StoreError::Database("a push's parsed mutations do not match it".into()));
    }
    let mut results = Vec::with_capacity(mutations.len());
    let mut stats = PushStats::default();
    let owner = pusher.owner();
    let mut acting = Acting::new(pusher, now);
    if mutations.len() > 1 {
        tx.prefetch_outcomes(&mutations.iter().map(|m| m.id).collect::<Vec<_>>())?;
        apply::prefetch(tx, parsed)?;
    }
    for (env, parsed) in mutations.iter().zip(parsed) {
        // A mutation sent again returns its first result and changes nothing, even when the
        // rule would reject it now (the lock has passed since).
        if let Some((first_owner, first)) = tx.mutation_outcome(env.id)? {
            stats.replayed += 1;
            if first_owner == owner {
                results.push(first);
            } else {
                let err = RuleError::new(RejectCode::InvalidInput, "this mutation id belongs to another user or device");
                results.push(MutationResult::rejected(env.id, &err));
            }
            continue;
        }
        let result = match parsed {
            Err(err) => MutationResult::rejected(env.id, err),
            Ok(m) => {
                tx.savepoint()?;
                match acting.apply(tx, env.actor, m) {
                    Ok(details) => {
                        tx.release_savepoint()?;
                        MutationResult::applied(env.id, details)
                    }
                    Err(ApplyError::Rule(err)) => {
                        tx.rollback_savepoint()?;
                        MutationResult::rejected(env.id, &err)
                    }
                    Err(ApplyError::Store(err)) => {
                        tx.rollback_savepoint()?;
                        return Err(err);
                    }
                }
            }
        };
        match result.status {
            domain::wire::MutationStatus::Applied => stats.applied += 1,
            domain::wire::MutationStatus::Rejected => stats.rejected += 1,
        }
        tx.store_mutation_outcome(env.id, owner, client_id, &env.name, &result, now)?;
        results.push(result);
    }
    Ok((results, stats))
}

/// The actor of each mutation of one push.
enum Acting<'p> {
    User(Actor),
    Device {
        device: &'p DeviceRow,
        now: DateTime<Utc>,
        /// Staff members of the unit already looked up in this push (a tablet's batch names
        /// the same few again and again); `None`: not staff of the unit.
        staff: HashMap<Uuid, Option<Actor>>,
    },
}

impl<'p> Acting<'p> {
    fn new(pusher: &'p Pusher, now: DateTime<Utc>) -> Self {
        match pusher {
            Pusher::User(u) => Acting::User(Actor::user(u.clone(), now)),
            Pusher::Device(d) => Acting::Device { device: d, now, staff: HashMap::new() },
        }
    }

    fn apply(&mut self, tx: &mut dyn Tx, claimed: Option<Uuid>, m: &Mutation) -> ApplyResult<Option<domain::wire::Details>> {
        match self {
            Acting::User(actor) => {
                if claimed.is_some_and(|a| a != actor.user.id) {
                    return Err(not_permitted("a mutation acts for the signed-in user only").into());
                }
                apply::apply(tx, actor, m)
            }
            Acting::Device { device, now, staff } => {
                if let Mutation::StaffPinAttempt(a) = m {
                    return pins::record_attempt(tx, device.unit_id, a);
                }
                if !DEVICE_MUTATIONS.contains(&m.name()) {
                    return Err(not_permitted("not from a shared tablet: use your own sign-in").into());
                }
                let Some(id) = claimed else {
                    return Err(RuleError::invalid("a mutation from a tablet names the staff member in `actor`").into());
                };
                let actor = match staff.get(&id) {
                    Some(a) => a.clone(),
                    None => {
                        let a = unit_staff(tx, id, device.unit_id)?.map(|user| Actor {
                            user,
                            now: *now,
                            device_unit: Some(device.unit_id),
                        });
                        staff.insert(id, a.clone());
                        a
                    }
                };
                let Some(actor) = actor else {
                    return Err(not_permitted("the actor is not staff of this tablet's unit").into());
                };
                apply::apply(tx, &actor, m)
            }
        }
    }
}

/// The user `id` if they are staff of `unit_id`.
fn unit_staff(tx: &mut dyn Tx, id: Uuid, unit_id: Uuid) -> StoreResult<Option<UserRow>> {
    let Some(user) = tx.user_by_id(id)?.filter(|u| u.role == Role::Staff) else { return Ok(None) };
    Ok(tx.staff_units(user.id)?.contains(&unit_id).then_some(user))
}
