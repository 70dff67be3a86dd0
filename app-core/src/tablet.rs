//! Tablet mode (R-STAFF-1…3): a device paired to one unit holds a device credential instead
//! of a person's token, and staff take turns on it with a personal PIN.
//!
//! - Pairing: a staff member signed in elsewhere creates a one-time code
//!   ([`AppCore::create_pairing`]); [`AppCore::pair_tablet`] trades it for the credential,
//!   which goes to the token store like a user's token (never into the replica).
//! - One replica per (server, unit), not per credential: a tablet whose credential was revoked
//!   keeps its outbox (401 → `needs_sign_in`), and pairing it again with the same unit sends
//!   that outbox with the new credential. Unpairing removes the replica (a tablet leaving
//!   service keeps no children's data), so it refuses while changes are unsent.
//! - PINs are checked on the device, offline too, against the verifier the server sends in
//!   each staff member's `tablet_staff` entity. Every attempt is queued as `staff.pin_attempt`
//!   so the server and the unit's other tablets count it; the lockout shown here is the
//!   server's state with the pending attempts replayed by [`PinState::after_attempt`] (see
//!   [`crate::overlay::pin_state`]).
//! - A PIN session names the staff member every queued mutation records as its actor. It
//!   ends after 10 minutes without an action ([`domain::pin::session_expired`] on the
//!   corrected clock); reads do not extend it (views are re-read on every sync), actions and
//!   [`AppCore::touch`] do. It is kept in the replica, so an app restart within the idle time
//!   stays unlocked: a restart is not a reason for staff to type their PIN again, and the
//!   10 minutes still apply.

use chrono::{DateTime, Duration, NaiveDate, SubsecRound, Utc};
use domain::pairing::PairingCode;
use domain::pin::{check_new_pin, session_expired, PinState, PIN_DIGITS, PIN_IDLE_MINUTES};
use domain::view::{
    ActiveStaff, RoomChildDetail, RoomView, TabletStaffView, TabletState, UnlockOutcome,
};
use domain::wire::entity::{self as e, TabletStaff};
use domain::wire::{
    self as w, AttendanceKind, CreatePairingRequest, DeviceInfo, DevicesResponse, Mutation,
    PairRequest, PairingInfo, PasswordUnlockRequest, SetPinRequest, UnitRef,
};
use domain::RejectCode;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::CoreError;
use crate::net::NetError;
use crate::replica::{keys, Replica};
use crate::session::{normalize_url, replica_path, SessionFile};
use crate::{overlay, room, views};
use crate::{Account, AppCore, CoreEvent, Inner, Live, Mode};

type Result<T> = std::result::Result<T, CoreError>;

/// A touch is written to the replica at most this often: taps do not each cost an fsync, and
/// a restart may end a session this much early at worst.
const SAVE_EVERY_SECS: i64 = 30;

/// The running PIN session (stored in the replica's meta; not a credential).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct PinSession {
    pub user_id: Uuid,
    pub display_name: String,
    pub since: DateTime<Utc>,
    pub last_active: DateTime<Utc>,
}

/// A password unlock the server has applied (its reset of the PIN lockout) that no complete
/// pull has brought back yet; attempts queued up to `after_seq` were sent before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PinReset {
    pub user_id: Uuid,
    pub after_seq: i64,
    /// When it was done (corrected clock); attempts made before it do not count. None: saved
    /// by a version that did not keep it.
    #[serde(default)]
    pub at: Option<DateTime<Utc>>,
}

/// A paired tablet's state in the engine.
pub(crate) struct Tablet {
    pub device: DeviceInfo,
    session: Option<PinSession>,
    /// `last_active` as last written to the replica.
    saved_active: Option<DateTime<Utc>>,
}

pub(crate) fn saved_session(r: &Replica) -> Result<Option<PinSession>> {
    Ok(r.meta_get::<Option<PinSession>>(keys::PIN_SESSION)?
        .flatten())
}

