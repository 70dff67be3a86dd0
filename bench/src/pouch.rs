//! The pouchdb-server reference (npm `pouchdb-server` 4.2.0, `--in-memory`): the same jobs
//! with CouchDB's replication API: `_bulk_docs` for the pushes, `_changes?since=` for the
//! pulls, on the same machine with the same client.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use hyper::Method;
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::{json, Value};
use sync_server::rules::pull::DEFAULT_LIMIT;
use uuid::Uuid;

use crate::client::{run_workers, Conn, Recorder};
use crate::report::Figure;
use crate::Opts;

const TARGET: &str = "pouchdb-server";

#[derive(Deserialize)]
struct Changes {
    results: Vec<IgnoredAny>,
    last_seq: Value,
}

pub struct Pouch<'a> {
    pub addr: SocketAddr,
    pub opts: &'a Opts,
    /// Databases made so far: a job runs in several rounds and fills its database once.
    made: std::sync::Mutex<std::collections::HashSet<String>>,
}

fn seq_param(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A document like an absence record.
fn absence_doc() -> Value {
    json!({
        "_id": format!("absence:{}", Uuid::new_v4()),
        "type": "absence",
        "child_id": Uuid::new_v4(),
        "date": "2026-03-10",
        "lessons": null,
        "comment": null,
        "status": "reported",
        "reported_by": Uuid::new_v4(),
        "reported_by_name": "Förälder 1/0",
        "reported_by_role": "guardian",
        "reported_at": "2026-03-10T06:30:00Z",
    })
}

fn attendance_doc(k: usize) -> Value {
    json!({
        "_id": format!("attendance:{}", Uuid::new_v4()),
        "type": "attendance",
        "child_id": Uuid::new_v4(),
        "date": "2026-03-10",
        "arrived_at": format!("2026-03-10T06:{:02}:00Z", k % 60),
        "departed_at": format!("2026-03-10T15:{:02}:00Z", k % 60),
        "updated_by": Uuid::new_v4(),
    })
}

fn care_day_doc(k: usize) -> Value {
    json!({
        "_id": format!("care_day:{}", Uuid::new_v4()),
        "type": "care_day",
        "child_id": Uuid::new_v4(),
        "date": format!("2026-03-{:02}", 9 + k % 5),
        "intervals": [{ "start": "07:30", "end": "16:30" }],
        "comment": null,
        "updated_by": Uuid::new_v4(),
        "updated_by_name": "Förälder 1/0",
        "updated_at": "2026-03-08T19:00:00Z",
    })
}

impl<'a> Pouch<'a> {
    pub fn new(addr: SocketAddr, opts: &'a Opts) -> Self {
        Pouch { addr, opts, made: Default::default() }
    }

    /// Makes database `name` unless this run already has; whether it was made now.
    async fn new_db(&self, name: &str) -> Result<bool> {
        let made = self.made.lock().map(|m| m.contains(name)).unwrap_or(false);
        if made {
            return Ok(false);
        }
        self.put_db(name).await?;
        if let Ok(mut m) = self.made.lock() {
            m.insert(name.to_string());
        }
        Ok(true)
    }

    async fn put_db(&self, name: &str) -> Result<()> {
        let mut c = Conn::new(self.addr);
        let r = c.send(Method::PUT, &format!("/{name}"), None, None).await?;
        if !r.status.is_success() {
            bail!("PUT /{name} answered {}: {}", r.status, String::from_utf8_lossy(&r.body));
        }
        Ok(())
    }

    async fn bulk(&self, conn: &mut Conn, db: &str, docs: Vec<Value>) -> Result<u64> {
        let r = conn.post_json(&format!("/{db}/_bulk_docs"), None, &json!({ "docs": docs })).await?;
        if !r.status.is_success() {
            bail!("_bulk_docs answered {}: {}", r.status, String::from_utf8_lossy(&r.body));
        }
        let v: Vec<Value> = serde_json::from_slice(&r.body)?;
        Ok(v.iter().filter(|d| d.get("ok").and_then(|o| o.as_bool()) == Some(true)).count() as u64)
    }

    async fn update_seq(&self, db: &str) -> Result<String> {
        let mut c = Conn::new(self.addr);
        let r = c.send(Method::GET, &format!("/{db}/_changes?descending=true&limit=1"), None, None).await?;
        let ch: Changes = serde_json::from_slice(&r.body).context("_changes answer")?;
        Ok(seq_param(&ch.last_seq))
    }

    /// `_bulk_docs` with `per_request` new documents in each request.
    async fn push_job(&self, scenario: &str, per_request: usize, make: fn(usize) -> Value) -> Result<Figure> {
        let db = format!("push-{}", scenario.replace('_', "-"));
        self.new_db(&db).await?;
        let conc = if per_request == 1 { self.opts.write_concurrency } else { self.opts.write_concurrency.min(64) };
        let db = Arc::new(db);
        let (rec, secs) = run_workers(
            &[self.addr],
            conc,
            self.opts.warmup,
            self.opts.measure,
            |_| db.clone(),
            move |_, db: Arc<String>, mut conn: Conn, mut rec: Recorder| async move {
                let path = format!("/{db}/_bulk_docs");
                let mut i = 0;
                while rec.running() {
                    let docs: Vec<Value> = (0..per_request).map(|k| make(i + k)).collect();
                    i += per_request;
                    let body = Bytes::from(serde_json::to_vec(&json!({ "docs": docs })).unwrap_or_default());
                    let started = Instant::now();
                    match conn.send(Method::POST, &path, None, Some(body)).await {
                        Ok(r) if r.status.is_success() => {
                            if rec.record(started, None) {
                                match serde_json::from_slice::<Vec<Value>>(&r.body) {
                                    Ok(v) => {
                                        for d in v {
                                            if d.get("ok").and_then(|o| o.as_bool()) == Some(true) {
                                                rec.applied += 1;
                                            } else {
                                                rec.rejected += 1;
                                            }
                                        }
                                    }
                                    Err(e) => rec.error(e),
                                }
                            }
                        }
                        Ok(r) => rec.error(format!("_bulk_docs answered {}", r.status)),
                        Err(e) => rec.error(e),
                    }
                }
                rec
            },
        )
        .await?;
        let mut f = Figure::from_recorder(TARGET, scenario, conc, secs, rec);
        f.note = format!("_bulk_docs of {per_request} new document(s) per request");
        Ok(f)
    }

    pub async fn bulk_docs_1(&self) -> Result<Figure> {
        self.push_job("bulk-docs-1", 1, |_| absence_doc()).await
    }

    pub async fn bulk_docs_batch(&self, per_request: usize) -> Result<Figure> {
        self.push_job("bulk-docs-batch", per_request, attendance_doc).await
    }

    pub async fn bulk_docs_week(&self, per_request: usize) -> Result<Figure> {
        self.push_job("bulk-docs-week", per_request, care_day_doc).await
    }

    /// `_changes?since=<head>` on a database of `docs` documents: nothing new.
    pub async fn changes_no_change(&self, docs: usize) -> Result<Figure> {
        let db = "pull";
        let mut c = Conn::new(self.addr);
        let mut left = if self.new_db(db).await? { docs } else { 0 };
        while left > 0 {
            let n = left.min(500);
            self.bulk(&mut c, db, (0..n).map(|_| absence_doc()).collect()).await?;
            left -= n;
        }
        let seq = Arc::new(self.update_seq(db).await?);
        let conc = self.opts.concurrency;
        let (rec, secs) = run_workers(
            &[self.addr],
            conc,
            self.opts.warmup,
            self.opts.measure,
            |_| seq.clone(),
            |_, seq: Arc<String>, mut conn: Conn, mut rec: Recorder| async move {
                let path = format!("/pull/_changes?since={seq}");
                while rec.running() {
                    let started = Instant::now();
                    match conn.send(Method::GET, &path, None, None).await {
                        Ok(r) if r.status.is_success() => match serde_json::from_slice::<Changes>(&r.body) {
                            Ok(ch) => {
                                if rec.record(started, None) {
                                    rec.items += ch.results.len() as u64;
                                }
                            }
                            Err(e) => rec.error(e),
                        },
                        Ok(r) => rec.error(format!("_changes answered {}", r.status)),
                        Err(e) => rec.error(e),
                    }
                }
                rec
            },
        )
        .await?;
        let mut f = Figure::from_recorder(TARGET, "changes-no-change", conc, secs, rec);
        f.items_label = "changes".into();
        f.note = format!("GET _changes?since=<head> on a database of {docs} documents");
        Ok(f)
    }

    /// A guardian's first replication: `_changes?since=0&include_docs=true` in pages of Hub's
    /// default size ([`DEFAULT_LIMIT`]),
    /// on one database per Hub guardian of the initial-sync scenario, each holding exactly
    /// the documents of that guardian's snapshot, taken in turn like Hub's guardians.
    pub async fn changes_initial(&self, snapshots: &[Vec<Value>], conc: usize, scenario: &str) -> Result<Figure> {
        let dbs: Vec<String> = (0..snapshots.len()).map(|i| format!("family{i}")).collect();
        let mut c = Conn::new(self.addr);
        for (db, snapshot) in dbs.iter().zip(snapshots) {
            if self.new_db(db).await? {
                for chunk in snapshot.chunks(500) {
                    let docs: Vec<Value> = chunk
                        .iter()
                        .map(|ch| {
                            let mut d = ch.get("data").cloned().unwrap_or_else(|| json!({}));
                            let ty = ch.get("type").and_then(|t| t.as_str()).unwrap_or("x");
                            let id = ch.get("id").and_then(|t| t.as_str()).unwrap_or("x");
                            if let Some(o) = d.as_object_mut() {
                                o.remove("id");
                                o.insert("_id".into(), json!(format!("{ty}:{id}")));
                                o.insert("type".into(), json!(ty));
                            }
                            d
                        })
                        .collect();
                    self.bulk(&mut c, db, docs).await?;
                }
            }
        }
        let (rec, secs) = run_workers(
            &[self.addr],
            conc,
            self.opts.warmup,
            self.opts.measure,
            |w| dbs.iter().skip(w).step_by(conc.max(1)).cloned().collect::<Vec<_>>(),
            |_, mine: Vec<String>, mut conn: Conn, mut rec: Recorder| async move {
                let mut i = 0;
                while rec.running() && !mine.is_empty() {
                    let db = &mine[i % mine.len()];
                    i += 1;
                    let started = Instant::now();
                    let mut since = "0".to_string();
                    let mut n = 0u64;
                    let mut failed = None;
                    loop {
                        let path = format!("/{db}/_changes?since={since}&include_docs=true&limit={DEFAULT_LIMIT}");
                        match conn.send(Method::GET, &path, None, None).await {
                            Ok(r) if r.status.is_success() => match serde_json::from_slice::<Changes>(&r.body) {
                                Ok(ch) => {
                                    let got = ch.results.len();
                                    n += got as u64;
                                    since = seq_param(&ch.last_seq);
                                    if got < DEFAULT_LIMIT as usize {
                                        break;
                                    }
                                }
                                Err(e) => {
                                    failed = Some(e.to_string());
                                    break;
                                }
                            },
                            Ok(r) => {
                                failed = Some(format!("_changes answered {}", r.status));
                                break;
                            }
                            Err(e) => {
                                failed = Some(e.to_string());
                                break;
                            }
                        }
                    }
                    match failed {
                        None => {
                            if rec.record(started, None) {
                                rec.items += n;
                            }
                        }
                        Some(e) => rec.error(e),
                    }
                }
                rec
            },
        )
        .await?;
        let mut f = Figure::from_recorder(TARGET, scenario, conc, secs, rec);
        f.items_label = "changes".into();
        f.note = format!(
            "{} databases, each the snapshot of one of Hub's initial-sync guardians ({:.0} documents on average); one row = one full replication, _changes in pages of {DEFAULT_LIMIT} with include_docs",
            snapshots.len(),
            snapshots.iter().map(Vec::len).sum::<usize>() as f64 / snapshots.len().max(1) as f64
        );
        Ok(f)
    }
}
