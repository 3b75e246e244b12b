//! `/setup`: one-click GitHub App setup from a manifest.
//!
//! While no App is configured, the server logs `http://HOST:PORT/setup?code=CODE` at start; the
//! code is random, held in memory only, compared in constant time, and it is also the manifest
//! flow's `state`. Steps, all plain HTML forms:
//!
//! 1. `GET /setup?code=C`: personal account or organisation, the App's name (≤ 34 characters).
//! 2. `GET /setup/manifest?code=C&...`: a form whose field `manifest` holds the manifest JSON
//!    and whose action is GitHub's `{github_url}/settings/apps/new?state=C` (or
//!    `/organizations/ORG/settings/apps/new`). This page's Content-Security-Policy lets forms post
//!    to GitHub's host; every other page's allows only the board itself.
//! 3. GitHub creates the App and sends the browser to `GET /setup/done?code=K&state=C`: the state
//!    is checked, `K` converted into the App's credentials, which are stored (never logged), and
//!    setup closes; the admin is sent to install the App on the repositories they choose.
//! 4. GitHub then sends the browser to the manifest's `setup_url`, `GET /setup/installed?
//!    installation_id=I`; `I` is never trusted, but checked through the API with the App's JWT.
//!
//! Setup stays closed while an App is configured (`buildboard setup --reset` reopens it).

use std::collections::HashMap;

use askama::Template;
use warp::http::{header, StatusCode};
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use super::{with_state, AppState};
use crate::github::app::{self, MAX_NAME_CHARS};
use crate::secret::Secret;

/// The one-time setup code, while setup is open.
#[derive(Clone, Default)]
pub struct SetupCode(Option<Secret>);

impl SetupCode {
    /// A new random code (when no App is configured), or none.
    pub fn new(open: bool) -> Self {
        Self(open.then(|| Secret::new(crate::github::oauth::random_token(24))))
    }

    /// Whether `given` is the code (constant-time).
    pub fn matches(&self, given: &str) -> bool {
        self.0
            .as_ref()
            .is_some_and(|code| crate::secret::same(given, code.expose()))
    }

    /// The full setup address for `origin` (`http://HOST:PORT`), to log at start.
    pub fn address(&self, origin: &str) -> Option<String> {
        self.0
            .as_ref()
            .map(|code| format!("{origin}/setup?code={}", code.expose()))
    }
}

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage<'a> {
    code: &'a str,
    name: &'a str,
    max_name: usize,
    public_url: &'a str,
}

#[derive(Template)]
#[template(path = "setup_manifest.html")]
struct ManifestPage<'a> {
    code: &'a str,
    name: &'a str,
    owner: &'a str,
    action: &'a str,
    manifest: &'a str,
}

#[derive(Template)]
#[template(path = "setup_message.html")]
struct MessagePage<'a> {
    title: &'a str,
    message: &'a str,
    link: &'a str,
    link_label: &'a str,
}

/// A page that says what happened, with a link onwards (empty: none).
pub(crate) fn message(
    status: StatusCode,
    title: &str,
    text: &str,
    link: &str,
    link_label: &str,
) -> Response {
    let page = MessagePage {
        title,
        message: text,
        link,
        link_label,
    };
    match page.render() {
        Ok(html) => warp::reply::with_status(warp::reply::html(html), status).into_response(),
        Err(err) => super::Error::Internal(err.into()).into_response(),
    }
}

fn html(page: askama::Result<String>) -> Response {
    match page {
        Ok(html) => warp::reply::html(html).into_response(),
        Err(err) => super::Error::Internal(err.into()).into_response(),
    }
}

type Query = HashMap<String, String>;

/// `/setup`, `/setup/manifest`, `/setup/done`, `/setup/installed`.
pub fn routes(state: AppState) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let query = warp::query::<Query>();
    let start = super::page_get(warp::path!("setup"), &state).map(show_setup);
    let manifest = super::page_get(warp::path!("setup" / "manifest"), &state).map(show_manifest);
    let done = warp::path!("setup" / "done")
        .and(warp::get())
        .and(query)
        .and(with_state(state.clone()))
        .then(finish_setup);
    let installed = warp::path!("setup" / "installed")
        .and(warp::get())
        .and(query)
        .and(with_state(state))
        .then(check_installation);
    start
        .or(manifest)
        .unify()
        .or(done)
        .unify()
        .or(installed)
        .unify()
        .with(warp::reply::with::header(header::CACHE_CONTROL, "no-store"))
}