impl Tablet {
    pub fn new(device: DeviceInfo) -> Tablet {
        Tablet {
            device,
            session: None,
            saved_active: None,
        }
    }

    /// The tablet a replica was paired as, with its PIN session (an ended one is dropped at
    /// the next use).
    pub fn restore(r: &Replica) -> Result<Option<Tablet>> {
        let Some(device) = r.meta_get::<DeviceInfo>(keys::DEVICE)? else {
            return Ok(None);
        };
        let session = saved_session(r)?;
        Ok(Some(Tablet {
            device,
            saved_active: session.as_ref().map(|s| s.last_active),
            session,
        }))
    }

    /// The session still running at `now` (R-STAFF-3: 10 minutes idle ends it).
    pub fn live(&self, now: DateTime<Utc>) -> Option<&PinSession> {
        self.session
            .as_ref()
            .filter(|s| !session_expired(s.last_active, now))
    }

    fn has_session(&self) -> bool {
        self.session.is_some()
    }

    /// Activity at `now`: extends a running session, forgets one that has ended. Returns the
    /// staff member still unlocked.
    pub fn touch(&mut self, r: &mut Replica, now: DateTime<Utc>) -> Result<Option<Uuid>> {
        let Some(s) = self.session.as_mut() else {
            return Ok(None);
        };
        if session_expired(s.last_active, now) {
            self.session = None;
            self.save(r)?;
            return Ok(None);
        }
        // A clock corrected backwards at a sync never shortens the session.
        s.last_active = s.last_active.max(now);
        let id = s.user_id;
        let due = self
            .saved_active
            .is_none_or(|t| now - t >= Duration::seconds(SAVE_EVERY_SECS));
        if due {
            self.save(r)?;
        }
        Ok(Some(id))
    }

    fn start(
        &mut self,
        r: &mut Replica,
        user_id: Uuid,
        display_name: String,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.session = Some(PinSession {
            user_id,
            display_name,
            since: now,
            last_active: now,
        });
        self.save(r)
    }

    fn end(&mut self, r: &mut Replica) -> Result<()> {
        if self.session.take().is_some() {
            self.save(r)?;
        }
        Ok(())
    }

    fn save(&mut self, r: &mut Replica) -> Result<()> {
        r.meta_set(keys::PIN_SESSION, &self.session)?;
        self.saved_active = self.session.as_ref().map(|s| s.last_active);
        Ok(())
    }

    fn active(&self, now: DateTime<Utc>) -> Option<ActiveStaff> {
        self.live(now).map(|s| ActiveStaff {
            user_id: s.user_id,
            display_name: s.display_name.clone(),
            since: s.since,
            idle_until: s.last_active + Duration::minutes(PIN_IDLE_MINUTES),
        })
    }
}

/// What a paired tablet may queue: the staff actions on its unit's children. Messages, talks
/// and notifications belong to a person's own account, not to a shared device.
pub(crate) fn allowed_on_tablet(m: &Mutation) -> bool {
    matches!(
        m,
        Mutation::AttendanceMark(_)
            | Mutation::AbsenceConfirm(_)
            | Mutation::AbsenceReport(_)
            | Mutation::CareComment(_)
            | Mutation::CareCommentSeen(_)
            | Mutation::CareSetDay(_)
            | Mutation::CareClearDay(_)
            | Mutation::CareSetWeek(_)
    )
}

// ---------------------------------------------------------------- PIN lockout

pub(crate) fn pin_resets(r: &Replica) -> Result<Vec<PinReset>> {
    Ok(r.meta_get(keys::PIN_RESETS)?.unwrap_or_default())
}

/// Forgets the resets a complete pull that started after them has brought back.
pub(crate) fn clear_pin_resets(r: &mut Replica, done: &[PinReset]) -> Result<()> {
    if done.is_empty() {
        return Ok(());
    }
    let left: Vec<PinReset> = pin_resets(r)?
        .into_iter()
        .filter(|x| !done.contains(x))
        .collect();
    r.meta_set(keys::PIN_RESETS, &left)
}

