//! Who stands in what relation to a child (R-ACC-7). Every mutation asks this first.

use chrono::{DateTime, Utc};
use domain::wire::entity::Child;
use domain::wire::Role;
use domain::{RejectCode, RuleError};
use uuid::Uuid;

use super::{entities, ApplyResult};
use crate::store::{ChildRow, Tx, UserRow};

/// The user behind a request, and the server's time when it arrived (R-TIME-1).
#[derive(Debug, Clone)]
pub struct Actor {
    pub user: UserRow,
    pub now: DateTime<Utc>,
    /// Acting on a tablet paired to this unit (R-STAFF-1): only the unit's children, even
    /// for a staff member of several units.
    pub device_unit: Option<Uuid>,
}

impl Actor {
    /// A user acting with their own session.
    pub fn user(user: UserRow, now: DateTime<Utc>) -> Actor {
        Actor { user, now, device_unit: None }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    Guardian,
    /// The child is the user (a student's own record).
    Themself,
    /// Staff of the child's unit, or an administrator.
    Staff,
}

impl Relation {
    /// Staff are not bound by the guardians' locks and windows.
    pub fn is_staff(self) -> bool {
        self == Relation::Staff
    }
}

pub fn not_permitted(what: &str) -> RuleError {
    RuleError::new(RejectCode::NotPermitted, format!("not permitted: {what}"))
}

pub fn relation(tx: &mut dyn Tx, actor: &Actor, child: &ChildRow) -> ApplyResult<Option<Relation>> {
    if actor.device_unit.is_some_and(|u| u != child.unit_id) {
        return Ok(None);
    }
    let user = &actor.user;
    Ok(match user.role {
        Role::Guardian => tx.guardians_of(child.id)?.contains(&user.id).then_some(Relation::Guardian),
        Role::Student => (child.student_user_id == Some(user.id)).then_some(Relation::Themself),
        Role::Staff => tx.staff_units(user.id)?.contains(&child.unit_id).then_some(Relation::Staff),
        Role::Admin => Some(Relation::Staff),
    })
}

/// The child and the actor's relation to it. A child the actor may not see is
/// `not_permitted`, whether or not it exists, so ids leak nothing.
pub fn child_for(tx: &mut dyn Tx, actor: &Actor, child_id: Uuid) -> ApplyResult<(ChildRow, Relation)> {
    let denied = || not_permitted("no such child among yours");
    let Some(child) = tx.child(child_id)? else { return Err(denied().into()) };
    match relation(tx, actor, &child)? {
        Some(r) => Ok((child, r)),
        None => Err(denied().into()),
    }
}

/// Only staff (or administrators) of the child's unit.
pub fn staff_child(tx: &mut dyn Tx, actor: &Actor, child_id: Uuid) -> ApplyResult<ChildRow> {
    let (child, rel) = child_for(tx, actor, child_id)?;
    if !rel.is_staff() {
        return Err(not_permitted("staff only").into());
    }
    Ok(child)
}

pub fn child_entity(tx: &mut dyn Tx, child_id: Uuid) -> ApplyResult<Child> {
    entities::require(tx, domain::wire::entity::CHILD_TYPE, child_id)
}
