//! Swedish personal identity numbers (R-ACC-8).
//!
//! Always with the century (`YYYYMMDD-NNNN`): the 10-digit form needs a reference date to
//! guess the century, and an identifier must not change meaning with the day it is read.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::RuleError;

/// A validated personnummer or samordningsnummer (coordination number: day of month + 60).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Personnummer {
    birth: NaiveDate,
    coordination: bool,
    /// Födelsenummer, 001..=999.
    serial: u16,
    check: u8,
}

/// The Luhn (mod 10) check digit over `YYMMDDNNN`, weights 2,1,2,…
fn luhn_check_digit(nine: &[u8; 9]) -> u8 {
    let sum: u32 = nine
        .iter()
        .enumerate()
        .map(|(i, &d)| {
            let p = u32::from(d) * if i % 2 == 0 { 2 } else { 1 };
            p / 10 + p % 10
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

impl Personnummer {
    /// Builds the number for a birth date, serial (001..=999) and kind, computing the check
    /// digit (demo data, tests).
    pub fn from_parts(
        birth: NaiveDate,
        serial: u16,
        coordination: bool,
    ) -> Result<Personnummer, RuleError> {
        if !(0..=9999).contains(&birth.year()) {
            return Err(RuleError::invalid(format!(
                "birth year {} has not four digits",
                birth.year()
            )));
        }
        if !(1..=999).contains(&serial) {
            return Err(RuleError::invalid(format!(
                "serial {serial} is not in 001..=999"
            )));
        }
        let mut p = Personnummer {
            birth,
            coordination,
            serial,
            check: 0,
        };
        p.check = luhn_check_digit(&p.luhn_digits());
        Ok(p)
    }

    pub fn birth_date(&self) -> NaiveDate {
        self.birth
    }

    /// A samordningsnummer (day of month written + 60).
    pub fn is_coordination_number(&self) -> bool {
        self.coordination
    }

    /// Completed years on `date`; 0 before birth. Someone born on 29 February becomes a year
    /// older on 1 March in non-leap years (the birthday has not been reached on 28
    /// February), and on 29 February in leap years.
    pub fn age_on(&self, date: NaiveDate) -> u32 {
        if date < self.birth {
            return 0;
        }
        let years = date.year() - self.birth.year();
        let before_birthday = (date.month(), date.day()) < (self.birth.month(), self.birth.day());
        // date >= birth, so years - 1 is never negative when before_birthday.
        u32::try_from(years - i32::from(before_birthday)).unwrap_or(0)
    }

    /// Day of month as written: + 60 for a samordningsnummer.
    fn written_day(&self) -> u32 {
        self.birth.day() + if self.coordination { 60 } else { 0 }
    }

    /// The nine digits `YYMMDDNNN` that the check digit covers.
    fn luhn_digits(&self) -> [u8; 9] {
        let yy = self.birth.year().rem_euclid(100) as u32;
        let mm = self.birth.month();
        let dd = self.written_day();
        let s = u32::from(self.serial);
        let two = |n: u32| [(n / 10) as u8, (n % 10) as u8];
        let [y1, y0] = two(yy);
        let [m1, m0] = two(mm);
        let [d1, d0] = two(dd);
        [
            y1,
            y0,
            m1,
            m0,
            d1,
            d0,
            (s / 100) as u8,
            (s / 10 % 10) as u8,
            (s % 10) as u8,
        ]
    }
}

impl fmt::Display for Personnummer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}{:02}{:02}-{:03}{}",
            self.birth.year(),
            self.birth.month(),
            self.written_day(),
            self.serial,
            self.check
        )
    }
}

impl FromStr for Personnummer {
    type Err = RuleError;

