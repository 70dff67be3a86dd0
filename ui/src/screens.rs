//! The screens under the header.

use chrono::{Datelike, Duration, NaiveDate};
use dioxus::prelude::*;
use domain::view::{AttentionItem, CareDayView, CareWeekView, Settings};
use domain::wire::entity::{AbsenceStatus, InfoTab, NotificationCategory};
use domain::wire::{BoxKind, ChildInfo, Locale, UnitKind};
use uuid::Uuid;

use crate::api;
use crate::app::{iso, today, Ctx, ErrorBox, Loading, Screen};
use crate::i18n::{self, box_name, t, tf, unit_kind, K};
use crate::icons::{Ico, Icon};
use crate::logic::{self, chars_left, fmt_date, fmt_date_long, fmt_intervals, DayForm, RepeatMode, WeekForm};

// ---------------------------------------------------------------- sign-in

/// The product's name and tagline over the sign-in and pairing forms.
#[component]
pub fn SignInHead() -> Element {
    let l = use_context::<Ctx>().l();
    rsx! {
        div { class: "signin-head",
            span { class: "brand-mark brand-mark-lg", "aria-hidden": "true", "H" }
            div {
                h1 { class: "signin-title", {t(l, K::AppName)} }
                p { class: "muted", {t(l, K::AppTagline)} }
            }
        }
    }
}

