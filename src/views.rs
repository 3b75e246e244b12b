//! HTML rendering, all in one place: askama templates from `templates/` and the small view models
//! they read. Askama escapes every value, so text from payloads (commit messages, names) always
//! shows as text; names and messages are also cut to a sane length here.
//!
//! Pages are rendered per request. Live updates are rendered once per change, not per client:
//! [`run_fragments`] renders the waterfall's pieces for a changed run (called once per change by
//! the ingest publisher, through [`crate::feed::change`]; the hub sends the same text to every
//! client), and the `*_live` / [`hud`] renderers produce the parts a
//! page re-fetches, which the web layer caches per change (see `web::board`).

mod chart;
mod log;
mod run;
mod runners;
pub mod settings;

use std::sync::Arc;

use askama::Template;
use serde::Serialize;

use crate::run_state::{self, Conclusion, Kind};
use crate::scope::Privacy;
use crate::store::board::{CommitRuns, Person};
use crate::store::figures::Metrics;
use crate::store::model::Run;
use crate::store::names::KnownNames;
use crate::store::triage::Incident;
use crate::store::wall::{Progress, Tile, TileState, Wall};
use crate::watch::BranchKind;

pub use log::{log_page, log_part, state_name, LogView};
pub use run::{run_live, run_page, RunView};
pub use runners::{alerting, queue_labels, queue_wait, runners_live, runners_page, RunnersView};

/// Characters of a commit message's first line shown in a row.
pub const MESSAGE_CHARS: usize = 100;
/// Characters of a name (repository, branch, workflow, login) shown.
pub const NAME_CHARS: usize = 40;

/// Rendering options that hold for the whole server, so a fragment rendered once suits everyone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Opts {
    /// What may be shown of people (`--hide-authors`).
    pub privacy: Privacy,
    /// The GitHub Enterprise Server host whose pages are linked to besides GitHub's (the host of
    /// `--github-api-url` when it is not GitHub's); see [`safe_link`]. Leaked once per server
    /// start, so that these options stay `Copy`.
    pub ghes_host: Option<&'static str>,
}

impl Opts {
    /// `--hide-authors`: render no names of people at all.
    pub const fn hide_authors(&self) -> bool {
        self.privacy.hide_authors
    }
}

/// A link with a label, marked when it is the current choice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub label: String,
    pub url: String,
    pub active: bool,
}

/// What every page shows around its view: navigation, filters, connection state, TV settings.
/// The web layer fills it from the query parameters.
#[derive(Debug, Clone, Default)]
pub struct Chrome {
    /// `wall`, `waterfall`, `triage`, `developer` or `people`.
    pub view: &'static str,
    pub title: String,
    pub tv: bool,
    /// TV mode: seconds a view other than the answer view stays up before the next view of
    /// [`Chrome::rotation`] (0: never; the Wall, or Triage without it, stays four times as long).
    pub rotate_s: u32,
    /// TV mode: seconds each page of a long list stays up.
    pub page_s: u32,
    /// TV mode: the rotation as JSON, `[["wall", "/wall?tv=1&…"], …]`, in order; empty when
    /// the view stays put (`rotate=0`).
    pub rotation: String,
    /// This view's live part (`part=live`), fetched to resync after a reconnect.
    pub live_url: String,
    /// The waterfall's HUD part (`part=hud`).
    pub hud_url: String,
    /// Whether every run the live feed sends this viewer belongs on the page (the page narrows
    /// nothing beyond the viewer's scope, which the feed applies too): `static/runs.js` draws
    /// them as they come; otherwise each run redraws the live part from the server, which alone
    /// decides what matches the page's filter.
    pub runs_belong: bool,
    /// Active filters, comma-separated as typed in the form; empty when unset.
    pub repo: String,
    pub branch: String,
    pub workflow: String,
    pub filter_author: String,
    /// The developer view's login; empty elsewhere.
    pub author: String,
    /// The HUD window (`24h`, `7d`, `30d`).
    pub window: &'static str,
    /// Navigation between the views, keeping the filters.
    pub nav: Vec<Link>,
    /// The HUD's window choices.
    pub windows: Vec<Link>,
    /// The URL of this view without filters.
    pub clear_url: String,
    /// Rows of the waterfall: its rows in all on a desktop (shared among the repositories, a
    /// few each at least), a repository alone on a TV.
    pub max_rows: usize,
    /// Entries the live stream keeps.
    pub max_stream: usize,
    /// Items per page of a long list in TV mode.
    pub per_page: usize,
    /// The hub's generation before the page's data was read: the page resyncs when the feed's
    /// `hello` reports a newer one (a change landed between the render and the connection).
    pub generation: u64,
    /// Filter values that match nothing known. While there are any, a view shows them instead
    /// of an empty state ("All green", "No runs yet") that would read as good news.
    pub unknown: Vec<Notice>,
    /// Names the filter form offers (its `<datalist>`s); empty in parts and on a TV.
    pub known: Arc<KnownNames>,
    /// TV mode: where a new break is shown (the Wall, else Triage), with these parameters.
    pub alert_url: String,
    /// The Wall's state part (`part=state`) for these filters: every page reads it for its title
    /// and icon, and a TV to notice a new break.
    pub state_url: String,
    /// `sound=1`: a short sound on a new break and on a fix.
    pub sound: bool,
    /// `--timezone`: the IANA zone absolute times are shown in; empty for the browser's own.
    pub timezone: String,
    /// What the watched branches are, named: "watched: main, master, release/*".
    pub watched: String,
    /// A branch filter that only some repositories match, said so (see
    /// [`crate::store::wall::Coverage`]).
    pub partial: Option<String>,
    /// "backfilling 12 of 25 repositories" while the App's background backfill of the viewer's
    /// repositories runs; empty otherwise (the Wall's state part carries it too, to keep it live).
    pub backfilling: String,
}

/// A filter value that matches nothing known, as a page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// "No repository named acme/widgts".
    pub text: String,
    /// The closest known name, and this page with it in place of the unknown one.
    pub suggestion: Option<(String, String)>,
}

/// The conclusions that make a run red, comma-separated, for the page to tell which run
/// messages can change the board's state (from [`run_state`], their one home).
pub fn red_conclusions() -> String {
    run_state::names(run_state::Conclusion::is_red).join(",")
}

