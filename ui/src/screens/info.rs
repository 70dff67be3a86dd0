//! A unit's information and the development talks.

use chrono::Datelike;
use dioxus::prelude::*;
use domain::wire::ChildInfo;
use domain::wire::entity::InfoTab;

use crate::api;
use crate::app::{Ctx, ErrorBox, Loading};
use crate::i18n::{self, t, tf, K};
use crate::icons::{Ico, Icon};
use crate::logic;

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