#[component]
pub fn SignIn() -> Element {
    let ctx = use_context::<Ctx>();
    let l = ctx.l();
    let mut username = use_signal(String::new);
    let mut password = use_signal(String::new);
    let mut server = use_signal(|| "http://127.0.0.1:8787".to_string());
    let mut show_pw = use_signal(|| false);
    let mut busy = use_signal(|| false);
    let mut error = use_signal(|| None::<(String, bool)>);

    let submit = move |e: FormEvent| {
        e.prevent_default();
        if busy() {
            return;
        }
        busy.set(true);
        error.set(None);
        spawn(async move {
            let mut ctx = ctx;
            let pw = password();
            match api::sign_in(server().trim(), &username(), &pw).await {
                Ok(session) => {
                    ctx.child.set(session.children.first().map(|c| c.id));
                    ctx.locale.set(session.user.locale);
                    ctx.session.set(Some(session));
                    ctx.screen.set(Screen::Home);
                    if let Ok(s) = api::settings().await {
                        ctx.locale.set(s.locale);
                    }
                    if let Ok(st) = api::sync_status().await {
                        ctx.status.set(st);
                    }
                }
                Err(err) => {
                    // R-ACC-2: a failed password that ends in white space gets a hint.
                    let trailing = err.code == "invalid_credentials" && pw.ends_with(char::is_whitespace);
                    error.set(Some((ctx.err_text(&err), trailing)));
                }
            }
            busy.set(false);
        });
    };

    let pw_type = if show_pw() { "text" } else { "password" };
    let toggle_label = if show_pw() { t(l, K::HidePassword) } else { t(l, K::ShowPassword) };
    let other = if l == Locale::Sv { Locale::En } else { Locale::Sv };
    let other_name = if other == Locale::Sv { t(l, K::Swedish) } else { t(l, K::English) };

    rsx! {
        main { class: "signin",
            div { class: "signin-card card",
                SignInHead {}
                h2 { {t(l, K::SignInTitle)} }
                p { class: "lead", {t(l, K::SignInLead)} }
                form { onsubmit: submit, novalidate: true,
                    div { class: "field",
                        label { r#for: "username", {t(l, K::Username)} }
                        input {
                            id: "username", name: "username", r#type: "text",
                            autocomplete: "username", autocapitalize: "none", spellcheck: "false",
                            required: true, value: "{username}",
                            oninput: move |e| username.set(e.value()),
                        }
                    }
                    div { class: "field",
                        label { r#for: "password", {t(l, K::Password)} }
                        div { class: "input-with-btn",
                            input {
                                id: "password", name: "password", r#type: "{pw_type}",
                                autocomplete: "current-password", required: true, value: "{password}",
                                oninput: move |e| password.set(e.value()),
                            }
                            button {
                                r#type: "button", class: "btn-ghost small", id: "toggle-password",
                                aria_pressed: "{show_pw()}",
                                onclick: move |_| show_pw.toggle(),
                                {toggle_label}
                            }
                        }
                        p { class: "help", {t(l, K::CaseSensitiveHint)} }
                    }
                    div { class: "field",
                        label { r#for: "server-url", {t(l, K::ServerUrl)} }
                        input {
                            id: "server-url", name: "server", r#type: "url", inputmode: "url",
                            autocapitalize: "none", spellcheck: "false", value: "{server}",
                            "aria-describedby": "server-help",
                            oninput: move |e| server.set(e.value()),
                        }
                        p { class: "help", id: "server-help", {t(l, K::ServerUrlHelp)} }
                    }
                    if let Some((msg, trailing)) = error() {
                        div { class: "notice notice-error", role: "alert", id: "sign-in-error",
                            Icon { i: Ico::Alert, size: 20 }
                            div {
                                p { {msg} }
                                if trailing {
                                    p { id: "trailing-space-hint", class: "hint", {t(l, K::TrailingSpaceHint)} }
                                }
                            }
                        }
                    }
                    button { r#type: "submit", class: "btn btn-primary btn-block", id: "sign-in", disabled: busy(),
                        if busy() { {t(l, K::SigningIn)} } else { {t(l, K::SignIn)} }
                    }
                }
                div { class: "signin-foot",
                    button { class: "link", id: "pair-tablet-link",
                        onclick: move |_| { let mut p = ctx.pairing; p.set(true); },
                        Icon { i: Ico::Grid, size: 18 } {t(l, K::PairTabletLink)} }
                }
                div { class: "signin-foot",
                    Icon { i: Ico::Globe, size: 18 }
                    button {
                        class: "link", id: "signin-language", lang: other.as_str(),
                        onclick: move |_| { let mut loc = ctx.locale; loc.set(other); },
                        {other_name}
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------- start page

fn box_icon(kind: BoxKind) -> Ico {
    match kind {
        BoxKind::Absence => Ico::UserX,
        BoxKind::CareSchedule => Ico::Clock,
        BoxKind::Talks => Ico::Users,
        BoxKind::Information => Ico::Info,
        BoxKind::Calendar => Ico::Calendar,
        BoxKind::Blog => Ico::Book,
        BoxKind::Schedule => Ico::Grid,
        BoxKind::Assessments => Ico::Award,
        BoxKind::Documentation => Ico::Folder,
        BoxKind::Plans => Ico::Clipboard,
        BoxKind::Contacts => Ico::Users,
    }
}

fn box_slug(kind: BoxKind) -> &'static str {
    match kind {
        BoxKind::Absence => "absence",
        BoxKind::CareSchedule => "care_schedule",
        BoxKind::Talks => "talks",
        BoxKind::Information => "information",
        BoxKind::Calendar => "calendar",
        BoxKind::Blog => "blog",
        BoxKind::Schedule => "schedule",
        BoxKind::Assessments => "assessments",
        BoxKind::Documentation => "documentation",
        BoxKind::Plans => "plans",
        BoxKind::Contacts => "contacts",
    }
}

fn box_hint(kind: BoxKind) -> Option<K> {
    match kind {
        BoxKind::Absence => Some(K::BoxAbsenceHint),
        BoxKind::CareSchedule => Some(K::BoxCareHint),
        BoxKind::Talks => Some(K::BoxTalksHint),
        BoxKind::Information => Some(K::BoxInfoHint),
        _ => None,
    }
}

fn box_count_key(kind: BoxKind) -> K {
    match kind {
        BoxKind::Absence => K::BoxCountAbsence,
        BoxKind::CareSchedule => K::BoxCountCare,
        BoxKind::Talks => K::BoxCountTalks,
        BoxKind::Information => K::BoxCountInfo,
        BoxKind::Calendar => K::BoxCountCalendar,
        BoxKind::Blog => K::BoxCountBlog,
        BoxKind::Schedule => K::BoxCountSchedule,
        _ => K::BoxCountOther,
    }
}

fn box_target(kind: BoxKind) -> Screen {
    match kind {
        BoxKind::Absence => Screen::Absence { date: None, comment: None, resend: None },
        BoxKind::CareSchedule => Screen::Care { week: None },
        BoxKind::Talks => Screen::Talks,
        BoxKind::Information | BoxKind::Calendar | BoxKind::Blog => Screen::Info,
        other => Screen::NotYet(other),
    }
}

/// Boxes whose content this app shows itself; the others say they are not in the app yet.
fn box_in_app(kind: BoxKind) -> bool {
    matches!(
        kind,
        BoxKind::Absence | BoxKind::CareSchedule | BoxKind::Talks | BoxKind::Information | BoxKind::Calendar | BoxKind::Blog
    )
}

#[component]
pub fn Home(child: ChildInfo) -> Element {
    let ctx = use_context::<Ctx>();
    let l = ctx.l();
    let id = child.id;
    let page = use_resource(move || {
        let _ = (ctx.rev)();
        async move { api::start_page(id).await }
    });
    let data = page.read().clone();
    let initial = child.first_name.chars().next().map(String::from).unwrap_or_default();
    rsx! {
        section { class: "child-card card", id: "child-card", "data-child": "{child.id}",
            span { class: "avatar", "aria-hidden": "true", {initial} }
            div {
                h2 { class: "child-name", id: "child-name", {format!("{} {}", child.first_name, child.last_name)} }
                p { class: "muted", {format!("{} · {}", child.unit.name, unit_kind(l, child.unit.kind))} }
            }
        }
        match data {
            None => rsx! { Loading {} },
            Some(Err(e)) => rsx! { ErrorBox { err: e } },
            Some(Ok(p)) => rsx! {
                for b in p.bookings.iter() {
                    div { class: "notice notice-info", key: "{b.booking.id}",
                        Icon { i: Ico::Calendar, size: 20 }
                        p { {tf(l, K::BookedTalk, &[("when", &logic::fmt_datetime(l, b.slot.starts_at))])} }
                    }
                }
                div { class: "boxes", id: "boxes",
                    for b in p.boxes.iter().cloned() {
                        {
                            let name = box_name(l, b.kind, child.unit.kind);
                            let in_app = box_in_app(b.kind);
                            let target = box_target(b.kind);
                            let slug = box_slug(b.kind);
                            let state = if b.empty { t(l, K::BoxEmpty).to_string() } else { tf(l, box_count_key(b.kind), &[("n", &b.items.to_string())]) };
                            let hint = box_hint(b.kind).map(|k| t(l, k));
                            let cls = if b.empty { "box box-empty" } else { "box" };
                            rsx! {
                                button {
                                    key: "{slug}",
                                    class: "{cls}",
                                    id: "box-{slug}",
                                    "data-box": "{slug}",
                                    "data-empty": "{b.empty}",
                                    onclick: move |_| ctx.go(target.clone()),
                                    span { class: "box-icon", Icon { i: box_icon(b.kind), size: 26 } }
                                    span { class: "box-name", {name} }
                                    span { class: "box-state", {state} }
                                    if let Some(h) = hint {
                                        span { class: "box-hint", {h} }
                                    }
                                    if !in_app {
                                        span { class: "box-tag", {t(l, K::BoxNotYetInApp)} }
                                    }
                                }
                            }
                        }
                    }
                }
            },
        }
    }
}

#[component]
pub fn NotYet(child: ChildInfo, kind: BoxKind) -> Element {
    let ctx = use_context::<Ctx>();
    let l = ctx.l();
    rsx! {
        section { class: "card empty-state",
            Icon { i: box_icon(kind), size: 40 }
            h2 { {box_name(l, kind, child.unit.kind)} }
            p { class: "muted", {t(l, K::NotYetLead)} }
            button { class: "btn", onclick: move |_| ctx.go(Screen::Home), {t(l, K::Back)} }
        }
    }
}

// ---------------------------------------------------------------- absence (R-ABS-1…6)

#[component]
pub fn AbsenceScreen(child: ChildInfo, date: Option<NaiveDate>, comment: Option<String>, resend: Option<Uuid>) -> Element {
    let ctx = use_context::<Ctx>();
    let l = ctx.l();
    let id = child.id;
    let view = use_resource(move || {
        let _ = (ctx.rev)();
        async move { api::absences(id).await }
    });
    // Form state. `which`: 0 = today, 1 = tomorrow.
    let mut which = use_signal(|| 1u8);
    let mut whole = use_signal(|| true);
    let mut lessons = use_signal(Vec::<Uuid>::new);
    let mut text = use_signal(|| comment.clone().unwrap_or_default());
    let mut busy = use_signal(|| false);
    let mut error = use_signal(|| None::<String>);
    let mut applied_date = use_signal(|| false);

    let data = view.read().clone();
    let v = match data {
        None => return rsx! { Loading {} },
        Some(Err(e)) => return rsx! { ErrorBox { err: e } },
        Some(Ok(v)) => v,
    };
    // A resend opens the form on the day it was for, when that day can still be chosen.
    if !applied_date() {
        if let Some(d) = date {
            if d == v.today {
                which.set(0);
            }
        }
        applied_date.set(true);
    }
    let day = if which() == 0 { v.today } else { v.tomorrow };
    let day_lessons = if which() == 0 { v.lessons_today.clone() } else { v.lessons_tomorrow.clone() };
    let existing = logic::absence_on(&v.history, day).cloned();
    let preschool = child.unit.kind == UnitKind::Preschool;
    let max = v.comment_max_chars;
    let left = chars_left(&text(), max);

    let submit = move |e: FormEvent| {
        e.prevent_default();
        if busy() {
            return;
        }
        let chosen = if whole() { None } else { Some(lessons()) };
        if chosen.as_ref().is_some_and(|c| c.is_empty()) {
            error.set(Some(t(l, K::ChooseAtLeastOneLesson).to_string()));
            return;
        }
        let c = text().trim().to_string();
        if domain::absence::check_absence_comment(Some(&c)).is_err() {
            error.set(Some(t(l, K::ErrCommentTooLong).to_string()));
            return;
        }
        busy.set(true);
        error.set(None);
        spawn(async move {
            match api::report_absence(id, day, chosen, (!c.is_empty()).then_some(c)).await {
                Ok(_) => {
                    if let Some(a) = resend {
                        let _ = api::dismiss_attention(a).await;
                    }
                    text.set(String::new());
                    lessons.set(Vec::new());
                    ctx.saved(K::AbsenceSaved);
                }
                Err(err) => error.set(Some(ctx.err_text(&err))),
            }
            busy.set(false);
        });
    };

    let day_opt = |n: u8, label: K, d: NaiveDate| {
        let status = logic::absence_on(&v.history, d).map(|a| status_of(a.absence.status, a.pending));
        let cls = match status {
            Some("reported") | Some("pending") => "seg-dot dot-red",
            Some("confirmed") => "seg-dot dot-grey",
            _ => "seg-dot dot-green",
        };
        let input_id = format!("absence-day-{n}");
        rsx! {
            label { class: if which() == n { "seg seg-on" } else { "seg" }, r#for: "{input_id}",
                input {
                    r#type: "radio", name: "absence-day", id: "{input_id}", value: "{iso(d)}",
                    checked: which() == n,
                    onchange: move |_| { which.set(n); lessons.set(Vec::new()); },
                }
                span { class: "{cls}", "aria-hidden": "true" }
                span { class: "seg-title", {t(l, label)} }
                span { class: "seg-sub", {fmt_date(l, d)} }
            }
        }
    };

    rsx! {
        section { class: "card",
            h2 { {t(l, K::AbsenceTitle)} }
            p { class: "lead", {tf(l, K::AbsenceLead, &[("name", &child.first_name)])} }
            form { onsubmit: submit, id: "absence-form", novalidate: true,
                fieldset { class: "field",
                    legend { {t(l, K::AbsenceDay)} }
                    div { class: "segmented", role: "radiogroup",
                        {day_opt(0, K::Today, v.today)}
                        {day_opt(1, K::Tomorrow, v.tomorrow)}
                    }
                }
                if let Some(a) = existing.clone() {
                    div { class: "notice notice-info", id: "absence-already",
                        Icon { i: Ico::Check, size: 20 }
                        p { {t(l, K::AlreadyReported)} }
                        span { class: "pill pill-{status_of(a.absence.status, a.pending)}", {status_text(l, a.absence.status, a.pending)} }
                    }
                } else {
                    if v.lessons_possible {
                        fieldset { class: "field",
                            legend { {t(l, K::ChooseLessons)} }
                            div { class: "radio-row",
                                label { class: "check",
                                    input { r#type: "radio", name: "absence-scope", id: "scope-whole", checked: whole(), onchange: move |_| whole.set(true) }
                                    span { {t(l, K::WholeDay)} }
                                }
                                label { class: "check",
                                    input { r#type: "radio", name: "absence-scope", id: "scope-lessons", checked: !whole(), onchange: move |_| whole.set(false) }
                                    span { {t(l, K::ChosenLessons)} }
                                }
                            }
                            if !whole() {
                                if day_lessons.is_empty() {
                                    p { class: "muted", {t(l, K::NoLessonsThatDay)} }
                                } else {
                                    ul { class: "lesson-list",
                                        for les in day_lessons.iter().cloned() {
                                            {
                                                let lid = les.id;
                                                let on = lessons().contains(&lid);
                                                rsx! {
                                                    li { key: "{lid}",
                                                        label { class: "check lesson",
                                                            input {
                                                                r#type: "checkbox", checked: on, id: "lesson-{lid}",
                                                                onchange: move |_| {
                                                                    let mut cur = lessons();
                                                                    if let Some(p) = cur.iter().position(|x| *x == lid) { cur.remove(p); } else { cur.push(lid); }
                                                                    lessons.set(cur);
                                                                },
                                                            }
                                                            span { class: "lesson-time", {format!("{}–{}", les.start, les.end)} }
                                                            span { class: "lesson-subject", {les.subject.clone()} }
                                                            span { class: "muted small", {les.room.clone()} }
                                                        }
                                                    }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    } else {
                        p { class: "pill-line", Icon { i: Ico::Check, size: 18 } {t(l, K::WholeDay)} }
                    }
                    div { class: "field",
                        label { r#for: "absence-comment", {t(l, K::AbsenceComment)} }
                        textarea {
                            id: "absence-comment", rows: "3", maxlength: "{max}", value: "{text}",
                            placeholder: t(l, K::AbsenceCommentHelp),
                            "aria-describedby": "gdpr-reminder absence-left",
                            oninput: move |e| text.set(e.value()),
                        }
                        div { class: "field-foot",
                            p { class: "gdpr", id: "gdpr-reminder",
                                Icon { i: Ico::Info, size: 16 }
                                span { {t(l, K::GdprReminder)} }
                            }
                            span { class: if left < 0 { "counter over" } else { "counter" }, id: "absence-left", {tf(l, K::CharsLeft, &[("n", &left.to_string())])} }
                        }
                        if !preschool {
                            // R-ABS-2 names the comment for preschool; schools take it too.
                        }
                    }
                    if let Some(msg) = error() {
                        div { class: "notice notice-error", role: "alert", id: "absence-error", Icon { i: Ico::Alert, size: 20 } p { {msg} } }
                    }
                    button { r#type: "submit", class: "btn btn-primary btn-block", id: "report-absence", disabled: busy(),
                        if busy() { {t(l, K::Reporting)} } else { {t(l, K::ReportAbsence)} }
                    }
                }
            }
            p { class: "note", id: "absence-via-school", Icon { i: Ico::Info, size: 16 } span { {t(l, K::AbsenceChangeViaSchool)} } }
        }
        section { class: "card",
            h2 { {t(l, K::AbsenceHistory)} }
            if v.history.is_empty() {
                p { class: "muted", {t(l, K::NoAbsences)} }
            } else {
                ul { class: "history", id: "absence-history",
                    for item in v.history.iter().cloned() {
                        {
                            let st = status_of(item.absence.status, item.pending);
                            let scope = match &item.absence.lessons {
                                Some(ls) if !ls.is_empty() => tf(l, K::LessonsCount, &[("n", &ls.len().to_string())]),
                                _ => t(l, K::WholeDay).to_string(),
                            };
                            rsx! {
                                li { class: "history-item status-{st}", key: "{item.absence.id}", "data-date": "{iso(item.absence.date)}", "data-status": "{st}",
                                    span { class: "status-bar", "aria-hidden": "true" }
                                    div { class: "history-main",
                                        p { class: "history-date", {fmt_date_long(l, item.absence.date)} }
                                        p { class: "muted small",
                                            {scope}
                                            " · "
                                            {tf(l, K::ReportedBy, &[("name", &item.absence.reported_by_name)])}
                                        }
                                        if let Some(c) = item.absence.comment.clone() {
                                            p { class: "history-comment", "”" {c} "”" }
                                        }
                                    }
                                    span { class: "pill pill-{st}", {status_text(l, item.absence.status, item.pending)} }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn status_of(s: AbsenceStatus, pending: bool) -> &'static str {
    if pending {
        "pending"
    } else {
        match s {
            AbsenceStatus::Reported => "reported",
            AbsenceStatus::Confirmed => "confirmed",
        }
    }
}

fn status_text(l: Locale, s: AbsenceStatus, pending: bool) -> &'static str {
    if pending {
        return t(l, K::StatusPending);
    }
    match s {
        AbsenceStatus::Reported => t(l, K::StatusReported),
        AbsenceStatus::Confirmed => t(l, K::StatusConfirmed),
    }
}

// ---------------------------------------------------------------- care week (R-CARE-1…7)

#[component]
pub fn CareScreen(child: ChildInfo, week: Option<NaiveDate>) -> Element {
    let ctx = use_context::<Ctx>();
    let l = ctx.l();
    let id = child.id;
    let this_monday = domain::time::monday_of(today(&(ctx.status)()));
    let monday = week.unwrap_or(this_monday);
    let view = use_resource(use_reactive!(|(monday, id)| {
        let _ = (ctx.rev)();
        async move { api::care_week(id, monday).await }
    }));
    let mut opened = use_signal(|| None::<NaiveDate>);
    let data = view.read().clone();
    let title = box_name(l, BoxKind::CareSchedule, child.unit.kind);
    rsx! {
        section { class: "card",
            h2 { {title} }
            p { class: "lead", {tf(l, if child.unit.kind == UnitKind::Preschool { K::CareLead } else { K::CareLeadSchool }, &[("name", &child.first_name)])} }
            div { class: "week-nav",
                button { class: "icon-btn", id: "prev-week", aria_label: t(l, K::PrevWeek), title: t(l, K::PrevWeek),
                    onclick: move |_| ctx.go(Screen::Care { week: Some(monday - Duration::days(7)) }),
                    Icon { i: Ico::Left }
                }
                div { class: "week-label",
                    strong { id: "week-label", "data-week-start": "{iso(monday)}", {logic::fmt_week(l, monday)} }
                    if monday != this_monday {
                        button { class: "link small", id: "this-week", onclick: move |_| ctx.go(Screen::Care { week: None }), {t(l, K::ThisWeek)} }
                    }
                }
                button { class: "icon-btn", id: "next-week", aria_label: t(l, K::NextWeek), title: t(l, K::NextWeek),
                    onclick: move |_| ctx.go(Screen::Care { week: Some(monday + Duration::days(7)) }),
                    Icon { i: Ico::Right }
                }
            }
        }
        match data {
            None => rsx! { Loading {} },
            Some(Err(e)) => rsx! { ErrorBox { err: e } },
            Some(Ok(w)) => rsx! {
                if !w.editable {
                    div { class: "notice notice-info", Icon { i: Ico::Info, size: 20 } p { {t(l, K::CareNotEditable)} } }
                }
                ul { class: "days", id: "care-days",
                    for d in w.days.iter().cloned() {
                        DayRow { key: "{d.date}", day: d.clone(), editable: w.editable, open: opened() == Some(d.date),
                            on_toggle: move |date: NaiveDate| opened.set(if opened() == Some(date) { None } else { Some(date) }) }
                    }
                }
                if w.editable {
                    if w.week_editable {
                        button { class: "btn btn-block", id: "edit-week",
                            onclick: move |_| ctx.go(Screen::WeekEdit { week_start: monday, resend: None }),
                            Icon { i: Ico::Calendar, size: 20 } {t(l, K::EditWeek)}
                        }
                    } else {
                        p { class: "note", id: "week-not-editable", Icon { i: Ico::Info, size: 16 } span { {t(l, K::WeekNotEditable)} } }
                    }
                }
            },
        }
    }
}

#[component]
fn DayRow(day: CareDayView, editable: bool, open: bool, on_toggle: EventHandler<NaiveDate>) -> Element {
    let ctx = use_context::<Ctx>();
    let l = ctx.l();
    let date = day.date;
    let can_edit = editable && !day.locked && !day.closed;
    let mut cls = vec!["day"];
    if day.closed {
        cls.push("day-closed");
    }
    if day.locked && !day.closed {
        cls.push("day-locked");
    }
    if day.pending {
        cls.push("day-pending");
    }
    if date == today(&(ctx.status)()) {
        cls.push("day-today");
    }
    let cls = cls.join(" ");
    let hours = match (day.opens, day.closes) {
        (Some(o), Some(c)) if !day.closed => tf(l, K::OpeningHours, &[("from", &o.to_string()), ("to", &c.to_string())]),
        _ => t(l, K::ClosedDay).to_string(),
    };
    let times = if day.intervals.is_empty() { t(l, K::NotRegistered).to_string() } else { fmt_intervals(&day.intervals) };
    let wd = i18n::weekday_short(l, day.weekday);
    let state = if day.closed { "closed" } else if day.locked { "locked" } else { "open" };
    rsx! {
        li { class: "{cls}", id: "day-{iso(date)}", "data-date": "{iso(date)}", "data-state": "{state}", "data-pending": "{day.pending}",
            div { class: "day-date",
                span { class: "day-wd", {wd} }
                span { class: "day-num", {date.day().to_string()} }
            }
            div { class: "day-body",
                p { class: if day.intervals.is_empty() { "day-times none" } else { "day-times" }, {times} }
                p { class: "day-hours", {hours} }
                if let Some(c) = day.comment.clone() {
                    p { class: "bubble", title: t(l, K::CommentBubble),
                        Icon { i: Ico::Bubble, size: 16 }
                        span { class: "sr-only", {t(l, K::CommentBubble)} ": " }
                        span { {c} }
                    }
                }
                for c in day.comments.iter().cloned() {
                    p { class: "bubble bubble-staff", key: "{c.id}",
                        Icon { i: Ico::Bubble, size: 16 }
                        strong { {tf(l, K::CommentBy, &[("name", &c.author_name)])} }
                        " "
                        span { {c.text.clone()} }
                    }
                }
                if day.updated_by_other {
                    if let Some(n) = day.updated_by_name.clone() {
                        p { class: "changed-by", id: "changed-by-{iso(date)}", Icon { i: Ico::Users, size: 14 } {tf(l, K::ChangedByOther, &[("name", &n)])} }
                    }
                }
                if day.pending {
                    p { class: "pending-tag", Icon { i: Ico::Refresh, size: 14 } {t(l, K::PendingChange)} }
                }
                if open && day.locked && !day.closed {
                    p { class: "locked-help", role: "note", id: "locked-help-{iso(date)}", {t(l, K::LockedHelp)} }
                }
            }
            div { class: "day-action",
                if can_edit {
                    button { class: "btn btn-small", id: "edit-{iso(date)}",
                        aria_label: "{t(l, K::EditDay)} {fmt_date_long(l, date)}",
                        onclick: move |_| ctx.go(Screen::DayEdit { date, prefill: None, resend: None }),
                        Icon { i: Ico::Edit, size: 16 } {t(l, K::EditDay)}
                    }
                } else if day.locked && !day.closed && editable {
                    button { class: "btn btn-small btn-locked", id: "locked-{iso(date)}",
                        aria_expanded: "{open}",
                        aria_label: "{t(l, K::LockedDay)}: {fmt_date_long(l, date)}",
                        onclick: move |_| on_toggle.call(date),
                        Icon { i: Ico::Lock, size: 16 } {t(l, K::LockedDay)}
                    }
                }
            }
        }
    }
}

#[component]
pub fn DayEditor(child: ChildInfo, date: NaiveDate, prefill: Option<DayForm>, resend: Option<Uuid>) -> Element {
    let ctx = use_context::<Ctx>();
    let l = ctx.l();
    let id = child.id;
    let monday = domain::time::monday_of(date);
    let view = use_resource(move || async move { api::care_week(id, monday).await });
    let mut form = use_signal(|| prefill.clone());
    let mut busy = use_signal(|| false);
    let mut error = use_signal(|| None::<String>);

    let data = view.read().clone();
    let w: CareWeekView = match data {
        None => return rsx! { Loading {} },
        Some(Err(e)) => return rsx! { ErrorBox { err: e } },
        Some(Ok(w)) => w,
    };
    let Some(day) = w.days.iter().find(|d| d.date == date).cloned() else {
        return rsx! { Loading {} };
    };
    if form().is_none() {
        form.set(Some(DayForm::from_day(&day)));
    }
    let f = form().unwrap_or_default();
    let (opens, closes) = (day.opens, day.closes);
    let hours = match (opens, closes) {
        (Some(o), Some(c)) => tf(l, K::OpeningHours, &[("from", &o.to_string()), ("to", &c.to_string())]),
        _ => t(l, K::ClosedDay).to_string(),
    };
    let mut set = move |edit: &dyn Fn(&mut DayForm)| {
        let mut cur = form().unwrap_or_default();
        edit(&mut cur);
        form.set(Some(cur));
    };
    let back = Screen::Care { week: Some(monday) };
    let back2 = back.clone();
    let back3 = back.clone();

    let submit = move |e: FormEvent| {
        e.prevent_default();
        if busy() {
            return;
        }
        let cur = form().unwrap_or_default();
        match cur.build(opens, closes) {
            Err(k) => {
                let msg = match (k, opens, closes) {
                    (K::ErrOutsideHours, Some(o), Some(c)) => tf(l, k, &[("from", &o.to_string()), ("to", &c.to_string())]),
                    _ => t(l, k).to_string(),
                };
                error.set(Some(msg));
            }
            Ok((intervals, comment)) => {
                busy.set(true);
                error.set(None);
                let back = back.clone();
                spawn(async move {
                    match api::set_care_day(id, date, intervals, comment).await {
                        Ok(_) => {
                            if let Some(a) = resend {
                                let _ = api::dismiss_attention(a).await;
                            }
                            ctx.saved(K::DaySaved);
                            ctx.go(back);
                        }
                        Err(err) => error.set(Some(ctx.err_text(&err))),
                    }
                    busy.set(false);
                });
            }
        }
    };
    let clear = move |_| {
        let back = back2.clone();
        spawn(async move {
            match api::clear_care_day(id, date).await {
                Ok(()) => {
                    if let Some(a) = resend {
                        let _ = api::dismiss_attention(a).await;
                    }
                    ctx.saved(K::DaySaved);
                    ctx.go(back);
                }
                Err(err) => error.set(Some(ctx.err_text(&err))),
            }
        });
    };
    let locked = day.locked || day.closed;

    rsx! {
        section { class: "card", id: "day-editor", "data-date": "{iso(date)}",
            h2 { {tf(l, K::EditDayTitle, &[("date", &fmt_date_long(l, date))])} }
            p { class: "muted", Icon { i: Ico::Clock, size: 16 } " " {hours} }
            if locked {
                div { class: "notice notice-locked", role: "alert", id: "day-locked-notice",
                    Icon { i: Ico::Lock, size: 20 }
                    p { {if day.closed { t(l, K::ReasonUnitClosed) } else { t(l, K::LockedHelp) }} }
                }
            }
            form { onsubmit: submit, novalidate: true,
                fieldset { class: "field interval", disabled: locked,
                    legend { {t(l, K::Interval1)} }
                    div { class: "time-pair",
                        TimeField { id: "from-1", label: t(l, K::From), value: f.from1.clone(), on_input: move |v: String| set(&move |f: &mut DayForm| f.from1 = v.clone()) }
                        span { class: "dash", "aria-hidden": "true", "–" }
                        TimeField { id: "to-1", label: t(l, K::To), value: f.to1.clone(), on_input: move |v: String| set(&move |f: &mut DayForm| f.to1 = v.clone()) }
                    }
                }
                if f.two {
                    fieldset { class: "field interval", disabled: locked,
                        legend { {t(l, K::Interval2)} }
                        div { class: "time-pair",
                            TimeField { id: "from-2", label: t(l, K::From), value: f.from2.clone(), on_input: move |v: String| set(&move |f: &mut DayForm| f.from2 = v.clone()) }
                            span { class: "dash", "aria-hidden": "true", "–" }
                            TimeField { id: "to-2", label: t(l, K::To), value: f.to2.clone(), on_input: move |v: String| set(&move |f: &mut DayForm| f.to2 = v.clone()) }
                        }
                        button { r#type: "button", class: "link small", id: "remove-interval", disabled: locked,
                            onclick: move |_| set(&|f: &mut DayForm| { f.two = false; f.from2.clear(); f.to2.clear(); }),
                            Icon { i: Ico::Trash, size: 14 } {t(l, K::RemoveInterval)}
                        }
                    }
                } else {
                    button { r#type: "button", class: "link", id: "add-interval", disabled: locked,
                        onclick: move |_| set(&|f: &mut DayForm| f.two = true),
                        Icon { i: Ico::Plus, size: 16 } {t(l, K::AddInterval)}
                    }
                }
                div { class: "field",
                    label { r#for: "day-comment", {t(l, K::CareComment)} }
                    textarea { id: "day-comment", rows: "2", value: "{f.comment}", disabled: locked,
                        placeholder: t(l, K::CareCommentHelp),
                        oninput: move |e: FormEvent| { let v = e.value(); set(&move |f: &mut DayForm| f.comment = v.clone()) },
                    }
                }
                if !day.comments.is_empty() {
                    div { class: "field",
                        p { class: "label", {t(l, K::StaffComments)} }
                        for c in day.comments.iter().cloned() {
                            p { class: "bubble bubble-staff", key: "{c.id}",
                                Icon { i: Ico::Bubble, size: 16 }
                                strong { {tf(l, K::CommentBy, &[("name", &c.author_name)])} }
                                " " span { {c.text.clone()} }
                            }
                        }
                    }
                }
                if let Some(n) = day.updated_by_name.clone() {
                    p { class: "muted small", id: "day-updated-by", {tf(l, K::ChangedBy, &[("name", &n)])} }
                }
                if let Some(msg) = error() {
                    div { class: "notice notice-error", role: "alert", id: "day-error", Icon { i: Ico::Alert, size: 20 } p { {msg} } }
                }
                div { class: "btn-row",
                    button { r#type: "button", class: "btn", id: "cancel-day", onclick: move |_| ctx.go(back3.clone()), {t(l, K::Cancel)} }
                    button { r#type: "submit", class: "btn btn-primary", id: "save-day", disabled: busy() || locked,
                        if busy() { {t(l, K::Saving)} } else { {t(l, K::Save)} }
                    }
                }
                if !day.intervals.is_empty() && !locked {
                    button { r#type: "button", class: "link danger", id: "clear-day", onclick: clear,
                        Icon { i: Ico::Trash, size: 16 } {t(l, K::ClearDay)}
                    }
                }
            }
        }
    }
}

#[component]
fn TimeField(id: String, label: String, value: String, on_input: EventHandler<String>) -> Element {
    rsx! {
        div { class: "time-field",
            label { r#for: "{id}", {label} }
            input {
                id: "{id}", r#type: "text", inputmode: "numeric", autocomplete: "off",
                placeholder: "07:30", maxlength: "5", pattern: "[0-9]{{1,2}}[:.]?[0-9]{{2}}",
                value: "{value}",
                oninput: move |e: FormEvent| on_input.call(e.value()),
            }
        }
    }
}

#[component]
pub fn WeekEditor(child: ChildInfo, week_start: NaiveDate, resend: Option<Uuid>) -> Element {
    let ctx = use_context::<Ctx>();
    let l = ctx.l();
    let id = child.id;
    let view = use_resource(move || async move { api::care_week(id, week_start).await });
    let mut form = use_signal(|| None::<WeekForm>);
    let mut busy = use_signal(|| false);
    let mut error = use_signal(|| None::<String>);
    let data = view.read().clone();
    let w = match data {
        None => return rsx! { Loading {} },
        Some(Err(e)) => return rsx! { ErrorBox { err: e } },
        Some(Ok(w)) => w,
    };
    if form().is_none() {
        form.set(Some(WeekForm::from_week(&w.days)));
    }
    let f = form().unwrap_or_default();
    let mut edit = move |g: &dyn Fn(&mut WeekForm)| {
        let mut cur = form().unwrap_or_default();
        g(&mut cur);
        form.set(Some(cur));
    };
    let back = Screen::Care { week: Some(week_start) };
    let back2 = back.clone();
    let submit = move |e: FormEvent| {
        e.prevent_default();
        if busy() {
            return;
        }
        let cur = form().unwrap_or_default();
        match cur.build(week_start) {
            Err(k) => {
                let msg = if k == K::ErrOutsideHours {
                    let r = cur.rows.iter().find(|r| r.on && r.opens.is_some());
                    let (o, c) = r.map(|r| (r.opens.map(|x| x.to_string()).unwrap_or_default(), r.closes.map(|x| x.to_string()).unwrap_or_default())).unwrap_or_default();
                    tf(l, k, &[("from", &o), ("to", &c)])
                } else {
                    t(l, k).to_string()
                };
                error.set(Some(msg));
            }
            Ok((days, repeat)) => {
                busy.set(true);
                error.set(None);
                let back = back.clone();
                spawn(async move {
                    match api::set_care_week(id, week_start, days, repeat).await {
                        Ok(()) => {
                            if let Some(a) = resend {
                                let _ = api::dismiss_attention(a).await;
                            }
                            ctx.saved(K::WeekSaved);
                            ctx.go(back);
                        }
                        Err(err) => error.set(Some(ctx.err_text(&err))),
                    }
                    busy.set(false);
                });
            }
        }
    };
    let same_times = move |_| {
        edit(&|f: &mut WeekForm| {
            if let Some(src) = f.rows.iter().find(|r| r.on && !r.from.is_empty()).cloned() {
                for r in f.rows.iter_mut().filter(|r| r.on) {
                    r.from = src.from.clone();
                    r.to = src.to.clone();
                }
            }
        })
    };
    let mode = f.mode;
    rsx! {
        section { class: "card", id: "week-editor", "data-week-start": "{iso(week_start)}",
            h2 { {tf(l, K::EditWeekTitle, &[("date", &fmt_date(l, week_start))])} }
            if !w.week_editable {
                div { class: "notice notice-locked", role: "alert", Icon { i: Ico::Lock, size: 20 } p { {t(l, K::WeekNotEditable)} } }
            }
            form { onsubmit: submit, novalidate: true,
                ul { class: "week-rows",
                    for (i, r) in f.rows.iter().cloned().enumerate() {
                        li { class: if r.on { "week-row" } else { "week-row off" }, key: "{r.weekday}",
                            label { class: "check week-day",
                                input { r#type: "checkbox", id: "wd-{r.weekday}", checked: r.on,
                                    onchange: move |e: FormEvent| { let on = e.checked(); edit(&move |f: &mut WeekForm| f.rows[i].on = on) },
                                }
                                span { {i18n::weekday_long(l, r.weekday)} }
                            }
                            if r.on {
                                div { class: "time-pair",
                                    TimeField { id: "wd-{r.weekday}-from", label: t(l, K::From), value: r.from.clone(),
                                        on_input: move |v: String| edit(&move |f: &mut WeekForm| f.rows[i].from = v.clone()) }
                                    span { class: "dash", "aria-hidden": "true", "–" }
                                    TimeField { id: "wd-{r.weekday}-to", label: t(l, K::To), value: r.to.clone(),
                                        on_input: move |v: String| edit(&move |f: &mut WeekForm| f.rows[i].to = v.clone()) }
                                }
                            } else {
                                span { class: "muted", {t(l, K::WeekDayOff)} }
                            }
                        }
                    }
                }
                button { r#type: "button", class: "link", id: "same-times", onclick: same_times, Icon { i: Ico::Refresh, size: 16 } {t(l, K::UseSameTimes)} }
                fieldset { class: "field repeat",
                    legend { {t(l, K::RepeatTitle)} }
                    label { class: "check",
                        input { r#type: "radio", name: "repeat", id: "repeat-none", checked: mode == RepeatMode::None,
                            onchange: move |_| edit(&|f: &mut WeekForm| f.mode = RepeatMode::None) }
                        span { {t(l, K::RepeatNone)} }
                    }
                    label { class: "check",
                        input { r#type: "radio", name: "repeat", id: "repeat-count", checked: mode == RepeatMode::Count,
                            onchange: move |_| edit(&|f: &mut WeekForm| f.mode = RepeatMode::Count) }
                        span { {t(l, K::RepeatEvery)} " · " {t(l, K::RepeatEndCount)} }
                    }
                    label { class: "check",
                        input { r#type: "radio", name: "repeat", id: "repeat-until", checked: mode == RepeatMode::Until,
                            onchange: move |_| edit(&|f: &mut WeekForm| f.mode = RepeatMode::Until) }
                        span { {t(l, K::RepeatEvery)} " · " {t(l, K::RepeatEndUntil)} }
                    }
                    if mode != RepeatMode::None {
                        div { class: "repeat-grid",
                            div { class: "field",
                                label { r#for: "repeat-every", {t(l, K::RepeatEveryWeeks)} }
                                div { class: "with-unit",
                                    input { id: "repeat-every", r#type: "number", min: "1", max: "52", inputmode: "numeric", value: "{f.every}",
                                        oninput: move |e: FormEvent| { let v = e.value(); edit(&move |f: &mut WeekForm| f.every = v.clone()) } }
                                    span { class: "unit", {if l == Locale::Sv { ":e vecka" } else { "week(s)" }} }
                                }
                            }
                            if mode == RepeatMode::Count {
                                div { class: "field",
                                    label { r#for: "repeat-count-n", {t(l, K::RepeatWeeksCount)} }
                                    input { id: "repeat-count-n", r#type: "number", min: "1", max: "52", inputmode: "numeric", value: "{f.count}",
                                        oninput: move |e: FormEvent| { let v = e.value(); edit(&move |f: &mut WeekForm| f.count = v.clone()) } }
                                }
                            } else {
                                div { class: "field",
                                    label { r#for: "repeat-until-date", {t(l, K::RepeatUntilDate)} }
                                    input { id: "repeat-until-date", r#type: "text", inputmode: "numeric", placeholder: "2027-06-15", value: "{f.until}",
                                        oninput: move |e: FormEvent| { let v = e.value(); edit(&move |f: &mut WeekForm| f.until = v.clone()) } }
                                }
                            }
                        }
                    }
                }
                if let Some(msg) = error() {
                    div { class: "notice notice-error", role: "alert", id: "week-error", Icon { i: Ico::Alert, size: 20 } p { {msg} } }
                }
                div { class: "btn-row",
                    button { r#type: "button", class: "btn", id: "cancel-week", onclick: move |_| ctx.go(back2.clone()), {t(l, K::Cancel)} }
                    button { r#type: "submit", class: "btn btn-primary", id: "save-week", disabled: busy() || !w.week_editable,
                        if busy() { {t(l, K::Saving)} } else { {t(l, K::Save)} }
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------- sync: pending and needs attention

#[component]
pub fn SyncScreen() -> Element {
    let ctx = use_context::<Ctx>();
    let l = ctx.l();
    let lists = use_resource(move || {
        let _ = (ctx.rev)();
        let _ = (ctx.status)();
        async move {
            let outbox = api::outbox().await;
            let attention = api::needs_attention().await;
            (outbox, attention)
        }
    });
    let mut busy = use_signal(|| false);
    let status = (ctx.status)();
    let kids = ctx.children();
    let data = lists.read().clone();
    let last = status
        .last_sync
        .map(|at| tf(l, K::LastSync, &[("time", &logic::fmt_datetime(l, at))]))
        .unwrap_or_else(|| t(l, K::NeverSynced).to_string());
    let sync = move |_| {
        busy.set(true);
        spawn(async move {
            let mut st = ctx.status;
            if let Ok(s) = api::sync_now().await {
                st.set(s);
            } else if let Ok(s) = api::sync_status().await {
                st.set(s);
            }
            ctx.changed();
            busy.set(false);
        });
    };
    rsx! {
        section { class: "card status-card",
            div { class: if status.online { "status-line on" } else { "status-line off" }, id: "sync-state",
                Icon { i: if status.online { Ico::Cloud } else { Ico::CloudOff }, size: 28 }
                div {
                    p { class: "status-word", {if status.online { t(l, K::Online) } else { t(l, K::Offline) }} }
                    p { class: "muted small", {last} }
                }
            }
            button { class: "btn", id: "sync-now", disabled: busy(), onclick: sync, Icon { i: Ico::Refresh, size: 18 } {t(l, K::SyncNow)} }
        }
        match data {
            None => rsx! { Loading {} },
            Some((outbox, attention)) => rsx! {
                section { class: "card", id: "attention",
                    h2 { {t(l, K::AttentionTitle)} }
                    match attention {
                        Err(e) => rsx! { ErrorBox { err: e } },
                        Ok(items) if items.is_empty() => rsx! { p { class: "muted", {t(l, K::NothingNeedsAttention)} } },
                        Ok(items) => rsx! {
                            p { class: "lead", {t(l, K::AttentionLead)} }
                            ul { class: "attention-list", id: "attention-list",
                                for item in items.iter().cloned() {
                                    AttentionRow { key: "{item.id}", item, kids: kids.clone() }
                                }
                            }
                        },
                    }
                }
                section { class: "card", id: "pending",
                    h2 { {t(l, K::PendingTitle)} }
                    match outbox {
                        Err(e) => rsx! { ErrorBox { err: e } },
                        Ok(items) if items.is_empty() => rsx! { p { class: "muted", id: "nothing-pending", {t(l, K::NothingPending)} } },
                        Ok(items) => rsx! {
                            ul { class: "pending-list", id: "pending-list",
                                for item in items.iter().cloned() {
                                    li { class: "pending-item", key: "{item.id}", "data-name": "{item.name}",
                                        Icon { i: Ico::Refresh, size: 18 }
                                        div {
                                            p { class: "item-title", {logic::describe_mutation(l, &item.name, &item.args, &kids)} }
                                            if let Some(d) = logic::mutation_detail(&item.args) {
                                                p { class: "muted small", {d} }
                                            }
                                            p { class: "muted small",
                                                {tf(l, K::QueuedAt, &[("time", &logic::fmt_datetime(l, item.created_at))])}
                                                if item.attempts > 0 {
                                                    " · " {tf(l, K::Attempts, &[("n", &item.attempts.to_string())])}
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        },
                    }
                }
            },
        }
    }
}

#[component]
fn AttentionRow(item: AttentionItem, kids: Vec<ChildInfo>) -> Element {
    let ctx = use_context::<Ctx>();
    let l = ctx.l();
    let id = item.id;
    let resend = logic::resend_of(&item.name, &item.args);
    let locked = item.code == domain::RejectCode::DayLocked;
    let dismiss = move |_| {
        spawn(async move {
            if let Err(e) = api::dismiss_attention(id).await {
                ctx.say(ctx.err_text(&e));
            }
            ctx.changed();
        });
    };
    let edit = move |_| {
        let Some(r) = resend.clone() else { return };
        let mut child = ctx.child;
        match r {
            logic::Resend::CareDay { child_id, date, intervals, comment } => {
                child.set(Some(child_id));
                ctx.go(Screen::DayEdit { date, prefill: Some(DayForm::from_parts(&intervals, comment.as_deref())), resend: Some(id) });
            }
            logic::Resend::CareWeek { child_id, week_start } => {
                child.set(Some(child_id));
                ctx.go(Screen::WeekEdit { week_start, resend: Some(id) });
            }
            logic::Resend::Absence { child_id, date, comment } => {
                child.set(Some(child_id));
                ctx.go(Screen::Absence { date: Some(date), comment, resend: Some(id) });
            }
        }
    };
    let can_resend = logic::resend_of(&item.name, &item.args).is_some();
    rsx! {
        li { class: "attention-item", "data-code": "{item.code.as_str()}", "data-name": "{item.name}",
            div { class: "attention-head",
                Icon { i: Ico::Alert, size: 20 }
                p { class: "item-title", {logic::describe_mutation(l, &item.name, &item.args, &kids)} }
            }
            if let Some(d) = logic::mutation_detail(&item.args) {
                p { class: "muted small", {d} }
            }
            p { class: "reason",
                strong { {t(l, K::Reason)} ": " }
                span { class: "reason-text", {i18n::reason(l, item.code)} }
            }
            p { class: "muted small", {t(l, K::WhatToDo)} " " {if locked { t(l, K::WhatToDoLocked) } else { t(l, K::WhatToDoEdit) }} }
            div { class: "btn-row",
                if can_resend {
                    button { class: "btn btn-small", id: "resend-{id}", onclick: edit, Icon { i: Ico::Edit, size: 16 } {t(l, K::EditResend)} }
                }
                button { class: "btn btn-small btn-quiet", id: "dismiss-{id}", onclick: dismiss, {t(l, K::Dismiss)} }
            }
        }
    }
}

// ---------------------------------------------------------------- bell (R-NOT-1)

#[component]
pub fn BellScreen(child: ChildInfo) -> Element {
    let ctx = use_context::<Ctx>();
    let l = ctx.l();
    let id = child.id;
    let list = use_resource(move || {
        let _ = (ctx.rev)();
        async move { api::notifications(Some(id)).await }
    });
    let data = list.read().clone();
    rsx! {
        match data {
            None => rsx! { Loading {} },
            Some(Err(e)) => rsx! { ErrorBox { err: e } },
            Some(Ok(items)) => {
                let unread: Vec<Uuid> = items.iter().filter(|n| !n.read).map(|n| n.id).collect();
                rsx! {
                    section { class: "card",
                        div { class: "card-head",
                            h2 { {t(l, K::NotificationsTitle)} }
                            if !unread.is_empty() {
                                button { class: "link small", id: "mark-all-read",
                                    onclick: move |_| { let ids = unread.clone(); spawn(async move { let _ = api::mark_notifications_read(ids).await; ctx.changed(); }); },
                                    {t(l, K::MarkAllRead)}
                                }
                            }
                        }
                        if items.is_empty() {
                            p { class: "muted", {t(l, K::NoNotifications)} }
                        } else {
                            ul { class: "notif-list", id: "notifications",
                                for n in items.iter().cloned() {
                                    {
                                        let nid = n.id;
                                        let target = match n.item_type.as_str() {
                                            "talk_slot" | "talk_booking" => Screen::Talks,
                                            "absence" => Screen::Absence { date: None, comment: None, resend: None },
                                            _ => Screen::Info,
                                        };
                                        rsx! {
                                            li { key: "{nid}",
                                                button { class: if n.read { "notif" } else { "notif unread" },
                                                    onclick: move |_| { let target = target.clone(); spawn(async move { let _ = api::mark_notifications_read(vec![nid]).await; ctx.changed(); ctx.go(target); }); },
                                                    span { class: "notif-dot", "aria-hidden": "true" }
                                                    div {
                                                        p { class: "item-title", {n.title.clone()} }
                                                        p { class: "muted small", {i18n::category(l, n.category)} " · " {logic::fmt_datetime(l, n.created_at)} }
                                                    }
                                                    if !n.read { span { class: "sr-only", {t(l, K::Unread)} } }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------- settings (R-NOT-2, R-ACC-6)

#[component]
pub fn SettingsScreen() -> Element {
    let ctx = use_context::<Ctx>();
    let l = ctx.l();
    let settings = use_resource(move || async move { api::settings().await });
    let data = settings.read().clone();
    let name = (ctx.session)().map(|s| s.user.display_name).unwrap_or_default();
    let save = move |s: Settings| {
        spawn(async move {
            let mut loc = ctx.locale;
            loc.set(s.locale);
            match api::set_settings(&s).await {
                Ok(()) => {
                    ctx.say(t(s.locale, K::SettingsSaved));
                    settings.clone().restart();
                }
                Err(e) => ctx.say(ctx.err_text(&e)),
            }
        });
    };
    let sign_out = move |_| {
        spawn(async move {
            let _ = api::sign_out().await;
            let mut c = ctx;
            c.session.set(None);
            c.child.set(None);
            c.screen.set(Screen::Home);
        });
    };
    rsx! {
        match data {
            None => rsx! { Loading {} },
            Some(Err(e)) => rsx! { ErrorBox { err: e } },
            Some(Ok(s)) => {
                let s2 = s.clone();
                rsx! {
                    section { class: "card",
                        h2 { {t(l, K::LanguageTitle)} }
                        div { class: "segmented", role: "radiogroup", aria_label: t(l, K::LanguageTitle),
                            for (loc, key, idv) in [(Locale::Sv, K::Swedish, "lang-sv"), (Locale::En, K::English, "lang-en")] {
                                {
                                    let s = s.clone();
                                    rsx! {
                                        label { class: if s.locale == loc { "seg seg-on" } else { "seg" }, r#for: "{idv}", key: "{idv}", lang: loc.as_str(),
                                            input { r#type: "radio", name: "language", id: "{idv}", checked: s.locale == loc,
                                                onchange: move |_| { let mut n = s.clone(); n.locale = loc; save(n); } }
                                            span { class: "seg-title", {t(l, key)} }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    section { class: "card",
                        h2 { {t(l, K::PushTitle)} }
                        p { class: "lead", {t(l, K::PushLead)} }
                        ul { class: "toggles", id: "push-toggles",
                            for c in NotificationCategory::ALL {
                                {
                                    let on = s2.push.get(&c).copied().unwrap_or(true);
                                    let s = s2.clone();
                                    let cid = format!("push-{}", serde_json::to_value(c).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default());
                                    rsx! {
                                        li { key: "{cid}",
                                            label { class: "toggle", r#for: "{cid}",
                                                span { {i18n::category(l, c)} }
                                                input { r#type: "checkbox", role: "switch", id: "{cid}", checked: on,
                                                    onchange: move |e: FormEvent| { let mut n = s.clone(); n.push.insert(c, e.checked()); save(n); } }
                                                span { class: "switch", "aria-hidden": "true" }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        section { class: "card",
            h2 { {t(l, K::AccountTitle)} }
            p { {tf(l, K::SignedInAs, &[("name", &name)])} }
            button { class: "btn", id: "sign-out", onclick: sign_out, Icon { i: Ico::Logout, size: 18 } {t(l, K::SignOut)} }
        }
    }
}

// ---------------------------------------------------------------- information, talks

#[component]
pub fn InfoScreen(child: ChildInfo) -> Element {
    let ctx = use_context::<Ctx>();
    let l = ctx.l();
    let id = child.id;
    let info = use_resource(move || {
        let _ = (ctx.rev)();
        async move { api::info(id).await }
    });
    let mut tab = use_signal(|| InfoTab::News);
    let data = info.read().clone();
    rsx! {
        match data {
            None => rsx! { Loading {} },
            Some(Err(e)) => rsx! { ErrorBox { err: e } },
            Some(Ok(v)) => {
                let items: Vec<_> = v.news.iter().filter(|n| n.tab == tab()).cloned().collect();
                rsx! {
                    section { class: "card",
                        h2 { {t(l, K::InfoTitle)} }
                        div { class: "tabs", role: "tablist",
                            for (tb, key) in [(InfoTab::News, K::News), (InfoTab::Files, K::Files), (InfoTab::Links, K::Links)] {
                                button { role: "tab", class: if tab() == tb { "tab on" } else { "tab" }, aria_selected: "{tab() == tb}",
                                    onclick: move |_| tab.set(tb), {t(l, key)} }
                            }
                        }
                        if items.is_empty() { p { class: "muted", {t(l, K::Nothing)} } }
                        for n in items {
                            article { class: "post", key: "{n.id}",
                                h3 { {n.title.clone()} }
                                p { class: "muted small", {logic::fmt_datetime(l, n.published_at)} }
                                p { {n.body.clone()} }
                                if let Some(u) = n.url.clone() { p { class: "small link-text", {u} } }
                            }
                        }
                    }
                    section { class: "card",
                        h2 { {t(l, K::CalendarTitle)} }
                        if v.calendar.is_empty() { p { class: "muted", {t(l, K::Nothing)} } }
                        ul { class: "cal-list",
                            for e in v.calendar.iter().cloned() {
                                li { key: "{e.id}", class: "cal-item",
                                    div { class: "cal-date", span { {i18n::weekday_short(l, e.date.weekday().number_from_monday() as u8)} } strong { {e.date.day().to_string()} } span { {i18n::month_short(l, e.date.month())} } }
                                    div {
                                        p { class: "item-title", {e.title.clone()} }
                                        if let (Some(s), Some(en)) = (e.start, e.end) { p { class: "muted small", {format!("{s}–{en}")} } }
                                        p { class: "small", {e.text.clone()} }
                                    }
                                }
                            }
                        }
                    }
                    section { class: "card",
                        h2 { {t(l, K::BlogTitle)} }
                        if v.blog.is_empty() { p { class: "muted", {t(l, K::Nothing)} } }
                        for b in v.blog.iter().cloned() {
                            article { class: "post", key: "{b.id}",
                                h3 { {b.title.clone()} }
                                p { class: "muted small", {b.author_name.clone()} " · " {logic::fmt_datetime(l, b.published_at)} }
                                p { {b.body.clone()} }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[component]
pub fn TalksScreen(child: ChildInfo) -> Element {
    let ctx = use_context::<Ctx>();
    let l = ctx.l();
    let id = child.id;
    let talks = use_resource(move || {
        let _ = (ctx.rev)();
        async move { api::talks(id).await }
    });
    let mut message = use_signal(String::new);
    let data = talks.read().clone();
    rsx! {
        match data {
            None => rsx! { Loading {} },
            Some(Err(e)) => rsx! { ErrorBox { err: e } },
            Some(Ok(v)) => rsx! {
                if !v.bookings.is_empty() {
                    section { class: "card",
                        h2 { {t(l, K::YourBooking)} }
                        for b in v.bookings.iter().cloned() {
                            div { class: "booking", key: "{b.booking.id}",
                                Icon { i: Ico::Calendar, size: 22 }
                                div {
                                    p { class: "item-title", {logic::fmt_datetime(l, b.slot.starts_at)} " · " {tf(l, K::MinutesShort, &[("n", &b.slot.minutes.to_string())])} }
                                    p { class: "muted small", {b.slot.teacher_name.clone()} " · " {b.slot.location.clone()} }
                                }
                                button { class: "btn btn-small btn-quiet", onclick: move |_| { let bid = b.booking.id; spawn(async move { match api::cancel_talk(bid).await { Ok(()) => ctx.saved(K::Done), Err(e) => ctx.say(ctx.err_text(&e)) } }); }, {t(l, K::CancelBooking)} }
                            }
                        }
                    }
                }
                section { class: "card",
                    h2 { {t(l, K::TalksTitle)} }
                    p { class: "lead", {t(l, K::TalksLead)} }
                    div { class: "field",
                        label { r#for: "talk-message", {t(l, K::TalkMessage)} }
                        textarea { id: "talk-message", rows: "2", value: "{message}", oninput: move |e| message.set(e.value()) }
                    }
                    if v.slots.is_empty() { p { class: "muted", {t(l, K::Nothing)} } }
                    ul { class: "slot-list",
                        for s in v.slots.iter().cloned() {
                            li { class: "slot", key: "{s.id}",
                                div {
                                    p { class: "item-title", {logic::fmt_datetime(l, s.starts_at)} }
                                    p { class: "muted small", {s.teacher_name.clone()} " · " {s.location.clone()} " · " {tf(l, K::MinutesShort, &[("n", &s.minutes.to_string())])} }
                                }
                                if s.taken {
                                    span { class: "pill pill-confirmed", {t(l, K::SlotTaken)} }
                                } else if v.bookings.is_empty() {
                                    button { class: "btn btn-small btn-primary", onclick: move |_| { let sid = s.id; let m = message().trim().to_string(); spawn(async move { match api::book_talk(sid, id, (!m.is_empty()).then_some(m)).await { Ok(()) => ctx.saved(K::Done), Err(e) => ctx.say(ctx.err_text(&e)) } }); }, {t(l, K::BookTalk)} }
                                } else {
                                    span { class: "pill", {t(l, K::SlotFree)} }
                                }
                            }
                        }
                    }
                }
            },
        }
    }
}
