//! The Wall: one tile per repository (or per workflow of one repository) for its watched branches,
//! coloured by the worst latest state of its workflows there. The TV shows it first, so it answers
//! "is main green, what broke, since when, who is on it" in one look.
//!
//! The rules (the README's "The board" section says the same):
//! - A tile covers every workflow on every watched branch of its repository (the default branch and
//!   `--watch-branches`; or the one branch named by the filter).
//! - **Red** when any of them is red by triage's rule (its latest completed, non-neutral run
//!   failed); the red details (since when, failing workflows, first red commit's author, where it
//!   failed) come from [`triage`], so the Wall and Triage never disagree.
//! - Else **green**: a tile's colour is the last completed result. A run queued or in progress
//!   is not a colour but a [`Progress`] bar, with its expected time ([`expected_runtimes`]: the
//!   median of that workflow's recent successful runs on that branch).
//! - A red tile's **fix is running** when a run is in progress on one of its red workflows.
//! - Order: red (newest break first), green; names alphabetical within a colour.
//!
//! The states come from one indexed probe per workflow and watched branch (`workflowruns_pair`),
//! like triage's, so the Wall costs the same at a thousand runs as at a million.

use std::collections::{BTreeMap, HashMap};

use rusqlite::types::Value;
use rusqlite::Connection;
use serde::Serialize;

use super::claims::Claim;
use super::query::{self, RunFilter};
use super::triage::{self, Incident};
use super::Result;
use crate::run_state::{Conclusion, RUN_ACTIVE_SQL};
use crate::watch::WatchedBranches;

/// The colour of a tile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TileState {
    /// A workflow's latest completed run on a watched branch failed.
    Red,
    /// No workflow's latest completed run failed (runs in progress are a [`Progress`], not a
    /// colour).
    Green,
}

impl TileState {
    /// The CSS class and the word in the state part.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Red => "red",
            Self::Green => "green",
        }
    }
}

/// A red workflow of a tile.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failing {
    /// The failing run's id, for its run page.
    pub run_id: i64,
    pub workflow: String,
    pub branch: Option<String>,
    /// The failing run on GitHub.
    pub url: Option<String>,
    /// "build › Run tests", when the failing run's steps are known.
    pub failed_at: Option<String>,
    /// Since when this workflow is red (its first red run), epoch seconds.
    pub since: i64,
    /// Who started its first red run (none while `--hide-authors`).
    pub culprit: Option<String>,
    /// Its first red run: what a claim on it names.
    pub first_red_run: i64,
    /// Who said they are on it (the name is removed while `--hide-authors`).
    pub claim: Option<Claim>,
}

/// The run in progress on a tile that is expected to finish last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Progress {
    /// When it started (or was created, while queued), epoch seconds.
    pub started: i64,
    /// How long it is expected to take: the median of the workflow's recent successful runs
    /// on that branch, none without any.
    pub expected_s: Option<i64>,
}

impl Progress {
    /// When it is expected to end, epoch seconds.
    pub fn expected_end(&self) -> Option<i64> {
        self.expected_s.map(|s| self.started + s)
    }
}

/// One tile of the Wall.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tile {
    /// Stable identity, for the page to highlight and to tell a new red from an old one:
    /// the repository, or `repository workflow` on a one-repository wall.
    pub key: String,
    /// "owner/name".
    pub repo: String,
    /// The workflow, on a one-repository wall.
    pub workflow: Option<String>,
    pub state: TileState,
    /// Workflow x branch pairs the tile covers.
    pub pairs: usize,
    /// Runs queued or in progress now.
    pub active: usize,
    /// Red: the workflows whose latest completed run failed, the newest break first.
    pub failing: Vec<Failing>,
    /// A run is queued or in progress: the one expected to end last.
    pub progress: Option<Progress>,
    /// Red: since when (the earliest first red run of its incidents), epoch seconds.
    pub since: Option<i64>,
    /// Red: the newest break (the latest first red run), the order of red tiles.
    pub newest_break: Option<i64>,
    /// Red: who started the newest break's first red run (none while `--hide-authors`).
    pub culprit: Option<String>,
    /// Red: a run is queued or in progress on a red workflow.
    pub fix_running: bool,
    /// When its latest run was created, epoch seconds.
    pub latest: i64,
}

