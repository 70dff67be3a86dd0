//! Tablets paired to a unit (R-STAFF-1, 3): pairing codes, device credentials, revocation,
//! and who may manage them (staff of the unit, administrators). The HTTP side is in
//! `tablets.rs`; everything here runs inside one store transaction.

use chrono::{DateTime, Duration, Utc};
use domain::pairing::{self, PairingCode, PairingState};
use domain::wire::entity::{Unit, UNIT_TYPE};
use domain::wire::{DeviceInfo, DevicesResponse, PairingInfo, Role, UnitRef};
use domain::{RejectCode, RuleError};
use uuid::Uuid;

use super::access::not_permitted;
use super::{entities, scope, ApplyResult};
use crate::auth;
use crate::store::{DeviceRow, PairingRow, StoreError, StoreResult, Tx, UserRow};

/// A device name on the list of devices: 1 to this many characters.
pub const NAME_MAX_CHARS: usize = 100;
/// How often a device's `last_seen_at` is written at most.
pub const LAST_SEEN_EVERY_SECONDS: i64 = 60;
/// Attempts at drawing a pairing code whose first half no live pairing has.
const CODE_DRAWS: usize = 32;

/// The units whose devices `user` manages: their own as staff, every unit as administrator.
pub fn managed_units(tx: &mut dyn Tx, user: &UserRow) -> StoreResult<Vec<Uuid>> {
    match user.role {
        Role::Staff => tx.staff_units(user.id),
        Role::Admin => tx.all_units(),
        Role::Guardian | Role::Student => Ok(Vec::new()),
    }
}

fn may_manage(tx: &mut dyn Tx, user: &UserRow, unit_id: Uuid) -> StoreResult<bool> {
    Ok(match user.role {
        Role::Admin => true,
        Role::Staff => tx.staff_units(user.id)?.contains(&unit_id),
        Role::Guardian | Role::Student => false,
    })
}

/// Guardians and students manage no devices, whatever the id they name.
fn staff_only(user: &UserRow) -> ApplyResult<()> {
    match user.role {
        Role::Staff | Role::Admin => Ok(()),
        Role::Guardian | Role::Student => Err(not_permitted("only staff manage the unit's tablets").into()),
    }
}

fn unit_ref(tx: &mut dyn Tx, unit_id: Uuid) -> ApplyResult<UnitRef> {
    let u: Unit = entities::require(tx, UNIT_TYPE, unit_id)?;
    Ok(UnitRef { id: u.id, name: u.name, kind: u.kind })
}

fn name_of(tx: &mut dyn Tx, user_id: Uuid) -> StoreResult<String> {
    Ok(tx.user_by_id(user_id)?.map(|u| u.display_name).unwrap_or_default())
}

pub fn device_info(tx: &mut dyn Tx, d: &DeviceRow) -> ApplyResult<DeviceInfo> {
    Ok(DeviceInfo {
        id: d.id,
        name: d.name.clone(),
        unit: unit_ref(tx, d.unit_id)?,
        paired_at: d.paired_at,
        paired_by_name: name_of(tx, d.paired_by)?,
        last_seen_at: d.last_seen_at,
        revoked_at: d.revoked_at,
    })
}

fn pairing_info(tx: &mut dyn Tx, p: &PairingRow, code: Option<String>) -> ApplyResult<PairingInfo> {
    Ok(PairingInfo {
        id: p.id,
        code,
        unit: unit_ref(tx, p.unit_id)?,
        created_by_name: name_of(tx, p.created_by)?,
        created_at: p.created_at,
        expires_at: p.expires_at,
    })
}

fn usable(p: &PairingRow, now: DateTime<Utc>) -> Result<(), RuleError> {
    let state = PairingState { expires_at: p.expires_at, used: p.used_at.is_some(), failed_attempts: p.failed_attempts };
    pairing::check_usable(state, now)
}