/// The unit's staff on this tablet, by name, each with their lockout as it stands here.
fn staff(r: &Replica, unit_id: Uuid) -> Result<Vec<(TabletStaff, PinState)>> {
    let resets = pin_resets(r)?;
    let pending = views::pending(r)?;
    let mut list: Vec<TabletStaff> = r
        .typed::<TabletStaff>(e::TABLET_STAFF_TYPE)?
        .into_iter()
        .filter(|t| t.unit_id == unit_id)
        .collect();
    list.sort_by(|a, b| (&a.display_name, a.user_id).cmp(&(&b.display_name, b.user_id)));
    Ok(list
        .into_iter()
        .map(|t| {
            let mine = resets.iter().filter(|x| x.user_id == t.user_id);
            let mark = mine.clone().map(|x| x.after_seq).max();
            // A reset without its moment still clears the count; only its mark then decides.
            let at = mine
                .filter_map(|x| x.at)
                .max()
                .unwrap_or(DateTime::<Utc>::MIN_UTC);
            let reset = mark.map(|m| (m, at));
            let state = overlay::pin_state(t.user_id, t.pin_state, &pending, reset);
            (t, state)
        })
        .collect())
}

fn staff_member(r: &Replica, unit_id: Uuid, user_id: Uuid) -> Result<(TabletStaff, PinState)> {
    staff(r, unit_id)?
        .into_iter()
        .find(|(t, _)| t.user_id == user_id)
        .ok_or_else(|| {
            CoreError::rule(
                RejectCode::NotFound,
                "no such staff member on this tablet (sync, or sign in with the password)",
            )
        })
}

fn staff_views(r: &Replica, unit_id: Uuid) -> Result<Vec<TabletStaffView>> {
    Ok(staff(r, unit_id)?
        .into_iter()
        .map(|(t, state)| TabletStaffView {
            user_id: t.user_id,
            display_name: t.display_name,
            has_pin: t.pin.is_some(),
            locked: state.locked,
            attempts_left: state.attempts_left(),
        })
        .collect())
}

// ---------------------------------------------------------------- engine plumbing

fn not_paired() -> CoreError {
    CoreError::NotSignedIn("this device is not paired as a tablet".into())
}

/// The replica of a tablet paired to `unit_id` on `server_url`.
pub(crate) fn tablet_key(server_url: &str, unit_id: Uuid) -> String {
    let mut h = Sha256::new();
    h.update(b"tablet\0");
    h.update(server_url.as_bytes());
    h.update([0]);
    h.update(unit_id.as_bytes());
    hex::encode(&h.finalize()[..12])
}

impl Inner {
    /// Runs `f` on the paired tablet and its replica, at the corrected clock.
    fn with_tablet<T>(
        &self,
        f: impl FnOnce(&mut Tablet, &mut Replica, DateTime<Utc>) -> Result<T>,
    ) -> Result<T> {
        let mut guard = self.lock_account()?;
        let a = guard.as_mut().ok_or_else(not_paired)?;
        let now = Inner::offset_of(a).corrected(self.clock.now());
        match &mut a.mode {
            Mode::Tablet(t) => f(t, &mut a.replica, now),
            Mode::User(_) => Err(not_paired()),
        }
    }

    /// Server and credential for a direct call; `tablet` says which kind is needed.
    fn call_creds(&self, tablet: bool) -> Result<(String, String)> {
        if self.lock_live()?.needs_sign_in {
            return Err(CoreError::NotSignedIn(
                "the server asked to sign in again".into(),
            ));
        }
        let guard = self.lock_account()?;
        let a = guard
            .as_ref()
            .ok_or_else(|| CoreError::NotSignedIn("no account is signed in".into()))?;
        match (&a.mode, tablet) {
            (Mode::Tablet(_), true) | (Mode::User(_), false) => {
                Ok((a.server_url.clone(), a.token.clone()))
            }
            (Mode::User(_), true) => Err(not_paired()),
            (Mode::Tablet(_), false) => Err(CoreError::NotSignedIn(
                "a paired tablet cannot do this: sign in with a password on another device".into(),
            )),
        }
    }

