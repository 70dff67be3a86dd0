//! Hub's domain: the business rules of `PRODUCT.md` and the wire types of the sync contract.
//!
//! Pure: no I/O and no system clock. Every rule that depends on time takes `now` (an
//! instant, from the server's clock or the app's corrected clock, R-TIME-1) and the unit's
//! time zone. Builds for `wasm32-unknown-unknown`, so the UI pre-checks the very rule the
//! server enforces.

pub mod absence;
pub mod attendance;
pub mod care;
pub mod error;
pub mod interval;
pub mod opening;
pub mod pairing;
pub mod personnummer;
pub mod pin;
pub mod repeat;
pub mod time;
pub mod view;
pub mod wire;

pub use error::{RejectCode, RuleError};
