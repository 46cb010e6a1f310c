//! Checks shared by the aggregates: names, lengths, numbers, and turning a
//! unique-constraint violation into a clear conflict.

use super::DbError;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// The longest name the original allowed (char 512).
pub(crate) const NAME_MAX: usize = 512;

/// A trimmed, non-empty name of at most 512 characters without control
/// characters.
pub(crate) fn name(object: &'static str, field: &str, value: &str) -> Result<String, DbError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(DbError::invalid(object, field, "is required"));
    }
    max_len(object, field, trimmed, NAME_MAX)?;
    if trimmed.chars().any(char::is_control) {
        return Err(DbError::invalid(
            object,
            field,
            "must not contain control characters",
        ));
    }
    Ok(trimmed.to_string())
}

/// At most `max` characters.
pub(crate) fn max_len(
    object: &'static str,
    field: &str,
    value: &str,
    max: usize,
) -> Result<(), DbError> {
    let n = value.chars().count();
    if n > max {
        return Err(DbError::invalid(
            object,
            field,
            format!("is {n} characters long; at most {max} are allowed"),
        ));
    }
    Ok(())
}

/// `low <= value <= high`.
pub(crate) fn range<T: PartialOrd + std::fmt::Display>(
    object: &'static str,
    field: &str,
    value: T,
    low: T,
    high: T,
) -> Result<(), DbError> {
    if value < low || value > high {
        return Err(DbError::invalid(
            object,
            field,
            format!("must be between {low} and {high}, got {value}"),
        ));
    }
    Ok(())
}

/// Maps a unique violation to "a {object} named '{name}' already exists";
/// other errors pass through.
pub(crate) fn unique_name(object: &'static str, name: &str) -> impl FnOnce(DieselError) -> DbError {
    let name = name.to_string();
    move |e| match e {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
            DbError::conflict(object, format!("a {object} named '{name}' already exists"))
        }
        other => DbError::Query(other),
    }
}

/// Sorted, without duplicates.
pub(crate) fn dedup(ids: &[i64]) -> Vec<i64> {
    let mut v = ids.to_vec();
    v.sort_unstable();
    v.dedup();
    v
}
