//! Timestamps in JSON, written the way chrono writes them
//! (`2026-01-01T00:00:01`, `.123` / `.123456` / `.123456789` when there is
//! a fraction) but without chrono's `Debug` formatter: that one writes a
//! character at a time through serde_json's escaping writer, which was the
//! largest cost of serializing a page of builds (three timestamps a row).
//! Years outside 0–9999 and leap seconds take chrono's own path, so the
//! text is always chrono's.

use chrono::{Datelike, NaiveDateTime, Timelike};
use serde::Serializer;
use std::fmt::Write as _;

/// Writes `t` to `out` as chrono's `Debug` (and serde) does.
pub fn write_iso(t: &NaiveDateTime, out: &mut String) {
    let (year, nano) = (t.year(), t.nanosecond());
    if !(0..=9999).contains(&year) || nano >= 1_000_000_000 {
        let _ = write!(out, "{t:?}");
        return;
    }
    let mut buf = [0u8; 29];
    let mut put = |at: usize, value: u32, digits: usize| {
        let mut v = value;
        for i in (0..digits).rev() {
            buf[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, year as u32, 4);
    put(5, t.month(), 2);
    put(8, t.day(), 2);
    put(11, t.hour(), 2);
    put(14, t.minute(), 2);
    put(17, t.second(), 2);
    let len = if nano == 0 {
        19
    } else if nano % 1_000_000 == 0 {
        put(20, nano / 1_000_000, 3);
        23
    } else if nano % 1_000 == 0 {
        put(20, nano / 1_000, 6);
        26
    } else {
        put(20, nano, 9);
        29
    };
    for (at, c) in [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
    ] {
        buf[at] = c;
    }
    out.push_str(std::str::from_utf8(&buf[..len]).expect("ASCII digits"));
}

/// `#[serde(serialize_with)]` for a timestamp.
pub fn serialize<S: Serializer>(t: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
    let mut text = String::with_capacity(29);
    write_iso(t, &mut text);
    s.serialize_str(&text)
}

/// `#[serde(serialize_with)]` for an optional timestamp.
pub fn serialize_opt<S: Serializer>(t: &Option<NaiveDateTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => serialize(t, s),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn chrono_json(t: &NaiveDateTime) -> String {
        serde_json::to_string(t).unwrap()
    }

    fn ours(t: &NaiveDateTime) -> String {
        let mut out = Vec::new();
        serialize(t, &mut serde_json::Serializer::new(&mut out)).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn writes_what_chrono_writes() {
        let day = NaiveDate::from_ymd_opt(2026, 1, 2).unwrap();
        let mut cases = Vec::new();
        for nano in [
            0,
            5_000_000,
            123_000_000,
            123_456_000,
            1_000,
            123_456_789,
            1,
            999_999_999,
            1_500_000_000, // a leap second
        ] {
            cases.push(day.and_hms_nano_opt(23, 59, 59, nano).unwrap());
            cases.push(day.and_hms_nano_opt(0, 0, 0, nano % 1_000_000_000).unwrap());
        }
        for (y, m, d) in [
            (0, 1, 1),
            (9999, 12, 31),
            (10000, 1, 1),
            (-1, 6, 15),
            (999, 3, 7),
        ] {
            cases.push(
                NaiveDate::from_ymd_opt(y, m, d)
                    .unwrap()
                    .and_hms_opt(7, 8, 9)
                    .unwrap(),
            );
        }
        for t in &cases {
            assert_eq!(ours(t), chrono_json(t), "{t:?}");
        }
    }

    #[test]
    fn optional_timestamps_are_null_or_text() {
        #[derive(serde::Serialize)]
        struct Row {
            #[serde(serialize_with = "serialize_opt")]
            at: Option<NaiveDateTime>,
        }
        let t = NaiveDate::from_ymd_opt(2026, 12, 4)
            .unwrap()
            .and_hms_milli_opt(6, 38, 0, 120)
            .unwrap();
        assert_eq!(
            serde_json::to_string(&Row { at: Some(t) }).unwrap(),
            r#"{"at":"2026-12-04T06:38:00.120"}"#
        );
        assert_eq!(
            serde_json::to_string(&Row { at: None }).unwrap(),
            r#"{"at":null}"#
        );
    }
}
