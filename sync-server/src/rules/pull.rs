//! `POST /v1/sync/pull`: a full snapshot on a null cursor, then deltas, only of what the
//! caller may see (R-ACC-7). A cursor names a sequence number and the scope set it was
//! taken with; when the caller's scope has changed since, the next pull backfills what was
//! added and deletes what was lost.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use domain::wire::ChangeOp;
use uuid::Uuid;

use super::scope;
use crate::store::{ChangeRef, StoreError, StoreResult, Tx};

/// Changes per page when the caller does not say. A guardian's first sync (two children, a
/// school year: about 1,250 changes, 400 kB) fits one page, so it is one round trip on the
/// phone's network instead of two; every page also costs the server a fixed part (the
/// caller's scope, a seek per scope) of about 0.4 ms.
pub const DEFAULT_LIMIT: u32 = 2000;
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

/// The changes of a page, written as the wire's [`domain::wire::Change`] objects while the
/// store reads them: each entity's JSON text goes in as stored (performance: a first sync
/// is about 1,250 entities; building and re-serialising a `Value` tree for each was most of
/// its server time, and copying each row into owned strings first a fifth of the rest).
#[derive(Debug, Default)]
pub struct Changes {
    /// The objects, comma-separated, without the array's brackets.
    json: Vec<u8>,
    count: usize,
}

impl Changes {
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Adds one change; `data` is JSON text (an upsert's entity).
    pub fn push(&mut self, entity_type: &str, id: Uuid, op: ChangeOp, data: Option<&[u8]>) -> StoreResult<()> {
        let out = &mut self.json;
        if self.count > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"type\":");
        serde_json::to_writer(&mut *out, entity_type).map_err(unwritable)?;
        out.extend_from_slice(b",\"id\":\"");
        out.extend_from_slice(id.hyphenated().encode_lower(&mut Uuid::encode_buffer()).as_bytes());
        out.extend_from_slice(b"\",\"op\":");
        serde_json::to_writer(&mut *out, &op).map_err(unwritable)?;
        if let Some(data) = data {
            out.extend_from_slice(b",\"data\":");
            out.extend_from_slice(data);
        }
        out.push(b'}');
        self.count += 1;
        Ok(())
    }

    /// A stored row as it is now: its entity, or a delete for a tombstone.
    fn push_row(&mut self, r: ChangeRef<'_>) -> StoreResult<()> {
        if r.deleted {
            self.push(r.entity_type, r.id, ChangeOp::Delete, None)
        } else {
            self.push(r.entity_type, r.id, ChangeOp::Upsert, r.data)
        }
    }
}

/// Writing JSON into a `Vec` cannot fail; should serde_json ever say otherwise, the pull
/// answers an internal error rather than a broken page.
fn unwritable(e: serde_json::Error) -> StoreError {
    StoreError::Database(format!("cannot write a change: {e}"))
}

/// The answer to a pull: [`domain::wire::PullResponse`] on the wire ([`PullPage::to_json`]).
#[derive(Debug)]
pub struct PullPage {
    pub cursor: String,
    pub has_more: bool,
    pub server_time: DateTime<Utc>,
    pub changes: Changes,
    /// Every commit up to this one is in the answer (docs/protocol.md, "Commits").
    pub commit: Option<u64>,
}

impl PullPage {
    /// The page as the wire's `PullResponse` JSON, written field by field around the
    /// changes already written (serde_json would parse each entity's `RawValue` once more
    /// to check it). The buffer is sized once.
    pub fn to_json(&self) -> serde_json::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(96 + self.cursor.len() + self.changes.json.len());
        out.extend_from_slice(b"{\"cursor\":");
        serde_json::to_writer(&mut out, &self.cursor)?;
        out.extend_from_slice(if self.has_more { b",\"has_more\":true" } else { b",\"has_more\":false" });
        out.extend_from_slice(b",\"server_time\":");
        serde_json::to_writer(&mut out, &self.server_time)?;
        out.extend_from_slice(b",\"changes\":[");
        out.extend_from_slice(&self.changes.json);
        out.push(b']');
        if let Some(c) = self.commit {
            out.extend_from_slice(b",\"commit\":");
            serde_json::to_writer(&mut out, &c)?;
        }
        out.push(b'}');
        Ok(out)
    }
}

#[derive(Debug)]
pub enum PullOutcome {
    Page { cursor: String, has_more: bool, changes: Changes },
    /// The caller's current scope set is not stored yet: store it (a write) and pull again.
    NeedScopeSet { hash: String, scopes: Vec<String> },
    Expired,
}

