//! The app: a signed-out sign-in page, then a header (child switcher, bell, envelope, sync
//! status) over one screen at a time. State lives in a few signals shared through context;
//! every screen reads through `api` and re-reads when the shell says the replica changed.

use chrono::{Datelike, NaiveDate};
use dioxus::prelude::*;
use domain::view::{Session, SyncStatus, TabletState};
use domain::wire::{BoxKind, ChildInfo, Locale, Role};
use uuid::Uuid;

use crate::api::{self, ApiError};
use crate::i18n::{error_code, t, tf, K};
use crate::icons::{Ico, Icon};
use crate::logic::{self, badge, count_text};
use crate::screens;

/// Which screen is shown under the header.
#[derive(Clone, Debug, PartialEq)]
pub enum Screen {
    Home,
    Absence { date: Option<NaiveDate>, comment: Option<String>, resend: Option<Uuid> },
    Care { week: Option<NaiveDate> },
    DayEdit { date: NaiveDate, prefill: Option<logic::DayForm>, resend: Option<Uuid> },
    WeekEdit { week_start: NaiveDate, resend: Option<Uuid> },
    Sync,
    Bell,
    Settings,
    Info,
    Talks,
    NotYet(BoxKind),
}

/// Shared state, all signals (cheap to copy).
#[derive(Clone, Copy)]
pub struct Ctx {
    pub locale: Signal<Locale>,
    pub session: Signal<Option<Session>>,
    /// The session is being looked up at start.
    pub booting: Signal<bool>,
    pub child: Signal<Option<Uuid>>,
    pub screen: Signal<Screen>,
    pub status: Signal<SyncStatus>,
    /// Bumped whenever the replica changed: every screen re-reads.
    pub rev: Signal<u64>,
    pub toast: Signal<Option<String>>,
    /// This device is a paired tablet (R-STAFF-1): its unit, staff and who is unlocked.
    pub tablet: Signal<Option<TabletState>>,
    /// The sign-in page shows the pairing form instead.
    pub pairing: Signal<bool>,
}

impl Ctx {
    pub fn l(&self) -> Locale {
        (self.locale)()
    }
    pub fn tr(&self, k: K) -> &'static str {
        t(self.l(), k)
    }
    pub fn go(&self, s: Screen) {
        let mut screen = self.screen;
        screen.set(s);
    }
    pub fn changed(&self) {
        let mut rev = self.rev;
        rev += 1;
    }
    pub fn say(&self, text: impl Into<String>) {
        let mut toast = self.toast;
        toast.set(Some(text.into()));
    }
    pub fn err_text(&self, e: &ApiError) -> String {
        error_code(self.l(), &e.code).to_string()
    }
    /// After a change: "saved", or "saved in the app" while offline.
    pub fn saved(&self, k: K) {
        let s = (self.status)();
        if s.online {
            self.say(self.tr(k));
        } else {
            self.say(self.tr(K::SavedOffline));
        }
        self.changed();
    }
    pub fn children(&self) -> Vec<ChildInfo> {
        (self.session)().map(|s| s.children).unwrap_or_default()
    }
    pub fn current_child(&self) -> Option<ChildInfo> {
        let id = (self.child)();
        let kids = self.children();
        kids.iter().find(|c| Some(c.id) == id).or(kids.first()).cloned()
    }
}

#[allow(non_snake_case)]
pub fn App() -> Element {
    let ctx = use_context_provider(|| Ctx {
        locale: Signal::new(Locale::Sv),
        session: Signal::new(None),
        booting: Signal::new(true),
        child: Signal::new(None),
        screen: Signal::new(Screen::Home),
        status: Signal::new(SyncStatus::default()),
        rev: Signal::new(0),
        toast: Signal::new(None),
        tablet: Signal::new(None),
        pairing: Signal::new(false),
    });

    // Start: the session kept from last time, the account's language, the sync status, and
    // the shell's events.
    use_hook(move || {
        spawn(async move {
            let mut ctx = ctx;
            if let Ok(Some(t)) = api::tablet_state().await {
                ctx.tablet.set(Some(t));
            } else if let Ok(Some(s)) = api::session().await {
                ctx.child.set(s.children.first().map(|c| c.id));
                ctx.locale.set(s.user.locale);
                ctx.session.set(Some(s));
                if let Ok(settings) = api::settings().await {
                    ctx.locale.set(settings.locale);
                }
            }
            if let Ok(st) = api::sync_status().await {
                ctx.status.set(st);
            }
            ctx.booting.set(false);
        });
        spawn(async move {
            api::listen(api::EVENT_CHANGED, move |_| ctx.changed()).await;
        });
        spawn(async move {
            let mut status = ctx.status;
            api::listen(api::EVENT_STATUS, move |json| {
                if let Ok(st) = serde_json::from_str::<SyncStatus>(&json) {
                    status.set(st);
                }
            })
            .await;
        });
    });

    let lang = ctx.l().as_str();
    let staff = (ctx.session)().is_some_and(|s| matches!(s.user.role, Role::Staff | Role::Admin));
    let content = if (ctx.booting)() {
        rsx! { div { class: "boot", role: "status", {ctx.tr(K::Loading)} } }
    } else if let Some(state) = (ctx.tablet)() {
        rsx! { crate::tablet::TabletShell { state } }
    } else if (ctx.session)().is_none() && (ctx.pairing)() {
        rsx! { crate::tablet::PairScreen { on_back: move |_| { let mut p = ctx.pairing; p.set(false); } } }
    } else if (ctx.session)().is_none() {
        rsx! { screens::SignIn {} }
    } else if staff {
        rsx! { crate::staff::StaffShell {} }
    } else {
        rsx! { Shell {} }
    };
    rsx! {
        div { class: "app", lang: "{lang}",
            {content}
            Toast {}
        }
    }
}

