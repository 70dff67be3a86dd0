//! `POST /v1/sync/pull`: a full snapshot on a null cursor, then deltas, only of what the
//! caller may see (R-ACC-7). A cursor names a sequence number and the scope set it was
//! taken with; when the caller's scope has changed since, the next pull backfills what was
//! added and deletes what was lost.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use domain::wire::ChangeOp;
use uuid::Uuid;

use super::scope;
use crate::store::{EntityRow, StoreResult, Tx};

pub const DEFAULT_LIMIT: u32 = 1000;
pub const MAX_LIMIT: u32 = 5000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub seq: i64,
    pub scope_hash: String,
}

impl Cursor {
    pub fn encode(&self) -> String {
        format!("v1.{}.{}", self.seq, self.scope_hash)
    }
    pub fn decode(s: &str) -> Option<Cursor> {
        let mut parts = s.split('.');
        if parts.next()? != "v1" {
            return None;
        }
        let seq = parts.next()?.parse::<i64>().ok().filter(|s| *s >= 0)?;
        let scope_hash = parts.next()?.to_string();
        if parts.next().is_some() || scope_hash.len() != 24 || !scope_hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        Some(Cursor { seq, scope_hash })
    }
}

/// One change as sent: [`domain::wire::Change`] on the wire, with the entity's JSON text
/// copied from the store as it is (performance: a first sync is about 1,250 entities, and
/// building and re-serialising a `Value` tree for each was most of its server time).
#[derive(Debug)]
pub struct PulledChange {
    pub entity_type: String,
    pub id: Uuid,
    pub op: ChangeOp,
    /// JSON text, as stored ([`EntityRow::data`]).
    pub data: Option<String>,
}

/// The answer to a pull: [`domain::wire::PullResponse`] on the wire ([`PullPage::to_json`]).
#[derive(Debug)]
pub struct PullPage {
    pub cursor: String,
    pub has_more: bool,
    pub server_time: DateTime<Utc>,
    pub changes: Vec<PulledChange>,
}

impl PullPage {
    /// The page as the wire's `PullResponse` JSON. Written field by field so that each
    /// entity's stored text goes in as it is: serde_json would parse a `RawValue` once more
    /// to check it, which was a tenth of a first sync's server time. The buffer is sized
    /// once, not doubled while writing.
    pub fn to_json(&self) -> serde_json::Result<Vec<u8>> {
        // Per change: `{"type":"","id":"<36>","op":"upsert","data":}` is under 80 bytes.
        let size = 96
            + self.cursor.len()
            + self.changes.iter().map(|c| 80 + c.entity_type.len() + c.data.as_ref().map_or(0, String::len)).sum::<usize>();
        let mut out = Vec::with_capacity(size);
        out.extend_from_slice(b"{\"cursor\":");
        serde_json::to_writer(&mut out, &self.cursor)?;
        out.extend_from_slice(if self.has_more { b",\"has_more\":true" } else { b",\"has_more\":false" });
        out.extend_from_slice(b",\"server_time\":");
        serde_json::to_writer(&mut out, &self.server_time)?;
        out.extend_from_slice(b",\"changes\":[");
        for (i, c) in self.changes.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"type\":");
            serde_json::to_writer(&mut out, &c.entity_type)?;
            out.extend_from_slice(b",\"id\":\"");
            out.extend_from_slice(c.id.hyphenated().encode_lower(&mut Uuid::encode_buffer()).as_bytes());
            out.extend_from_slice(b"\",\"op\":");
            serde_json::to_writer(&mut out, &c.op)?;
            if let Some(data) = &c.data {
                out.extend_from_slice(b",\"data\":");
                out.extend_from_slice(data.as_bytes());
            }
            out.push(b'}');
        }
        out.extend_from_slice(b"]}");
        Ok(out)
    }
}

#[derive(Debug)]
pub enum PullOutcome {
    Page { cursor: String, has_more: bool, changes: Vec<PulledChange> },
    /// The caller's current scope set is not stored yet: store it (a write) and pull again.
    NeedScopeSet { hash: String, scopes: Vec<String> },
    Expired,
}

fn to_change(row: EntityRow, force_delete: bool) -> PulledChange {
    if force_delete || row.deleted {
        PulledChange { entity_type: row.entity_type, id: row.id, op: ChangeOp::Delete, data: None }
    } else {
        PulledChange { entity_type: row.entity_type, id: row.id, op: ChangeOp::Upsert, data: row.data }
    }
}

