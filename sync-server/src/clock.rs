//! The server's clock (R-TIME-1), which `--dev-clock` lets tests fix at any instant.

use std::sync::RwLock;

use chrono::{DateTime, Utc};
use domain::time::Clock;

#[derive(Debug, Default)]
pub struct ServerClock {
    fixed: RwLock<Option<DateTime<Utc>>>,
}

impl ServerClock {
    pub fn fix(&self, now: DateTime<Utc>) {
        if let Ok(mut f) = self.fixed.write() {
            *f = Some(now);
        }
    }
    pub fn release(&self) {
        if let Ok(mut f) = self.fixed.write() {
            *f = None;
        }
    }
}

impl Clock for ServerClock {
    fn now(&self) -> DateTime<Utc> {
        self.fixed.read().ok().and_then(|f| *f).unwrap_or_else(Utc::now)
    }
}
