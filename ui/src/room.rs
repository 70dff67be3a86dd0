//! The room view of a day (R-STAFF-1) and a child's day on it (R-STAFF-2, R-CARE-6): the
//! same screens on a paired tablet and for staff signed in with a password.

use chrono::{Duration, NaiveDate};
use dioxus::prelude::*;
use domain::view::{RoomChild, RoomChildDetail, RoomView};
use domain::wire::entity::AbsenceStatus;
use domain::wire::AttendanceKind;
use uuid::Uuid;

use crate::api;
use crate::app::{now_utc, Ctx, ErrorBox, Loading};
use crate::i18n::{t, tf, K};
use crate::icons::{Ico, Icon};
use crate::logic::{self, fmt_clock, fmt_date_long, fmt_datetime, fmt_intervals};

/// Where the room screen is: a day, a group, and a child opened on it.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct RoomNav {
    pub date: Option<NaiveDate>,
    pub group: Option<Uuid>,
    pub child: Option<Uuid>,
}

/// Anything a person does on the room screens counts as activity (R-STAFF-3: the PIN
/// session ends after 10 idle minutes); a failed touch changes nothing.
pub fn activity() {
    spawn(async move {
        let _ = api::touch().await;
    });
}

/// The row's state as a word and a CSS class: absent (reported red, confirmed grey, R-ABS-5),
/// gone home, here, or expected.
fn child_state(l: domain::wire::Locale, c: &RoomChild) -> (String, &'static str) {
    if let Some(a) = &c.absence {
        return match a.status {
            AbsenceStatus::Reported => (t(l, K::AbsentReported).to_string(), "state-reported"),
            AbsenceStatus::Confirmed => (t(l, K::AbsentConfirmed).to_string(), "state-confirmed"),
        };
    }
    match (c.arrived_at, c.departed_at) {
        (_, Some(d)) => (tf(l, K::DepartedAt, &[("time", &fmt_clock(d))]), "state-departed"),
        (Some(a), None) => (tf(l, K::ArrivedAt, &[("time", &fmt_clock(a))]), "state-here"),
        (None, None) => (t(l, K::ExpectedStatus).to_string(), "state-expected"),
    }
}

/// The one-tap action of a row: arrived when expected, left when here.
fn quick_action(c: &RoomChild) -> Option<AttendanceKind> {
    if c.absence.is_some() || c.departed_at.is_some() {
        return None;
    }
    Some(if c.arrived_at.is_none() { AttendanceKind::Arrived } else { AttendanceKind::Departed })
}

#[component]
pub fn RoomScreen(nav: Signal<RoomNav>) -> Element {
    let ctx = use_context::<Ctx>();
    let view = use_resource(move || {
        let n = nav();
        let _ = (ctx.rev)();
        async move { api::room_view(n.date, n.group).await }
    });
    if let Some(child) = nav().child {
        let day = nav().date.or(view.read().as_ref().and_then(|r| r.as_ref().ok()).map(|v| v.date));
        if let Some(day) = day {
            return rsx! { ChildDay { key: "{child}-{day}", nav, child_id: child, day } };
        }
    }
    let data = view.read().clone();
    rsx! {
        match data {
            None => rsx! { Loading {} },
            Some(Err(e)) => rsx! { ErrorBox { err: e } },
            Some(Ok(v)) => rsx! { RoomList { nav, view: v } },
        }
    }
}