/// One page for a caller whose scope set is `scopes` (a user's, [`scope::scopes_for`], or a
/// paired tablet's, [`scope::scopes_for_device`]).
pub fn pull(tx: &mut dyn Tx, scopes: Vec<String>, cursor: Option<&str>, limit: u32) -> StoreResult<PullOutcome> {
    let limit = limit.clamp(1, MAX_LIMIT);
    let hash = scope::hash(&scopes);
    if !tx.has_scope_set(&hash)? {
        return Ok(PullOutcome::NeedScopeSet { hash, scopes });
    }
    let max_seq = tx.max_seq()?;
    let mut changes = Vec::new();
    let after = match cursor {
        None => 0,
        Some(raw) => {
            let Some(c) = Cursor::decode(raw) else { return Ok(PullOutcome::Expired) };
            if c.seq < tx.min_cursor_seq()? || c.seq > max_seq {
                return Ok(PullOutcome::Expired);
            }
            if c.scope_hash != hash {
                let Some(old) = tx.scope_set(&c.scope_hash)? else { return Ok(PullOutcome::Expired) };
                let old: BTreeSet<String> = old.into_iter().collect();
                let now: BTreeSet<String> = scopes.iter().cloned().collect();
                let removed: Vec<String> = old.difference(&now).cloned().collect();
                let added: Vec<String> = now.difference(&old).cloned().collect();
                // Lost scopes: delete everything the client may hold from them.
                changes.extend(tx.all_in_scopes(&removed)?.into_iter().map(|r| to_change(r, true)));
                // New scopes: what existed before the cursor (later rows come as deltas).
                changes.extend(tx.changes(&added, 0, Some(c.seq), None, true)?.into_iter().map(|r| to_change(r, false)));
            }
            c.seq
        }
    };
    // Performance: a cursor at the head (the common case: a device pulling again after a
    // poke or on its timer) cannot have anything after it in this snapshot, so the range
    // query over every scope is skipped.
    let mut rows =
        if after >= max_seq { Vec::new() } else { tx.changes(&scopes, after, None, Some(limit + 1), cursor.is_none())? };
    let has_more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    // With nothing more to send the cursor may jump to the newest seq: one writer commits in
    // seq order, so nothing below it can still appear.
    let seq = if has_more { rows.last().map(|r| r.seq).unwrap_or(after) } else { max_seq.max(after) };
    changes.extend(rows.into_iter().map(|r| to_change(r, false)));
    Ok(PullOutcome::Page { cursor: Cursor { seq, scope_hash: hash }.encode(), has_more, changes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pulled_page_is_the_wire_pull_response() {
        let id = Uuid::from_u128(7);
        let data = r#"{"id":"x","n":[1,2],"s":"å\"q"}"#.to_string();
        let page = PullPage {
            cursor: "v1.3.0123456789abcdef01234567\"".into(),
            has_more: true,
            server_time: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            changes: vec![
                PulledChange { entity_type: "news".into(), id, op: ChangeOp::Upsert, data: Some(data) },
                PulledChange { entity_type: "news".into(), id, op: ChangeOp::Delete, data: None },
            ],
        };
        let text = String::from_utf8(page.to_json().unwrap()).unwrap();
        let wire: domain::wire::PullResponse = serde_json::from_str(&text).unwrap();
        assert_eq!(wire.cursor, page.cursor);
        assert!(wire.has_more);
        assert_eq!(wire.server_time, page.server_time);
        assert_eq!(wire.changes.len(), 2);
        assert_eq!(wire.changes[0].data, Some(serde_json::json!({"id": "x", "n": [1, 2], "s": "å\"q"})));
        assert_eq!((wire.changes[1].op, wire.changes[1].data.is_none()), (ChangeOp::Delete, true));
        // Serialising the wire type gives the same text: nothing is lost or added.
        assert_eq!(serde_json::to_value(&wire).unwrap(), serde_json::from_str::<serde_json::Value>(&text).unwrap());

        // An empty page at the head.
        let empty = PullPage { has_more: false, changes: Vec::new(), ..page };
        let wire: domain::wire::PullResponse = serde_json::from_slice(&empty.to_json().unwrap()).unwrap();
        assert_eq!((wire.cursor, wire.has_more, wire.changes.len()), (empty.cursor, false, 0));
    }

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let c = Cursor { seq: 42, scope_hash: "0123456789abcdef01234567".into() };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        for bad in ["", "v1", "v1.x.0123456789abcdef01234567", "v2.1.0123456789abcdef01234567", "v1.-1.0123456789abcdef01234567", "v1.1.zz", "v1.1.0123456789abcdef01234567.9"] {
            assert_eq!(Cursor::decode(bad), None, "{bad}");
        }
    }
}
