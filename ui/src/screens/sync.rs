//! The sync screen: what is waiting to be sent and what needs attention.

use dioxus::prelude::*;
use domain::view::AttentionItem;
use domain::wire::ChildInfo;

use crate::api;
use crate::app::{Ctx, ErrorBox, Loading, Screen};
use crate::i18n::{self, t, tf, K};
use crate::icons::{Ico, Icon};
use crate::logic::{self, DayForm};

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
