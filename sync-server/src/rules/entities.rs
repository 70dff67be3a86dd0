//! Typed reads and writes of entities stored as JSON.

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt::Debug;
use std::sync::Arc;
use uuid::Uuid;

use domain::wire::entity::Unit;
use domain::RuleError;
use domain::RejectCode;

use super::ApplyResult;
use crate::store::{StoreError, StoreResult, Tx};

pub fn load<T: DeserializeOwned + Clone + 'static>(tx: &mut dyn Tx, ty: &str, id: Uuid) -> StoreResult<Option<T>> {
    // Last written by `save` (in this transaction, or one the store kept it from): the
    // value itself, not read and parsed again.
    if let Some(v) = tx.typed_value(ty, id) {
        if let Some(t) = v.as_any().downcast_ref::<T>() {
            return Ok(Some(t.clone()));
        }
    }
    match tx.get_entity(ty, id)? {
        Some(row) if !row.deleted => match row.data {
            Some(d) => serde_json::from_str(&d)
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
        .map(|(id, d)| serde_json::from_str(&d).map_err(|e| StoreError::Corrupt(format!("{ty} {id}: {e}"))))
        .collect()
}

/// Writes `value`; the store serialises it when the row is written (see
/// [`Tx::put_entity_value`]).
pub fn save<T: Serialize + Clone + Send + Sync + Debug + 'static>(
    tx: &mut dyn Tx,
    ty: &str,
    id: Uuid,
    scope: &str,
    value: &T,
) -> StoreResult<i64> {
    tx.put_entity_value(ty, id, scope, Arc::new(value.clone()))
}

/// Loads an entity the rules need, or `not_found`.
pub fn require<T: DeserializeOwned + Clone + 'static>(tx: &mut dyn Tx, ty: &str, id: Uuid) -> ApplyResult<T> {
    load(tx, ty, id)?.ok_or_else(|| RuleError::new(RejectCode::NotFound, format!("no {ty} {id}")).into())
}

/// A unit, parsed once per transaction where the store keeps it (a tablet's push names
/// the same unit for each of its 40 marks).
pub fn unit(tx: &mut dyn Tx, id: Uuid) -> ApplyResult<Arc<Unit>> {
    if let Some(u) = tx.cached_unit(id) {
        return Ok(u);
    }
    let u: Arc<Unit> = Arc::new(require(tx, domain::wire::entity::UNIT_TYPE, id)?);
    tx.remember_unit(u.clone());
    Ok(u)
}