/// The refusal, unless setup is open and `code` is the setup code.
fn refuse_code(state: &AppState, code: Option<&String>) -> Option<Response> {
    if state.github_app.credentials().is_some() {
        return Some(closed());
    }
    if code.is_some_and(|code| state.setup_code.matches(code)) {
        return None;
    }
    tracing::info!("setup refused: a missing or wrong setup code");
    Some(message(
        StatusCode::FORBIDDEN,
        "Setup needs its code",
        "Open the full setup address the server printed in its log at start (…/setup?code=…).",
        "",
        "",
    ))
}

fn closed() -> Response {
    message(
        StatusCode::GONE,
        "Setup is closed",
        "A GitHub App is already configured for this board. `buildboard setup --reset` forgets it \
         and reopens setup.",
        "/",
        "Open the board",
    )
}

/// The address GitHub and browsers reach the board at: `--public-url`, else this request's host
/// (the sign-in's callback address too).
pub(super) fn public_url(state: &AppState, host: Option<&str>) -> String {
    if let Some(url) = &state.config.public_url {
        return url.origin().to_owned();
    }
    let host: String = host
        .unwrap_or("localhost")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        .collect();
    format!("http://{host}")
}

fn show_setup(query: Query, host: Option<String>, state: AppState) -> Response {
    if let Some(refused) = refuse_code(&state, query.get("code")) {
        return refused;
    }
    let public_url = public_url(&state, host.as_deref());
    let host_name = public_url
        .split("://")
        .nth(1)
        .unwrap_or_default()
        .split(':')
        .next()
        .unwrap_or_default();
    let name: String = format!("buildboard-{host_name}")
        .chars()
        .take(MAX_NAME_CHARS)
        .collect();
    html(
        SetupPage {
            code: &query["code"],
            name: &name,
            max_name: MAX_NAME_CHARS,
            public_url: &public_url,
        }
        .render(),
    )
}

/// The origin (`scheme://host[:port]`) of `url`.
fn origin(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let end = url[after_scheme..]
        .find('/')
        .map_or(url.len(), |i| after_scheme + i);
    &url[..end]
}

fn bad(text: &str, code: &str) -> Response {
    message(
        StatusCode::BAD_REQUEST,
        "Check the form",
        text,
        &format!("/setup?code={code}"),
        "Back to setup",
    )
}

fn show_manifest(query: Query, host: Option<String>, state: AppState) -> Response {
    if let Some(refused) = refuse_code(&state, query.get("code")) {
        return refused;
    }
    let code = &query["code"];
    let name = query.get("name").map_or("", |n| n.trim());
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return bad(
            &format!("The App's name must have 1 to {MAX_NAME_CHARS} characters."),
            code,
        );
    }
    let github = state.config.github_url.trim_end_matches('/');
    let (owner, path) = if query.get("account").map(String::as_str) == Some("org") {
        let org = query.get("org").map_or("", |o| o.trim());
        let valid = !org.is_empty()
            && org.len() <= 39
            && org.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !valid {
            return bad(
                "Name the organisation by its login (letters, digits and hyphens).",
                code,
            );
        }
        (
            format!("the organisation {org}"),
            format!("/organizations/{org}/settings/apps/new"),
        )
    } else {
        (
            "your personal account".to_owned(),
            "/settings/apps/new".to_owned(),
        )
    };
    let action = format!("{github}{path}?state={code}");
    let acting = query.get("acting").is_some_and(|v| v == "1");
    let manifest = app::manifest(name, &public_url(&state, host.as_deref()), acting).to_string();
    let mut response = html(
        ManifestPage {
            code,
            name,
            owner: &owner,
            action: &action,
            manifest: &manifest,
        }
        .render(),
    );
    // This form posts to GitHub: the page's policy says so (see the module doc).
    let policy = super::CONTENT_SECURITY_POLICY.replace(
        "form-action 'self'",
        &format!("form-action 'self' {}", origin(github)),
    );
    if let Ok(value) = header::HeaderValue::from_str(&policy) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response
}

