//! Reporting and cancelling absence (R-ABS-1…6).

use chrono::NaiveDate;
use dioxus::prelude::*;
use domain::wire::entity::AbsenceStatus;
use domain::wire::{ChildInfo, Locale, UnitKind};
use uuid::Uuid;

use crate::api;
use crate::app::{iso, Ctx, ErrorBox, Loading};
use crate::i18n::{t, tf, K};
use crate::icons::{Ico, Icon};
use crate::logic::{self, chars_left, fmt_date, fmt_date_long};

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
