//! Each view of the board: what it reads and which template renders it. Every view starts the
//! same way ([`view`]): its query, its chrome, then one render for a page or a shared one for a
//! live part.

use std::future::Future;

use warp::Reply;

use super::query::{BoardQuery, Part};
use super::{rendered, respond};
use crate::scope::Viewer;
use crate::store::figures::{self, Metrics};
use crate::store::names::UnknownName;
use crate::store::query::{self, RunFilter};
use crate::store::{board, triage, wall};
use crate::views::{self, Chrome};
use crate::web::params::MAX_FILTER_CHARS;
use crate::web::{now, AppState, Error};

/// Runs behind the duration chart.
const CHART_RUNS: u32 = 40;
/// Red workflows listed at most.
const MAX_DEVELOPER_INCIDENTS: usize = 100;
/// People listed at most on `/developer`.
const MAX_PEOPLE: u32 = 200;
/// A person's latest runs listed.
const DEVELOPER_RUNS: u32 = 30;
/// Newest commits the Waterfall reads before keeping each repository's newest rows: about ten a
/// repository in an organisation of 25, so a quiet repository still has its block.
const WATERFALL_COMMITS: u32 = 250;
/// Rows of each repository's block on a desktop page at least (a few repositories share the
/// page's rows; one alone gets them all, and each block's header links there).
const DESKTOP_BLOCK_ROWS: usize = 5;
/// Rows of each repository's block on a TV: blocks small enough that a screen holds several and
/// its pages turn through every repository.
const TV_BLOCK_ROWS: usize = 3;

type Response = Result<warp::reply::Response, Error>;

