//! Notifications for the bell (R-NOT-1): one entity per recipient, in their own scope.

use chrono::{DateTime, Utc};
use domain::wire::entity::{Notification, NotificationCategory, NOTIFICATION_TYPE};
use uuid::Uuid;

use super::{entities, scope};
use crate::store::{StoreResult, Tx};

pub struct Item<'a> {
    pub child_id: Option<Uuid>,
    pub category: NotificationCategory,
    pub item_type: &'a str,
    pub item_id: Uuid,
    pub title: &'a str,
}

/// Notifies every user in `recipients` of `item`.
pub fn notify(tx: &mut dyn Tx, recipients: &[Uuid], item: &Item<'_>, now: DateTime<Utc>) -> StoreResult<()> {
    for user_id in recipients {
        let n = Notification {
            id: Uuid::new_v4(),
            child_id: item.child_id,
            category: item.category,
            item_type: item.item_type.to_string(),
            item_id: item.item_id,
            title: item.title.to_string(),
            created_at: now,
            read: false,
        };
        entities::save(tx, NOTIFICATION_TYPE, n.id, &scope::user(*user_id), &n)?;
    }
    Ok(())
}

/// The child's guardians and, for a student, the child themself.
pub fn family_of(tx: &mut dyn Tx, child_id: Uuid) -> StoreResult<Vec<Uuid>> {
    tx.guardians_of(child_id)
}