/// The conclusions whose failed jobs GitHub re-runs (red, and cancelled), comma-separated, for
/// `static/act.js`'s "Re-run failed jobs" button (from [`run_state`], their one home).
pub fn rerun_failed_conclusions() -> String {
    run_state::names(|c| c.is_red() || *c == run_state::Conclusion::Cancelled).join(",")
}

impl Chrome {
    /// Whether any of repo, branch, workflow or author is set.
    pub fn filtered(&self) -> bool {
        !(self.repo.is_empty()
            && self.branch.is_empty()
            && self.workflow.is_empty()
            && self.filter_author.is_empty())
    }
}

/// The HUD: figures for the window, and the duration chart.
#[derive(Debug, Clone)]
pub struct Hud {
    pub metrics: Metrics,
    pub chart: Chart,
    /// Which branches the figures and the chart cover: "all branches", "⎇ main", or "watched:
    /// main, release/*" (a TV's default).
    pub branches: String,
}

/// A bar chart of recent runs' durations (an SVG drawn by the template).
#[derive(Debug, Clone, Default)]
pub struct Chart {
    pub bars: Vec<Bar>,
    /// The longest duration drawn, in seconds (the top of the scale).
    pub max_s: i64,
}

/// One bar of the [`Chart`], in the SVG's 0..[`CHART_W`] x 0..[`CHART_H`] coordinates.
#[derive(Debug, Clone)]
pub struct Bar {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
    pub kind: &'static str,
    pub tip: String,
}

/// Width of the chart's coordinate space.
pub const CHART_W: u32 = 600;
/// Height of the chart's coordinate space.
pub const CHART_H: u32 = 100;

impl Chart {
    /// Bars for `recent` (newest first, as the store returns them), drawn oldest to newest.
    pub fn of(recent: &[Run]) -> Self {
        let max_s = recent
            .iter()
            .filter_map(|b| b.duration_s)
            .max()
            .unwrap_or(0)
            .max(1);
        let count = recent.len().max(1) as u32;
        let slot = CHART_W / count;
        let width = slot.saturating_sub(2).max(1);
        let bars = recent
            .iter()
            .rev()
            .enumerate()
            .map(|(i, run)| {
                let secs = run.duration_s.unwrap_or(0).max(0);
                let height = ((secs as f64 / max_s as f64) * f64::from(CHART_H)).round() as u32;
                let height = height.clamp(1, CHART_H);
                Bar {
                    x: i as u32 * slot + 1,
                    y: CHART_H - height,
                    width,
                    height,
                    kind: kind(run),
                    tip: format!(
                        "{} #{} · {} · {}",
                        cut(&run.workflow, NAME_CHARS),
                        run.run_number,
                        label(run),
                        duration(&Some(secs))
                    ),
                }
            })
            .collect();
        Self { bars, max_s }
    }
}

/// One column of the waterfall: a workflow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lane {
    pub workflow_id: i64,
    pub workflow: String,
    pub repo: String,
    /// What the header shows: the name without the prefix it shares with the other workflows of
    /// its repository ("linux" for "Build and test / linux"); the full name is its hover text.
    pub label: String,
}

/// One row of the waterfall: a commit, and its runs per lane.
#[derive(Debug, Clone)]
pub struct Row {
    /// The row's time: its first run's creation.
    pub time: i64,
    /// The run whose commit details (sha, message, author) the row shows.
    pub head: Run,
    pub cells: Vec<Cells>,
    /// What the row's branch is: the default, a watched or a feature branch.
    pub branch_kind: BranchKind,
}

/// The runs of one commit in one lane.
#[derive(Debug, Clone)]
pub struct Cells {
    pub workflow_id: i64,
    pub runs: Vec<Run>,
}

/// One repository in the waterfall: its own columns (its workflows) and its newest commits, so
/// no repository's columns widen another's and the page grows down, never sideways.
#[derive(Debug, Clone)]
pub struct Block {
    pub repo: String,
    /// The Waterfall of this repository alone (its picker's and header's link); the web layer
    /// fills it in, keeping the page's other parameters.
    pub link: String,
    pub lanes: Vec<Lane>,
    /// Newest first; at most the view's rows per repository.
    pub rows: Vec<Row>,
}

/// How the waterfall's repositories are ordered: always by name, so a person finds theirs and a
/// redraw (a new commit) moves no block to another place or another TV page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// By name, one under another: a desktop page.
    ByName,
    /// By name, except that a narrow block waits for the next narrow one (see [`Block::wide`]),
    /// so two share a TV's row rather than leave half of it empty before a wide one.
    ByNamePaired,
}

/// Workflows from which a repository's block takes a TV's whole width: at 28 px (1080p) a
/// workflow's column is about 150 px wide, and half a 1366 or 1920 px screen holds the commit
/// column and three of them.
pub const WIDE_LANES: usize = 4;

impl Block {
    /// Whether the block takes a TV's whole width rather than half of it.
    pub fn wide(&self) -> bool {
        self.lanes.len() >= WIDE_LANES
    }
}

/// `blocks` in order, except that a narrow block waits for the next narrow one (wide ones go
/// ahead of it), so narrow blocks come in pairs.
fn pair_narrow(blocks: Vec<Block>) -> Vec<Block> {
    let mut paired = Vec::with_capacity(blocks.len());
    let mut waiting: Option<Block> = None;
    for block in blocks {
        if block.wide() {
            paired.push(block);
        } else if let Some(first) = waiting.take() {
            paired.push(first);
            paired.push(block);
        } else {
            waiting = Some(block);
        }
    }
    paired.extend(waiting);
    paired
}

/// The waterfall view's data.
#[derive(Debug, Clone)]
pub struct Waterfall {
    /// One block per repository with runs, in the order asked for.
    pub blocks: Vec<Block>,
    pub hud: Hud,
    /// The live stream's first entries, newest first.
    pub stream: Vec<Run>,
    /// Whether more than one repository is shown (then stream entries name the repository).
    pub many_repos: bool,
    /// Whether every repository shown has the same owner (then names leave it out).
    pub one_owner: bool,
    /// Rows each block shows at most.
    pub rows_per_block: usize,
}

