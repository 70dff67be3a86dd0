//! Hub's Tauri 2 shell: one `#[tauri::command]` per public [`AppCore`] method (same names,
//! snake_case arguments), the engine's events forwarded to the webview, and a system
//! notification for each new item (R-NOT-3) through `tauri-plugin-notification`.
//!
//! Every command is `async`, so none runs on the main (GTK) thread and a slow SQLite call
//! never freezes the window.

use std::path::PathBuf;
use std::sync::Arc;

use app_core::{AppCore, CoreError, CoreEvent, CoreOptions, TokenStoreKind};
use chrono::NaiveDate;
use domain::interval::Interval;
use domain::repeat::{DayTemplate, Repeat};
use chrono::{DateTime, Utc};
use domain::view::{
    AbsenceView, AttentionItem, CareWeekView, InfoView, NotifyEvent, OutboxItem, RoomChildDetail, RoomView, Session,
    Settings, StartPage, SyncStatus, TabletState, TalksView, UnlockOutcome,
};
use domain::wire::entity::Notification;
use domain::wire::{AttendanceKind, DevicesResponse, PairingInfo, UnitRef};
use tauri::{AppHandle, Emitter, Manager, Runtime, State};
use uuid::Uuid;

/// Event names the UI listens to (`ui/src/api.rs`).
pub const EVENT_CHANGED: &str = "hub://changed";
pub const EVENT_STATUS: &str = "hub://status";

type Core<'a> = State<'a, AppCore>;
type R<T> = Result<T, CoreError>;

// ---------------------------------------------------------------- session and sync

#[tauri::command(rename_all = "snake_case")]
async fn sign_in<Rt: Runtime>(app: AppHandle<Rt>, core: Core<'_>, server_url: String, username: String, password: String) -> R<Session> {
    let session = core.sign_in(&server_url, &username, &password).await?;
    // Items that arrived before this device signed in are shown once too (R-NOT-3).
    notify_new(&app, &core);
    Ok(session)
}
#[tauri::command(rename_all = "snake_case")]
async fn sign_out(core: Core<'_>) -> R<()> {
    core.sign_out().await
}
#[tauri::command(rename_all = "snake_case")]
async fn session(core: Core<'_>) -> R<Option<Session>> {
    Ok(core.session())
}
#[tauri::command(rename_all = "snake_case")]
async fn sync_status(core: Core<'_>) -> R<SyncStatus> {
    Ok(core.sync_status())
}
#[tauri::command(rename_all = "snake_case")]
async fn sync_now(core: Core<'_>) -> R<SyncStatus> {
    core.sync_now().await
}

// ---------------------------------------------------------------- reads

#[tauri::command(rename_all = "snake_case")]
async fn start_page(core: Core<'_>, child_id: Uuid) -> R<StartPage> {
    core.start_page(child_id)
}
#[tauri::command(rename_all = "snake_case")]
async fn absences(core: Core<'_>, child_id: Uuid) -> R<AbsenceView> {
    core.absences(child_id)
}
#[tauri::command(rename_all = "snake_case")]
async fn care_week(core: Core<'_>, child_id: Uuid, week_start: NaiveDate) -> R<CareWeekView> {
    core.care_week(child_id, week_start)
}
#[tauri::command(rename_all = "snake_case")]
async fn talks(core: Core<'_>, child_id: Uuid) -> R<TalksView> {
    core.talks(child_id)
}
#[tauri::command(rename_all = "snake_case")]
async fn info(core: Core<'_>, child_id: Uuid) -> R<InfoView> {
    core.info(child_id)
}
#[tauri::command(rename_all = "snake_case")]
async fn outbox(core: Core<'_>) -> R<Vec<OutboxItem>> {
    core.outbox()
}
#[tauri::command(rename_all = "snake_case")]
async fn needs_attention(core: Core<'_>) -> R<Vec<AttentionItem>> {
    core.needs_attention()
}
#[tauri::command(rename_all = "snake_case")]
async fn notifications(core: Core<'_>, child_id: Option<Uuid>) -> R<Vec<Notification>> {
    core.notifications(child_id)
}
#[tauri::command(rename_all = "snake_case")]
async fn unread_messages(core: Core<'_>) -> R<u32> {
    core.unread_messages()
}
#[tauri::command(rename_all = "snake_case")]
async fn settings(core: Core<'_>) -> R<Settings> {
    core.settings()
}
#[tauri::command(rename_all = "snake_case")]
async fn take_notify_events(core: Core<'_>) -> R<Vec<NotifyEvent>> {
    core.take_notify_events()
}

