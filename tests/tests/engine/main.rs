//! app-core against the real sync server on loopback (issue 3, "How it is tested").
//! One binary, one module per concern; each test starts its own server on a temp SQLite file
//! and stands on fixed instants with the dev clock.

mod conflict;
mod connectivity;
mod cursor;
mod kill;
mod lock;
mod notify;
mod offline;
mod scale_out;
mod scope;
mod simulation;
mod tablet;
mod tablet_cli;

use hub_tests::*;

/// Wednesday 4 September 2030, 10:00 in Stockholm: the instant most tests stand on. The demo
/// data is seeded around the real date, so nothing of it falls in the weeks used here.
pub fn wednesday() -> chrono::DateTime<chrono::Utc> {
    local("2030-09-04 10:00")
}

/// A server with its clock on [`wednesday`].
pub async fn server() -> TestServer {
    let s = TestServer::start().await;
    s.set_clock(wednesday()).await;
    s
}

/// The care day as the view shows it.
pub fn day_view(
    dev: &Device,
    child: uuid::Uuid,
    date: chrono::NaiveDate,
) -> domain::view::CareDayView {
    dev.core
        .care_week(child, date)
        .unwrap_or_else(|e| panic!("{}: care week: {e}", dev.name))
        .days
        .into_iter()
        .find(|x| x.date == date)
        .expect("the day is in its week")
}
