//! The care week: days, the day editor and the week editor with repeats (R-CARE-1…7).

use chrono::{Datelike, Duration, NaiveDate};
use dioxus::prelude::*;
use domain::view::{CareDayView, CareWeekView};
use domain::wire::{BoxKind, ChildInfo, Locale, UnitKind};
use uuid::Uuid;

use crate::api;
use crate::app::{iso, today, Ctx, ErrorBox, Loading, Screen};
use crate::i18n::{self, box_name, t, tf, K};
use crate::icons::{Ico, Icon};
use crate::logic::{self, fmt_date, fmt_date_long, fmt_intervals, DayForm, RepeatMode, WeekForm};

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
