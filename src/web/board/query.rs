//! The board's query: what every view takes (see the parent module's list), parsed leniently
//! through [`Params`], and the URLs, navigation and notices built back from it.

use std::sync::Arc;

use crate::scope::Viewer;
use crate::store::names::{NameKind, UnknownName};
use crate::store::query::RunFilter;
use crate::store::triage;
use crate::views::{Chrome, Link, Notice};
use crate::web::params::{invalid, split_list, Params, Window};
use crate::web::{AppState, Error};

/// Which part of a page is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Part {
    Page,
    Live,
    Hud,
    /// The Wall's counts and red tiles, as JSON.
    State,
}

/// The views TV mode can rotate through.
const ROTATABLE: &[(&str, &str)] = &[
    ("wall", "/wall"),
    ("waterfall", "/waterfall"),
    ("triage", "/triage"),
    ("developer", "/developer"),
];

/// The rotation when `views=` is not given: the answer (the Wall), and the details of the reds
/// (Triage, which `static/rotation.js` skips while nothing is red). Other views only when asked for.
const DEFAULT_VIEWS: &[&str] = &["wall", "triage"];

/// Seconds each view other than the answer view stays up when `rotate=` is not given; the
/// answer view (the Wall) stays four times as long (`static/board.js`).
const DEFAULT_ROTATE_S: u32 = 15;

/// The board's query parameters, validated.
#[derive(Debug, Clone)]
pub(super) struct BoardQuery {
    pub(super) repo: Vec<String>,
    pub(super) branch: Vec<String>,
    pub(super) workflow: Vec<String>,
    pub(super) author: Vec<String>,
    pub(super) window: Window,
    pub(super) tv: bool,
    pub(super) rotate_s: u32,
    pub(super) views: Vec<&'static str>,
    pub(super) page_s: u32,
    pub(super) part: Part,
    /// `branches=all`: triage looks at every branch, not only the watched ones.
    pub(super) all_branches: bool,
    /// `sort=oldest`: triage lists the longest red first.
    pub(super) order: triage::Order,
    /// `sound=1`: a short sound on a new break and on a fix.
    pub(super) sound: bool,
    /// Who asks: what they may read, and whether names of people are hidden from them.
    pub(super) viewer: Viewer,
}

impl BoardQuery {
    /// [`BoardQuery::parse`] for `viewer`, refusing a filter by person on a board that hides
    /// people.
    pub(super) fn parse_for(pairs: &[(String, String)], viewer: Viewer) -> Result<Self, Error> {
        let query = Self::parse(pairs, viewer)?;
        query
            .viewer
            .check_filter(&query.filter())
            .map_err(|reason| Error::bad_request("invalid_parameter", reason))?;
        Ok(query)
    }

    /// The parameters as a page takes them (see [`Params::lenient`]).
    ///
    /// # Errors
    /// `400` for a bad value, which the board shows as its error page.
    pub(super) fn parse(pairs: &[(String, String)], viewer: Viewer) -> Result<Self, Error> {
        let params = Params::lenient(pairs);
        let seconds = |name: &str, default: u32| match params.number(name, 0, 86_400) {
            Ok(Some(1)) | Err(_) => Err(invalid(format!(
                "parameter `{name}` must be 0 or a number of seconds from 2 to 86400"
            ))),
            Ok(seconds) => Ok(seconds.unwrap_or(default)),
        };
        let part = match params.one_of("part", &["live", "hud", "state"])?.as_deref() {
            Some("live") => Part::Live,
            Some("hud") => Part::Hud,
            Some("state") => Part::State,
            _ => Part::Page,
        };
        let views = match params.text("views") {
            None => DEFAULT_VIEWS.to_vec(),
            Some(list) => split_list([list.as_str()])
                .iter()
                .map(|name| {
                    ROTATABLE
                        .iter()
                        .find(|(known, _)| known == name)
                        .map(|(known, _)| *known)
                        .ok_or_else(|| {
                            invalid(
                                "parameter `views` lists views to rotate through: wall, waterfall, triage, developer",
                            )
                        })
                })
                .collect::<Result<_, _>>()?,
        };
        Ok(Self {
            repo: params.list("repo")?,
            branch: params.branches()?,
            workflow: params.list("workflow")?,
            author: params.list("author")?,
            window: params.window(Window::Day)?,
            tv: params.switch("tv"),
            sound: params.switch("sound"),
            rotate_s: seconds("rotate", DEFAULT_ROTATE_S)?,
            views,
            page_s: seconds("page", 8)?.max(2),
            part,
            all_branches: params.all_branches()?,
            order: params.triage_order()?,
            viewer,
        })
    }

    /// The filter for the grid, triage and lists, within what the viewer may read.
    pub(super) fn filter(&self) -> RunFilter {
        self.viewer.restrict(RunFilter {
            repo: self.repo.clone(),
            branch: self.branch.clone(),
            workflow: self.workflow.clone(),
            author: self.author.clone(),
            ..RunFilter::default()
        })
    }

    /// Whether every run the feed sends this viewer is one of the page's: the page's filter
    /// narrows nothing beyond the viewer's scope (which the feed applies to its messages too).
    fn shows_every_run(&self) -> bool {
        RunFilter {
            scope: None,
            ..self.filter()
        } == RunFilter::default()
    }

    /// The filter for the figures: the same, limited to the window ending `now`.
    pub(super) fn windowed(&self, now: i64) -> RunFilter {
        RunFilter {
            since: Some(now - self.window.seconds()),
            ..self.filter()
        }
    }