    /// `YYYYMMDD-NNNN`, `YYYYMMDD+NNNN` or `YYYYMMDDNNNN`.
    fn from_str(s: &str) -> Result<Personnummer, RuleError> {
        let invalid = |why: &str| RuleError::invalid(format!("personnummer {s:?} {why}"));
        let b = s.as_bytes();
        let digits: Vec<u8> = match b.len() {
            12 => b.to_vec(),
            13 if matches!(b[8], b'-' | b'+') => b[..8].iter().chain(&b[9..]).copied().collect(),
            _ => return Err(invalid("is not of the form YYYYMMDD-NNNN")),
        };
        if !digits.iter().all(u8::is_ascii_digit) {
            return Err(invalid("is not of the form YYYYMMDD-NNNN"));
        }
        let n: Vec<u32> = digits.iter().map(|d| u32::from(d - b'0')).collect();
        let num = |r: std::ops::Range<usize>| n[r].iter().fold(0, |acc, d| acc * 10 + d);
        let (year, month, day, serial) = (num(0..4), num(4..6), num(6..8), num(8..11));
        let coordination = day > 60;
        let birth_day = if coordination { day - 60 } else { day };
        // year <= 9999: the cast cannot wrap.
        let birth = NaiveDate::from_ymd_opt(year as i32, month, birth_day)
            .ok_or_else(|| invalid("does not start with a valid date"))?;
        // Skatteverket never issues födelsenummer 000.
        let p = Personnummer::from_parts(birth, serial as u16, coordination)
            .map_err(|_| invalid("has the serial number 000, which is never issued"))?;
        if u32::from(p.check) != n[11] {
            return Err(invalid("has a wrong check digit"));
        }
        Ok(p)
    }
}

