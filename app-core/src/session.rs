//! Signing in and out (R-ACC-1, R-ACC-2), and the last session, kept on disk (without its
//! token) so that [`AppCore::open`] restores it. Pairing a tablet is in [`crate::tablet`].

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Mutex};

use domain::view::Session;
use domain::wire::{ChildInfo, LoginRequest, Role, UserInfo};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::{broadcast, watch, Notify};
use uuid::Uuid;

use crate::net::Api;
use crate::replica::{keys, Replica};
use crate::tablet::Tablet;
use crate::token::{self, TokenStore};
use crate::{sync, views, Account, AppCore, CoreError, CoreEvent, CoreOptions, Inner, Live, Mode};

/// The last session, so [`AppCore::open`] can restore it (no token in it). A paired tablet's
/// names the device (`user_id`, `username`) and sets `tablet`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SessionFile {
    pub(crate) server_url: String,
    pub(crate) user_id: Uuid,
    pub(crate) username: String,
    pub(crate) account: String,
    #[serde(default)]
    pub(crate) tablet: bool,
}

pub(crate) fn account_key(server_url: &str, user_id: Uuid) -> String {
    let mut h = Sha256::new();
    h.update(server_url.as_bytes());
    h.update([0]);
    h.update(user_id.as_bytes());
    hex::encode(&h.finalize()[..12])
}

pub(crate) fn normalize_url(url: &str) -> String {
    url.trim().trim_end_matches('/').to_string()
}

pub(crate) fn replica_path(data_dir: &Path, key: &str) -> PathBuf {
    data_dir.join("replicas").join(format!("{key}.sqlite3"))
}

fn device_id(data_dir: &Path) -> Result<String, CoreError> {
    let p = data_dir.join("device_id");
    if let Ok(s) = std::fs::read_to_string(&p) {
        let s = s.trim().to_string();
        if !s.is_empty() {
            return Ok(s);
        }
    }
    let id = Uuid::new_v4().to_string();
    std::fs::create_dir_all(data_dir)?;
    std::fs::write(&p, &id)?;
    Ok(id)
}

impl AppCore {
    /// Opens the engine on `data_dir`, restoring the last session (its token from the token
    /// store) if any. A session whose token is gone (signed out elsewhere, keyring reset, or
    /// a keyring that cannot be reached) is not restored; the error is logged.
    pub fn open(opts: CoreOptions) -> Result<AppCore, CoreError> {
        std::fs::create_dir_all(&opts.data_dir)?;
        let (events, _) = broadcast::channel(256);
        let (session_epoch, _) = watch::channel(0);
        let inner = Inner {
            tokens: TokenStore::new(opts.token_store, &opts.data_dir),
            data_dir: opts.data_dir,
            clock: opts.clock,
            api: Api::new()?,
            account: Mutex::new(None),
            live: Mutex::new(Live::default()),
            events,
            sync_lock: tokio::sync::Mutex::new(()),
            wake: Arc::new(Notify::new()),
            net_back: Arc::new(Notify::new()),
            session_epoch,
            background: AtomicBool::new(false),
            tasks: Mutex::new(Vec::new()),
            push_batch: AtomicUsize::new(sync::DEFAULT_PUSH_BATCH),
            pull_limit: Mutex::new(None),
            seen_commit: sync::SeenCommit::default(),
        };
        let core = AppCore {
            inner: Arc::new(inner),
        };
        core.restore()?;
        Ok(core)
    }

    fn restore(&self) -> Result<(), CoreError> {
        let path = self.inner.data_dir.join("session.json");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let Ok(sf) = serde_json::from_str::<SessionFile>(&text) else {
            tracing::warn!("session.json unreadable; not restoring a session");
            return Ok(());
        };
        let token = match self.inner.tokens.get(&sf.account) {
            Ok(Some(t)) => t,
            Ok(None) => {
                tracing::info!(account = %sf.account, "no token for the last session; sign in again");
                return Ok(());
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not read the session token; sign in again");
                return Ok(());
            }
        };
        let replica = Replica::open(&replica_path(&self.inner.data_dir, &sf.account))?;
        let mode = if sf.tablet {
            let Some(t) = Tablet::restore(&replica)? else {
                tracing::warn!("the paired tablet's replica has no device; pair again");
                return Ok(());
            };
            Mode::Tablet(t)
        } else {
            let Some(user) = replica.meta_get::<UserInfo>(keys::USER)? else {
                tracing::warn!("the last session's replica has no user; sign in again");
                return Ok(());
            };
            Mode::User(user)
        };
        *self.inner.lock_account()? = Some(Account {
            key: sf.account,
            server_url: sf.server_url,
            mode,
            token,
            replica,
        });
        Ok(())
    }

    pub(crate) fn write_session_file(&self, sf: &SessionFile) -> Result<(), CoreError> {
        let text = serde_json::to_string_pretty(sf).map_err(CoreError::storage)?;
        token::write_private_file(&self.inner.data_dir.join("session.json"), &text)?;
        Ok(())
    }

