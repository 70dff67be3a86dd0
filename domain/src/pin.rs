//! Staff PINs on paired tablets (R-STAFF-3, R-ACC-3).
//!
//! A tablet must let staff unlock it for a whole day offline, so it checks PINs itself
//! against a verifier it received from the server, with the same functions the server uses
//! when it records the attempts. The lockout counter is a small state machine
//! ([`PinState::after_attempt`]) applied by the server to reported attempts and by the app to
//! its pending ones, so both agree on when a PIN is locked. Attempts are reported late (a
//! tablet offline for a day), so the state keeps the moment of the last password unlock and
//! the counter skips attempts made before it, whenever they arrive.
//!
//! A 4-digit PIN has 10,000 values: no hash makes its verifier safe against someone who has
//! extracted a tablet's data. The PIN tells staff apart on a trusted device; the device
//! credential (revocable, R-STAFF-3) is the security boundary.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::{RejectCode, RuleError};

pub const PIN_DIGITS: usize = 4;
/// R-STAFF-3: five wrong PINs in a row lock the PIN.
pub const MAX_PIN_FAILURES: u32 = 5;
/// R-STAFF-3: a PIN session ends after 10 minutes idle.
pub const PIN_IDLE_MINUTES: i64 = 10;
/// PBKDF2 rounds: a few milliseconds on a tablet, per unlock.
pub const PIN_ROUNDS: u32 = 20_000;

/// Often chosen PINs that no pattern below catches (published PIN frequency studies).
const COMMON: [&str; 8] = ["1004", "2000", "2001", "2580", "0852", "1313", "6969", "1010"];

fn digits(pin: &str) -> Option<[u8; PIN_DIGITS]> {
    let b = pin.as_bytes();
    if b.len() != PIN_DIGITS || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut d = [0u8; PIN_DIGITS];
    for (i, c) in b.iter().enumerate() {
        d[i] = c - b'0';
    }
    Some(d)
}

/// Whether `pin` is too easy to guess (R-STAFF-3: "trivial PINs such as 0000 or 1234"):
/// one digit repeated, a run up or down (0123, 9876), two digits alternating (1212) or
/// doubled (1122), or one of the most common PINs.
pub fn is_trivial(pin: &str) -> bool {
    let Some(d) = digits(pin) else { return false };
    let step = |s: i8| d.windows(2).all(|w| w[1] as i8 - w[0] as i8 == s);
    step(0)
        || step(1)
        || step(-1)
        || (d[0] == d[2] && d[1] == d[3])
        || (d[0] == d[1] && d[2] == d[3])
        || COMMON.contains(&pin)
}

/// R-STAFF-3: a new PIN is exactly four digits and not trivial.
pub fn check_new_pin(pin: &str) -> Result<(), RuleError> {
    if digits(pin).is_none() {
        return Err(RuleError::invalid("a PIN is exactly four digits"));
    }
    if is_trivial(pin) {
        return Err(RuleError::new(RejectCode::PinTrivial, "this PIN is too easy to guess; choose another"));
    }
    Ok(())
}

/// What a tablet needs to check a PIN offline: a salted PBKDF2-HMAC-SHA256, hex encoded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PinVerifier {
    pub salt: String,
    pub rounds: u32,
    pub hash: String,
}

