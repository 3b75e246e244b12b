//! The settings page (`/settings`): what an admin changes while the server runs, the display and
//! API tokens, the telemetry secrets and the last changes; and its refusals.

use askama::Template;

use crate::store::settings::{Change, TelemetrySecret};
use crate::store::tokens::TokenInfo;

/// One setting as the page shows it.
#[derive(Debug, Clone, Default)]
pub struct Setting {
    /// The current value, as text for the form.
    pub value: String,
    /// The flag that fixes it (the form is off then).
    pub fixed_by: Option<&'static str>,
}

/// A notification target, its URL masked (a webhook URL is a credential).
#[derive(Debug, Clone)]
pub struct TargetRow {
    pub name: String,
    pub kind: &'static str,
    pub url: String,
    /// "repos: …; branches: …; workflows: …", or "every transition".
    pub filters: String,
}

/// A secret shown once, right after it was made.
#[derive(Debug, Clone)]
pub struct ShownOnce {
    /// What it is: "display token tv-lobby", "telemetry secret for o/r".
    pub label: String,
    pub secret: String,
}

/// The settings page's model.
#[derive(Debug, Clone, Default)]
pub struct SettingsView {
    /// Who is changing things: a login, or "the admin token".
    pub who: String,
    /// The synchronizer token every form carries.
    pub csrf: String,
    /// What the last action did, or why it was refused.
    pub notice: Option<String>,
    pub shown_once: Option<ShownOnce>,
    pub watch_branches: Setting,
    pub hide_authors: Setting,
    pub targets_fixed_by: Option<&'static str>,
    pub targets: Vec<TargetRow>,
    pub tokens: Vec<TokenInfo>,
    /// `(id, account)` of each installation, to scope a token to.
    pub installations: Vec<(i64, String)>,
    pub repos: Vec<String>,
    pub secrets: Vec<TelemetrySecret>,
    pub log: Vec<Change>,
    /// Whether the admin signed in with the admin token (they may sign out here).
    pub token_session: bool,
}

impl SettingsView {
    /// Whether names of people are hidden now.
    pub fn hiding(&self) -> bool {
        self.hide_authors.value == "true"
    }
}

/// What a token may read, for the list.
pub fn token_scope(token: &TokenInfo) -> String {
    match &token.repos {
        None => "every repository".into(),
        Some(repos) => super::cut(&repos.join(", "), 120),
    }
}

/// A time for the page: `2026-12-06 17:04 UTC`.
pub fn when(epoch: &i64) -> String {
    chrono::DateTime::from_timestamp(*epoch, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

/// A webhook URL without its secret part: its scheme and host, then "…".
pub fn mask_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = host.rsplit('@').next().unwrap_or_default();
    format!("{scheme}://{host}/…")
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage<'a> {
    v: &'a SettingsView,
}

/// The settings page.
///
/// # Errors
/// When the template fails to render.
pub fn settings(v: &SettingsView) -> askama::Result<String> {
    SettingsPage { v }.render()
}

/// Why the page is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Nobody is signed in: sign in with GitHub, or with the admin token.
    SignIn { github: bool, admin_token: bool },
    /// A signed-in person who is not an admin of any installation's account.
    NotAdmin,
    /// The admin token given to sign in was wrong.
    WrongToken,
    /// A form from another site, or without its CSRF token.
    CrossSite,
}

#[derive(Template)]
#[template(path = "settings_refused.html")]
struct RefusedPage<'a> {
    refusal: Refusal,
    login: &'a str,
}

/// The page that refuses `/settings`; `login` names a signed-in person who is not an admin.
///
/// # Errors
/// When the template fails to render.
pub fn settings_refused(refusal: Refusal, login: &str) -> askama::Result<String> {
    RefusedPage { refusal, login }.render()
}

#[derive(Template)]
#[template(path = "logout.html")]
struct LogoutPage<'a> {
    csrf: &'a str,
}

/// `GET /logout`: the form that signs out, with the session's CSRF token.
///
/// # Errors
/// When the template fails to render.
pub fn logout(csrf: &str) -> askama::Result<String> {
    LogoutPage { csrf }.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_masked_url_keeps_only_its_scheme_and_host() {
        assert_eq!(
            mask_url("https://hooks.slack.com/services/T0/B0/secretpart"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(
            mask_url("https://user:pw@chat.example:8443/hook?x=1"),
            "https://chat.example:8443/…"
        );
    }
}
