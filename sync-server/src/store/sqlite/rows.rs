//! Rows as the store's types: column lists, row readers, timestamps as text.

use chrono::{DateTime, SecondsFormat, Utc};
use domain::wire::Role;
use rusqlite::Connection;
use uuid::Uuid;

use crate::store::{ChangeRef, DeviceRow, EntityRow, PairingRow, StoreError, StoreResult, UserRow};

pub(super) fn uuid_col(s: String) -> rusqlite::Result<Uuid> {
    Uuid::parse_str(&s).map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e)))
}

pub(super) fn uuids(conn: &Connection, sql: &str, arg: Uuid) -> StoreResult<Vec<Uuid>> {
    let mut st = conn.prepare_cached(sql)?;
    let rows = st.query_map([arg.to_string()], |r| uuid_col(r.get(0)?))?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

pub(super) fn entity_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<EntityRow> {
    Ok(EntityRow {
        entity_type: r.get(0)?,
        id: uuid_col(r.get(1)?)?,
        scope: r.get(2)?,
        seq: r.get(3)?,
        deleted: r.get::<_, i64>(4)? != 0,
        data: r.get(5)?,
    })
}

/// A row of [`Tx::changes`](crate::store::Tx::changes)'s query (`type, id, seq, deleted, data`), borrowed.
pub(super) fn change_ref<'r>(r: &'r rusqlite::Row<'_>, seq: i64) -> StoreResult<ChangeRef<'r>> {
    let text = |i: usize| -> StoreResult<Option<&'r str>> {
        r.get_ref(i)?.as_str_or_null().map_err(|e| StoreError::Corrupt(format!("entities column {i}: {e}")))
    };
    let (Some(entity_type), Some(id)) = (text(0)?, text(1)?) else {
        return Err(StoreError::Corrupt("an entity without a type or id".into()));
    };
    Ok(ChangeRef {
        entity_type,
        id: Uuid::parse_str(id).map_err(|e| StoreError::Corrupt(format!("entity id {id:?}: {e}")))?,
        seq,
        deleted: r.get::<_, i64>(3)? != 0,
        data: r.get_ref(4)?.as_bytes_or_null().map_err(|e| StoreError::Corrupt(format!("entities column 4: {e}")))?,
    })
}

pub(super) fn user_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<UserRow> {
    let role: String = r.get(3)?;
    Ok(UserRow {
        id: uuid_col(r.get(0)?)?,
        username: r.get(1)?,
        display_name: r.get(2)?,
        role: Role::parse(&role).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(3, rusqlite::types::Type::Text, role.into())
        })?,
        locale: r.get(4)?,
        password_hash: r.get(5)?,
        email: r.get(6)?,
        phone: r.get(7)?,
    })
}

/// Instants in the tablet tables: UTC with a fixed number of digits (`…T09:00:00.000000Z`),
/// so that text order is time order and `prune_pairings` can compare in SQL.
pub(super) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn ts_col(s: String) -> rusqlite::Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(&s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e)))
}

pub(super) fn opt_ts_col(s: Option<String>) -> rusqlite::Result<Option<DateTime<Utc>>> {
    s.map(ts_col).transpose()
}

pub(super) const DEVICE_COLS: &str = "id, unit_id, name, paired_by, paired_at, last_seen_at, revoked_at, revoked_by";

pub(super) fn device_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DeviceRow> {
    Ok(DeviceRow {
        id: uuid_col(r.get(0)?)?,
        unit_id: uuid_col(r.get(1)?)?,
        name: r.get(2)?,
        paired_by: uuid_col(r.get(3)?)?,
        paired_at: ts_col(r.get(4)?)?,
        last_seen_at: opt_ts_col(r.get(5)?)?,
        revoked_at: opt_ts_col(r.get(6)?)?,
        revoked_by: r.get::<_, Option<String>>(7)?.map(uuid_col).transpose()?,
    })
}

pub(super) const PAIRING_COLS: &str =
    "id, unit_id, lookup, secret_hash, created_by, created_at, expires_at, failed_attempts, used_at";

pub(super) fn pairing_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PairingRow> {
    Ok(PairingRow {
        id: uuid_col(r.get(0)?)?,
        unit_id: uuid_col(r.get(1)?)?,
        lookup: r.get(2)?,
        secret_hash: r.get(3)?,
        created_by: uuid_col(r.get(4)?)?,
        created_at: ts_col(r.get(5)?)?,
        expires_at: ts_col(r.get(6)?)?,
        failed_attempts: r.get(7)?,
        used_at: opt_ts_col(r.get(8)?)?,
    })
}

pub(super) const USER_COLS: &str = "id, username, display_name, role, locale, password_hash, email, phone";
pub(super) const ENTITY_COLS: &str = "type, id, scope, seq, deleted, data";

/// `scope IN (?, ?, …)` for a list; SQLite allows 32766 parameters, far above any scope set.
pub(super) fn in_list(n: usize) -> String {
    let mut s = String::with_capacity(n * 2);
    for i in 0..n {
        if i > 0 {
            s.push(',');
        }
        s.push('?');
    }
    s
}
