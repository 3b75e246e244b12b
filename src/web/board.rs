//! The board: the Wall (`/wall`), Waterfall (`/`), Triage (`/triage`) and Developer
//! (`/developer`, `/developer/<login>`) views, their static assets (embedded in the binary, so it
//! runs from anywhere), and the HTML error page every other board address gets.
//!
//! Every view takes the same query parameters, so a view can be bookmarked and shared:
//! - `repo`, `branch`, `workflow`, `author`: filters, each taking several values (repeated or
//!   comma-separated); branches also take globs (`release/*`), workflow names any case. A name
//!   that matches nothing known is said so on the page, with the closest known name;
//! - `window`: `24h` (default), `7d` or `30d`, the span the figures cover;
//! - `tv=1`: TV mode; `rotate=N` seconds per view (default 30, `0` stays put); `views=` the
//!   rotation (default `wall,waterfall,triage`; `developer` too); `page=N` seconds per page of a
//!   long list (default 8); `sound=1` a short sound on a new break and on a fix;
//! - `part=live` / `part=hud`: only the live part of the page, which the page fetches to refresh
//!   itself; `part=state` (on `/wall`): the Wall's counts and red tiles as JSON, which every page
//!   reads for its title, its icon and to notice a new break. Parts are rendered once per published change and shared by every viewer of the same
//!   URL (see [`Cache`]), so a hundred screens on one view cost one render per change.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;
use warp::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use warp::{Filter, Rejection, Reply};

use super::params::{split_list, MAX_LIST_VALUES};
use super::{with_state, AppState, Error};
use crate::store::figures::{self, Metrics};
use crate::store::names::{self, KnownNames, NameKind, UnknownName};
use crate::store::query::{self, is_glob, RunFilter};
use crate::store::{board, triage, wall};
use crate::views::{self, Chrome, Link, Notice};

/// Runs behind the duration chart.
const CHART_RUNS: u32 = 40;
/// Red workflows listed at most.
const MAX_DEVELOPER_INCIDENTS: usize = 100;
/// People listed at most on `/developer`.
const MAX_PEOPLE: u32 = 200;
/// A person's latest runs listed.
const DEVELOPER_RUNS: u32 = 30;
/// Workflow columns a TV page of the waterfall shows: what fits beside the commit column at
/// 1920 pixels wide in TV type.
const TV_LANES_PER_PAGE: usize = 6;
/// TV pages of the waterfall at most; the least recently active repositories beyond them are
/// counted, not drawn.
const TV_PAGES: usize = 8;
/// Longest filter value accepted, in characters.
const MAX_FILTER_CHARS: usize = 200;
/// Cached parts kept before old ones are dropped.
const CACHE_ENTRIES: usize = 256;

/// `GET /`, `/triage`, `/developer`, `/developer/<login>`, `/static/...`.
pub fn routes(state: AppState) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let query = warp::query::<Vec<(String, String)>>();
    // After the path filters: only requests for these pages spend the read budget, and then show
    // the board token when there is one.
    let gate = state
        .limits
        .reads
        .filter()
        .and(super::access::reader(state.access.clone()));
    let waterfall = warp::path::end()
        .and(warp::get())
        .and(gate.clone())
        .and(query)
        .and(with_state(state.clone()))
        .then(show_waterfall)
        .map(as_page);
    let triage = warp::path!("triage")
        .and(warp::get())
        .and(gate.clone())
        .and(query)
        .and(with_state(state.clone()))
        .then(show_triage)
        .map(as_page);
    let people = warp::path!("developer")
        .and(warp::get())
        .and(gate.clone())
        .and(query)
        .and(with_state(state.clone()))
        .then(show_people)
        .map(as_page);
    let developer = warp::path!("developer" / String)
        .and(warp::get())
        .and(gate.clone())
        .and(query)
        .and(with_state(state.clone()))
        .then(show_developer)
        .map(as_page);
    let wall = warp::path!("wall")
        .and(warp::get())
        .and(gate.clone())
        .and(query)
        .and(with_state(state))
        .then(show_wall)
        .map(as_page);
    let assets = warp::path!("static" / String)
        .and(warp::get())
        .and_then(serve_asset);
    // Last: any other address a person might type gets the HTML error page, not JSON.
    let unknown = warp::get()
        .and(warp::path::full())
        .and_then(|path: warp::path::FullPath| async move {
            if is_known_path(path.as_str()) {
                Err(warp::reject::not_found())
            } else {
                Ok(path)
            }
        })
        .and(gate)
        .map(unknown_page);
    waterfall
        .or(triage)
        .or(people)
        .or(developer)
        .or(wall)
        .or(assets)
        .or(unknown)
}

