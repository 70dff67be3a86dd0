//! Rows as the store's types: column lists, row readers and the custom SQL types
//! (a JSON column as its stored bytes, a row's address).

use bytes::{BufMut, BytesMut};
use domain::wire::Role;
use postgres::Row;
use postgres::types::{to_sql_checked, FromSql, IsNull, ToSql, Type};
use uuid::Uuid;

use crate::store::{ChildRow, DeviceRow, EntityRow, PairingRow, StoreError, StoreResult, UserRow};

use super::corrupt;

/// A child and its groups in one row ([`child_from_row`]), for `Tx::child` and
/// `prefetch_reads`.
pub(super) const CHILD_COLS: &str = "id, unit_id, class_id, student_user_id, personnummer,
    ARRAY(SELECT group_id FROM child_groups WHERE child_id = children.id ORDER BY group_id)";

/// A child and its groups, as `Tx::child` and `prefetch_reads` select them.
pub(super) fn child_from_row(r: &postgres::Row) -> StoreResult<ChildRow> {
    Ok(ChildRow {
        id: r.try_get(0).map_err(corrupt)?,
        unit_id: r.try_get(1).map_err(corrupt)?,
        class_id: r.try_get(2).map_err(corrupt)?,
        student_user_id: r.try_get(3).map_err(corrupt)?,
        personnummer: r.try_get(4).map_err(corrupt)?,
        group_ids: r.try_get(5).map_err(corrupt)?,
    })
}

/// A JSON column (`text` since schema v6) as its bytes, as stored: no copy into a `String`
/// and no parse here.
pub(super) struct JsonText<'a>(pub(super) &'a [u8]);

impl<'a> FromSql<'a> for JsonText<'a> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(JsonText(raw))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::TEXT
    }
}

/// A row's address in its table (`ctid`) in PostgreSQL's binary form: the block number,
/// then the row's place in that block. Kept packed (`block << 16 | place`) in
/// [`TxCache::rowids`](crate::store::TxCache::rowids), where SQLite's store keeps its rowids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Tid(pub(super) i64);

impl ToSql for Tid {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        let block = u32::try_from(self.0 >> 16).map_err(|_| format!("no block {}", self.0 >> 16))?;
        out.put_u32(block);
        out.put_u16((self.0 & 0xffff) as u16);
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::TID
    }

    to_sql_checked!();
}

impl<'a> FromSql<'a> for Tid {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        let raw: [u8; 6] = raw.try_into().map_err(|_| format!("a tid of {} bytes", raw.len()))?;
        let block = u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]);
        let place = u16::from_be_bytes([raw[4], raw[5]]);
        Ok(Tid(i64::from(block) << 16 | i64::from(place)))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::TID
    }
}

pub(super) fn entity_from_row(r: &Row) -> StoreResult<EntityRow> {
    Ok(EntityRow {
        entity_type: r.try_get(0).map_err(corrupt)?,
        id: r.try_get(1).map_err(corrupt)?,
        scope: r.try_get(2).map_err(corrupt)?,
        seq: r.try_get(3).map_err(corrupt)?,
        deleted: r.try_get(4).map_err(corrupt)?,
        data: r.try_get(5).map_err(corrupt)?,
    })
}

pub(super) fn entities(rows: Vec<Row>) -> StoreResult<Vec<EntityRow>> {
    rows.iter().map(entity_from_row).collect()
}

pub(super) fn user_from_row(r: &Row) -> StoreResult<UserRow> {
    let role: String = r.try_get(3).map_err(corrupt)?;
    Ok(UserRow {
        id: r.try_get(0).map_err(corrupt)?,
        username: r.try_get(1).map_err(corrupt)?,
        display_name: r.try_get(2).map_err(corrupt)?,
        role: Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("unknown role {role:?}")))?,
        locale: r.try_get(4).map_err(corrupt)?,
        password_hash: r.try_get(5).map_err(corrupt)?,
        email: r.try_get(6).map_err(corrupt)?,
        phone: r.try_get(7).map_err(corrupt)?,
    })
}

pub(super) fn first_col_uuids(rows: Vec<Row>) -> StoreResult<Vec<Uuid>> {
    rows.iter().map(|r| r.try_get::<_, Uuid>(0).map_err(corrupt)).collect()
}

pub(super) const DEVICE_COLS: &str = "id, unit_id, name, paired_by, paired_at, last_seen_at, revoked_at, revoked_by";

pub(super) fn device_from_row(r: &Row) -> StoreResult<DeviceRow> {
    Ok(DeviceRow {
        id: r.try_get(0).map_err(corrupt)?,
        unit_id: r.try_get(1).map_err(corrupt)?,
        name: r.try_get(2).map_err(corrupt)?,
        paired_by: r.try_get(3).map_err(corrupt)?,
        paired_at: r.try_get(4).map_err(corrupt)?,
        last_seen_at: r.try_get(5).map_err(corrupt)?,
        revoked_at: r.try_get(6).map_err(corrupt)?,
        revoked_by: r.try_get(7).map_err(corrupt)?,
    })
}

pub(super) const PAIRING_COLS: &str =
    "id, unit_id, lookup, secret_hash, created_by, created_at, expires_at, failed_attempts, used_at";

/// A count stored as `integer`.
pub(super) fn count_col(r: &Row, i: usize) -> StoreResult<u32> {
    let n: i32 = r.try_get(i).map_err(corrupt)?;
    u32::try_from(n).map_err(corrupt)
}

pub(super) fn pairing_from_row(r: &Row) -> StoreResult<PairingRow> {
    Ok(PairingRow {
        id: r.try_get(0).map_err(corrupt)?,
        unit_id: r.try_get(1).map_err(corrupt)?,
        lookup: r.try_get(2).map_err(corrupt)?,
        secret_hash: r.try_get(3).map_err(corrupt)?,
        created_by: r.try_get(4).map_err(corrupt)?,
        created_at: r.try_get(5).map_err(corrupt)?,
        expires_at: r.try_get(6).map_err(corrupt)?,
        failed_attempts: count_col(r, 7)?,
        used_at: r.try_get(8).map_err(corrupt)?,
    })
}

/// A count for an `integer` column.
pub(super) fn int(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

pub(super) const USER_COLS: &str = "id, username, display_name, role, locale, password_hash, email, phone";

/// [`USER_COLS`] of a query that names `users` as `u`, and how many they are.
pub(super) fn user_cols_of_u() -> (String, usize) {
    let cols: Vec<String> = USER_COLS.split(", ").map(|c| format!("u.{c}")).collect();
    (cols.join(", "), cols.len())
}

/// `data` is the JSON text the server wrote (a `text` column since schema v6), and it goes
/// into pull answers as is (see [`EntityRow`]).
pub(super) const ENTITY_COLS: &str = "type, id, scope, seq, deleted, data";
