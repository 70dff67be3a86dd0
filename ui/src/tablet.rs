//! Tablet mode (R-STAFF-1…3): pairing with a code, the lock screen where staff pick their
//! name and enter their PIN (or their password), and the room view behind it.

use dioxus::prelude::*;
use domain::view::{TabletState, TabletStaffView, UnlockOutcome};
use uuid::Uuid;

use crate::api;
use crate::app::{sleep_ms, Ctx, Screen, SyncChip, SyncPanel};
use crate::i18n::{t, tf, K};
use crate::icons::{Ico, Icon};
use crate::room::{RoomNav, RoomScreen};
use crate::screens::SignInHead;

/// Re-reads the tablet's state into the context (after an unlock, a lock, a sync).
pub async fn refresh(ctx: Ctx) {
    let mut tablet = ctx.tablet;
    if let Ok(st) = api::tablet_state().await {
        tablet.set(st);
    }
}

// ---------------------------------------------------------------- pairing

#[component]
pub fn PairScreen(on_back: EventHandler<()>) -> Element {
    let ctx = use_context::<Ctx>();
    let l = ctx.l();
    let mut code = use_signal(String::new);
    let mut name = use_signal(String::new);
    let mut server = use_signal(|| "http://127.0.0.1:8787".to_string());
    let mut busy = use_signal(|| false);
    let mut error = use_signal(|| None::<String>);
    let submit = move |e: FormEvent| {
        e.prevent_default();
        if busy() {
            return;
        }
        busy.set(true);
        error.set(None);
        spawn(async move {
            let n = name().trim().to_string();
            match api::pair_tablet(server().trim(), &code(), (!n.is_empty()).then_some(n)).await {
                Ok(st) => {
                    let (mut tablet, mut pairing) = (ctx.tablet, ctx.pairing);
                    tablet.set(Some(st));
                    // Unpairing later leads back to the sign-in page.
                    pairing.set(false);
                    if let Ok(s) = api::sync_status().await {
                        let mut status = ctx.status;
                        status.set(s);
                    }
                }
                Err(err) => error.set(Some(ctx.err_text(&err))),
            }
            busy.set(false);
        });
    };
    rsx! {
        main { class: "signin",
            div { class: "signin-card card",
                SignInHead {}
                h2 { {t(l, K::PairTitle)} }
                p { class: "lead", {t(l, K::PairLead)} }
                form { onsubmit: submit, novalidate: true,
                    div { class: "field",
                        label { r#for: "pairing-code", {t(l, K::PairingCode)} }
                        input { id: "pairing-code", class: "code-input", r#type: "text", autocapitalize: "characters",
                            autocomplete: "off", spellcheck: "false", placeholder: "ABCD-EFGH", value: "{code}",
                            oninput: move |e| code.set(e.value()) }
                    }
                    div { class: "field",
                        label { r#for: "device-name", {t(l, K::DeviceName)} }
                        input { id: "device-name", r#type: "text", value: "{name}", oninput: move |e| name.set(e.value()) }
                    }
                    div { class: "field",
                        label { r#for: "pair-server-url", {t(l, K::ServerUrl)} }
                        input { id: "pair-server-url", r#type: "url", inputmode: "url", autocapitalize: "none",
                            spellcheck: "false", value: "{server}", oninput: move |e| server.set(e.value()) }
                    }
                    if let Some(msg) = error() {
                        div { class: "notice notice-error", role: "alert", id: "pair-error", Icon { i: Ico::Alert, size: 20 } p { {msg} } }
                    }
                    button { r#type: "submit", class: "btn btn-primary btn-block", id: "pair", disabled: busy(),
                        if busy() { {t(l, K::PairingBusy)} } else { {t(l, K::PairButton)} }
                    }
                }
                div { class: "signin-foot",
                    button { class: "link", id: "back-to-sign-in", onclick: move |_| on_back.call(()), {t(l, K::BackToSignIn)} }
                }
            }
        }
    }
}

// ---------------------------------------------------------------- the paired tablet

#[component]
pub fn TabletShell(state: TabletState) -> Element {
    let ctx = use_context::<Ctx>();
    let l = ctx.l();
    let nav = use_signal(RoomNav::default);
    let mut menu = use_signal(|| false);

    // The PIN session ends after 10 idle minutes (R-STAFF-3): app-core decides, the screen
    // asks again every few seconds and on every change.
    use_hook(move || {
        spawn(async move {
            loop {
                sleep_ms(5_000).await;
                refresh(ctx).await;
            }
        });
    });
    let rev = (ctx.rev)();
    use_effect(move || {
        let _ = rev;
        spawn(async move { refresh(ctx).await });
    });

    let lock = move |_| {
        spawn(async move {
            let _ = api::lock_tablet().await;
            let mut n = nav;
            n.set(RoomNav::default());
            menu.set(false);
            refresh(ctx).await;
        });
    };
    let unit = state.device.unit.name.clone();
    let status = (ctx.status)();
    rsx! {
        header { class: "topbar tablet-bar",
            div { class: "topbar-row",
                div { class: "brand",
                    span { class: "brand-mark", "aria-hidden": "true", "H" }
                    span { class: "brand-name", id: "tablet-unit", {tf(l, K::TabletOf, &[("unit", &unit)])} }
                }
                nav { class: "actions", aria_label: t(l, K::Menu),
                    SyncChip {}
                    if let Some(a) = state.active.clone() {
                        span { class: "who", id: "active-staff", "data-user-id": "{a.user_id}", {tf(l, K::ActiveStaff, &[("name", &a.display_name)])} }
                        button { class: "btn btn-small", id: "switch-person", onclick: lock, Icon { i: Ico::Lock, size: 16 } {t(l, K::SwitchPerson)} }
                        button { class: "icon-btn", id: "tablet-menu", aria_label: t(l, K::Settings), title: t(l, K::Settings),
                            aria_expanded: menu(), onclick: move |_| menu.toggle(), Icon { i: Ico::Gear } }
                    }
                }
            }
        }
        if status.needs_sign_in {
            div { class: "banner banner-warn", role: "status", id: "banner-revoked", Icon { i: Ico::Alert, size: 18 } span { {t(l, K::RevokedLead)} } }
        } else if !status.online {
            div { class: "banner banner-off", role: "status", id: "banner-offline", Icon { i: Ico::CloudOff, size: 18 } span { {t(l, K::OfflineLead)} } }
        }
        main { class: "main main-wide", id: "content",
            if (ctx.screen)() == Screen::Sync {
                SyncPanel {}
            } else if status.needs_sign_in || (menu() && state.active.is_some()) {
                TabletMenu { pending: status.pending }
            } else if state.active.is_some() {
                RoomScreen { nav }
            } else {
                LockScreen { staff: state.staff.clone() }
            }
        }
    }
}

/// Unpairing: warned when changes are not yet sent (they would be lost with the tablet's
/// data), and possible anyway once said twice.
#[component]
fn TabletMenu(pending: u32) -> Element {
    let ctx = use_context::<Ctx>();
    let l = ctx.l();
    let mut error = use_signal(|| None::<String>);
    let mut forced = use_signal(|| false);
    let unpair = move |_| {
        let force = forced();
        spawn(async move {
            match api::unpair_tablet(force).await {
                Ok(()) => {
                    let mut tablet = ctx.tablet;
                    tablet.set(None);
                }
                Err(e) => {
                    error.set(Some(ctx.err_text(&e)));
                    forced.set(true);
                }
            }
        });
    };
    rsx! {
        section { class: "card", id: "tablet-menu-card",
            h2 { {t(l, K::Unpair)} }
            p { class: "lead", {t(l, K::UnpairLead)} }
            if pending > 0 {
                p { class: "notice notice-info", {crate::logic::count_text(l, pending, K::PendingOne, K::PendingCount)} }
            }
            if let Some(msg) = error() {
                div { class: "notice notice-error", role: "alert", Icon { i: Ico::Alert, size: 18 } p { {msg} } }
            }
            button { class: "btn", id: "unpair", onclick: unpair,
                Icon { i: Ico::Logout, size: 18 }
                if forced() { {t(l, K::UnpairAnyway)} } else { {t(l, K::Unpair)} }
            }
        }
    }
}

// ---------------------------------------------------------------- lock screen

#[component]
fn LockScreen(staff: Vec<TabletStaffView>) -> Element {
    let ctx = use_context::<Ctx>();
    let l = ctx.l();
    let mut chosen = use_signal(|| None::<Uuid>);
    let mut with_password = use_signal(|| false);
    let person = chosen().and_then(|id| staff.iter().find(|s| s.user_id == id).cloned());
    rsx! {
        section { class: "card lock-card", id: "lock-screen",
            h2 { {t(l, K::WhoAreYou)} }
            p { class: "lead", {t(l, K::LockLead)} }
            ul { class: "staff-grid", id: "staff-list",
                for s in staff.iter().cloned() {
                    li { key: "{s.user_id}",
                        button {
                            class: if chosen() == Some(s.user_id) { "staff-btn on" } else { "staff-btn" },
                            "data-name": "{s.display_name}",
                            aria_pressed: chosen() == Some(s.user_id),
                            onclick: move |_| { chosen.set(Some(s.user_id)); with_password.set(false); },
                            span { class: "avatar", "aria-hidden": "true", {s.display_name.chars().next().map(String::from).unwrap_or_default()} }
                            span { {s.display_name.clone()} }
                            if s.locked { Icon { i: Ico::Lock, size: 16 } }
                        }
                    }
                }
            }
            if with_password() {
                PasswordUnlock {}
            } else if let Some(p) = person {
                PinPad { key: "{p.user_id}", person: p, on_password: move |_| with_password.set(true) }
            }
            if !with_password() {
                button { class: "link", id: "use-password", onclick: move |_| with_password.set(true), {t(l, K::SignInWithPassword)} }
            }
        }
    }
}

#[component]
fn PinPad(person: TabletStaffView, on_password: EventHandler<()>) -> Element {
    let ctx = use_context::<Ctx>();
    let l = ctx.l();
    let mut pin = use_signal(String::new);
    let mut message = use_signal(|| None::<String>);
    let uid = person.user_id;
    let submit = move || {
        let p = pin();
        if p.len() != domain::pin::PIN_DIGITS {
            return;
        }
        spawn(async move {
            match api::unlock_with_pin(uid, &p).await {
                Ok(UnlockOutcome::Unlocked) => {
                    message.set(None);
                    refresh(ctx).await;
                }
                Ok(UnlockOutcome::WrongPin { attempts_left }) => {
                    message.set(Some(tf(l, K::WrongPin, &[("n", &attempts_left.to_string())])));
                }
                Ok(UnlockOutcome::Locked) => {
                    message.set(Some(t(l, K::PinLockedLead).to_string()));
                    refresh(ctx).await;
                }
                Ok(UnlockOutcome::NoPin) => message.set(Some(t(l, K::NoPinLead).to_string())),
                Err(e) => message.set(Some(ctx.err_text(&e))),
            }
            pin.set(String::new());
        });
    };
    if person.locked || !person.has_pin {
        let lead = if person.locked { K::PinLockedLead } else { K::NoPinLead };
        return rsx! {
            div { class: "notice notice-locked", id: "pin-unavailable", role: "status",
                Icon { i: Ico::Lock, size: 20 }
                p { {t(l, lead)} }
            }
            button { class: "btn btn-primary", id: "password-instead", onclick: move |_| on_password.call(()), {t(l, K::SignInWithPassword)} }
        };
    }
    let dots = (0..domain::pin::PIN_DIGITS).map(|i| i < pin().len()).collect::<Vec<_>>();
    rsx! {
        form { class: "pin-pad", id: "pin-pad",
            onsubmit: move |e: FormEvent| { e.prevent_default(); submit(); },
            h3 { {tf(l, K::PinFor, &[("name", &person.display_name)])} }
            label { class: "sr-only", r#for: "pin-input", {t(l, K::PinLabel)} }
            input { id: "pin-input", class: "pin-input", r#type: "password", inputmode: "numeric",
                autocomplete: "off", maxlength: "4", value: "{pin}",
                oninput: move |e| {
                    let v: String = e.value().chars().filter(char::is_ascii_digit).take(4).collect();
                    pin.set(v);
                    if pin().len() == domain::pin::PIN_DIGITS { submit(); }
                } }
            div { class: "pin-dots", "aria-hidden": "true",
                for (i, on) in dots.into_iter().enumerate() {
                    span { key: "{i}", class: if on { "pin-dot on" } else { "pin-dot" } }
                }
            }
            if let Some(m) = message() {
                p { class: "notice notice-error", role: "alert", id: "pin-message", {m} }
            }
            div { class: "pin-keys",
                for d in ["1", "2", "3", "4", "5", "6", "7", "8", "9"] {
                    button { key: "{d}", r#type: "button", class: "pin-key", "data-digit": "{d}",
                        onclick: move |_| {
                            if pin().len() < domain::pin::PIN_DIGITS { pin.with_mut(|p| p.push_str(d)); }
                            if pin().len() == domain::pin::PIN_DIGITS { submit(); }
                        },
                        {d} }
                }
                button { r#type: "button", class: "pin-key pin-erase", aria_label: t(l, K::EraseDigit), title: t(l, K::EraseDigit),
                    onclick: move |_| { pin.with_mut(|p| { p.pop(); }); }, "⌫" }
                button { r#type: "button", class: "pin-key", "data-digit": "0",
                    onclick: move |_| {
                        if pin().len() < domain::pin::PIN_DIGITS { pin.with_mut(|p| p.push('0')); }
                        if pin().len() == domain::pin::PIN_DIGITS { submit(); }
                    },
                    "0" }
                button { r#type: "submit", class: "pin-key pin-ok", id: "pin-submit", aria_label: t(l, K::Unlock), title: t(l, K::Unlock),
                    Icon { i: Ico::Check, size: 20 } }
            }
        }
    }
}

#[component]
fn PasswordUnlock() -> Element {
    let ctx = use_context::<Ctx>();
    let l = ctx.l();
    let mut username = use_signal(String::new);
    let mut password = use_signal(String::new);
    let mut busy = use_signal(|| false);
    let mut error = use_signal(|| None::<String>);
    let submit = move |e: FormEvent| {
        e.prevent_default();
        if busy() {
            return;
        }
        busy.set(true);
        spawn(async move {
            match api::unlock_with_password(username().trim(), &password()).await {
                Ok(st) => {
                    let mut tablet = ctx.tablet;
                    tablet.set(Some(st));
                }
                Err(e) => error.set(Some(if e.code == "network" { t(l, K::NeedsNetwork).to_string() } else { ctx.err_text(&e) })),
            }
            password.set(String::new());
            busy.set(false);
        });
    };
    rsx! {
        form { class: "password-unlock", id: "password-unlock", onsubmit: submit, novalidate: true,
            h3 { {t(l, K::SignInWithPassword)} }
            div { class: "field",
                label { r#for: "unlock-username", {t(l, K::Username)} }
                input { id: "unlock-username", r#type: "text", autocapitalize: "none", spellcheck: "false", value: "{username}",
                    oninput: move |e| username.set(e.value()) }
            }
            div { class: "field",
                label { r#for: "unlock-password", {t(l, K::Password)} }
                input { id: "unlock-password", r#type: "password", value: "{password}", oninput: move |e| password.set(e.value()) }
            }
            if let Some(msg) = error() {
                div { class: "notice notice-error", role: "alert", id: "unlock-error", Icon { i: Ico::Alert, size: 18 } p { {msg} } }
            }
            button { r#type: "submit", class: "btn btn-primary", id: "unlock-with-password", disabled: busy(), {t(l, K::SignIn)} }
        }
    }
}
