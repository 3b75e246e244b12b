//! The names a filter can use: which of a filter's repositories, branches, workflows and authors
//! match nothing known (so a page can say "no repository named … — did you mean …?" instead of an
//! empty board that looks like good news), and the known names the board's filter form offers.
//!
//! Every lookup reads the small name tables (`repos`, `branches`, `workflows`) or one indexed probe
//! of the runs, never a scan of the run history; the conditions on names come from
//! [`super::query`], so a name found here is a name the filter matches.

use std::fmt;

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension};

use super::query::{self, RepoScope, RunFilter};
use super::Result;
use crate::watch::WatchedBranches;

/// Branch names read to find the closest one to an unknown name.
const SUGGESTION_CANDIDATES: u32 = 5000;
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
/// # Errors
/// On a database error.
pub fn unknown(conn: &Connection, filter: &RunFilter) -> Result<Vec<UnknownName>> {
    let mut unknown = Vec::new();
    let mut known_repos: Vec<(i64, String)> = Vec::new();
    if !filter.repo.is_empty() {
        let mut all: Vec<(i64, String)> = conn
            .prepare_cached("SELECT id, fullname FROM repos ORDER BY fullname")?
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        // A repository the reader may not read is unknown to them, as one that does not exist.
        if let Some(scope) = &filter.scope {
            all.retain(|(_, name)| scope.contains(name));
        }
        for name in &filter.repo {
            match all.iter().find(|(_, known)| known == name) {
                Some(repo) => known_repos.push(repo.clone()),
                None => unknown.push(UnknownName {
                    kind: NameKind::Repository,
                    name: name.clone(),
                    within: Vec::new(),
                    suggestion: closest(name, all.iter().map(|(_, n)| n.as_str())),
                }),
            }
        }
    }
    // Where every repository named is unknown, say so once: a branch or workflow cannot be
    // looked up in nothing, and is not named unknown because of the repository's typo.
    if !filter.repo.is_empty() && known_repos.is_empty() {
        return Ok(unknown);
    }
    let mut ids: Vec<Value> = known_repos
        .iter()
        .map(|(id, _)| Value::Integer(*id))
        .collect();
    let within: Vec<String> = known_repos.into_iter().map(|(_, name)| name).collect();
    let mut in_repos = if ids.is_empty() {
        String::new()
    } else {
        format!(" AND repo_id IN ({})", vec!["?"; ids.len()].join(", "))
    };
    // Without repositories named, names are looked up (and suggested) within the reader's scope.
    if let (true, Some(scope)) = (ids.is_empty(), &filter.scope) {
        let (condition, values) = scope.condition("fullname");
        in_repos = format!(" AND repo_id IN (SELECT id FROM repos WHERE {condition})");
        ids = values;
    }
    let lookups = [
        (NameKind::Branch, "branches", &filter.branch),
        (NameKind::Workflow, "workflows", &filter.workflow),
    ];
    for (kind, table, values) in lookups {
        let mut candidates: Option<Vec<String>> = None;
        for name in values {
            let one = std::slice::from_ref(name);
            let (condition, mut params) = match kind {
                NameKind::Branch => query::branch_names("name", one),
                _ => query::workflow_names("name", one),
            };
            params.extend(ids.iter().cloned());
            let found = conn
                .prepare_cached(&format!(
                    "SELECT 1 FROM {table} WHERE {condition}{in_repos} LIMIT 1"
                ))?
                .query_row(rusqlite::params_from_iter(params), |_| Ok(()))
                .optional()?
                .is_some();
            if found {
                continue;
            }
            let suggestion = if query::is_glob(name) {
                None
            } else {
                if candidates.is_none() {
                    let mut stmt = conn.prepare_cached(&format!(
                        "SELECT name FROM {table} WHERE 1{in_repos} GROUP BY name LIMIT ?"
                    ))?;
                    let mut params = ids.clone();
                    params.push(Value::Integer(SUGGESTION_CANDIDATES.into()));
                    candidates = Some(
                        stmt.query_map(rusqlite::params_from_iter(params), |row| row.get(0))?
                            .collect::<rusqlite::Result<_>>()?,
                    );
                }
                closest(name, candidates.iter().flatten().map(String::as_str))
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
        params.insert(0, Value::Text(name.clone()));
        let found = conn
            .prepare_cached(&format!(
                "SELECT 1 FROM workflowruns WHERE actor = ?{within_scope} LIMIT 1"
            ))?
            .query_row(rusqlite::params_from_iter(params), |_| Ok(()))
            .optional()?
            .is_some();
        if !found {
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
        let short = candidate.rsplit('/').next().unwrap_or(&candidate);
        let mut best = strsim::normalized_damerau_levenshtein(&wanted, &candidate)
            .max(strsim::normalized_damerau_levenshtein(&wanted, short));
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
        .filter(|(score, _)| *score >= 0.5)
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
