//! The demo data of the contract (ARCHITECTURE.md, "Demo data"), seeded by `--demo` into an
//! empty database. Ids are derived from names, so they are the same on every machine.
//! Dated things (news, slots, events) are placed around the server's "now" at seeding time.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc, Weekday};
use domain::interval::LocalTime;
use domain::opening::{fixed_closed_days, OpeningHours};
use domain::time::{local_date, monday_of, DEFAULT_TIME_ZONE};
use domain::wire::entity::{self as e, InfoTab, NotificationCategory};
use domain::wire::{BoxKind, Role, UnitKind};
use uuid::Uuid;

use crate::rules::{entities, notify, pins, scope};
use crate::store::{ChildRow, StoreError, StoreResult, Tx, UserRow};

pub const PASSWORD: &str = "hub-demo-1";
/// The demo staff's PINs for unlocking a paired tablet (R-STAFF-3): lisa at Solrosen,
/// johan at Ekdalsskolan.
pub const LISA_PIN: &str = "4826";
pub const JOHAN_PIN: &str = "7391";

const NS: Uuid = Uuid::from_u128(0x2f6a_9f44_1b0e_4c2d_8e55_77a0_d3c1_0000);

/// A stable id for a demo name.
pub fn id(name: &str) -> Uuid {
    Uuid::new_v5(&NS, name.as_bytes())
}

fn t(h: u32, m: u32) -> LocalTime {
    // Every literal below is a valid time of day.
    LocalTime::new(h, m).unwrap_or_else(|| panic!("bad demo time {h}:{m}"))
}

/// Wall-clock time in Stockholm on `date`, as an instant.
fn at(date: NaiveDate, h: u32, m: u32) -> DateTime<Utc> {
    let local = date.and_hms_opt(h, m, 0).unwrap_or_default();
    DEFAULT_TIME_ZONE
        .from_local_datetime(&local)
        .earliest()
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&local))
}

/// Swedish holidays on which the units are closed, this year and next (R-CARE-2).
fn holidays(year: i32) -> Vec<NaiveDate> {
    [year, year + 1].into_iter().flat_map(fixed_closed_days).collect()
}

struct Seed<'a> {
    tx: &'a mut dyn Tx,
    now: DateTime<Utc>,
}

