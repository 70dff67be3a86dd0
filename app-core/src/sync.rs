//! The sync engine: push the outbox in order, pull until done, and the background loop that
//! runs it (on start, local changes, SSE pokes, every 60 s, network return; backoff with
//! jitter).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::time::ServerOffset;
use domain::view::SyncStatus;
use domain::wire::{MutationEnvelope, PokeData, PullRequest, PushRequest};
use domain::RejectCode;
use futures_util::StreamExt;
use rand::Rng;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::error::CoreError;
use crate::net::{NetError, SseParser};
use crate::{AppCore, CoreEvent, Inner};

pub(crate) const DEFAULT_PUSH_BATCH: usize = 100;
/// The periodic sync (ARCHITECTURE.md: "periodically").
const PERIOD: Duration = Duration::from_secs(60);
const BACKOFF_BASE: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);
/// A pull that keeps saying `has_more` this often is a server bug, not progress.
const MAX_PAGES: usize = 100_000;

/// Exponential backoff with jitter: the n-th consecutive failure waits a random time in
/// [d/2, d] with d = min(1 s · 2^(n-1), 60 s).
pub(crate) fn backoff(failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(16);
    let d = BACKOFF_BASE.saturating_mul(1u32 << exp).min(BACKOFF_MAX);
    let ms = u64::try_from(d.as_millis()).unwrap_or(60_000);
    let jittered = rand::thread_rng().gen_range(ms / 2..=ms.max(1));
    Duration::from_millis(jittered)
}

/// The midpoint of a request as the device saw it, to learn the server offset from.
fn midpoint(sent: DateTime<Utc>, received: DateTime<Utc>) -> DateTime<Utc> {
    sent + (received - sent) / 2
}

/// The greatest commit number the server has named in push and pull answers and pokes
/// (docs/protocol.md, "Commits"), named again in each pull as `min_commit`: the pull then
/// holds at least what this device has seen, on whichever server instance it lands (its own
/// pushes above all: their overlay is dropped when they are answered).
#[derive(Default)]
pub(crate) struct SeenCommit(AtomicU64);

impl SeenCommit {
    /// Keeps `commit` if it is the greatest so far.
    pub(crate) fn note(&self, commit: Option<u64>) {
        if let Some(c) = commit {
            // Stored plus one: 0 is "none seen".
            self.0.fetch_max(c.saturating_add(1), Ordering::SeqCst);
        }
    }

    pub(crate) fn get(&self) -> Option<u64> {
        self.0.load(Ordering::SeqCst).checked_sub(1)
    }

    pub(crate) fn forget(&self) {
        self.0.store(0, Ordering::SeqCst);
    }
}

struct Creds {
    base: String,
    token: String,
    client_id: Uuid,
}

fn creds(inner: &Inner) -> Result<Creds, CoreError> {
    if inner.lock_live()?.needs_sign_in {
        return Err(CoreError::NotSignedIn(
            "the server asked to sign in again".into(),
        ));
    }
    let guard = inner.lock_account()?;
    let a = guard
        .as_ref()
        .ok_or_else(|| CoreError::NotSignedIn("no account is signed in".into()))?;
    Ok(Creds {
        base: a.server_url.clone(),
        token: a.token.clone(),
        client_id: a.replica.client_id()?,
    })
}

/// One sync: push (optional) then pull. Serialised by `sync_lock`.
pub(crate) async fn sync(inner: &Arc<Inner>, push: bool) -> Result<SyncStatus, CoreError> {
    let _one_at_a_time = inner.sync_lock.lock().await;
    let c = creds(inner)?;
    let result = async {
        if push {
            push_all(inner, &c).await?;
        }
        pull_all(inner, &c).await
    }
    .await;
    {
        let mut live = inner.lock_live()?;
        match &result {
            Ok(()) => {
                live.online = true;
                live.last_error = None;
            }
            Err(e) => {
                live.last_error = Some(e.to_string());
                match e {
                    CoreError::Network(_) => live.online = false,
                    CoreError::NotSignedIn(_) => {
                        // 401: ask for a new sign-in; the outbox is untouched.
                        live.online = true;
                        live.needs_sign_in = true;
                    }
                    _ => live.online = true,
                }
            }
        }
    }
    inner.emit_status();
    result.map(|()| inner.status())
}

