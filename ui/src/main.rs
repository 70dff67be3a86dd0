//! The UI's entry point in the browser. Built with `cargo xtask ui`
//! (wasm32-unknown-unknown + wasm-bindgen); on the host it only explains that.

#[cfg(target_arch = "wasm32")]
fn main() {
    hub_ui::launch();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("the Hub UI runs in the app's webview: build it with `cargo xtask ui`");
    std::process::exit(2);
}