// ---------------------------------------------------------------- writes

#[tauri::command(rename_all = "snake_case")]
async fn report_absence(
    core: Core<'_>,
    child_id: Uuid,
    date: NaiveDate,
    lessons: Option<Vec<Uuid>>,
    comment: Option<String>,
) -> R<Uuid> {
    core.report_absence(child_id, date, lessons, comment)
}
#[tauri::command(rename_all = "snake_case")]
async fn set_care_day(
    core: Core<'_>,
    child_id: Uuid,
    date: NaiveDate,
    intervals: Vec<Interval>,
    comment: Option<String>,
) -> R<Uuid> {
    core.set_care_day(child_id, date, intervals, comment)
}
#[tauri::command(rename_all = "snake_case")]
async fn clear_care_day(core: Core<'_>, child_id: Uuid, date: NaiveDate) -> R<Uuid> {
    core.clear_care_day(child_id, date)
}
#[tauri::command(rename_all = "snake_case")]
async fn set_care_week(
    core: Core<'_>,
    child_id: Uuid,
    week_start: NaiveDate,
    days: Vec<DayTemplate>,
    repeat: Option<Repeat>,
) -> R<Uuid> {
    core.set_care_week(child_id, week_start, days, repeat)
}
#[tauri::command(rename_all = "snake_case")]
async fn comment_care_day(core: Core<'_>, child_id: Uuid, date: NaiveDate, text: String) -> R<Uuid> {
    core.comment_care_day(child_id, date, text)
}
#[tauri::command(rename_all = "snake_case")]
async fn book_talk(core: Core<'_>, slot_id: Uuid, child_id: Uuid, message: Option<String>) -> R<Uuid> {
    core.book_talk(slot_id, child_id, message)
}
#[tauri::command(rename_all = "snake_case")]
async fn cancel_talk(core: Core<'_>, booking_id: Uuid) -> R<Uuid> {
    core.cancel_talk(booking_id)
}
#[tauri::command(rename_all = "snake_case")]
async fn dismiss_attention(core: Core<'_>, id: Uuid) -> R<()> {
    core.dismiss_attention(id)
}
#[tauri::command(rename_all = "snake_case")]
async fn mark_notifications_read(core: Core<'_>, ids: Vec<Uuid>) -> R<Uuid> {
    core.mark_notifications_read(ids)
}
#[tauri::command(rename_all = "snake_case")]
async fn set_settings(core: Core<'_>, settings: Settings) -> R<()> {
    core.set_settings(settings)
}

// ---------------------------------------------------------------- tablets (R-STAFF-1…3)

