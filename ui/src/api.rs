//! The one typed client of the shell: each function calls the Tauri command of the same
//! name (`window.__TAURI__.core.invoke`, snake_case arguments) and returns the `domain`
//! types that app-core hands out. Arguments and answers go through JSON, so the wire shape
//! is exactly serde's on both sides.
//!
//! Events the shell emits: [`EVENT_CHANGED`] (the replica changed: read again) and
//! [`EVENT_STATUS`] (a new `SyncStatus`).

use chrono::NaiveDate;
use domain::interval::Interval;
use domain::repeat::{DayTemplate, Repeat};
use domain::view::{
    AbsenceView, AttentionItem, CareWeekView, InfoView, OutboxItem, RoomChildDetail, RoomView, Session,
    Settings, StartPage, SyncStatus, TabletState, TalksView, UnlockOutcome,
};
use domain::wire::entity::Notification;
use domain::wire::{AttendanceKind, DevicesResponse, PairingInfo, UnitRef};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

pub const EVENT_CHANGED: &str = "hub://changed";
pub const EVENT_STATUS: &str = "hub://status";

/// What a command failed with: `CoreError` as the shell serialises it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiError {
    pub code: String,
    #[serde(default)]
    pub message: String,
}

impl ApiError {
    fn local(message: impl Into<String>) -> ApiError {
        ApiError { code: "internal".into(), message: message.into() }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Parses a rejection value from `invoke` (the serialised `CoreError`, or a plain string
/// when Tauri itself failed, e.g. an unknown command).
pub fn parse_error(raw: &str) -> ApiError {
    serde_json::from_str::<ApiError>(raw)
        .or_else(|_| serde_json::from_str::<String>(raw).map(ApiError::local))
        .unwrap_or_else(|_| ApiError::local(raw.to_string()))
}

#[cfg(target_arch = "wasm32")]
mod bridge {
    use wasm_bindgen::prelude::*;

    #[wasm_bindgen]
    extern "C" {
        #[wasm_bindgen(js_namespace = ["window", "__TAURI__", "core"], js_name = invoke, catch)]
        async fn tauri_invoke(cmd: &str, args: JsValue) -> Result<JsValue, JsValue>;

        #[wasm_bindgen(js_namespace = ["window", "__TAURI__", "event"], js_name = listen, catch)]
        async fn tauri_listen(event: &str, handler: &Closure<dyn FnMut(JsValue)>) -> Result<JsValue, JsValue>;
    }

    fn to_json(v: &JsValue) -> String {
        if v.is_undefined() {
            return "null".into();
        }
        js_sys::JSON::stringify(v).ok().and_then(|s| s.as_string()).unwrap_or_else(|| "null".into())
    }

    pub async fn invoke(cmd: &str, args: &str) -> Result<String, String> {
        let args = js_sys::JSON::parse(args).map_err(|e| to_json(&e))?;
        match tauri_invoke(cmd, args).await {
            Ok(v) => Ok(to_json(&v)),
            Err(e) => Err(to_json(&e)),
        }
    }

    /// Calls `handler` with each event's payload (as JSON) for the life of the page.
    pub async fn listen(event: &str, mut handler: impl FnMut(String) + 'static) {
        let closure = Closure::<dyn FnMut(JsValue)>::new(move |ev: JsValue| {
            let payload = js_sys::Reflect::get(&ev, &JsValue::from_str("payload")).unwrap_or(JsValue::NULL);
            handler(to_json(&payload));
        });
        if tauri_listen(event, &closure).await.is_ok() {
            // The listener lives as long as the page: the closure must too.
            closure.forget();
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod bridge {
    pub async fn invoke(cmd: &str, _args: &str) -> Result<String, String> {
        Err(format!(
            "{{\"code\":\"internal\",\"message\":\"`{cmd}` needs the Tauri webview (wasm32)\"}}"
        ))
    }
    pub async fn listen(_event: &str, _handler: impl FnMut(String) + 'static) {}
}

pub use bridge::listen;

async fn call<T: DeserializeOwned>(cmd: &str, args: Value) -> ApiResult<T> {
    let raw = bridge::invoke(cmd, &args.to_string()).await.map_err(|e| parse_error(&e))?;
    serde_json::from_str(&raw).map_err(|e| ApiError::local(format!("`{cmd}` answered {raw}: {e}")))
}

/// For commands that answer nothing (`()` serialises as `null`).
async fn call_unit(cmd: &str, args: Value) -> ApiResult<()> {
    bridge::invoke(cmd, &args.to_string()).await.map(|_| ()).map_err(|e| parse_error(&e))
}

fn date(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

pub async fn sign_in(server_url: &str, username: &str, password: &str) -> ApiResult<Session> {
    call("sign_in", json!({"server_url": server_url, "username": username, "password": password})).await
}
pub async fn sign_out() -> ApiResult<()> {
    call_unit("sign_out", json!({})).await
}
pub async fn session() -> ApiResult<Option<Session>> {
    call("session", json!({})).await
}
pub async fn sync_status() -> ApiResult<SyncStatus> {
    call("sync_status", json!({})).await
}
pub async fn sync_now() -> ApiResult<SyncStatus> {
    call("sync_now", json!({})).await
}
pub async fn start_page(child_id: Uuid) -> ApiResult<StartPage> {
    call("start_page", json!({"child_id": child_id})).await
}
pub async fn absences(child_id: Uuid) -> ApiResult<AbsenceView> {
    call("absences", json!({"child_id": child_id})).await
}
pub async fn report_absence(
    child_id: Uuid,
    day: NaiveDate,
    lessons: Option<Vec<Uuid>>,
    comment: Option<String>,
) -> ApiResult<Uuid> {
    call("report_absence", json!({"child_id": child_id, "date": date(day), "lessons": lessons, "comment": comment})).await
}
pub async fn care_week(child_id: Uuid, week_start: NaiveDate) -> ApiResult<CareWeekView> {
    call("care_week", json!({"child_id": child_id, "week_start": date(week_start)})).await
}
pub async fn set_care_day(
    child_id: Uuid,
    day: NaiveDate,
    intervals: Vec<Interval>,
    comment: Option<String>,
) -> ApiResult<Uuid> {
    call("set_care_day", json!({"child_id": child_id, "date": date(day), "intervals": intervals, "comment": comment})).await
}
pub async fn clear_care_day(child_id: Uuid, day: NaiveDate) -> ApiResult<()> {
    call_unit("clear_care_day", json!({"child_id": child_id, "date": date(day)})).await
}
pub async fn set_care_week(
    child_id: Uuid,
    week_start: NaiveDate,
    days: Vec<DayTemplate>,
    repeat: Option<Repeat>,
) -> ApiResult<()> {
    call_unit("set_care_week", json!({"child_id": child_id, "week_start": date(week_start), "days": days, "repeat": repeat})).await
}
pub async fn comment_care_day(child_id: Uuid, day: NaiveDate, text: &str) -> ApiResult<()> {
    call_unit("comment_care_day", json!({"child_id": child_id, "date": date(day), "text": text})).await
}
pub async fn talks(child_id: Uuid) -> ApiResult<TalksView> {
    call("talks", json!({"child_id": child_id})).await
}
pub async fn book_talk(slot_id: Uuid, child_id: Uuid, message: Option<String>) -> ApiResult<()> {
    call_unit("book_talk", json!({"slot_id": slot_id, "child_id": child_id, "message": message})).await
}
pub async fn cancel_talk(booking_id: Uuid) -> ApiResult<()> {
    call_unit("cancel_talk", json!({"booking_id": booking_id})).await
}
pub async fn info(child_id: Uuid) -> ApiResult<InfoView> {
    call("info", json!({"child_id": child_id})).await
}
pub async fn outbox() -> ApiResult<Vec<OutboxItem>> {
    call("outbox", json!({})).await
}
pub async fn needs_attention() -> ApiResult<Vec<AttentionItem>> {
    call("needs_attention", json!({})).await
}
pub async fn dismiss_attention(id: Uuid) -> ApiResult<()> {
    call_unit("dismiss_attention", json!({"id": id})).await
}
pub async fn notifications(child_id: Option<Uuid>) -> ApiResult<Vec<Notification>> {
    call("notifications", json!({"child_id": child_id})).await
}
pub async fn mark_notifications_read(ids: Vec<Uuid>) -> ApiResult<()> {
    call_unit("mark_notifications_read", json!({"ids": ids})).await
}
pub async fn settings() -> ApiResult<Settings> {
    call("settings", json!({})).await
}
pub async fn set_settings(settings: &Settings) -> ApiResult<()> {
    call_unit("set_settings", json!({"settings": settings})).await
}
pub async fn unread_messages() -> ApiResult<u32> {
    call("unread_messages", json!({})).await
}

// ---------------------------------------------------------------- tablets (R-STAFF-1…3)

pub async fn tablet_state() -> ApiResult<Option<TabletState>> {
    call("tablet_state", json!({})).await
}
pub async fn pair_tablet(server_url: &str, code: &str, name: Option<String>) -> ApiResult<TabletState> {
    call("pair_tablet", json!({"server_url": server_url, "code": code, "name": name})).await
}
pub async fn unpair_tablet(force: bool) -> ApiResult<()> {
    call_unit("unpair_tablet", json!({"force": force})).await
}
pub async fn unlock_with_pin(user_id: Uuid, pin: &str) -> ApiResult<UnlockOutcome> {
    call("unlock_with_pin", json!({"user_id": user_id, "pin": pin})).await
}
pub async fn unlock_with_password(username: &str, password: &str) -> ApiResult<TabletState> {
    call("unlock_with_password", json!({"username": username, "password": password})).await
}
pub async fn lock_tablet() -> ApiResult<()> {
    call_unit("lock_tablet", json!({})).await
}
/// Activity on the tablet keeps the PIN session alive (R-STAFF-3: 10 minutes idle).
pub async fn touch() -> ApiResult<()> {
    call_unit("touch", json!({})).await
}
pub async fn room_view(day: Option<NaiveDate>, group_id: Option<Uuid>) -> ApiResult<RoomView> {
    call("room_view", json!({"date": day.map(date), "group_id": group_id})).await
}
pub async fn room_child(child_id: Uuid, day: NaiveDate) -> ApiResult<RoomChildDetail> {
    call("room_child", json!({"child_id": child_id, "date": date(day)})).await
}
pub async fn mark_attendance(child_id: Uuid, kind: AttendanceKind, at: Option<DateTime<Utc>>) -> ApiResult<()> {
    call_unit("mark_attendance", json!({"child_id": child_id, "kind": kind, "at": at})).await
}
pub async fn confirm_absence(absence_id: Uuid) -> ApiResult<()> {
    call_unit("confirm_absence", json!({"absence_id": absence_id})).await
}
pub async fn register_absence(child_id: Uuid, day: NaiveDate, comment: Option<String>) -> ApiResult<()> {
    call_unit("register_absence", json!({"child_id": child_id, "date": date(day), "comment": comment})).await
}
pub async fn comment_seen(child_id: Uuid, day: NaiveDate) -> ApiResult<()> {
    call_unit("comment_seen", json!({"child_id": child_id, "date": date(day)})).await
}
pub async fn staff_units() -> ApiResult<Vec<UnitRef>> {
    call("staff_units", json!({})).await
}
pub async fn create_pairing(unit_id: Uuid) -> ApiResult<PairingInfo> {
    call("create_pairing", json!({"unit_id": unit_id})).await
}
pub async fn devices() -> ApiResult<DevicesResponse> {
    call("devices", json!({})).await
}
pub async fn revoke_device(device_id: Uuid) -> ApiResult<()> {
    call_unit("revoke_device", json!({"device_id": device_id})).await
}
pub async fn set_pin(pin: &str) -> ApiResult<()> {
    call_unit("set_pin", json!({"pin": pin})).await
}
pub async fn clear_pin() -> ApiResult<()> {
    call_unit("clear_pin", json!({})).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_from_the_shell_are_parsed() {
        assert_eq!(
            parse_error(r#"{"code":"day_locked","message":"the day is locked"}"#),
            ApiError { code: "day_locked".into(), message: "the day is locked".into() }
        );
        // Tauri's own failures are plain strings.
        assert_eq!(parse_error(r#""command foo not found""#).code, "internal");
        assert_eq!(parse_error("garbage").message, "garbage");
    }
}
