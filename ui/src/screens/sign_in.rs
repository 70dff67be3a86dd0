//! Signing in (guardians and staff) and the product's head over the forms.

use dioxus::prelude::*;
use domain::wire::Locale;

use crate::api;
use crate::app::{Ctx, Screen};
use crate::i18n::{t, K};
use crate::icons::{Ico, Icon};

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