fn derive(pin: &str, salt: &str, rounds: u32) -> [u8; 32] {
    let mut out = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(pin.as_bytes(), salt.as_bytes(), rounds, &mut out);
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl PinVerifier {
    /// The verifier of `pin` with `salt` (random, chosen by the server).
    pub fn new(pin: &str, salt: &str) -> PinVerifier {
        PinVerifier { salt: salt.to_string(), rounds: PIN_ROUNDS, hash: hex(&derive(pin, salt, PIN_ROUNDS)) }
    }

    /// Whether `pin` matches, compared in constant time.
    pub fn verify(&self, pin: &str) -> bool {
        if digits(pin).is_none() || self.rounds == 0 || self.rounds > 10 * PIN_ROUNDS {
            return false;
        }
        let got = hex(&derive(pin, &self.salt, self.rounds));
        got.len() == self.hash.len()
            && got.bytes().zip(self.hash.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

/// The lockout counter of one staff member's PIN.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PinState {
    /// Wrong PINs in a row since the last right one.
    pub failures: u32,
    /// Locked until a sign-in with password.
    pub locked: bool,
    /// When a sign-in with password last unlocked the PIN (whole seconds); attempts made
    /// before it are not counted. None: no sign-in recorded since the PIN was set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unlocked_at: Option<DateTime<Utc>>,
}

impl PinState {
    /// R-STAFF-3 for an attempt made at `at` on a tablet: a right PIN resets the count; the
    /// fifth wrong one in a row locks the PIN. A locked PIN stays locked whatever is entered:
    /// only a password unlocks it. An attempt made before the last password unlock, reported
    /// after it (an offline tablet), changes nothing, right or wrong: the unlock came later.
    pub fn after_attempt(self, ok: bool, at: DateTime<Utc>) -> PinState {
        if self.locked || self.unlocked_at.is_some_and(|u| at < u) {
            return self;
        }
        if ok {
            return PinState { failures: 0, locked: false, unlocked_at: self.unlocked_at };
        }
        let failures = self.failures.saturating_add(1);
        PinState { failures, locked: failures >= MAX_PIN_FAILURES, unlocked_at: self.unlocked_at }
    }

    /// A sign-in with password at `now` unlocks the PIN and clears the count. The moment is
    /// kept in whole seconds, as tablets stamp attempts: an attempt in the same second as the
    /// unlock counts. It never moves back (a clock set back, a late reset on a tablet).
    pub fn after_password_sign_in(self, now: DateTime<Utc>) -> PinState {
        let now = now.trunc_subsecs(0);
        PinState { failures: 0, locked: false, unlocked_at: Some(self.unlocked_at.map_or(now, |u| u.max(now))) }
    }

    /// A new PIN starts unlocked with no failures; attempts made before the last password
    /// unlock still do not count.
    pub fn for_new_pin(self) -> PinState {
        PinState { unlocked_at: self.unlocked_at, ..PinState::default() }
    }

    /// Wrong PINs still allowed before the lock.
    pub fn attempts_left(self) -> u32 {
        if self.locked {
            0
        } else {
            MAX_PIN_FAILURES.saturating_sub(self.failures)
        }
    }
}

/// R-STAFF-3: whether a PIN session whose last action was at `last_active` has ended at `now`
/// (10 minutes idle; exactly 10 minutes has ended).
pub fn session_expired(last_active: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now - last_active >= Duration::minutes(PIN_IDLE_MINUTES)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    #[test]
    fn zeros_and_runs_are_trivial_pins() {
        for p in ["0000", "1111", "1234", "0123", "6789", "4321", "9876", "1212", "1122", "2580", "1004"] {
            assert!(is_trivial(p), "{p}");
            assert_eq!(check_new_pin(p).unwrap_err().code, RejectCode::PinTrivial, "{p}");
        }
    }

    #[test]
    fn an_irregular_pin_is_accepted() {
        for p in ["4826", "7391", "0815", "5093"] {
            assert!(check_new_pin(p).is_ok(), "{p}");
        }
    }

    #[test]
    fn a_pin_is_exactly_four_digits() {
        for p in ["", "482", "48261", "48a6", " 4826", "４８２６"] {
            assert_eq!(check_new_pin(p).unwrap_err().code, RejectCode::InvalidInput, "{p:?}");
        }
    }

    #[test]
    fn the_verifier_accepts_the_pin_and_nothing_else() {
        let v = PinVerifier::new("4826", "c2FsdA");
        assert!(v.verify("4826"));
        assert!(!v.verify("4827"));
        assert!(!v.verify("48260"));
        assert!(!v.verify(""));
        // Another salt, another hash: equal PINs do not show.
        assert_ne!(PinVerifier::new("4826", "other").hash, v.hash);
    }

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, h, m, s).unwrap()
    }

    fn wrong(s: PinState, n: usize, at: DateTime<Utc>) -> PinState {
        (0..n).fold(s, |s, _| s.after_attempt(false, at))
    }

    #[test]
    fn the_fifth_wrong_pin_in_a_row_locks() {
        let mut s = PinState::default();
        for left in (1..=4).rev() {
            s = s.after_attempt(false, at(8, 0, 0));
            assert!(!s.locked);
            assert_eq!(s.attempts_left(), left);
        }
        s = s.after_attempt(false, at(8, 0, 0));
        assert!(s.locked);
        assert_eq!(s.attempts_left(), 0);
    }

    #[test]
    fn a_right_pin_resets_the_count() {
        let s = wrong(PinState::default(), 4, at(8, 0, 0));
        let s = s.after_attempt(true, at(8, 1, 0));
        assert_eq!(s, PinState::default());
        let s = wrong(s, 4, at(8, 2, 0));
        assert!(!s.locked, "four in a row after a right one do not lock");
    }

    #[test]
    fn a_locked_pin_stays_locked_until_a_password_sign_in() {
        let s = wrong(PinState::default(), 5, at(8, 0, 0));
        assert!(s.after_attempt(true, at(8, 1, 0)).locked);
        let unlocked = s.after_password_sign_in(at(9, 0, 0));
        assert_eq!((unlocked.failures, unlocked.locked), (0, false));
        assert_eq!(unlocked.attempts_left(), MAX_PIN_FAILURES);
    }

    // R-STAFF-3: an offline tablet reports wrong PINs made before the password sign-in after
    // it; they do not re-lock the PIN the password has just unlocked.
    #[test]
    fn wrong_pins_made_before_a_password_unlock_do_not_count() {
        let s = wrong(PinState::default(), 5, at(8, 0, 0)).after_password_sign_in(at(9, 0, 0));
        let s = wrong(s, 5, at(8, 30, 0));
        assert!(!s.locked, "{s:?}");
        assert_eq!(s.attempts_left(), MAX_PIN_FAILURES);
        // Nor do they count towards a new lockout with later ones.
        let s = wrong(PinState::default().after_password_sign_in(at(9, 0, 0)), 4, at(8, 59, 59));
        let s = s.after_attempt(false, at(9, 5, 0));
        assert_eq!((s.failures, s.locked), (1, false));
    }

    // R-STAFF-3: attempts made after the unlock count as before, from the unlock's second on.
    #[test]
    fn wrong_pins_made_after_a_password_unlock_count() {
        let s = PinState::default().after_password_sign_in(at(9, 0, 0));
        let s = wrong(s, 5, at(9, 0, 0));
        assert!(s.locked, "five in a row from the unlock's second on: {s:?}");
        let s = wrong(PinState::default().after_password_sign_in(at(9, 0, 0)), 4, at(9, 30, 0));
        assert_eq!(s.attempts_left(), 1);
    }

    // R-STAFF-3: a right PIN made before the unlock changes nothing either: it neither resets
    // the run of wrong PINs made after the unlock nor anything else.
    #[test]
    fn a_right_pin_made_before_a_password_unlock_resets_nothing() {
        let s = wrong(PinState::default().after_password_sign_in(at(9, 0, 0)), 4, at(9, 10, 0));
        assert_eq!(s.after_attempt(true, at(8, 59, 0)), s);
        let s = s.after_attempt(true, at(8, 59, 0)).after_attempt(false, at(9, 11, 0));
        assert!(s.locked, "the late right PIN did not break the run");
    }

    // The tablets stamp attempts in whole seconds: the unlock's moment is kept so too, and an
    // attempt in the same second as the unlock counts (the lockout as before, when unsure).
    #[test]
    fn the_unlock_moment_is_kept_in_whole_seconds_and_never_moves_back() {
        let t = at(9, 0, 0) + Duration::milliseconds(700);
        let s = PinState::default().after_password_sign_in(t);
        assert_eq!(s.unlocked_at, Some(at(9, 0, 0)));
        assert_eq!(s.after_attempt(false, at(9, 0, 0)).failures, 1);
        assert_eq!(s.after_password_sign_in(at(8, 0, 0)).unlocked_at, Some(at(9, 0, 0)));
        assert_eq!(s.after_password_sign_in(at(10, 0, 0)).unlocked_at, Some(at(10, 0, 0)));
    }

    #[test]
    fn a_new_pin_starts_unlocked_and_keeps_the_unlock_moment() {
        let s = wrong(PinState::default().after_password_sign_in(at(9, 0, 0)), 5, at(9, 1, 0));
        let s = s.for_new_pin();
        assert_eq!(s, PinState { failures: 0, locked: false, unlocked_at: Some(at(9, 0, 0)) });
        assert_eq!(s.after_attempt(false, at(8, 0, 0)).failures, 0);
    }

    // The state as stored before the unlock moment existed, and as old tablets read it.
    #[test]
    fn the_unlock_moment_is_optional_on_the_wire() {
        let old: PinState = serde_json::from_str(r#"{"failures":2,"locked":false}"#).unwrap();
        assert_eq!(old, PinState { failures: 2, locked: false, unlocked_at: None });
        assert_eq!(serde_json::to_string(&old).unwrap(), r#"{"failures":2,"locked":false}"#);
        let new = old.after_password_sign_in(at(9, 0, 0));
        assert_eq!(
            serde_json::to_value(new).unwrap(),
            serde_json::json!({ "failures": 0, "locked": false, "unlocked_at": "2026-11-24T09:00:00Z" })
        );
    }

    #[test]
    fn a_pin_session_ends_after_ten_idle_minutes() {
        let t = Utc.with_ymd_and_hms(2026, 11, 24, 8, 0, 0).unwrap();
        assert!(!session_expired(t, t + Duration::seconds(599)));
        assert!(session_expired(t, t + Duration::minutes(10)));
    }

    proptest! {
        /// R-STAFF-3 as a property: the PIN is locked exactly when some run of wrong PINs,
        /// not broken by a right one, reached five.
        #[test]
        fn locked_iff_five_wrong_in_a_row(attempts in proptest::collection::vec(any::<bool>(), 0..30)) {
            let t = Utc.with_ymd_and_hms(2026, 11, 24, 8, 0, 0).unwrap();
            let s = attempts.iter().fold(PinState::default(), |s, ok| s.after_attempt(*ok, t));
            let mut run = 0u32;
            let mut expect = false;
            for ok in &attempts {
                if expect { break }
                if *ok { run = 0 } else { run += 1; expect = run >= MAX_PIN_FAILURES }
            }
            prop_assert_eq!(s.locked, expect);
        }

        /// R-STAFF-3: attempts made before a password unlock, reported late among later ones
        /// in any order, leave the state as the later ones alone make it.
        #[test]
        fn attempts_made_before_an_unlock_never_count(
            attempts in proptest::collection::vec((any::<bool>(), any::<bool>()), 0..30),
        ) {
            let unlock = Utc.with_ymd_and_hms(2026, 11, 24, 9, 0, 0).unwrap();
            let start = PinState::default().after_password_sign_in(unlock);
            let when = |before: bool| if before { unlock - Duration::seconds(1) } else { unlock };
            let all = attempts.iter().fold(start, |s, (ok, before)| s.after_attempt(*ok, when(*before)));
            let later = attempts.iter().filter(|(_, before)| !before).fold(start, |s, (ok, _)| s.after_attempt(*ok, unlock));
            prop_assert_eq!(all, later);
        }
    }
}