/// The common start of every view, by its name (in the navigation and `views=`), path and
/// title: its query (refusing a filter by person on a board that hides people), its chrome (with
/// the filter form's names on a desktop page), then [`respond`] with what `render` makes of the
/// three.
async fn view<F, Fut>(
    viewer: Viewer,
    pairs: &[(String, String)],
    state: AppState,
    (name, path, title): (&'static str, &str, String),
    render: F,
) -> Response
where
    F: FnOnce(BoardQuery, Chrome, AppState) -> Fut,
    Fut: Future<Output = Result<String, Error>>,
{
    let query = BoardQuery::parse_for(pairs, viewer)?;
    let chrome = query
        .page_chrome(query.chrome(name, path, title, &state), &state)
        .await?;
    let (q, s) = (query.clone(), state.clone());
    respond(&state, &query, path, move || render(q, chrome, s)).await
}

/// What the Wall and Triage say above their items: how much of an asked branch's history is
/// read, the filter's names that match nothing, and which branches count as watched.
fn note_scope(
    chrome: &mut Chrome,
    q: &BoardQuery,
    s: &AppState,
    path: &str,
    (defaults, coverage, unknown): (&[String], Option<wall::Coverage>, &[UnknownName]),
) {
    chrome.partial = coverage.and_then(|c| c.describe());
    chrome.unknown = q.notices(path, unknown);
    chrome.watched = wall::watched_label(defaults, &s.settings.watched());
}

pub(super) async fn show_wall(
    viewer: Viewer,
    pairs: Vec<(String, String)>,
    state: AppState,
) -> Response {
    view(
        viewer,
        &pairs,
        state,
        ("wall", "/wall", "Wall".into()),
        |q, mut chrome, s| async move {
            let filter = q.filter();
            let asked = filter.clone();
            let scope = s.triage_scope(q.all_branches, &filter);
            let watched = s.settings.watched();
            let readable = q.viewer.clone();
            let (mut wall, queues, defaults, coverage) = s
                .store
                .read(move |conn| {
                    let request = wall::Request {
                        filter: &filter,
                        watched: &watched,
                        scope,
                    };
                    let states = wall::pairs(conn, &request)?;
                    let incidents = triage::triage(
                        conn,
                        &triage::Request {
                            filter: &filter,
                            watched: &watched,
                            scope,
                            order: triage::Order::NewestFirst,
                        },
                    )?;
                    let wall = wall::assemble(states, &incidents, wall::per_workflow(&filter));
                    let queues = crate::web::runs::visible_queues(conn, &readable, now())?;
                    let defaults = wall::default_branches(conn)?;
                    let coverage = wall::branch_coverage(conn, &filter)?;
                    Ok((wall, queues, defaults, coverage))
                })
                .await?;
            let unknown = s.unknown_names(&asked).await?;
            note_scope(
                &mut chrome,
                &q,
                &s,
                "/wall",
                (&defaults, coverage, &unknown),
            );
            q.viewer.redact_wall(&mut wall);
            let mut model = views::WallView::of(wall, scope != triage::Scope::Watched);
            model.queues = views::alerting(queues, s.config.queue_alert_s());
            model.unknown = !chrome.unknown.is_empty();
            match q.part {
                Part::State => {
                    model.backfilling = super::query::backfilling(&s, &q.viewer).await?;
                    Ok(model.state_json())
                }
                Part::Page => rendered(views::wall(&chrome, &model, s.opts())),
                _ => rendered(views::wall_live(&chrome, &model, s.opts())),
            }
        },
    )
    .await
}

pub(super) async fn show_waterfall(
    viewer: Viewer,
    pairs: Vec<(String, String)>,
    state: AppState,
) -> Response {
    view(
        viewer,
        &pairs,
        state,
        ("waterfall", "/waterfall", "Waterfall".into()),
        |q, mut chrome, s| async move {
            let part = q.part;
            // One snapshot of the watched branches for the whole request: the filter and the marks.
            let watched = s.settings.watched();
            let read = read_waterfall(&q, &chrome, &s, &watched).await?;
            if part == Part::Hud {
                return rendered(views::hud(&chrome, &read.hud));
            }
            let unknown = s.unknown_names(&q.filter()).await?;
            chrome.unknown = q.notices("/waterfall", &unknown);
            let WaterfallRead {
                commits,
                hud,
                mut stream,
                defaults,
                ..
            } = read;
            q.viewer.redact_runs(&mut stream);
            let kind_of = |run: &crate::store::model::Run| {
                let branch = run.branch.as_deref().unwrap_or_default();
                watched.kind(branch, defaults.get(&run.repo).map(String::as_str))
            };
            // A desktop shares the page's rows among the repositories (one asked for gets them
            // all), each keeping a few at least.
            let repos: std::collections::HashSet<&str> =
                commits.iter().map(|c| c.runs[0].repo.as_str()).collect();
            let (order, rows) = if q.tv {
                (views::Order::ByNamePaired, TV_BLOCK_ROWS)
            } else {
                let share = chrome.max_rows / repos.len().max(1);
                (views::Order::ByName, share.max(DESKTOP_BLOCK_ROWS))
            };
            let mut model = views::Waterfall::of(commits, hud, stream, (order, rows), kind_of);
            for block in &mut model.blocks {
                let alone = BoardQuery {
                    repo: vec![block.repo.clone()],
                    ..q.clone()
                };
                block.link = alone.url("/waterfall", q.window, Part::Page);
            }
            rendered(match part {
                Part::Live => views::waterfall_live(&chrome, &model, s.opts()),
                _ => views::waterfall(&chrome, &model, s.opts()),
            })
        },
    )
    .await
}

/// What the Waterfall reads: its commits, the HUD, the live stream's first entries, and each
/// repository's default branch (to mark rows).
struct WaterfallRead {
    commits: Vec<board::CommitRuns>,
    hud: views::Hud,
    stream: Vec<crate::store::model::Run>,
    defaults: std::collections::HashMap<String, String>,
}

/// Reads the Waterfall as `q` asks: on a TV only the watched branches unless a branch or
/// `branches=all` is asked for (the HUD says which); only the HUD for `part=hud`.
async fn read_waterfall(
    q: &BoardQuery,
    chrome: &Chrome,
    s: &AppState,
    watched_now: &crate::watch::WatchedBranches,
) -> Result<WaterfallRead, Error> {
    let now = now();
    let watched_only = q.tv && q.branch.is_empty() && !q.all_branches;
    let watched = watched_only.then(|| watched_now.clone());
    let filter = RunFilter {
        watched: watched.clone(),
        ..q.filter()
    };
    let windowed = RunFilter {
        watched,
        ..q.windowed(now)
    };
    let commits = if q.repo.len() == 1 {
        chrome.max_rows as u32
    } else {
        WATERFALL_COMMITS
    };
    // The stream is a desktop's: a TV shows the grid alone.
    let stream = if q.tv { 0 } else { chrome.max_stream as u32 };
    let part = q.part;
    let (commits, metrics, recent, stream, defaults, named) = s
        .store
        .read(move |conn| {
            let metrics = figures::compute(conn, &windowed, now)?;
            let recent = board::recent_completed(conn, &windowed, CHART_RUNS)?;
            let named = if watched_only {
                wall::default_branches(conn)?
            } else {
                Vec::new()
            };
            if part == Part::Hud {
                return Ok((
                    Vec::new(),
                    metrics,
                    recent,
                    Vec::new(),
                    Default::default(),
                    named,
                ));
            }
            Ok((
                board::waterfall(conn, &filter, commits)?,
                metrics,
                recent,
                query::runs(conn, &filter, None, stream)?,
                board::default_branches(conn)?,
                named,
            ))
        })
        .await?;
    let branches = if !q.branch.is_empty() {
        format!("⎇ {}", views::name(&q.branch.join(",")))
    } else if watched_only {
        wall::watched_label(&named, watched_now)
    } else {
        "all branches".to_owned()
    };
    Ok(WaterfallRead {
        commits,
        hud: views::Hud {
            metrics,
            chart: views::Chart::of(&recent),
            branches,
        },
        stream,
        defaults,
    })
}

pub(super) async fn show_triage(
    viewer: Viewer,
    pairs: Vec<(String, String)>,
    state: AppState,
) -> Response {
    view(
        viewer,
        &pairs,
        state,
        ("triage", "/triage", "Triage".into()),
        |q, mut chrome, s| async move {
            let filter = q.filter();
            let asked = filter.clone();
            let covered = asked.clone();
            let unknown = s.unknown_names(&asked);
            let context = async {
                Ok::<_, Error>(
                    s.store
                        .read(move |conn| {
                            Ok((
                                wall::default_branches(conn)?,
                                wall::branch_coverage(conn, &covered)?,
                            ))
                        })
                        .await?,
                )
            };
            let incidents = s.triage(&q.viewer, filter, q.all_branches, q.order);
            let (unknown, (defaults, coverage), (incidents, scope)) =
                tokio::try_join!(unknown, context, incidents)?;
            note_scope(
                &mut chrome,
                &q,
                &s,
                "/triage",
                (&defaults, coverage, &unknown),
            );
            let model = views::Triage::of(incidents, scope != triage::Scope::Watched);
            rendered(match q.part {
                Part::Page => views::triage(&chrome, &model, s.opts()),
                _ => views::triage_live(&chrome, &model, s.opts()),
            })
        },
    )
    .await
}

pub(super) async fn show_people(
    viewer: Viewer,
    pairs: Vec<(String, String)>,
    state: AppState,
) -> Response {
    let query = BoardQuery::parse_for(&pairs, viewer)?;
    let chrome = query.chrome("people", "/developer", "Developers".into(), &state);
    let opts = state.opts();
    let people = if query.viewer.hide_authors() {
        Vec::new()
    } else {
        let filter = query.windowed(now());
        state
            .store
            .read(move |conn| board::people(conn, &filter, MAX_PEOPLE))
            .await?
    };
    let html = rendered(if query.part == Part::Page {
        views::people(&chrome, &people, opts)
    } else {
        views::people_live(&chrome, &people, opts)
    })?;
    Ok(warp::reply::html(html).into_response())
}

/// The run page: the run's attempts, jobs, steps and failure (see `views::run`), read as
/// `GET /api/runs/<id>` reads it.
pub(super) async fn show_run(
    id: i64,
    viewer: Viewer,
    pairs: Vec<(String, String)>,
    state: AppState,
) -> Response {
    let path = format!("/runs/{id}");
    view(
        viewer,
        &pairs,
        state,
        ("run", &path, format!("Run {id}")),
        move |q, mut chrome, s| async move {
            let detail = crate::web::runs::read_run(&s, &q.viewer, id).await?;
            chrome.title = format!(
                "{} #{} · {}",
                views::name(&detail.run.workflow),
                detail.run.run_number,
                views::name(&detail.run.repo)
            );
            let mut model = views::RunView::of(detail, now());
            model.ask_model = s.analysis.is_on() && !chrome.tv;
            match q.part {
                Part::Page => rendered(views::run_page(&chrome, &model, s.opts())),
                _ => rendered(views::run_live(&model, s.opts())),
            }
        },
    )
    .await
}

/// A job's log (see `views::log`): a page, or with `part=live` the log alone, which the run page
/// fetches into the job. `ts=1` shows timestamps. Not a shared render (see [`respond`]): a log
/// is large and read by few, and the page is not refreshed (no live URL), so that a folded or
/// searched log stays as its reader left it.
pub(super) async fn show_job_log(
    id: i64,
    viewer: Viewer,
    pairs: Vec<(String, String)>,
    state: AppState,
) -> Response {
    let show_ts = pairs.iter().any(|(k, v)| k == "ts" && v == "1");
    let query = BoardQuery::parse_for(&pairs, viewer)?;
    let log = crate::web::runs::read_log(&state, &query.viewer, id).await?;
    let model = views::LogView::of(&log, show_ts);
    let html = if query.part == Part::Page {
        let path = format!("/jobs/{id}/log");
        let title = format!("Log · {}", views::cut(&log.job.name, 60));
        let mut chrome = query
            .page_chrome(query.chrome("run", &path, title, &state), &state)
            .await?;
        chrome.live_url.clear();
        chrome.hud_url.clear();
        rendered(views::log_page(&chrome, &model, state.opts()))?
    } else {
        rendered(views::log_part(&model))?
    };
    Ok(warp::reply::with_header(
        warp::reply::html(html),
        warp::http::header::CACHE_CONTROL,
        "private, no-store",
    )
    .into_response())
}

/// The Runners view: per label set, the jobs waiting and running, the longest wait.
pub(super) async fn show_runners(
    viewer: Viewer,
    pairs: Vec<(String, String)>,
    state: AppState,
) -> Response {
    view(
        viewer,
        &pairs,
        state,
        ("runners", "/runners", "Runners".into()),
        |q, chrome, s| async move {
            let model = views::RunnersView {
                queues: crate::web::runs::read_queues(&s, &q.viewer).await?,
                alert_s: s.config.queue_alert_s(),
            };
            match q.part {
                Part::Page => rendered(views::runners_page(&chrome, &model, s.opts())),
                _ => rendered(views::runners_live(&model)),
            }
        },
    )
    .await
}

pub(super) async fn show_developer(
    login: String,
    viewer: Viewer,
    pairs: Vec<(String, String)>,
    state: AppState,
) -> Response {
    if viewer.hide_authors() {
        return Err(Error::NotFound("names are hidden on this board".into()));
    }
    let login = percent_decode(&login)
        .filter(|login| !login.is_empty() && login.chars().count() <= MAX_FILTER_CHARS)
        .ok_or_else(|| Error::bad_request("invalid_parameter", "not a login"))?;
    let path = views::developer_url(&login);
    let title = format!("{} · Developer", views::name(&login));
    view(
        viewer,
        &pairs,
        state,
        ("developer", &path, title),
        |q, mut chrome, s| async move {
            chrome.author = login.clone();
            let now = now();
            let own_filter = RunFilter {
                author: vec![login.clone()],
                ..q.filter()
            };
            let windowed = RunFilter {
                author: vec![login.clone()],
                ..q.windowed(now)
            };
            // Two reads on two pooled connections at once: the whole board's triage (the slowest
            // part), every branch, for what this person caused or pushed into, beside the person's
            // own figures and runs.
            let incidents = s.triage(
                &q.viewer,
                own_filter.clone(),
                true,
                triage::Order::NewestFirst,
            );
            let own = async {
                Ok::<_, Error>(
                    s.store
                        .read(move |conn| {
                            Ok((
                                figures::compute(conn, &windowed, now)?,
                                board::active(conn, &own_filter, 20)?,
                                query::runs(conn, &own_filter, None, DEVELOPER_RUNS)?,
                            ))
                        })
                        .await?,
                )
            };
            let ((mut incidents, _), (metrics, active, recent)): (_, (Metrics, _, _)) =
                tokio::try_join!(incidents, own)?;
            incidents.truncate(MAX_DEVELOPER_INCIDENTS);
            let model = views::Developer {
                login,
                metrics,
                active,
                incidents,
                recent,
            };
            rendered(match q.part {
                Part::Page => views::developer(&chrome, &model, s.opts()),
                _ => views::developer_live(&chrome, &model, s.opts()),
            })
        },
    )
    .await
}

/// Decodes `%XX` escapes in a path segment; `None` for a malformed escape or invalid UTF-8.
fn percent_decode(segment: &str) -> Option<String> {
    // `percent-encoding` leaves a malformed escape as it is: refuse one first.
    let well_formed = segment.split('%').skip(1).all(|rest| {
        rest.as_bytes()
            .get(..2)
            .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    });
    well_formed
        .then(|| {
            percent_encoding::percent_decode_str(segment)
                .decode_utf8()
                .ok()
        })
        .flatten()
        .map(std::borrow::Cow::into_owned)
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn logins_decode_from_the_path() {
        assert_eq!(
            percent_decode("dependabot%5Bbot%5D").as_deref(),
            Some("dependabot[bot]")
        );
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%+f"), None, "a sign is not a hex digit");
        assert_eq!(percent_decode("a%2"), None);
    }
}