#[component]
fn RoomList(nav: Signal<RoomNav>, view: RoomView) -> Element {
    let ctx = use_context::<Ctx>();
    let l = ctx.l();
    let date = view.date;
    let go_day = move |d: NaiveDate| {
        activity();
        let mut n = nav;
        n.with_mut(|n| n.date = Some(d));
    };
    let totals = tf(
        l,
        K::TotalsLine,
        &[
            ("present", &view.totals.present.to_string()),
            ("expected", &view.totals.expected.to_string()),
            ("absent", &view.totals.absent.to_string()),
            ("departed", &view.totals.departed.to_string()),
        ],
    );
    let is_today = date == view.today;
    rsx! {
        section { class: "card room-head",
            div { class: "week-nav",
                button { class: "icon-btn", id: "prev-day", aria_label: t(l, K::PrevDay), title: t(l, K::PrevDay),
                    onclick: move |_| go_day(date - Duration::days(1)), Icon { i: Ico::Left } }
                div { class: "week-label",
                    strong { id: "room-date", "data-date": "{date}", {fmt_date_long(l, date)} }
                    if !is_today {
                        button { class: "link", id: "room-today", onclick: move |_| go_day(view.today), {t(l, K::Today)} }
                    }
                }
                button { class: "icon-btn", id: "next-day", aria_label: t(l, K::NextDay), title: t(l, K::NextDay),
                    onclick: move |_| go_day(date + Duration::days(1)), Icon { i: Ico::Right } }
            }
            if view.groups.len() > 1 {
                div { class: "tabs", role: "tablist", id: "group-tabs",
                    button { class: if view.group_id.is_none() { "tab on" } else { "tab" }, role: "tab",
                        aria_selected: view.group_id.is_none(),
                        onclick: move |_| { activity(); let mut n = nav; n.with_mut(|n| n.group = None); },
                        {t(l, K::AllGroups)} }
                    for g in view.groups.iter().cloned() {
                        button { key: "{g.id}", class: if view.group_id == Some(g.id) { "tab on" } else { "tab" }, role: "tab",
                            aria_selected: view.group_id == Some(g.id),
                            onclick: move |_| { activity(); let mut n = nav; n.with_mut(|n| n.group = Some(g.id)); },
                            {g.name.clone()} }
                    }
                }
            }
            p { class: "muted", id: "room-totals", {totals} }
        }
        if view.children.is_empty() {
            p { class: "empty-state", {t(l, K::NoChildren)} }
        }
        ul { class: "room-list", id: "room-list",
            for c in view.children.iter().cloned() {
                RoomRow { key: "{c.child_id}", nav, child: c, date }
            }
        }
    }
}

#[component]
fn RoomRow(nav: Signal<RoomNav>, child: RoomChild, date: NaiveDate) -> Element {
    let ctx = use_context::<Ctx>();
    let l = ctx.l();
    let (state, class) = child_state(l, &child);
    let planned = if child.planned.is_empty() { t(l, K::NotRegistered).to_string() } else { fmt_intervals(&child.planned) };
    let action = quick_action(&child);
    let id = child.child_id;
    let open = move |_| {
        activity();
        let mut n = nav;
        n.with_mut(|n| {
            n.child = Some(id);
            n.date = Some(date);
        });
    };
    let mark = move |kind: AttendanceKind| {
        spawn(async move {
            match api::mark_attendance(id, kind, None).await {
                Ok(()) => ctx.saved(if kind == AttendanceKind::Arrived { K::ArrivalSaved } else { K::DepartureSaved }),
                Err(e) => ctx.say(ctx.err_text(&e)),
            }
        });
    };
    let initial = child.first_name.chars().next().map(String::from).unwrap_or_default();
    rsx! {
        li { class: "room-row {class}", "data-name": "{child.first_name}", "data-child-id": "{id}",
            button { class: "room-open", onclick: open,
                span { class: "avatar", "aria-hidden": "true", {initial} }
                span { class: "room-main",
                    span { class: "room-name", {format!("{} {}", child.first_name, child.last_name)} }
                    span { class: "room-times muted", Icon { i: Ico::Clock, size: 14 } {planned} }
                    span { class: "room-state", {state} }
                }
                if child.new_comment {
                    span { class: "bubble bubble-new", title: t(l, K::NewComment), aria_label: t(l, K::NewComment), role: "img",
                        Icon { i: Ico::Bubble, size: 16 } }
                } else if child.comments > 0 {
                    span { class: "bubble", aria_label: t(l, K::CommentsTitle), role: "img", Icon { i: Ico::Bubble, size: 16 } }
                }
                if child.pending {
                    span { class: "pending-tag", {t(l, K::StatusPending)} }
                }
            }
            if let Some(kind) = action {
                button {
                    class: if kind == AttendanceKind::Arrived { "btn btn-primary room-mark mark-arrived" } else { "btn room-mark mark-departed" },
                    onclick: move |_| mark(kind),
                    if kind == AttendanceKind::Arrived { {t(l, K::MarkArrived)} } else { {t(l, K::MarkDeparted)} }
                }
            }
        }
    }
}

/// "07:42" now by the corrected clock (R-TIME-1), for the time field's first value.
fn clock_now(offset_ms: i64) -> String {
    fmt_clock(domain::time::ServerOffset { millis: offset_ms }.corrected(now_utc()))
}

