//! The names a filter can use: which of a filter's repositories, branches, workflows and authors
//! match nothing known (so a page can say "no repository named … — did you mean …?" instead of an
//! empty board that looks like good news), and the known names the board's filter form offers.
//!
//! Every lookup reads the small name tables (`repos`, `branches`, `workflows`) or one indexed probe
//! of the runs, never a scan of the run history; the conditions on names come from
//! [`super::query`], so a name found here is a name the filter matches. What one filter costs is
//! bounded whatever its values and the size of the organisation (see [`unknown`]).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension};

use super::query::{self, RepoScope, RunFilter};
use super::Result;
use crate::watch::WatchedBranches;

/// Known names of one kind read (and cached, see [`Candidates`]) to find the closest one to an
/// unknown name: a bound on the work of one suggestion, whatever the size of the organisation.
const SUGGESTION_CANDIDATES: u32 = 500;
/// Known names read on either side of an unknown one in name order, besides the cached set: where
/// a typo keeps the start of a name, its name is among them in any organisation.
const NEIGHBOURS: i64 = 100;
/// Unknown values of one filter that get a suggestion; the others are reported without one.
pub const MAX_SUGGESTED: usize = 3;
/// Longest value (in characters) a suggestion is looked for: GitHub's own names are at most 100.
const MAX_SUGGESTED_LEN: usize = 100;
/// How long a candidate set serves before it is read again (a new name also reads it again).
const CANDIDATES_TTL: std::time::Duration = std::time::Duration::from_secs(60);
/// Candidate sets kept at once (each one database, kind and set of repositories).
const CANDIDATE_SETS: usize = 32;
/// Newest runs whose branches count as recently active for the filter form.
const RECENT_RUNS: u32 = 5000;
/// Most names of each kind offered in the filter form.
pub const MAX_OFFERED: usize = 200;

/// What kind of name a filter value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    Repository,
    Branch,
    Workflow,
    Author,
}

impl NameKind {
    /// The query parameter that takes this kind of name.
    pub fn parameter(self) -> &'static str {
        match self {
            Self::Repository => "repo",
            Self::Branch => "branch",
            Self::Workflow => "workflow",
            Self::Author => "author",
        }
    }
}

/// A filter value that matches nothing known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownName {
    pub kind: NameKind,
    /// The value as given.
    pub name: String,
    /// The known repositories of the filter it was looked up in (empty: in all of them).
    pub within: Vec<String>,
    /// The closest known name, when one is close enough to be a likely typo.
    pub suggestion: Option<String>,
}

impl UnknownName {
    /// The sentence a page or the API shows, without the suggestion:
    /// "No branch named master in acme/widgets".
    pub fn describe(&self) -> String {
        let mut text = match self.kind {
            NameKind::Repository => format!("No repository named {}", self.name),
            NameKind::Branch if query::is_glob(&self.name) => {
                format!("No branch matches {}", self.name)
            }
            NameKind::Branch => format!("No branch named {}", self.name),
            NameKind::Workflow => format!("No workflow named {}", self.name),
            NameKind::Author => format!("No runs by {}", self.name),
        };
        if !self.within.is_empty() {
            text.push_str(" in ");
            text.push_str(&self.within.join(", "));
        }
        text
    }
}

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())?;
        if let Some(suggestion) = &self.suggestion {
            write!(f, " — did you mean {suggestion}?")?;
        }
        Ok(())
    }
}