#[component]
fn Toast() -> Element {
    let ctx = use_context::<Ctx>();
    let mut toast = ctx.toast;
    // Hide after a few seconds; a newer toast restarts the timer.
    use_effect(move || {
        if toast().is_some() {
            let shown = toast();
            spawn(async move {
                sleep_ms(3500).await;
                if toast() == shown {
                    toast.set(None);
                }
            });
        }
    });
    rsx! {
        div { class: "toast-region", role: "status", "aria-live": "polite",
            if let Some(text) = toast() {
                div { class: "toast", id: "toast", {text} }
            }
        }
    }
}

/// Sleeps in the browser (a JS timer); returns at once on the host.
pub async fn sleep_ms(ms: i32) {
    #[cfg(target_arch = "wasm32")]
    {
        let promise = js_sys::Promise::new(&mut |resolve, _| {
            if let Some(w) = web_sys::window() {
                let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
            }
        });
        let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
    }
    #[cfg(not(target_arch = "wasm32"))]
    let _ = ms;
}

#[component]
fn Shell() -> Element {
    let ctx = use_context::<Ctx>();
    let screen = (ctx.screen)();
    let Some(child) = ctx.current_child() else {
        return rsx! { main { class: "main", p { class: "muted", {ctx.tr(K::Nothing)} } } };
    };
    rsx! {
        Header { child: child.clone() }
        StatusBanner {}
        main { class: "main", id: "content",
            // Keyed by the child: switching children remounts the screen, so every read
            // is for the child now selected.
            // (A list of one: Dioxus honours keys in lists, not on a lone node.)
            for c in std::iter::once(child.clone()) {
                Body { key: "{c.id}", screen: screen.clone(), child: c }
            }
        }
    }
}

#[component]
fn Body(screen: Screen, child: ChildInfo) -> Element {
    match screen {
        Screen::Home => rsx! { screens::Home { child } },
        Screen::Absence { date, comment, resend } => rsx! { screens::AbsenceScreen { child, date, comment, resend } },
        Screen::Care { week } => rsx! { screens::CareScreen { child, week } },
        Screen::DayEdit { date, prefill, resend } => rsx! { screens::DayEditor { child, date, prefill, resend } },
        Screen::WeekEdit { week_start, resend } => rsx! { screens::WeekEditor { child, week_start, resend } },
        Screen::Sync => rsx! { screens::SyncScreen {} },
        Screen::Bell => rsx! { screens::BellScreen { child } },
        Screen::Settings => rsx! { screens::SettingsScreen {} },
        Screen::Info => rsx! { screens::InfoScreen { child } },
        Screen::Talks => rsx! { screens::TalksScreen { child } },
        Screen::NotYet(kind) => rsx! { screens::NotYet { child, kind } },
    }
}

fn screen_title(ctx: &Ctx, s: &Screen, child: &ChildInfo) -> String {
    let l = ctx.l();
    match s {
        Screen::Home => t(l, K::StartTitle).to_string(),
        Screen::Absence { .. } => t(l, K::AbsenceTitle).to_string(),
        Screen::Care { .. } | Screen::DayEdit { .. } | Screen::WeekEdit { .. } => {
            crate::i18n::box_name(l, BoxKind::CareSchedule, child.unit.kind).to_string()
        }
        Screen::Sync => t(l, K::SyncTitle).to_string(),
        Screen::Bell => t(l, K::NotificationsTitle).to_string(),
        Screen::Settings => t(l, K::SettingsTitle).to_string(),
        Screen::Info => t(l, K::InfoTitle).to_string(),
        Screen::Talks => t(l, K::TalksTitle).to_string(),
        Screen::NotYet(kind) => crate::i18n::box_name(l, *kind, child.unit.kind).to_string(),
    }
}