impl Tile {
    /// The run page of its first failing run, while red.
    pub fn run_link(&self) -> Option<String> {
        self.failing.first().map(|f| format!("/runs/{}", f.run_id))
    }

    /// The repository's name without its owner: the big text on the tile.
    pub fn short_name(&self) -> &str {
        self.repo.rsplit_once('/').map_or(&self.repo, |(_, n)| n)
    }

    /// The owner, shown small above the name.
    pub fn owner(&self) -> &str {
        self.repo.split_once('/').map_or("", |(o, _)| o)
    }
}

/// The Wall's data.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Wall {
    /// Red, running, green; see the module's rules.
    pub tiles: Vec<Tile>,
    /// Tiles per workflow of one repository (the filter names one).
    pub per_workflow: bool,
}

impl Wall {
    /// Tiles in `state`.
    pub fn count(&self, state: TileState) -> usize {
        self.tiles.iter().filter(|t| t.state == state).count()
    }

    /// Tiles that are not red: the "23" of "23 of 25 green".
    pub fn not_red(&self) -> usize {
        self.tiles.len() - self.count(TileState::Red)
    }
}

/// What the Wall looks at: the same filter and scope as triage.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub filter: &'a RunFilter,
    pub watched: &'a WatchedBranches,
    pub scope: triage::Scope,
}

/// The latest state of one workflow on one branch.
#[derive(Debug)]
pub struct Pair {
    repo: String,
    workflow_id: i64,
    workflow: String,
    branch_id: i64,
    branch: String,
    latest_created: i64,
    active_count: usize,
    /// The earliest start of its active runs.
    active_since: Option<i64>,
    /// See [`Progress::expected_s`].
    expected_s: Option<i64>,
}

impl Tile {
    /// A tile of `state` with nothing counted yet.
    fn new(key: String, repo: &str, workflow: Option<&String>, state: TileState) -> Self {
        Self {
            key,
            repo: repo.to_owned(),
            workflow: workflow.cloned(),
            state,
            pairs: 0,
            active: 0,
            failing: Vec::new(),
            progress: None,
            since: None,
            newest_break: None,
            culprit: None,
            fix_running: false,
            latest: 0,
        }
    }

    /// Adds a red workflow of the tile.
    fn add_red(&mut self, red: &triage::Red) {
        let failing = &red.failing;
        self.failing.push(Failing {
            run_id: failing.id,
            workflow: failing.workflow.clone(),
            branch: failing.branch.clone(),
            url: failing.url.clone(),
            failed_at: red.failed_at.as_ref().map(triage::FailedAt::describe),
            since: red.since,
            culprit: red.first_red.author.clone(),
            first_red_run: red.first_red.id,
            claim: red.claim.clone(),
        });
        self.since = Some(self.since.map_or(red.since, |since| since.min(red.since)));
        if self.newest_break.is_none_or(|newest| red.since > newest) {
            self.newest_break = Some(red.since);
            self.culprit = red.first_red.author.clone();
        }
    }

    /// Adds a workflow x branch pair's state; `fixing`: a run is going on a red workflow.
    fn add_pair(&mut self, pair: &Pair, fixing: bool) {
        self.pairs += 1;
        self.active += pair.active_count;
        self.fix_running |= fixing;
        self.latest = self.latest.max(pair.latest_created);
        if let Some(started) = pair.active_since {
            let progress = Progress {
                started,
                expected_s: pair.expected_s,
            };
            let ends_later = |shown: &Progress| {
                progress.expected_end().unwrap_or(i64::MAX)
                    > shown.expected_end().unwrap_or(i64::MAX)
            };
            if self.progress.as_ref().is_none_or(ends_later) {
                self.progress = Some(progress);
            }
        }
    }

    /// The newest break first; the same workflow red on two branches listed once.
    fn order_failing(&mut self) {
        self.failing.sort_by(|a, b| {
            b.since
                .cmp(&a.since)
                .then_with(|| a.workflow.cmp(&b.workflow))
        });
        let mut seen = std::collections::HashSet::new();
        self.failing.retain(|f| seen.insert(f.workflow.clone()));
    }
}