impl Waterfall {
    /// Lays the commits (newest first) out in one block per repository, each with a lane per
    /// workflow seen (by name) and its newest `rows_per_block` commits; `kind_of` says what each
    /// row's branch is.
    pub fn of(
        commits: Vec<CommitRuns>,
        hud: Hud,
        stream: Vec<Run>,
        (order, rows_per_block): (Order, usize),
        kind_of: impl Fn(&Run) -> BranchKind,
    ) -> Self {
        let mut blocks: Vec<Block> = Vec::new();
        let mut lanes_of: Vec<Vec<(String, i64)>> = Vec::new();
        let mut kept: Vec<Vec<CommitRuns>> = Vec::new();
        for commit in commits {
            let repo = &commit.runs[0].repo;
            let at = blocks
                .iter()
                .position(|b| b.repo == *repo)
                .unwrap_or_else(|| {
                    blocks.push(Block {
                        repo: repo.clone(),
                        link: String::new(),
                        lanes: Vec::new(),
                        rows: Vec::new(),
                    });
                    lanes_of.push(Vec::new());
                    kept.push(Vec::new());
                    blocks.len() - 1
                });
            if kept[at].len() >= rows_per_block {
                continue;
            }
            for run in &commit.runs {
                if !lanes_of[at].iter().any(|(_, id)| *id == run.workflow_id) {
                    lanes_of[at].push((run.workflow.clone(), run.workflow_id));
                }
            }
            kept[at].push(commit);
        }
        for ((block, mut workflows), commits) in blocks.iter_mut().zip(lanes_of).zip(kept) {
            workflows.sort();
            let names: Vec<&str> = workflows.iter().map(|(name, _)| name.as_str()).collect();
            block.lanes = workflows
                .iter()
                .zip(distinct_parts(&names))
                .map(|((workflow, workflow_id), label)| Lane {
                    workflow_id: *workflow_id,
                    workflow: workflow.clone(),
                    repo: block.repo.clone(),
                    label,
                })
                .collect();
            block.rows = commits
                .into_iter()
                .map(|commit| row_of(commit, &block.lanes, &kind_of))
                .collect();
        }
        blocks.sort_by(|a, b| a.repo.cmp(&b.repo));
        if order == Order::ByNamePaired {
            blocks = pair_narrow(blocks);
        }
        let many_repos = blocks.len() > 1
            || stream
                .iter()
                .any(|b| blocks.first().is_some_and(|block| block.repo != b.repo));
        let one_owner = blocks
            .iter()
            .map(|b| owner_of(&b.repo))
            .chain(stream.iter().map(|b| owner_of(&b.repo)))
            .collect::<std::collections::HashSet<&str>>()
            .len()
            <= 1;
        Self {
            blocks,
            hud,
            stream,
            many_repos,
            one_owner,
            rows_per_block,
        }
    }
}

/// A commit's row, with its runs in `lanes`.
fn row_of(commit: CommitRuns, lanes: &[Lane], kind_of: impl Fn(&Run) -> BranchKind) -> Row {
    let cells = lanes
        .iter()
        .map(|lane| Cells {
            workflow_id: lane.workflow_id,
            runs: commit
                .runs
                .iter()
                .filter(|b| b.workflow_id == lane.workflow_id)
                .cloned()
                .collect(),
        })
        .collect();
    let head = commit.runs[0].clone();
    Row {
        time: commit.first_created,
        branch_kind: kind_of(&head),
        head,
        cells,
    }
}

/// Separators after which a shared prefix of workflow names is cut.
const NAME_SEPARATORS: &[char] = &[' ', '/', '-', ':', '(', '·', '|', '_'];

/// Each of `names` without the prefix it shares with another of them, cut back to a word
/// boundary: what tells them apart ("linux", "macos" and "Lint" for "Build and test / linux",
/// "Build and test / macos" and "Lint"). A name that would be left empty stays whole.
pub fn distinct_parts(names: &[&str]) -> Vec<String> {
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let shared = names
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, other)| {
                    name.char_indices()
                        .zip(other.chars())
                        .find(|((_, a), b)| a != b)
                        .map_or(name.len().min(other.len()), |((at, _), _)| at)
                })
                .max()
                .unwrap_or(0);
            // Back to just after the last separator within the shared part.
            let cut = name[..shared].rfind(NAME_SEPARATORS).map_or(0, |at| {
                at + name[at..].chars().next().map_or(1, char::len_utf8)
            });
            let part = name[cut..].trim_start_matches(NAME_SEPARATORS);
            if part.is_empty() { *name } else { part }.to_owned()
        })
        .collect()
}

/// The triage view's data.
#[derive(Debug, Clone)]
pub struct Triage {
    /// What is red, grouped by cause, in the order asked for; at most [`MAX_INCIDENTS`].
    pub incidents: Vec<Incident>,
    /// Every incident in scope, shown or not.
    pub total: usize,
    /// Red workflows (on a branch) in scope, across every incident.
    pub red_workflows: usize,
    /// Every branch is in scope (`branches=all`), not only the watched ones.
    pub all_branches: bool,
    /// The owner every red repository shares, said once in the heading and left off the items.
    pub one_owner: Option<String>,
}

/// Most incidents a triage page draws; past that it says how many more there are.
pub const MAX_INCIDENTS: usize = 300;

impl Triage {
    /// The model for `incidents` (all of them, in order): the first [`MAX_INCIDENTS`] are kept.
    pub fn of(mut incidents: Vec<Incident>, all_branches: bool) -> Self {
        let total = incidents.len();
        let red_workflows = incidents.iter().map(|i| i.reds.len()).sum();
        incidents.truncate(MAX_INCIDENTS);
        let mut owners = incidents.iter().map(|i| owner_of(&i.first_red().repo));
        let one_owner = owners
            .next()
            .filter(|first| !first.is_empty() && owners.all(|o| o == *first))
            .map(|owner| owner.trim_end_matches('/').to_owned());
        Self {
            incidents,
            total,
            red_workflows,
            all_branches,
            one_owner,
        }
    }

    /// Incidents in scope that the page does not draw.
    pub fn not_shown(&self) -> usize {
        self.total - self.incidents.len()
    }
}

/// The Wall view's data: the tiles and their counts.
#[derive(Debug, Clone)]
pub struct WallView {
    pub wall: Wall,
    /// Every branch is in scope (`branches=all` or a named branch), not only the watched ones.
    pub all_branches: bool,
    /// When it was rendered (epoch seconds), for the relative times' first text.
    pub now: i64,
    /// Label sets waiting for a runner at least `--queue-alert` (`templates/wall_queues.html`).
    pub queues: Vec<crate::store::runners::Queue>,
    /// The owner every tile's repository shares, said once in the headline and left off the
    /// tiles; none when they differ (or the Wall has a tile per workflow).
    pub one_owner: Option<String>,
    /// The filter names something that does not exist: the state must never read as green.
    pub unknown: bool,
    /// The board's backfill line (see [`Chrome::backfilling`]), for `part=state`.
    pub backfilling: String,
}

