//! Wire types of the sync contract (ARCHITECTURE.md, "Sync contract"): requests, responses,
//! mutations and the entities that pulls carry. The server, app-core and the UI all use
//! these, so a field renamed here is renamed everywhere at once.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::error::{RejectCode, RuleError};
use crate::interval::{Interval, LocalTime};
use crate::opening::OpeningHours;
use crate::repeat::{DayTemplate, Repeat};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// Strict `YYYY-MM-DD` dates on the wire (chrono alone would accept `2026-2-3`).
pub mod date {
    use chrono::NaiveDate;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &NaiveDate, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&crate::time::IsoDate(*d))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDate, D::Error> {
        let s = String::deserialize(d)?;
        crate::time::parse_date(&s).map_err(|e| serde::de::Error::custom(e.message))
    }
}

/// Strict dates inside an `Option`.
pub mod opt_date {
    use chrono::NaiveDate;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<NaiveDate>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.collect_str(&crate::time::IsoDate(*d)),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
        match Option::<String>::deserialize(d)? {
            Some(s) => crate::time::parse_date(&s)
                .map(Some)
                .map_err(|e| serde::de::Error::custom(e.message)),
            None => Ok(None),
        }
    }
}

// ---------------------------------------------------------------- people and units

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Guardian,
    Staff,
    Student,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Guardian => "guardian",
            Role::Staff => "staff",
            Role::Student => "student",
            Role::Admin => "admin",
        }
    }
    pub fn parse(s: &str) -> Option<Role> {
        [Role::Guardian, Role::Staff, Role::Student, Role::Admin]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum UnitKind {
    Preschool,
    School,
    Gymnasium,
}

impl UnitKind {
    pub fn as_str(self) -> &'static str {
        match self {
            UnitKind::Preschool => "preschool",
            UnitKind::School => "school",
            UnitKind::Gymnasium => "gymnasium",
        }
    }
    pub fn parse(s: &str) -> Option<UnitKind> {
        [UnitKind::Preschool, UnitKind::School, UnitKind::Gymnasium]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// UI language per account (R-ACC-6). Swedish by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Locale {
    #[default]
    Sv,
    En,
}

impl Locale {
    pub fn as_str(self) -> &'static str {
        match self {
            Locale::Sv => "sv",
            Locale::En => "en",
        }
    }
    pub fn parse(s: &str) -> Option<Locale> {
        match s {
            "sv" => Some(Locale::Sv),
            "en" => Some(Locale::En),
            _ => None,
        }
    }
}

/// The boxes of the start page (PRODUCT.md, "The start page and its boxes").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum BoxKind {
    Absence,
    CareSchedule,
    Talks,
    Information,
    Calendar,
    Blog,
    Schedule,
    Assessments,
    Documentation,
    Plans,
    Contacts,
}

// ---------------------------------------------------------------- auth and me

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
    #[serde(default)]
    pub device_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct UserInfo {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub locale: Locale,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct LoginResponse {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub user: UserInfo,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct UnitRef {
    pub id: Uuid,
    pub name: String,
    pub kind: UnitKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ChildInfo {
    pub id: Uuid,
    pub first_name: String,
    pub last_name: String,
    pub unit: UnitRef,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct MeResponse {
    pub user: UserInfo,
    pub children: Vec<ChildInfo>,
}

/// The error body of every non-2xx answer: `{"error": {"code", "message"}}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ErrorDetail {
    /// A rejection code, or one of `unauthorized`, `invalid_credentials`, `payload_too_large`,
    /// `internal`.
    pub code: String,
    pub message: String,
}

// ---------------------------------------------------------------- tablets (R-STAFF-1…3)
//
// Extension of the contract: pairing, device credentials and staff PINs. A device
// credential is a bearer token like a user's, but it names a device paired to one unit,
// not a person; docs/protocol.md lists which routes take which.

/// `POST /v1/devices/pairings` (staff of the unit): start pairing a tablet.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CreatePairingRequest {
    pub unit_id: Uuid,
}

/// A pairing not yet used; `code` only in the answer to its creation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PairingInfo {
    pub id: Uuid,
    /// `ABCD-EFGH`: shown once to the staff member who created it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    pub unit: UnitRef,
    pub created_by_name: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// `POST /v1/devices/pair` (no token): the tablet presents the code.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PairRequest {
    pub code: String,
    /// A name for the list of devices, e.g. "Blåbär, iPad".
    #[serde(default)]
    pub name: Option<String>,
}

/// A paired device, as listed to staff and as the device sees itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct DeviceInfo {
    pub id: Uuid,
    pub name: String,
    pub unit: UnitRef,
    pub paired_at: DateTime<Utc>,
    pub paired_by_name: String,
    pub last_seen_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// The answer to a successful pairing: the device credential, shown once.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PairResponse {
    pub token: String,
    pub device: DeviceInfo,
}

