//! The start page: a child's boxes, and the page of a box not in the app yet.

use dioxus::prelude::*;
use domain::wire::{BoxKind, ChildInfo};

use crate::api;
use crate::app::{Ctx, ErrorBox, Loading, Screen};
use crate::i18n::{box_name, t, tf, unit_kind, K};
use crate::icons::{Ico, Icon};
use crate::logic;

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
