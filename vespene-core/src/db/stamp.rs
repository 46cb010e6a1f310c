//! Timestamps read from the database without chrono's format parser.
//!
//! SQLite keeps timestamps as text, and diesel reads one by trying chrono
//! format strings in turn, each parsed afresh: a twelfth of the server's
//! CPU while it served pages of the build list (three timestamps a row).
//! The text diesel writes, `YYYY-MM-DD HH:MM:SS[.fraction]`, is read here
//! by hand; anything else (a year past 9999, an offset, a Julian day) goes
//! to diesel's own reader, so every value reads as it did. PostgreSQL's
//! binary timestamps go to diesel unchanged.
//!
//! Used as `#[diesel(deserialize_as = Stamp)]` (or [`OptStamp`]) on the
//! `NaiveDateTime` fields of rows read in lists.

use super::Backend;
use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::pg::Pg;
use diesel::sql_types::{Nullable, Timestamp};
use diesel::sqlite::Sqlite;

/// A non-null timestamp column.
#[derive(Debug, Clone, Copy, PartialEq, FromSqlRow)]
pub struct Stamp(pub NaiveDateTime);

/// A nullable timestamp column.
#[derive(Debug, Clone, Copy, PartialEq, FromSqlRow)]
pub struct OptStamp(pub Option<NaiveDateTime>);

impl From<Stamp> for NaiveDateTime {
    fn from(s: Stamp) -> NaiveDateTime {
        s.0
    }
}

impl From<OptStamp> for Option<NaiveDateTime> {
    fn from(s: OptStamp) -> Option<NaiveDateTime> {
        s.0
    }
}

/// `YYYY-MM-DD HH:MM:SS` with an optional `.` and 1–9 digits of fraction,
/// nothing else; `None` for any other text.
pub fn parse(text: &str) -> Option<NaiveDateTime> {
    let b = text.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[10] != b' ' {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<u32> {
        b[from..to].iter().try_fold(0u32, |n, c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let nano = match &b[19..] {
        [] => 0,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => {
            num(20, b.len())? * 10u32.pow(9 - digits.len() as u32)
        }
        _ => return None,
    };
    let date = NaiveDate::from_ymd_opt(num(0, 4)? as i32, num(5, 7)?, num(8, 10)?)?;
    let time = NaiveTime::from_hms_nano_opt(num(11, 13)?, num(14, 16)?, num(17, 19)?, nano)?;
    Some(date.and_time(time))
}

impl FromSql<Timestamp, Sqlite> for Stamp {
    fn from_sql(
        mut value: <Sqlite as diesel::backend::Backend>::RawValue<'_>,
    ) -> deserialize::Result<Self> {
        if let Some(t) = parse(value.read_text()) {
            return Ok(Stamp(t));
        }
        <NaiveDateTime as FromSql<Timestamp, Sqlite>>::from_sql(value).map(Stamp)
    }
}

impl FromSql<Timestamp, Pg> for Stamp {
    fn from_sql(
        value: <Pg as diesel::backend::Backend>::RawValue<'_>,
    ) -> deserialize::Result<Self> {
        <NaiveDateTime as FromSql<Timestamp, Pg>>::from_sql(value).map(Stamp)
    }
}

impl FromSql<Timestamp, Backend> for Stamp {
    fn from_sql(
        value: <Backend as diesel::backend::Backend>::RawValue<'_>,
    ) -> deserialize::Result<Self> {
        value.from_sql::<Self, Timestamp>()
    }
}

impl FromSql<Nullable<Timestamp>, Backend> for OptStamp {
    fn from_sql(
        value: <Backend as diesel::backend::Backend>::RawValue<'_>,
    ) -> deserialize::Result<Self> {
        <Stamp as FromSql<Timestamp, Backend>>::from_sql(value).map(|s| OptStamp(Some(s.0)))
    }

    fn from_nullable_sql(
        value: Option<<Backend as diesel::backend::Backend>::RawValue<'_>>,
    ) -> deserialize::Result<Self> {
        match value {
            Some(v) => Self::from_sql(v),
            None => Ok(OptStamp(None)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every text this reads, it reads as chrono's `%F %T%.f` does; what it
    /// refuses is left to diesel.
    #[test]
    fn reads_what_diesel_writes_as_chrono_does() {
        for text in [
            "2026-12-04 22:35:37",
            "2026-12-04 22:35:37.7",
            "2026-12-04 22:35:37.704",
            "2026-12-04 22:35:37.704492",
            "2026-12-04 22:35:37.704492123",
            "0001-01-01 00:00:00",
            "9999-12-31 23:59:59.999999",
        ] {
            let chrono = NaiveDateTime::parse_from_str(text, "%F %T%.f").unwrap();
            assert_eq!(parse(text), Some(chrono), "{text}");
        }
        for text in [
            "2026-12-04T22:35:37",
            "2026-12-04 22:35:37Z",
            "2026-12-04 22:35:37+01:00",
            "2026-12-04 22:35:37.",
            "2026-12-04 22:35:37.1234567890",
            "2026-02-30 00:00:00",
            "2026-12-04 24:00:00",
            "2026-12-04 22:35",
            "2459000.5",
            "2026-1a-04 22:35:37",
            "",
        ] {
            assert_eq!(parse(text), None, "{text}");
        }
    }
}
