//! HTML rendering, all in one place: askama templates from `templates/`. Askama escapes every
//! value, so text from payloads (commit messages, names) always shows as text.

use askama::Template;

use crate::store::model::Build;

/// `/`: the recent runs, live.
#[derive(Template)]
#[template(path = "board.html")]
struct BoardPage<'a> {
    builds: &'a [Build],
}

/// Renders the board page.
///
/// # Errors
/// When a template fails to render (a bug: templates are checked at compile time).
pub fn board(builds: &[Build]) -> anyhow::Result<String> {
    Ok(BoardPage { builds }.render()?)
}

/// Short form of a commit hash.
pub fn short_sha(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

/// The state a cell shows: the conclusion once completed, else the status.
pub fn state_of(build: &Build) -> &str {
    build.conclusion.as_deref().unwrap_or(&build.status)
}