    /// A direct call failed: its error; a 401 that is not about the credentials typed in
    /// means this credential is dead (revoked, expired), as in a sync.
    fn call_failed(&self, e: NetError, token: &str) -> CoreError {
        let err = e.into_call_error();
        if matches!(err, CoreError::NotSignedIn(_)) {
            let same = self
                .lock_account()
                .ok()
                .and_then(|g| g.as_ref().map(|a| a.token == token));
            if same == Some(true) {
                if let Ok(mut live) = self.lock_live() {
                    live.needs_sign_in = true;
                }
                self.emit_status();
            }
        }
        err
    }

    fn changed(&self) {
        self.emit(CoreEvent::Changed);
        self.emit_status();
    }
}

// ---------------------------------------------------------------- the API

impl AppCore {
    /// R-STAFF-3: pairs this device as a tablet of a unit with the code a staff member
    /// created elsewhere (`ABCD-EFGH`; case, spaces and dashes do not matter). The device
    /// credential goes to the token store; a user session on this device is signed out (and
    /// an earlier pairing undone). Opens the unit's replica (keeping an outbox left by a
    /// revoked pairing, which is then sent), starts locked, and makes a first sync attempt
    /// (its failure shows in [`AppCore::sync_status`], not here).
    pub async fn pair_tablet(
        &self,
        server_url: &str,
        code: &str,
        name: Option<&str>,
    ) -> Result<TabletState> {
        let base = normalize_url(server_url);
        if base.is_empty() {
            return Err(CoreError::invalid("a server address is needed"));
        }
        let code = PairingCode::parse(code)?;
        {
            let _busy = self.inner.sync_lock.lock().await;
            let req = PairRequest {
                code: code.display(),
                name: name
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map(str::to_string),
            };
            let paired = self
                .inner
                .api
                .pair(&base, &req)
                .await
                .map_err(NetError::into_call_error)?;
            let key = tablet_key(&base, paired.device.unit.id);
            let previous = self.inner.lock_account()?.take();
            if let Some(prev) = previous {
                self.leave(prev).await;
            }
            let mut replica = Replica::open(&replica_path(&self.inner.data_dir, &key))?;
            // A new credential may see another scope than the one the cursor was made for
            // (re-paired after a revocation): start from a full snapshot; the outbox stays.
            replica.begin_bootstrap()?;
            replica.meta_set(keys::DEVICE, &paired.device)?;
            replica.meta_set(keys::SERVER_URL, &base)?;
            replica.meta_set(keys::PIN_SESSION, &None::<PinSession>)?;
            self.inner.tokens.set(&key, &paired.token)?;
            self.write_session_file(&SessionFile {
                server_url: base.clone(),
                user_id: paired.device.id,
                username: paired.device.name.clone(),
                account: key.clone(),
                tablet: true,
            })?;
            *self.inner.lock_account()? = Some(Account {
                key,
                server_url: base,
                mode: Mode::Tablet(Tablet::new(paired.device)),
                token: paired.token,
                replica,
            });
            *self.inner.lock_live()? = Live {
                online: true,
                ..Live::default()
            };
            self.inner.new_session();
        }
        self.inner.changed();
        if let Err(e) = self.sync_now().await {
            tracing::info!(error = %e, "first sync after pairing failed; it will be retried");
        }
        self.inner.wake.notify_one();
        self.tablet_state().ok_or_else(not_paired)
    }