/// Whether the Wall for `filter` has a tile per workflow (one repository named) rather than one
/// per repository.
pub fn per_workflow(filter: &RunFilter) -> bool {
    filter.repo.len() == 1
}

/// The Wall from the pairs' states ([`pairs`]) and [`triage::triage`]'s incidents for the same
/// filter and scope, newest first. (Reading the two on two pooled connections at once was
/// measured slower at 1M runs than one after the other on one: 46 against 29 ms p50.)
pub fn assemble(pairs: Vec<Pair>, incidents: &[Incident], per_workflow: bool) -> Wall {
    let mut tiles: BTreeMap<String, Tile> = BTreeMap::new();
    // Workflows (by id) that are red, with the branch, to spot a fix in progress.
    let mut red_pairs: Vec<(i64, Option<String>)> = Vec::new();
    for incident in incidents {
        for red in &incident.reds {
            let failing = &red.failing;
            red_pairs.push((failing.workflow_id, failing.branch.clone()));
            let at = (&failing.repo, &failing.workflow);
            tile_of(&mut tiles, per_workflow, at, TileState::Red).add_red(red);
        }
    }
    for pair in pairs {
        let fixing = pair.active_count > 0
            && red_pairs.iter().any(|(id, branch)| {
                *id == pair.workflow_id && branch.as_deref() == Some(&pair.branch)
            });
        let at = (&pair.repo, &pair.workflow);
        tile_of(&mut tiles, per_workflow, at, TileState::Green).add_pair(&pair, fixing);
    }
    let mut tiles: Vec<Tile> = tiles.into_values().collect();
    tiles.iter_mut().for_each(Tile::order_failing);
    tiles.sort_by(|a, b| {
        a.state
            .cmp(&b.state)
            .then_with(|| b.newest_break.cmp(&a.newest_break))
            .then_with(|| a.key.cmp(&b.key))
    });
    Wall {
        tiles,
        per_workflow,
    }
}

/// The tile of `repo`'s `workflow` (of `repo` alone unless `per_workflow`), made in `state` when
/// it is new.
fn tile_of<'a>(
    tiles: &'a mut BTreeMap<String, Tile>,
    per_workflow: bool,
    (repo, workflow): (&String, &String),
    state: TileState,
) -> &'a mut Tile {
    let key = if per_workflow {
        format!("{repo} {workflow}")
    } else {
        repo.clone()
    };
    tiles
        .entry(key.clone())
        .or_insert_with(|| Tile::new(key, repo, per_workflow.then_some(workflow), state))
}

/// The latest run of each workflow on each branch in scope, and how many runs are active there.
///
/// # Errors
/// On a database error.
pub fn pairs(conn: &Connection, request: &Request<'_>) -> Result<Vec<Pair>> {
    let mut conditions = vec!["p.monitored = 1".to_owned()];
    let mut params: Vec<Value> = Vec::new();
    let filter = request.filter;
    if !filter.repo.is_empty() {
        conditions.push(query::one_of("p.fullname", filter.repo.len()));
        params.extend(query::texts(&filter.repo));
    }
    if let Some(scope) = &filter.scope {
        let (condition, values) = scope.condition("p.fullname");
        conditions.push(condition);
        params.extend(values);
    }
    if !filter.workflow.is_empty() {
        let (condition, values) = query::workflow_names("w.name", &filter.workflow);
        conditions.push(condition);
        params.extend(values);
    }
    let mut fresh = String::new();
    match (filter.branch.is_empty(), request.scope) {
        (false, _) => {
            let (condition, values) = query::branch_names("b.name", &filter.branch);
            conditions.push(condition);
            params.extend(values);
        }
        (true, triage::Scope::Watched) => {
            let (watched, globs) = request.watched.sql("b.name", "p.defaultbranch");
            conditions.push(watched);
            params.extend(globs);
        }
        (true, triage::Scope::AllBranches { active_since }) => {
            fresh = "WHERE r.createtime >= ?".into();
            params.push(Value::Integer(active_since));
        }
    }
    // One probe of `workflowruns_pair` per workflow and branch for the latest run.
    let sql = format!(
        "SELECT x.repo, x.wid, x.wname, x.bid, x.bname, r.createtime
         FROM (
             SELECT p.fullname AS repo, w.id AS wid, w.name AS wname, b.id AS bid, b.name AS bname,
                    (SELECT r.id FROM workflowruns r
                     WHERE r.workflow_id = w.id AND r.branch_id = b.id
                     ORDER BY r.createtime DESC, r.id DESC LIMIT 1) AS latest_id
             FROM workflows w
             JOIN repos p ON p.id = w.repo_id
             JOIN branches b ON b.repo_id = w.repo_id AND b.deletedtime IS NULL
             WHERE {}) x
         JOIN workflowruns r ON r.id = x.latest_id
         {fresh}",
        conditions.join(" AND ")
    );
    let active = active_runs(conn)?;
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(params), |row| {
        let workflow_id: i64 = row.get(1)?;
        let branch_id: i64 = row.get(3)?;
        let (active_count, active_since) = active
            .get(&(workflow_id, branch_id))
            .map_or((0, None), |&(count, since)| (count, Some(since)));
        Ok(Pair {
            repo: row.get(0)?,
            workflow_id,
            workflow: row.get(2)?,
            branch_id,
            branch: row.get(4)?,
            latest_created: row.get(5)?,
            active_count,
            active_since,
            expected_s: None,
        })
    })?;
    let mut pairs: Vec<Pair> = rows.collect::<rusqlite::Result<_>>()?;
    for pair in pairs.iter_mut().filter(|p| p.active_count > 0) {
        pair.expected_s = expected_runtime(conn, pair.workflow_id, pair.branch_id)?;
    }
    Ok(pairs)
}