impl WallView {
    pub fn of(wall: Wall, all_branches: bool) -> Self {
        let mut owners = wall.tiles.iter().map(Tile::owner);
        let first = owners.next().filter(|o| !o.is_empty());
        let one_owner = first
            .filter(|first| owners.all(|o| o == *first) && !wall.per_workflow)
            .map(str::to_owned);
        Self {
            wall,
            all_branches,
            now: chrono::Utc::now().timestamp(),
            queues: Vec::new(),
            one_owner,
            unknown: false,
            backfilling: String::new(),
        }
    }

    pub fn total(&self) -> usize {
        self.wall.tiles.len()
    }

    pub fn red(&self) -> usize {
        self.wall.count(TileState::Red)
    }

    /// Tiles with a run queued or in progress ("◔ 3 building"), whatever their colour.
    pub fn running(&self) -> usize {
        self.wall
            .tiles
            .iter()
            .filter(|t| t.progress.is_some())
            .count()
    }

    /// `part=state`: the counts and the red tiles, which every page reads for its title and icon
    /// and a TV compares with what it saw to notice a new break or a fix.
    pub fn state_json(&self) -> String {
        let reds: Vec<serde_json::Value> = self
            .wall
            .tiles
            .iter()
            .filter(|t| t.state == TileState::Red)
            .map(|t| {
                serde_json::json!({
                    "key": t.key,
                    "repo": t.repo,
                    "since": t.since,
                    "newest_break": t.newest_break,
                    "workflows": t.failing.iter().map(|f| &f.workflow).collect::<Vec<_>>(),
                })
            })
            .collect();
        serde_json::json!({
            "red": self.red(),
            "running": self.running(),
            "green": self.wall.not_red(),
            "total": self.total(),
            "unknown": self.unknown,
            "reds": reds,
            "backfilling": self.backfilling,
        })
        .to_string()
    }
}

/// The developer view's data.
#[derive(Debug, Clone)]
pub struct Developer {
    pub login: String,
    pub metrics: Metrics,
    /// Their runs still queued or running.
    pub active: Vec<Run>,
    /// Incidents they caused or pushed into.
    pub incidents: Vec<Incident>,
    /// Their latest runs.
    pub recent: Vec<Run>,
}

// ---------------------------------------------------------------------------------------------
// Templates.

#[derive(Template)]
#[template(path = "waterfall.html")]
struct WaterfallPage<'a> {
    c: &'a Chrome,
    v: &'a Waterfall,
    hud: &'a Hud,
    opts: Opts,
}

#[derive(Template)]
#[template(path = "waterfall_live.html")]
struct WaterfallLive<'a> {
    c: &'a Chrome,
    v: &'a Waterfall,
    hud: &'a Hud,
    opts: Opts,
}

#[derive(Template)]
#[template(path = "hud.html")]
struct HudPart<'a> {
    c: &'a Chrome,
    hud: &'a Hud,
}

#[derive(Template)]
#[template(path = "triage.html")]
struct TriagePage<'a> {
    c: &'a Chrome,
    v: &'a Triage,
    opts: Opts,
}

#[derive(Template)]
#[template(path = "triage_live.html")]
struct TriageLive<'a> {
    c: &'a Chrome,
    v: &'a Triage,
    opts: Opts,
}

#[derive(Template)]
#[template(path = "wall.html")]
struct WallPage<'a> {
    c: &'a Chrome,
    v: &'a WallView,
    opts: Opts,
}

#[derive(Template)]
#[template(path = "wall_live.html")]
struct WallLive<'a> {
    c: &'a Chrome,
    v: &'a WallView,
    opts: Opts,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    reason: &'a str,
    message: &'a str,
}

#[derive(Template)]
#[template(path = "developer.html")]
struct DeveloperPage<'a> {
    c: &'a Chrome,
    v: &'a Developer,
    opts: Opts,
}

#[derive(Template)]
#[template(path = "developer_live.html")]
struct DeveloperLive<'a> {
    c: &'a Chrome,
    v: &'a Developer,
    opts: Opts,
}

#[derive(Template)]
#[template(path = "people.html")]
struct PeoplePage<'a> {
    c: &'a Chrome,
    people: &'a [Person],
    opts: Opts,
}

#[derive(Template)]
#[template(path = "people_live.html")]
struct PeopleLive<'a> {
    c: &'a Chrome,
    people: &'a [Person],
    opts: Opts,
}

#[derive(Template)]
#[template(path = "cell.html")]
struct CellFragment<'a> {
    run: &'a Run,
}

#[derive(Template)]
#[template(path = "row.html")]
struct RowFragment<'a> {
    row: &'a Row,
    opts: Opts,
}

#[derive(Template)]
#[template(path = "lane_head.html")]
struct LaneFragment<'a> {
    lane: &'a Lane,
}

#[derive(Template)]
#[template(path = "stream_item.html")]
struct StreamFragment<'a> {
    run: &'a Run,
}

/// The waterfall page (`/waterfall`).
///
/// # Errors
/// When a template fails to render (a bug: templates are checked at compile time).
pub fn waterfall(c: &Chrome, v: &Waterfall, opts: Opts) -> askama::Result<String> {
    WaterfallPage {
        c,
        v,
        hud: &v.hud,
        opts,
    }
    .render()
}

/// The waterfall's live part: the content of `#live`.
///
/// # Errors
/// As [`waterfall`].
pub fn waterfall_live(c: &Chrome, v: &Waterfall, opts: Opts) -> askama::Result<String> {
    WaterfallLive {
        c,
        v,
        hud: &v.hud,
        opts,
    }
    .render()
}

/// The HUD: the content of `#hud`.
///
/// # Errors
/// As [`waterfall`].
pub fn hud(c: &Chrome, hud: &Hud) -> askama::Result<String> {
    HudPart { c, hud }.render()
}

/// The triage page (`/triage`).
///
/// # Errors
/// As [`waterfall`].
pub fn triage(c: &Chrome, v: &Triage, opts: Opts) -> askama::Result<String> {
    TriagePage { c, v, opts }.render()
}

