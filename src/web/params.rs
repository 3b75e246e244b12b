//! Query-string parameters, for the API and the board alike: one parser, one set of names and
//! limits, one [`Window`] type, errors that say which parameter is wrong and what it accepts.
//!
//! The API is strict ([`Params::parse`]): an unknown parameter or a repeated one (other than the
//! [`LIST_FILTERS`]) is a `400` naming it. Pages are lenient ([`Params::lenient`]): a bookmarked
//! TV address with a stray parameter still shows the board, so unknown parameters are ignored, a
//! repeated one takes its last value and values are trimmed; a bad *value* is still refused, as
//! the board's readable error page (see `web::error`).

use std::collections::HashMap;
use std::sync::LazyLock;

use super::Error;
use crate::run_state::{self, Conclusion, Status};
use crate::store::query::{is_glob, Cursor, RunFilter};
use crate::store::triage::Order;

/// Run statuses accepted by `status=`.
pub const STATUSES: [&str; Status::ALL.len()] = {
    let mut names = [""; Status::ALL.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = Status::ALL[i].as_str();
        i += 1;
    }
    names
};
/// Run conclusions accepted by `conclusion=`: the documented ones.
pub static CONCLUSIONS: LazyLock<Vec<&'static str>> = LazyLock::new(|| run_state::names(|_| true));
/// The span figures cover: `window=24h` (also `1d`), `7d` or `30d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    Day,
    Week,
    Month,
}

impl Window {
    pub const ALL: [Window; 3] = [Window::Day, Window::Week, Window::Month];
    /// The names `window=` accepts, as error messages list them.
    pub const NAMES: [&'static str; 3] = ["24h", "7d", "30d"];

    /// A window by its name; `None` for a name it does not have.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "24h" | "1d" => Self::Day,
            "7d" => Self::Week,
            "30d" => Self::Month,
            _ => return None,
        })
    }

    pub const fn name(self) -> &'static str {
        match self {
            Self::Day => "24h",
            Self::Week => "7d",
            Self::Month => "30d",
        }
    }

    pub const fn seconds(self) -> i64 {
        match self {
            Self::Day => 24 * 3600,
            Self::Week => 7 * 24 * 3600,
            Self::Month => 30 * 24 * 3600,
        }
    }
}

/// The filters every run listing accepts.
pub const RUN_FILTERS: &[&str] = &[
    "repo",
    "branch",
    "workflow",
    "status",
    "conclusion",
    "author",
    "event",
    "sha",
    "since",
    "until",
];

/// The filters that take several values: repeated (`repo=a/x&repo=a/y`) or comma-separated
/// (`repo=a/x,a/y`), matching any of them.
pub const LIST_FILTERS: &[&str] = &["repo", "branch", "workflow", "author"];

/// Most values a list filter takes.
pub const MAX_LIST_VALUES: usize = 50;

/// Longest value a list filter takes, in characters: no repository, branch, workflow or login is
/// longer.
pub const MAX_FILTER_CHARS: usize = 200;

/// Parsed query parameters: each value of a [`LIST_FILTERS`] parameter, one value of any other.
#[derive(Debug, Default, Clone)]
pub struct Params(HashMap<String, Vec<String>>);

/// The values of a list filter: every value split at commas, trimmed, blanks and repeats dropped.
pub fn split_list<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut list: Vec<String> = Vec::new();
    for value in values.into_iter().flat_map(|v| v.split(',')).map(str::trim) {
        if !value.is_empty() && !list.iter().any(|known| known == value) {
            list.push(value.to_owned());
        }
    }
    list
}

impl Params {
    /// Checks that every parameter is one of `allowed` and none but the [`LIST_FILTERS`] is
    /// repeated.
    ///
    /// # Errors
    /// `400 invalid_parameter` naming the parameter and listing the allowed ones.
    pub fn parse(pairs: Vec<(String, String)>, allowed: &[&[&str]]) -> Result<Self, Error> {
        let mut map: HashMap<String, Vec<String>> = HashMap::with_capacity(pairs.len());
        for (key, value) in pairs {
            if !allowed.iter().any(|names| names.contains(&key.as_str())) {
                let names: Vec<&str> = allowed
                    .iter()
                    .flat_map(|names| names.iter().copied())
                    .collect();
                return Err(invalid(format!(
                    "unknown parameter `{key}`; allowed: {}",
                    names.join(", ")
                )));
            }
            let values = map.entry(key.clone()).or_default();
            if !values.is_empty() && !LIST_FILTERS.contains(&key.as_str()) {
                return Err(invalid(format!(
                    "parameter `{key}` is given more than once"
                )));
            }
            values.push(value);
        }
        Ok(Self(map))
    }