/// The values of `filter`'s repo, branch, workflow and author lists that match nothing known,
/// in that order. Branches and workflows are looked up within the filter's known repositories.
///
/// The work is bounded whatever the filter: each value costs one indexed probe, and only the
/// first [`MAX_SUGGESTED`] unknown values get a suggestion, computed against at most
/// [`SUGGESTION_CANDIDATES`] known names that are read once and cached (see [`Candidates`]) and
/// the [`NEIGHBOURS`] of the value in name order.
///
/// # Errors
/// On a database error.
pub fn unknown(conn: &Connection, filter: &RunFilter) -> Result<Vec<UnknownName>> {
    let mut unknown = Vec::new();
    let mut suggest = Suggester::new(conn);
    // The repositories the reader may read, by id (`None`: all of them). Names are looked up,
    // and suggested, only among these: a repository outside the scope is unknown to the reader,
    // as one that does not exist.
    let readable = readable_ids(conn, filter)?;
    let known_repos = repositories(
        conn,
        filter,
        readable.as_deref(),
        &mut suggest,
        &mut unknown,
    )?;
    // Where every repository named is unknown, say so once: a branch or workflow cannot be
    // looked up in nothing, and is not named unknown because of the repository's typo.
    if !filter.repo.is_empty() && known_repos.is_empty() {
        return Ok(unknown);
    }
    let mut ids: Vec<i64> = known_repos.iter().map(|(id, _)| *id).collect();
    let within: Vec<String> = known_repos.into_iter().map(|(_, name)| name).collect();
    // Without repositories named, branches and workflows are looked up within the scope.
    if ids.is_empty() {
        if let Some(readable) = &readable {
            if readable.is_empty() {
                ids.push(NO_REPOSITORY);
            } else {
                ids.clone_from(readable);
            }
        }
    }
    let lookups = [
        (NameKind::Branch, &filter.branch),
        (NameKind::Workflow, &filter.workflow),
    ];
    for (kind, values) in lookups {
        for name in values {
            if exists(conn, kind, name, &ids)? {
                continue;
            }
            let suggestion = if query::is_glob(name) {
                None
            } else {
                suggest.closest(kind, &ids, name)?
            };
            unknown.push(UnknownName {
                kind,
                name: name.clone(),
                within: within.clone(),
                suggestion,
            });
        }
    }
    for name in &filter.author {
        if !author_known(conn, filter, name)? {
            unknown.push(UnknownName {
                kind: NameKind::Author,
                name: name.clone(),
                within: Vec::new(),
                suggestion: None,
            });
        }
    }
    Ok(unknown)
}

/// The repositories of `filter` that exist and are `readable` (`None`: all are), as `(id,
/// fullname)`; each other one is pushed to `unknown`, with a suggestion among the readable ones.
fn repositories(
    conn: &Connection,
    filter: &RunFilter,
    readable: Option<&[i64]>,
    suggest: &mut Suggester<'_>,
    unknown: &mut Vec<UnknownName>,
) -> Result<Vec<(i64, String)>> {
    let mut known_repos = Vec::new();
    for name in &filter.repo {
        // One probe of the `fullname` unique index.
        let found: Option<(i64, String)> = conn
            .prepare_cached("SELECT id, fullname FROM repos WHERE fullname = ?")?
            .query_row([name], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?
            .filter(|(id, _)| readable.is_none_or(|ids| ids.contains(id)));
        match found {
            Some(repo) => known_repos.push(repo),
            None => unknown.push(UnknownName {
                kind: NameKind::Repository,
                name: name.clone(),
                within: Vec::new(),
                suggestion: suggest.closest(NameKind::Repository, readable.unwrap_or(&[]), name)?,
            }),
        }
    }
    Ok(known_repos)
}

/// Whether `name` started a run in a repository the filter's reader may read.
fn author_known(conn: &Connection, filter: &RunFilter, name: &str) -> Result<bool> {
    // One probe of the `workflowruns_actor` index (then of the runs the reader may read).
    let (within_scope, mut params) = filter.scope.as_ref().map_or_else(
        || (String::new(), Vec::new()),
        |scope| {
            let (condition, values) = scope.condition("fullname");
            (
                format!(" AND repo_id IN (SELECT id FROM repos WHERE {condition})"),
                values,
            )
        },
    );
    params.insert(0, Value::Text(name.to_owned()));
    let found = conn
        .prepare_cached(&format!(
            "SELECT 1 FROM workflowruns WHERE actor = ?{within_scope} LIMIT 1"
        ))?
        .query_row(rusqlite::params_from_iter(params), |_| Ok(()))
        .optional()?
        .is_some();
    Ok(found)
}

/// The table of a kind of name that has one.
fn table(kind: NameKind) -> &'static str {
    match kind {
        NameKind::Repository => "repos",
        NameKind::Workflow => "workflows",
        _ => "branches",
    }
}

/// ` AND repo_id IN (?, …)` for `ids`, nothing for none.
fn in_repos(ids: &[i64]) -> String {
    in_ids("repo_id", ids)
}

/// ` AND column IN (?, …)` for `ids`, nothing for none.
fn in_ids(column: &str, ids: &[i64]) -> String {
    if ids.is_empty() {
        String::new()
    } else {
        format!(" AND {column} IN ({})", vec!["?"; ids.len()].join(", "))
    }
}

/// A repository id no repository has: the lookups' scope when the reader may read none.
const NO_REPOSITORY: i64 = -1;

/// The ids of the repositories `filter`'s scope allows, sorted; `None` without a scope.
fn readable_ids(conn: &Connection, filter: &RunFilter) -> Result<Option<Vec<i64>>> {
    let Some(scope) = &filter.scope else {
        return Ok(None);
    };
    let (condition, params) = scope.condition("fullname");
    let ids = conn
        .prepare_cached(&format!(
            "SELECT id FROM repos WHERE {condition} ORDER BY id"
        ))?
        .query_map(rusqlite::params_from_iter(params), |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Some(ids))
}

