//! Staff signed in with their password (a phone or a desktop): today's children of their
//! units, the unit's tablets (pairing codes, revoking, R-STAFF-3) and their PIN.

use dioxus::prelude::*;
use domain::wire::{DeviceInfo, PairingInfo};
use uuid::Uuid;

use crate::api;
use crate::app::{Brand, Ctx, ErrorBox, Loading, Screen, StatusBanner, SyncChip, SyncPanel};
use crate::i18n::{t, tf, K};
use crate::icons::{Ico, Icon};
use crate::logic::{fmt_clock, fmt_datetime};
use crate::room::{RoomNav, RoomScreen};
use crate::screens::SettingsScreen;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Tab {
    Room,
    Tablets,
    Settings,
}

#[component]
pub fn StaffShell() -> Element {
    let ctx = use_context::<Ctx>();
    let l = ctx.l();
    let mut tab = use_signal(|| Tab::Room);
    let nav = use_signal(RoomNav::default);
    let name = (ctx.session)().map(|s| s.user.display_name).unwrap_or_default();
    let tabs = [(Tab::Room, K::RoomTitle, "tab-room"), (Tab::Tablets, K::TabletsTitle, "tab-tablets"), (Tab::Settings, K::SettingsTitle, "tab-settings")];
    rsx! {
        header { class: "topbar",
            div { class: "topbar-row",
                Brand {}
                nav { class: "actions", aria_label: t(l, K::Menu),
                    span { class: "who", id: "staff-name", {name} }
                    SyncChip {}
                }
            }
            div { class: "topbar-row topbar-sub",
                div { class: "tabs", role: "tablist", id: "staff-tabs",
                    for (tb, key, idv) in tabs {
                        button { key: "{idv}", id: "{idv}", class: if tab() == tb { "tab on" } else { "tab" }, role: "tab",
                            aria_selected: tab() == tb, onclick: move |_| tab.set(tb), {t(l, key)} }
                    }
                }
            }
        }
        StatusBanner {}
        main { class: "main main-wide", id: "content",
            if (ctx.screen)() == Screen::Sync {
                SyncPanel {}
            } else {
            match tab() {
                Tab::Room => rsx! { RoomScreen { nav } },
                Tab::Tablets => rsx! { TabletsScreen {} },
                Tab::Settings => rsx! { PinCard {} SettingsScreen {} },
            }
            }
        }
    }
}