    /// Every parameter, as a page takes them: unknown ones ignored, a repeated one (other than
    /// the [`LIST_FILTERS`]) taking its last value, values trimmed.
    pub fn lenient(pairs: &[(String, String)]) -> Self {
        let mut map: HashMap<String, Vec<String>> = HashMap::with_capacity(pairs.len());
        for (key, value) in pairs {
            let values = map.entry(key.clone()).or_default();
            if !LIST_FILTERS.contains(&key.as_str()) {
                values.clear();
            }
            values.push(value.trim().to_owned());
        }
        Self(map)
    }

    /// A free-text value; empty counts as absent. (For a list filter, its first value.)
    pub fn text(&self, name: &str) -> Option<String> {
        self.0
            .get(name)
            .and_then(|values| values.first())
            .filter(|value| !value.is_empty())
            .cloned()
    }

    /// A list filter's values (see [`split_list`]); empty when absent.
    ///
    /// # Errors
    /// `400` for more than [`MAX_LIST_VALUES`] values or one longer than [`MAX_FILTER_CHARS`].
    pub fn list(&self, name: &str) -> Result<Vec<String>, Error> {
        let list = split_list(self.0.get(name).into_iter().flatten().map(String::as_str));
        if list.len() > MAX_LIST_VALUES {
            return Err(invalid(format!(
                "parameter `{name}` takes at most {MAX_LIST_VALUES} values"
            )));
        }
        if list.iter().any(|v| v.chars().count() > MAX_FILTER_CHARS) {
            return Err(invalid(format!(
                "parameter `{name}`: a value is longer than {MAX_FILTER_CHARS} characters"
            )));
        }
        Ok(list)
    }

    /// A value that must be one of `allowed`.
    ///
    /// # Errors
    /// `400` listing the allowed values.
    pub fn one_of(&self, name: &str, allowed: &[&str]) -> Result<Option<String>, Error> {
        self.parsed(name, allowed, |value| {
            allowed.contains(&value).then(|| value.to_owned())
        })
    }

    /// A value that `parse` reads, which takes the names in `allowed` only.
    ///
    /// # Errors
    /// `400` listing the allowed values.
    pub fn parsed<T>(
        &self,
        name: &str,
        allowed: &[&str],
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<Option<T>, Error> {
        self.text(name)
            .map(|value| {
                parse(&value).ok_or_else(|| {
                    invalid(format!(
                        "parameter `{name}`: unknown value {value:?}; allowed: {}",
                        allowed.join(", ")
                    ))
                })
            })
            .transpose()
    }

    /// An RFC 3339 date-time, as epoch seconds.
    ///
    /// # Errors
    /// `400` naming the parameter and the expected format.
    pub fn time(&self, name: &str) -> Result<Option<i64>, Error> {
        self.text(name)
            .map(|value| {
                chrono::DateTime::parse_from_rfc3339(&value)
                    .map(|time| time.timestamp())
                    .map_err(|_| {
                        invalid(format!(
                            "parameter `{name}`: {value:?} is not an RFC 3339 date-time; expected e.g. 2024-05-01T00:00:00Z"
                        ))
                    })
            })
            .transpose()
    }

    /// A whole number within `min..=max`.
    ///
    /// # Errors
    /// `400` naming the parameter and the range.
    pub fn number(&self, name: &str, min: u32, max: u32) -> Result<Option<u32>, Error> {
        self.text(name)
            .map(|value| {
                value
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (min..=max).contains(n))
                    .ok_or_else(|| {
                        invalid(format!(
                            "parameter `{name}` must be a whole number from {min} to {max}"
                        ))
                    })
            })
            .transpose()
    }

    /// `true`/`false` (also `1`/`0`).
    ///
    /// # Errors
    /// `400` for anything else.
    pub fn flag(&self, name: &str) -> Result<bool, Error> {
        match self.text(name).as_deref() {
            None | Some("false" | "0") => Ok(false),
            Some("true" | "1") => Ok(true),
            Some(_) => Err(invalid(format!("parameter `{name}` must be true or false"))),
        }
    }

    /// A page's switch (`tv=1`, `sound=on`): on for `1`, `true`, `yes` or `on`, off otherwise.
    pub fn switch(&self, name: &str) -> bool {
        matches!(
            self.text(name).as_deref(),
            Some("1" | "true" | "yes" | "on")
        )
    }

    /// `branches=all` (triage looks at every branch) rather than `watched` (the default).
    ///
    /// # Errors
    /// `400` for anything else.
    pub fn all_branches(&self) -> Result<bool, Error> {
        Ok(self.one_of("branches", &["watched", "all"])?.as_deref() == Some("all"))
    }