/// `GET /v1/devices` (staff): devices and open pairings of the caller's units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct DevicesResponse {
    pub devices: Vec<DeviceInfo>,
    pub pairings: Vec<PairingInfo>,
}

/// `GET /v1/device` (device credential): the device itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct DeviceMeResponse {
    pub device: DeviceInfo,
}

/// `PUT /v1/me/pin` (staff): set or change the personal PIN (R-STAFF-3).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SetPinRequest {
    pub pin: String,
}

/// `POST /v1/device/password-unlock` (device credential): a staff member of the unit signs
/// in with their password on the tablet, which also unlocks a locked PIN (R-STAFF-3).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PasswordUnlockRequest {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PasswordUnlockResponse {
    pub user: UserInfo,
}

// ---------------------------------------------------------------- push

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PushRequest {
    pub client_id: Uuid,
    pub mutations: Vec<MutationEnvelope>,
}

/// A mutation as sent: `name` and `args` are parsed one by one on the server, so that one
/// malformed mutation is rejected on its own and never aborts the batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct MutationEnvelope {
    pub id: Uuid,
    pub name: String,
    #[serde(default)]
    pub args: Value,
    /// Extension for paired tablets (R-STAFF-1): the staff member who did this on the
    /// device. Required with a device credential (except for `staff.pin_attempt`), refused
    /// with a user token, where the actor is the token's user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<Uuid>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MutationStatus {
    Applied,
    Rejected,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct MutationResult {
    pub id: Uuid,
    pub status: MutationStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<RejectCode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Details>,
}

/// What an applied mutation answers besides its status (the id of what it made, a care
/// week's plan…): any JSON, kept as its text.
///
/// Performance: the server writes it once, into the stored outcome and the answer alike,
/// straight from the rule's own types. As a `serde_json::Value` a care week's plan of some
/// twenty days was first built as a tree of maps, then written out twice: a tenth of the
/// server's single writer thread in the care-week rush. Reading one back goes through a
/// `Value` (replays and clients, rarely), so it reads from any JSON source.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct Details(Box<serde_json::value::RawValue>);

impl Details {
    /// `value` written as JSON.
    pub fn new<T: Serialize + ?Sized>(value: &T) -> Result<Details, serde_json::Error> {
        serde_json::value::to_raw_value(value).map(Details)
    }
    /// The JSON text.
    pub fn get(&self) -> &str {
        self.0.get()
    }
    /// The JSON read into a [`Value`].
    pub fn value(&self) -> Value {
        // Always valid JSON: a `RawValue` is checked when made.
        serde_json::from_str(self.0.get()).unwrap_or(Value::Null)
    }
}

impl<'de> Deserialize<'de> for Details {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Details, D::Error> {
        let v = Value::deserialize(d)?;
        Details::new(&v).map_err(serde::de::Error::custom)
    }
}

/// The same JSON, however it is spaced.
impl PartialEq for Details {
    fn eq(&self, other: &Details) -> bool {
        self.get() == other.get() || self.value() == other.value()
    }
}

impl std::fmt::Display for Details {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.get())
    }
}

/// Any JSON on the wire.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Details {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::Object)
            .description(Some("What the mutation answers besides its status; depends on the mutation"))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Details {}