    /// Unpairs this tablet: refuses (`outbox_not_empty`) while changes wait for the server,
    /// unless `force`; tells the server (best effort: offline, the credential is only
    /// forgotten here, and staff revoke it from the device list), forgets the credential and
    /// the session, and removes the unit's replica. Not paired: nothing to do.
    pub async fn unpair_tablet(&self, force: bool) -> Result<()> {
        let _busy = self.inner.sync_lock.lock().await;
        let acct = {
            let mut guard = self.inner.lock_account()?;
            let Some(a) = guard.as_ref() else {
                return Ok(());
            };
            if !matches!(a.mode, Mode::Tablet(_)) {
                return Ok(());
            }
            let pending = a.replica.outbox_count()?;
            if pending > 0 && !force {
                return Err(CoreError::OutboxNotEmpty(format!(
                    "{pending} change(s) not sent yet: sync first, or unpair anyway and lose them"
                )));
            }
            guard.take()
        };
        if let Some(a) = acct {
            if let Err(e) = self.inner.api.unpair_self(&a.server_url, &a.token).await {
                tracing::info!(error = ?e, "could not tell the server; the credential is dropped here");
            }
            self.inner.tokens.delete(&a.key)?;
            let path = replica_path(&self.inner.data_dir, &a.key);
            drop(a);
            crate::replica::remove_files(&path)?;
        }
        self.remove_session_file()?;
        *self.inner.lock_live()? = Live::default();
        self.inner.new_session();
        self.inner.changed();
        Ok(())
    }

