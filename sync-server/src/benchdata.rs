//! A large synthetic roster for the load generator (`cargo xtask bench`, crate `hub-bench`),
//! written straight through a [`Tx`]: many units, groups, children, guardians and staff
//! tablets, the units' shared information (news, calendar, blog) for a school year, and for a
//! few families with two children a whole school year of their own data (care days,
//! attendance, absences, comments, messages, notifications) for the initial-sync figure.
//!
//! Kept apart from [`crate::demo`]: the demo is a contract other programs rely on, this is a
//! benchmark fixture whose shape may change with the benchmark.
//!
//! Password hashing is slow by design, so every user gets the same precomputed hash, and
//! every simulated device gets a session token minted here (as if it had signed in the day
//! before): the bench measures the sync traffic of signed-in devices, not sign-ins.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc, Weekday};
use domain::interval::{Interval, LocalTime};
use domain::opening::OpeningHours;
use domain::personnummer::Personnummer;
use domain::time::DEFAULT_TIME_ZONE;
use domain::wire::entity::{self as e, AbsenceStatus, InfoTab, NotificationCategory};
use domain::wire::{BoxKind, Locale, Role, UnitKind};
use uuid::Uuid;

use crate::auth;
use crate::rules::{entities, scope};
use crate::store::{ChildRow, StoreError, StoreResult, Tx, UserRow};

const NS: Uuid = Uuid::from_u128(0x8d1f_03a2_55c4_4b7e_9a0c_2e61_b7d4_0000);

fn id(name: &str) -> Uuid {
    Uuid::new_v5(&NS, name.as_bytes())
}

/// News item `k` of week `w` of a unit, and a group's blog post of week `w`.
fn news_id(unit_id: Uuid, w: i64, k: usize) -> Uuid {
    Uuid::new_v5(&unit_id, format!("news/{w}/{k}").as_bytes())
}
fn blog_id(group_id: Uuid, w: i64) -> Uuid {
    Uuid::new_v5(&group_id, format!("blog/{w}").as_bytes())
}

fn t(h: u32, m: u32) -> LocalTime {
    LocalTime::new(h % 24, m % 60).unwrap_or_else(|| panic!("bad time {h}:{m}"))
}

/// Wall-clock time in Stockholm on `date`, as an instant.
pub fn stockholm(date: NaiveDate, h: u32, m: u32) -> DateTime<Utc> {
    let local = date.and_hms_opt(h, m, 0).unwrap_or_default();
    DEFAULT_TIME_ZONE
        .from_local_datetime(&local)
        .earliest()
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&local))
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or_else(|| panic!("bad date {y}-{m}-{d}"))
}

/// What to seed.
#[derive(Debug, Clone)]
pub struct RosterSpec {
    /// Children in all (about; rounded up to whole groups).
    pub children: usize,
    pub children_per_group: usize,
    pub groups_per_unit: usize,
    /// Families with two children and a whole school year of their own data.
    pub history_families: usize,
    /// First and last day of the school year.
    pub year_start: NaiveDate,
    pub year_end: NaiveDate,
    /// "Today" of the benchmark: personal history (attendance, absences) ends the day before.
    pub today: NaiveDate,
    /// The seeding time (tokens are issued then and last [`auth::TOKEN_DAYS`]).
    pub now: DateTime<Utc>,
}

impl Default for RosterSpec {
    fn default() -> Self {
        let today = date(2026, 3, 10);
        RosterSpec {
            children: 10_000,
            children_per_group: 20,
            groups_per_unit: 10,
            history_families: 16,
            year_start: date(2025, 8, 18),
            year_end: date(2026, 6, 12),
            today,
            now: stockholm(date(2026, 3, 1), 12, 0),
        }
    }
}

#[derive(Debug, Clone)]
pub struct BenchChild {
    pub id: Uuid,
    pub unit_id: Uuid,
    pub unit_kind: UnitKind,
    /// Guardians may register care times for the child (preschool, or fritids at school).
    pub in_care: bool,
}

