//! Entities as carried in `Change::data`. Each has an `id`; the constant names the `type`.

use super::*;
use crate::wire::date;

pub const USER_TYPE: &str = "user";
pub const UNIT_TYPE: &str = "unit";
pub const GROUP_TYPE: &str = "group";
pub const CLASS_TYPE: &str = "class";
pub const CHILD_TYPE: &str = "child";
pub const STAFF_TYPE: &str = "staff";
pub const LESSON_TYPE: &str = "lesson";
pub const CARE_DAY_TYPE: &str = "care_day";
pub const CARE_COMMENT_TYPE: &str = "care_comment";
pub const ABSENCE_TYPE: &str = "absence";
pub const ATTENDANCE_TYPE: &str = "attendance";
pub const NEWS_TYPE: &str = "news";
pub const CALENDAR_EVENT_TYPE: &str = "calendar_event";
pub const BLOG_POST_TYPE: &str = "blog_post";
pub const TALK_SLOT_TYPE: &str = "talk_slot";
pub const TALK_BOOKING_TYPE: &str = "talk_booking";
pub const THREAD_TYPE: &str = "message_thread";
pub const MESSAGE_TYPE: &str = "message";
pub const THREAD_READ_TYPE: &str = "thread_read";
pub const NOTIFICATION_TYPE: &str = "notification";
pub const TABLET_STAFF_TYPE: &str = "tablet_staff";

// Deterministic ids for per-child-per-day records, so that two reports of the same day
// (two guardians, offline) name the same record (R-ABS-8) and a client can find the
// record its pending write will touch.
const NS_CARE_DAY: Uuid = Uuid::from_u128(0x6b1c_2f0e_8e7a_4f53_9a51_3c1d_a0b7_c001);
const NS_ABSENCE: Uuid = Uuid::from_u128(0x6b1c_2f0e_8e7a_4f53_9a51_3c1d_a0b7_c002);
const NS_ATTENDANCE: Uuid = Uuid::from_u128(0x6b1c_2f0e_8e7a_4f53_9a51_3c1d_a0b7_c003);

fn day_id(ns: &Uuid, child_id: Uuid, date: NaiveDate) -> Uuid {
    Uuid::new_v5(ns, day_name(child_id, date).as_bytes())
}

/// `<child id>/<YYYY-MM-DD>`, the name a day record's id is hashed from.
///
/// Performance: the date through [`IsoDate`](crate::time::IsoDate), not chrono's
/// `format` (1–2 % of the server's writer in a care-week or tablet rush).
fn day_name(child_id: Uuid, date: NaiveDate) -> String {
    use std::fmt::Write;
    let mut name = String::with_capacity(47);
    let _ = write!(name, "{child_id}/{}", crate::time::IsoDate(date));
    name
}

#[cfg(test)]
mod day_name_tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The ids of existing day records (R-ABS-8: two devices name the same record)
        /// must not change: the name is exactly what chrono's `%Y-%m-%d` wrote.
        #[test]
        fn a_day_name_is_the_child_and_the_date_as_chrono_writes_it(
            child in any::<u128>(),
            days in -800_000i32..4_000_000,
        ) {
            let child_id = Uuid::from_u128(child);
            let date = NaiveDate::from_num_days_from_ce_opt(days).unwrap();
            prop_assert_eq!(day_name(child_id, date), format!("{child_id}/{}", date.format("%Y-%m-%d")));
        }
    }

    #[test]
    fn a_care_day_id_is_the_one_it_always_was() {
        let child = Uuid::from_u128(0x1234_5678_9abc_def0_1234_5678_9abc_def0);
        let date = NaiveDate::from_ymd_opt(2026, 3, 9).unwrap();
        let name = format!("{child}/2026-03-09");
        assert_eq!(care_day_id(child, date), Uuid::new_v5(&NS_CARE_DAY, name.as_bytes()));
    }
}
pub fn care_day_id(child_id: Uuid, date: NaiveDate) -> Uuid {
    day_id(&NS_CARE_DAY, child_id, date)
}
pub fn absence_id(child_id: Uuid, date: NaiveDate) -> Uuid {
    day_id(&NS_ABSENCE, child_id, date)
}
pub fn attendance_id(child_id: Uuid, date: NaiveDate) -> Uuid {
    day_id(&NS_ATTENDANCE, child_id, date)
}
const NS_TABLET_STAFF: Uuid = Uuid::from_u128(0x6b1c_2f0e_8e7a_4f53_9a51_3c1d_a0b7_c004);
/// One [`TabletStaff`] per staff member and unit.
pub fn tablet_staff_id(unit_id: Uuid, user_id: Uuid) -> Uuid {
    Uuid::new_v5(&NS_TABLET_STAFF, format!("{unit_id}/{user_id}").as_bytes())
}

/// A staff member as the unit's paired tablets know them (R-STAFF-1, 3): the name on the
/// quick-switch list, the PIN verifier to unlock offline, and the lockout state. Only
/// device credentials of the unit see these.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TabletStaff {
    pub id: Uuid,
    pub unit_id: Uuid,
    pub user_id: Uuid,
    pub display_name: String,
    /// None until the staff member sets a PIN in their settings.
    pub pin: Option<crate::pin::PinVerifier>,
    pub pin_state: crate::pin::PinState,
}

