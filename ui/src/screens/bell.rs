//! The bell: a child's notifications (R-NOT-1).

use dioxus::prelude::*;
use domain::wire::ChildInfo;
use uuid::Uuid;

use crate::api;
use crate::app::{Ctx, ErrorBox, Loading, Screen};
use crate::i18n::{self, t, K};
use crate::logic;

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
