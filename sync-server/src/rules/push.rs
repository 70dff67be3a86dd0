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
use crate::store::{DeviceRow, ReadHint, StoreError, StoreResult, Tx, UserRow};

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

/// What applying a push will look up that its mutations name ([`ReadHint`]): their ids,
/// the children they are about, the absence and care-day records of a named day, and for
/// care times the child's record (whether it is in after-school care).
pub fn read_hint(mutations: &[MutationEnvelope], parsed: &[Result<Mutation, RuleError>]) -> ReadHint {
    use domain::wire::entity as e;
    let mut hint = ReadHint { outcomes: mutations.iter().map(|m| m.id).collect(), ..ReadHint::default() };
    for m in parsed.iter().flatten() {
        let child = match m {
            Mutation::AbsenceReport(a) => {
                hint.entities.push((e::ABSENCE_TYPE, e::absence_id(a.child_id, a.date)));
                a.child_id
            }
            Mutation::AbsenceConfirm(a) => {
                hint.entities.push((e::ABSENCE_TYPE, a.absence_id));
                continue;
            }
            Mutation::CareSetDay(a) => {
                hint.entities.push((e::CARE_DAY_TYPE, e::care_day_id(a.child_id, a.date)));
                hint.entities.push((e::CHILD_TYPE, a.child_id));
                a.child_id
            }
            Mutation::CareClearDay(a) => {
                hint.entities.push((e::CARE_DAY_TYPE, e::care_day_id(a.child_id, a.date)));
                hint.entities.push((e::CHILD_TYPE, a.child_id));
                a.child_id
            }
            Mutation::CareSetWeek(a) => {
                hint.entities.push((e::CHILD_TYPE, a.child_id));
                a.child_id
            }
            Mutation::CareComment(a) => a.child_id,
            Mutation::CareCommentSeen(a) => a.child_id,
            Mutation::AttendanceMark(a) => {
                // Its rule reads no guardians: the child's record comes with the mark.
                hint.marks.push((a.child_id, a.at));
                continue;
            }
            _ => continue,
        };
        hint.children.push(child);
    }
    hint.dedup();
    hint
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

#[cfg(test)]
mod tests {
    use super::*;
    use domain::wire::entity as e;
    use serde_json::json;

    fn envelope(name: &str, args: serde_json::Value) -> MutationEnvelope {
        MutationEnvelope { id: Uuid::new_v4(), name: name.into(), args, actor: None }
    }

    #[test]
    fn a_push_hints_its_ids_children_and_named_day_records() {
        let (elsa, oskar) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let date = chrono::NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
        let mutations = vec![
            envelope(n::ABSENCE_REPORT, json!({ "child_id": elsa, "date": "2026-11-26" })),
            envelope(n::CARE_CLEAR_DAY, json!({ "child_id": oskar, "date": "2026-11-26" })),
            envelope(n::ATTENDANCE_MARK, json!({ "child_id": elsa, "kind": "arrived", "at": "2026-11-26T07:00:00Z" })),
            envelope(n::MESSAGE_READ, json!({ "thread_id": Uuid::from_u128(9) })),
            envelope(n::ABSENCE_REPORT, json!({ "child_id": "not an id" })),
        ];
        let parsed = parse_all(&mutations);
        assert!(parsed[..4].iter().all(|p| p.is_ok()) && parsed[4].is_err(), "{parsed:?}");
        let hint = read_hint(&mutations, &parsed);
        let mut ids: Vec<Uuid> = mutations.iter().map(|m| m.id).collect();
        ids.sort_unstable();
        let mut outcomes = hint.outcomes.clone();
        outcomes.sort_unstable();
        assert_eq!(outcomes, ids, "every mutation's id, also of one that does not parse");
        assert_eq!(hint.children, vec![elsa, oskar], "each child once");
        let mut want = vec![
            (e::ABSENCE_TYPE, e::absence_id(elsa, date)),
            (e::CARE_DAY_TYPE, e::care_day_id(oskar, date)),
            (e::CHILD_TYPE, oskar),
        ];
        want.sort_unstable();
        assert_eq!(hint.entities, want);
        // A mark's record is named by its unit's time zone, which only the store knows.
        let at = chrono::DateTime::parse_from_rfc3339("2026-11-26T07:00:00Z").unwrap().with_timezone(&chrono::Utc);
        assert_eq!(hint.marks, vec![(elsa, at)]);
    }
}