/// One page for a caller whose scope set is `scopes` (a user's, [`scope::scopes_for`], or a
/// paired tablet's, [`scope::scopes_for_device`]).
/// What [`pull`] will ask [`Tx::changes`] for a page after `cursor` if the caller's scope
/// set is still the cursor's: the rows after the cursor's `seq`, with a limit of one more
/// than the page (that one says whether there is more). `None` without a readable cursor.
/// For [`Tx::expect_changes`].
pub fn expected_changes(cursor: Option<&str>, limit: u32) -> Option<(i64, u32)> {
    let c = Cursor::decode(cursor?)?;
    Some((c.seq, page_size(limit) + 1))
}

fn page_size(limit: u32) -> u32 {
    limit.clamp(1, MAX_LIMIT)
}

pub fn pull(tx: &mut dyn Tx, scopes: Vec<String>, cursor: Option<&str>, limit: u32) -> StoreResult<PullOutcome> {
    let limit = page_size(limit);
    let hash = scope::hash(&scopes);
    if !tx.has_scope_set(&hash)? {
        return Ok(PullOutcome::NeedScopeSet { hash, scopes });
    }
    let max_seq = tx.max_seq()?;
    let mut changes = Changes::default();
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
                for r in tx.all_in_scopes(&removed)? {
                    changes.push(&r.entity_type, r.id, ChangeOp::Delete, None)?;
                }
                // New scopes: what existed before the cursor (later rows come as deltas).
                tx.changes(&added, 0, Some(c.seq), None, true, &mut |r| changes.push_row(r))?;
            }
            c.seq
        }
    };
    // With nothing more to send the cursor may jump to the newest seq: one writer commits in
    // seq order, so nothing below it can still appear.
    let (mut seq, mut has_more) = (max_seq.max(after), false);
    // Performance: a cursor at the head (the common case: a device pulling again after a
    // poke or on its timer) cannot have anything after it in this snapshot, so the range
    // query over every scope is skipped.
    // Performance: of the caller's scopes, only those written after the cursor where the
    // store knows them: a phone poked for one change reads one range, not a dozen.
    let written = if after < max_seq { tx.scopes_written_after(&scopes, after, max_seq) } else { None };
    let read = written.as_deref().unwrap_or(&scopes);
    if after < max_seq && !read.is_empty() {
        // Performance: room for the page at once (about 320 bytes a change) instead of
        // doubling the buffer, copying it, half a dozen times for a first sync's page.
        let expected = (max_seq - after).min(i64::from(limit)) as usize;
        changes.json.reserve(expected * 320);
        let (mut sent, mut last) = (0u32, after);
        // One row past the limit says whether there is more.
        tx.changes(read, after, None, Some(limit + 1), cursor.is_none(), &mut |r| {
            if sent == limit {
                has_more = true;
                return Ok(());
            }
            (sent, last) = (sent + 1, r.seq);
            changes.push_row(r)
        })?;
        if has_more {
            seq = last;
        }
    }
    Ok(PullOutcome::Page { cursor: Cursor { seq, scope_hash: hash }.encode(), has_more, changes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pulled_page_is_the_wire_pull_response() {
        let id = Uuid::from_u128(7);
        let data = r#"{"id":"x","n":[1,2],"s":"å\"q"}"#.to_string();
        let mut changes = Changes::default();
        changes.push("news", id, ChangeOp::Upsert, Some(data.as_bytes())).unwrap();
        changes.push("news", id, ChangeOp::Delete, None).unwrap();
        let page = PullPage {
            cursor: "v1.3.0123456789abcdef01234567\"".into(),
            has_more: true,
            server_time: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            changes,
            commit: Some(12_345),
        };
        let text = String::from_utf8(page.to_json().unwrap()).unwrap();
        let wire: domain::wire::PullResponse = serde_json::from_str(&text).unwrap();
        assert_eq!(wire.cursor, page.cursor);
        assert!(wire.has_more);
        assert_eq!(wire.server_time, page.server_time);
        assert_eq!(wire.changes.len(), 2);
        assert_eq!(wire.commit, Some(12_345));
        assert_eq!(wire.changes[0].data, Some(serde_json::json!({"id": "x", "n": [1, 2], "s": "å\"q"})));
        assert_eq!((wire.changes[1].op, wire.changes[1].data.is_none()), (ChangeOp::Delete, true));
        // Serialising the wire type gives the same text: nothing is lost or added.
        assert_eq!(serde_json::to_value(&wire).unwrap(), serde_json::from_str::<serde_json::Value>(&text).unwrap());

        // An empty page at the head.
        let empty = PullPage { has_more: false, changes: Changes::default(), commit: None, ..page };
        let text = String::from_utf8(empty.to_json().unwrap()).unwrap();
        let wire: domain::wire::PullResponse = serde_json::from_str(&text).unwrap();
        assert_eq!((wire.cursor, wire.has_more, wire.changes.len()), (empty.cursor, false, 0));
        // Without a commit number the field is left out, as before the extension.
        assert!(!text.contains("commit") && wire.commit.is_none(), "{text}");
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