/// Rendered parts shared by every viewer: one render per URL per published change.
///
/// An entry is keyed by the URL and the hub's generation when it was rendered; once a change is
/// published the generation moves and the next request renders afresh. Concurrent requests for a
/// missing entry wait for the same render.
#[derive(Clone, Default)]
pub struct Cache {
    entries: Arc<Mutex<HashMap<CacheKey, Slot>>>,
    /// The names the filter form offers, and when they were read: kept for [`NAMES_TTL`], as
    /// they change with the organisation, not with every run.
    names: Arc<Mutex<Option<ReadNames>>>,
}

/// The filter form's names and when they were read.
type ReadNames = (Instant, Arc<KnownNames>);

/// How long the filter form's names are reused before they are read again.
const NAMES_TTL: Duration = Duration::from_secs(60);

/// A part's URL and the generation it was rendered at.
type CacheKey = (String, u64);
/// A rendered part, or the render in progress that concurrent requests wait for.
type Slot = Arc<OnceCell<Arc<str>>>;

impl Cache {
    /// The filter form's names, read at most once per [`NAMES_TTL`].
    async fn known_names(&self, state: &AppState) -> Result<Arc<KnownNames>, Error> {
        let fresh = |names: &Option<ReadNames>| {
            names
                .as_ref()
                .filter(|(at, _)| at.elapsed() < NAMES_TTL)
                .map(|(_, names)| names.clone())
        };
        if let Some(names) = fresh(&self.names.lock().expect("the cache lock is never poisoned")) {
            return Ok(names);
        }
        let watched = state.config.watch_branches.clone();
        let names = Arc::new(
            state
                .store
                .read(move |conn| names::known(conn, &watched))
                .await?,
        );
        *self.names.lock().expect("the cache lock is never poisoned") =
            Some((Instant::now(), names.clone()));
        Ok(names)
    }

    /// The part for `key` at `generation`, rendering it with `render` if nobody has yet.
    async fn get_or_render<F, Fut>(
        &self,
        key: String,
        generation: u64,
        render: F,
    ) -> Result<Arc<str>, Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<String, Error>>,
    {
        let cell = {
            let mut entries = self
                .entries
                .lock()
                .expect("the cache lock is never poisoned");
            if entries.len() >= CACHE_ENTRIES {
                entries.retain(|(_, g), _| *g >= generation);
                if entries.len() >= CACHE_ENTRIES {
                    entries.clear();
                }
            }
            entries.entry((key, generation)).or_default().clone()
        };
        cell.get_or_try_init(|| async { render().await.map(Arc::from) })
            .await
            .cloned()
    }
}

/// The span the figures cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Window {
    Day,
    Week,
    Month,
}

impl Window {
    const ALL: [Window; 3] = [Window::Day, Window::Week, Window::Month];

    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "24h" | "1d" => Self::Day,
            "7d" => Self::Week,
            "30d" => Self::Month,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Self::Day => "24h",
            Self::Week => "7d",
            Self::Month => "30d",
        }
    }

    fn seconds(self) -> i64 {
        match self {
            Self::Day => 24 * 3600,
            Self::Week => 7 * 24 * 3600,
            Self::Month => 30 * 24 * 3600,
        }
    }
}

/// Which part of a page is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Page,
    Live,
    Hud,
    /// The Wall's counts and red tiles, as JSON.
    State,
}

/// The views TV mode can rotate through.
const ROTATABLE: &[(&str, &str)] = &[
    ("wall", "/wall"),
    ("waterfall", "/"),
    ("triage", "/triage"),
    ("developer", "/developer"),
];

/// The rotation when `views=` is not given.
const DEFAULT_VIEWS: &[&str] = &["wall", "waterfall", "triage"];

