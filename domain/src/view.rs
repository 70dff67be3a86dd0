//! View models: what the client engine (app-core) hands the UI through the Tauri shell.
//! They live here, beside the wire types, because the UI depends on `domain` only
//! (layers: ui → domain; src-tauri → app-core → domain). Plain data, no logic.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::error::RejectCode;
use crate::interval::{Interval, LocalTime};
use crate::wire::entity::{
    Absence, BlogPost, CalendarEvent, CareComment, Lesson, News, Notification, NotificationCategory,
    TalkBooking, TalkSlot,
};
use crate::wire::{date, BoxKind, ChildInfo, DeviceInfo, Locale, UserInfo};

/// The signed-in account on this device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub server_url: String,
    pub user: UserInfo,
    pub children: Vec<ChildInfo>,
}

/// The online/offline indicator and the pending count (issue: offline UI).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncStatus {
    pub signed_in: bool,
    /// The last contact with the server succeeded.
    pub online: bool,
    /// The server answered 401: the user must sign in again (the outbox is kept).
    pub needs_sign_in: bool,
    /// Mutations in the outbox, not yet answered by the server.
    pub pending: u32,
    /// Rejected mutations waiting for the user (edit and resend, or dismiss).
    pub needs_attention: u32,
    pub last_sync: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// Server time minus device time at the last sync (R-TIME-1), in milliseconds.
    pub server_offset_ms: i64,
}

/// One box of the start page; `empty` boxes say so (PRODUCT.md, start page).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoxView {
    pub kind: BoxKind,
    pub empty: bool,
    /// A one-line summary for the box, if any (e.g. "Bokad tid: tis 08:30").
    pub items: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StartPage {
    pub child: ChildInfo,
    pub boxes: Vec<BoxView>,
    /// New items for this child (R-NOT-1).
    pub bell_count: u32,
    /// Unread messages (R-MSG-2).
    pub unread_messages: u32,
    pub bookings: Vec<BookingView>,
}

/// An absence in the history, with whether it is still only on this device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AbsenceItem {
    pub absence: Absence,
    pub pending: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AbsenceView {
    pub child_id: Uuid,
    /// The only dates a guardian may report for (R-ABS-1), from the corrected clock.
    #[serde(with = "date")]
    pub today: NaiveDate,
    #[serde(with = "date")]
    pub tomorrow: NaiveDate,
    /// Lessons the child has on each reportable day, when the school keeps its schedule
    /// (R-ABS-3); empty for preschool.
    pub lessons_today: Vec<Lesson>,
    pub lessons_tomorrow: Vec<Lesson>,
    /// Whether lessons may be chosen at all (school with a schedule in Hub).
    pub lessons_possible: bool,
    /// Whole-day comment allowed, with the GDPR reminder (R-ABS-2).
    pub comment_max_chars: u32,
    /// Newest first.
    pub history: Vec<AbsenceItem>,
}

/// One day of the care week view (R-CARE-6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CareDayView {
    #[serde(with = "date")]
    pub date: NaiveDate,
    /// 1 = Monday … 7 = Sunday.
    pub weekday: u8,
    /// Opening hours that day; None when the unit is closed (R-CARE-2).
    pub opens: Option<LocalTime>,
    pub closes: Option<LocalTime>,
    pub closed: bool,
    /// Greyed: the same-day-change lock (R-CARE-3), from the corrected clock.
    pub locked: bool,
    pub intervals: Vec<Interval>,
    pub comment: Option<String>,
    pub updated_by_name: Option<String>,
    /// Someone else (say the other guardian) set the current value (R-CARE-7).
    pub updated_by_other: bool,
    /// A change of this day waits in the outbox.
    pub pending: bool,
    pub comments: Vec<CareComment>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CareWeekView {
    pub child_id: Uuid,
    #[serde(with = "date")]
    pub week_start: NaiveDate,
    pub days: Vec<CareDayView>,
    /// Guardians may register here (R-CARE-1).
    pub editable: bool,
    /// A whole-week registration may start this week (R-CARE-4).
    pub week_editable: bool,
}

/// A mutation waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxItem {
    pub id: Uuid,
    pub name: String,
    pub args: Value,
    pub created_at: DateTime<Utc>,
    pub attempts: u32,
}