/// Whether a branch or workflow `name` (a branch may be a glob) is known within `ids`.
fn exists(conn: &Connection, kind: NameKind, name: &str, ids: &[i64]) -> Result<bool> {
    let one = [name.to_owned()];
    let (condition, mut params) = match kind {
        NameKind::Branch => query::branch_names("name", &one),
        _ => query::workflow_names("name", &one),
    };
    params.extend(ids.iter().map(|id| Value::Integer(*id)));
    Ok(conn
        .prepare_cached(&format!(
            "SELECT 1 FROM {} WHERE {condition}{} LIMIT 1",
            table(kind),
            in_repos(ids)
        ))?
        .query_row(rusqlite::params_from_iter(params), |_| Ok(()))
        .optional()?
        .is_some())
}

/// Suggestions for one filter: at most [`MAX_SUGGESTED`] of them.
struct Suggester<'c> {
    conn: &'c Connection,
    left: usize,
}

impl<'c> Suggester<'c> {
    fn new(conn: &'c Connection) -> Self {
        Self {
            conn,
            left: MAX_SUGGESTED,
        }
    }

    /// The known name of `kind` (within `ids`) closest to `name`, while suggestions are left.
    fn closest(&mut self, kind: NameKind, ids: &[i64], name: &str) -> Result<Option<String>> {
        if self.left == 0 || name.chars().count() > MAX_SUGGESTED_LEN {
            return Ok(None);
        }
        self.left -= 1;
        let candidates = Candidates::get(self.conn, kind, ids)?;
        let neighbours = self.neighbours(kind, ids, name)?;
        Ok(closest(
            name,
            candidates.iter().chain(&neighbours).map(String::as_str),
        ))
    }

    /// The [`NEIGHBOURS`] names of `kind` (within `ids`) just before and just after `name`, by the
    /// name indexes.
    fn neighbours(&self, kind: NameKind, ids: &[i64], name: &str) -> Result<Vec<String>> {
        let column = if kind == NameKind::Repository {
            "fullname"
        } else {
            "name"
        };
        // A repository is one of `ids` itself; a branch or workflow belongs to one of them.
        let within = if kind == NameKind::Repository {
            in_ids("id", ids)
        } else {
            in_repos(ids)
        };
        let mut names = Vec::new();
        for (compare, order) in [(">=", "ASC"), ("<", "DESC")] {
            let mut params = vec![Value::Text(name.to_owned())];
            params.extend(ids.iter().map(|id| Value::Integer(*id)));
            params.push(Value::Integer(NEIGHBOURS));
            let sql = format!(
                "SELECT DISTINCT {column} FROM {} WHERE {column} {compare} ?{} \
                 ORDER BY {column} {order} LIMIT ?",
                table(kind),
                within
            );
            let mut stmt = self.conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(rusqlite::params_from_iter(params), |row| row.get(0))?;
            for row in rows {
                names.push(row?);
            }
        }
        Ok(names)
    }
}