/// A simulated device: a signed-in user and the token it sends.
#[derive(Debug, Clone)]
pub struct Device {
    pub user_id: Uuid,
    pub username: String,
    pub token: String,
    /// A guardian's children, or the children of a staff tablet's group.
    pub children: Vec<BenchChild>,
}

#[derive(Debug, Clone, Default)]
pub struct Roster {
    /// One device per guardian (two guardians per family).
    pub guardians: Vec<Device>,
    /// One tablet per group, signed in as that group's staff member.
    pub tablets: Vec<Device>,
    /// Indices into `guardians` of one guardian of each family with a school year of data.
    pub history_guardians: Vec<usize>,
    pub units: usize,
    pub entities: usize,
}

/// The Swedish holidays that fall on weekdays in a school year (R-CARE-2).
fn closed_dates(spec: &RosterSpec) -> Vec<NaiveDate> {
    let mut out = Vec::new();
    for y in [spec.year_start.year(), spec.year_end.year()] {
        for (m, d) in [(1, 1), (1, 6), (5, 1), (6, 6), (12, 24), (12, 25), (12, 26), (12, 31)] {
            out.push(date(y, m, d));
        }
    }
    out.sort();
    out.dedup();
    out
}

fn school_days(spec: &RosterSpec, closed: &[NaiveDate], until: NaiveDate) -> Vec<NaiveDate> {
    let mut out = Vec::new();
    let mut d = spec.year_start;
    while d <= until && d <= spec.year_end {
        if !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) && !closed.contains(&d) {
            out.push(d);
        }
        d += Duration::days(1);
    }
    out
}

struct Seeder<'a> {
    tx: &'a mut dyn Tx,
    spec: &'a RosterSpec,
    hash: &'a str,
    entities: usize,
}