impl Serialize for Personnummer {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Personnummer {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Personnummer, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Personnummer;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a personnummer \"YYYYMMDD-NNNN\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Personnummer, E> {
                v.parse().map_err(|e: RuleError| E::custom(e.message))
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

/// On the wire a personnummer is its `YYYYMMDD-NNNN` string.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Personnummer {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(r"^[0-9]{8}-[0-9]{4}$"))
            .examples(["19090527-1474"])
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Personnummer {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RejectCode;
    use proptest::prelude::*;

    fn p(s: &str) -> Personnummer {
        s.parse().unwrap()
    }
    fn d(s: &str) -> NaiveDate {
        crate::time::parse_date(s).unwrap()
    }

    // R-ACC-8: the given test vectors.
    #[test]
    fn known_valid_and_invalid_numbers() {
        assert_eq!(p("190905271474").birth_date(), d("1909-05-27"));
        assert_eq!(p("200002292399").birth_date(), d("2000-02-29"));
        let e = "201509160006".parse::<Personnummer>().unwrap_err();
        assert_eq!(e.code, RejectCode::InvalidInput);
    }

    // R-ACC-8: separators '-' and '+' or none; Display always with '-'.
    #[test]
    fn accepted_forms_normalise_to_dash_form() {
        for s in ["190905271474", "19090527-1474", "19090527+1474"] {
            assert_eq!(p(s).to_string(), "19090527-1474", "{s}");
        }
        for bad in [
            "0905271474",
            "090527-1474",
            "19090527 1474",
            "1909052-71474",
            "19090527--1474",
            "19090527-147",
            "19090527-14745",
            "1909O5271474",
            "",
            " 190905271474",
        ] {
            assert_eq!(
                bad.parse::<Personnummer>().unwrap_err().code,
                RejectCode::InvalidInput,
                "{bad:?}"
            );
        }
    }

    // R-ACC-8: the check digit is verified.
    #[test]
    fn wrong_check_digit_is_rejected() {
        let e = "190905271475".parse::<Personnummer>().unwrap_err();
        assert!(e.message.contains("check digit"), "{}", e.message);
    }

    // R-ACC-8: the date must exist.
    #[test]
    fn invalid_birth_date_is_rejected() {
        // Check digits made valid so only the date is wrong.
        for (date, serial) in [
            ("20010229", "239"),
            ("19091327", "147"),
            ("19090500", "147"),
            ("19090532", "147"),
        ] {
            let mut nine: [u8; 9] = [0; 9];
            for (i, c) in date[2..].bytes().chain(serial.bytes()).enumerate() {
                nine[i] = c - b'0';
            }
            let s = format!("{date}-{serial}{}", luhn_check_digit(&nine));
            let e = s.parse::<Personnummer>().unwrap_err();
            assert!(e.message.contains("valid date"), "{s}: {}", e.message);
        }
    }

    // R-ACC-8: samordningsnummer (day + 60) are accepted.
    #[test]
    fn samordningsnummer_is_accepted() {
        let s = Personnummer::from_parts(d("1990-05-27"), 123, true).unwrap();
        let text = s.to_string();
        assert!(text.starts_with("19900587-123"), "{text}");
        let back = p(&text);
        assert!(back.is_coordination_number());
        assert_eq!(back.birth_date(), d("1990-05-27"));
        assert_eq!(back, s);
    }

    // R-ACC-8: serial 000 is never issued.
    #[test]
    fn serial_000_is_rejected() {
        assert!(Personnummer::from_parts(d("2015-09-16"), 0, false).is_err());
        assert!(Personnummer::from_parts(d("2015-09-16"), 1000, false).is_err());
        assert!("20150916-0006"
            .parse::<Personnummer>()
            .unwrap_err()
            .message
            .contains("000"));
    }

    #[test]
    fn serde_is_the_dash_string() {
        let x = p("190905271474");
        assert_eq!(serde_json::to_string(&x).unwrap(), r#""19090527-1474""#);
        assert_eq!(
            serde_json::from_str::<Personnummer>(r#""190905271474""#).unwrap(),
            x
        );
        assert!(serde_json::from_str::<Personnummer>(r#""190905271475""#).is_err());
    }

    #[test]
    fn age_counts_completed_years() {
        let x = p("19090527-1474");
        assert_eq!(x.age_on(d("1909-05-26")), 0); // before birth
        assert_eq!(x.age_on(d("1909-05-27")), 0);
        assert_eq!(x.age_on(d("1927-05-26")), 17);
        assert_eq!(x.age_on(d("1927-05-27")), 18);
    }

    // R-ACC-8 (documented choice): born on 29 February, a year older on 1 March in
    // non-leap years and on 29 February in leap years.
    #[test]
    fn leap_day_child_turns_older_on_1_march_in_non_leap_years() {
        let x = p("20000229-2399");
        assert_eq!(x.age_on(d("2018-02-28")), 17);
        assert_eq!(x.age_on(d("2018-03-01")), 18);
        assert_eq!(x.age_on(d("2020-02-28")), 19);
        assert_eq!(x.age_on(d("2020-02-29")), 20);
    }

    fn any_valid() -> impl Strategy<Value = Personnummer> {
        (0i64..80_000, 1u16..=999, any::<bool>()).prop_map(|(days, serial, coord)| {
            let birth = d("1850-01-01") + chrono::Duration::days(days);
            Personnummer::from_parts(birth, serial, coord).unwrap()
        })
    }

    proptest! {
        // R-ACC-8: any valid number round-trips through Display / FromStr and serde.
        #[test]
        fn valid_personnummer_round_trips(x in any_valid()) {
            let s = x.to_string();
            prop_assert_eq!(s.len(), 13);
            prop_assert_eq!(s.parse::<Personnummer>().unwrap(), x);
            prop_assert_eq!(s.replace('-', "").parse::<Personnummer>().unwrap(), x);
            let json = serde_json::to_string(&x).unwrap();
            prop_assert_eq!(serde_json::from_str::<Personnummer>(&json).unwrap(), x);
        }

        // R-ACC-8: changing the check digit to any other digit is rejected.
        #[test]
        fn any_other_check_digit_is_rejected(x in any_valid(), delta in 1u8..10) {
            let s = x.to_string();
            let last = s.as_bytes()[12] - b'0';
            let wrong = format!("{}{}", &s[..12], (last + delta) % 10);
            let e = wrong.parse::<Personnummer>().unwrap_err();
            prop_assert_eq!(e.code, RejectCode::InvalidInput);
        }

        // Luhn detects every single-digit error in the nine covered digits too (when the
        // changed text is still a valid date and serial, it fails on the check digit).
        #[test]
        fn any_single_digit_change_is_rejected(x in any_valid(), pos in 2usize..11, delta in 1u8..10) {
            let mut b: Vec<u8> = x.to_string().replace('-', "").into_bytes();
            b[pos] = b'0' + (b[pos] - b'0' + delta) % 10;
            let changed = String::from_utf8(b).unwrap();
            prop_assert!(changed.parse::<Personnummer>().is_err(), "{}", changed);
        }
    }
}
