//! Scopes: every entity is stored under one scope key; a user sees the entities of the scopes
//! computed here (R-ACC-7). Changing who may see what means changing these functions only.

use std::collections::BTreeSet;

use domain::wire::Role;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::store::{StoreResult, Tx, UserRow};

pub fn user(id: Uuid) -> String {
    format!("user:{id}")
}
pub fn unit(id: Uuid) -> String {
    format!("unit:{id}")
}
pub fn group(id: Uuid) -> String {
    format!("group:{id}")
}
pub fn class(id: Uuid) -> String {
    format!("class:{id}")
}
/// The child record, its absences: the child's family, the child (as a student), staff.
pub fn child(id: Uuid) -> String {
    format!("child:{id}")
}
/// Care schedule, its comments and attendance: hidden from students (PRODUCT.md box table).
pub fn care(child_id: Uuid) -> String {
    format!("care:{child_id}")
}
/// Talk slots of a group and bookings of a child: hidden from students (R-TALK-1).
pub fn talks_group(group_id: Uuid) -> String {
    format!("talks-group:{group_id}")
}
pub fn talks_child(child_id: Uuid) -> String {
    format!("talks-child:{child_id}")
}
pub fn thread(id: Uuid) -> String {
    format!("thread:{id}")
}
/// The unit's staff as its paired tablets know them, PIN verifiers included: the unit's
/// devices only, never a user.
pub fn tablet(unit_id: Uuid) -> String {
    format!("tablet:{unit_id}")
}
/// Holds no entities: touched when the device is revoked, so its open event streams end.
pub fn device(id: Uuid) -> String {
    format!("device:{id}")
}

fn add_child(tx: &mut dyn Tx, out: &mut BTreeSet<String>, child_id: Uuid, family: bool) -> StoreResult<()> {
    let Some(c) = tx.child(child_id)? else { return Ok(()) };
    out.insert(child(c.id));
    out.insert(unit(c.unit_id));
    if let Some(k) = c.class_id {
        out.insert(class(k));
    }
    for g in &c.group_ids {
        out.insert(group(*g));
        if family {
            out.insert(talks_group(*g));
        }
    }
    if family {
        out.insert(care(c.id));
        out.insert(talks_child(c.id));
    }
    Ok(())
}

fn add_unit(tx: &mut dyn Tx, out: &mut BTreeSet<String>, unit_id: Uuid) -> StoreResult<()> {
    out.insert(unit(unit_id));
    for c in tx.children_of_unit(unit_id)? {
        out.insert(child(c));
        out.insert(care(c));
        out.insert(talks_child(c));
    }
    for g in tx.groups_of_unit(unit_id)? {
        out.insert(group(g));
        out.insert(talks_group(g));
    }
    for k in tx.classes_of_unit(unit_id)? {
        out.insert(class(k));
    }
    Ok(())
}

/// Everything `u` may see, as a sorted list of scope keys.
pub fn scopes_for(tx: &mut dyn Tx, u: &UserRow) -> StoreResult<Vec<String>> {
    let mut out = BTreeSet::new();
    out.insert(user(u.id));
    match u.role {
        Role::Guardian => {
            for c in tx.children_of_guardian(u.id)? {
                add_child(tx, &mut out, c, true)?;
            }
        }
        Role::Student => {
            if let Some(c) = tx.child_of_student(u.id)? {
                add_child(tx, &mut out, c, false)?;
            }
        }
        Role::Staff => {
            for unit_id in tx.staff_units(u.id)? {
                add_unit(tx, &mut out, unit_id)?;
            }
        }
        Role::Admin => {
            for unit_id in tx.all_units()? {
                add_unit(tx, &mut out, unit_id)?;
            }
        }
    }
    for t in tx.threads_of_user(u.id)? {
        out.insert(thread(t));
    }
    Ok(out.into_iter().collect())
}

/// Everything a tablet paired to `unit_id` may see (R-STAFF-1): the unit, its groups and
/// classes, its children with their absences and care days, comments and attendance, and
/// the unit's `tablet_staff`. Nothing personal to a user (`user:`, `thread:`) and no talks.
pub fn scopes_for_device(tx: &mut dyn Tx, unit_id: Uuid) -> StoreResult<Vec<String>> {
    let mut out = BTreeSet::new();
    out.insert(unit(unit_id));
    out.insert(tablet(unit_id));
    for c in tx.children_of_unit(unit_id)? {
        out.insert(child(c));
        out.insert(care(c));
    }
    for g in tx.groups_of_unit(unit_id)? {
        out.insert(group(g));
    }
    for k in tx.classes_of_unit(unit_id)? {
        out.insert(class(k));
    }
    Ok(out.into_iter().collect())
}

/// A short content address of a scope set, named by cursors.
pub fn hash(scopes: &[String]) -> String {
    let mut h = Sha256::new();
    for s in scopes {
        h.update(s.as_bytes());
        h.update([0u8]);
    }
    hex::encode(&h.finalize()[..12])
}