    /// `sort=newest` (the default) or `oldest`: the order of triage's incidents.
    ///
    /// # Errors
    /// `400` for anything else.
    pub fn triage_order(&self) -> Result<Order, Error> {
        Ok(
            match self.one_of("sort", &["newest", "oldest"])?.as_deref() {
                Some("oldest") => Order::OldestFirst,
                _ => Order::NewestFirst,
            },
        )
    }

    /// `window=`, or `default` when absent.
    ///
    /// # Errors
    /// `400` for a window not in [`Window::NAMES`].
    pub fn window(&self, default: Window) -> Result<Window, Error> {
        match self.text("window") {
            None => Ok(default),
            Some(name) => Window::parse(&name).ok_or_else(|| {
                invalid(format!(
                    "parameter `window`: unknown value {name:?}; allowed: {}",
                    Window::NAMES.join(", ")
                ))
            }),
        }
    }

    /// The page cursor (`cursor=`), as sent in a previous `Link` header.
    ///
    /// # Errors
    /// `400` for a cursor this server did not make.
    pub fn cursor(&self) -> Result<Option<Cursor>, Error> {
        self.text("cursor")
            .map(|text| {
                Cursor::decode(&text)
                    .ok_or_else(|| invalid("parameter `cursor` is not a cursor from a Link header"))
            })
            .transpose()
    }

    /// The run filters ([`RUN_FILTERS`]).
    ///
    /// # Errors
    /// `400` for an unknown status or conclusion, a bad sha or date.
    pub fn run_filter(&self) -> Result<RunFilter, Error> {
        let sha = self.text("sha");
        if let Some(sha) = &sha {
            if !(7..=40).contains(&sha.len()) || !sha.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(invalid(
                    "parameter `sha` must be 7 to 40 hexadecimal characters",
                ));
            }
        }
        Ok(RunFilter {
            repo: self.list("repo")?,
            branch: self.branches()?,
            workflow: self.list("workflow")?,
            workflow_id: None,
            status: self.parsed("status", &STATUSES, Status::parse)?,
            conclusion: self.parsed("conclusion", &CONCLUSIONS, Conclusion::parse)?,
            author: self.list("author")?,
            event: self.text("event"),
            sha,
            since: self.time("since")?,
            until: self.time("until")?,
            scope: None,
            watched: None,
        })
    }

    /// `branch=` values, each a name or a valid glob.
    ///
    /// # Errors
    /// `400` for a malformed glob (`release/[`) or too many values.
    pub fn branches(&self) -> Result<Vec<String>, Error> {
        let branches = self.list("branch")?;
        for branch in branches.iter().filter(|b| is_glob(b)) {
            glob::Pattern::new(branch).map_err(|err| {
                invalid(format!(
                    "parameter `branch`: {branch:?} is not a branch glob: {err}"
                ))
            })?;
        }
        Ok(branches)
    }

    /// Applies `window=` (default `default`) to `filter` unless `since`/`until` were given; the two
    /// styles do not mix.
    ///
    /// # Errors
    /// `400` for an unknown window or a window given with since/until.
    pub fn apply_window(
        &self,
        filter: &mut RunFilter,
        default: Window,
        now: i64,
    ) -> Result<(), Error> {
        let explicit = filter.since.is_some() || filter.until.is_some();
        let window = self.window(default)?;
        match self.text("window") {
            Some(_) if explicit => {
                Err(invalid("give either `window` or `since`/`until`, not both"))
            }
            None if explicit => Ok(()),
            _ => {
                filter.since = Some(now - window.seconds());
                filter.until = Some(now);
                Ok(())
            }
        }
    }

    /// The parameters other than `cursor`, URL-encoded, for building `Link` URLs.
    pub fn without_cursor(&self) -> String {
        self.without(&["cursor"])
    }

    /// The parameters but `skip`, encoded in a stable order (for the links to other pages).
    pub fn without(&self, skip: &[&str]) -> String {
        let mut pairs: Vec<(&String, &String)> = self
            .0
            .iter()
            .filter(|(key, _)| !skip.contains(&key.as_str()))
            .flat_map(|(key, values)| values.iter().map(move |value| (key, value)))
            .collect();
        pairs.sort();
        let mut encoder = form_urlencoded::Serializer::new(String::new());
        for (key, value) in pairs {
            encoder.append_pair(key, value);
        }
        encoder.finish()
    }
}

/// `400 invalid_parameter` with `message`.
pub fn invalid(message: impl Into<String>) -> Error {
    Error::bad_request("invalid_parameter", message)
}