/// The triage view's live part.
///
/// # Errors
/// As [`waterfall`].
pub fn triage_live(c: &Chrome, v: &Triage, opts: Opts) -> askama::Result<String> {
    TriageLive { c, v, opts }.render()
}

/// The Wall page (`/wall`).
///
/// # Errors
/// As [`waterfall`].
pub fn wall(c: &Chrome, v: &WallView, opts: Opts) -> askama::Result<String> {
    WallPage { c, v, opts }.render()
}

/// The Wall's live part.
///
/// # Errors
/// As [`waterfall`].
pub fn wall_live(c: &Chrome, v: &WallView, opts: Opts) -> askama::Result<String> {
    WallLive { c, v, opts }.render()
}

/// The HTML error page of a board address: `status` and its `reason`, and what is wrong in words.
///
/// # Errors
/// As [`waterfall`].
pub fn error_page(status: u16, reason: &str, message: &str) -> askama::Result<String> {
    ErrorPage {
        status,
        reason,
        message,
    }
    .render()
}

/// The sign-in pages: a private board's, and the operators' (`/operator`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignIn<'a> {
    /// A private board opened without its token or cookie.
    PrivateBoard,
    /// `/operator` on a board with no operator tokens.
    ActingOff,
    /// `/operator` for the signed-in operator of this name.
    SignedIn(&'a str),
    /// `/operator`'s form.
    Form,
    /// A sign-in or sign-out (the words) posted from another site's page.
    Refused(&'a str),
    /// A sign-in with a wrong operator token, and the form again.
    WrongToken,
}

impl SignIn<'_> {
    /// The board's page rather than the operators'.
    pub fn is_private_board(&self) -> bool {
        matches!(self, Self::PrivateBoard)
    }
}

#[derive(Template)]
#[template(path = "signin.html")]
struct SignInPage<'a> {
    page: SignIn<'a>,
}

/// A sign-in page.
///
/// # Errors
/// As [`waterfall`].
pub fn sign_in(page: SignIn<'_>) -> askama::Result<String> {
    SignInPage { page }.render()
}

/// The developer page (`/developer/<login>`).
///
/// # Errors
/// As [`waterfall`].
pub fn developer(c: &Chrome, v: &Developer, opts: Opts) -> askama::Result<String> {
    DeveloperPage { c, v, opts }.render()
}

/// The developer view's live part.
///
/// # Errors
/// As [`waterfall`].
pub fn developer_live(c: &Chrome, v: &Developer, opts: Opts) -> askama::Result<String> {
    DeveloperLive { c, v, opts }.render()
}

/// The page to pick a person (`/developer`).
///
/// # Errors
/// As [`waterfall`].
pub fn people(c: &Chrome, people: &[Person], opts: Opts) -> askama::Result<String> {
    PeoplePage { c, people, opts }.render()
}

/// The people list's live part (`/developer?part=live`): the list without the page around it.
pub fn people_live(c: &Chrome, people: &[Person], opts: Opts) -> askama::Result<String> {
    PeopleLive { c, people, opts }.render()
}

/// The waterfall's pieces for one changed run, rendered once and sent to every client in the
/// `run` message's `html` member. The page swaps `cell` in by `data-run-id`; for a commit it has
/// no row for yet it inserts `row`, and for a workflow it has no column for yet, `lane`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunFragments {
    /// `<a class="run" data-run-id=…>`: the run's cell in the grid.
    pub cell: String,
    /// `<tr class="commit" data-commit=…>`: a row for the run's commit holding just this run.
    pub row: String,
    /// `<th class="lane-head" data-lane=…>`: the column header for the run's workflow.
    pub lane: String,
    /// `<li class="event" data-run-id=…>`: an entry for the live stream.
    pub stream: String,
}

/// Renders [`RunFragments`] for `run`.
///
/// # Errors
/// As [`waterfall`].
pub fn run_fragments(run: &Run, opts: Opts) -> askama::Result<RunFragments> {
    let row = Row {
        time: run.created_at.unwrap_or_default(),
        head: run.clone(),
        cells: vec![Cells {
            workflow_id: run.workflow_id,
            runs: vec![run.clone()],
        }],
        // The feed does not know the repository's default branch: the page marks a new row's
        // branch when it redraws from the server.
        branch_kind: BranchKind::Feature,
    };
    let lane = Lane {
        workflow_id: run.workflow_id,
        workflow: run.workflow.clone(),
        repo: run.repo.clone(),
        label: run.workflow.clone(),
    };
    Ok(RunFragments {
        cell: CellFragment { run }.render()?,
        row: RowFragment { row: &row, opts }.render()?,
        lane: LaneFragment { lane: &lane }.render()?,
        stream: StreamFragment { run }.render()?,
    })
}

// ---------------------------------------------------------------------------------------------
// Helpers the templates call.

/// Short form of a commit hash.
pub fn short_sha(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

/// `text` cut to `max` characters, with an ellipsis when cut.
pub fn cut(text: &str, max: usize) -> String {
    crate::store::model::first_line(text, max)
}

/// `name` in pieces that each end after a `/`, for a page to offer a line break there: a long
/// branch name wraps at its slashes (and hyphens) rather than being cut.
pub fn break_parts(name: &str) -> Vec<&str> {
    name.split_inclusive('/').collect()
}

/// The board's quiet line while the App's background backfill runs: "backfilling 12 of 25
/// repositories" (`pending` queued or running of `total`); empty when none is pending.
pub fn backfilling(pending: usize, total: usize) -> String {
    match (pending, total) {
        (0, _) => String::new(),
        (_, 1) => "backfilling 1 repository".to_owned(),
        _ => format!("backfilling {pending} of {total} repositories"),
    }
}

/// A name (repository, branch, workflow, login) cut for display.
pub fn name(text: &str) -> String {
    cut(text, NAME_CHARS)
}

/// An optional name, empty when missing.
pub fn opt_name(text: &Option<String>) -> String {
    text.as_deref().map(name).unwrap_or_default()
}

/// The first line of a run's commit message, cut for display.
pub fn message(run: &Run) -> String {
    run.message
        .as_deref()
        .map(|m| cut(m, MESSAGE_CHARS))
        .unwrap_or_default()
}

/// The state a cell shows: the conclusion once completed, else the status.
pub fn state_of(run: &Run) -> &str {
    run.conclusion
        .as_ref()
        .map_or(run.status.as_str(), Conclusion::as_str)
}

/// The class of state a run is in, which picks its colour and shape: `success`, `failure`,
/// `cancelled`, `running`, `queued` or `skipped`.
pub fn kind(run: &Run) -> &'static str {
    Kind::of(run.status, run.conclusion.as_ref()).as_str()
}

