//! Tauri's build step. The UI (`ui/dist`, built by `cargo xtask ui`) is embedded at compile
//! time; in a fresh clone it does not exist yet, so a placeholder page is written there that
//! says how to build it — `cargo build --workspace` then still works.

use std::path::Path;

const PLACEHOLDER: &str = r#"<!doctype html>
<html lang="sv"><head><meta charset="utf-8"><title>Hub</title></head>
<body style="font-family: system-ui, sans-serif; padding: 2rem">
<h1>Hub</h1>
<p>Gränssnittet är inte byggt. Kör <code>cargo xtask ui</code> och bygg appen igen.</p>
<p lang="en">The user interface is not built. Run <code>cargo xtask ui</code> and build the app again.</p>
</body></html>
"#;

fn main() {
    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/dist");
    if !dist.join("index.html").exists() {
        let _ = std::fs::create_dir_all(&dist);
        let _ = std::fs::write(dist.join("index.html"), PLACEHOLDER);
    }
    tauri_build::build()
}
