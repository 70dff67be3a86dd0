//! Staff PINs (R-STAFF-3, R-ACC-3): one per staff member whatever their units, stored with
//! its lockout state, and mirrored into a `tablet_staff` entity per unit of theirs so that
//! the unit's paired tablets check PINs offline and agree on who is locked.
//!
//! The server never sees a PIN after it is set: tablets check PINs against the verifier and
//! report each attempt (`staff.pin_attempt`), and the server counts them here in arrival
//! order with the same state machine the tablets use ([`PinState::after_attempt`]). The state
//! keeps when a password last unlocked the PIN, so an attempt made offline before that and
//! reported after it does not count.

use chrono::{DateTime, Utc};
use domain::pin::PinVerifier;
use domain::wire::entity::{TabletStaff, TABLET_STAFF_TYPE};
use domain::wire::{Details, PinAttempt, Role};
use serde_json::json;
use uuid::Uuid;

use super::access::not_permitted;
use super::{details, entities, scope, ApplyResult};
use crate::store::{StaffPin, StoreResult, Tx};

/// Writes the `tablet_staff` entity of `user_id` in each of their units where it differs
/// from what the tablets hold (an unchanged entity is not written, so tablets pull nothing).
/// Whoever makes a user staff of a unit calls this, so the unit's tablets list them.
pub fn mirror(tx: &mut dyn Tx, user_id: Uuid) -> StoreResult<()> {
    let Some(user) = tx.user_by_id(user_id)? else { return Ok(()) };
    let pin = tx.staff_pin(user_id)?;
    for unit_id in tx.staff_units(user_id)? {
        let id = domain::wire::entity::tablet_staff_id(unit_id, user_id);
        let want = TabletStaff {
            id,
            unit_id,
            user_id,
            display_name: user.display_name.clone(),
            pin: pin.as_ref().map(|p| p.verifier.clone()),
            pin_state: pin.as_ref().map(|p| p.state).unwrap_or_default(),
        };
        let have: Option<TabletStaff> = entities::load(tx, TABLET_STAFF_TYPE, id)?;
        if have.as_ref() != Some(&want) {
            entities::save(tx, TABLET_STAFF_TYPE, id, &scope::tablet(unit_id), &want)?;
        }
    }
    Ok(())
}

/// Only staff and administrators have a PIN (guardians and students use no shared tablet).
pub fn may_have_pin(role: Role) -> bool {
    matches!(role, Role::Staff | Role::Admin)
}

/// Sets (or changes) the PIN; a new PIN starts unlocked with no failures (keeping the last
/// password unlock: attempts made before it still do not count). Set by its owner at
/// `at`, signed in with a password: attempts made before then (against the old PIN, on a
/// tablet that reports them later) do not count against the new one either (R-STAFF-3).
/// `None` for seeded PINs (the demo), which have no such moment.
pub fn set_pin(tx: &mut dyn Tx, user_id: Uuid, verifier: PinVerifier, at: Option<DateTime<Utc>>) -> StoreResult<()> {
    let state = tx.staff_pin(user_id)?.map(|p| p.state.for_new_pin()).unwrap_or_default();
    let state = match at {
        Some(at) => state.after_password_sign_in(at),
        None => state,
    };
    tx.put_staff_pin(user_id, &StaffPin { verifier, state })?;
    mirror(tx, user_id)
}

/// Removes the PIN: the staff member signs in on tablets with their password again.
pub fn remove_pin(tx: &mut dyn Tx, user_id: Uuid) -> StoreResult<()> {
    if tx.delete_staff_pin(user_id)? {
        mirror(tx, user_id)?;
    }
    Ok(())
}

/// R-STAFF-3: a sign-in with password at `now` unlocks the PIN. Every staff login asks, and
/// each one moves the unlock moment, kept in the store. The tablets get the new state only
/// when the lockout they show changes: the moment alone would make each of the unit's
/// tablets pull at every login. Their copy of it may lag; the server decides with its own.
pub fn after_password_sign_in(tx: &mut dyn Tx, user_id: Uuid, now: DateTime<Utc>) -> StoreResult<()> {
    let Some(mut pin) = tx.staff_pin(user_id)? else { return Ok(()) };
    let next = pin.state.after_password_sign_in(now);
    if next == pin.state {
        return Ok(());
    }
    let shown = (next.failures, next.locked) != (pin.state.failures, pin.state.locked);
    pin.state = next;
    tx.put_staff_pin(user_id, &pin)?;
    if shown {
        mirror(tx, user_id)?;
    }
    Ok(())
}

/// `staff.pin_attempt` from a tablet of `unit_id`: counts the attempt against the staff
/// member's PIN (R-STAFF-3: five wrong in a row lock it everywhere), unless it was made (`at`)
/// before the last password unlock. `details` report the resulting state; without a PIN
/// (removed since) there is nothing to count.
pub fn record_attempt(tx: &mut dyn Tx, unit_id: Uuid, a: &PinAttempt) -> ApplyResult<Option<Details>> {
    if !tx.staff_units(a.user_id)?.contains(&unit_id) {
        return Err(not_permitted("the PIN of a staff member of another unit").into());
    }
    let Some(mut pin) = tx.staff_pin(a.user_id)? else {
        return details(&json!({ "pin_set": false }));
    };
    let next = pin.state.after_attempt(a.ok, a.at);
    if next != pin.state {
        pin.state = next;
        tx.put_staff_pin(a.user_id, &pin)?;
        mirror(tx, a.user_id)?;
    }
    details(&json!({
        "pin_set": true,
        "failures": next.failures,
        "locked": next.locked,
        "attempts_left": next.attempts_left(),
    }))
}
