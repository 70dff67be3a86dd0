//! The HTTP ceiling of the benchmark: axum's hello world, on the same machine, measured with
//! the same client as the sync server. `hub-bench-hello --listen 127.0.0.1:PORT`.

/// The sync server's allocator, so the reference and the client are not handicapped.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use axum::routing::get;
use axum::Router;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut listen = "127.0.0.1:8788".to_string();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--listen" => listen = args.next().unwrap_or(listen),
            other => anyhow::bail!("unknown argument {other}; usage: hub-bench-hello [--listen ADDR]"),
        }
    }
    let app = Router::new().route("/", get(|| async { "Hello, World!" }));
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