/// The board's query parameters, validated.
#[derive(Debug, Clone)]
struct BoardQuery {
    repo: Vec<String>,
    branch: Vec<String>,
    workflow: Vec<String>,
    author: Vec<String>,
    window: Window,
    tv: bool,
    rotate_s: u32,
    views: Vec<&'static str>,
    page_s: u32,
    part: Part,
    /// `branches=all`: triage looks at every branch, not only the watched ones.
    all_branches: bool,
    /// `sort=oldest`: triage lists the longest red first.
    oldest_first: bool,
    /// `sound=1`: a short sound on a new break and on a fix.
    sound: bool,
}

impl BoardQuery {
    /// [`BoardQuery::parse`], refusing a filter by person on a board that hides people.
    fn parse_for(pairs: &[(String, String)], state: &AppState) -> Result<Self, Error> {
        let query = Self::parse(pairs)?;
        state
            .opts
            .privacy
            .check_filter(&query.filter())
            .map_err(|reason| Error::bad_request("invalid_parameter", reason))?;
        Ok(query)
    }

    fn parse(pairs: &[(String, String)]) -> Result<Self, Error> {
        let get = |name: &str| {
            pairs
                .iter()
                .rev()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.trim())
        };
        // Every value of a filter, repeated or comma-separated.
        let list = |name: &'static str| -> Result<Vec<String>, Error> {
            let values = split_list(
                pairs
                    .iter()
                    .filter(|(key, _)| key == name)
                    .map(|(_, value)| value.as_str()),
            );
            if values.len() > MAX_LIST_VALUES {
                return Err(Error::bad_request(
                    "invalid_parameter",
                    format!("{name} takes at most {MAX_LIST_VALUES} values"),
                ));
            }
            if values.iter().any(|v| v.chars().count() > MAX_FILTER_CHARS) {
                return Err(Error::bad_request(
                    "invalid_parameter",
                    format!("{name} is too long"),
                ));
            }
            Ok(values)
        };
        let branch = list("branch")?;
        if let Some(bad) = branch
            .iter()
            .find(|b| is_glob(b) && glob::Pattern::new(b).is_err())
        {
            return Err(Error::bad_request(
                "invalid_parameter",
                format!("branch {bad:?} is not a branch glob"),
            ));
        }
        let seconds = |name: &'static str, default: u32| -> Result<u32, Error> {
            match get(name) {
                None | Some("") => Ok(default),
                Some(value) => value
                    .parse::<u32>()
                    .ok()
                    .filter(|s| *s == 0 || (2..=86_400).contains(s))
                    .ok_or_else(|| {
                        Error::bad_request(
                            "invalid_parameter",
                            format!("{name} must be 0 or a number of seconds from 2 to 86400"),
                        )
                    }),
            }
        };
        let window = match get("window") {
            None | Some("") => Window::Day,
            Some(value) => Window::parse(value).ok_or_else(|| {
                Error::bad_request("invalid_parameter", "window must be 24h, 7d or 30d")
            })?,
        };
        let part = match get("part") {
            None | Some("") => Part::Page,
            Some("live") => Part::Live,
            Some("hud") => Part::Hud,
            Some("state") => Part::State,
            Some(_) => {
                return Err(Error::bad_request(
                    "invalid_parameter",
                    "part must be live, hud or state",
                ))
            }
        };
        let views = match get("views") {
            None | Some("") => DEFAULT_VIEWS.to_vec(),
            Some(list) => list
                .split(',')
                .map(|name| {
                    ROTATABLE
                        .iter()
                        .find(|(known, _)| *known == name.trim())
                        .map(|(known, _)| *known)
                        .ok_or_else(|| {
                            Error::bad_request(
                                "invalid_parameter",
                                "views lists views to rotate through: wall, waterfall, triage, developer",
                            )
                        })
                })
                .collect::<Result<_, _>>()?,
        };
        Ok(Self {
            repo: list("repo")?,
            branch,
            workflow: list("workflow")?,
            author: list("author")?,
            window,
            tv: matches!(get("tv"), Some("1" | "true" | "yes" | "on")),
            sound: matches!(get("sound"), Some("1" | "true" | "yes" | "on")),
            rotate_s: seconds("rotate", 30)?,
            views,
            page_s: seconds("page", 8)?.max(2),
            part,
            all_branches: match get("branches") {
                None | Some("" | "watched") => false,
                Some("all") => true,
                Some(_) => {
                    return Err(Error::bad_request(
                        "invalid_parameter",
                        "branches must be watched or all",
                    ))
                }
            },
            oldest_first: match get("sort") {
                None | Some("" | "newest") => false,
                Some("oldest") => true,
                Some(_) => {
                    return Err(Error::bad_request(
                        "invalid_parameter",
                        "sort must be newest or oldest",
                    ))
                }
            },
        })
    }

    /// The filter for the grid, triage and lists.
    /// What triage looks at for this query: watched branches unless `branches=all` or a branch
    /// is named (naming one asks for it, watched or not).
    fn triage_scope(&self, state: &AppState, now: i64) -> triage::Scope {
        triage::Scope::choose(
            self.all_branches,
            !self.branch.is_empty(),
            state.config.stale_after,
            now,
        )
    }

    fn filter(&self) -> RunFilter {
        RunFilter {
            repo: self.repo.clone(),
            branch: self.branch.clone(),
            workflow: self.workflow.clone(),
            author: self.author.clone(),
            ..RunFilter::default()
        }
    }

    /// The filter for the figures: the same, limited to the window ending `now`.
    fn windowed(&self, now: i64) -> RunFilter {
        RunFilter {
            since: Some(now - self.window.seconds()),
            ..self.filter()
        }
    }

    /// `path` with these parameters (defaults left out), `window` and `part` as given.
    fn url(&self, path: &str, window: Window, part: Part) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, values) in [
            ("repo", &self.repo),
            ("branch", &self.branch),
            ("workflow", &self.workflow),
            ("author", &self.author),
        ] {
            if !values.is_empty() {
                query.append_pair(name, &values.join(","));
            }
        }
        if window != Window::Day {
            query.append_pair("window", window.name());
        }
        if self.all_branches {
            query.append_pair("branches", "all");
        }
        if self.oldest_first {
            query.append_pair("sort", "oldest");
        }
        if self.tv {
            query.append_pair("tv", "1");
            query.append_pair("rotate", &self.rotate_s.to_string());
            query.append_pair("views", &self.views.join(","));
            query.append_pair("page", &self.page_s.to_string());
            if self.sound {
                query.append_pair("sound", "1");
            }
        }
        match part {
            Part::Page => {}
            Part::Live => {
                query.append_pair("part", "live");
            }
            Part::Hud => {
                query.append_pair("part", "hud");
            }
            Part::State => {
                query.append_pair("part", "state");
            }
        }
        let query = query.finish();
        if query.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{query}")
        }
    }

    /// Everything around the view.
    fn chrome(&self, view: &'static str, path: &str, title: String, state: &AppState) -> Chrome {
        let hide_authors = state.config.hide_authors;
        let mut nav = vec![
            Link {
                label: "Wall".into(),
                url: self.url("/wall", self.window, Part::Page),
                active: view == "wall",
            },
            Link {
                label: "Waterfall".into(),
                url: self.url("/", self.window, Part::Page),
                active: view == "waterfall",
            },
            Link {
                label: "Triage".into(),
                url: self.url("/triage", self.window, Part::Page),
                active: view == "triage",
            },
        ];
        if !hide_authors {
            nav.push(Link {
                label: "Developer".into(),
                url: self.url("/developer", self.window, Part::Page),
                active: view == "developer" || view == "people",
            });
        }
        let windows = Window::ALL
            .iter()
            .map(|&window| Link {
                label: window.name().into(),
                url: self.url(path, window, Part::Page),
                active: window == self.window,
            })
            .collect();
        let next_url = if self.tv && self.rotate_s > 0 {
            let view = if view == "people" { "developer" } else { view };
            let at = self.views.iter().position(|v| *v == view);
            let next = match at {
                Some(i) => self.views[(i + 1) % self.views.len()],
                None => self.views[0],
            };
            let next_path = ROTATABLE
                .iter()
                .find(|(name, _)| *name == next)
                .map_or("/", |(_, path)| *path);
            self.url(next_path, self.window, Part::Page)
        } else {
            String::new()
        };
        // A new break shows on the Wall, or on Triage when the rotation has no Wall.
        let alert_path = if self.views.contains(&"wall") || !self.views.contains(&"triage") {
            "/wall"
        } else {
            "/triage"
        };
        let untv = BoardQuery {
            tv: false,
            ..self.clone()
        };
        let bare = BoardQuery {
            repo: Vec::new(),
            branch: Vec::new(),
            workflow: Vec::new(),
            author: Vec::new(),
            ..self.clone()
        };
        Chrome {
            view,
            title,
            tv: self.tv,
            rotate_s: self.rotate_s,
            page_s: self.page_s,
            next_url,
            live_url: self.url(path, self.window, Part::Live),
            hud_url: self.url(path, self.window, Part::Hud),
            repo: self.repo.join(","),
            branch: self.branch.join(","),
            workflow: self.workflow.join(","),
            filter_author: self.author.join(","),
            author: String::new(),
            window: self.window.name(),
            nav,
            windows,
            clear_url: bare.url(path, self.window, Part::Page),
            max_rows: if self.tv { 10 } else { 40 },
            max_stream: if self.tv { 9 } else { 30 },
            per_page: if self.tv { 5 } else { usize::MAX },
            generation: state.hub.generation(),
            unknown: Vec::new(),
            known: Arc::default(),
            alert_url: self.url(alert_path, self.window, Part::Page),
            state_url: untv.url("/wall", Window::Day, Part::State),
            sound: self.sound,
            timezone: state.config.timezone.clone().unwrap_or_default(),
        }
    }

    /// How a page shows `unknown` names: each with a link to `path` with the closest known name
    /// in its place.
    fn notices(&self, path: &str, unknown: &[UnknownName]) -> Vec<Notice> {
        unknown
            .iter()
            .map(|unknown| Notice {
                text: unknown.describe(),
                suggestion: unknown.suggestion.as_ref().map(|suggestion| {
                    let mut fixed = self.clone();
                    let list = match unknown.kind {
                        NameKind::Repository => &mut fixed.repo,
                        NameKind::Branch => &mut fixed.branch,
                        NameKind::Workflow => &mut fixed.workflow,
                        NameKind::Author => &mut fixed.author,
                    };
                    for value in list.iter_mut().filter(|v| **v == unknown.name) {
                        value.clone_from(suggestion);
                    }
                    (suggestion.clone(), fixed.url(path, self.window, Part::Page))
                }),
            })
            .collect()
    }

    /// The page's [`Chrome`] with the filter form's names, which only a full page on a desktop
    /// shows.
    async fn page_chrome(&self, mut chrome: Chrome, state: &AppState) -> Result<Chrome, Error> {
        if self.part == Part::Page && !self.tv {
            chrome.known = state.board_cache.known_names(state).await?;
        }
        Ok(chrome)
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn rendered(result: askama::Result<String>) -> Result<String, Error> {
    result.map_err(|err| Error::Internal(anyhow::Error::new(err).context("rendering a view")))
}

/// Answers with a page, or with a part from the shared cache.
async fn respond<F, Fut>(
    state: &AppState,
    query: &BoardQuery,
    path: &str,
    render: F,
) -> Result<warp::reply::Response, Error>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<String, Error>>,
{
    let html: Arc<str> = if query.part == Part::Page {
        Arc::from(render().await?)
    } else {
        let key = query.url(path, query.window, query.part);
        state
            .board_cache
            .get_or_render(key, state.hub.generation(), render)
            .await?
    };
    let mut reply = warp::reply::html(html.to_string()).into_response();
    if query.part == Part::State {
        reply.headers_mut().insert(
            CONTENT_TYPE,
            warp::http::HeaderValue::from_static("application/json"),
        );
    }
    Ok(warp::reply::with_header(reply, CACHE_CONTROL, "no-store").into_response())
}

/// A page's answer, its error as the HTML error page (the API answers errors in JSON).
fn as_page(result: Result<warp::reply::Response, Error>) -> warp::reply::Response {
    result.unwrap_or_else(Error::into_page)
}

/// Paths the board's own routes, the API, the feed and operations answer: not "unknown".
fn is_known_path(path: &str) -> bool {
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    path == "/"
        || matches!(
            first,
            "wall"
                | "triage"
                | "developer"
                | "static"
                | "api"
                | "ws"
                | "webhook"
                | "healthz"
                | "readyz"
                | "metrics"
        )
}

/// Any other address: the HTML error page, `404`.
fn unknown_page(path: warp::path::FullPath) -> warp::reply::Response {
    Error::NotFound(format!(
        "There is no board page at {}.",
        views::cut(path.as_str(), 80)
    ))
    .into_page()
}

async fn show_wall(
    pairs: Vec<(String, String)>,
    state: AppState,
) -> Result<warp::reply::Response, Error> {
    let query = BoardQuery::parse_for(&pairs, &state)?;
    let chrome = query
        .page_chrome(query.chrome("wall", "/wall", "Wall".into(), &state), &state)
        .await?;
    let opts = state.opts;
    let (q, s) = (query.clone(), state.clone());
    respond(&state, &query, "/wall", move || async move {
        let mut chrome = chrome;
        let filter = q.filter();
        let scope = q.triage_scope(&s, now());
        let state = s.clone();
        let (mut wall, unknown) = s
            .store
            .read(move |conn| {
                let wall = wall::wall(
                    conn,
                    &wall::Request {
                        filter: &filter,
                        watched: &state.config.watch_branches,
                        scope,
                    },
                )?;
                Ok((wall, names::unknown(conn, &filter)?))
            })
            .await?;
        chrome.unknown = q.notices("/wall", &unknown);
        opts.privacy.redact_wall(&mut wall);
        let model = views::WallView::of(wall, scope != triage::Scope::Watched);
        match q.part {
            Part::State => Ok(model.state_json()),
            Part::Page => rendered(views::wall(&chrome, &model, opts)),
            _ => rendered(views::wall_live(&chrome, &model, opts)),
        }
    })
    .await
}

async fn show_waterfall(
    pairs: Vec<(String, String)>,
    state: AppState,
) -> Result<warp::reply::Response, Error> {
    let query = BoardQuery::parse_for(&pairs, &state)?;
    let chrome = query
        .page_chrome(
            query.chrome("waterfall", "/", "Waterfall".into(), &state),
            &state,
        )
        .await?;
    let opts = state.opts;
    let (q, s) = (query.clone(), state.clone());
    respond(&state, &query, "/", move || async move {
        let mut chrome = chrome;
        let now = now();
        let (filter, windowed) = (q.filter(), q.windowed(now));
        let layout = if q.tv {
            views::Layout::Pages {
                lanes: TV_LANES_PER_PAGE,
                rows: chrome.max_rows,
                pages: TV_PAGES,
            }
        } else {
            views::Layout::Scroll {
                rows: chrome.max_rows,
            }
        };
        // A TV shows a page of rows per page of repositories.
        let rows = (chrome.max_rows * if q.tv { TV_PAGES } else { 1 }) as u32;
        let stream = chrome.max_stream as u32;
        let part = q.part;
        let (commits, metrics, recent, stream, unknown) = s
            .store
            .read(move |conn| {
                let metrics = figures::compute(conn, &windowed, now)?;
                let recent = board::recent_completed(conn, &windowed, CHART_RUNS)?;
                if part == Part::Hud {
                    return Ok((Vec::new(), metrics, recent, Vec::new(), Vec::new()));
                }
                Ok((
                    board::waterfall(conn, &filter, rows)?,
                    metrics,
                    recent,
                    query::runs(conn, &filter, None, stream)?,
                    names::unknown(conn, &filter)?,
                ))
            })
            .await?;
        let hud = views::Hud {
            metrics,
            chart: views::Chart::of(&recent),
        };
        if part == Part::Hud {
            return rendered(views::hud(&chrome, &hud));
        }
        chrome.unknown = q.notices("/", &unknown);
        let mut stream = stream;
        opts.privacy.redact_runs(&mut stream);
        let model = views::Waterfall::of(commits, hud, stream, layout);
        rendered(match part {
            Part::Live => views::waterfall_live(&chrome, &model, opts),
            _ => views::waterfall(&chrome, &model, opts),
        })
    })
    .await
}

async fn show_triage(
    pairs: Vec<(String, String)>,
    state: AppState,
) -> Result<warp::reply::Response, Error> {
    let query = BoardQuery::parse_for(&pairs, &state)?;
    let chrome = query
        .page_chrome(
            query.chrome("triage", "/triage", "Triage".into(), &state),
            &state,
        )
        .await?;
    let opts = state.opts;
    let (q, s) = (query.clone(), state.clone());
    respond(&state, &query, "/triage", move || async move {
        let mut chrome = chrome;
        // Authors select incidents by who caused or pushed into them (as the Developer view
        // does), not the latest run of each workflow by that person.
        let authors = q.author.clone();
        let filter = RunFilter {
            author: Vec::new(),
            ..q.filter()
        };
        let asked = q.filter();
        let scope = q.triage_scope(&s, now());
        let order = if q.oldest_first {
            triage::Order::OldestFirst
        } else {
            triage::Order::NewestFirst
        };
        let state = s.clone();
        let (mut incidents, unknown) = s
            .store
            .read(move |conn| {
                let incidents = triage::triage(
                    conn,
                    &triage::Request {
                        filter: &filter,
                        watched: &state.config.watch_branches,
                        scope,
                        order,
                    },
                )?;
                Ok((incidents, names::unknown(conn, &asked)?))
            })
            .await?;
        if !authors.is_empty() {
            incidents.retain(|incident| {
                authors.iter().any(|author| {
                    incident.culprit.as_ref() == Some(author) || incident.pushers.contains(author)
                })
            });
        }
        chrome.unknown = q.notices("/triage", &unknown);
        let model = views::Triage::of(incidents, scope != triage::Scope::Watched);
        rendered(match q.part {
            Part::Page => views::triage(&chrome, &model, opts),
            _ => views::triage_live(&chrome, &model, opts),
        })
    })
    .await
}

async fn show_people(
    pairs: Vec<(String, String)>,
    state: AppState,
) -> Result<warp::reply::Response, Error> {
    let query = BoardQuery::parse_for(&pairs, &state)?;
    let chrome = query.chrome("people", "/developer", "Developers".into(), &state);
    let opts = state.opts;
    let people = if opts.hide_authors() {
        Vec::new()
    } else {
        let filter = query.windowed(now());
        state
            .store
            .read(move |conn| board::people(conn, &filter, MAX_PEOPLE))
            .await?
    };
    let html = rendered(views::people(&chrome, &people, opts))?;
    Ok(warp::reply::html(html).into_response())
}

async fn show_developer(
    login: String,
    pairs: Vec<(String, String)>,
    state: AppState,
) -> Result<warp::reply::Response, Error> {
    let opts = state.opts;
    if opts.hide_authors() {
        return Err(Error::NotFound("names are hidden on this board".into()));
    }
    let login = percent_decode(&login)
        .filter(|login| !login.is_empty() && login.chars().count() <= MAX_FILTER_CHARS)
        .ok_or_else(|| Error::bad_request("invalid_parameter", "not a login"))?;
    let query = BoardQuery::parse_for(&pairs, &state)?;
    let path = views::developer_url(&login);
    let mut chrome = query.chrome(
        "developer",
        &path,
        format!("{} · Developer", views::name(&login)),
        &state,
    );
    chrome.author = login.clone();
    let (q, s) = (query.clone(), state.clone());
    respond(&state, &query, &path, move || async move {
        let now = now();
        let author_filter = RunFilter {
            author: vec![login.clone()],
            ..q.filter()
        };
        let windowed = RunFilter {
            author: vec![login.clone()],
            ..q.windowed(now)
        };
        let team = q.filter();
        let who = login.clone();
        // Two reads on two pooled connections at once: the whole board's triage (the slowest
        // part) beside the person's own figures and runs.
        let scope = triage::Scope::choose(true, true, s.config.stale_after, now);
        let state = s.clone();
        let incidents = s.store.read(move |conn| {
            let request = triage::Request {
                filter: &team,
                watched: &state.config.watch_branches,
                scope,
                order: triage::Order::NewestFirst,
            };
            Ok(triage::triage(conn, &request)?
                .into_iter()
                .filter(|incident| {
                    incident.culprit.as_deref() == Some(who.as_str())
                        || incident.pushers.contains(&who)
                })
                .take(MAX_DEVELOPER_INCIDENTS)
                .collect())
        });
        let own = s.store.read(move |conn| {
            Ok((
                figures::compute(conn, &windowed, now)?,
                board::active(conn, &author_filter, 20)?,
                query::runs(conn, &author_filter, None, DEVELOPER_RUNS)?,
            ))
        });
        let (incidents, (metrics, active, recent)): (_, (Metrics, _, _)) =
            tokio::try_join!(incidents, own)?;
        let model = views::Developer {
            login,
            metrics,
            active,
            incidents,
            recent,
        };
        rendered(match q.part {
            Part::Page => views::developer(&chrome, &model, opts),
            _ => views::developer_live(&chrome, &model, opts),
        })
    })
    .await
}

/// Decodes `%XX` escapes in a path segment; `None` for a bad escape or invalid UTF-8.
fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = segment.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Files under `static/`, compiled in.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "tv.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/tv.js"),
    ),
    (
        "error.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/error.js"),
    ),
    (
        "red.svg",
        "image/svg+xml",
        include_str!("../../static/red.svg"),
    ),
    (
        "green.svg",
        "image/svg+xml",
        include_str!("../../static/green.svg"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/app.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../../static/app.css"),
    ),
    (
        "act.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/act.js"),
    ),
    (
        "act.css",
        "text/css; charset=utf-8",
        include_str!("../../static/act.css"),
    ),
];