#[component]
fn TabletsScreen() -> Element {
    let ctx = use_context::<Ctx>();
    let l = ctx.l();
    let units = use_resource(move || async move { api::staff_units().await });
    let mut list = use_resource(move || async move { api::devices().await });
    let mut unit = use_signal(|| None::<Uuid>);
    let mut created = use_signal(|| None::<PairingInfo>);
    let mut error = use_signal(|| None::<String>);
    let unit_list = units.read().clone().and_then(Result::ok).unwrap_or_default();
    let chosen = unit().or(unit_list.first().map(|u| u.id));
    let create = move |_| {
        let Some(u) = chosen else { return };
        spawn(async move {
            match api::create_pairing(u).await {
                Ok(p) => {
                    error.set(None);
                    created.set(Some(p));
                    list.restart();
                }
                Err(e) => error.set(Some(ctx.err_text(&e))),
            }
        });
    };
    let revoke = move |id: Uuid| {
        spawn(async move {
            match api::revoke_device(id).await {
                Ok(()) => {
                    ctx.say(t(l, K::RevokedToast));
                    list.restart();
                }
                Err(e) => ctx.say(ctx.err_text(&e)),
            }
        });
    };
    let data = list.read().clone();
    rsx! {
        section { class: "card", id: "pairing-card",
            h2 { {t(l, K::TabletsTitle)} }
            p { class: "lead", {t(l, K::TabletsLead)} }
            if unit_list.len() > 1 {
                div { class: "field",
                    label { r#for: "pairing-unit", {t(l, K::UnitLabel)} }
                    select { id: "pairing-unit", class: "switcher-select",
                        onchange: move |e: FormEvent| unit.set(e.value().parse().ok()),
                        for u in unit_list.iter() {
                            option { key: "{u.id}", value: "{u.id}", selected: Some(u.id) == chosen, {u.name.clone()} }
                        }
                    }
                }
            }
            button { class: "btn btn-primary", id: "create-pairing", disabled: chosen.is_none(), onclick: create,
                Icon { i: Ico::Plus, size: 18 } {t(l, K::CreatePairing)} }
            if let Some(msg) = error() {
                div { class: "notice notice-error", role: "alert", Icon { i: Ico::Alert, size: 18 } p { {msg} } }
            }
            if let Some(p) = created() {
                div { class: "pairing-code-box", id: "pairing-code-box",
                    p { {tf(l, K::PairingCodeFor, &[("unit", &p.unit.name)])} }
                    p { class: "pairing-code", id: "pairing-code-value", {p.code.clone().unwrap_or_default()} }
                    p { class: "muted", {tf(l, K::ValidUntil, &[("time", &fmt_clock(p.expires_at))])} }
                }
            }
        }
        match data {
            None => rsx! { Loading {} },
            Some(Err(e)) => rsx! { ErrorBox { err: e } },
            Some(Ok(d)) => rsx! {
                section { class: "card", id: "devices-card",
                    h2 { {t(l, K::PairedTablets)} }
                    if d.devices.is_empty() {
                        p { class: "muted", {t(l, K::NoTablets)} }
                    }
                    ul { class: "pending-list", id: "device-list",
                        for dev in d.devices.iter().cloned() {
                            DeviceRow { key: "{dev.id}", dev, on_revoke: revoke }
                        }
                    }
                    if !d.pairings.is_empty() {
                        h3 { {t(l, K::OpenPairings)} }
                        ul { class: "pending-list", id: "pairing-list",
                            for p in d.pairings.iter() {
                                li { key: "{p.id}", class: "pending-item",
                                    span { class: "item-title", {p.unit.name.clone()} }
                                    span { class: "muted", {tf(l, K::ValidUntil, &[("time", &fmt_clock(p.expires_at))])} }
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
fn DeviceRow(dev: DeviceInfo, on_revoke: EventHandler<Uuid>) -> Element {
    let ctx = use_context::<Ctx>();
    let l = ctx.l();
    let id = dev.id;
    rsx! {
        li { class: "pending-item device", "data-device-id": "{id}",
            div {
                p { class: "item-title", {format!("{} · {}", dev.name, dev.unit.name)} }
                p { class: "muted", {tf(l, K::PairedBy, &[("date", &fmt_datetime(l, dev.paired_at)), ("name", &dev.paired_by_name)])} }
                if let Some(seen) = dev.last_seen_at {
                    p { class: "muted", {tf(l, K::LastSeen, &[("date", &fmt_datetime(l, seen))])} }
                }
            }
            match dev.revoked_at {
                Some(at) => rsx! { span { class: "pill pill-confirmed", {tf(l, K::RevokedAt, &[("date", &fmt_datetime(l, at))])} } },
                None => rsx! { button { class: "btn btn-small revoke", onclick: move |_| on_revoke.call(id), Icon { i: Ico::Trash, size: 16 } {t(l, K::Revoke)} } },
            }
        }
    }
}

/// The personal PIN for the unit's tablets (R-STAFF-3), pre-checked with the rule the
/// server enforces.
#[component]
fn PinCard() -> Element {
    let ctx = use_context::<Ctx>();
    let l = ctx.l();
    let mut pin = use_signal(String::new);
    let mut again = use_signal(String::new);
    let mut error = use_signal(|| None::<String>);
    let save = move |e: FormEvent| {
        e.prevent_default();
        if pin() != again() {
            error.set(Some(t(l, K::PinMismatch).to_string()));
            return;
        }
        if let Err(rule) = domain::pin::check_new_pin(&pin()) {
            error.set(Some(crate::i18n::reason(l, rule.code).to_string()));
            return;
        }
        spawn(async move {
            match api::set_pin(&pin()).await {
                Ok(()) => {
                    error.set(None);
                    pin.set(String::new());
                    again.set(String::new());
                    ctx.say(t(l, K::PinSaved));
                }
                Err(e) => error.set(Some(ctx.err_text(&e))),
            }
        });
    };
    let remove = move |_| {
        spawn(async move {
            match api::clear_pin().await {
                Ok(()) => ctx.say(t(l, K::PinRemoved)),
                Err(e) => error.set(Some(ctx.err_text(&e))),
            }
        });
    };
    rsx! {
        section { class: "card", id: "pin-card",
            h2 { {t(l, K::PinTitle)} }
            p { class: "lead", {t(l, K::PinLead)} }
            form { onsubmit: save, novalidate: true,
                div { class: "time-pair",
                    div { class: "field",
                        label { r#for: "new-pin", {t(l, K::NewPin)} }
                        input { id: "new-pin", r#type: "password", inputmode: "numeric", maxlength: "4", autocomplete: "off",
                            value: "{pin}", oninput: move |e| pin.set(e.value()) }
                    }
                    div { class: "field",
                        label { r#for: "repeat-pin", {t(l, K::RepeatPin)} }
                        input { id: "repeat-pin", r#type: "password", inputmode: "numeric", maxlength: "4", autocomplete: "off",
                            value: "{again}", oninput: move |e| again.set(e.value()) }
                    }
                }
                if let Some(msg) = error() {
                    div { class: "notice notice-error", role: "alert", id: "pin-error", Icon { i: Ico::Alert, size: 18 } p { {msg} } }
                }
                div { class: "btn-row",
                    button { r#type: "submit", class: "btn btn-primary", id: "save-pin", {t(l, K::SavePin)} }
                    button { r#type: "button", class: "btn btn-quiet", id: "remove-pin", onclick: remove, {t(l, K::RemovePin)} }
                }
            }
        }
    }
}
