//! The PostgreSQL test backend: a fresh, empty database per test when
//! `HUB_TEST_DATABASE_URL=postgres://…` is set (`cargo xtask test` starts a throwaway
//! cluster and sets it; against a cluster of your own:
//! `HUB_TEST_DATABASE_URL=postgres://user@127.0.0.1:5432/postgres cargo test -p sync-server --test contract`).
//!
//! The URL names a database to connect to for `CREATE DATABASE`; the user must be allowed to
//! create databases. Each test gets `hub_test_<pid>_<n>_<nanos>`, dropped when its
//! [`TestDb`] guard drops (`WITH (FORCE)`: the test's server may still hold connections; in
//! the background, see [`DropDatabase`]); the next run reaps any a previous run left.
//! Set `HUB_TEST_KEEP_DATABASES=1` to keep them for a look afterwards.
//!
//! The `postgres` client starts a runtime of its own, so it runs on a std thread here, never
//! on the test's tokio runtime.

use std::sync::atomic::{AtomicU64, Ordering};

use super::TestDb;

/// Creates a uniquely named database on the cluster of `base_url` and returns it; the guard
/// drops it.
pub async fn fresh_database(base_url: &str) -> TestDb {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let name = format!("hub_test_{}_{}_{nanos}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
    let admin = base_url.to_string();
    let create = format!("CREATE DATABASE {name}");
    on_std_thread(move || {
        reap_leftovers(&admin);
        admin_exec(&admin, &create)
    })
        .await
        .unwrap_or_else(|e| panic!("creating test database {name} on {base_url}: {e}"));
    let url = with_database(base_url, &name);
    TestDb { url, guard: Box::new(DropDatabase { admin_url: base_url.to_string(), name }) }
}

/// `url` with its database name replaced by `db` (query parameters kept).
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority = base.find("://").map(|i| i + 3).unwrap_or(0);
    let path = base[authority..].find('/').map(|i| authority + i).unwrap_or(base.len());
    let mut out = format!("{}/{db}", &base[..path]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// Once per test process: drops the test databases of earlier runs whose process is gone
/// (a background drop cut short by the process exiting, see [`DropDatabase`]). Only
/// processes of this machine are known, so only a cluster on this machine is cleaned.
fn reap_leftovers(admin_url: &str) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let Ok(mut client) = postgres::Client::connect(admin_url, postgres::NoTls) else { return };
        let Ok(rows) = client.query("SELECT datname FROM pg_database WHERE datname LIKE 'hub\\_test\\_%'", &[]) else {
            return;
        };
        for row in rows {
            let name: String = row.get(0);
            let pid = name.split('_').nth(2).and_then(|p| p.parse::<u32>().ok());
            let alive = pid.is_some_and(|p| std::path::Path::new(&format!("/proc/{p}")).exists());
            if pid.is_some() && !alive {
                let _ = client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    });
}

/// Runs `sql` (one or more statements) on the database of `url`.
pub fn admin_exec(url: &str, sql: &str) -> Result<(), String> {
    let mut client = postgres::Client::connect(url, postgres::NoTls).map_err(|e| format!("connect: {e}"))?;
    client.batch_execute(sql).map_err(|e| match e.as_db_error() {
        Some(db) => db.message().to_string(),
        None => e.to_string(),
    })
}

/// The first row of `sql` on the database of `url`, its columns read as `bigint`.
pub fn admin_row_i64(url: &str, sql: &str) -> Result<Vec<i64>, String> {
    let mut client = postgres::Client::connect(url, postgres::NoTls).map_err(|e| format!("connect: {e}"))?;
    let row = client.query_one(sql, &[]).map_err(|e| e.to_string())?;
    (0..row.len()).map(|i| row.try_get::<_, i64>(i).map_err(|e| e.to_string())).collect()
}

pub async fn on_std_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.await.expect("the database thread answers")
}

struct DropDatabase {
    admin_url: String,
    name: String,
}

impl Drop for DropDatabase {
    fn drop(&mut self) {
        if std::env::var_os("HUB_TEST_KEEP_DATABASES").is_some_and(|v| v != "0" && !v.is_empty()) {
            eprintln!("keeping test database {}", self.name);
            return;
        }
        let (url, name) = (self.admin_url.clone(), self.name.clone());
        let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
        // On a thread of its own (a drop can run inside the runtime) and not waited for: with
        // the test's server still connected, DROP … WITH (FORCE) waits for its sessions to
        // end (~0.3 s), and the next test need not wait with it. A drop still running when the
        // test binary exits may leave its database behind (harmless on the throwaway cluster
        // of `cargo xtask test`; on a cluster of your own, drop `hub_test_%` now and then).
        std::thread::spawn(move || {
            if let Err(e) = admin_exec(&url, &sql) {
                eprintln!("could not drop test database {name}: {e}");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_name_is_replaced() {
        assert_eq!(with_database("postgres://hub@127.0.0.1:5432/postgres", "x"), "postgres://hub@127.0.0.1:5432/x");
        assert_eq!(with_database("postgres://hub@h:1/postgres?sslmode=disable", "x"), "postgres://hub@h:1/x?sslmode=disable");
        assert_eq!(with_database("postgresql://h", "x"), "postgresql://h/x");
    }
}
