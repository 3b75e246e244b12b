//! The settings an admin changes in the browser: their values (`settings`, the `setting.` keys)
//! and who changed what (`settingslog`); and the per-repository telemetry secrets
//! (`telemetrysecrets`, only the SHA-256 of each). `crate::settings` says what the values mean.

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::{rows, Result};

/// The prefix of the settings the page stores (other `settings` rows are the server's own).
const PREFIX: &str = "setting.";

/// One change, as the page lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub key: String,
    /// `None`: reset to the default.
    pub value: Option<String>,
    pub by: String,
    /// Epoch seconds.
    pub at: i64,
}

/// Every stored setting, `(key, value)`.
///
/// # Errors
/// On a database error.
pub fn load(conn: &Connection) -> Result<Vec<(String, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT key, value FROM settings WHERE substr(key, 1, length(?1)) = ?1 ORDER BY key",
    )?;
    let rows = stmt
        .query_map([PREFIX], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// What one change stores and what it logs.
pub struct Save<'a> {
    pub key: &'a str,
    /// Stored; `None` removes the row (back to the flag's default).
    pub value: Option<&'a str>,
    /// Logged: the value, or a description of it without its secrets (webhook URLs).
    pub logged: Option<&'a str>,
    pub by: &'a str,
    pub now: i64,
}

/// Stores a setting and logs the change as `by`'s, in one transaction.
///
/// # Errors
/// On a database error (nothing is stored then).
pub fn save(conn: &Connection, change: &Save<'_>) -> Result<()> {
    debug_assert!(change.key.starts_with(PREFIX), "a page setting's key");
    conn.execute_batch("SAVEPOINT setting")?;
    let saved = save_in(conn, change);
    conn.execute_batch(if saved.is_ok() {
        "RELEASE setting"
    } else {
        "ROLLBACK TO setting; RELEASE setting"
    })?;
    saved
}

fn save_in(conn: &Connection, change: &Save<'_>) -> Result<()> {
    let (key, value) = (change.key, change.value);
    match value {
        Some(value) => conn
            .prepare_cached(
                "INSERT INTO settings (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )?
            .execute(params![key, value])?,
        None => conn
            .prepare_cached("DELETE FROM settings WHERE key = ?1")?
            .execute([key])?,
    };
    log_change(conn, key, change.logged, change.by, change.now)
}

/// Records in `settingslog` that `by` changed `what` (a setting's key, or `token.create`,
/// `token.revoke`, `telemetry_secret.create`...) to `value` (never a secret).
///
/// # Errors
/// On a database error.
pub fn log_change(
    conn: &Connection,
    what: &str,
    value: Option<&str>,
    by: &str,
    now: i64,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO settingslog (key, value, changedby, changetime) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![what, value, by, now])?;
    Ok(())
}

/// The installations the App has now, `(id, account)`.
///
/// # Errors
/// On a database error.
pub fn installations(conn: &Connection) -> Result<Vec<(i64, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, account FROM installations WHERE deletedtime IS NULL ORDER BY account",
    )?;
    let rows = stmt
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// Every monitored repository's name, for the page's choices.
///
/// # Errors
/// On a database error.
pub fn repo_names(conn: &Connection) -> Result<Vec<String>> {
    let mut stmt =
        conn.prepare_cached("SELECT fullname FROM repos WHERE monitored = 1 ORDER BY fullname")?;
    let rows = stmt
        .query_map([], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// The last `limit` changes, newest first.
///
/// # Errors
/// On a database error.
pub fn log(conn: &Connection, limit: u32) -> Result<Vec<Change>> {
    rows::all(
        conn,
        r#"SELECT key, value, changedby AS "by", changetime AS "at"
           FROM settingslog ORDER BY id DESC LIMIT ?1"#,
        [limit],
    )
}

/// A repository's telemetry secret, without the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TelemetrySecret {
    pub repo: String,
    pub created_by: String,
    /// Epoch seconds.
    pub created: i64,
}

/// Stores the hash of `repo`'s new telemetry secret, replacing its old one; `false` when the
/// board does not know `repo`.
///
/// # Errors
/// On a database error.
pub fn set_telemetry_secret(
    conn: &Connection,
    repo: &str,
    secret_hash: &str,
    by: &str,
    now: i64,
) -> Result<bool> {
    let Some(repo_id) = repo_id(conn, repo)? else {
        return Ok(false);
    };
    conn.prepare_cached(
        "INSERT INTO telemetrysecrets (repo_id, secrethash, createdby, createtime)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (repo_id) DO UPDATE SET secrethash = excluded.secrethash,
             createdby = excluded.createdby, createtime = excluded.createtime",
    )?
    .execute(params![repo_id, secret_hash, by, now])?;
    Ok(true)
}

/// Removes `repo`'s telemetry secret; whether it had one.
///
/// # Errors
/// On a database error.
pub fn delete_telemetry_secret(conn: &Connection, repo: &str) -> Result<bool> {
    let Some(repo_id) = repo_id(conn, repo)? else {
        return Ok(false);
    };
    Ok(conn
        .prepare_cached("DELETE FROM telemetrysecrets WHERE repo_id = ?1")?
        .execute([repo_id])?
        > 0)
}

/// The repository (id, `owner/name`) whose secret hashes to `secret_hash`.
///
/// # Errors
/// On a database error.
pub fn telemetry_secret_repo(
    conn: &Connection,
    secret_hash: &str,
) -> Result<Option<(i64, String)>> {
    Ok(conn
        .prepare_cached(
            "SELECT repos.id, repos.fullname FROM telemetrysecrets t
             JOIN repos ON repos.id = t.repo_id WHERE t.secrethash = ?1",
        )?
        .query_row([secret_hash], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?)
}

/// Every repository's telemetry secret, by repository.
///
/// # Errors
/// On a database error.
pub fn telemetry_secrets(conn: &Connection) -> Result<Vec<TelemetrySecret>> {
    rows::all(
        conn,
        "SELECT repos.fullname AS repo, t.createdby AS created_by, t.createtime AS created
         FROM telemetrysecrets t JOIN repos ON repos.id = t.repo_id ORDER BY repos.fullname",
        [],
    )
}

fn repo_id(conn: &Connection, repo: &str) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT id FROM repos WHERE fullname = ?1 COLLATE NOCASE")?
        .query_row([repo], |row| row.get(0))
        .optional()?)
}