/// `GET /setup/done?code=K&state=C`: GitHub made the App; convert, store, send on to install.
async fn finish_setup(query: Query, state: AppState) -> Response {
    if state.github_app.credentials().is_some() {
        return closed();
    }
    let given_state = query.get("state").map_or("", String::as_str);
    if !state.setup_code.matches(given_state) {
        tracing::warn!("setup answer refused: its state is not this server's setup code");
        return message(
            StatusCode::FORBIDDEN,
            "This answer is not from your setup",
            "Its state does not match the setup this server started (a forged or replayed \
             link). Start again from the setup address in the server log.",
            "",
            "",
        );
    }
    let start_again = format!("/setup?code={given_state}");
    let Some(code) = query.get("code").filter(|c| !c.is_empty()) else {
        return bad("GitHub's answer has no code.", given_state);
    };
    let creds = match state.github_app.convert(code).await {
        Ok(creds) => creds,
        Err(app::Error::CodeExpired) => {
            tracing::warn!("setup: GitHub no longer knows the manifest code");
            return message(
                StatusCode::GONE,
                "This setup link has expired",
                "GitHub's code expired (it lasts an hour) or was already used. Start again.",
                &start_again,
                "Start again",
            );
        }
        Err(err) => {
            tracing::warn!(cause = %err, "setup: the manifest conversion failed");
            return message(
                StatusCode::BAD_GATEWAY,
                "GitHub did not hand over the App",
                &err.to_string(),
                &start_again,
                "Start again",
            );
        }
    };
    store_credentials(creds, &state).await
}

async fn store_credentials(creds: crate::store::app::AppRow, state: &AppState) -> Response {
    let row = creds.clone();
    let saved = state
        .ingest
        .write(move |conn| crate::store::app::save_app(conn, &row, super::now()))
        .await;
    match saved {
        Ok(true) => {}
        Ok(false) => return closed(),
        Err(err) => return super::Error::from(err).into_response(),
    }
    restrict_database_files(state.store.path());
    let install = format!(
        "{}/apps/{}/installations/new",
        state.config.github_url.trim_end_matches('/'),
        creds.slug
    );
    tracing::info!(
        app_id = creds.app_id,
        slug = %creds.slug,
        "GitHub App created and stored; setup is closed. Install it: {install}"
    );
    state.github_app.configure(creds);
    warp::reply::with_status(
        warp::reply::with_header(warp::reply(), header::LOCATION, install),
        StatusCode::SEE_OTHER,
    )
    .into_response()
}

/// Makes the database and its WAL files readable by their owner only: they now hold the App's
/// private key (a database made before this version may have been created with a wider mode).
fn restrict_database_files(db: &std::path::Path) {
    #[cfg(unix)]
    for suffix in ["", "-wal", "-shm"] {
        use std::os::unix::fs::PermissionsExt;
        let mut path = db.as_os_str().to_owned();
        path.push(suffix);
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
    }
}

/// `GET /setup/installed?installation_id=I`: GitHub's setup URL after an installation; `I` is
/// checked through the API, then the browser goes to the board.
async fn check_installation(query: Query, state: AppState) -> Response {
    let Some(id) = query
        .get("installation_id")
        .and_then(|id| id.parse::<i64>().ok())
    else {
        return message(
            StatusCode::BAD_REQUEST,
            "No installation",
            "GitHub's answer names no installation_id.",
            "/",
            "Open the board",
        );
    };
    match state
        .github_app
        .get_as_app("the installation", &format!("/app/installations/{id}"))
        .await
    {
        Ok(installation) => {
            let account = installation["account"]["login"].as_str().unwrap_or("?");
            tracing::info!(installation = id, account, "the App was installed");
            warp::reply::with_status(
                warp::reply::with_header(warp::reply(), header::LOCATION, "/"),
                StatusCode::SEE_OTHER,
            )
            .into_response()
        }
        Err(err) => {
            tracing::warn!(installation = id, cause = %err, "setup: an installation id GitHub does not confirm");
            message(
                StatusCode::BAD_REQUEST,
                "Unknown installation",
                "GitHub does not confirm this installation of the App.",
                "/",
                "Open the board",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_setup_code_matches_only_itself() {
        let code = SetupCode::new(true);
        let address = code.address("http://h:1").unwrap();
        let given = address.split("code=").nth(1).unwrap();
        assert!(code.matches(given));
        assert!(!code.matches("nope"));
        assert!(!SetupCode::new(false).matches(""));
    }

    #[test]
    fn origins_drop_the_path() {
        assert_eq!(origin("https://github.com"), "https://github.com");
        assert_eq!(origin("http://127.0.0.1:9/x/y"), "http://127.0.0.1:9");
    }
}