    pub(crate) fn remove_session_file(&self) -> Result<(), CoreError> {
        match std::fs::remove_file(self.inner.data_dir.join("session.json")) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Leaves an account for another one on this device (another person signs in, or the
    /// device is paired as a tablet, or the other way round): its credential is revoked on
    /// the server (best effort) and removed from the token store. Its replica stays on disk
    /// with its outbox, sent when the same account (or tablet unit) comes back.
    pub(crate) async fn leave(&self, prev: Account) {
        let revoked = match prev.mode {
            Mode::User(_) => self.inner.api.logout(&prev.server_url, &prev.token).await,
            Mode::Tablet(_) => {
                self.inner
                    .api
                    .unpair_self(&prev.server_url, &prev.token)
                    .await
            }
        };
        if let Err(e) = revoked {
            tracing::info!(error = ?e, "could not revoke the previous credential on the server");
        }
        if let Err(e) = self.inner.tokens.delete(&prev.key) {
            tracing::warn!(error = %e, "could not remove the previous credential");
        }
    }

    /// Signs in (R-ACC-1): logs in, reads `/v1/me`, stores the token in the token store,
    /// opens this account's replica (keeping any outbox it had), and makes a first sync
    /// attempt (its failure is reported in [`AppCore::sync_status`], not here).
    pub async fn sign_in(
        &self,
        server_url: &str,
        username: &str,
        password: &str,
    ) -> Result<Session, CoreError> {
        let base = normalize_url(server_url);
        if base.is_empty() {
            return Err(CoreError::invalid("a server address is needed"));
        }
        {
            let _busy = self.inner.sync_lock.lock().await;
            let device = device_id(&self.inner.data_dir)?;
            let req = LoginRequest {
                username: username.to_string(),
                password: password.to_string(),
                device_id: Some(device),
            };
            let login = match self.inner.api.login(&base, &req).await {
                Ok(l) => l,
                Err(e) => {
                    let mut err = CoreError::from(e);
                    // R-ACC-2: a copied password may carry a trailing space.
                    if let CoreError::InvalidCredentials(m) = &mut err {
                        if password.ends_with(char::is_whitespace) {
                            m.push_str(" (the password ends in white space: a copied password may carry a trailing space)");
                        }
                    }
                    return Err(err);
                }
            };
            let me = self
                .inner
                .api
                .me(&base, &login.token)
                .await
                .map_err(CoreError::from)?;
            let key = account_key(&base, me.user.id);
            // Another account signed in before on this device, or the device was a paired
            // tablet: that ends (its replica and outbox stay on disk for when it comes back).
            let previous = self.inner.lock_account()?.take_if(|a| a.key != key);
            if let Some(prev) = previous {
                self.leave(prev).await;
            }
            let mut replica = Replica::open(&replica_path(&self.inner.data_dir, &key))?;
            replica.meta_set(keys::USER, &me.user)?;
            replica.meta_set(keys::ME_CHILDREN, &me.children)?;
            replica.meta_set(keys::SERVER_URL, &base)?;
            self.inner.tokens.set(&key, &login.token)?;
            self.write_session_file(&SessionFile {
                server_url: base.clone(),
                user_id: me.user.id,
                username: me.user.username.clone(),
                account: key.clone(),
                tablet: false,
            })?;
            *self.inner.lock_account()? = Some(Account {
                key,
                server_url: base,
                mode: Mode::User(me.user),
                token: login.token,
                replica,
            });
            {
                let mut live = self.inner.lock_live()?;
                live.needs_sign_in = false;
                live.online = true;
                live.last_error = None;
            }
            self.inner.new_session();
        }
        self.inner.emit(CoreEvent::Changed);
        self.inner.emit_status();
        if let Err(e) = self.sync_now().await {
            tracing::info!(error = %e, "first sync after sign-in failed; it will be retried");
        }
        self.inner.wake.notify_one();
        self.session()
            .ok_or_else(|| CoreError::NotSignedIn("signed out meanwhile".into()))
    }

    /// Signs out: revokes the token on the server (best effort, offline too), removes it
    /// from the token store and forgets the session. The account's replica stays on disk
    /// with its outbox, so changes made offline are sent when the same account signs in
    /// again on this device. On a paired tablet it ends the PIN session only (the staff
    /// member signs out; the tablet stays paired: [`AppCore::unpair_tablet`] undoes that).
    pub async fn sign_out(&self) -> Result<(), CoreError> {
        if self.tablet_state().is_some() {
            return self.lock_tablet();
        }
        let _busy = self.inner.sync_lock.lock().await;
        let acct = self
            .inner
            .lock_account()?
            .take_if(|a| matches!(a.mode, Mode::User(_)));
        if let Some(a) = acct {
            if let Err(e) = self.inner.api.logout(&a.server_url, &a.token).await {
                tracing::info!(error = ?e, "logout could not reach the server; the token is dropped locally");
            }
            self.inner.tokens.delete(&a.key)?;
        }
        self.remove_session_file()?;
        *self.inner.lock_live()? = Live::default();
        self.inner.new_session();
        self.inner.emit(CoreEvent::Changed);
        self.inner.emit_status();
        Ok(())
    }

    /// The signed-in account and its children (for guardians and students, the children in
    /// the replica once synced; `/v1/me`'s list before the first sync). None on a paired
    /// tablet ([`AppCore::tablet_state`]).
    pub fn session(&self) -> Option<Session> {
        let guard = self.inner.lock_account().ok()?;
        let a = guard.as_ref()?;
        let Mode::User(user) = &a.mode else {
            return None;
        };
        let children = self.children_of(a, user).unwrap_or_default();
        Some(Session {
            server_url: a.server_url.clone(),
            user: user.clone(),
            children,
        })
    }

    fn children_of(&self, a: &Account, user: &UserInfo) -> Result<Vec<ChildInfo>, CoreError> {
        match user.role {
            Role::Staff | Role::Admin => Ok(Vec::new()),
            Role::Guardian | Role::Student => {
                let synced: bool = a.replica.meta_get(keys::BASELINE_DONE)?.unwrap_or(false);
                if synced {
                    views::replica_children(&a.replica)
                } else {
                    Ok(a.replica.meta_get(keys::ME_CHILDREN)?.unwrap_or_default())
                }
            }
        }
    }
}