/// A rejected mutation in the needs-attention journal: what was not saved, why, and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttentionItem {
    pub id: Uuid,
    pub name: String,
    pub args: Value,
    pub code: RejectCode,
    pub message: String,
    pub created_at: DateTime<Utc>,
    pub rejected_at: DateTime<Utc>,
}

/// Per-category push settings (R-NOT-2) and language (R-ACC-6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub locale: Locale,
    pub push: BTreeMap<NotificationCategory, bool>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            locale: Locale::Sv,
            push: NotificationCategory::ALL.iter().map(|c| (*c, true)).collect(),
        }
    }
}

/// A system notification to show once (R-NOT-3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotifyEvent {
    pub notification: Notification,
    pub child_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BookingView {
    pub booking: TalkBooking,
    pub slot: TalkSlot,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TalksView {
    pub child_id: Uuid,
    pub slots: Vec<TalkSlot>,
    pub bookings: Vec<BookingView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InfoView {
    pub news: Vec<News>,
    pub calendar: Vec<CalendarEvent>,
    pub blog: Vec<BlogPost>,
}

// ---------------------------------------------------------------- tablet mode (R-STAFF-1…3)

/// A paired tablet: the device, its unit's staff for quick switching, and who is unlocked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TabletState {
    pub server_url: String,
    pub device: DeviceInfo,
    /// Staff of the unit, by name.
    pub staff: Vec<TabletStaffView>,
    /// The staff member whose PIN session is running, if any (R-STAFF-3: 10 minutes idle).
    pub active: Option<ActiveStaff>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TabletStaffView {
    pub user_id: Uuid,
    pub display_name: String,
    /// A PIN is set; without one the staff member signs in with their password.
    pub has_pin: bool,
    /// Five wrong PINs in a row: only a password sign-in unlocks it.
    pub locked: bool,
    pub attempts_left: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActiveStaff {
    pub user_id: Uuid,
    pub display_name: String,
    pub since: DateTime<Utc>,
    /// When the session ends unless something is done before.
    pub idle_until: DateTime<Utc>,
}

/// What a PIN entry on the tablet led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum UnlockOutcome {
    Unlocked,
    WrongPin { attempts_left: u32 },
    /// Locked now or before: sign in with the password.
    Locked,
    /// No PIN set: sign in with the password (and set a PIN in the settings).
    NoPin,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupTab {
    pub id: Uuid,
    pub name: String,
}

/// One child on the room list of a day (R-STAFF-1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoomChild {
    pub child_id: Uuid,
    pub first_name: String,
    pub last_name: String,
    pub group_ids: Vec<Uuid>,
    /// Planned care times that day (R-CARE-1); empty: none registered.
    pub planned: Vec<Interval>,
    /// The day's absence, reported (red) or confirmed (grey) (R-ABS-5).
    pub absence: Option<Absence>,
    pub arrived_at: Option<DateTime<Utc>>,
    pub departed_at: Option<DateTime<Utc>>,
    /// Comments on the day, and whether a guardian's is not yet opened by staff (R-CARE-6).
    pub comments: u32,
    pub new_comment: bool,
    /// Something about this child's day waits in the outbox.
    pub pending: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RoomTotals {
    pub children: u32,
    pub absent: u32,
    /// Arrived and not yet departed.
    pub present: u32,
    pub departed: u32,
    /// Neither absent nor arrived yet.
    pub expected: u32,
}

/// The room view of one day (R-STAFF-1): the unit's children, optionally one group's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoomView {
    pub unit_name: String,
    #[serde(with = "date")]
    pub date: NaiveDate,
    /// Today by the corrected clock in the unit's time zone (R-TIME-1).
    #[serde(with = "date")]
    pub today: NaiveDate,
    pub groups: Vec<GroupTab>,
    pub group_id: Option<Uuid>,
    /// By first name.
    pub children: Vec<RoomChild>,
    pub totals: RoomTotals,
}

/// A child's day on the tablet: the row, the day's note and the comments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoomChildDetail {
    pub child: RoomChild,
    #[serde(with = "date")]
    pub date: NaiveDate,
    /// The guardians' note on the care day (R-CARE-1), if any.
    pub day_note: Option<String>,
    /// Oldest first.
    pub comments: Vec<CareComment>,
}