/// `POST /v1/devices/pairings`: a one-time code for `unit_id` (R-STAFF-3). The answer holds
/// the code; the store keeps its first half and a hash of the second.
pub fn create_pairing(tx: &mut dyn Tx, user: &UserRow, unit_id: Uuid, now: DateTime<Utc>) -> ApplyResult<PairingInfo> {
    staff_only(user)?;
    if !may_manage(tx, user, unit_id)? {
        return Err(not_permitted("only staff of the unit pair its tablets").into());
    }
    let unit = unit_ref(tx, unit_id)?;
    // Pairings never used are kept a day past their expiry, for the list, then forgotten.
    tx.prune_pairings(now - Duration::days(1))?;
    for _ in 0..CODE_DRAWS {
        let code = PairingCode::from_random(auth::random_bytes());
        // The first half finds the pairing, so no two live pairings share it.
        let taken = tx.unused_pairings_by_lookup(code.lookup())?.iter().any(|p| usable(p, now).is_ok());
        if taken {
            continue;
        }
        let id = Uuid::new_v4();
        let row = PairingRow {
            id,
            unit_id,
            lookup: code.lookup().to_string(),
            secret_hash: auth::hash_pairing_secret(id, code.secret()),
            created_by: user.id,
            created_at: now,
            expires_at: pairing::expires_at(now),
            failed_attempts: 0,
            used_at: None,
        };
        tx.insert_pairing(&row)?;
        return Ok(PairingInfo {
            id,
            code: Some(code.display()),
            unit,
            created_by_name: user.display_name.clone(),
            created_at: row.created_at,
            expires_at: row.expires_at,
        });
    }
    Err(StoreError::Database("no free pairing code after many draws".into()).into())
}

/// A device name as given: trimmed, 1 to [`NAME_MAX_CHARS`] characters; blank means none.
pub fn check_name(name: Option<&str>) -> Result<Option<String>, RuleError> {
    let Some(name) = name.map(str::trim).filter(|n| !n.is_empty()) else { return Ok(None) };
    if name.chars().count() > NAME_MAX_CHARS {
        return Err(RuleError::invalid(format!("a device name is at most {NAME_MAX_CHARS} characters")));
    }
    Ok(Some(name.to_string()))
}

/// `POST /v1/devices/pair`: the tablet presents the code. A wrong secret counts against the
/// pairing (the caller commits the count with the rejection, see [`super::committed`]); the
/// right one uses the pairing up and creates the device whose credential hash is
/// `token_hash`, in one transaction, so of two tablets with the same code exactly one wins.
pub fn pair(
    tx: &mut dyn Tx,
    code: &PairingCode,
    name: Option<String>,
    token_hash: &str,
    now: DateTime<Utc>,
) -> ApplyResult<DeviceInfo> {
    let candidates = tx.unused_pairings_by_lookup(code.lookup())?;
    let Some(p) = candidates.iter().find(|p| usable(p, now).is_ok()) else {
        return Err(match candidates.last() {
            Some(p) => usable(p, now).err().unwrap_or_else(unknown_code),
            None => unknown_code(),
        }
        .into());
    };
    if !auth::same_hash(&auth::hash_pairing_secret(p.id, code.secret()), &p.secret_hash) {
        tx.count_failed_pairing_attempt(p.id)?;
        return Err(RuleError::new(RejectCode::PairingInvalid, "wrong code").into());
    }
    let unit = unit_ref(tx, p.unit_id)?;
    let device = DeviceRow {
        id: Uuid::new_v4(),
        unit_id: p.unit_id,
        name: name.unwrap_or_else(|| format!("Surfplatta, {}", unit.name)),
        paired_by: p.created_by,
        paired_at: now,
        last_seen_at: Some(now),
        revoked_at: None,
        revoked_by: None,
    };
    tx.insert_device(&device, token_hash)?;
    if !tx.use_pairing(p.id, device.id, now)? {
        // Cannot happen with serialized writers; refuse rather than pair twice.
        return Err(RuleError::new(RejectCode::PairingInvalid, "the code was already used").into());
    }
    device_info(tx, &device)
}

fn unknown_code() -> RuleError {
    RuleError::new(RejectCode::PairingInvalid, "no such pairing code")
}