impl Seeder<'_> {
    fn save<T: serde::Serialize + Clone + Send + Sync + std::fmt::Debug + 'static>(&mut self, ty: &str, id: Uuid, sc: &str, v: &T) -> StoreResult<()> {
        entities::save(self.tx, ty, id, sc, v)?;
        self.entities += 1;
        Ok(())
    }

    fn user(&mut self, username: &str, name: &str, role: Role) -> StoreResult<Device> {
        let uid = id(&format!("user/{username}"));
        self.tx.insert_user(&UserRow {
            id: uid,
            username: username.to_string(),
            display_name: name.to_string(),
            role,
            locale: "sv".into(),
            password_hash: self.hash.to_string(),
            email: Some(format!("{username}@bench.hub.invalid")),
            phone: None,
        })?;
        let u = e::User { id: uid, username: username.into(), display_name: name.into(), role, locale: Locale::Sv };
        self.save(e::USER_TYPE, uid, &scope::user(uid), &u)?;
        let token = auth::new_token();
        let now = self.spec.now;
        self.tx.insert_token(
            &auth::hash_token(&token),
            uid,
            Some("bench-device"),
            now,
            now + Duration::days(auth::TOKEN_DAYS),
        )?;
        Ok(Device { user_id: uid, username: username.into(), token, children: Vec::new() })
    }

    /// News, calendar events for a unit across the school year; blog posts per group.
    fn unit_information(&mut self, unit_id: Uuid, groups: &[Uuid]) -> StoreResult<()> {
        let weeks = (self.spec.year_end - self.spec.year_start).num_weeks().max(1);
        for w in 0..weeks {
            let monday = self.spec.year_start + Duration::weeks(w);
            let published = stockholm(monday, 8, 0);
            for k in 0..2 {
                let nid = news_id(unit_id, w, k);
                let n = e::News {
                    id: nid,
                    unit_id,
                    group_id: None,
                    tab: if k == 0 { InfoTab::News } else { InfoTab::Files },
                    title: format!("Veckobrev vecka {}", monday.iso_week().week()),
                    body: "Den här veckan har vi arbetat med hösten, läst högt och varit ute i skogen. \
                           Kom ihåg regnkläder och extra strumpor. Hälsningar personalen"
                        .into(),
                    url: (k == 1).then(|| "https://example.invalid/veckobrev.pdf".to_string()),
                    published_at: published,
                };
                self.save(e::NEWS_TYPE, nid, &scope::unit(unit_id), &n)?;
            }
            let cid = Uuid::new_v5(&unit_id, format!("event/{w}").as_bytes());
            let ev = e::CalendarEvent {
                id: cid,
                unit_id,
                group_id: None,
                date: monday + Duration::days(3),
                start: Some(t(18, 0)),
                end: Some(t(19, 0)),
                title: "Föräldramöte".into(),
                text: "Vi berättar om veckans arbete. Välkomna!".into(),
            };
            self.save(e::CALENDAR_EVENT_TYPE, cid, &scope::unit(unit_id), &ev)?;
            if w % 2 == 0 {
                for g in groups {
                    let bid = blog_id(*g, w);
                    let post = e::BlogPost {
                        id: bid,
                        unit_id,
                        group_id: *g,
                        author_name: "Personalen".into(),
                        title: "Vad vi gjorde i veckan".into(),
                        body: "Vi byggde kojor, sjöng och lagade soppa tillsammans.".into(),
                        published_at: stockholm(monday + Duration::days(4), 15, 0),
                    };
                    self.save(e::BLOG_POST_TYPE, bid, &scope::group(*g), &post)?;
                }
            }
        }
        Ok(())
    }

    /// A school year of a family's own data: care days, attendance, absences, comments,
    /// notifications of the units' information, message threads with staff.
    fn history(
        &mut self,
        fam: usize,
        guardians: &[&Device],
        kids: &[(BenchChild, Vec<Uuid>)],
        staff: &[Uuid],
        closed: &[NaiveDate],
    ) -> StoreResult<()> {
        let spec = self.spec.clone();
        let g0 = guardians[0];
        let all_days = school_days(&spec, closed, spec.year_end);
        let past_days = school_days(&spec, closed, spec.today - Duration::days(1));
        for (k, (child, groups)) in kids.iter().enumerate() {
            let c = child.id;
            if child.in_care {
                for (i, d) in all_days.iter().enumerate() {
                    let cid = e::care_day_id(c, *d);
                    let day = e::CareDay {
                        id: cid,
                        child_id: c,
                        date: *d,
                        intervals: vec![Interval::new(t(7, 15 + (i % 4) as u32 * 5), t(16, (i % 3) as u32 * 10))],
                        comment: (i % 15 == 0).then(|| "Morfar hämtar".to_string()),
                        updated_by: g0.user_id,
                        updated_by_name: g0.username.clone(),
                        updated_at: stockholm(*d - Duration::days(3), 20, 0),
                    };
                    self.save(e::CARE_DAY_TYPE, cid, &scope::care(c), &day)?;
                }
            }
            for (i, d) in past_days.iter().enumerate() {
                if i % 17 == 3 {
                    let aid = e::absence_id(c, *d);
                    let a = e::Absence {
                        id: aid,
                        child_id: c,
                        date: *d,
                        lessons: None,
                        comment: Some("Feber".into()),
                        status: AbsenceStatus::Confirmed,
                        reported_by: g0.user_id,
                        reported_by_name: g0.username.clone(),
                        reported_by_role: Role::Guardian,
                        reported_at: stockholm(*d, 7, 5),
                    };
                    self.save(e::ABSENCE_TYPE, aid, &scope::child(c), &a)?;
                    continue;
                }
                if child.in_care {
                    let aid = e::attendance_id(c, *d);
                    let a = e::Attendance {
                        id: aid,
                        child_id: c,
                        date: *d,
                        arrived_at: Some(stockholm(*d, 7, 20)),
                        departed_at: Some(stockholm(*d, 16, 5)),
                        updated_by: staff.first().copied().unwrap_or(g0.user_id),
                    };
                    self.save(e::ATTENDANCE_TYPE, aid, &scope::care(c), &a)?;
                }
                if i % 9 == 0 {
                    let ccid = id(&format!("care-comment/{fam}/{k}/{i}"));
                    let cc = e::CareComment {
                        id: ccid,
                        child_id: c,
                        date: *d,
                        author_id: g0.user_id,
                        author_name: g0.username.clone(),
                        author_role: Role::Guardian,
                        text: "Hon har sovit dåligt i natt.".into(),
                        created_at: stockholm(*d - Duration::days(1), 19, 0),
                        new_for_staff: false,
                    };
                    self.save(e::CARE_COMMENT_TYPE, ccid, &scope::care(c), &cc)?;
                }
            }
            // One bell notification per guardian for each news item and blog post.
            let weeks = (spec.today - spec.year_start).num_weeks().max(0);
            for w in 0..weeks {
                let monday = spec.year_start + Duration::weeks(w);
                let u = child.unit_id;
                let mut items = vec![(NotificationCategory::News, e::NEWS_TYPE, news_id(u, w, 0))];
                if w % 2 == 0 {
                    if let Some(g) = groups.first() {
                        items.push((NotificationCategory::Blog, e::BLOG_POST_TYPE, blog_id(*g, w)));
                    }
                }
                for (category, item_type, item_id) in items {
                    for g in guardians {
                        let nid = Uuid::new_v5(&g.user_id, item_id.as_bytes());
                        let n = e::Notification {
                            id: nid,
                            child_id: Some(c),
                            category,
                            item_type: item_type.into(),
                            item_id,
                            title: "Nytt från förskolan".into(),
                            created_at: stockholm(monday, 8, 0),
                            read: w + 2 < weeks,
                        };
                        self.save(e::NOTIFICATION_TYPE, nid, &scope::user(g.user_id), &n)?;
                    }
                }
            }
        }
        // Message threads with the staff: about one a week, three messages each.
        let weeks = (spec.today - spec.year_start).num_weeks().max(0);
        for w in 0..weeks {
            let tid = id(&format!("thread/{fam}/{w}"));
            let staff_id = staff[w as usize % staff.len().max(1)];
            let mut participants = Vec::new();
            for p in guardians.iter().map(|g| g.user_id).chain(std::iter::once(staff_id)) {
                self.tx.add_thread_participant(tid, p)?;
                let role = if p == staff_id { Role::Staff } else { Role::Guardian };
                let display_name = if role == Role::Staff { "Personal" } else { "Förälder" }.to_string();
                participants.push(e::Participant { id: p, display_name, role });
            }
            let start = stockholm(spec.year_start + Duration::weeks(w), 9, 0);
            let thread = e::MessageThread {
                id: tid,
                title: "Fråga om veckan".into(),
                child_id: kids.first().map(|k| k.0.id),
                participants,
                created_at: start,
                last_message_at: start + Duration::hours(5),
            };
            self.save(e::THREAD_TYPE, tid, &scope::thread(tid), &thread)?;
            for i in 0..3 {
                let mid = id(&format!("message/{fam}/{w}/{i}"));
                let sender = if i == 1 { staff_id } else { g0.user_id };
                let m = e::Message {
                    id: mid,
                    thread_id: tid,
                    sender_id: sender,
                    sender_name: "Bench".into(),
                    body: "Hej! Vi undrar om utflykten på torsdag: behöver barnen ha med matsäck? Hälsningar".into(),
                    sent_at: start + Duration::hours(i * 2),
                };
                self.save(e::MESSAGE_TYPE, mid, &scope::thread(tid), &m)?;
            }
            for g in guardians {
                let rid = crate::rules::apply::thread_read_id(g.user_id, tid);
                let r = e::ThreadRead { id: rid, thread_id: tid, read_at: start + Duration::hours(6) };
                self.save(e::THREAD_READ_TYPE, rid, &scope::user(g.user_id), &r)?;
            }
        }
        Ok(())
    }
}