async fn serve_asset(name: String) -> Result<impl Reply, Rejection> {
    let (_, content_type, body) = ASSETS
        .iter()
        .find(|(file, _, _)| *file == name)
        .ok_or_else(warp::reject::not_found)?;
    let reply = warp::reply::with_header(*body, CONTENT_TYPE, *content_type);
    Ok(warp::reply::with_header(reply, CACHE_CONTROL, "no-cache"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn filters_parse_into_a_run_filter_and_round_trip_through_the_url() {
        let query = BoardQuery::parse(&pairs(&[
            ("repo", "o/r"),
            ("branch", "main"),
            ("window", "7d"),
            ("tv", "1"),
            ("rotate", "20"),
        ]))
        .unwrap();
        assert_eq!(query.filter().repo, ["o/r"]);
        assert_eq!(query.filter().branch, ["main"]);
        assert_eq!(query.windowed(1000).since, Some(1000 - 7 * 24 * 3600));
        let url = query.url("/triage", query.window, Part::Live);
        assert_eq!(
            url,
            "/triage?repo=o%2Fr&branch=main&window=7d&tv=1&rotate=20&views=wall%2Cwaterfall%2Ctriage&page=8&part=live"
        );
    }

    #[test]
    fn bad_parameters_are_refused() {
        for bad in [
            ("window", "1y"),
            ("rotate", "1"),
            ("part", "x"),
            ("views", "nope"),
            ("part", "states"),
        ] {
            assert!(BoardQuery::parse(&pairs(&[bad])).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn every_view_rotates_and_the_wall_comes_first_by_default() {
        let query = BoardQuery::parse(&pairs(&[])).unwrap();
        assert_eq!(query.views, ["wall", "waterfall", "triage"]);
        let all = BoardQuery::parse(&pairs(&[("views", "wall,waterfall,triage,developer")]));
        assert_eq!(all.unwrap().views.len(), 4);
    }

    #[test]
    fn only_addresses_nothing_answers_get_the_error_page() {
        for known in [
            "/",
            "/wall",
            "/triage",
            "/developer/bob",
            "/api/nope",
            "/static/x.js",
        ] {
            assert!(is_known_path(known), "{known}");
        }
        for unknown in ["/wal", "/favicon.ico", "/tv/wall"] {
            assert!(!is_known_path(unknown), "{unknown}");
        }
    }

    #[test]
    fn logins_decode_from_the_path() {
        assert_eq!(
            percent_decode("dependabot%5Bbot%5D").as_deref(),
            Some("dependabot[bot]")
        );
        assert_eq!(percent_decode("%zz"), None);
    }
}