async fn push_all(inner: &Arc<Inner>, c: &Creds) -> Result<(), CoreError> {
    let mut batch_size = inner.push_batch.load(Ordering::Relaxed).max(1);
    loop {
        let batch = inner.write(|r, _| r.outbox(Some(batch_size)))?;
        if batch.is_empty() {
            return Ok(());
        }
        let ids: Vec<Uuid> = batch.iter().map(|p| p.id).collect();
        inner.write(|r, _| r.mark_attempt(&ids, None))?;
        let req = PushRequest {
            client_id: c.client_id,
            mutations: batch
                .iter()
                .map(|p| MutationEnvelope {
                    id: p.id,
                    name: p.name.clone(),
                    args: p.args.clone(),
                    // Tablet mode: the staff member whose session queued it (R-STAFF-1).
                    actor: p.actor,
                })
                .collect(),
        };
        let sent = inner.device_now();
        let resp = match inner.api.push(&c.base, &c.token, &req).await {
            Ok(r) => r,
            Err(e) if e.status() == Some(413) => {
                // The request is too large, not the mutations wrong: send fewer at once; a
                // single mutation too large for any request can never be sent.
                if batch.len() > 1 {
                    batch_size = (batch.len() / 2).max(1);
                    continue;
                }
                let now = inner.device_now();
                inner.write(|r, _| {
                    r.reject_locally(
                        ids[0],
                        RejectCode::InvalidInput,
                        "the change is too large to send",
                        now,
                    )
                })?;
                inner.emit(CoreEvent::Changed);
                continue;
            }
            Err(e) => {
                let err = CoreError::from(e);
                let msg = err.to_string();
                let _ = inner.write(|r, _| r.mark_attempt(&[], Some(&msg)));
                return Err(err);
            }
        };
        let received = inner.device_now();
        let offset = ServerOffset::learn(resp.server_time, midpoint(sent, received)).millis;
        let outcomes = inner.write(|r, _| r.record_results(&resp.results, received, offset))?;
        inner.seen_commit.note(resp.commit);
        if outcomes.applied + outcomes.rejected > 0 {
            inner.emit(CoreEvent::Changed);
        } else {
            return Err(CoreError::Server(
                "the server answered none of the pushed mutations".into(),
            ));
        }
    }
}

