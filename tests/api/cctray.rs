//! `GET /cc.xml`: well-formed CCTray XML with the right states, one project
//! per repository × workflow on watched branches, filters as on the board, and the board token.

use std::time::Duration;

use buildboard::config::Secret;

use crate::helpers::{spawn_app_with, TestApp};
use crate::notify::run;

/// `(name, activity, lastBuildStatus, lastBuildLabel, has lastBuildTime, webUrl)` per project.
fn projects(xml: &str) -> Vec<(String, String, String, String, bool, String)> {
    let doc = roxmltree::Document::parse(xml).unwrap_or_else(|err| panic!("{err}:\n{xml}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "Projects");
    root.children()
        .filter(roxmltree::Node::is_element)
        .map(|p| {
            assert_eq!(p.tag_name().name(), "Project");
            let attr = |name: &str| {
                p.attribute(name)
                    .unwrap_or_else(|| panic!("{name} missing"))
                    .to_owned()
            };
            let time = attr("lastBuildTime");
            (
                attr("name"),
                attr("activity"),
                attr("lastBuildStatus"),
                attr("lastBuildLabel"),
                chrono::DateTime::parse_from_rfc3339(&time).is_ok(),
                attr("webUrl"),
            )
        })
        .collect()
}

async fn deliver(app: &TestApp, id: i64, conclusion: Option<&str>, workflow: (i64, &str)) {
    app.deliver(
        "workflow_run",
        &format!("d-{id}"),
        &run(id, conclusion, Some(workflow)),
    )
    .await;
}

/// A branch of the fixture's run other than the default `master`.
async fn deliver_on_branch(app: &TestApp, id: i64, branch: &str) {
    let mut payload: serde_json::Value =
        serde_json::from_slice(&run(id, Some("failure"), Some((1, "Green & <Good>")))).unwrap();
    payload["workflow_run"]["head_branch"] = serde_json::json!(branch);
    app.deliver_json("workflow_run", &format!("d-{id}"), &payload)
        .await;
}

#[tokio::test]
async fn cc_xml_is_well_formed_with_one_project_per_workflow_and_the_right_states() {
    let app = spawn_app_with(|c| c.watch_branches = "release/*".parse().unwrap()).await;
    deliver(&app, 11, Some("success"), (1, "Green & <Good>")).await;
    deliver(&app, 21, Some("success"), (2, "Red")).await;
    deliver(&app, 22, Some("failure"), (2, "Red")).await;
    deliver(&app, 23, Some("cancelled"), (2, "Red")).await; // neutral: still Failure
    deliver(&app, 31, Some("success"), (3, "Busy")).await;
    deliver(&app, 32, None, (3, "Busy")).await; // in progress
    deliver(&app, 41, Some("startup_failure"), (4, "Broken start")).await;
    deliver(&app, 51, Some("skipped"), (5, "Never decided")).await;
    deliver_on_branch(&app, 61, "feature/x").await; // not watched: not listed
    deliver_on_branch(&app, 71, "release/1.0").await; // watched by glob

    let response = app.get("/cc.xml").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/xml; charset=utf-8"
    );
    let xml = response.text().await.unwrap();
    let got = projects(&xml);
    let summary: Vec<(&str, &str, &str, &str)> = got
        .iter()
        .map(|(n, a, s, l, _, _)| (n.as_str(), a.as_str(), s.as_str(), l.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            (
                "octo-org/octo-repo :: Broken start",
                "Sleeping",
                "Exception",
                "41"
            ),
            ("octo-org/octo-repo :: Busy", "Building", "Success", "31"),
            (
                "octo-org/octo-repo :: Green & <Good>",
                "Sleeping",
                "Success",
                "11"
            ),
            (
                "octo-org/octo-repo :: Green & <Good> [release/1.0]",
                "Sleeping",
                "Failure",
                "71"
            ),
            (
                "octo-org/octo-repo :: Never decided",
                "Sleeping",
                "Unknown",
                "51"
            ),
            ("octo-org/octo-repo :: Red", "Sleeping", "Failure", "22"),
        ],
        "{xml}"
    );
    assert!(
        got.iter().all(|p| p.4),
        "every lastBuildTime is ISO 8601: {xml}"
    );
    assert!(
        got.iter().all(|p| p
            .5
            .starts_with("https://github.com/octo-org/octo-repo/actions/runs/")),
        "{xml}"
    );

    // Filters as on the board.
    let red = projects(&app.get_text("/cc.xml?workflow=red").await);
    assert_eq!(red.len(), 1);
    assert_eq!(red[0].2, "Failure");
    let feature = projects(&app.get_text("/cc.xml?branch=feature/*").await);
    assert_eq!(feature.len(), 1, "naming a branch lists it, watched or not");
    assert!(feature[0].0.ends_with("[feature/x]"));
    let none = projects(&app.get_text("/cc.xml?repo=someone/else").await);
    assert!(none.is_empty());
    assert_eq!(app.get("/cc.xml?colour=red").await.status(), 400);
    app.stop().await;
}

#[tokio::test]
async fn cc_xml_honours_the_board_token() {
    const TOKEN: &str = "a-board-token-long-enough";
    let app = spawn_app_with(|c| c.board_token = Some(Secret::new(TOKEN))).await;
    app.deliver("workflow_run", "d-1", &run(1, Some("success"), None))
        .await;

    assert_eq!(app.get("/cc.xml").await.status(), 401);
    assert_eq!(app.get("/cc.xml?token=wrong").await.status(), 401);
    let with_query = app.get(&format!("/cc.xml?token={TOKEN}")).await;
    assert_eq!(
        with_query.status(),
        200,
        "the token in the URL is checked in place, no redirect"
    );
    assert_eq!(projects(&with_query.text().await.unwrap()).len(), 1);
    let with_header = app
        .http
        .get(app.url("/cc.xml"))
        .bearer_auth(TOKEN)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .unwrap();
    assert_eq!(with_header.status(), 200);
    app.stop().await;
}
