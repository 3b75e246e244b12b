//! Display and API tokens: named, each with a scope (a set of repositories, or all), revocable.
//! Only hashes are stored: the token's own, for `Authorization: Bearer`, and its sign-in
//! cookie's, for a browser (a TV) that showed the token once in `/?token=`. `web::access` keeps
//! the active rows in memory and answers from them; this module is their SQL.

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use super::Result;

/// A stored token, without its hashes: what the admin API lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    pub id: i64,
    pub name: String,
    /// `display` (a TV) or `api` (a script); both read the same way.
    pub kind: String,
    /// The repositories it may read; `None`: every one.
    pub repos: Option<Vec<String>>,
    /// Epoch seconds.
    pub created: i64,
    /// Epoch seconds; `None` while it works.
    pub revoked: Option<i64>,
}

/// An active token with the hashes it is recognised by.
#[derive(Debug, Clone)]
pub struct ActiveToken {
    pub info: TokenInfo,
    /// Hex SHA-256 of the token.
    pub token_hash: String,
    /// Hex SHA-256 of the value of its sign-in cookie.
    pub cookie_hash: String,
}

const SELECT: &str = "SELECT id, name, kind, repos, createtime, revoketime, tokenhash, cookiehash
                      FROM accesstokens";

fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ActiveToken> {
    let repos: Option<String> = row.get(3)?;
    Ok(ActiveToken {
        info: TokenInfo {
            id: row.get(0)?,
            name: row.get(1)?,
            kind: row.get(2)?,
            // Written by `create` only, from a list of strings.
            repos: repos.map(|json| serde_json::from_str(&json).unwrap_or_default()),
            created: row.get(4)?,
            revoked: row.get(5)?,
        },
        token_hash: row.get(6)?,
        cookie_hash: row.get(7)?,
    })
}

/// Stores a new token; returns it as stored.
///
/// # Errors
/// On a database error.
pub fn create(conn: &Connection, token: &ActiveToken) -> Result<ActiveToken> {
    let info = &token.info;
    let repos = info
        .repos
        .as_ref()
        .map(|repos| serde_json::to_string(repos).expect("strings serialise"));
    conn.prepare_cached(
        "INSERT INTO accesstokens (name, kind, repos, tokenhash, cookiehash, createtime)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        info.name,
        info.kind,
        repos,
        token.token_hash,
        token.cookie_hash,
        info.created
    ])?;
    let mut stored = token.clone();
    stored.info.id = conn.last_insert_rowid();
    Ok(stored)
}

/// Every token, newest first, revoked ones included.
///
/// # Errors
/// On a database error.
pub fn list(conn: &Connection) -> Result<Vec<TokenInfo>> {
    let mut stmt = conn.prepare_cached(&format!("{SELECT} ORDER BY id DESC"))?;
    let rows = stmt
        .query_map([], from_row)?
        .map(|row| row.map(|token| token.info))
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// The tokens that work.
///
/// # Errors
/// On a database error.
pub fn active(conn: &Connection) -> Result<Vec<ActiveToken>> {
    let mut stmt = conn.prepare_cached(&format!("{SELECT} WHERE revoketime IS NULL"))?;
    let rows = stmt
        .query_map([], from_row)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// Revokes token `id` at `now`; `None` when there is no such token, else it as it is now.
///
/// # Errors
/// On a database error.
pub fn revoke(conn: &Connection, id: i64, now: i64) -> Result<Option<TokenInfo>> {
    conn.prepare_cached(
        "UPDATE accesstokens SET revoketime = ?2 WHERE id = ?1 AND revoketime IS NULL",
    )?
    .execute(params![id, now])?;
    Ok(conn
        .prepare_cached(&format!("{SELECT} WHERE id = ?1"))?
        .query_row([id], from_row)
        .optional()?
        .map(|token| token.info))
}
