//! The screens under the header.

mod absence;
mod bell;
mod care;
mod home;
mod info;
mod settings;
mod sign_in;
mod sync;

pub use absence::AbsenceScreen;
pub use bell::BellScreen;
pub use care::{CareScreen, DayEditor, WeekEditor};
pub use home::{Home, NotYet};
pub use info::{InfoScreen, TalksScreen};
pub use settings::SettingsScreen;
pub use sign_in::{SignIn, SignInHead};
pub use sync::SyncScreen;
