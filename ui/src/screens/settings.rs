//! Settings: language, notifications and the account (R-NOT-2, R-ACC-6).

use dioxus::prelude::*;
use domain::view::Settings;
use domain::wire::Locale;
use domain::wire::entity::NotificationCategory;

use crate::api;
use crate::app::{Ctx, ErrorBox, Loading, Screen};
use crate::i18n::{self, t, tf, K};
use crate::icons::{Ico, Icon};

#[component]
pub fn SettingsScreen() -> Element {
    let ctx = use_context::<Ctx>();
    let l = ctx.l();
    let settings = use_resource(move || async move { api::settings().await });
    let data = settings.read().clone();
    let name = (ctx.session)().map(|s| s.user.display_name).unwrap_or_default();
    let save = move |s: Settings| {
        spawn(async move {
            let mut loc = ctx.locale;
            loc.set(s.locale);
            match api::set_settings(&s).await {
                Ok(()) => {
                    ctx.say(t(s.locale, K::SettingsSaved));
                    settings.clone().restart();
                }
                Err(e) => ctx.say(ctx.err_text(&e)),
            }
        });
    };
    let sign_out = move |_| {
        spawn(async move {
            let _ = api::sign_out().await;
            let mut c = ctx;
            c.session.set(None);
            c.child.set(None);
            c.screen.set(Screen::Home);
        });
    };
    rsx! {
        match data {
            None => rsx! { Loading {} },
            Some(Err(e)) => rsx! { ErrorBox { err: e } },
            Some(Ok(s)) => {
                let s2 = s.clone();
                rsx! {
                    section { class: "card",
                        h2 { {t(l, K::LanguageTitle)} }
                        div { class: "segmented", role: "radiogroup", aria_label: t(l, K::LanguageTitle),
                            for (loc, key, idv) in [(Locale::Sv, K::Swedish, "lang-sv"), (Locale::En, K::English, "lang-en")] {
                                {
                                    let s = s.clone();
                                    rsx! {
                                        label { class: if s.locale == loc { "seg seg-on" } else { "seg" }, r#for: "{idv}", key: "{idv}", lang: loc.as_str(),
                                            input { r#type: "radio", name: "language", id: "{idv}", checked: s.locale == loc,
                                                onchange: move |_| { let mut n = s.clone(); n.locale = loc; save(n); } }
                                            span { class: "seg-title", {t(l, key)} }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    section { class: "card",
                        h2 { {t(l, K::PushTitle)} }
                        p { class: "lead", {t(l, K::PushLead)} }
                        ul { class: "toggles", id: "push-toggles",
                            for c in NotificationCategory::ALL {
                                {
                                    let on = s2.push.get(&c).copied().unwrap_or(true);
                                    let s = s2.clone();
                                    let cid = format!("push-{}", serde_json::to_value(c).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default());
                                    rsx! {
                                        li { key: "{cid}",
                                            label { class: "toggle", r#for: "{cid}",
                                                span { {i18n::category(l, c)} }
                                                input { r#type: "checkbox", role: "switch", id: "{cid}", checked: on,
                                                    onchange: move |e: FormEvent| { let mut n = s.clone(); n.push.insert(c, e.checked()); save(n); } }
                                                span { class: "switch", "aria-hidden": "true" }
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
        section { class: "card",
            h2 { {t(l, K::AccountTitle)} }
            p { {tf(l, K::SignedInAs, &[("name", &name)])} }
            button { class: "btn", id: "sign-out", onclick: sign_out, Icon { i: Ico::Logout, size: 18 } {t(l, K::SignOut)} }
        }
    }
}
