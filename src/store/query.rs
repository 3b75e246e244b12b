//! Filtering and paging runs: the one place that turns API and board filters into SQL.
//!
//! Every filter is a bound parameter; names of columns come from this file only. Paging uses a
//! keyset cursor on `(createtime, id)`, so a page boundary stays put while new runs arrive: paging
//! neither skips nor repeats a build.

use std::sync::Arc;

use rusqlite::types::Value;
use rusqlite::Connection;

use super::model::Run;
use super::read::{run_from_row, RUN_SELECT};
use super::Result;
use crate::run_state::{Conclusion, Status};

/// Which runs to look at. `None` or an empty list means "any"; a list matches any of its values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunFilter {
    /// "owner/name", exact.
    pub repo: Vec<String>,
    /// Branch names; a value with a glob character (`*`, `?`, `[`) is an SQLite `GLOB` pattern
    /// (see [`is_glob`]), as `--watch-branches` takes.
    pub branch: Vec<String>,
    /// Workflow names, matched regardless of ASCII case (`ci` finds `CI`).
    pub workflow: Vec<String>,
    /// GitHub workflow id.
    pub workflow_id: Option<i64>,
    pub status: Option<Status>,
    /// A documented conclusion (the filter takes no other).
    pub conclusion: Option<Conclusion>,
    /// Logins of the run's actor.
    pub author: Vec<String>,
    pub event: Option<String>,
    /// Full head sha, or a prefix of at least 7 characters.
    pub sha: Option<String>,
    /// Created at or after (epoch seconds).
    pub since: Option<i64>,
    /// Created before (epoch seconds).
    pub until: Option<i64>,
    /// The repositories the reader may see (`None`: every one). Unlike `repo`, which the reader
    /// asks for, this is decided for them (see `crate::scope::Viewer`), and every read of runs
    /// through this filter honours it.
    pub scope: Option<RepoScope>,
    /// Only runs on watched branches (each repository's default branch, and these globs): what a
    /// TV's Waterfall shows unless a branch or `branches=all` is asked for.
    pub watched: Option<crate::watch::WatchedBranches>,
}

/// A set of repositories by full name, compared regardless of ASCII case (GitHub's names are);
/// cheap to clone. The store's side of a reader's scope: [`RepoScope::condition`] is the SQL
/// every read that is not through [`RunFilter::sql`] adds for it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RepoScope(Arc<[String]>);

impl RepoScope {
    /// The set of `names` (lowercased, sorted, without repeats).
    pub fn new(names: impl IntoIterator<Item = String>) -> Self {
        let mut names: Vec<String> = names.into_iter().map(|n| n.to_ascii_lowercase()).collect();
        names.sort();
        names.dedup();
        Self(names.into())
    }

    /// Whether `repo` ("owner/name", any case) is in the set.
    pub fn contains(&self, repo: &str) -> bool {
        self.0
            .binary_search_by(|name| cmp_ignore_case(name, repo))
            .is_ok()
    }

    /// The names, lowercased and sorted.
    pub fn names(&self) -> &[String] {
        &self.0
    }

    /// `column COLLATE NOCASE IN (?, ...)` over a full-name column (`0`, false, for an empty
    /// set), and its parameters.
    pub fn condition(&self, column: &str) -> (String, Vec<Value>) {
        if self.0.is_empty() {
            return ("0".to_owned(), Vec::new());
        }
        (
            format!(
                "{column} COLLATE NOCASE IN ({})",
                vec!["?"; self.0.len()].join(", ")
            ),
            texts(&self.0),
        )
    }
}

/// `a` (lowercase) against `b` (any case), as if both were lowercase.
fn cmp_ignore_case(a: &str, b: &str) -> std::cmp::Ordering {
    a.bytes().cmp(b.bytes().map(|c| c.to_ascii_lowercase()))
}

/// Whether a branch filter value is a glob pattern rather than a name.
pub fn is_glob(value: &str) -> bool {
    value.contains(['*', '?', '['])
}

/// `column = ?` for one value, `column IN (?, ?, …)` for several (`values` is never empty).
pub(super) fn one_of(column: &str, values: usize) -> String {
    if values == 1 {
        format!("{column} = ?")
    } else {
        format!("{column} IN ({})", vec!["?"; values].join(", "))
    }
}

