//! Schema creation and forward migrations, tracked in `PRAGMA user_version`.
//!
//! `schema.sql` always describes the newest schema and is idempotent. A new database gets it and
//! the newest version number. An older one first runs the steps in [`MIGRATIONS`] that it has not
//! run yet (each in the same transaction as the version bump, so a crash leaves it at a clean
//! version), then `schema.sql` adds anything still missing. Rows are never dropped.

use std::path::Path;

use rusqlite::Connection;

use super::{Error, Result};

/// The schema, embedded so the binary works from any directory.
pub const SCHEMA: &str = include_str!("../../schema.sql");

/// Forward migrations: `MIGRATIONS[i]` takes a database from version `i + 1` to `i + 2`.
/// Version 1 is the first released schema.
pub const MIGRATIONS: &[&str] = &[];

/// The version this build writes.
pub const LATEST_VERSION: i64 = 1 + MIGRATIONS.len() as i64;

/// Brings the database at `path` to [`LATEST_VERSION`].
///
/// # Errors
/// [`Error::TooNew`] for a database from a newer buildboard; SQL errors otherwise.
pub fn apply(conn: &mut Connection, path: &Path) -> Result<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if version > LATEST_VERSION {
        return Err(Error::TooNew {
            path: path.to_owned(),
            found: version,
            supported: LATEST_VERSION,
        });
    }
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    if version >= 1 {
        for (index, step) in MIGRATIONS.iter().enumerate().skip((version - 1) as usize) {
            tracing::info!(
                from = index + 1,
                to = index + 2,
                "migrating the database schema"
            );
            tx.execute_batch(step)?;
        }
    }
    tx.execute_batch(SCHEMA)?;
    tx.pragma_update(None, "user_version", LATEST_VERSION)?;
    tx.commit()?;
    Ok(())
}
