//! Hub's user interface (Dioxus, compiled to WebAssembly and served to the Tauri webview).
//!
//! It talks to the shell through [`api`] only and uses `domain`'s types; it never depends on
//! app-core. Everything that needs no window — texts ([`i18n`]), formatting and form logic
//! ([`logic`]) — is plain Rust, unit-tested on the host.

pub mod api;
pub mod app;
pub mod i18n;
pub mod icons;
pub mod logic;
pub mod room;
pub mod screens;
pub mod staff;
pub mod tablet;

/// Mounts the app in the page (the browser only).
#[cfg(target_arch = "wasm32")]
pub fn launch() {
    dioxus::launch(app::App);
}
