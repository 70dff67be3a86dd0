//! Command-line flags of the contract; each is also an environment variable.

use chrono::{DateTime, Utc};
use clap::Parser;

#[derive(Parser, Debug, Clone)]
#[command(name = "sync-server", version, about = "Hub's sync server: owns the truth, enforces every rule.")]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "HUB_LISTEN", default_value = "127.0.0.1:8787")]
    pub listen: String,

    /// Database: `sqlite:PATH`, `sqlite::memory:` or `postgres://USER@HOST:PORT/DB` (several
    /// instances may share one PostgreSQL database).
    #[arg(long = "db", env = "HUB_DATABASE_URL", default_value = "sqlite:hub.db")]
    pub db: String,

    /// Seed the demo data into an empty database.
    #[arg(long, env = "HUB_DEMO")]
    pub demo: bool,

    /// Enable `POST/DELETE /v1/dev/clock` to fix the server's clock (tests, demos).
    #[arg(long, env = "HUB_DEV_CLOCK")]
    pub dev_clock: bool,

    /// Start with the dev clock fixed at this instant (RFC 3339), before the demo data is
    /// seeded around "now"; implies `--dev-clock`. End-to-end tests stand on a chosen day.
    #[arg(long, env = "HUB_DEV_CLOCK_AT")]
    pub dev_clock_at: Option<DateTime<Utc>>,
}

impl Config {
    /// A config for tests: in-memory database, a free loopback port.
    pub fn for_tests() -> Config {
        Config { listen: "127.0.0.1:0".into(), db: "sqlite::memory:".into(), demo: true, dev_clock: true, dev_clock_at: None }
    }
}

/// Where the data lives, parsed from `--db`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbUrl {
    Sqlite(String),
    Postgres(String),
}

impl DbUrl {
    pub fn parse(url: &str) -> Result<DbUrl, String> {
        if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() {
                return Err("sqlite: needs a path, or :memory:".into());
            }
            return Ok(DbUrl::Sqlite(path.to_string()));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DbUrl::Postgres(url.to_string()));
        }
        Err(format!("unsupported database URL {url:?}: use sqlite:PATH, sqlite::memory: or postgres://…"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_parse() {
        assert_eq!(DbUrl::parse("sqlite::memory:"), Ok(DbUrl::Sqlite(":memory:".into())));
        assert_eq!(DbUrl::parse("sqlite:hub.db"), Ok(DbUrl::Sqlite("hub.db".into())));
        assert_eq!(DbUrl::parse("sqlite:///tmp/x.db"), Ok(DbUrl::Sqlite("/tmp/x.db".into())));
        assert!(matches!(DbUrl::parse("postgres://h/db"), Ok(DbUrl::Postgres(_))));
        assert!(DbUrl::parse("mysql://x").is_err());
        assert!(DbUrl::parse("sqlite:").is_err());
    }
}