/// The signed-in user's own record (settings included).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub locale: Locale,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unit {
    pub id: Uuid,
    pub name: String,
    pub kind: UnitKind,
    pub time_zone: String,
    pub opening_hours: OpeningHours,
    /// Closure and holiday days (R-CARE-2).
    pub closed_dates: Vec<NaiveDate>,
    /// Whether guardians may register care times (R-CARE-1).
    pub guardians_register_care: bool,
    /// Whether the school keeps its lesson schedule in Hub (R-ABS-3).
    pub keeps_schedule: bool,
    pub boxes: Vec<BoxKind>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub id: Uuid,
    pub unit_id: Uuid,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Class {
    pub id: Uuid,
    pub unit_id: Uuid,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Child {
    pub id: Uuid,
    pub first_name: String,
    pub last_name: String,
    #[serde(with = "date")]
    pub birth_date: NaiveDate,
    pub unit_id: Uuid,
    pub class_id: Option<Uuid>,
    pub group_ids: Vec<Uuid>,
    /// Whether the child attends after-school care (fritids) at a school.
    pub in_care: bool,
}

/// A staff member of a unit, as guardians see them (message recipients).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Staff {
    pub id: Uuid,
    pub unit_id: Uuid,
    pub display_name: String,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lesson {
    pub id: Uuid,
    pub class_id: Uuid,
    pub weekday: u8,
    pub start: LocalTime,
    pub end: LocalTime,
    pub subject: String,
    pub teacher: String,
    pub room: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CareDay {
    pub id: Uuid,
    pub child_id: Uuid,
    #[serde(with = "date")]
    pub date: NaiveDate,
    pub intervals: Vec<Interval>,
    pub comment: Option<String>,
    pub updated_by: Uuid,
    pub updated_by_name: String,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CareComment {
    pub id: Uuid,
    pub child_id: Uuid,
    #[serde(with = "date")]
    pub date: NaiveDate,
    pub author_id: Uuid,
    pub author_name: String,
    pub author_role: Role,
    pub text: String,
    pub created_at: DateTime<Utc>,
    /// A guardian's comment not yet opened by any staff member (R-CARE-6).
    pub new_for_staff: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AbsenceStatus {
    Reported,
    Confirmed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Absence {
    pub id: Uuid,
    pub child_id: Uuid,
    #[serde(with = "date")]
    pub date: NaiveDate,
    /// None: the whole day; otherwise the lessons (R-ABS-3).
    pub lessons: Option<Vec<Uuid>>,
    pub comment: Option<String>,
    pub status: AbsenceStatus,
    pub reported_by: Uuid,
    pub reported_by_name: String,
    pub reported_by_role: Role,
    pub reported_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attendance {
    pub id: Uuid,
    pub child_id: Uuid,
    #[serde(with = "date")]
    pub date: NaiveDate,
    pub arrived_at: Option<DateTime<Utc>>,
    pub departed_at: Option<DateTime<Utc>>,
    pub updated_by: Uuid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InfoTab {
    News,
    Files,
    Links,
}

/// Information box item (R-INFO-1): news, a file or a link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct News {
    pub id: Uuid,
    pub unit_id: Uuid,
    pub group_id: Option<Uuid>,
    pub tab: InfoTab,
    pub title: String,
    pub body: String,
    pub url: Option<String>,
    pub published_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalendarEvent {
    pub id: Uuid,
    pub unit_id: Uuid,
    pub group_id: Option<Uuid>,
    #[serde(with = "date")]
    pub date: NaiveDate,
    pub start: Option<LocalTime>,
    pub end: Option<LocalTime>,
    pub title: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlogPost {
    pub id: Uuid,
    pub unit_id: Uuid,
    pub group_id: Uuid,
    pub author_name: String,
    pub title: String,
    pub body: String,
    pub published_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TalkSlot {
    pub id: Uuid,
    pub unit_id: Uuid,
    pub group_id: Uuid,
    pub round_id: Uuid,
    pub round_name: String,
    pub teacher_id: Uuid,
    pub teacher_name: String,
    pub starts_at: DateTime<Utc>,
    pub minutes: u32,
    pub location: String,
    /// Booked by anyone (R-TALK-2); who booked is visible only in their own booking.
    pub taken: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TalkBooking {
    pub id: Uuid,
    pub slot_id: Uuid,
    pub child_id: Uuid,
    pub booked_by: Uuid,
    pub booked_by_name: String,
    pub message: Option<String>,
    pub booked_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Participant {
    pub id: Uuid,
    pub display_name: String,
    pub role: Role,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageThread {
    pub id: Uuid,
    pub title: String,
    pub child_id: Option<Uuid>,
    pub participants: Vec<Participant>,
    pub created_at: DateTime<Utc>,
    pub last_message_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub id: Uuid,
    pub thread_id: Uuid,
    pub sender_id: Uuid,
    pub sender_name: String,
    pub body: String,
    pub sent_at: DateTime<Utc>,
}

/// How far the user has read a thread (R-MSG-2: the envelope counts the rest). One per
/// user and thread, in the user's own scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThreadRead {
    pub id: Uuid,
    pub thread_id: Uuid,
    pub read_at: DateTime<Utc>,
}

/// Categories of the bell (R-NOT-1); each can be turned off for push (R-NOT-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationCategory {
    News,
    Files,
    Calendar,
    Blog,
    Assessment,
    TalkSlots,
    AbsenceConfirmed,
    AbsenceInvalid,
}

impl NotificationCategory {
    pub const ALL: [NotificationCategory; 8] = [
        NotificationCategory::News,
        NotificationCategory::Files,
        NotificationCategory::Calendar,
        NotificationCategory::Blog,
        NotificationCategory::Assessment,
        NotificationCategory::TalkSlots,
        NotificationCategory::AbsenceConfirmed,
        NotificationCategory::AbsenceInvalid,
    ];
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub id: Uuid,
    pub child_id: Option<Uuid>,
    pub category: NotificationCategory,
    /// The item it opens (R-NOT-1): its entity type and id.
    pub item_type: String,
    pub item_id: Uuid,
    pub title: String,
    pub created_at: DateTime<Utc>,
    pub read: bool,
}