/// The icon beside the colour, so a state never depends on colour alone.
pub fn icon(run: &Run) -> &'static str {
    Kind::of(run.status, run.conclusion.as_ref()).icon()
}

/// The state in words.
pub fn label(run: &Run) -> &str {
    run_state::label(run.status, run.conclusion.as_ref())
}

/// Seconds as `45s`, `4m 05s` or `2h 03m`; `—` when unknown.
pub fn duration(secs: &Option<i64>) -> String {
    match *secs {
        None => "—".to_owned(),
        Some(s) if s < 60 => format!("{}s", s.max(0)),
        Some(s) if s < 3600 => format!("{}m {:02}s", s / 60, s % 60),
        Some(s) => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// Seconds as [`duration`].
pub fn secs(secs: &i64) -> String {
    duration(&Some(*secs))
}

/// An average in seconds, rounded, as [`duration`].
pub fn avg_duration(secs: &Option<f64>) -> String {
    duration(&secs.map(|s| s.round() as i64))
}

/// A 0..1 fraction as a whole percentage; `—` when unknown.
pub fn percent(rate: &Option<f64>) -> String {
    match *rate {
        Some(r) => format!("{}%", (r * 100.0).round() as i64),
        None => "—".to_owned(),
    }
}

/// Epoch seconds as `Oct 05 16:33` (UTC).
pub fn clock(secs: &i64) -> String {
    chrono::DateTime::from_timestamp(*secs, 0)
        .map(|t| t.format("%b %d %H:%M").to_string())
        .unwrap_or_default()
}

/// A run's hover text: workflow, number, state and duration.
pub fn tip(run: &Run) -> String {
    format!(
        "{} #{} · {} · {}",
        name(&run.workflow),
        run.run_number,
        label(run),
        duration(&run.duration_s)
    )
}

/// [`clock`] of [`event_time`].
pub fn event_clock(run: &Run) -> String {
    clock(&event_time(run))
}

/// [`iso`] of [`event_time`].
pub fn event_iso(run: &Run) -> String {
    iso(&event_time(run))
}

/// [`clock`] of a run's creation.
pub fn created_clock(run: &Run) -> String {
    clock(&run.created_at.unwrap_or_default())
}

/// A span of seconds for people, to the two largest units: `45 s`, `3 min`, `2 h 5 min`,
/// `2 d 3 h`. The page keeps it current (static/times.js does the same sum).
pub fn span(secs: i64) -> String {
    let s = secs.max(0);
    let (d, h, m) = (s / 86_400, (s % 86_400) / 3600, (s % 3600) / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s} s"),
        (0, 0, m) => format!("{m} min"),
        (0, h, 0) => format!("{h} h"),
        (0, h, m) => format!("{h} h {m} min"),
        (d, 0, _) => format!("{d} d"),
        (d, h, _) => format!("{d} d {h} h"),
    }
}

/// [`span`] from `then` to `now`.
pub fn span_since(then: &i64, now: &i64) -> String {
    span(now - then)
}

/// A running run's expected time left, as a TV shows it at first (`static/times.js` keeps it
/// current): "~4 min left", "longer than usual" past its expected end, "running" without one.
pub fn time_left(progress: &Progress, now: &i64) -> String {
    match progress.expected_end() {
        Some(end) if end > *now => format!("~{} left", span(end - now)),
        Some(_) => "longer than usual".to_owned(),
        None => "running".to_owned(),
    }
}

/// [`iso`] of a run's creation.
pub fn created_iso(run: &Run) -> String {
    iso(&run.created_at.unwrap_or_default())
}

/// Epoch seconds as RFC 3339, for `<time datetime>`.
pub fn iso(secs: &i64) -> String {
    chrono::DateTime::from_timestamp(*secs, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// When a run last changed: completion, else start, else creation.
pub fn event_time(run: &Run) -> i64 {
    run.completed_at
        .or(run.started_at)
        .or(run.created_at)
        .unwrap_or_default()
}

/// GitHub's own hosts: pages and their subdomains, and the hosts of avatars and raw content.
const GITHUB_HOSTS: &[&str] = &["github.com"];
const GITHUB_HOST_SUFFIXES: &[&str] = &[".github.com", ".githubusercontent.com"];

/// `url` when a page may link to it (or show it as an image): an `https:` URL on GitHub's hosts
/// or the configured GitHub Enterprise host ([`Opts::ghes_host`]), with nothing a browser would
/// read differently (user info, backslashes, whitespace). Anything else, `javascript:` and
/// `data:` included, is `None` and shown as text, if at all. Every `href` and `src` made from
/// payload data goes through here; the API returns URLs as received.
pub fn safe_link<'a>(url: Option<&'a str>, opts: &Opts) -> Option<&'a str> {
    let url = url?;
    let rest = url
        .get(..8)
        .filter(|scheme| scheme.eq_ignore_ascii_case("https://"))
        .map(|_| &url[8..])?;
    if url
        .bytes()
        .any(|b| b.is_ascii_control() || b == b' ' || b == b'\\' || !b.is_ascii())
    {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let plain = !authority.is_empty()
        && authority
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'));
    if !plain {
        return None;
    }
    let host = authority.to_ascii_lowercase();
    let allowed = GITHUB_HOSTS.contains(&host.as_str())
        || GITHUB_HOST_SUFFIXES
            .iter()
            .any(|suffix| host.ends_with(suffix))
        || opts
            .ghes_host
            .is_some_and(|ghes| ghes.eq_ignore_ascii_case(&host));
    allowed.then_some(url)
}

/// The host to link to besides GitHub's for `--github-api-url` (`https://HOST/api/v3` on GitHub
/// Enterprise Server); `None` for GitHub's own API.
pub fn ghes_host(api_url: &str) -> Option<String> {
    let rest = api_url.strip_prefix("https://")?;
    let host = rest.split(['/', '?', '#']).next()?.to_ascii_lowercase();
    (!host.is_empty() && host != "api.github.com").then_some(host)
}

/// A repository's owner with its slash (`acme/`), shown unless every repository on the page
/// has the same one.
pub fn owner_of(repo: &str) -> &str {
    repo.find('/').map_or("", |i| &repo[..=i])
}

/// A repository's name without its owner.
pub fn repo_name(repo: &str) -> &str {
    repo.find('/').map_or(repo, |i| &repo[i + 1..])
}

/// The repository's web address, from the run's URL (so GitHub Enterprise works too) when that
/// is a [`safe_link`].
pub fn repo_url(run: &Run, opts: &Opts) -> String {
    safe_link(run.url.as_deref(), opts)
        .and_then(|url| url.split_once("/actions/runs/"))
        .map(|(base, _)| base.to_owned())
        .unwrap_or_else(|| format!("https://github.com/{}", run.repo))
}

/// The commit on GitHub.
pub fn commit_url(run: &Run, opts: &Opts) -> String {
    format!("{}/commit/{}", repo_url(run, opts), run.sha)
}

/// The changes between two commits on GitHub.
pub fn compare_url(from: &Run, to: &Run, opts: &Opts) -> String {
    format!("{}/compare/{}...{}", repo_url(to, opts), from.sha, to.sha)
}

/// The key the page finds a commit's row by.
pub fn commit_key(run: &Run) -> String {
    format!("{}@{}", run.repo, run.sha)
}

/// The developer page of `login`.
pub fn developer_url(login: &str) -> String {
    let mut url = String::from("/developer/");
    for byte in login.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.') {
            url.push(char::from(byte));
        } else {
            url.push_str(&format!("%{byte:02X}"));
        }
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run_state::Status;

    fn a_run(conclusion: Option<Conclusion>, status: Status) -> Run {
        Run {
            id: 7,
            repo: "o/r".into(),
            branch: Some("main".into()),
            workflow: "CI".into(),
            workflow_id: 1,
            status,
            conclusion,
            sha: "0123456789abcdef".into(),
            message: Some("<img src=x onerror=alert(1)>".into()),
            author: Some("mona".into()),
            author_avatar: None,
            url: Some("https://github.com/o/r/actions/runs/7".into()),
            event: "push".into(),
            run_number: 3,
            run_attempt: 1,
            created_at: Some(1_700_000_000),
            started_at: None,
            completed_at: None,
            duration_s: Some(125),
            queue_s: None,
            source: "actions".into(),
            provider: None,
        }
    }

    #[test]
    fn figures_are_formatted_for_reading_at_a_distance() {
        assert_eq!(percent(&Some(0.6667)), "67%");
        assert_eq!(percent(&None), "—");
        assert_eq!(duration(&Some(45)), "45s");
        assert_eq!(duration(&Some(125)), "2m 05s");
        assert_eq!(duration(&Some(7380)), "2h 03m");
        assert_eq!(avg_duration(&Some(159.6)), "2m 40s");
        assert_eq!(clock(&1_601_915_604), "Oct 05 16:33");
        assert_eq!(span(45), "45 s");
        assert_eq!(span(180), "3 min");
        assert_eq!(span(2 * 3600 + 300), "2 h 5 min");
        assert_eq!(span(2 * 86_400 + 3 * 3600 + 59), "2 d 3 h");
        assert_eq!(span(86_400 + 60), "1 d");
        assert_eq!(red_conclusions(), "failure,timed_out,startup_failure");
    }

    #[test]
    fn sign_in_pages_escape_the_operators_name() {
        let page = sign_in(SignIn::SignedIn("<b>eve</b>")).unwrap();
        assert!(
            page.contains("Signed in as &#60;b&#62;eve&#60;/b&#62;") || page.contains("&lt;b&gt;")
        );
        assert!(!page.contains("<b>"), "{page}");
        assert!(page.contains("<title>buildboard: operators</title>"));
        let private = sign_in(SignIn::PrivateBoard).unwrap();
        assert!(private.contains("<title>buildboard: sign in</title>"));
        assert!(private.contains("/?token=&lt;board token&gt;"));
        let wrong = sign_in(SignIn::WrongToken).unwrap();
        assert!(
            wrong.contains(r#"<form method="post" action="/operator">"#),
            "{wrong}"
        );
    }

    #[test]
    fn every_state_has_a_kind_an_icon_and_words() {
        let cases = [
            (Some(Conclusion::Success), Status::Completed, "success"),
            (Some(Conclusion::TimedOut), Status::Completed, "failure"),
            (Some(Conclusion::Cancelled), Status::Completed, "cancelled"),
            (Some(Conclusion::Skipped), Status::Completed, "skipped"),
            (None, Status::InProgress, "running"),
            (None, Status::Queued, "queued"),
        ];
        let mut icons = std::collections::HashSet::new();
        let states = cases.len();
        for (conclusion, status, expected) in cases {
            let b = a_run(conclusion, status);
            assert_eq!(kind(&b), expected);
            icons.insert(icon(&b));
        }
        assert_eq!(icons.len(), states, "each state has its own icon");
    }

    #[test]
    fn fragments_escape_payload_text_and_can_leave_out_authors() {
        let b = a_run(Some(Conclusion::Failure), Status::Completed);
        let shown = run_fragments(&b, Opts::default()).unwrap();
        assert!(
            shown.row.contains("&#60;img src=x onerror=alert(1)&#62;")
                || shown.row.contains("&lt;img")
        );
        assert!(!shown.row.contains("<img"));
        assert!(shown.row.contains("mona"));
        assert!(shown.cell.contains("data-run-id=\"7\""));
        assert!(
            shown.cell.contains("2m 05s"),
            "the duration is in the hover text"
        );
        let hidden = run_fragments(
            &b,
            Opts {
                privacy: Privacy { hide_authors: true },
                ..Opts::default()
            },
        )
        .unwrap();
        assert!(!hidden.row.contains("mona"));
        assert!(!hidden.stream.contains("mona"));
    }

    #[test]
    fn headers_strip_the_prefix_workflows_share_and_keep_what_tells_them_apart() {
        assert_eq!(
            distinct_parts(&["Build and test / linux", "Build and test / macos"]),
            ["linux", "macos"]
        );
        assert_eq!(
            distinct_parts(&["Build and test / linux", "Lint"]),
            ["Build and test / linux", "Lint"]
        );
        assert_eq!(
            distinct_parts(&["Build and test / linux", "Build and test / macos", "Lint"]),
            ["linux", "macos", "Lint"]
        );
        assert_eq!(distinct_parts(&["CI", "CI nightly"]), ["CI", "CI nightly"]);
        assert_eq!(
            distinct_parts(&["deploy-staging", "deploy-prod"]),
            ["staging", "prod"]
        );
        assert_eq!(distinct_parts(&["Build"]), ["Build"]);
    }

    fn commit(repo: &str, workflows: &[(i64, &str)], time: i64) -> CommitRuns {
        CommitRuns {
            first_created: time,
            runs: workflows
                .iter()
                .map(|(id, name)| Run {
                    repo: repo.into(),
                    workflow_id: *id,
                    workflow: (*name).into(),
                    sha: format!("{repo}{time}"),
                    ..a_run(Some(Conclusion::Success), Status::Completed)
                })
                .collect(),
        }
    }

    #[test]
    fn each_repository_is_a_block_of_its_own_columns_and_newest_rows() {
        let hud = Hud {
            metrics: Metrics::default(),
            chart: Chart::default(),
            branches: "all branches".into(),
        };
        let commits = vec![
            commit("o/b", &[(3, "Lint"), (4, "Test")], 50),
            commit("o/a", &[(1, "CI / x"), (2, "CI / y")], 40),
            commit("o/b", &[(5, "Deploy")], 30),
            commit("o/b", &[(3, "Lint")], 20),
            commit("o/c", &[(6, "CI")], 10),
        ];
        let kind = |run: &Run| {
            if run.sha.ends_with("50") {
                BranchKind::Default
            } else {
                BranchKind::Feature
            }
        };
        let recent = Waterfall::of(
            commits.clone(),
            hud.clone(),
            Vec::new(),
            (Order::ByNamePaired, 2),
            kind,
        );
        let shape: Vec<(&str, usize, usize)> = recent
            .blocks
            .iter()
            .map(|b| (b.repo.as_str(), b.lanes.len(), b.rows.len()))
            .collect();
        assert_eq!(shape, [("o/a", 2, 1), ("o/b", 3, 2), ("o/c", 1, 1)]);
        assert!(recent.blocks.iter().all(|b| !b.wide()));
        assert_eq!(
            recent.blocks[0].lanes[0].label, "x",
            "the shared prefix goes"
        );
        assert_eq!(recent.blocks[1].rows[0].branch_kind, BranchKind::Default);
        assert_eq!(recent.blocks[1].rows[1].branch_kind, BranchKind::Feature);
        assert!(
            recent.blocks[1].rows.iter().all(|r| r.cells.len() == 3),
            "a row has a cell per column of its own repository"
        );
        assert!(recent.many_repos && recent.one_owner);
        let by_name = Waterfall::of(commits, hud, Vec::new(), (Order::ByName, 40), kind);
        let names: Vec<&str> = by_name.blocks.iter().map(|b| b.repo.as_str()).collect();
        assert_eq!(names, ["o/a", "o/b", "o/c"]);
        assert_eq!(by_name.blocks[1].rows.len(), 3);
    }

    #[test]
    fn narrow_blocks_pair_up_and_wide_ones_go_ahead_of_a_lone_narrow_one() {
        let block = |repo: &str, lanes: usize| Block {
            repo: repo.into(),
            link: String::new(),
            lanes: (0..lanes)
                .map(|i| Lane {
                    workflow_id: i as i64,
                    workflow: format!("w{i}"),
                    repo: repo.into(),
                    label: format!("w{i}"),
                })
                .collect(),
            rows: Vec::new(),
        };
        let order = pair_narrow(vec![
            block("a", 2),
            block("b", 5),
            block("c", 6),
            block("d", 1),
            block("e", 3),
            block("f", 4),
        ]);
        let names: Vec<&str> = order.iter().map(|b| b.repo.as_str()).collect();
        assert_eq!(names, ["b", "c", "a", "d", "f", "e"]);
    }

    #[test]
    fn branch_names_break_after_each_slash() {
        assert_eq!(
            break_parts("dependabot/npm_and_yarn/react-3"),
            ["dependabot/", "npm_and_yarn/", "react-3"]
        );
        assert_eq!(break_parts("main"), ["main"]);
        assert_eq!(break_parts("a/"), ["a/"]);
    }

    #[test]
    fn links_to_github_are_derived_from_the_run_url() {
        let b = a_run(None, Status::Queued);
        assert_eq!(
            commit_url(&b, &Opts::default()),
            "https://github.com/o/r/commit/0123456789abcdef"
        );
        assert_eq!(developer_url("a b/c"), "/developer/a%20b%2Fc");
    }

    #[test]
    fn only_https_urls_on_github_hosts_become_links() {
        let github = Opts::default();
        let link = |url: &str| safe_link(Some(url), &github).is_some();
        let links = [
            "https://github.com/o/r/actions/runs/7",
            "HTTPS://GitHub.com/o/r",
            "https://avatars.githubusercontent.com/u/1?v=4",
            "https://gist.github.com/x",
        ];
        for url in links {
            assert!(link(url), "{url}");
        }
        let refused = [
            "javascript:alert(1)//github.com",
            "data:text/html,<script>alert(1)</script>",
            "http://github.com/o/r",
            "https://github.com.evil.example/o/r",
            "https://evil.example\\.github.com/",
            "https://evil.example@github.com/",
            "https://github.com@evil.example/",
            "https://ghe.example.com/o/r",
            "java\tscript:alert(1)",
        ];
        for url in refused {
            assert!(!link(url), "{url}");
        }
        let ghes = Opts {
            ghes_host: Some("ghe.example.com"),
            ..Opts::default()
        };
        assert!(safe_link(Some("https://ghe.example.com/o/r/actions/runs/1"), &ghes).is_some());
        assert_eq!(
            ghes_host("https://ghe.example.com/api/v3").as_deref(),
            Some("ghe.example.com")
        );
        assert_eq!(ghes_host("https://api.github.com"), None);
    }

    #[test]
    fn a_javascript_run_url_becomes_no_link_and_no_commit_link() {
        let mut b = a_run(Some(Conclusion::Failure), Status::Completed);
        b.url = Some("javascript:alert(1)//x/actions/runs/7".into());
        let fragments = run_fragments(&b, Opts::default()).unwrap();
        assert!(
            !fragments.cell.contains("javascript:"),
            "{}",
            fragments.cell
        );
        assert!(!fragments.row.contains("javascript:"), "{}", fragments.row);
        assert!(fragments
            .row
            .contains("https://github.com/o/r/commit/0123456789abcdef"));
    }
}