/// The key of a cached candidate set: the database, the table, the repositories, and the
/// table's largest row id and row count (a name added or removed since reads the set again).
type CandidateKey = (String, &'static str, Vec<i64>, (i64, i64));

/// Known names to compare unknown ones against, at most [`SUGGESTION_CANDIDATES`] per set, read
/// once per [`CANDIDATES_TTL`] and shared by every request (a page that names the same typo for
/// each viewer costs one read a minute, not one each).
struct Candidates;

/// Each cached set, with when it was read.
type CandidateSets = HashMap<CandidateKey, (Instant, Arc<Vec<String>>)>;

static CANDIDATES: std::sync::LazyLock<std::sync::Mutex<CandidateSets>> =
    std::sync::LazyLock::new(Default::default);

impl Candidates {
    /// At most [`SUGGESTION_CANDIDATES`] names of `kind` within `ids`; for branches, the default
    /// branches first (a `mian` is meant for one), then the others in name order.
    fn read(conn: &Connection, kind: NameKind, ids: &[i64]) -> Result<Vec<String>> {
        let strings = |sql: String, limit: usize| -> Result<Vec<String>> {
            let mut params: Vec<Value> = ids.iter().map(|id| Value::Integer(*id)).collect();
            params.push(Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
            Ok(conn
                .prepare_cached(&sql)?
                .query_map(rusqlite::params_from_iter(params), |row| row.get(0))?
                .collect::<rusqlite::Result<_>>()?)
        };
        let limit = SUGGESTION_CANDIDATES as usize;
        let in_ids = in_ids("id", ids);
        let mut names = match kind {
            NameKind::Branch => strings(
                format!(
                    "SELECT DISTINCT defaultbranch FROM repos WHERE defaultbranch IS NOT NULL\
                     {in_ids} LIMIT ?"
                ),
                limit / 5,
            )?,
            _ => Vec::new(),
        };
        let (column, filter) = if kind == NameKind::Repository {
            ("fullname", in_ids)
        } else {
            ("name", in_repos(ids))
        };
        let rest = strings(
            format!(
                "SELECT {column} FROM {} WHERE 1{filter} GROUP BY {column} LIMIT ?",
                table(kind)
            ),
            limit - names.len(),
        )?;
        names.extend(rest);
        Ok(names)
    }

    fn get(conn: &Connection, kind: NameKind, ids: &[i64]) -> Result<Arc<Vec<String>>> {
        let table = table(kind);
        let newest: (i64, i64) = conn
            .prepare_cached(&format!(
                "SELECT COALESCE(MAX(rowid), 0), COUNT(*) FROM {table}"
            ))?
            .query_row([], |row| Ok((row.get(0)?, row.get(1)?)))?;
        let key = (
            conn.path().unwrap_or_default().to_owned(),
            table,
            ids.to_vec(),
            newest,
        );
        let cache = || CANDIDATES.lock().expect("no panic while holding the lock");
        if let Some((at, names)) = cache().get(&key) {
            if at.elapsed() < CANDIDATES_TTL {
                return Ok(names.clone());
            }
        }
        let names = Arc::new(Self::read(conn, kind, ids)?);
        let mut cache = cache();
        if cache.len() >= CANDIDATE_SETS {
            cache.retain(|_, (at, _)| at.elapsed() < CANDIDATES_TTL);
            if cache.len() >= CANDIDATE_SETS {
                cache.clear();
            }
        }
        cache.insert(key, (Instant::now(), names.clone()));
        Ok(names)
    }
}

/// How alike two names are, from 0 to 1: one minus their edit distance (with transpositions) over
/// the longer length. Names too different in length to reach [`CLOSE_ENOUGH`] are not compared
/// (the distance is at least the difference in length), so most candidates cost nothing.
fn similarity(a: &str, b: &str) -> f64 {
    let (la, lb) = (a.chars().count(), b.chars().count());
    let longer = la.max(lb);
    if longer == 0 {
        return 1.0;
    }
    if (la.abs_diff(lb) as f64) > (1.0 - CLOSE_ENOUGH) * longer as f64 {
        return 0.0;
    }
    1.0 - strsim::osa_distance(a, b) as f64 / longer as f64
}

/// The least [`similarity`] of a suggestion.
const CLOSE_ENOUGH: f64 = 0.5;

/// The usual names of a default branch: one asked for where another is used is a likely mix-up
/// (`branch=master` in an organisation on `main`), however far apart they are spelled.
const DEFAULT_BRANCH_NAMES: [&str; 3] = ["main", "master", "trunk"];

/// The candidate most like `name`, if it is close enough to be what was meant: the same but for
/// case, one that contains it, one within a small edit distance (of the whole name or, for
/// `owner/name`, of the part after the slash), or another usual default branch name.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let wanted = name.to_lowercase();
    let score = |candidate: &str| -> f64 {
        let candidate = candidate.to_lowercase();
        if candidate == wanted {
            return 2.0;
        }
        let mut best = similarity(&wanted, &candidate);
        // A bare name (`payments`) may be meant for `owner/payments-service`.
        if !wanted.contains('/') {
            let short = candidate.rsplit('/').next().unwrap_or(&candidate);
            best = best.max(similarity(&wanted, short));
        }
        if wanted.chars().count() >= 3 && candidate.contains(&wanted) {
            best = best.max(0.8);
        }
        if DEFAULT_BRANCH_NAMES.contains(&wanted.as_str())
            && DEFAULT_BRANCH_NAMES.contains(&candidate.as_str())
        {
            best = best.max(0.9);
        }
        best
    };
    candidates
        .into_iter()
        .map(|candidate| (score(candidate), candidate))
        .filter(|(score, _)| *score >= CLOSE_ENOUGH)
        .max_by(|a, b| a.0.total_cmp(&b.0).then_with(|| b.1.cmp(a.1)))
        .map(|(_, candidate)| candidate.to_owned())
}

/// Names the filter form offers: every repository, the watched and recently active branches and
/// the workflow names, each bounded by [`MAX_OFFERED`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KnownNames {
    pub repos: Vec<String>,
    pub branches: Vec<String>,
    pub workflows: Vec<String>,
}