/// The condition on a branch name column for `values`: exact names with `=`/`IN` (the
/// `branches_name` index), patterns with `GLOB` (a prefix range of the same index).
pub(super) fn branch_names(column: &str, values: &[String]) -> (String, Vec<Value>) {
    let (globs, names): (Vec<&String>, Vec<&String>) = values.iter().partition(|v| is_glob(v));
    let mut alternatives = Vec::new();
    if !names.is_empty() {
        alternatives.push(one_of(column, names.len()));
    }
    alternatives.extend(globs.iter().map(|_| format!("{column} GLOB ?")));
    let condition = if alternatives.len() == 1 {
        alternatives.remove(0)
    } else {
        format!("({})", alternatives.join(" OR "))
    };
    let params = names
        .into_iter()
        .chain(globs)
        .map(|v| Value::Text(v.clone()))
        .collect();
    (condition, params)
}

/// The condition on a workflow name column for `values`, ignoring ASCII case.
pub(super) fn workflow_names(column: &str, values: &[String]) -> (String, Vec<Value>) {
    let condition = if values.len() == 1 {
        format!("{column} = ? COLLATE NOCASE")
    } else {
        format!(
            "{column} COLLATE NOCASE IN ({})",
            vec!["?"; values.len()].join(", ")
        )
    };
    (condition, texts(values))
}

pub(super) fn texts(values: &[String]) -> Vec<Value> {
    values.iter().cloned().map(Value::Text).collect()
}

/// A position in the newest-first order of runs: the last run of the previous page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub created: i64,
    pub id: i64,
}

impl Cursor {
    /// The opaque text form used in `Link` URLs: `<createtime>_<id>`.
    pub fn encode(&self) -> String {
        format!("{}_{}", self.created, self.id)
    }

    /// Parses [`Cursor::encode`]'s output.
    pub fn decode(text: &str) -> Option<Self> {
        let (created, id) = text.split_once('_')?;
        Some(Self {
            created: created.parse().ok()?,
            id: id.parse().ok()?,
        })
    }
}

impl RunFilter {
    /// SQL conditions (joined with AND, prefixed by `WHERE` when any) over the aliases of
    /// `RUN_SELECT` (`r`, `repos`, `w`, `c`, `b`), and their parameters.
    pub fn sql(&self) -> (String, Vec<Value>) {
        let mut conditions: Vec<String> = Vec::new();
        let mut params: Vec<Value> = Vec::new();
        self.name_conditions(&mut conditions, &mut params);
        self.value_conditions(&mut conditions, &mut params);
        let clause = if conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conditions.join(" AND "))
        };
        (clause, params)
    }

    /// The conditions on a repository name `column` (as joined in, unlike [`RunFilter::sql`]'s
    /// ids): the repositories asked for, then the reader's scope; pushed with their parameters.
    pub(super) fn repo_conditions(
        &self,
        column: &str,
        conditions: &mut Vec<String>,
        params: &mut Vec<Value>,
    ) {
        if !self.repo.is_empty() {
            conditions.push(format!(
                "{column} IN ({})",
                vec!["?"; self.repo.len()].join(", ")
            ));
            params.extend(texts(&self.repo));
        }
        if let Some(scope) = &self.scope {
            let (condition, values) = scope.condition(column);
            conditions.push(condition);
            params.extend(values);
        }
    }

    /// The conditions on names (repositories, the reader's scope, branches, workflows), which
    /// resolve through their tables.
    fn name_conditions(&self, conditions: &mut Vec<String>, params: &mut Vec<Value>) {
        // Names are resolved to ids through their tables, so each filter can use its
        // `workflowruns (<id>, createtime)` index. Branches are only ever soft-deleted, so a run of a
        // deleted branch still has its `branch_id` (and the name also in `archivedbranchname`).
        let repos = (!self.repo.is_empty()).then(|| {
            (
                format!(
                    "SELECT id FROM repos WHERE {}",
                    one_of("fullname", self.repo.len())
                ),
                texts(&self.repo),
            )
        });
        if let Some((select, values)) = &repos {
            conditions.push(format!("r.repo_id IN ({select})"));
            params.extend(values.iter().cloned());
        }
        if let Some(scope) = &self.scope {
            // A restriction, not a selection: `+` keeps the planner from reading runs through
            // the repository index for it (then sorting every run of half an organisation: 5 s
            // at 1M runs); the newest-first walk of the time index stops after a page, and a
            // repository the reader asked for (`repo`, above) still uses the index.
            let (condition, values) = scope.condition("fullname");
            conditions.push(format!(
                "+r.repo_id IN (SELECT id FROM repos WHERE {condition})"
            ));
            params.extend(values);
        }
        if let Some(watched) = &self.watched {
            // A restriction, as the scope's: `+` keeps the newest-first walk of the time index
            // (the watched branches hold most runs; reading them by branch would sort them all).
            let (condition, values) = watched.sql("wb.name", "wp.defaultbranch");
            conditions.push(format!(
                "+r.branch_id IN (SELECT wb.id FROM branches wb JOIN repos wp ON wp.id = wb.repo_id
                                 WHERE {condition})"
            ));
            params.extend(values);
        }
        // With repositories, branch and workflow names resolve within them: the ids then select
        // exactly the runs wanted, even where other repositories use the same names.
        let mut by_name = |table: &str, column: &str, (condition, values): (String, Vec<Value>)| {
            let within = match &repos {
                Some((select, _)) if self.repo.len() == 1 => format!(" AND repo_id = ({select})"),
                Some((select, _)) => format!(" AND repo_id IN ({select})"),
                None => String::new(),
            };
            conditions.push(format!(
                "r.{column} IN (SELECT id FROM {table} WHERE {condition}{within})"
            ));
            params.extend(values);
            if let Some((_, repo_values)) = &repos {
                params.extend(repo_values.iter().cloned());
            }
        };
        if !self.branch.is_empty() {
            by_name("branches", "branch_id", branch_names("name", &self.branch));
        }
        if !self.workflow.is_empty() {
            by_name(
                "workflows",
                "workflow_id",
                workflow_names("name", &self.workflow),
            );
        }
    }

    /// The conditions on a run's own columns (author, status, conclusion, event, commit,
    /// workflow id, creation time).
    fn value_conditions(&self, conditions: &mut Vec<String>, params: &mut Vec<Value>) {
        if !self.author.is_empty() {
            conditions.push(one_of("r.actor", self.author.len()));
            params.extend(texts(&self.author));
        }
        let mut text = |condition: &str, value: &Option<String>| {
            if let Some(value) = value {
                conditions.push(condition.to_owned());
                params.push(Value::Text(value.clone()));
            }
        };
        text("r.status = ?", &self.status.map(|s| s.as_str().to_owned()));
        text(
            "r.conclusion = ?",
            &self.conclusion.as_ref().map(|c| c.as_str().to_owned()),
        );
        text("r.event = ?", &self.event);
        if let Some(sha) = &self.sha {
            // Through the commits (a run's commit is its head sha) and `workflowruns_commit`:
            // `headsha` has no index, and scanning for it took seconds at 1M runs. The commits
            // are found per repository by their (repo_id, gitid) key: one short range each.
            conditions.push(
                "r.commit_id IN (SELECT c.id FROM repos p JOIN commits c
                                 ON c.repo_id = p.id AND c.gitid >= ? AND c.gitid < ?)"
                    .into(),
            );
            params.push(Value::Text(sha.to_ascii_lowercase()));
            params.push(Value::Text(format!("{}g", sha.to_ascii_lowercase())));
        }
        let mut integer = |condition: &str, value: Option<i64>| {
            if let Some(value) = value {
                conditions.push(condition.to_owned());
                params.push(Value::Integer(value));
            }
        };
        integer("r.workflow_id = ?", self.workflow_id);
        integer("r.createtime >= ?", self.since);
        integer("r.createtime < ?", self.until);
    }
}