impl Seed<'_> {
    fn user(&mut self, username: &str, name: &str, role: Role, hash: &str) -> StoreResult<Uuid> {
        let uid = id(&format!("user/{username}"));
        self.tx.insert_user(&UserRow {
            id: uid,
            username: username.to_string(),
            display_name: name.to_string(),
            role,
            locale: "sv".into(),
            password_hash: hash.to_string(),
            email: Some(format!("{username}@demo.hub.invalid")),
            phone: matches!(role, Role::Guardian).then(|| "+46 70 000 00 00".to_string()),
        })?;
        let u = e::User {
            id: uid,
            username: username.to_string(),
            display_name: name.to_string(),
            role,
            locale: domain::wire::Locale::Sv,
        };
        entities::save(self.tx, e::USER_TYPE, uid, &scope::user(uid), &u)?;
        Ok(uid)
    }

    #[allow(clippy::too_many_arguments)]
    fn unit(
        &mut self,
        name: &str,
        kind: UnitKind,
        hours: OpeningHours,
        guardians_register_care: bool,
        keeps_schedule: bool,
        boxes: Vec<BoxKind>,
        extra_closed: Vec<NaiveDate>,
    ) -> StoreResult<Uuid> {
        let uid = id(&format!("unit/{name}"));
        self.tx.insert_unit(uid, name)?;
        let mut closed = holidays(local_date(self.now, DEFAULT_TIME_ZONE).year());
        closed.extend(extra_closed);
        closed.sort();
        closed.dedup();
        let u = e::Unit {
            id: uid,
            name: name.to_string(),
            kind,
            time_zone: DEFAULT_TIME_ZONE.name().to_string(),
            opening_hours: hours,
            closed_dates: closed,
            guardians_register_care,
            keeps_schedule,
            boxes,
        };
        entities::save(self.tx, e::UNIT_TYPE, uid, &scope::unit(uid), &u)?;
        Ok(uid)
    }

    fn group(&mut self, unit_id: Uuid, name: &str) -> StoreResult<Uuid> {
        let gid = id(&format!("group/{name}"));
        self.tx.insert_group(gid, unit_id)?;
        let g = e::Group { id: gid, unit_id, name: name.to_string() };
        entities::save(self.tx, e::GROUP_TYPE, gid, &scope::unit(unit_id), &g)?;
        Ok(gid)
    }

    fn class(&mut self, unit_id: Uuid, name: &str) -> StoreResult<Uuid> {
        let cid = id(&format!("class/{name}"));
        self.tx.insert_class(cid, unit_id)?;
        let c = e::Class { id: cid, unit_id, name: name.to_string() };
        entities::save(self.tx, e::CLASS_TYPE, cid, &scope::unit(unit_id), &c)?;
        Ok(cid)
    }

    #[allow(clippy::too_many_arguments)]
    fn child(
        &mut self,
        first: &str,
        last: &str,
        pnr: &str,
        unit_id: Uuid,
        class_id: Option<Uuid>,
        group_ids: Vec<Uuid>,
        in_care: bool,
        student: Option<Uuid>,
    ) -> StoreResult<Uuid> {
        let parsed: domain::personnummer::Personnummer =
            pnr.parse().map_err(|e: domain::RuleError| StoreError::Corrupt(format!("demo {pnr}: {}", e.message)))?;
        let cid = id(&format!("child/{first}"));
        self.tx.insert_child(&ChildRow {
            id: cid,
            unit_id,
            class_id,
            student_user_id: student,
            personnummer: parsed.to_string(),
            group_ids: group_ids.clone(),
        })?;
        let c = e::Child {
            id: cid,
            first_name: first.to_string(),
            last_name: last.to_string(),
            birth_date: parsed.birth_date(),
            unit_id,
            class_id,
            group_ids,
            in_care,
        };
        entities::save(self.tx, e::CHILD_TYPE, cid, &scope::child(cid), &c)?;
        Ok(cid)
    }

    fn staff(&mut self, user_id: Uuid, unit_id: Uuid, name: &str, title: &str) -> StoreResult<()> {
        self.tx.add_staff_unit(user_id, unit_id)?;
        let s = e::Staff { id: user_id, unit_id, display_name: name.to_string(), title: title.to_string() };
        // One directory entry per staff member and unit.
        let sid = Uuid::new_v5(&unit_id, user_id.as_bytes());
        entities::save(self.tx, e::STAFF_TYPE, sid, &scope::unit(unit_id), &s)?;
        // The unit's paired tablets list them (R-STAFF-1).
        pins::mirror(self.tx, user_id)
    }

    fn pin(&mut self, user_id: Uuid, pin: &str) -> StoreResult<()> {
        let verifier = domain::pin::PinVerifier::new(pin, &crate::auth::new_pin_salt());
        pins::set_pin(self.tx, user_id, verifier, None)
    }

    fn guardians_of_group(&mut self, children: &[Uuid]) -> StoreResult<Vec<Uuid>> {
        let mut out = Vec::new();
        for c in children {
            out.extend(self.tx.guardians_of(*c)?);
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    #[allow(clippy::too_many_arguments)]
    fn news(
        &mut self,
        key: &str,
        unit_id: Uuid,
        group_id: Option<Uuid>,
        tab: InfoTab,
        title: &str,
        body: &str,
        url: Option<&str>,
        days_ago: i64,
        children: &[Uuid],
    ) -> StoreResult<()> {
        let nid = id(&format!("news/{key}"));
        let n = e::News {
            id: nid,
            unit_id,
            group_id,
            tab,
            title: title.to_string(),
            body: body.to_string(),
            url: url.map(str::to_string),
            published_at: self.now - Duration::days(days_ago),
        };
        let sc = group_id.map(scope::group).unwrap_or_else(|| scope::unit(unit_id));
        entities::save(self.tx, e::NEWS_TYPE, nid, &sc, &n)?;
        let category = match tab {
            InfoTab::News => NotificationCategory::News,
            InfoTab::Files | InfoTab::Links => NotificationCategory::Files,
        };
        self.notify_children(children, category, e::NEWS_TYPE, nid, title)
    }

    fn notify_children(
        &mut self,
        children: &[Uuid],
        category: NotificationCategory,
        item_type: &str,
        item_id: Uuid,
        title: &str,
    ) -> StoreResult<()> {
        for c in children {
            let family = self.tx.guardians_of(*c)?;
            let item = notify::Item { child_id: Some(*c), category, item_type, item_id, title };
            notify::notify(self.tx, &family, &item, self.now)?;
        }
        Ok(())
    }
}

/// A demo message thread: key, sender, recipients, child, title, messages (sender, body,
/// hours ago).
type DemoThread<'a> = (&'a str, Uuid, &'a [Uuid], Option<Uuid>, &'a str, &'a [(Uuid, &'a str, i64)]);