/// `GET /v1/devices`: the devices (revoked ones too) and live pairings of the caller's units.
pub fn list(tx: &mut dyn Tx, user: &UserRow, now: DateTime<Utc>) -> ApplyResult<DevicesResponse> {
    staff_only(user)?;
    let mut out = DevicesResponse { devices: Vec::new(), pairings: Vec::new() };
    for unit_id in managed_units(tx, user)? {
        for d in tx.devices_of_unit(unit_id)? {
            out.devices.push(device_info(tx, &d)?);
        }
        for p in tx.unused_pairings_of_unit(unit_id)? {
            if usable(&p, now).is_ok() {
                out.pairings.push(pairing_info(tx, &p, None)?);
            }
        }
    }
    Ok(out)
}

/// `DELETE /v1/devices/{id}`: from now on the device's credential is refused everywhere.
/// Revoking a revoked device changes nothing.
pub fn revoke(tx: &mut dyn Tx, user: &UserRow, device_id: Uuid, now: DateTime<Utc>) -> ApplyResult<()> {
    staff_only(user)?;
    let Some(d) = tx.device(device_id)? else {
        return Err(RuleError::new(RejectCode::NotFound, "no such device").into());
    };
    if !may_manage(tx, user, d.unit_id)? {
        return Err(not_permitted("only staff of the unit revoke its tablets").into());
    }
    revoke_row(tx, d.id, Some(user.id), now)?;
    Ok(())
}

/// `DELETE /v1/device`: the tablet unpairs itself.
pub fn unpair_self(tx: &mut dyn Tx, device_id: Uuid, now: DateTime<Utc>) -> StoreResult<()> {
    revoke_row(tx, device_id, None, now)
}

fn revoke_row(tx: &mut dyn Tx, device_id: Uuid, by: Option<Uuid>, now: DateTime<Utc>) -> StoreResult<()> {
    if tx.revoke_device(device_id, by, now)? {
        // Open event streams of the device, on any instance, end.
        tx.touch_scope(&scope::device(device_id));
    }
    Ok(())
}

/// `DELETE /v1/devices/pairings/{id}`: cancels a pairing not yet used.
pub fn cancel_pairing(tx: &mut dyn Tx, user: &UserRow, pairing_id: Uuid) -> ApplyResult<()> {
    staff_only(user)?;
    let Some(p) = tx.pairing(pairing_id)?.filter(|p| p.used_at.is_none()) else {
        return Err(RuleError::new(RejectCode::NotFound, "no such pairing, or it was used").into());
    };
    if !may_manage(tx, user, p.unit_id)? {
        return Err(not_permitted("only staff of the unit cancel its pairings").into());
    }
    tx.delete_pairing(p.id)?;
    Ok(())
}

/// Whether a device seen last at `last_seen` should have that written again at `now`.
pub fn seen_is_stale(last_seen: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    last_seen.is_none_or(|t| now - t >= Duration::seconds(LAST_SEEN_EVERY_SECONDS))
}

/// Writes `last_seen_at` unless another request did in the meantime.
pub fn touch(tx: &mut dyn Tx, device_id: Uuid, now: DateTime<Utc>) -> StoreResult<()> {
    if let Some(d) = tx.device(device_id)? {
        if seen_is_stale(d.last_seen_at, now) {
            tx.set_device_last_seen(d.id, now)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_are_trimmed_and_limited() {
        assert_eq!(check_name(None).unwrap(), None);
        assert_eq!(check_name(Some("  ")).unwrap(), None);
        assert_eq!(check_name(Some(" Blåbär, iPad ")).unwrap().as_deref(), Some("Blåbär, iPad"));
        assert!(check_name(Some(&"å".repeat(100))).is_ok());
        assert_eq!(check_name(Some(&"å".repeat(101))).unwrap_err().code, RejectCode::InvalidInput);
    }

    #[test]
    fn last_seen_is_written_at_most_once_a_minute() {
        let t = Utc::now();
        assert!(seen_is_stale(None, t));
        assert!(!seen_is_stale(Some(t), t + Duration::seconds(59)));
        assert!(seen_is_stale(Some(t), t + Duration::seconds(60)));
    }
}