#[tauri::command(rename_all = "snake_case")]
async fn tablet_state(core: Core<'_>) -> R<Option<TabletState>> {
    Ok(core.tablet_state())
}
#[tauri::command(rename_all = "snake_case")]
async fn pair_tablet(core: Core<'_>, server_url: String, code: String, name: Option<String>) -> R<TabletState> {
    core.pair_tablet(&server_url, &code, name.as_deref()).await
}
#[tauri::command(rename_all = "snake_case")]
async fn unpair_tablet(core: Core<'_>, force: bool) -> R<()> {
    core.unpair_tablet(force).await
}
#[tauri::command(rename_all = "snake_case")]
async fn unlock_with_pin(core: Core<'_>, user_id: Uuid, pin: String) -> R<UnlockOutcome> {
    core.unlock_with_pin(user_id, &pin)
}
#[tauri::command(rename_all = "snake_case")]
async fn unlock_with_password(core: Core<'_>, username: String, password: String) -> R<TabletState> {
    core.unlock_with_password(&username, &password).await
}
#[tauri::command(rename_all = "snake_case")]
async fn lock_tablet(core: Core<'_>) -> R<()> {
    core.lock_tablet()
}
#[tauri::command(rename_all = "snake_case")]
async fn touch(core: Core<'_>) -> R<()> {
    core.touch();
    Ok(())
}
#[tauri::command(rename_all = "snake_case")]
async fn room_view(core: Core<'_>, date: Option<NaiveDate>, group_id: Option<Uuid>) -> R<RoomView> {
    core.room_view(date, group_id)
}
#[tauri::command(rename_all = "snake_case")]
async fn room_child(core: Core<'_>, child_id: Uuid, date: NaiveDate) -> R<RoomChildDetail> {
    core.room_child(child_id, date)
}
#[tauri::command(rename_all = "snake_case")]
async fn mark_attendance(core: Core<'_>, child_id: Uuid, kind: AttendanceKind, at: Option<DateTime<Utc>>) -> R<Uuid> {
    core.mark_attendance(child_id, kind, at)
}
#[tauri::command(rename_all = "snake_case")]
async fn confirm_absence(core: Core<'_>, absence_id: Uuid) -> R<Uuid> {
    core.confirm_absence(absence_id)
}
#[tauri::command(rename_all = "snake_case")]
async fn register_absence(core: Core<'_>, child_id: Uuid, date: NaiveDate, comment: Option<String>) -> R<Uuid> {
    core.register_absence(child_id, date, comment)
}
#[tauri::command(rename_all = "snake_case")]
async fn comment_seen(core: Core<'_>, child_id: Uuid, date: NaiveDate) -> R<Uuid> {
    core.comment_seen(child_id, date)
}
#[tauri::command(rename_all = "snake_case")]
async fn staff_units(core: Core<'_>) -> R<Vec<UnitRef>> {
    core.staff_units()
}
#[tauri::command(rename_all = "snake_case")]
async fn create_pairing(core: Core<'_>, unit_id: Uuid) -> R<PairingInfo> {
    core.create_pairing(unit_id).await
}
#[tauri::command(rename_all = "snake_case")]
async fn devices(core: Core<'_>) -> R<DevicesResponse> {
    core.devices().await
}
#[tauri::command(rename_all = "snake_case")]
async fn revoke_device(core: Core<'_>, device_id: Uuid) -> R<()> {
    core.revoke_device(device_id).await
}
#[tauri::command(rename_all = "snake_case")]
async fn set_pin(core: Core<'_>, pin: String) -> R<()> {
    core.set_pin(&pin).await
}
#[tauri::command(rename_all = "snake_case")]
async fn clear_pin(core: Core<'_>) -> R<()> {
    core.clear_pin().await
}

// ---------------------------------------------------------------- wiring

/// Where the engine keeps its data, and which token store it uses. `HUB_DATA_DIR` and
/// `HUB_TOKEN_STORE` (`keyring` | `file` | `memory`) override the defaults (the app's data
/// folder; the OS keyring, or a 0600 file where there is none).
pub fn core_options(default_data_dir: PathBuf) -> CoreOptions {
    let data_dir = std::env::var_os("HUB_DATA_DIR").map(PathBuf::from).unwrap_or(default_data_dir);
    let token_store = std::env::var("HUB_TOKEN_STORE")
        .ok()
        .and_then(|s| TokenStoreKind::parse(&s))
        .unwrap_or_else(TokenStoreKind::keyring_or_file);
    CoreOptions { data_dir, token_store, clock: Arc::new(app_core::SystemClock) }
}

/// Adds every command to `builder`; generic over the runtime so the tests can pass Tauri's
/// mock builder. The engine is managed state: `with_commands(b).manage(core)`.
pub fn with_commands<Rt: Runtime>(builder: tauri::Builder<Rt>) -> tauri::Builder<Rt> {
    builder.invoke_handler(tauri::generate_handler![
        sign_in,
        sign_out,
        session,
        sync_status,
        sync_now,
        start_page,
        absences,
        report_absence,
        care_week,
        set_care_day,
        clear_care_day,
        set_care_week,
        comment_care_day,
        talks,
        book_talk,
        cancel_talk,
        info,
        outbox,
        needs_attention,
        dismiss_attention,
        notifications,
        mark_notifications_read,
        settings,
        set_settings,
        take_notify_events,
        unread_messages,
        tablet_state,
        pair_tablet,
        unpair_tablet,
        unlock_with_pin,
        unlock_with_password,
        lock_tablet,
        touch,
        room_view,
        room_child,
        mark_attendance,
        confirm_absence,
        register_absence,
        comment_seen,
        staff_units,
        create_pairing,
        devices,
        revoke_device,
        set_pin,
        clear_pin,
    ])
}

