//! Rows into structs by column name ([serde_rusqlite]): a struct that derives `Deserialize` is
//! read by a query that names its columns after the fields (`SELECT createtime AS created_at`), so
//! which column fills which field is said once, in the SQL, rather than again as one
//! `row.get(n)` per field in the order of the `SELECT`.
//!
//! Mappers stay hand-written where a field is computed from a column (a commit message cut to its
//! first line, [`super::read::run_from_row`]) or where the board reads many rows on its hot path:
//! by position, rusqlite reads a column without looking up its name.

use rusqlite::{Connection, OptionalExtension, Params, Row};
use serde::de::DeserializeOwned;

use super::Result;

/// Every row `sql` finds for `params`, each deserialized into a `T` by column name.
///
/// # Errors
/// On a database error, or a column whose value does not fit its field (a bug in the query).
pub fn all<T: DeserializeOwned>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
) -> Result<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = serde_rusqlite::from_rows::<T>(stmt.query(params)?)
        .collect::<Result<_, _>>()
        .map_err(sqlite_error)?;
    Ok(rows)
}

/// The one row `sql` finds for `params`, deserialized into a `T`; `None` if there is none.
///
/// # Errors
/// As [`all`].
pub fn one<T: DeserializeOwned>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
) -> Result<Option<T>> {
    Ok(conn
        .prepare_cached(sql)?
        .query_row(params, from_row)
        .optional()?)
}

/// A row deserialized into a `T` by column name, for `query_map` and `query_row`.
///
/// # Errors
/// A column whose value does not fit its field, as rusqlite's own conversion error.
pub fn from_row<T: DeserializeOwned>(row: &Row<'_>) -> rusqlite::Result<T> {
    serde_rusqlite::from_row(row).map_err(sqlite_error)
}

/// serde_rusqlite's error as rusqlite's, so that an interrupted read is still seen as one
/// ([`super::Error::TooSlow`]) and the callers keep one error type.
fn sqlite_error(err: serde_rusqlite::Error) -> rusqlite::Error {
    match err {
        serde_rusqlite::Error::Rusqlite(err) => err,
        other => rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Null,
            Box::new(other),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run_state::Status;

    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Step {
        name: String,
        status: Status,
        done: bool,
        seconds: Option<i64>,
    }

    #[test]
    fn rows_fill_fields_by_column_name_whatever_the_column_order() {
        let conn = Connection::open_in_memory().unwrap();
        let sql = "SELECT 1 AS done, NULL AS seconds, 'in_progress' AS status, 'build' AS name
                   WHERE ?1";
        let rows: Vec<Step> = all(&conn, sql, [1]).unwrap();
        let step = Step {
            name: "build".into(),
            status: Status::InProgress,
            done: true,
            seconds: None,
        };
        assert_eq!(rows, vec![step]);
        assert_eq!(one::<Step>(&conn, sql, [0]).unwrap(), None);
    }

    #[test]
    fn a_column_that_does_not_fit_its_field_is_an_error_not_a_panic() {
        let conn = Connection::open_in_memory().unwrap();
        let sql = "SELECT 'x' AS name, 'no such state' AS status, 0 AS done, 'abc' AS seconds";
        let err = all::<Step>(&conn, sql, []).unwrap_err();
        assert!(matches!(err, super::super::Error::Sqlite(_)), "{err:?}");
    }
}