    /// `path` with these parameters (defaults left out), `window` and `part` as given.
    pub(super) fn url(&self, path: &str, window: Window, part: Part) -> String {
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
        if self.order == triage::Order::OldestFirst {
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

    /// The links between views, `view` marked active (Developer only where authors are shown).
    fn nav(&self, view: &str) -> Vec<Link> {
        let hide_authors = self.viewer.hide_authors();
        let mut nav = vec![
            Link {
                label: "Wall".into(),
                url: self.url("/wall", self.window, Part::Page),
                active: view == "wall",
            },
            Link {
                label: "Waterfall".into(),
                url: self.url("/waterfall", self.window, Part::Page),
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
        nav
    }

    /// The rotation, in order, each view with these parameters (JSON; empty off the TV or without
    /// rotating): `static/rotation.js` picks the next.
    fn rotation(&self) -> String {
        if self.tv && self.rotate_s > 0 {
            let stops: Vec<(&str, String)> = self
                .views
                .iter()
                .filter_map(|name| ROTATABLE.iter().find(|(known, _)| known == name))
                .map(|(name, path)| (*name, self.url(path, self.window, Part::Page)))
                .collect();
            serde_json::to_string(&stops).unwrap_or_default()
        } else {
            String::new()
        }
    }

    /// Everything around the view.
    pub(super) fn chrome(
        &self,
        view: &'static str,
        path: &str,
        title: String,
        state: &AppState,
    ) -> Chrome {
        let nav = self.nav(view);
        let windows = Window::ALL
            .iter()
            .map(|&window| Link {
                label: window.name().into(),
                url: self.url(path, window, Part::Page),
                active: window == self.window,
            })
            .collect();
        let rotation = self.rotation();
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
            rotation,
            live_url: self.url(path, self.window, Part::Live),
            hud_url: self.url(path, self.window, Part::Hud),
            runs_belong: self.shows_every_run(),
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
            generation: state.render_generation(),
            unknown: Vec::new(),
            known: Arc::default(),
            alert_url: self.url(alert_path, self.window, Part::Page),
            state_url: untv.url("/wall", Window::Day, Part::State),
            sound: self.sound,
            timezone: state.config.timezone.clone().unwrap_or_default(),
            watched: crate::store::wall::watched_label(&[], &state.settings.watched()),
            partial: None,
            backfilling: String::new(),
        }
    }

    /// How a page shows `unknown` names: each with a link to `path` with the closest known name
    /// in its place.
    pub(super) fn notices(&self, path: &str, unknown: &[UnknownName]) -> Vec<Notice> {
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
    pub(super) async fn page_chrome(
        &self,
        mut chrome: Chrome,
        state: &AppState,
    ) -> Result<Chrome, Error> {
        if self.part == Part::Page && !self.tv {
            chrome.known = state.board_cache.known_names(state, &self.viewer).await?;
        }
        if self.part == Part::Page {
            chrome.backfilling = backfilling(state, &self.viewer).await?;
        }
        Ok(chrome)
    }
}

/// "backfilling 12 of 25 repositories" while the App's background backfill of repositories
/// `viewer` may read runs (12 queued or running of the 25 the App gave them); empty otherwise. A
/// repository outside their scope is not counted: not even a count of those reaches them.
///
/// # Errors
/// On a database error.
pub(super) async fn backfilling(state: &AppState, viewer: &Viewer) -> Result<String, Error> {
    let states = state.store.read(crate::store::app::backfill_states).await?;
    let mine = states.iter().filter(|(repo, _)| viewer.may_read(repo));
    let (pending, total) = mine.fold((0, 0), |(pending, total), (_, backfill)| {
        let going = matches!(backfill.state.as_str(), "queued" | "running");
        (pending + usize::from(going), total + 1)
    });
    Ok(crate::views::backfilling(pending, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anyone() -> Viewer {
        Viewer::all(
            crate::scope::Who::Anonymous,
            crate::scope::Privacy::default(),
        )
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn filters_parse_into_a_run_filter_and_round_trip_through_the_url() {
        let query = BoardQuery::parse(
            &pairs(&[
                ("repo", "o/r"),
                ("branch", "main"),
                ("window", "7d"),
                ("tv", "1"),
                ("rotate", "20"),
            ]),
            anyone(),
        )
        .unwrap();
        assert_eq!(query.filter().repo, ["o/r"]);
        assert_eq!(query.filter().branch, ["main"]);
        assert_eq!(query.windowed(1000).since, Some(1000 - 7 * 24 * 3600));
        let url = query.url("/triage", query.window, Part::Live);
        assert_eq!(
            url,
            "/triage?repo=o%2Fr&branch=main&window=7d&tv=1&rotate=20&views=wall%2Ctriage&page=8&part=live"
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
            assert!(
                BoardQuery::parse(&pairs(&[bad]), anyone()).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_default_rotation_is_the_wall_and_triage_and_every_view_rotates_when_asked() {
        let query = BoardQuery::parse(&pairs(&[]), anyone()).unwrap();
        assert_eq!(query.views, ["wall", "triage"]);
        assert_eq!(query.rotate_s, DEFAULT_ROTATE_S);
        let all = BoardQuery::parse(
            &pairs(&[("views", "wall,waterfall,triage,developer")]),
            anyone(),
        );
        assert_eq!(all.unwrap().views.len(), 4);
    }
}