    /// The paired tablet: device, the unit's staff with their PIN lockout (server state and
    /// this tablet's pending attempts), and who is unlocked. None unless paired.
    pub fn tablet_state(&self) -> Option<TabletState> {
        let guard = self.inner.lock_account().ok()?;
        let a = guard.as_ref()?;
        let Mode::Tablet(t) = &a.mode else {
            return None;
        };
        let now = Inner::offset_of(a).corrected(self.inner.clock.now());
        let staff = staff_views(&a.replica, t.device.unit.id).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "tablet staff list unreadable");
            Vec::new()
        });
        Some(TabletState {
            server_url: a.server_url.clone(),
            device: t.device.clone(),
            staff,
            active: t.active(now),
        })
    }

    /// R-STAFF-3, offline too: checks `pin` against the staff member's verifier on this
    /// device and queues the attempt (`staff.pin_attempt`) so the server and the unit's
    /// other tablets count it. A running session ends first (someone else is at the tablet).
    /// No PIN set: `NoPin`; locked (here or anywhere the attempts have reached): `Locked`,
    /// and nothing is counted; a wrong PIN: `WrongPin` with the attempts left, or `Locked`
    /// at the fifth in a row; the right one starts that staff member's session.
    pub fn unlock_with_pin(&self, user_id: Uuid, pin: &str) -> Result<UnlockOutcome> {
        if pin.len() != PIN_DIGITS || !pin.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CoreError::invalid("a PIN is exactly four digits"));
        }
        let (member, state) = self.inner.with_tablet(|t, r, _| {
            t.end(r)?;
            staff_member(r, t.device.unit.id, user_id)
        })?;
        self.inner.emit(CoreEvent::Changed);
        let Some(verifier) = member.pin else {
            return Ok(UnlockOutcome::NoPin);
        };
        if state.locked {
            return Ok(UnlockOutcome::Locked);
        }
        // PBKDF2 takes a few milliseconds: outside the engine's lock.
        let ok = verifier.verify(pin);
        let queued_at = self.inner.clock.now();
        let id = crate::mutation_id(queued_at);
        let outcome = self.inner.with_tablet(|t, r, now| {
            // Made after every password unlock known here, even if this clock lags the one
            // that stamped it: the server skips attempts made before the last unlock.
            let at = now.trunc_subsecs(0);
            let at = state.unlocked_at.map_or(at, |u| u.max(at));
            let m = Mutation::StaffPinAttempt(w::PinAttempt { user_id, ok, at });
            r.enqueue(id, m.name(), &m.args(), queued_at, None)?;
            let (member, state) = staff_member(r, t.device.unit.id, user_id)?;
            Ok(if ok {
                t.start(r, user_id, member.display_name, now)?;
                UnlockOutcome::Unlocked
            } else if state.locked {
                UnlockOutcome::Locked
            } else {
                UnlockOutcome::WrongPin {
                    attempts_left: state.attempts_left(),
                }
            })
        })?;
        self.inner.changed();
        self.inner.wake.notify_one();
        Ok(outcome)
    }

    /// R-STAFF-3, online only: a staff member of the unit signs in with their password on
    /// the tablet, which unlocks their PIN on the server too. Attempts still queued here are
    /// sent first (after the reset they would count against the fresh state); the reset
    /// shows at once, the session starts, then a pull brings the server's state.
    pub async fn unlock_with_password(
        &self,
        username: &str,
        password: &str,
    ) -> Result<TabletState> {
        let (base, token) = self.inner.call_creds(true)?;
        let attempts_queued = self.inner.read(|r, _| {
            Ok(r.outbox(None)?
                .iter()
                .any(|p| p.name == w::mutation_names::STAFF_PIN_ATTEMPT))
        })?;
        if attempts_queued {
            self.sync_now().await?;
        }
        let req = PasswordUnlockRequest {
            username: username.to_string(),
            password: password.to_string(),
        };
        let res = match self.inner.api.password_unlock(&base, &token, &req).await {
            Ok(r) => r,
            Err(e) => {
                let mut err = self.inner.call_failed(e, &token);
                // R-ACC-2: a copied password may carry a trailing space.
                if let CoreError::InvalidCredentials(m) = &mut err {
                    if password.ends_with(char::is_whitespace) {
                        m.push_str(" (the password ends in white space: a copied password may carry a trailing space)");
                    }
                }
                return Err(err);
            }
        };
        let user = res.user;
        self.inner.with_tablet(|t, r, now| {
            let mut resets = pin_resets(r)?;
            resets.push(PinReset {
                user_id: user.id,
                after_seq: r.seq_mark()?,
                at: Some(now),
            });
            r.meta_set(keys::PIN_RESETS, &resets)?;
            t.end(r)?;
            t.start(r, user.id, user.display_name.clone(), now)
        })?;
        self.inner.changed();
        if let Err(e) = self.pull_now().await {
            tracing::info!(error = %e, "pull after the password unlock failed; it will be retried");
        }
        self.tablet_state().ok_or_else(not_paired)
    }

    /// Ends the PIN session (quick switch: lock, pick another name, PIN).
    pub fn lock_tablet(&self) -> Result<()> {
        self.inner.with_tablet(|t, r, _| t.end(r))?;
        self.inner.emit(CoreEvent::Changed);
        Ok(())
    }

    /// Activity on the tablet (a tap, a scroll): extends the PIN session. Every tablet
    /// action touches too; reads do not. A session found ended is forgotten (and
    /// [`CoreEvent::Changed`] sent). Does nothing unless paired.
    pub fn touch(&self) {
        let ended = self.inner.with_tablet(|t, r, now| {
            let had = t.has_session();
            Ok(had && t.touch(r, now)?.is_none())
        });
        if matches!(ended, Ok(true)) {
            self.inner.emit(CoreEvent::Changed);
        }
    }

    // ------------------------------------------------------------ room (R-STAFF-1, 2)

    /// R-STAFF-1: the room of a day (None: today, unit-local, corrected clock), optionally
    /// one group's children, overlaid with pending changes. Staff at a desktop see their
    /// first unit by name unless a group is chosen; a tablet its unit, while unlocked
    /// (`tablet_locked` otherwise).
    pub fn room_view(&self, date: Option<NaiveDate>, group_id: Option<Uuid>) -> Result<RoomView> {
        self.inner
            .read(|r, ctx| room::room_view(r, ctx, date, group_id))
    }

    /// One child's day on the tablet: the row, the guardians' note and the comments. Does not
    /// clear the "new comment" marker: [`AppCore::comment_seen`] does.
    pub fn room_child(&self, child_id: Uuid, date: NaiveDate) -> Result<RoomChildDetail> {
        self.inner
            .read(|r, ctx| room::room_child(r, ctx, child_id, date))
    }

    /// R-STAFF-2: an arrival or departure at `at` (None: now on the corrected clock; an
    /// edited time may be in the past). Refused at once with the rule's code when the
    /// server will refuse it: `time_in_future` (more than 30 minutes ahead), `no_arrival`
    /// (a departure without an earlier arrival that day), `invalid_input` (an arrival after
    /// that day's departure).
    pub fn mark_attendance(
        &self,
        child_id: Uuid,
        kind: AttendanceKind,
        at: Option<DateTime<Utc>>,
    ) -> Result<Uuid> {
        let at = at.unwrap_or_else(|| self.inner.server_now().trunc_subsecs(0));
        self.submit(Mutation::AttendanceMark(w::AttendanceMark {
            child_id,
            kind,
            at,
        }))
    }

    /// R-ABS-5: staff confirm a reported absence (grey).
    pub fn confirm_absence(&self, absence_id: Uuid) -> Result<Uuid> {
        self.submit(Mutation::AbsenceConfirm(w::AbsenceConfirm { absence_id }))
    }

    /// R-STAFF-2: staff register an absence (whole day; no guardian window); confirmed at once.
    pub fn register_absence(
        &self,
        child_id: Uuid,
        date: NaiveDate,
        comment: Option<String>,
    ) -> Result<Uuid> {
        self.submit(Mutation::AbsenceReport(w::AbsenceReport {
            child_id,
            date,
            lessons: None,
            comment,
        }))
    }

    /// R-CARE-6: a staff member opened the day's comments: the "new comment" marker clears
    /// for all staff.
    pub fn comment_seen(&self, child_id: Uuid, date: NaiveDate) -> Result<Uuid> {
        self.submit(Mutation::CareCommentSeen(w::CareCommentSeen {
            child_id,
            date,
        }))
    }

    // ------------------------------------------------------------ staff administration

    /// The units in the replica, by name: a staff member's units (to create pairings for),
    /// or a tablet's unit.
    pub fn staff_units(&self) -> Result<Vec<UnitRef>> {
        self.inner.read(|r, ctx| {
            if ctx.tablet.is_none() && !ctx.me.is_staff() {
                return Err(CoreError::rule(
                    RejectCode::NotPermitted,
                    "not permitted: staff only",
                ));
            }
            room::units(r)
        })
    }

    /// R-STAFF-3 (online, staff signed in with password): a one-time pairing code for a
    /// tablet of `unit_id`, valid 60 minutes.
    pub async fn create_pairing(&self, unit_id: Uuid) -> Result<PairingInfo> {
        let (base, token) = self.inner.call_creds(false)?;
        self.inner
            .api
            .create_pairing(&base, &token, &CreatePairingRequest { unit_id })
            .await
            .map_err(|e| self.inner.call_failed(e, &token))
    }

    /// The paired devices and open pairings of the staff member's units.
    pub async fn devices(&self) -> Result<DevicesResponse> {
        let (base, token) = self.inner.call_creds(false)?;
        self.inner
            .api
            .devices(&base, &token)
            .await
            .map_err(|e| self.inner.call_failed(e, &token))
    }

    /// R-STAFF-3: revokes a tablet's credential (it then asks to be paired again).
    pub async fn revoke_device(&self, device_id: Uuid) -> Result<()> {
        let (base, token) = self.inner.call_creds(false)?;
        self.inner
            .api
            .revoke_device(&base, &token, device_id)
            .await
            .map_err(|e| self.inner.call_failed(e, &token))
    }

    /// R-STAFF-3: sets the signed-in staff member's PIN (four digits, not trivial:
    /// `invalid_input`, `pin_trivial` at once). Also clears their lockout.
    pub async fn set_pin(&self, pin: &str) -> Result<()> {
        check_new_pin(pin)?;
        let (base, token) = self.inner.call_creds(false)?;
        self.inner
            .api
            .set_pin(
                &base,
                &token,
                &SetPinRequest {
                    pin: pin.to_string(),
                },
            )
            .await
            .map_err(|e| self.inner.call_failed(e, &token))
    }

    /// Removes the signed-in staff member's PIN (they then unlock tablets with the password).
    pub async fn clear_pin(&self) -> Result<()> {
        let (base, token) = self.inner.call_creds(false)?;
        self.inner
            .api
            .clear_pin(&base, &token)
            .await
            .map_err(|e| self.inner.call_failed(e, &token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn device() -> DeviceInfo {
        DeviceInfo {
            id: Uuid::from_u128(1),
            name: "Blåbär iPad".into(),
            unit: UnitRef {
                id: Uuid::from_u128(2),
                name: "Solrosen förskola".into(),
                kind: w::UnitKind::Preschool,
            },
            paired_at: Utc.with_ymd_and_hms(2030, 9, 5, 6, 0, 0).unwrap(),
            paired_by_name: "Lisa Ek".into(),
            last_seen_at: None,
            revoked_at: None,
        }
    }

    // R-STAFF-3: 10 idle minutes end a session; activity extends it; it survives a restart
    // (it is kept in the replica) with the idle time still counting.
    #[test]
    fn a_pin_session_ends_after_ten_idle_minutes_and_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.sqlite3");
        let mut r = Replica::open(&path).unwrap();
        r.meta_set(keys::DEVICE, &device()).unwrap();
        let t0 = Utc.with_ymd_and_hms(2030, 9, 5, 6, 0, 0).unwrap();
        let min = |m: i64| t0 + Duration::minutes(m);
        let mut t = Tablet::restore(&r).unwrap().unwrap();
        assert_eq!(
            t.touch(&mut r, t0).unwrap(),
            None,
            "locked: nothing to extend"
        );
        let lisa = Uuid::from_u128(50);
        t.start(&mut r, lisa, "Lisa Ek".into(), t0).unwrap();
        assert_eq!(t.touch(&mut r, min(9)).unwrap(), Some(lisa));
        assert!(t.live(min(18)).is_some(), "touched at 9: still on at 18");
        let a = t.active(min(18)).unwrap();
        assert_eq!((a.since, a.idle_until), (t0, min(19)));
        drop(t);
        let mut t = Tablet::restore(&r).unwrap().unwrap();
        assert!(t.live(min(18)).is_some(), "restored within the idle time");
        assert!(
            t.live(min(19)).is_none(),
            "10 minutes after the last action"
        );
        assert_eq!(t.touch(&mut r, min(19)).unwrap(), None);
        assert!(!t.has_session(), "an ended session is forgotten");
        assert_eq!(saved_session(&r).unwrap(), None);
    }

    #[test]
    fn only_staff_actions_are_queued_on_a_tablet() {
        let id = Uuid::from_u128(3);
        assert!(allowed_on_tablet(&Mutation::AbsenceConfirm(
            w::AbsenceConfirm { absence_id: id }
        )));
        assert!(!allowed_on_tablet(&Mutation::NotificationRead(
            w::NotificationRead { ids: vec![id] }
        )));
        assert!(!allowed_on_tablet(&Mutation::StaffPinAttempt(
            w::PinAttempt {
                user_id: id,
                ok: true,
                at: Utc::now(),
            }
        )));
    }

    #[test]
    fn tablet_replicas_are_per_server_and_unit() {
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        assert_eq!(tablet_key("http://h", a), tablet_key("http://h", a));
        assert_ne!(tablet_key("http://h", a), tablet_key("http://h", b));
        assert_ne!(tablet_key("http://h", a), tablet_key("http://g", a));
        assert_ne!(tablet_key("http://h", a), crate::session::account_key("http://h", a));
    }
}
