//! The sync contract (ARCHITECTURE.md) tested over HTTP against the real server in process,
//! one fresh database per test. Each test is named after what it proves and cites the rule.
//!
//! Every test stands on a fixed instant of the dev clock, never on the real date.

mod support;

mod absence;
mod attendance;
mod auth;
mod bad_input;
mod care;
mod idempotency;
mod messages;
mod multi_instance;
mod notifications;
mod ops;
mod pull_memory;
mod scope;
mod sse;
mod store;
mod tablets;
mod talks;
