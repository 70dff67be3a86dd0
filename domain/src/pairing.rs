//! Pairing a tablet to a unit (R-STAFF-3): a short one-time code, valid 60 minutes, with a
//! limited number of attempts.
//!
//! A code is eight characters from an alphabet without look-alikes (no 0/O, 1/I/L), shown
//! as `ABCD-EFGH`. The first half finds the pairing, the second half is its secret: a wrong
//! secret counts against that pairing, and after [`MAX_PAIRING_ATTEMPTS`] the pairing is
//! void. Guessing a live code blindly means hitting one of 31⁴ halves, then one of 31⁴
//! secrets in five tries.

use chrono::{DateTime, Duration, Utc};

use crate::error::{RejectCode, RuleError};

/// Digits 2–9 and letters without I, L and O: 31 symbols that read aloud unambiguously.
pub const CODE_ALPHABET: &[u8; 31] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
const HALF: usize = 4;
pub const CODE_LEN: usize = 2 * HALF;
/// R-STAFF-3: a code is valid 60 minutes.
pub const PAIRING_VALID_MINUTES: i64 = 60;
/// R-STAFF-3: wrong codes allowed per pairing before it is void.
pub const MAX_PAIRING_ATTEMPTS: u32 = 5;

/// A well-formed pairing code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairingCode(String);

impl PairingCode {
    /// A code from random bytes (the server's CSPRNG; domain does no I/O).
    pub fn from_random(bytes: [u8; CODE_LEN]) -> PairingCode {
        PairingCode(bytes.iter().map(|b| CODE_ALPHABET[*b as usize % CODE_ALPHABET.len()] as char).collect())
    }

    /// What a person typed: case, spaces and dashes do not matter.
    pub fn parse(input: &str) -> Result<PairingCode, RuleError> {
        let s: String = input
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let ok = s.len() == CODE_LEN && s.bytes().all(|b| CODE_ALPHABET.contains(&b));
        if !ok {
            return Err(RuleError::new(
                RejectCode::PairingInvalid,
                "a pairing code is eight letters and digits, like ABCD-EFGH",
            ));
        }
        Ok(PairingCode(s))
    }

    /// The half that finds the pairing.
    pub fn lookup(&self) -> &str {
        &self.0[..HALF]
    }

    /// The half that proves it.
    pub fn secret(&self) -> &str {
        &self.0[HALF..]
    }

    /// `ABCD-EFGH`, as shown to staff.
    pub fn display(&self) -> String {
        format!("{}-{}", self.lookup(), self.secret())
    }
}

/// When a pairing created at `created_at` stops being valid.
pub fn expires_at(created_at: DateTime<Utc>) -> DateTime<Utc> {
    created_at + Duration::minutes(PAIRING_VALID_MINUTES)
}

/// The state of a pairing when a tablet presents its code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PairingState {
    pub expires_at: DateTime<Utc>,
    pub used: bool,
    pub failed_attempts: u32,
}

/// R-STAFF-3: whether a pairing may still be used at `now` (not used, not expired, attempts
/// left). Every refusal is the same `pairing_invalid`.
pub fn check_usable(p: PairingState, now: DateTime<Utc>) -> Result<(), RuleError> {
    let why = if p.used {
        "the code was already used"
    } else if now >= p.expires_at {
        "the code has expired"
    } else if p.failed_attempts >= MAX_PAIRING_ATTEMPTS {
        "too many wrong codes"
    } else {
        return Ok(());
    };
    Err(RuleError::new(RejectCode::PairingInvalid, why))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 7, 0, 0).unwrap()
    }

    #[test]
    fn a_code_is_read_whatever_its_case_and_dashes() {
        let c = PairingCode::parse(" abcd-efgh ").unwrap();
        assert_eq!(c.display(), "ABCD-EFGH");
        assert_eq!(c.lookup(), "ABCD");
        assert_eq!(c.secret(), "EFGH");
    }

    #[test]
    fn look_alike_characters_and_wrong_lengths_are_refused() {
        for bad in ["ABCD-EFG0", "ABCD-EFGI", "ABCDEFG", "ABCDEFGHJ", "", "ABCD_EFGH"] {
            assert_eq!(PairingCode::parse(bad).unwrap_err().code, RejectCode::PairingInvalid, "{bad}");
        }
    }

    #[test]
    fn a_pairing_code_is_valid_sixty_minutes() {
        let p = PairingState { expires_at: expires_at(t0()), used: false, failed_attempts: 0 };
        assert!(check_usable(p, t0() + Duration::minutes(59)).is_ok());
        assert!(check_usable(p, t0() + Duration::minutes(60)).is_err());
    }

    #[test]
    fn a_pairing_is_void_after_five_wrong_codes_or_one_use() {
        let p = PairingState { expires_at: expires_at(t0()), used: false, failed_attempts: 4 };
        assert!(check_usable(p, t0()).is_ok());
        let p = PairingState { failed_attempts: 5, ..p };
        assert_eq!(check_usable(p, t0()).unwrap_err().code, RejectCode::PairingInvalid);
        let p = PairingState { failed_attempts: 0, used: true, ..p };
        assert!(check_usable(p, t0()).is_err());
    }

    proptest! {
        #[test]
        fn every_generated_code_parses_back(bytes in any::<[u8; CODE_LEN]>()) {
            let c = PairingCode::from_random(bytes);
            prop_assert_eq!(PairingCode::parse(&c.display()).unwrap(), c.clone());
            prop_assert_eq!(PairingCode::parse(&c.display().to_lowercase()).unwrap(), c);
        }
    }
}