/// Up to `limit` runs matching `filter`, newest first, after `cursor` when given.
///
/// # Errors
/// On a database error.
pub fn runs(
    conn: &Connection,
    filter: &RunFilter,
    after: Option<Cursor>,
    limit: u32,
) -> Result<Vec<Run>> {
    runs_where(conn, filter, None, None, after, limit)
}

/// Like [`runs`], with `condition` (SQL over the `RUN_SELECT` aliases, no parameters) AND-ed on,
/// and the runs read through `index` when given: for a condition the planner cannot weigh, such as
/// one that only a small partial index covers (a constant, as it is spliced into the SQL).
///
/// # Errors
/// On a database error.
pub fn runs_where(
    conn: &Connection,
    filter: &RunFilter,
    condition: Option<&str>,
    index: Option<&'static str>,
    after: Option<Cursor>,
    limit: u32,
) -> Result<Vec<Run>> {
    let (mut clause, mut params) = filter.sql();
    let and = |condition: &str, clause: &mut String| {
        clause.push_str(if clause.is_empty() {
            " WHERE "
        } else {
            " AND "
        });
        clause.push_str(condition);
    };
    if let Some(condition) = condition {
        and(condition, &mut clause);
    }
    if let Some(cursor) = after {
        and("(r.createtime, r.id) < (?, ?)", &mut clause);
        params.push(Value::Integer(cursor.created));
        params.push(Value::Integer(cursor.id));
    }
    params.push(Value::Integer(i64::from(limit)));
    let select = match index {
        Some(index) => {
            const FROM: &str = "FROM workflowruns r\n";
            debug_assert!(RUN_SELECT.contains(FROM), "RUN_SELECT reads runs as `r`");
            RUN_SELECT.replacen(
                FROM,
                &format!("FROM workflowruns r INDEXED BY {index}\n"),
                1,
            )
        }
        None => RUN_SELECT.to_owned(),
    };
    let sql = format!("{select}{clause} ORDER BY r.createtime DESC, r.id DESC LIMIT ?");
    let mut stmt = conn.prepare_cached(&sql)?;
    let runs = stmt
        .query_map(rusqlite::params_from_iter(params), run_from_row)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_rejects_garbage() {
        let cursor = Cursor {
            created: 1_700_000_000,
            id: 42,
        };
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        assert_eq!(Cursor::decode("12"), None);
        assert_eq!(Cursor::decode("a_b"), None);
    }

    #[test]
    fn an_empty_filter_has_no_where_clause() {
        assert_eq!(RunFilter::default().sql(), (String::new(), vec![]));
        let filter = RunFilter {
            repo: vec!["o/r".into()],
            since: Some(5),
            ..RunFilter::default()
        };
        let sql =
            " WHERE r.repo_id IN (SELECT id FROM repos WHERE fullname = ?) AND r.createtime >= ?";
        assert_sql(&filter, sql, 2);
    }

    /// `filter`'s SQL is `clause`, with `params` parameters.
    fn assert_sql(filter: &RunFilter, clause: &str, params: usize) {
        let (sql, values) = filter.sql();
        assert_eq!(sql, clause);
        assert_eq!(values.len(), params, "{sql}");
    }

    #[test]
    fn watched_branches_are_the_default_branch_and_the_globs() {
        let (clause, params) = RunFilter {
            watched: Some("release/*".parse().unwrap()),
            ..RunFilter::default()
        }
        .sql();
        assert!(
            clause.contains("(wb.name = wp.defaultbranch OR wb.name GLOB ?)"),
            "{clause}"
        );
        assert_eq!(params, vec![Value::Text("release/*".into())]);
    }

    #[test]
    fn several_values_globs_and_any_case_each_keep_one_indexed_condition() {
        let (clause, params) = RunFilter {
            repo: vec!["o/a".into(), "o/b".into()],
            branch: vec!["main".into(), "release/*".into()],
            workflow: vec!["ci".into()],
            author: vec!["alice".into(), "bob".into()],
            ..RunFilter::default()
        }
        .sql();
        assert!(
            clause.contains("r.repo_id IN (SELECT id FROM repos WHERE fullname IN (?, ?))"),
            "{clause}"
        );
        assert!(
            clause.contains(
                "r.branch_id IN (SELECT id FROM branches WHERE (name = ? OR name GLOB ?) \
                 AND repo_id IN (SELECT id FROM repos WHERE fullname IN (?, ?)))"
            ),
            "{clause}"
        );
        assert!(clause.contains("name = ? COLLATE NOCASE"), "{clause}");
        assert!(clause.contains("r.actor IN (?, ?)"), "{clause}");
        assert_eq!(clause.matches('?').count(), params.len());
        assert!(is_glob("release/*") && is_glob("v1.[0-9]") && !is_glob("feature/x"));
    }

    #[test]
    fn with_a_repository_branch_and_workflow_names_resolve_within_it() {
        let (clause, params) = RunFilter {
            repo: vec!["o/r".into()],
            branch: vec!["main".into()],
            workflow: vec!["CI".into()],
            ..RunFilter::default()
        }
        .sql();
        assert_eq!(clause.matches("fullname = ?").count(), 3, "{clause}");
        let texts: Vec<_> = params
            .iter()
            .map(|value| match value {
                Value::Text(text) => text.as_str(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(texts, ["o/r", "main", "o/r", "CI", "o/r"]);
    }

    #[test]
    fn a_scope_limits_every_read_to_its_repositories_in_any_case() {
        let scope = RepoScope::new(["Octo/B".to_owned(), "octo/a".to_owned()]);
        assert!(scope.contains("octo/a") && scope.contains("OCTO/b"));
        assert!(!scope.contains("octo/c") && !scope.contains("octo"));
        let filter = RunFilter {
            scope: Some(scope),
            ..RunFilter::default()
        };
        let sql =
            " WHERE +r.repo_id IN (SELECT id FROM repos WHERE fullname COLLATE NOCASE IN (?, ?))";
        assert_sql(&filter, sql, 2);
        let (nothing, _) = RunFilter {
            scope: Some(RepoScope::new([])),
            ..RunFilter::default()
        }
        .sql();
        assert_eq!(
            nothing,
            " WHERE +r.repo_id IN (SELECT id FROM repos WHERE 0)"
        );
    }
}