fn unit_boxes(kind: UnitKind) -> Vec<BoxKind> {
    let mut b = vec![BoxKind::Absence, BoxKind::CareSchedule, BoxKind::Information, BoxKind::Calendar, BoxKind::Blog];
    if kind == UnitKind::School {
        b.push(BoxKind::Schedule);
    }
    b.push(BoxKind::Contacts);
    b
}

/// Seeds the roster into an empty database and returns the devices to simulate. Every
/// user's password hash is `password_hash`.
pub fn seed(tx: &mut dyn Tx, spec: &RosterSpec, password_hash: &str) -> StoreResult<Roster> {
    if !tx.is_empty()? {
        return Err(StoreError::Database("the bench roster needs an empty database".into()));
    }
    let per_unit = spec.children_per_group * spec.groups_per_unit;
    let units = spec.children.div_ceil(per_unit).max(1);
    let closed = closed_dates(spec);
    let mut s = Seeder { tx, spec, hash: password_hash, entities: 0 };
    let mut roster = Roster { units, ..Roster::default() };

    // Units: every other one a preschool, the rest schools whose groups are fritids groups
    // paired with classes.
    struct UnitInfo {
        id: Uuid,
        groups: Vec<Uuid>,
        classes: Vec<Uuid>,
        staff: Vec<Uuid>,
    }
    let mut unit_infos = Vec::with_capacity(units);
    let mut pnr_serial = 0u32;
    let mut children: Vec<(BenchChild, Vec<Uuid>)> = Vec::new();
    for u in 0..units {
        let kind = if u % 2 == 0 { UnitKind::Preschool } else { UnitKind::School };
        let uid = id(&format!("unit/{u}"));
        let name = format!("{} {u}", if kind == UnitKind::Preschool { "Förskolan" } else { "Skolan" });
        s.tx.insert_unit(uid, &name)?;
        let close = if kind == UnitKind::Preschool { t(18, 0) } else { t(17, 30) };
        let unit = e::Unit {
            id: uid,
            name: name.clone(),
            kind,
            time_zone: DEFAULT_TIME_ZONE.name().to_string(),
            opening_hours: OpeningHours::weekdays(t(6, 30), close),
            closed_dates: closed.clone(),
            guardians_register_care: true,
            keeps_schedule: kind == UnitKind::School,
            boxes: unit_boxes(kind),
        };
        s.save(e::UNIT_TYPE, uid, &scope::unit(uid), &unit)?;
        let mut info = UnitInfo { id: uid, groups: Vec::new(), classes: Vec::new(), staff: Vec::new() };
        for g in 0..spec.groups_per_unit {
            let gid = id(&format!("group/{u}/{g}"));
            s.tx.insert_group(gid, uid)?;
            let gname = if kind == UnitKind::Preschool { format!("Avdelning {g}") } else { format!("Fritids {g}") };
            s.save(e::GROUP_TYPE, gid, &scope::unit(uid), &e::Group { id: gid, unit_id: uid, name: gname })?;
            info.groups.push(gid);
            if kind == UnitKind::School {
                let cid = id(&format!("class/{u}/{g}"));
                s.tx.insert_class(cid, uid)?;
                s.save(
                    e::CLASS_TYPE,
                    cid,
                    &scope::unit(uid),
                    &e::Class { id: cid, unit_id: uid, name: format!("{}A", g % 9 + 1) },
                )?;
                for weekday in 1..=5u8 {
                    for (i, h) in [8u32, 9, 10, 12, 13].iter().enumerate() {
                        let lid = id(&format!("lesson/{u}/{g}/{weekday}/{i}"));
                        let l = e::Lesson {
                            id: lid,
                            class_id: cid,
                            weekday,
                            start: t(*h, 15),
                            end: t(*h + 1, 0),
                            subject: ["Svenska", "Matematik", "Engelska", "NO", "Idrott"][i].into(),
                            teacher: "Lärare".into(),
                            room: format!("A{g}"),
                        };
                        s.save(e::LESSON_TYPE, lid, &scope::class(cid), &l)?;
                    }
                }
                info.classes.push(cid);
            }
            // The group's tablet, signed in as its staff member.
            let mut tablet = s.user(&format!("staff{u}x{g}"), &format!("Personal {u}/{g}"), Role::Staff)?;
            s.tx.add_staff_unit(tablet.user_id, uid)?;
            let st = e::Staff {
                id: tablet.user_id,
                unit_id: uid,
                display_name: format!("Personal {u}/{g}"),
                title: "Förskollärare".into(),
            };
            s.save(e::STAFF_TYPE, Uuid::new_v5(&uid, tablet.user_id.as_bytes()), &scope::unit(uid), &st)?;
            info.staff.push(tablet.user_id);
            // Its children.
            for k in 0..spec.children_per_group {
                let n = children.len();
                let cid = id(&format!("child/{n}"));
                let born = if kind == UnitKind::Preschool { 2020 + (n % 4) as i32 } else { 2014 + (n % 6) as i32 };
                let birth = date(born, 1 + (n % 12) as u32, 1 + (n / 12 % 28) as u32);
                pnr_serial = pnr_serial % 999 + 1;
                let pnr = Personnummer::from_parts(birth, pnr_serial as u16, false)
                    .map_err(|e| StoreError::Corrupt(e.message))?;
                let class_id = info.classes.last().copied().filter(|_| kind == UnitKind::School);
                let in_care = kind == UnitKind::Preschool || k % 5 != 0;
                s.tx.insert_child(&ChildRow {
                    id: cid,
                    unit_id: uid,
                    class_id,
                    student_user_id: None,
                    personnummer: format!("{pnr}"),
                    group_ids: vec![gid],
                })?;
                let c = e::Child {
                    id: cid,
                    first_name: format!("Barn{n}"),
                    last_name: "Benchsson".into(),
                    birth_date: birth,
                    unit_id: uid,
                    class_id,
                    group_ids: vec![gid],
                    in_care,
                };
                s.save(e::CHILD_TYPE, cid, &scope::child(cid), &c)?;
                let bc = BenchChild { id: cid, unit_id: uid, unit_kind: kind, in_care };
                tablet.children.push(bc.clone());
                children.push((bc, vec![gid]));
            }
            roster.tablets.push(tablet);
        }
        let groups = info.groups.clone();
        s.unit_information(uid, &groups)?;
        unit_infos.push(info);
    }

    // Families: the first `history_families` have two children in different units (a
    // preschool and a school child); then every third family has two children, the rest one.
    let n = children.len();
    let mut taken = vec![false; n];
    let per_unit = spec.children_per_group * spec.groups_per_unit;
    let mut families: Vec<Vec<usize>> = Vec::new();
    for f in 0..spec.history_families.min(per_unit) {
        // Child f of unit 0 (a preschool) and child f of unit 1 (a school).
        let (a, b) = (f, per_unit + f);
        let (a, b) = (a.min(n - 1), b.min(n - 1));
        if a != b && !taken[a] && !taken[b] {
            taken[a] = true;
            taken[b] = true;
            families.push(vec![a, b]);
        }
    }
    let history = families.len();
    let mut i = 0;
    while i < n {
        if taken[i] {
            i += 1;
            continue;
        }
        taken[i] = true;
        let mut fam = vec![i];
        if families.len().is_multiple_of(3) {
            // A sibling a few groups away (often another unit).
            let j = (i + 7 * spec.children_per_group + 3) % n;
            if !taken[j] {
                taken[j] = true;
                fam.push(j);
            }
        }
        families.push(fam);
        i += 1;
    }
    for (f, fam) in families.iter().enumerate() {
        let mut devices = Vec::new();
        for p in 0..2 {
            let mut d = s.user(&format!("guardian{f}x{p}"), &format!("Förälder {f}/{p}"), Role::Guardian)?;
            for &c in fam {
                s.tx.add_guardian(d.user_id, children[c].0.id)?;
                d.children.push(children[c].0.clone());
            }
            devices.push(d);
        }
        if f < history {
            let kids: Vec<(BenchChild, Vec<Uuid>)> = fam.iter().map(|&c| children[c].clone()).collect();
            let staff: Vec<Uuid> = kids
                .iter()
                .filter_map(|(k, _)| unit_infos.iter().find(|u| u.id == k.unit_id))
                .flat_map(|u| u.staff.iter().copied().take(2))
                .collect();
            let refs: Vec<&Device> = devices.iter().collect();
            s.history(f, &refs, &kids, &staff, &closed)?;
            roster.history_guardians.push(roster.guardians.len());
        }
        roster.guardians.extend(devices);
    }
    roster.entities = s.entities;
    Ok(roster)
}
