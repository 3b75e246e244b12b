//! `GET /cc.xml`: the build state in the CCTray format, for CCMenu, CCTray, Nevergreen, BuildNotify
//! and other monitors:
//!
//! ```xml
//! <Projects>
//!   <Project name="octo-org/octo-repo :: CI" activity="Sleeping" lastBuildStatus="Success"
//!            lastBuildLabel="42" lastBuildTime="2026-11-30T01:02:03Z" webUrl="https://github.com/..."/>
//! </Projects>
//! ```
//!
//! One project per repository × workflow on watched branches (the branch is appended to the name
//! when it is not the default branch), or on the branches named with `branch=`; `repo=` and
//! `workflow=` filter as on the board. `activity` is `Building` while the latest run is not
//! completed; `lastBuildStatus` follows the latest completed run whose conclusion is not neutral
//! (as triage and notifications do): `Success`, `Failure`, `Exception` (the run failed to start),
//! or `Unknown` (none yet).
//!
//! With `--board-token`, the token is required like on the board: `Authorization: Bearer`, the
//! board cookie, or `?token=` (monitors often take only a URL; here the token is checked in place,
//! without the board's redirect, which such clients would not follow with a cookie).

use warp::http::{Response, StatusCode};
use warp::{Filter, Rejection, Reply};

use super::access::{Denied, COOKIE, TOKEN_PARAM};
use super::params::Params;
use super::{with_state, AppState, Error};
use crate::run_state::Conclusion;
use crate::scope::{Viewer, Who};
use crate::store::cctray::{self, Project};
use crate::views;

type Query = Vec<(String, String)>;

/// `GET /cc.xml`.
pub fn routes(state: AppState) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    warp::path!("cc.xml")
        .and(warp::get())
        .and(state.limits.reads.filter())
        .and(warp::query::<Query>())
        .and(warp::cookie::optional::<String>(COOKIE))
        .and(warp::header::optional::<String>("authorization"))
        .and(with_state(state))
        .and_then(
            |query: Query, cookie: Option<String>, auth: Option<String>, state: AppState| async move {
                let token = query
                    .iter()
                    .find(|(key, _)| key == TOKEN_PARAM)
                    .map(|(_, value)| format!("Bearer {value}"));
                // The address's token first: a CCTray client that gives one means it.
                let viewer = token
                    .as_deref()
                    .and_then(|bearer| state.access.viewer(None, Some(bearer)))
                    .filter(|viewer| !matches!(viewer.who(), Who::Anonymous))
                    .or_else(|| state.access.viewer(cookie.as_deref(), auth.as_deref()));
                let Some(viewer) = viewer else {
                    return Err(warp::reject::custom(Denied { wants_page: false }));
                };
                Ok::<_, Rejection>(feed(&viewer, query, state).await.map_or_else(
                    |err| err.into_response(),
                    |body| {
                        Response::builder()
                            .status(StatusCode::OK)
                            .header("content-type", "application/xml; charset=utf-8")
                            .header("cache-control", "private, no-store")
                            .body(body)
                            .expect("a valid response")
                            .into_response()
                    },
                ))
            },
        )
}

async fn feed(viewer: &Viewer, query: Query, state: AppState) -> Result<String, Error> {
    let params = Params::parse(query, &[&["repo", "branch", "workflow", TOKEN_PARAM]])?;
    let filter = viewer.restrict(params.run_filter()?);
    let watched = state.settings.watched();
    let projects = state
        .store
        .read(move |conn| cctray::projects(conn, &filter, &watched))
        .await?;
    Ok(render(&projects, &state.opts()))
}

/// The XML document for `projects`.
pub fn render(projects: &[Project], opts: &views::Opts) -> String {
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Projects>\n");
    for project in projects {
        let mut name = format!("{} :: {}", project.repo, project.workflow);
        if !project.default_branch {
            name.push_str(&format!(" [{}]", project.branch));
        }
        let shown = project.decisive.as_ref().or(project.latest.as_ref());
        let status = match project
            .decisive
            .as_ref()
            .and_then(|b| b.conclusion.as_ref())
        {
            Some(c) if c.is_green() => "Success",
            Some(Conclusion::StartupFailure) => "Exception",
            Some(c) if c.is_red() => "Failure",
            _ => "Unknown",
        };
        let label = shown.map_or_else(String::new, |b| {
            if b.run_number > 0 {
                b.run_number.to_string()
            } else {
                b.sha.get(..7).unwrap_or(&b.sha).to_owned()
            }
        });
        let time = shown
            .and_then(|b| b.completed_at.or(b.created_at))
            .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default();
        let url = project
            .latest
            .as_ref()
            .and_then(|b| views::safe_link(b.url.as_deref(), opts))
            .or_else(|| shown.and_then(|b| views::safe_link(b.url.as_deref(), opts)))
            .unwrap_or_default();
        xml.push_str(&format!(
            "  <Project name=\"{}\" activity=\"{}\" lastBuildStatus=\"{status}\" lastBuildLabel=\"{}\" lastBuildTime=\"{}\" webUrl=\"{}\"/>\n",
            escape(&name),
            if project.building { "Building" } else { "Sleeping" },
            escape(&label),
            escape(&time),
            escape(url),
        ));
    }
    xml.push_str("</Projects>\n");
    xml
}

/// Text for an XML attribute value: markup characters as entities, characters XML 1.0 cannot
/// carry dropped, and whitespace other than a space as character references (so that attribute
/// normalisation leaves it as it was).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_text_is_escaped_and_illegal_characters_dropped() {
        assert_eq!(
            escape("a&b<c>\"d'\u{1}\ne"),
            "a&amp;b&lt;c&gt;&quot;d&apos;&#10;e"
        );
    }
}