/// Forwards the engine's events to the webview and shows system notifications. Call once
/// the engine is managed (in `setup`).
pub fn forward_events<Rt: Runtime>(app: &AppHandle<Rt>) {
    let core = app.state::<AppCore>().inner().clone();
    let mut rx = core.subscribe();
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        // Items that arrived while the app was closed (R-NOT-3).
        notify_new(&app, &core);
        loop {
            match rx.recv().await {
                Ok(CoreEvent::Changed) => {
                    let _ = app.emit(EVENT_CHANGED, ());
                    notify_new(&app, &core);
                }
                Ok(CoreEvent::Status(s)) => {
                    let _ = app.emit(EVENT_STATUS, s);
                }
                Ok(CoreEvent::Notify(ev)) => show_notification(&app, &ev),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    // Missed some: re-read everything.
                    let _ = app.emit(EVENT_CHANGED, ());
                    let _ = app.emit(EVENT_STATUS, core.sync_status());
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
    });
}

/// Shows each new notification the engine hands out (each exactly once, only categories
/// whose push is on: app-core decides, R-NOT-2/3).
fn notify_new<Rt: Runtime>(app: &AppHandle<Rt>, core: &AppCore) {
    if core.session().is_none() {
        return;
    }
    match core.take_notify_events() {
        Ok(events) => {
            for ev in &events {
                show_notification(app, ev);
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not read new notifications"),
    }
}

/// The notification's text: the child's name as the title (or "Hub"), the item's title as
/// the body.
pub fn notification_text(ev: &NotifyEvent) -> (String, String) {
    let title = match &ev.child_name {
        Some(name) => format!("Hub · {name}"),
        None => "Hub".to_string(),
    };
    (title, ev.notification.title.clone())
}

fn show_notification<Rt: Runtime>(app: &AppHandle<Rt>, ev: &NotifyEvent) {
    use tauri_plugin_notification::NotificationExt;
    let (title, body) = notification_text(ev);
    tracing::info!(%title, %body, "system notification");
    // The plugin swallows D-Bus errors on Linux (STACK.md); nothing more to do on failure.
    if let Err(e) = app.notification().builder().title(&title).body(&body).show() {
        tracing::warn!(error = %e, "could not show a notification");
    }
}

/// Runs the app: opens the engine on the app's data folder, starts background sync, and
/// opens the window.
pub fn run() {
    // Logs go to stderr, or to the file named by HUB_LOG_FILE (the end-to-end tests use it:
    // under WebDriver the app's stderr goes nowhere).
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,app_core=info".into())
    };
    let file = std::env::var_os("HUB_LOG_FILE")
        .and_then(|p| std::fs::OpenOptions::new().create(true).append(true).open(p).ok());
    let _ = match file {
        Some(f) => tracing_subscriber::fmt()
            .with_env_filter(filter())
            .with_ansi(false)
            .with_writer(std::sync::Mutex::new(f))
            .try_init(),
        None => tracing_subscriber::fmt().with_env_filter(filter()).try_init(),
    };
    let result = with_commands(tauri::Builder::<tauri::Wry>::default())
        .plugin(tauri_plugin_notification::init())
        .setup(|app| {
            let default_dir = app.path().app_data_dir()?;
            let core = AppCore::open(core_options(default_dir))?;
            app.manage(core.clone());
            forward_events(app.handle());
            // Inside the async runtime, so the sync loop runs on its workers.
            tauri::async_runtime::spawn(async move { core.start_background_sync() });
            Ok(())
        })
        .run(tauri::generate_context!());
    if let Err(e) = result {
        eprintln!("hub: {e}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests;
