//! `sync-server`: flags in, server out. See `--help`.

use clap::Parser;
use sync_server::config::Config;

/// Performance: mimalloc instead of glibc's malloc. Requests allocate and free many small
/// buffers across threads (hyper, JSON, SQLite rows); in profiles of the benchmark glibc's
/// malloc/free/consolidate took about a sixth of the server's CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tower_http=info")),
        )
        .init();
    let config = Config::parse();
    let files = sync_server::open_files::raise_limit();
    tracing::info!(open_files = files, "open-file limit (each event stream holds a socket)");
    let server = sync_server::start(config).await?;
    let stop = server.trigger();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        let _ = stop.send(true);
    });
    server.wait().await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