/// Which monitored repositories (of those the filter names, or all) have a branch the filter
/// names: a branch filter that matches only some of them is said so ("⎇ master is in 2 of 25
/// repositories: …"). `None` when the filter names no branch.
///
/// # Errors
/// On a database error.
pub fn branch_coverage(conn: &Connection, filter: &RunFilter) -> Result<Option<Coverage>> {
    if filter.branch.is_empty() {
        return Ok(None);
    }
    let mut scope = "p.monitored = 1".to_owned();
    let mut params: Vec<Value> = Vec::new();
    if !filter.repo.is_empty() {
        scope.push_str(&format!(
            " AND {}",
            query::one_of("p.fullname", filter.repo.len())
        ));
        params.extend(query::texts(&filter.repo));
    }
    // Only the repositories the reader may read are counted and named.
    if let Some(readable) = &filter.scope {
        let (condition, values) = readable.condition("p.fullname");
        scope.push_str(&format!(" AND {condition}"));
        params.extend(values);
    }
    let (branches, values) = query::branch_names("b.name", &filter.branch);
    let total: i64 = conn.query_row(
        &format!("SELECT COUNT(*) FROM repos p WHERE {scope}"),
        rusqlite::params_from_iter(params.clone()),
        |row| row.get(0),
    )?;
    params.extend(values);
    let mut stmt = conn.prepare(&format!(
        "SELECT p.fullname FROM repos p WHERE {scope} AND EXISTS (
             SELECT 1 FROM branches b WHERE b.repo_id = p.id AND b.deletedtime IS NULL AND {branches})
         ORDER BY p.fullname"
    ))?;
    let having = stmt
        .query_map(rusqlite::params_from_iter(params), |row| row.get(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    Ok(Some(Coverage {
        branches: filter.branch.join(", "),
        having,
        total: usize::try_from(total).unwrap_or(0),
    }))
}

/// See [`branch_coverage`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coverage {
    /// The branches asked for, as typed.
    pub branches: String,
    /// The repositories that have one of them, by name.
    pub having: Vec<String>,
    /// The repositories in scope.
    pub total: usize,
}

impl Coverage {
    /// "⎇ master is in 2 of 25 repositories: acme/a, acme/b; the other 23 have none", when only
    /// some have it (none at all is an unknown name, said elsewhere).
    pub fn describe(&self) -> Option<String> {
        let (have, total) = (self.having.len(), self.total);
        if have == 0 || have >= total {
            return None;
        }
        let mut names: Vec<&str> = self.having.iter().take(8).map(String::as_str).collect();
        if have > names.len() {
            names.push("…");
        }
        Some(format!(
            "⎇ {} is in {have} of {total} repositories: {}; the other {} have none",
            self.branches,
            names.join(", "),
            total - have
        ))
    }
}