async fn pull_all(inner: &Arc<Inner>, c: &Creds) -> Result<(), CoreError> {
    let settle_mark = inner.write(|r, _| r.settle_mark())?;
    // Password unlocks done before this pull: its complete result includes their resets.
    let resets = inner.write(|r, _| crate::tablet::pin_resets(r))?;
    let limit = inner.pull_limit.lock().map(|l| *l).unwrap_or(None);
    let mut expired = 0;
    let mut changed = false;
    for _ in 0..MAX_PAGES {
        let cursor = inner.write(|r, _| {
            let cursor = r.cursor()?;
            let bootstrapping: bool = r
                .meta_get(crate::replica::keys::BOOTSTRAPPING)?
                .unwrap_or(false);
            if cursor.is_none() && !bootstrapping {
                r.begin_bootstrap()?;
            }
            Ok(cursor)
        })?;
        let sent = inner.device_now();
        let page = match inner
            .api
            .pull(
                &c.base,
                &c.token,
                &PullRequest {
                    cursor,
                    limit,
                    min_commit: inner.seen_commit.get(),
                },
            )
            .await
        {
            Ok(p) => p,
            Err(NetError::Status {
                status: 410,
                code,
                message,
            }) if code == RejectCode::CursorExpired.as_str() => {
                // The server no longer knows our cursor: start over from a full snapshot.
                // Only server rows are replaced; the outbox is kept and overlaid as before.
                expired += 1;
                if expired > 3 {
                    return Err(CoreError::Server(format!(
                        "cursor keeps expiring: {message}"
                    )));
                }
                tracing::info!("pull cursor expired: re-bootstrapping from a full snapshot");
                inner.write(|r, _| r.begin_bootstrap())?;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let received = inner.device_now();
        let offset = ServerOffset::learn(page.server_time, midpoint(sent, received)).millis;
        let applied = inner.write(|r, _| r.apply_page(&page, settle_mark, received, offset))?;
        inner.seen_commit.note(page.commit);
        changed |= applied.changes > 0;
        if applied.complete {
            inner.write(|r, _| crate::tablet::clear_pin_resets(r, &resets))?;
            if changed || settle_mark > 0 {
                inner.emit(CoreEvent::Changed);
            }
            return Ok(());
        }
    }
    Err(CoreError::Server("the pull never finished".into()))
}

// ---------------------------------------------------------------- background

pub(crate) fn start_background(core: &AppCore) {
    let inner = &core.inner;
    if inner.background.swap(true, Ordering::SeqCst) {
        return;
    }
    let weak = Arc::downgrade(inner);
    let (wake, net_back) = (Arc::clone(&inner.wake), Arc::clone(&inner.net_back));
    let epoch = inner.session_epoch.subscribe();
    let api = inner.api.clone();
    let sync_task = sync_loop(weak.clone(), Arc::clone(&wake), Arc::clone(&net_back));
    let sse_task = sse_loop(weak, api, wake, net_back, epoch);
    match tokio::runtime::Handle::try_current() {
        Ok(h) => {
            let a = h.spawn(sync_task).abort_handle();
            let b = h.spawn(sse_task).abort_handle();
            if let Ok(mut t) = inner.tasks.lock() {
                t.push(a);
                t.push(b);
            }
        }
        Err(_) => {
            let spawned = std::thread::Builder::new()
                .name("hub-sync".into())
                .spawn(move || {
                    match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        Ok(rt) => rt.block_on(async move {
                            tokio::join!(sync_task, sse_task);
                        }),
                        Err(e) => {
                            tracing::error!(error = %e, "cannot start the background sync runtime")
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start the background sync thread");
            }
        }
    }
}

async fn sync_loop(weak: Weak<Inner>, wake: Arc<Notify>, net_back: Arc<Notify>) {
    let mut failures: u32 = 0;
    loop {
        {
            let Some(inner) = weak.upgrade() else { return };
            if creds(&inner).is_ok() {
                match sync(&inner, true).await {
                    Ok(_) => {
                        failures = 0;
                        inner.deliver_notifications();
                    }
                    Err(e) if e.is_transient() => {
                        failures = failures.saturating_add(1);
                        tracing::debug!(error = %e, failures, "background sync failed; backing off");
                    }
                    Err(e) => {
                        // Not signed in (401), storage trouble: wait for a wake-up.
                        failures = 0;
                        tracing::info!(error = %e, "background sync stopped until the next change");
                    }
                }
            }
        }
        if failures == 0 {
            tokio::select! {
                _ = wake.notified() => {}
                _ = net_back.notified() => {}
                _ = tokio::time::sleep(PERIOD) => {}
            }
        } else {
            // Backing off: local changes wait (they are safe in the outbox); the network
            // coming back (the event stream reconnects) cuts the wait short.
            tokio::select! {
                _ = net_back.notified() => {}
                _ = tokio::time::sleep(backoff(failures)) => {}
            }
        }
    }
}

async fn sse_loop(
    weak: Weak<Inner>,
    api: crate::net::Api,
    wake: Arc<Notify>,
    net_back: Arc<Notify>,
    mut epoch: tokio::sync::watch::Receiver<u64>,
) {
    let mut failures: u32 = 0;
    loop {
        let creds = {
            let Some(inner) = weak.upgrade() else { return };
            creds(&inner).ok()
        };
        epoch.borrow_and_update();
        let Some(c) = creds else {
            tokio::select! {
                _ = epoch.changed() => {}
                _ = tokio::time::sleep(Duration::from_secs(30)) => {}
            }
            continue;
        };
        match api.events(&c.base, &c.token).await {
            Ok(res) => {
                let mut stream = res.bytes_stream();
                let mut parser = SseParser::default();
                loop {
                    tokio::select! {
                        chunk = stream.next() => match chunk {
                            Some(Ok(bytes)) => {
                                for ev in parser.feed(&bytes) {
                                    if matches!(ev.name.as_str(), "ready" | "poke") {
                                        // The commit it announces: the pull it causes names it.
                                        let data = serde_json::from_str::<PokeData>(&ev.data);
                                        if let (Ok(d), Some(inner)) = (data, weak.upgrade()) {
                                            inner.seen_commit.note(d.commit);
                                        }
                                    }
                                    match ev.name.as_str() {
                                        "ready" => {
                                            failures = 0;
                                            net_back.notify_one();
                                        }
                                        "poke" => wake.notify_one(),
                                        _ => {}
                                    }
                                }
                            }
                            _ => break,
                        },
                        _ = epoch.changed() => break,
                    }
                }
                failures = failures.saturating_add(1);
            }
            Err(e) => {
                if e.status() == Some(401) {
                    if let Some(inner) = weak.upgrade() {
                        let same = inner
                            .lock_account()
                            .ok()
                            .and_then(|g| g.as_ref().map(|a| a.token == c.token));
                        if same == Some(true) {
                            if let Ok(mut live) = inner.lock_live() {
                                live.needs_sign_in = true;
                            }
                            inner.emit_status();
                        }
                    }
                }
                failures = failures.saturating_add(1);
            }
        }
        tokio::select! {
            _ = epoch.changed() => {}
            _ = tokio::time::sleep(backoff(failures.max(1))) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seen_commit_is_the_greatest_named_and_none_before_any() {
        let seen = SeenCommit::default();
        assert_eq!(seen.get(), None);
        seen.note(None);
        assert_eq!(seen.get(), None);
        seen.note(Some(0));
        assert_eq!(seen.get(), Some(0));
        // Answers of two instances may arrive out of order: an older commit never lowers it.
        seen.note(Some(41));
        seen.note(Some(17));
        seen.note(None);
        assert_eq!(seen.get(), Some(41));
        seen.note(Some(u64::MAX));
        assert_eq!(seen.get(), Some(u64::MAX - 1), "the greatest storable, never wrapped to none");
        seen.forget();
        assert_eq!(seen.get(), None);
    }

    #[test]
    fn backoff_grows_exponentially_with_jitter_and_caps() {
        for _ in 0..50 {
            let d1 = backoff(1);
            assert!(
                d1 >= Duration::from_millis(500) && d1 <= Duration::from_secs(1),
                "{d1:?}"
            );
            let d4 = backoff(4);
            assert!(
                d4 >= Duration::from_secs(4) && d4 <= Duration::from_secs(8),
                "{d4:?}"
            );
            let d20 = backoff(20);
            assert!(
                d20 >= Duration::from_secs(30) && d20 <= Duration::from_secs(60),
                "{d20:?}"
            );
        }
    }
}