/// Seeds the demo into an empty database; does nothing if any user exists.
pub fn seed(tx: &mut dyn Tx, now: DateTime<Utc>, password_hashes: &[String]) -> StoreResult<bool> {
    if !tx.is_empty()? {
        return Ok(false);
    }
    let hash = |i: usize| password_hashes.get(i).or(password_hashes.first()).cloned().unwrap_or_default();
    let mut s = Seed { tx, now };
    let today = local_date(now, DEFAULT_TIME_ZONE);
    let next_monday = monday_of(today) + Duration::days(7);

    // People.
    let anna = s.user("anna", "Anna Lind", Role::Guardian, &hash(0))?;
    let erik = s.user("erik", "Erik Lind", Role::Guardian, &hash(1))?;
    let maria = s.user("maria", "Maria Berg", Role::Guardian, &hash(2))?;
    let lisa = s.user("lisa", "Lisa Ek", Role::Staff, &hash(3))?;
    let johan = s.user("johan", "Johan Sund", Role::Staff, &hash(4))?;
    let oskar_user = s.user("oskar", "Oskar Lind", Role::Student, &hash(5))?;
    s.user("admin", "Administratör", Role::Admin, &hash(6))?;

    // Units. A planning day three weeks ahead closes Solrosen (R-CARE-2).
    let planning_day = next_monday + Duration::days(14 + 4);
    let solrosen = s.unit(
        "Solrosen förskola",
        UnitKind::Preschool,
        OpeningHours::weekdays(t(6, 30), t(18, 0)),
        true,
        false,
        vec![
            BoxKind::Absence,
            BoxKind::CareSchedule,
            BoxKind::Talks,
            BoxKind::Information,
            BoxKind::Calendar,
            BoxKind::Blog,
            BoxKind::Documentation,
            BoxKind::Contacts,
        ],
        vec![planning_day],
    )?;
    let ekdal = s.unit(
        "Ekdalsskolan",
        UnitKind::School,
        // The school's care hours are those of its fritids (after-school care).
        OpeningHours::weekdays(t(6, 30), t(17, 30)),
        true,
        true,
        vec![
            BoxKind::Absence,
            BoxKind::CareSchedule,
            BoxKind::Talks,
            BoxKind::Information,
            BoxKind::Calendar,
            BoxKind::Blog,
            BoxKind::Schedule,
            BoxKind::Assessments,
            BoxKind::Documentation,
            BoxKind::Plans,
            BoxKind::Contacts,
        ],
        vec![],
    )?;
    let blabar = s.group(solrosen, "Blåbär")?;
    let fritids = s.group(ekdal, "Fritids Ekdalen")?;
    let class_4b = s.class(ekdal, "4B")?;

    s.staff(lisa, solrosen, "Lisa Ek", "Förskollärare")?;
    s.staff(johan, ekdal, "Johan Sund", "Klasslärare 4B")?;
    s.pin(lisa, LISA_PIN)?;
    s.pin(johan, JOHAN_PIN)?;

    // Children (personnummer with valid check digits, R-ACC-8).
    let elsa = s.child("Elsa", "Lind", "20220314-1235", solrosen, None, vec![blabar], true, None)?;
    let oskar = s.child("Oskar", "Lind", "20160522-3476", ekdal, Some(class_4b), vec![fritids], true, Some(oskar_user))?;
    let noah = s.child("Noah", "Berg", "20210902-2455", solrosen, None, vec![blabar], true, None)?;
    for (g, c) in [(anna, elsa), (erik, elsa), (anna, oskar), (erik, oskar), (maria, noah)] {
        s.tx.add_guardian(g, c)?;
    }

    // Class 4B's lesson schedule, Monday to Friday.
    let plan: [(u32, u32, u32, u32, &str, &str); 5] = [
        (8, 15, 9, 0, "Svenska", "A12"),
        (9, 10, 10, 0, "Matematik", "A12"),
        (10, 20, 11, 5, "Engelska", "A14"),
        (12, 30, 13, 15, "NO", "Labb 2"),
        (13, 25, 14, 10, "Idrott och hälsa", "Gymnastiksalen"),
    ];
    for weekday in 1..=5u8 {
        for (i, (sh, sm, eh, em, subject, room)) in plan.iter().enumerate() {
            // Fridays end early; Wednesdays have SO instead of NO.
            if weekday == 5 && i == 4 {
                continue;
            }
            let subject = if weekday == 3 && i == 3 { "SO" } else { subject };
            let lid = id(&format!("lesson/4B/{weekday}/{i}"));
            let l = e::Lesson {
                id: lid,
                class_id: class_4b,
                weekday,
                start: t(*sh, *sm),
                end: t(*eh, *em),
                subject: subject.to_string(),
                teacher: "Johan Sund".into(),
                room: room.to_string(),
            };
            entities::save(s.tx, e::LESSON_TYPE, lid, &scope::class(class_4b), &l)?;
        }
    }

    // Information (R-INFO-1).
    let preschool_kids = [elsa, noah];
    s.news("utflykt", solrosen, Some(blabar), InfoTab::News, "Utflykt till skogen på torsdag",
        "På torsdag går Blåbär till skogen. Ta med regnkläder, stövlar och extra vantar.", None, 1, &preschool_kids)?;
    s.news("planering", solrosen, None, InfoTab::Files, "Verksamhetsplan läsåret",
        "Solrosens verksamhetsplan för läsåret.", Some("https://example.invalid/solrosen/verksamhetsplan.pdf"), 20, &preschool_kids)?;
    s.news("kommunen", solrosen, None, InfoTab::Links, "Kommunens förskolesida",
        "Regler för barnomsorg, avgifter och ansökan.", Some("https://example.invalid/forskola"), 40, &preschool_kids)?;
    s.news("4b-brev", ekdal, None, InfoTab::News, "Veckobrev från 4B",
        "Den här veckan arbetar vi med bråk i matematiken och läser högt ur vår bok.", None, 2, &[oskar])?;

    // Calendar (R-INFO-2).
    let events = [
        ("planeringsdag", solrosen, None, planning_day, None, "Planeringsdag – förskolan stängd", "Personalen planerar. Förskolan är stängd hela dagen.", &preschool_kids[..]),
        ("foraldramote", solrosen, Some(blabar), next_monday + Duration::days(2), Some((t(18, 0), t(19, 0))), "Föräldramöte Blåbär", "Vi berättar om höstens arbete. Välkomna!", &preschool_kids[..]),
        ("matteprov", ekdal, None, next_monday + Duration::days(3), Some((t(9, 10), t(10, 0))), "Prov i matematik", "Prov på bråk, kapitel 4.", &[oskar][..]),
    ];
    for (key, unit_id, group_id, date, times, title, text, kids) in events {
        let cid = id(&format!("event/{key}"));
        let ev = e::CalendarEvent {
            id: cid,
            unit_id,
            group_id,
            date,
            start: times.map(|x| x.0),
            end: times.map(|x| x.1),
            title: title.to_string(),
            text: text.to_string(),
        };
        let sc = group_id.map(scope::group).unwrap_or_else(|| scope::unit(unit_id));
        entities::save(s.tx, e::CALENDAR_EVENT_TYPE, cid, &sc, &ev)?;
        s.notify_children(kids, NotificationCategory::Calendar, e::CALENDAR_EVENT_TYPE, cid, title)?;
    }

    // Blog (R-INFO-2).
    let post = e::BlogPost {
        id: id("blog/kojor"),
        unit_id: solrosen,
        group_id: blabar,
        author_name: "Lisa Ek".into(),
        title: "Vi har byggt kojor".into(),
        body: "I veckan byggde Blåbär kojor av granris i skogsdungen. Fråga gärna ert barn om det!".into(),
        published_at: now - Duration::hours(20),
    };
    entities::save(s.tx, e::BLOG_POST_TYPE, post.id, &scope::group(blabar), &post)?;
    s.notify_children(&preschool_kids, NotificationCategory::Blog, e::BLOG_POST_TYPE, post.id, &post.title)?;

    // Development talks (R-TALK-*): Lisa's slots are shared by Elsa's and Noah's group.
    let round_pre = id("round/solrosen-ht");
    let round_school = id("round/4b-ht");
    let mut slot_n = 0;
    for (day, times) in [(1i64, [(8, 0), (8, 30), (9, 0)]), (3, [(14, 0), (14, 30), (15, 0)])] {
        for (h, m) in times {
            slot_n += 1;
            let sid = id(&format!("slot/solrosen/{slot_n}"));
            let slot = e::TalkSlot {
                id: sid,
                unit_id: solrosen,
                group_id: blabar,
                round_id: round_pre,
                round_name: "Utvecklingssamtal hösten".into(),
                teacher_id: lisa,
                teacher_name: "Lisa Ek".into(),
                starts_at: at(next_monday + Duration::days(day), h, m),
                minutes: 30,
                location: "Blåbärs rum".into(),
                taken: false,
            };
            entities::save(s.tx, e::TALK_SLOT_TYPE, sid, &scope::talks_group(blabar), &slot)?;
        }
    }
    for (i, (h, m)) in [(15, 0), (15, 30), (16, 0), (16, 30)].into_iter().enumerate() {
        let sid = id(&format!("slot/4b/{i}"));
        let slot = e::TalkSlot {
            id: sid,
            unit_id: ekdal,
            group_id: fritids,
            round_id: round_school,
            round_name: "Utvecklingssamtal 4B".into(),
            teacher_id: johan,
            teacher_name: "Johan Sund".into(),
            starts_at: at(next_monday + Duration::days(2), h, m),
            minutes: 30,
            location: "Klassrum A12".into(),
            taken: false,
        };
        entities::save(s.tx, e::TALK_SLOT_TYPE, sid, &scope::talks_group(fritids), &slot)?;
    }
    s.notify_children(&preschool_kids, NotificationCategory::TalkSlots, e::TALK_SLOT_TYPE, id("slot/solrosen/1"), "Boka utvecklingssamtal")?;
    s.notify_children(&[oskar], NotificationCategory::TalkSlots, e::TALK_SLOT_TYPE, id("slot/4b/0"), "Boka utvecklingssamtal")?;

    // Messages (R-MSG-*).
    let threads: [DemoThread<'_>; 2] = [
        ("valkommen", lisa, &[anna, erik, maria], None, "Välkomna till hösten på Blåbär",
         &[(lisa, "Hej! Nu börjar hösten. Kom ihåg att registrera era barns tider senast dagen innan.", 72)]),
        ("laxor", anna, &[johan], Some(oskar), "Läxor i matematik",
         &[(anna, "Hej Johan! Oskar undrar vilka sidor som är läxa till fredag.", 26),
           (johan, "Hej Anna! Sidorna 42–45 i matteboken. Hälsningar Johan", 25)]),
    ];
    for (key, from, to, child_id, title, msgs) in threads {
        let tid = id(&format!("thread/{key}"));
        let mut participants = Vec::new();
        for p in std::iter::once(from).chain(to.iter().copied()) {
            s.tx.add_thread_participant(tid, p)?;
            if let Some(u) = s.tx.user_by_id(p)? {
                participants.push(e::Participant { id: p, display_name: u.display_name, role: u.role });
            }
        }
        let first = msgs.first().map(|m| m.2).unwrap_or(0);
        let last = msgs.last().map(|m| m.2).unwrap_or(0);
        let thread = e::MessageThread {
            id: tid,
            title: title.to_string(),
            child_id,
            participants,
            created_at: now - Duration::hours(first),
            last_message_at: now - Duration::hours(last),
        };
        entities::save(s.tx, e::THREAD_TYPE, tid, &scope::thread(tid), &thread)?;
        for (i, (sender, body, hours_ago)) in msgs.iter().enumerate() {
            let mid = id(&format!("message/{key}/{i}"));
            let name = s.tx.user_by_id(*sender)?.map(|u| u.display_name).unwrap_or_default();
            let m = e::Message {
                id: mid,
                thread_id: tid,
                sender_id: *sender,
                sender_name: name,
                body: body.to_string(),
                sent_at: now - Duration::hours(*hours_ago),
            };
            entities::save(s.tx, e::MESSAGE_TYPE, mid, &scope::thread(tid), &m)?;
        }
        // The sender has read their own thread.
        let rid = crate::rules::apply::thread_read_id(from, tid);
        let r = e::ThreadRead { id: rid, thread_id: tid, read_at: now - Duration::hours(first) };
        entities::save(s.tx, e::THREAD_READ_TYPE, rid, &scope::user(from), &r)?;
    }

    // A little history: Elsa's care times this week and next, set by Anna.
    let mut next = today;
    while next <= next_monday + Duration::days(4) {
        if next > today && !matches!(next.weekday(), Weekday::Sat | Weekday::Sun) {
            let cid = e::care_day_id(elsa, next);
            let day = e::CareDay {
                id: cid,
                child_id: elsa,
                date: next,
                intervals: vec![domain::interval::Interval { start: t(7, 30), end: t(16, 0) }],
                comment: None,
                updated_by: anna,
                updated_by_name: "Anna Lind".into(),
                updated_at: now - Duration::days(3),
            };
            entities::save(s.tx, e::CARE_DAY_TYPE, cid, &scope::care(elsa), &day)?;
        }
        next += Duration::days(1);
    }
    let _ = s.guardians_of_group(&preschool_kids)?;
    Ok(true)
}