/// Default branches shown by name in "watched: main, master, release/*"; beyond, "…".
const NAMED_DEFAULTS: u32 = 6;

/// The distinct default branches of the monitored repositories, by name (at most
/// [`NAMED_DEFAULTS`] + 1, the last one standing for "more"): what "watched" means here.
///
/// # Errors
/// On a database error.
pub fn default_branches(conn: &Connection) -> Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT DISTINCT defaultbranch FROM repos
         WHERE monitored = 1 AND defaultbranch IS NOT NULL ORDER BY 1 LIMIT ?1",
    )?;
    let rows = stmt.query_map([NAMED_DEFAULTS + 1], |row| row.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// "watched: main, master, release/*": the scope of a view of the watched branches, named.
pub fn watched_label(defaults: &[String], watched: &WatchedBranches) -> String {
    let mut names: Vec<&str> = defaults
        .iter()
        .take(NAMED_DEFAULTS as usize)
        .map(String::as_str)
        .collect();
    if defaults.len() > NAMED_DEFAULTS as usize {
        names.push("…");
    }
    if names.is_empty() {
        names.push("default branches");
    }
    names.extend(watched.globs().iter().map(String::as_str));
    format!("watched: {}", names.join(", "))
}

/// Successful runs whose median is a running run's expected time.
const EXPECTED_FROM_RUNS: u32 = 9;

/// How long a run of `workflow_id` on `branch_id` is expected to take: the median runtime of
/// its [`EXPECTED_FROM_RUNS`] latest successful runs there (one probe of `workflowruns_pair`),
/// none without any.
///
/// # Errors
/// On a database error.
pub fn expected_runtime(
    conn: &Connection,
    workflow_id: i64,
    branch_id: i64,
) -> Result<Option<i64>> {
    let mut stmt = conn.prepare_cached(
        "SELECT r.runtime FROM workflowruns r INDEXED BY workflowruns_pair
         WHERE r.workflow_id = ?1 AND r.branch_id = ?2 AND r.conclusion = ?3
           AND r.runtime IS NOT NULL
         ORDER BY r.createtime DESC LIMIT ?4",
    )?;
    let mut runtimes = stmt
        .query_map(
            (
                workflow_id,
                branch_id,
                Conclusion::Success.as_str(),
                EXPECTED_FROM_RUNS,
            ),
            |row| row.get::<_, i64>(0),
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    runtimes.sort_unstable();
    Ok(runtimes.get(runtimes.len() / 2).copied())
}

/// Runs queued or in progress, per workflow and branch, with the earliest one's start (its
/// creation while queued): read through the small partial index `workflowruns_active`, never
/// the history.
fn active_runs(conn: &Connection) -> Result<HashMap<(i64, i64), (usize, i64)>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT r.workflow_id, r.branch_id, COUNT(*), MIN(COALESCE(r.starttime, r.createtime))
         FROM workflowruns r
         INDEXED BY workflowruns_active
         WHERE {RUN_ACTIVE_SQL} AND r.branch_id IS NOT NULL
         GROUP BY r.workflow_id, r.branch_id"
    ))?;
    let rows = stmt.query_map([], |row| {
        let count: i64 = row.get(2)?;
        Ok((
            (row.get(0)?, row.get(1)?),
            (usize::try_from(count).unwrap_or(0), row.get(3)?),
        ))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::model::Run;
    use crate::store::triage::{Red, Verdict};

    fn build(repo: &str, workflow_id: i64, workflow: &str) -> Run {
        Run {
            id: workflow_id * 100,
            repo: repo.into(),
            branch: Some("main".into()),
            workflow: workflow.into(),
            workflow_id,
            status: crate::run_state::Status::Completed,
            conclusion: Some(crate::run_state::Conclusion::Failure),
            sha: "a".repeat(40),
            message: None,
            author: Some("mona".into()),
            author_avatar: None,
            url: None,
            event: "push".into(),
            run_number: 1,
            run_attempt: 1,
            created_at: Some(100),
            started_at: None,
            completed_at: None,
            duration_s: None,
            queue_s: None,
            source: "actions".into(),
            provider: None,
        }
    }

    fn pair(repo: &str, workflow_id: i64, active: usize) -> Pair {
        Pair {
            repo: repo.into(),
            workflow_id,
            workflow: format!("wf{workflow_id}"),
            branch_id: 1,
            branch: "main".into(),
            latest_created: 10,
            active_count: active,
            active_since: (active > 0).then_some(20 + workflow_id),
            expected_s: (active > 0).then_some(100 * workflow_id),
        }
    }

    fn incident(repo: &str, workflow_id: i64, since: i64) -> Incident {
        let failing = build(repo, workflow_id, &format!("wf{workflow_id}"));
        Incident {
            reds: vec![Red {
                first_red: failing.clone(),
                failing,
                last_green: None,
                streak: 1,
                streak_capped: false,
                since,
                authors: vec![],
                verdict: Verdict::New,
                failed_at: None,
                failure: None,
                same_failure_elsewhere: 0,
                claim: None,
                why: None,
            }],
            since,
            culprit: Some(format!("culprit-{since}")),
            pushers: vec![],
            verdict: Verdict::New,
        }
    }

    #[test]
    fn red_tiles_come_first_newest_break_first_and_a_running_run_is_progress_not_a_colour() {
        let pairs = vec![
            pair("o/a-green", 1, 0),
            pair("o/b-running", 2, 1),
            pair("o/c-old-red", 3, 0),
            pair("o/d-new-red", 4, 1),
            pair("o/d-new-red", 5, 0),
        ];
        let incidents = [
            incident("o/d-new-red", 4, 500),
            incident("o/c-old-red", 3, 100),
        ];
        let wall = assemble(pairs, &incidents, false);
        let order: Vec<(&str, TileState)> = wall
            .tiles
            .iter()
            .map(|t| (t.short_name(), t.state))
            .collect();
        assert_eq!(
            order,
            [
                ("d-new-red", TileState::Red),
                ("c-old-red", TileState::Red),
                ("a-green", TileState::Green),
                ("b-running", TileState::Green),
            ]
        );
        assert_eq!(
            wall.tiles[3].progress,
            Some(Progress {
                started: 22,
                expected_s: Some(200)
            })
        );
        assert_eq!(wall.tiles[3].progress.unwrap().expected_end(), Some(222));
        assert_eq!(wall.tiles[2].progress, None);
        let new_red = &wall.tiles[0];
        assert!(new_red.fix_running, "a run is going on the red workflow");
        assert!(!wall.tiles[1].fix_running);
        assert_eq!(new_red.since, Some(500));
        assert_eq!(new_red.culprit.as_deref(), Some("mona"));
        assert_eq!(new_red.pairs, 2);
        assert_eq!(wall.not_red(), 2);
    }

    #[test]
    fn a_branch_in_only_some_repositories_says_which() {
        let coverage = Coverage {
            branches: "master".into(),
            having: vec!["o/a".into(), "o/b".into()],
            total: 25,
        };
        assert_eq!(
            coverage.describe().as_deref(),
            Some("⎇ master is in 2 of 25 repositories: o/a, o/b; the other 23 have none")
        );
        let everywhere = Coverage {
            total: 2,
            ..coverage.clone()
        };
        assert_eq!(everywhere.describe(), None);
    }

    #[test]
    fn the_watched_scope_names_its_branches() {
        let globs: WatchedBranches = "release/*".parse().unwrap();
        let defaults = vec!["main".to_owned(), "master".to_owned()];
        assert_eq!(
            watched_label(&defaults, &globs),
            "watched: main, master, release/*"
        );
        assert_eq!(
            watched_label(&[], &WatchedBranches::default()),
            "watched: default branches"
        );
        let many: Vec<String> = (0..7).map(|i| format!("b{i}")).collect();
        assert!(watched_label(&many, &globs).ends_with("b5, …, release/*"));
    }

    #[test]
    fn one_repository_gets_a_tile_per_workflow() {
        let pairs = vec![pair("o/a", 1, 0), pair("o/a", 2, 0)];
        let wall = assemble(pairs, &[incident("o/a", 2, 5)], true);
        assert_eq!(wall.tiles.len(), 2);
        assert_eq!(wall.tiles[0].key, "o/a wf2");
        assert_eq!(wall.tiles[0].workflow.as_deref(), Some("wf2"));
        assert_eq!(wall.tiles[1].state, TileState::Green);
    }
}