fn parent_of(s: &Screen) -> Screen {
    match s {
        Screen::DayEdit { date, .. } => Screen::Care { week: Some(domain::time::monday_of(*date)) },
        Screen::WeekEdit { week_start, .. } => Screen::Care { week: Some(*week_start) },
        _ => Screen::Home,
    }
}

#[component]
fn Header(child: ChildInfo) -> Element {
    let ctx = use_context::<Ctx>();
    let l = ctx.l();
    let screen = (ctx.screen)();
    let kids = ctx.children();
    let title = screen_title(&ctx, &screen, &child);
    let rev = (ctx.rev)();

    // The counts for the selected child (R-NOT-1, R-MSG-2).
    let counts = use_resource(move || {
        let _ = rev;
        let id = (ctx.child)().or(child_id_of(&ctx));
        let _ = (ctx.rev)();
        async move {
            let Some(id) = id else { return (0, 0) };
            match api::start_page(id).await {
                Ok(p) => (p.bell_count, p.unread_messages),
                Err(_) => (0, 0),
            }
        }
    });
    let (bell, mail) = counts.read().clone().unwrap_or((0, 0));

    let is_home = screen == Screen::Home;
    let back_to = parent_of(&screen);
    let bell_label = tf(l, K::BellLabel, &[("n", &bell.to_string())]);
    let mail_label = tf(l, K::EnvelopeLabel, &[("n", &mail.to_string())]);
    let selected = child.id.to_string();

    rsx! {
        header { class: "topbar",
            div { class: "topbar-row",
                Brand {}
                div { class: "switcher",
                    label { class: "sr-only", r#for: "child-switcher", {t(l, K::ChooseChild)} }
                    span { class: "avatar avatar-sm", "aria-hidden": "true", {child.first_name.chars().next().map(String::from).unwrap_or_default()} }
                    select {
                        id: "child-switcher",
                        class: "switcher-select",
                        value: "{selected}",
                        onchange: move |e: FormEvent| {
                            if let Ok(id) = e.value().parse::<Uuid>() {
                                let mut c = ctx.child;
                                c.set(Some(id));
                                ctx.go(match (ctx.screen)() {
                                    Screen::DayEdit { .. } | Screen::WeekEdit { .. } => Screen::Home,
                                    Screen::Care { week } => Screen::Care { week },
                                    Screen::Absence { .. } => Screen::Absence { date: None, comment: None, resend: None },
                                    other => other,
                                });
                            }
                        },
                        for k in kids.iter() {
                            option {
                                key: "{k.id}",
                                value: "{k.id}",
                                selected: k.id == child.id,
                                {format!("{} · {}", k.first_name, k.unit.name)}
                            }
                        }
                    }
                }
            }
            div { class: "topbar-row topbar-sub",
                div { class: "title-wrap",
                    if !is_home {
                        button {
                            class: "icon-btn back",
                            id: "back",
                            aria_label: t(l, K::Back),
                            title: t(l, K::Back),
                            onclick: move |_| ctx.go(back_to.clone()),
                            Icon { i: Ico::Back }
                        }
                    }
                    h1 { class: "page-title", id: "page-title", {title} }
                }
                nav { class: "actions", aria_label: t(l, K::Menu),
                    SyncChip {}
                    button {
                        class: "icon-btn",
                        id: "bell",
                        aria_label: "{bell_label}",
                        title: "{bell_label}",
                        onclick: move |_| ctx.go(Screen::Bell),
                        Icon { i: Ico::Bell }
                        if bell > 0 {
                            span { class: "badge", id: "bell-count", "aria-hidden": "true", {badge(bell)} }
                        }
                    }
                    span {
                        class: "icon-btn as-label",
                        id: "envelope",
                        role: "img",
                        aria_label: "{mail_label}",
                        title: "{mail_label}",
                        Icon { i: Ico::Mail }
                        if mail > 0 {
                            span { class: "badge badge-blue", id: "envelope-count", "aria-hidden": "true", {badge(mail)} }
                        }
                    }
                    button {
                        class: "icon-btn",
                        id: "settings",
                        aria_label: t(l, K::Settings),
                        title: t(l, K::Settings),
                        onclick: move |_| ctx.go(Screen::Settings),
                        Icon { i: Ico::Gear }
                    }
                }
            }
        }
    }
}


/// The product mark and name at the left of a top bar.
#[component]
pub fn Brand() -> Element {
    let l = use_context::<Ctx>().l();
    rsx! {
        div { class: "brand",
            span { class: "brand-mark", "aria-hidden": "true", "H" }
            span { class: "brand-name", {t(l, K::AppName)} }
        }
    }
}

/// The online/offline chip with the pending and needs-attention counts; opens the sync screen.
#[component]
pub fn SyncChip() -> Element {
    let ctx = use_context::<Ctx>();
    let l = ctx.l();
    let status = (ctx.status)();
    let sync_class = if !status.online { "chip chip-off" } else if status.needs_attention > 0 { "chip chip-warn" } else { "chip chip-on" };
    let sync_text = if status.needs_attention > 0 {
        count_text(l, status.needs_attention, K::AttentionOne, K::AttentionCount)
    } else if status.pending > 0 {
        count_text(l, status.pending, K::PendingOne, K::PendingCount)
    } else if status.online {
        t(l, K::Online).to_string()
    } else {
        t(l, K::Offline).to_string()
    };
    // Narrow windows show only a number (or "Offline"); the banner under the header says it
    // in full.
    let chip_short = if status.needs_attention > 0 {
        status.needs_attention.to_string()
    } else if status.pending > 0 {
        status.pending.to_string()
    } else if status.online {
        String::new()
    } else {
        t(l, K::Offline).to_string()
    };
    let state_word = if status.online { t(l, K::Online) } else { t(l, K::Offline) };
    rsx! {
        button {
            class: "{sync_class}",
            id: "sync-chip",
            "data-online": "{status.online}",
            "data-pending": "{status.pending}",
            "data-attention": "{status.needs_attention}",
            title: "{state_word}",
            aria_label: "{state_word}: {sync_text}",
            onclick: move |_| ctx.go(Screen::Sync),
            span { class: "dot", "aria-hidden": "true" }
            span { class: "chip-long", {sync_text.clone()} }
            span { class: "chip-short", "aria-hidden": "true", {chip_short.clone()} }
        }
    }
}

/// The sync screen outside the guardian shell (staff and tablets), with a way back.
#[component]
pub fn SyncPanel() -> Element {
    let ctx = use_context::<Ctx>();
    rsx! {
        button { class: "btn btn-quiet", id: "sync-back", onclick: move |_| ctx.go(Screen::Home),
            Icon { i: Ico::Back, size: 18 } {ctx.tr(K::Back)} }
        screens::SyncScreen {}
    }
}

fn child_id_of(ctx: &Ctx) -> Option<Uuid> {
    ctx.current_child().map(|c| c.id)
}

#[component]
pub fn StatusBanner() -> Element {
    let ctx = use_context::<Ctx>();
    let l = ctx.l();
    let s = (ctx.status)();
    rsx! {
        if s.needs_sign_in {
            div { class: "banner banner-warn", role: "status", id: "banner-sign-in",
                Icon { i: Ico::Alert, size: 18 }
                span { {t(l, K::NeedsSignIn)} }
            }
        } else if !s.online {
            div { class: "banner banner-off", role: "status", id: "banner-offline",
                Icon { i: Ico::CloudOff, size: 18 }
                span { {t(l, K::OfflineLead)} }
            }
        }
        if s.needs_attention > 0 && (ctx.screen)() != Screen::Sync {
            button { class: "banner banner-alert", id: "banner-attention", onclick: move |_| ctx.go(Screen::Sync),
                Icon { i: Ico::Alert, size: 18 }
                span { {count_text(l, s.needs_attention, K::AttentionOne, K::AttentionCount)} }
                Icon { i: Ico::Right, size: 18 }
            }
        }
    }
}

/// "Loading…" with a polite live region.
#[component]
pub fn Loading() -> Element {
    let ctx = use_context::<Ctx>();
    rsx! { div { class: "loading", role: "status", span { class: "spinner", "aria-hidden": "true" } {ctx.tr(K::Loading)} } }
}

#[component]
pub fn ErrorBox(err: ApiError) -> Element {
    let ctx = use_context::<Ctx>();
    rsx! {
        div { class: "notice notice-error", role: "alert",
            Icon { i: Ico::Alert, size: 20 }
            p { {ctx.err_text(&err)} }
        }
    }
}

/// Today in the unit's zone by the device clock corrected by the server offset (R-TIME-1).
pub fn today(status: &SyncStatus) -> NaiveDate {
    let now = domain::time::ServerOffset { millis: status.server_offset_ms }.corrected(now_utc());
    domain::time::local_date(now, domain::time::DEFAULT_TIME_ZONE)
}

pub fn now_utc() -> chrono::DateTime<chrono::Utc> {
    #[cfg(target_arch = "wasm32")]
    {
        let ms = js_sys::Date::now();
        chrono::DateTime::from_timestamp_millis(ms as i64).unwrap_or_default()
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        chrono::Utc::now()
    }
}

pub fn iso(d: NaiveDate) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day())
}
