//! Many-to-many links (project ↔ variable sets, owner groups …) and
//! reference checks, as macros over the link tables of [`super::schema`]:
//! every link table has the same shape (owner id, target id).

/// The target ids linked to `$id`, ascending.
macro_rules! link_ids {
    ($conn:expr, $link:ident, $owner:ident, $target:ident, $id:expr) => {{
        use diesel::prelude::*;
        use $crate::db::schema::$link::dsl as l;
        l::$link
            .filter(l::$owner.eq($id))
            .select(l::$target)
            .order(l::$target.asc())
            .load::<i64>($conn)
    }};
}

/// Replaces the links of `$id` with `$ids` (already checked to exist).
macro_rules! set_links {
    ($conn:expr, $link:ident, $owner:ident, $target:ident, $id:expr, $ids:expr) => {{
        use diesel::prelude::*;
        use $crate::db::schema::$link::dsl as l;
        let owner: i64 = $id;
        diesel::delete(l::$link.filter(l::$owner.eq(owner))).execute($conn)?;
        let rows: Vec<_> = $crate::db::validate::dedup($ids)
            .into_iter()
            .map(|t| (l::$owner.eq(owner), l::$target.eq(t)))
            .collect();
        if !rows.is_empty() {
            $crate::db::links::insert_rows!($conn, l::$link, rows)?;
        }
    }};
}

/// A multi-row INSERT (diesel's `MultiBackend` has no batch insert, so
/// it runs on the backend's own connection).
macro_rules! insert_rows {
    ($conn:expr, $table:expr, $rows:expr) => {{
        use diesel::prelude::*;
        match $conn {
            $crate::db::DbConn::Sqlite(c) => diesel::insert_into($table).values($rows).execute(c),
            $crate::db::DbConn::Postgres(c) => diesel::insert_into($table).values($rows).execute(c),
        }
    }};
}

/// Fails with `Invalid { $object, $field }` unless every id of `$ids`
/// exists in `$table`.
macro_rules! check_ids {
    ($conn:expr, $table:ident, $ids:expr, $object:expr, $field:expr, $noun:expr) => {{
        use diesel::prelude::*;
        use $crate::db::schema::$table::dsl as t;
        let wanted = $crate::db::validate::dedup($ids);
        if !wanted.is_empty() {
            let found: Vec<i64> = t::$table
                .filter(t::id.eq_any(wanted.clone()))
                .select(t::id)
                .load($conn)?;
            let missing: Vec<String> = wanted
                .iter()
                .filter(|id| !found.contains(id))
                .map(|id| format!("#{id}"))
                .collect();
            if !missing.is_empty() {
                return Err($crate::db::DbError::invalid(
                    $object,
                    $field,
                    format!("no {} {}", $noun, missing.join(", ")),
                ));
            }
        }
    }};
}

/// Fails with `Invalid { $object, $field }` unless `$id` (an `Option`)
/// is `None` or exists in `$table`.
macro_rules! check_ref {
    ($conn:expr, $table:ident, $id:expr, $object:expr, $field:expr, $noun:expr) => {{
        if let Some(id) = $id {
            let id: i64 = id;
            $crate::db::links::check_ids!($conn, $table, &[id], $object, $field, $noun);
        }
    }};
}

pub(crate) use {check_ids, check_ref, insert_rows, link_ids, set_links};