impl MutationResult {
    pub fn applied(id: Uuid, details: Option<Details>) -> Self {
        MutationResult { id, status: MutationStatus::Applied, code: None, message: None, details }
    }
    pub fn rejected(id: Uuid, err: &RuleError) -> Self {
        MutationResult {
            id,
            status: MutationStatus::Rejected,
            code: Some(err.code),
            message: Some(err.message.clone()),
            details: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PushResponse {
    pub server_time: DateTime<Utc>,
    pub results: Vec<MutationResult>,
    /// Extension (docs/protocol.md, "Commits"): a commit number at or after the one that
    /// holds these results, from a server whose instances share one database. A client
    /// names the greatest it has seen as `min_commit` in its pulls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<u64>,
}

// ---------------------------------------------------------------- pull

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PullRequest {
    #[serde(default)]
    pub cursor: Option<String>,
    #[serde(default)]
    pub limit: Option<u32>,
    /// Extension (docs/protocol.md, "Commits"): the greatest `commit` the client has seen
    /// (in push and pull answers and pokes). The answer then holds at least every commit up
    /// to it, and an instance that already knows of it may answer without asking the
    /// database. Without it, the answer holds every commit made before the pull arrived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_commit: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ChangeOp {
    Upsert,
    Delete,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Change {
    /// The entity type: one of the `*_TYPE` constants in [`entity`].
    #[serde(rename = "type")]
    pub entity_type: String,
    pub id: Uuid,
    pub op: ChangeOp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PullResponse {
    pub cursor: String,
    pub has_more: bool,
    pub server_time: DateTime<Utc>,
    pub changes: Vec<Change>,
    /// Extension (docs/protocol.md, "Commits"): the commit number this answer holds every
    /// commit up to, from a server whose instances share one database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<u64>,
}

/// The data of a `poke` (and `ready`) event: extension (docs/protocol.md, "Commits"), the
/// commit that the poke announces or a later one; `{}` from a server without commits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PokeData {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<u64>,
}

/// Dev clock (only with `--dev-clock`): fix the server's clock at `now`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct DevClockRequest {
    pub now: DateTime<Utc>,
}

// ---------------------------------------------------------------- mutations

pub mod mutation_names {
    pub const ABSENCE_REPORT: &str = "absence.report";
    pub const ABSENCE_CONFIRM: &str = "absence.confirm";
    pub const CARE_SET_DAY: &str = "care.set_day";
    pub const CARE_CLEAR_DAY: &str = "care.clear_day";
    pub const CARE_SET_WEEK: &str = "care.set_week";
    pub const CARE_COMMENT: &str = "care.comment";
    pub const CARE_COMMENT_SEEN: &str = "care.comment_seen";
    pub const ATTENDANCE_MARK: &str = "attendance.mark";
    pub const MESSAGE_SEND: &str = "message.send";
    pub const MESSAGE_READ: &str = "message.read";
    pub const TALK_BOOK: &str = "talk.book";
    pub const TALK_CANCEL: &str = "talk.cancel";
    pub const NOTIFICATION_READ: &str = "notification.read";
    pub const STAFF_PIN_ATTEMPT: &str = "staff.pin_attempt";
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AbsenceReport {
    pub child_id: Uuid,
    #[serde(with = "date")]
    pub date: NaiveDate,
    /// Chosen lessons of that day (school, R-ABS-3); absent or empty means the whole day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lessons: Option<Vec<Uuid>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AbsenceConfirm {
    pub absence_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CareSetDay {
    pub child_id: Uuid,
    #[serde(with = "date")]
    pub date: NaiveDate,
    pub intervals: Vec<Interval>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CareClearDay {
    pub child_id: Uuid,
    #[serde(with = "date")]
    pub date: NaiveDate,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CareSetWeek {
    pub child_id: Uuid,
    #[serde(with = "date")]
    pub week_start: NaiveDate,
    pub days: Vec<DayTemplate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat: Option<Repeat>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CareComment {
    pub child_id: Uuid,
    #[serde(with = "date")]
    pub date: NaiveDate,
    pub text: String,
}

/// Staff opened a day's comments: clears the "new comment" marker for all staff (R-CARE-6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CareCommentSeen {
    pub child_id: Uuid,
    #[serde(with = "date")]
    pub date: NaiveDate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttendanceKind {
    Arrived,
    Departed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttendanceMark {
    pub child_id: Uuid,
    pub kind: AttendanceKind,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageSend {
    /// A reply in an existing thread…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<Uuid>,
    /// …or a new thread to these staff members, with a title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipients: Option<Vec<Uuid>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub body: String,
    /// The child the new thread is about (extension; optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub child_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageRead {
    pub thread_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TalkBook {
    pub slot_id: Uuid,
    pub child_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TalkCancel {
    pub booking_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationRead {
    pub ids: Vec<Uuid>,
}

/// Extension (R-STAFF-3): a paired tablet reports a PIN attempt it checked itself, online or
/// offline, so the lockout counts across devices. Sent with a device credential only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinAttempt {
    pub user_id: Uuid,
    pub ok: bool,
    /// When it happened on the tablet.
    pub at: DateTime<Utc>,
}

/// Every mutation of the contract, parsed. Names as in ARCHITECTURE.md's mutation table.
#[derive(Debug, Clone, PartialEq)]
pub enum Mutation {
    AbsenceReport(AbsenceReport),
    AbsenceConfirm(AbsenceConfirm),
    CareSetDay(CareSetDay),
    CareClearDay(CareClearDay),
    CareSetWeek(CareSetWeek),
    CareComment(CareComment),
    CareCommentSeen(CareCommentSeen),
    AttendanceMark(AttendanceMark),
    MessageSend(MessageSend),
    MessageRead(MessageRead),
    TalkBook(TalkBook),
    TalkCancel(TalkCancel),
    NotificationRead(NotificationRead),
    StaffPinAttempt(PinAttempt),
}

fn parse_args<T: serde::de::DeserializeOwned>(name: &str, args: &Value) -> Result<T, RuleError> {
    T::deserialize(args).map_err(|e| RuleError::invalid(format!("bad arguments for {name}: {e}")))
}

impl Mutation {
    /// Parses a mutation by its contract name. Unknown names and malformed arguments are
    /// `invalid_input`.
    /// Reads `args` in place (the server parses every mutation of a push; copying each
    /// argument tree first was measurable).
    pub fn parse(name: &str, args: &Value) -> Result<Mutation, RuleError> {
        use mutation_names as n;
        Ok(match name {
            n::ABSENCE_REPORT => Mutation::AbsenceReport(parse_args(name, args)?),
            n::ABSENCE_CONFIRM => Mutation::AbsenceConfirm(parse_args(name, args)?),
            n::CARE_SET_DAY => Mutation::CareSetDay(parse_args(name, args)?),
            n::CARE_CLEAR_DAY => Mutation::CareClearDay(parse_args(name, args)?),
            n::CARE_SET_WEEK => Mutation::CareSetWeek(parse_args(name, args)?),
            n::CARE_COMMENT => Mutation::CareComment(parse_args(name, args)?),
            n::CARE_COMMENT_SEEN => Mutation::CareCommentSeen(parse_args(name, args)?),
            n::ATTENDANCE_MARK => Mutation::AttendanceMark(parse_args(name, args)?),
            n::MESSAGE_SEND => Mutation::MessageSend(parse_args(name, args)?),
            n::MESSAGE_READ => Mutation::MessageRead(parse_args(name, args)?),
            n::TALK_BOOK => Mutation::TalkBook(parse_args(name, args)?),
            n::TALK_CANCEL => Mutation::TalkCancel(parse_args(name, args)?),
            n::NOTIFICATION_READ => Mutation::NotificationRead(parse_args(name, args)?),
            n::STAFF_PIN_ATTEMPT => Mutation::StaffPinAttempt(parse_args(name, args)?),
            other => return Err(RuleError::invalid(format!("unknown mutation name {other:?}"))),
        })
    }

    pub fn name(&self) -> &'static str {
        use mutation_names as n;
        match self {
            Mutation::AbsenceReport(_) => n::ABSENCE_REPORT,
            Mutation::AbsenceConfirm(_) => n::ABSENCE_CONFIRM,
            Mutation::CareSetDay(_) => n::CARE_SET_DAY,
            Mutation::CareClearDay(_) => n::CARE_CLEAR_DAY,
            Mutation::CareSetWeek(_) => n::CARE_SET_WEEK,
            Mutation::CareComment(_) => n::CARE_COMMENT,
            Mutation::CareCommentSeen(_) => n::CARE_COMMENT_SEEN,
            Mutation::AttendanceMark(_) => n::ATTENDANCE_MARK,
            Mutation::MessageSend(_) => n::MESSAGE_SEND,
            Mutation::MessageRead(_) => n::MESSAGE_READ,
            Mutation::TalkBook(_) => n::TALK_BOOK,
            Mutation::TalkCancel(_) => n::TALK_CANCEL,
            Mutation::NotificationRead(_) => n::NOTIFICATION_READ,
            Mutation::StaffPinAttempt(_) => n::STAFF_PIN_ATTEMPT,
        }
    }

    pub fn args(&self) -> Value {
        let v = match self {
            Mutation::AbsenceReport(a) => serde_json::to_value(a),
            Mutation::AbsenceConfirm(a) => serde_json::to_value(a),
            Mutation::CareSetDay(a) => serde_json::to_value(a),
            Mutation::CareClearDay(a) => serde_json::to_value(a),
            Mutation::CareSetWeek(a) => serde_json::to_value(a),
            Mutation::CareComment(a) => serde_json::to_value(a),
            Mutation::CareCommentSeen(a) => serde_json::to_value(a),
            Mutation::AttendanceMark(a) => serde_json::to_value(a),
            Mutation::MessageSend(a) => serde_json::to_value(a),
            Mutation::MessageRead(a) => serde_json::to_value(a),
            Mutation::TalkBook(a) => serde_json::to_value(a),
            Mutation::TalkCancel(a) => serde_json::to_value(a),
            Mutation::NotificationRead(a) => serde_json::to_value(a),
            Mutation::StaffPinAttempt(a) => serde_json::to_value(a),
        };
        // Plain structs of strings, numbers and lists always serialise.
        v.unwrap_or(Value::Null)
    }

    pub fn envelope(&self, id: Uuid) -> MutationEnvelope {
        MutationEnvelope { id, name: self.name().to_string(), args: self.args(), actor: None }
    }
}

// ---------------------------------------------------------------- entities

pub mod entity;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn details_are_written_once_as_json_and_read_back_from_text_or_a_value() {
        #[derive(Serialize)]
        struct Plan {
            writes: Vec<&'static str>,
        }
        let r = MutationResult::applied(Uuid::nil(), Some(Details::new(&Plan { writes: vec!["2026-11-30"] }).unwrap()));
        let text = serde_json::to_string(&r).unwrap();
        assert!(text.ends_with(r#""details":{"writes":["2026-11-30"]}}"#), "{text}");
        let from_text: MutationResult = serde_json::from_str(&text).unwrap();
        let from_value: MutationResult = serde_json::from_value(serde_json::from_str(&text).unwrap()).unwrap();
        assert_eq!(from_text, r);
        assert_eq!(from_value, r);
        assert_eq!(from_value.details.unwrap().value(), json!({ "writes": ["2026-11-30"] }));
        let spaced: Details = serde_json::from_str(r#"{ "b": 1, "a": [ 2 ] }"#).unwrap();
        assert_eq!(spaced, Details::new(&json!({ "a": [2], "b": 1 })).unwrap(), "the same JSON, however spaced");
        assert_ne!(spaced, Details::new(&json!({ "a": [2], "b": 2 })).unwrap());
    }

    #[test]
    fn mutation_round_trips_through_its_envelope() {
        let m = Mutation::parse(
            "care.set_day",
            &json!({"child_id": Uuid::nil(), "date": "2026-11-24",
                   "intervals": [{"start": "07:30", "end": "16:00"}], "comment": "morfar hämtar"}),
        )
        .unwrap();
        let env = m.envelope(Uuid::nil());
        assert_eq!(env.name, "care.set_day");
        assert_eq!(Mutation::parse(&env.name, &env.args).unwrap(), m);
    }

    #[test]
    fn unknown_mutation_name_is_invalid_input() {
        let err = Mutation::parse("care.teleport", &json!({})).unwrap_err();
        assert_eq!(err.code, RejectCode::InvalidInput);
    }

    #[test]
    fn impossible_date_is_invalid_input() {
        let err = Mutation::parse(
            "absence.report",
            &json!({"child_id": Uuid::nil(), "date": "2026-02-30"}),
        )
        .unwrap_err();
        assert_eq!(err.code, RejectCode::InvalidInput);
        let err = Mutation::parse(
            "absence.report",
            &json!({"child_id": Uuid::nil(), "date": "2026-2-3"}),
        )
        .unwrap_err();
        assert_eq!(err.code, RejectCode::InvalidInput);
    }

    #[test]
    fn unknown_argument_is_invalid_input() {
        let err = Mutation::parse(
            "care.clear_day",
            &json!({"child_id": Uuid::nil(), "date": "2026-11-24", "force": true}),
        )
        .unwrap_err();
        assert_eq!(err.code, RejectCode::InvalidInput);
    }

    #[test]
    fn two_reports_of_the_same_day_name_the_same_absence() {
        // R-ABS-8: the id is derived from child and date, so concurrent reports merge.
        let child = Uuid::from_u128(7);
        let d = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
        assert_eq!(entity::absence_id(child, d), entity::absence_id(child, d));
        assert_ne!(entity::absence_id(child, d), entity::care_day_id(child, d));
        let next = d.succ_opt().unwrap();
        assert_ne!(entity::absence_id(child, d), entity::absence_id(child, next));
    }
}