#[component]
fn ChildDay(nav: Signal<RoomNav>, child_id: Uuid, day: NaiveDate) -> Element {
    let ctx = use_context::<Ctx>();
    let detail = use_resource(move || {
        let _ = (ctx.rev)();
        async move { api::room_child(child_id, day).await }
    });
    // Opening a day with a new comment clears the marker for all staff (R-CARE-6).
    let mut seen_sent = use_signal(|| false);
    use_effect(move || {
        let new = detail.read().as_ref().and_then(|r| r.as_ref().ok()).map(|d| d.child.new_comment);
        if new == Some(true) && !seen_sent() {
            seen_sent.set(true);
            spawn(async move {
                if let Err(e) = api::comment_seen(child_id, day).await {
                    ctx.say(ctx.err_text(&e));
                }
                ctx.changed();
            });
        }
    });
    let data = detail.read().clone();
    rsx! {
        match data {
            None => rsx! { Loading {} },
            Some(Err(e)) => rsx! { ErrorBox { err: e } },
            Some(Ok(d)) => rsx! { ChildDayBody { nav, detail: d } },
        }
    }
}

#[component]
fn ChildDayBody(nav: Signal<RoomNav>, detail: RoomChildDetail) -> Element {
    let ctx = use_context::<Ctx>();
    let l = ctx.l();
    let c = detail.child.clone();
    let id = c.child_id;
    let day = detail.date;
    let offset = (ctx.status)().server_offset_ms;
    let mut time = use_signal(move || clock_now(offset));
    let mut comment = use_signal(String::new);
    let mut busy = use_signal(|| false);
    let mut field_error = use_signal(|| None::<String>);
    let back = move |_| {
        activity();
        let mut n = nav;
        n.with_mut(|n| n.child = None);
    };
    let mut mark = move |kind: AttendanceKind| {
        activity();
        // The time it happened, editable to an earlier time (R-STAFF-2).
        let Some(at) = logic::parse_time(&time()).map(|lt| domain::time::instant_at(day, lt.0, domain::time::DEFAULT_TIME_ZONE))
        else {
            field_error.set(Some(t(l, K::ErrTimeFormat).to_string()));
            return;
        };
        field_error.set(None);
        spawn(async move {
            match api::mark_attendance(id, kind, Some(at)).await {
                Ok(()) => ctx.saved(if kind == AttendanceKind::Arrived { K::ArrivalSaved } else { K::DepartureSaved }),
                Err(e) => field_error.set(Some(ctx.err_text(&e))),
            }
        });
    };
    let absence = c.absence.clone();
    let confirm = move |absence_id: Uuid| {
        activity();
        spawn(async move {
            match api::confirm_absence(absence_id).await {
                Ok(()) => ctx.saved(K::AbsenceConfirmedSaved),
                Err(e) => ctx.say(ctx.err_text(&e)),
            }
        });
    };
    let register = move |_| {
        activity();
        spawn(async move {
            match api::register_absence(id, day, None).await {
                Ok(()) => ctx.saved(K::AbsenceRegistered),
                Err(e) => ctx.say(ctx.err_text(&e)),
            }
        });
    };
    let send_comment = move |e: FormEvent| {
        e.prevent_default();
        let text = comment().trim().to_string();
        if text.is_empty() || busy() {
            return;
        }
        activity();
        busy.set(true);
        spawn(async move {
            match api::comment_care_day(id, day, &text).await {
                Ok(()) => {
                    comment.set(String::new());
                    ctx.saved(K::CommentSaved);
                }
                Err(e) => ctx.say(ctx.err_text(&e)),
            }
            busy.set(false);
        });
    };
    let planned = if c.planned.is_empty() { t(l, K::NotRegistered).to_string() } else { fmt_intervals(&c.planned) };
    let (state, class) = child_state(l, &c);
    rsx! {
        section { class: "card child-day {class}", id: "child-day", "data-name": "{c.first_name}",
            onmounted: move |_| scroll_to_top(),
            div { class: "card-head",
                button { class: "icon-btn back", id: "child-day-back", aria_label: t(l, K::Back), title: t(l, K::Back), onclick: back,
                    Icon { i: Ico::Back } }
                div {
                    h2 { {format!("{} {}", c.first_name, c.last_name)} }
                    p { class: "muted", {fmt_date_long(l, day)} }
                }
                span { class: "room-state", id: "child-day-state", {state} }
            }
            dl { class: "facts",
                dt { {t(l, K::PlannedTimes)} }
                dd { id: "child-day-planned", {planned} }
                if let Some(note) = detail.day_note.clone() {
                    dt { {t(l, K::DayNote)} }
                    dd { id: "child-day-note", {format!("”{note}”")} }
                }
            }
        }
        section { class: "card", id: "absence-card",
            h3 { {t(l, K::AbsenceTitle)} }
            match absence {
                Some(a) => {
                    let aid = a.id;
                    let reported = a.status == AbsenceStatus::Reported;
                    rsx! {
                        p { class: if reported { "pill pill-reported" } else { "pill pill-confirmed" }, id: "absence-status",
                            "data-status": if reported { "reported" } else { "confirmed" },
                            if reported { {t(l, K::AbsentReported)} } else { {t(l, K::AbsentConfirmed)} }
                        }
                        p { class: "muted", {format!("{} · {}", tf(l, K::ReportedBy, &[("name", &a.reported_by_name)]), fmt_datetime(l, a.reported_at))} }
                        if let Some(cm) = a.comment.clone() {
                            p { class: "history-comment", {format!("”{cm}”")} }
                        }
                        if reported {
                            button { class: "btn btn-primary", id: "confirm-absence", onclick: move |_| confirm(aid),
                                Icon { i: Ico::Check, size: 18 } {t(l, K::ConfirmAbsence)} }
                        }
                    }
                }
                None => rsx! {
                    p { class: "muted", id: "absence-none", {t(l, K::NoAbsence)} }
                    if c.arrived_at.is_none() {
                        button { class: "btn", id: "register-absence", onclick: register, Icon { i: Ico::UserX, size: 18 } {t(l, K::RegisterAbsence)} }
                    }
                },
            }
        }
        section { class: "card", id: "attendance-card",
            h3 { {t(l, K::AttendanceTitle)} }
            p { id: "attendance-arrived",
                {t(l, K::MarkArrived)} ": "
                strong { {c.arrived_at.map(fmt_clock).unwrap_or_else(|| "–".into())} }
            }
            p { id: "attendance-departed",
                {t(l, K::MarkDeparted)} ": "
                strong { {c.departed_at.map(fmt_clock).unwrap_or_else(|| "–".into())} }
            }
            if c.departed_at.is_none() {
                div { class: "field time-field",
                    label { r#for: "attendance-time", {t(l, K::TimeLabel)} }
                    input { id: "attendance-time", r#type: "text", inputmode: "numeric", value: "{time}",
                        oninput: move |e| time.set(e.value()) }
                }
                if let Some(err) = field_error() {
                    div { class: "notice notice-error", role: "alert", id: "attendance-error", Icon { i: Ico::Alert, size: 18 } p { {err} } }
                }
                div { class: "btn-row",
                    if c.arrived_at.is_none() {
                        button { class: "btn btn-primary", id: "mark-arrived", onclick: move |_| mark(AttendanceKind::Arrived), {t(l, K::MarkArrived)} }
                    } else {
                        button { class: "btn btn-primary", id: "mark-departed", onclick: move |_| mark(AttendanceKind::Departed), {t(l, K::MarkDeparted)} }
                    }
                }
            }
        }
        section { class: "card", id: "comments-card",
            h3 { {t(l, K::CommentsTitle)} }
            if detail.comments.is_empty() {
                p { class: "muted", {t(l, K::NoComments)} }
            }
            ul { class: "comment-list", id: "comment-list",
                for cm in detail.comments.iter() {
                    li { key: "{cm.id}", class: "bubble-line",
                        p { class: "comment-text", {cm.text.clone()} }
                        p { class: "muted small", {format!("{} · {}", cm.author_name, fmt_datetime(l, cm.created_at))} }
                    }
                }
            }
            form { onsubmit: send_comment,
                div { class: "field",
                    label { r#for: "staff-comment", {t(l, K::WriteComment)} }
                    textarea { id: "staff-comment", rows: 2, value: "{comment}", oninput: move |e| comment.set(e.value()) }
                }
                button { r#type: "submit", class: "btn", id: "send-comment", disabled: busy(), {t(l, K::SendComment)} }
            }
        }
    }
}

/// A child's day opens at its top, not where the list was scrolled to.
fn scroll_to_top() {
    #[cfg(target_arch = "wasm32")]
    if let Some(w) = web_sys::window() {
        w.scroll_to_with_x_and_y(0.0, 0.0);
    }
}