/// Reads [`KnownNames`]: a few milliseconds at a million runs (the newest [`RECENT_RUNS`] runs of
/// the time index, and the name tables).
///
/// # Errors
/// On a database error.
pub fn known(
    conn: &Connection,
    watched: &WatchedBranches,
    scope: Option<&RepoScope>,
) -> Result<KnownNames> {
    let strings = |sql: &str, params: Vec<Value>| -> Result<Vec<String>> {
        Ok(conn
            .prepare_cached(sql)?
            .query_map(rusqlite::params_from_iter(params), |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?)
    };
    let limit = Value::Integer(MAX_OFFERED as i64);
    // Only what the reader may read: a repository (`fullname`), or a row of one (`repo_id`).
    let (named, scoped) = scope.map_or_else(
        || ("1".to_owned(), Vec::new()),
        |scope| scope.condition("fullname"),
    );
    let of_scope = format!("repo_id IN (SELECT id FROM repos WHERE {named})");
    let with = |mut params: Vec<Value>, rest: &[Value]| {
        params.extend_from_slice(rest);
        params
    };
    let repos = strings(
        &format!(
            "SELECT fullname FROM repos WHERE monitored = 1 AND {named} ORDER BY fullname LIMIT ?"
        ),
        with(scoped.clone(), std::slice::from_ref(&limit)),
    )?;
    // Watched first (each repository's default branch, the globs themselves, the branches they
    // match), then the branches of the newest runs, newest first.
    let mut branches = strings(
        &format!(
            "SELECT DISTINCT defaultbranch FROM repos WHERE defaultbranch IS NOT NULL AND {named}
             ORDER BY defaultbranch LIMIT ?"
        ),
        with(scoped.clone(), std::slice::from_ref(&limit)),
    )?;
    branches.extend(watched.globs().iter().cloned());
    if !watched.globs().is_empty() {
        let (condition, params) = watched.sql("name", "NULL");
        branches.extend(strings(
            &format!(
                "SELECT DISTINCT name FROM branches WHERE deletedtime IS NULL AND {condition}
                 AND {of_scope} ORDER BY name LIMIT ?"
            ),
            with(with(params, &scoped), std::slice::from_ref(&limit)),
        )?);
    }
    // `+`: the newest runs through the time index, not every run of the scope's repositories.
    branches.extend(strings(
        &format!(
            "SELECT b.name FROM (SELECT branch_id, createtime FROM workflowruns WHERE +{of_scope}
                                 ORDER BY createtime DESC, id DESC LIMIT ?) recent
             JOIN branches b ON b.id = recent.branch_id
             GROUP BY b.name ORDER BY MAX(recent.createtime) DESC LIMIT ?"
        ),
        with(
            scoped.clone(),
            &[Value::Integer(RECENT_RUNS.into()), limit.clone()],
        ),
    )?);
    let mut seen = std::collections::HashSet::new();
    branches.retain(|branch| seen.insert(branch.clone()));
    branches.truncate(MAX_OFFERED);
    let workflows = strings(
        &format!(
            "SELECT name FROM workflows WHERE {of_scope} GROUP BY name COLLATE NOCASE
             ORDER BY name COLLATE NOCASE LIMIT ?"
        ),
        with(scoped, &[limit]),
    )?;
    Ok(KnownNames {
        repos,
        branches,
        workflows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_closest_name_forgives_typos_case_and_a_missing_owner() {
        let repos = [
            "northwind-labs/billing-api",
            "northwind-labs/payments-service",
            "northwind-labs/web",
        ];
        assert_eq!(
            closest("northwind-labs/paymnts", repos).as_deref(),
            Some("northwind-labs/payments-service")
        );
        assert_eq!(
            closest("payments", repos).as_deref(),
            Some("northwind-labs/payments-service")
        );
        assert_eq!(closest("ci", ["CI", "Lint"]).as_deref(), Some("CI"));
        assert_eq!(
            closest("master", ["main", "develop"]).as_deref(),
            Some("main")
        );
        assert_eq!(closest("zzzzzz", repos), None);
    }

    #[test]
    fn an_unknown_name_reads_as_a_sentence() {
        let unknown = UnknownName {
            kind: NameKind::Branch,
            name: "master".into(),
            within: vec!["acme/widgets".into()],
            suggestion: Some("main".into()),
        };
        assert_eq!(
            unknown.to_string(),
            "No branch named master in acme/widgets — did you mean main?"
        );
    }
}
