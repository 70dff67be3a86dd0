//! Typed reads and writes of entities stored as JSON.

use serde::de::DeserializeOwned;
use serde::Serialize;
use uuid::Uuid;

use domain::wire::entity::Unit;
use domain::RuleError;
use domain::RejectCode;

use super::ApplyResult;
use crate::store::{StoreError, StoreResult, Tx};

pub fn load<T: DeserializeOwned>(tx: &mut dyn Tx, ty: &str, id: Uuid) -> StoreResult<Option<T>> {
    match tx.get_entity(ty, id)? {
        Some(row) if !row.deleted => match row.data {
            Some(d) => serde_json::from_value(d)
                .map(Some)
                .map_err(|e| StoreError::Corrupt(format!("{ty} {id}: {e}"))),
            None => Ok(None),
        },
        _ => Ok(None),
    }
}

pub fn load_all<T: DeserializeOwned>(tx: &mut dyn Tx, ty: &str, scope: &str) -> StoreResult<Vec<T>> {
    tx.entities_in_scope(ty, scope)?
        .into_iter()
        .filter_map(|row| row.data.map(|d| (row.id, d)))
        .map(|(id, d)| serde_json::from_value(d).map_err(|e| StoreError::Corrupt(format!("{ty} {id}: {e}"))))
        .collect()
}

pub fn save<T: Serialize>(tx: &mut dyn Tx, ty: &str, id: Uuid, scope: &str, value: &T) -> StoreResult<i64> {
    let data = serde_json::to_value(value).map_err(|e| StoreError::Corrupt(format!("{ty} {id}: {e}")))?;
    tx.put_entity(ty, id, scope, &data)
}

/// Loads an entity the rules need, or `not_found`.
pub fn require<T: DeserializeOwned>(tx: &mut dyn Tx, ty: &str, id: Uuid) -> ApplyResult<T> {
    load(tx, ty, id)?.ok_or_else(|| RuleError::new(RejectCode::NotFound, format!("no {ty} {id}")).into())
}

pub fn unit(tx: &mut dyn Tx, id: Uuid) -> ApplyResult<Unit> {
    require(tx, domain::wire::entity::UNIT_TYPE, id)
}
