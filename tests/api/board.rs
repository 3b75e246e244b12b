//! The board's server-rendered pages, against the real server and known rows: the figures shown,
//! escaping, filters, triage, the developer view and `--hide-authors`.

use crate::helpers::{next_of_type, spawn_app, spawn_app_with, TestApp};
use crate::seed::{self, insert, now, run, run_delivery};

/// The text of the HUD figure `id` (`<span class="value" id="…">TEXT</span>`).
fn figure(html: &str, id: &str) -> String {
    let start = html
        .find(&format!("id=\"{id}\">"))
        .unwrap_or_else(|| panic!("figure {id} in the page"))
        + id.len()
        + 6;
    html[start..start + html[start..].find('<').unwrap()].to_owned()
}

#[tokio::test]
async fn the_hud_shows_the_figures_of_known_rows_for_the_chosen_window() {
    // Arrange: three completed runs and one running today; one more three days ago.
    let app = spawn_app().await;
    let now = now();
    let mut runs = vec![run(1, now - 3600), run(2, now - 3000), run(3, now - 2400)];
    runs[1].runtime = Some(120);
    runs[1].queue = Some(20);
    runs[0].queue = Some(10);
    runs[2].conclusion = Some("failure");
    runs[2].runtime = Some(300);
    runs[2].queue = Some(30);
    let mut running = run(4, now - 600);
    running.status = "in_progress";
    running.conclusion = None;
    running.runtime = None;
    running.queue = Some(40);
    let mut old = run(5, now - 3 * 24 * 3600);
    old.runtime = Some(600);
    old.queue = Some(100);
    runs.extend([running, old]);
    insert(&app.db(), &runs);

    // Act
    let day = app.page("/waterfall").await;
    let week = app.page("/waterfall?window=7d").await;
    let hud_part = app.page("/waterfall?window=7d&part=hud").await;

    // Assert: 2 of 3 completed passed; (60+120+300)/3 s; (10+20+30+40)/4 s queue; 1 running.
    assert_eq!(figure(&day, "fig-success"), "67%");
    assert_eq!(figure(&day, "fig-failure"), "33%");
    assert_eq!(figure(&day, "fig-duration"), "2m 40s");
    assert_eq!(figure(&day, "fig-active"), "1");
    assert_eq!(figure(&day, "fig-queue"), "25s");
    // With the old run: 3 of 4; (60+120+300+600)/4 s; (10+20+30+40+100)/5 s.
    for html in [&week, &hud_part] {
        assert_eq!(figure(html, "fig-success"), "75%");
        assert_eq!(figure(html, "fig-failure"), "25%");
        assert_eq!(figure(html, "fig-duration"), "4m 30s");
        assert_eq!(figure(html, "fig-queue"), "40s");
    }
    assert!(
        week.contains("href=\"/waterfall?window=30d\""),
        "the window can be changed"
    );
    assert_eq!(
        day.matches("<rect class=\"bar").count(),
        3,
        "one bar per completed run in the window"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_waterfall_has_a_row_per_commit_and_a_cell_per_run_with_link_and_duration() {
    let app = spawn_app().await;
    let now = now();
    let mut lint = run(2, now - 100);
    lint.workflow_id = 11;
    lint.workflow = "Lint";
    lint.sha = run(1, 0).sha;
    lint.conclusion = Some("failure");
    let mut later = run(3, now - 50);
    later.status = "queued";
    later.conclusion = None;
    insert(&app.db(), &[run(1, now - 110), lint, later]);

    let html = app.page("/waterfall").await;

    assert_eq!(html.matches("<tr class=\"commit ").count(), 2);
    assert_eq!(html.matches("class=\"lane-head\"").count(), 2);
    let newest = html.find(&run(3, 0).sha).unwrap();
    let older = html.find(&run(1, 0).sha).unwrap();
    assert!(newest < older, "newest commit first");
    assert!(
        html.contains("<a class=\"run s-failure\" data-run-id=\"2\" href=\"/runs/2\""),
        "a cell leads to the run page first (GitHub is one click further)"
    );
    assert!(
        html.contains("title=\"CI #1 · passed · 1m 00s\""),
        "the duration shows on hover"
    );
    assert!(html.contains("class=\"run s-queued\""));
    assert!(html.contains("Change number 3") && html.contains(">alice<"));
    app.stop().await;
}

#[tokio::test]
async fn payload_text_is_escaped_and_cut_everywhere_it_is_shown() {
    // Arrange
    let app = spawn_app().await;
    let mut ws = app.connect_ws().await;
    next_of_type(&mut ws, "snapshot").await;
    let hostile = "<img src=x onerror=alert(1)>";
    let long = format!("{hostile} {}", "x".repeat(500));

    // Act
    app.deliver(
        "workflow_run",
        "hostile",
        &run_delivery(77, &"e".repeat(40), &long, Some("failure")),
    )
    .await;
    let message = next_of_type(&mut ws, "run").await;

    // Assert: in the pages, the parts and the live fragments, the message is text.
    let mut shown = vec![
        app.page("/waterfall").await,
        app.page("/waterfall?part=live").await,
        app.page("/triage").await,
        app.page("/developer/Codertocat").await,
    ];
    for part in ["cell", "row", "lane", "stream"] {
        shown.push(message["html"][part].as_str().unwrap().to_owned());
    }
    for html in &shown {
        assert!(!html.contains("<img"), "markup from a payload: {html}");
        assert!(!html.contains(&"x".repeat(150)), "long text is cut");
    }
    assert!(shown[0].contains("&#60;img src=x onerror=alert(1)&#62;"));
    assert_eq!(
        message["build"]["id"], 77,
        "the JSON fields stay as they were"
    );
    app.stop().await;
}

#[tokio::test]
async fn filters_narrow_every_view_and_are_kept_in_its_links() {
    let app = spawn_app().await;
    let now = now();
    let mut feature = run(2, now - 50);
    feature.branch = "feature/x";
    feature.conclusion = Some("failure");
    let mut main_red = run(3, now - 40);
    main_red.workflow_id = 11;
    main_red.workflow = "Lint";
    main_red.conclusion = Some("failure");
    insert(&app.db(), &[run(1, now - 100), feature, main_red]);

    let waterfall = app.page("/waterfall?branch=feature%2Fx").await;
    let triage = app.page("/triage?branch=feature%2Fx&workflow=CI").await;
    let none = app.page("/triage?branch=main&workflow=CI").await;

    assert!(waterfall.contains("data-run-id=\"2\""));
    assert!(!waterfall.contains("data-run-id=\"1\"") && !waterfall.contains("data-run-id=\"3\""));
    assert!(
        waterfall.contains("href=\"/triage?branch=feature%2Fx\""),
        "navigation keeps the filter"
    );
    assert!(
        waterfall.contains("value=\"feature/x\""),
        "the form shows the filter"
    );
    assert_eq!(triage.matches("<li class=\"red").count(), 1);
    assert!(triage.contains("data-run-id=\"2\""));
    assert!(none.contains("All green"), "CI on main is green");
    assert_eq!(app.get("/waterfall?window=1y").await.status(), 400);
    app.stop().await;
}

#[tokio::test]
async fn triage_shows_newest_first_since_when_the_streak_the_range_who_pushed_broken_and_flaky() {
    // Arrange: CI on main went red at bob's commit and stayed red at carol's (cancelled between);
    // Lint failed a commit, passed it on a re-run, then failed again.
    let app = spawn_app().await;
    let now = now();
    let green = run(1, now - 5000);
    let mut first_red = run(2, now - 4000);
    first_red.author = "bob".into();
    first_red.conclusion = Some("failure");
    let mut cancelled = run(3, now - 3500);
    cancelled.conclusion = Some("cancelled");
    let mut latest = run(4, now - 3000);
    latest.author = "carol".into();
    latest.conclusion = Some("timed_out");
    let mut rerun = run(5, now - 2000);
    rerun.workflow_id = 11;
    rerun.workflow = "Lint";
    rerun.earlier_attempts = vec!["failure"];
    let mut lint_red = run(6, now - 1000);
    lint_red.workflow_id = 11;
    lint_red.workflow = "Lint";
    lint_red.conclusion = Some("failure");
    insert(
        &app.db(),
        &[green, first_red, cancelled, latest, rerun, lint_red],
    );

    // Act
    let html = app.page("/triage").await;
    let oldest_first = app.page("/triage?sort=oldest").await;

    // Assert: the newest break first by default, the longest red first when asked.
    assert_eq!(html.matches("<li class=\"red").count(), 2);
    let ci = html.find("data-run-id=\"4\"").expect("CI's failing run");
    let lint = html.find("data-run-id=\"6\"").expect("Lint's failing run");
    assert!(lint < ci, "the newest break first");
    assert!(
        oldest_first.find("data-run-id=\"4\"") < oldest_first.find("data-run-id=\"6\""),
        "sort=oldest: red longest first"
    );
    let ci_item = &html[ci..];
    let lint_item = &html[lint..ci];
    assert!(ci_item.contains("2 runs in a row"));
    assert!(ci_item.contains(&format!(
        "last green <a class=\"sha\" href=\"https://github.com/acme/widgets/commit/{}\"",
        run(1, 0).sha
    )));
    assert!(ci_item.contains(&format!(
        "first red <a class=\"sha\" href=\"https://github.com/acme/widgets/commit/{}\"",
        run(2, 0).sha
    )));
    assert!(ci_item.contains("also pushed since: <a href=\"/developer/carol\">carol</a>"));
    assert!(
        ci_item.contains(
            "likely cause:</span> <a class=\"culprit\" href=\"/developer/bob\">bob</a> <span class=\"quiet\">started the first red run</span>"
        ),
        "the first red commit's author is the likely cause, apart from the others who pushed"
    );
    assert!(ci_item.contains("href=\"https://github.com/acme/widgets/actions/runs/4\""));
    assert!(!ci_item.contains("likely flaky"));
    assert!(
        ci_item.contains("class=\"verdict broken-tag\"")
            && ci_item.contains(">verdict: broken</span>"),
        "two commits in a row failed on every attempt: broken"
    );
    assert!(lint_item.contains("likely flaky"));
    app.stop().await;
}

#[tokio::test]
async fn when_nothing_is_red_triage_says_so() {
    let app = spawn_app().await;
    insert(&app.db(), &[run(1, now() - 10)]);
    let html = app.page("/triage").await;
    assert!(html.contains("id=\"all-green\"") && html.contains("All green"));
    app.stop().await;
}

#[tokio::test]
async fn the_developer_view_shows_a_persons_figures_and_what_of_theirs_is_running_or_red() {
    let app = spawn_app().await;
    let now = now();
    let mut bobs_red = run(2, now - 100);
    bobs_red.author = "bob".into();
    bobs_red.conclusion = Some("failure");
    bobs_red.runtime = Some(90);
    let mut bobs_green = run(3, now - 200);
    bobs_green.author = "bob".into();
    bobs_green.workflow_id = 11;
    bobs_green.workflow = "Lint";
    bobs_green.runtime = Some(30);
    let mut running = run(4, now - 10);
    running.author = "bob".into();
    running.workflow_id = 12;
    running.workflow = "Deploy";
    running.status = "in_progress";
    running.conclusion = None;
    running.runtime = None;
    let mut alices_running = run(5, now - 5);
    alices_running.status = "in_progress";
    alices_running.conclusion = None;
    alices_running.runtime = None;
    insert(
        &app.db(),
        &[
            run(1, now - 300),
            bobs_red,
            bobs_green,
            running,
            alices_running,
        ],
    );

    let bob = app.page("/developer/bob").await;
    let people = app.page("/developer").await;

    assert_eq!(figure(&bob, "fig-success"), "50%");
    assert_eq!(figure(&bob, "fig-duration"), "1m 00s");
    assert_eq!(figure(&bob, "fig-runs"), "3");
    assert!(bob.contains("Running now (1)") && bob.contains("Red now (1)"));
    assert!(
        !bob.contains("data-run-id=\"1\"") && !bob.contains("data-run-id=\"5\""),
        "alice's runs, finished or running, are not bob's"
    );
    assert!(
        people.contains("href=\"/developer/bob\"") && people.contains("href=\"/developer/alice\"")
    );
    app.stop().await;
}

#[tokio::test]
async fn hide_authors_removes_names_from_every_view_and_from_the_feed() {
    // Arrange
    let app = spawn_app_with(|config| config.hide_authors = true).await;
    let now = now();
    let mut red = run(2, now - 100);
    red.author = "secret-bob".into();
    red.conclusion = Some("failure");
    let mut green = run(1, now - 200);
    green.author = "secret-alice".into();
    insert(&app.db(), &[green, red]);
    let mut ws = app.connect_ws().await;
    let snapshot = next_of_type(&mut ws, "snapshot").await;

    // Act
    app.deliver(
        "workflow_run",
        "r1",
        &run_delivery(3, &"f".repeat(40), "msg", Some("success")),
    )
    .await;
    let message = next_of_type(&mut ws, "run").await;

    // Assert
    for path in [
        "/",
        "/waterfall",
        "/waterfall?part=live",
        "/triage",
        "/triage?part=live",
        "/developer",
        "/waterfall?tv=1",
    ] {
        let html = app.page(path).await;
        assert!(
            !html.contains("secret-") && !html.contains("Codertocat"),
            "{path}"
        );
        assert!(
            !html.contains("href=\"/developer\""),
            "{path}: no developer link"
        );
    }
    let hidden = app.get("/developer/secret-bob").await;
    assert_eq!(hidden.status(), 404);
    let feed = format!("{snapshot}{message}");
    assert!(!feed.contains("secret-") && !feed.contains("Codertocat") && !feed.contains("avatars"));
    assert_eq!(message["build"]["id"], 3);
    app.stop().await;
}

#[tokio::test]
async fn a_run_message_carries_the_waterfall_fragments_for_that_run() {
    let app = spawn_app().await;
    let mut first = app.connect_ws().await;
    let mut second = app.connect_ws().await;
    let hello = next_of_type(&mut first, "hello").await;
    assert_eq!(hello["generation"], 0);
    next_of_type(&mut second, "snapshot").await;

    app.deliver(
        "workflow_run",
        "r1",
        &run_delivery(42, &"a".repeat(40), "Hello", None),
    )
    .await;
    let one = next_of_type(&mut first, "run").await;
    let two = next_of_type(&mut second, "run").await;

    assert_eq!(one, two, "the same message, serialised once");
    assert_eq!(one["build"]["status"], "in_progress");
    let html = &one["html"];
    assert!(html["cell"]
        .as_str()
        .unwrap()
        .contains("class=\"run s-running\" data-run-id=\"42\""));
    assert!(html["row"]
        .as_str()
        .unwrap()
        .starts_with("<tr class=\"commit b-feature\" data-commit=\"octo-org/octo-repo@aaaaaaa"));
    assert!(html["lane"]
        .as_str()
        .unwrap()
        .contains("data-lane=\"2823525\""));
    assert!(html["stream"]
        .as_str()
        .unwrap()
        .contains("data-run-id=\"42\""));
    app.stop().await;
}

#[tokio::test]
async fn tv_mode_names_the_rotation_and_keeps_its_settings() {
    let app = spawn_app().await;
    seed::realistic(&app.db());
    let waterfall = app
        .page("/waterfall?tv=1&rotate=20&repo=acme%2Fwidgets")
        .await;
    let triage = app.page("/triage?tv=1&rotate=20&repo=acme%2Fwidgets").await;
    let stop = |view: &str, path: &str| {
        format!("[&#34;{view}&#34;,&#34;{path}?repo=acme%2Fwidgets&#38;tv=1&#38;rotate=20&#38;views=wall%2Ctriage&#38;page=8&#34;]")
    };
    let rotation = format!(
        "data-rotation=\"[{},{}]\"",
        stop("wall", "/wall"),
        stop("triage", "/triage")
    );
    assert!(
        waterfall.contains(&rotation),
        "the default rotation, in order"
    );
    assert!(triage.contains(&rotation));
    let pinned = app.page("/waterfall?tv=1&rotate=0").await;
    assert!(pinned.contains("data-rotation=\"\""), "rotate=0 stays put");
    assert!(waterfall.contains("class=\"view-waterfall tv\""));
    assert!(!waterfall.contains("<form"), "no form on a TV");
    assert!(
        waterfall.matches("<tr class=\"commit ").count() <= 12,
        "fits the screen"
    );
    app.stop().await;
}

/// The views that show an empty state ("All green", "No runs yet") when a filter selects nothing.
/// A view with such a state joins this list (`/` is the Wall, as `/wall`).
const VIEWS_WITH_AN_EMPTY_STATE: &[&str] = &["/waterfall", "/triage", "/wall"];

/// Asserts that `path` (a view with a filter naming something unknown) says so, names the
/// closest known name, and shows no empty state: on the page, its live part and on a TV.
async fn assert_says_unknown(app: &TestApp, path: &str, says: &str, suggests: &str) {
    let joiner = if path.contains('?') { '&' } else { '?' };
    for variant in ["", "part=live", "tv=1", "tv=1&part=live"] {
        let url = if variant.is_empty() {
            path.to_owned()
        } else {
            format!("{path}{joiner}{variant}")
        };
        let html = app.page(&url).await;
        assert!(html.contains("id=\"filter-unknown\""), "{url}: a notice");
        assert!(html.contains(says), "{url}: says {says:?}");
        assert!(
            html.contains("did you mean <a href=") && html.contains(suggests),
            "{url}: suggests {suggests:?}"
        );
        for empty in [
            "All green",
            "id=\"all-green\"",
            "No runs yet",
            "id=\"grid-empty\"",
        ] {
            assert!(!html.contains(empty), "{url}: shows {empty:?}");
        }
    }
}

#[tokio::test]
async fn a_filter_naming_an_unknown_repository_branch_or_workflow_never_shows_all_green_or_no_runs_yet(
) {
    // Arrange: an organisation on `main`, with nothing red on the default branches of most.
    let app = spawn_app().await;
    seed::organisation(&app.db(), &seed::Org::northwind(6, 3));
    let cases = [
        (
            "repo=northwind-labs%2Fpaymnts",
            "No repository named northwind-labs/paymnts",
            "northwind-labs/payments-service",
        ),
        ("branch=master", "No branch named master", ">main</a>"),
        (
            "repo=northwind-labs%2Fweb&branch=mian",
            "No branch named mian in northwind-labs/web",
            ">main</a>",
        ),
        ("workflow=Lnit", "No workflow named Lnit", ">Lint</a>"),
        (
            "repo=northwind-labs%2Fweb,northwind-labs%2Fwbe",
            "No repository named northwind-labs/wbe",
            "northwind-labs/web",
        ),
    ];

    for view in VIEWS_WITH_AN_EMPTY_STATE {
        for (query, says, suggests) in cases {
            // Act + Assert
            assert_says_unknown(&app, &format!("{view}?{query}"), says, suggests).await;
        }
    }
    // A known name that selects nothing still says what it is, not "No runs yet".
    let quiet = app
        .page("/waterfall?repo=northwind-labs%2Fweb&branch=feature%2Fnothing*")
        .await;
    assert!(quiet.contains("No branch matches feature/nothing*"));
    assert!(!quiet.contains("No runs yet"));
    app.stop().await;
}

#[tokio::test]
async fn filters_take_several_values_branch_globs_and_workflow_names_in_any_case() {
    // Arrange
    let app = spawn_app().await;
    seed::organisation(&app.db(), &seed::Org::northwind(4, 3));
    let shown = |html: &str, repo_id: i64| {
        html.contains(&format!("href=\"/runs/{}\"", 1_000_000 + repo_id * 10_000))
    };

    // Act
    let repeated = app
        .page("/waterfall?repo=northwind-labs%2Fweb&repo=northwind-labs%2Fbilling-api")
        .await;
    let commas = app
        .page("/waterfall?repo=northwind-labs%2Fweb,northwind-labs%2Fbilling-api")
        .await;
    let glob = app.page("/waterfall?branch=feature%2F*").await;
    let any_case = app.page("/waterfall?workflow=LINT,deploy").await;
    let bad_glob = app.get("/waterfall?branch=release%2F%5B").await;

    // Assert: repositories 102 and 103, not 101 or 104; runs of feature branches only (commit 2
    // of each); Lint and Deploy only (workflows 2 and 3, in repositories 103 and 104).
    for html in [&repeated, &commas] {
        assert!(shown(html, 102) && shown(html, 103), "both repositories");
        assert!(!shown(html, 101) && !shown(html, 104), "no other");
        assert!(
            html.contains("value=\"northwind-labs/web,northwind-labs/billing-api\"")
                || html.contains("value=\"northwind-labs/billing-api,northwind-labs/web\""),
            "the form shows both"
        );
        assert!(!html.contains("id=\"filter-unknown\""));
    }
    assert!(glob.contains("feature/change-0") && !glob.contains("data-run-id=\"2010000\""));
    assert_eq!(
        glob.matches("<tr class=\"commit ").count(),
        4,
        "one feature commit each"
    );
    assert!(
        any_case.contains("data-run-id=\"2030002\"")
            && any_case.contains("data-run-id=\"2040003\"")
    );
    assert!(
        !any_case.contains("data-run-id=\"2010000\"")
            && !any_case.contains("data-run-id=\"2030000\"")
    );
    assert_eq!(bad_glob.status(), 400);
    app.stop().await;
}

#[tokio::test]
async fn the_filter_form_offers_known_names_and_an_author() {
    let app = spawn_app().await;
    let repos = seed::organisation(&app.db(), &seed::Org::northwind(3, 2));

    let html = app.page("/triage").await;

    for name in repos.iter().map(|repo| &repo.name) {
        assert!(
            html.contains(&format!("<option value=\"{name}\">")),
            "{name}"
        );
    }
    assert!(html.contains("list=\"known-branches\"") && html.contains("<option value=\"main\">"));
    assert!(html.contains("<option value=\"Build and test / linux\">"));
    assert!(html.contains("name=\"author\""));
    let by_author = app.page("/waterfall?author=dev1").await;
    assert!(by_author.contains("value=\"dev1\""));
    assert!(
        by_author.contains("href=\"/triage?author=dev1\""),
        "navigation keeps it"
    );
    app.stop().await;
}
