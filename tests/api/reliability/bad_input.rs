//! Absurd but well-signed input: huge texts, unicode and control characters, every timestamp
//! format GitHub uses, and values no parser should accept. Each is accepted or refused with its
//! precise status; a refused one changes nothing; the server never panics.

use serde_json::{json, Value};

use super::{post, Server};
use crate::helpers::{dump_database, json_at, webhook_json};
use buildboard::github::event::MAX_TEXT_BYTES;

/// 2020-10-05T16:33:24Z, the fixture's `created_at`.
const CREATED: i64 = 1_601_915_604;

/// The completed-run fixture as run `id`, with its own head commit so cases do not share rows.
fn run(id: i64) -> Value {
    let mut payload = webhook_json("workflow_run/completed.payload.json");
    let sha = format!("{id:040x}");
    payload["workflow_run"]["id"] = json!(id);
    payload["workflow_run"]["head_sha"] = json!(sha);
    payload["workflow_run"]["head_commit"]["id"] = json!(sha);
    payload
}

fn body(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap()
}

/// `run(id)` serialised, with the JSON text `"PLACEHOLDER"` replaced by `raw` (for what
/// `serde_json` would never write: lone surrogates, invalid UTF-8, absurd numbers, deep nesting).
fn raw_run(id: i64, field: &str, raw: &[u8]) -> Vec<u8> {
    let mut payload = run(id);
    let mut target = &mut payload;
    for key in field.split('.') {
        target = &mut target[key];
    }
    *target = json!("PLACEHOLDER");
    let text = body(&payload);
    let at = text
        .windows(13)
        .position(|w| w == b"\"PLACEHOLDER\"")
        .expect("the placeholder is in the body");
    [&text[..at], raw, &text[at + 13..]].concat()
}

struct Case {
    what: &'static str,
    event: &'static str,
    delivery: String,
    body: Vec<u8>,
    status: u16,
    /// For refusals: a text the error message must contain (the offending field).
    message: Option<&'static str>,
}

fn accepted(what: &'static str, body: Vec<u8>) -> Case {
    Case {
        what,
        event: "workflow_run",
        delivery: what.to_owned(),
        body,
        status: 200,
        message: None,
    }
}

fn refused(what: &'static str, body: Vec<u8>, message: &'static str) -> Case {
    Case {
        what,
        event: "workflow_run",
        delivery: what.to_owned(),
        body,
        status: 400,
        message: Some(message),
    }
}

/// The one row `sql` finds for `?1 = id`: a value or a tuple.
fn query<T: serde::de::DeserializeOwned>(db: &rusqlite::Connection, sql: &str, id: i64) -> T {
    buildboard::store::rows::one(db, sql, [id])
        .unwrap_or_else(|err| panic!("{sql} [{id}]: {err}"))
        .unwrap_or_else(|| panic!("{sql} [{id}]: no row"))
}

#[tokio::test]
async fn absurd_deliveries_are_accepted_or_refused_precisely_without_a_panic_or_a_stray_write() {
    // Arrange
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("buildboard.db");
    let server = Server::start(&db_path, &dir.path().join("server.log"), &[]).await;
    let http = reqwest::Client::new();
    let url = server.url("/webhook");

    let long_message = "ü".repeat(100_000); // 100,000 characters, 200,000 bytes
    let mut long = run(1);
    long["workflow_run"]["head_commit"]["message"] = json!(long_message);
    long["workflow_run"]["display_title"] = json!("t".repeat(100_000));

    let strange_name = "测试 🚀 \u{0}\u{7}\u{1b}[31mred\u{7f}\t\r\n\u{202e}evil\u{200b}";
    let strange_branch = "feature/ünïcödé-🌿\u{1}";
    let strange_message = "fix: NUL \u{0} BEL \u{7}\nsecond line \u{1b}[0m ∑";
    let mut strange = run(2);
    strange["workflow"]["id"] = json!(77);
    strange["workflow_run"]["workflow_id"] = json!(77);
    strange["workflow"]["name"] = json!(strange_name);
    strange["workflow_run"]["head_branch"] = json!(strange_branch);
    strange["workflow_run"]["head_commit"]["message"] = json!(strange_message);
    strange["workflow_run"]["display_title"] = json!(strange_message);
    strange["workflow_run"]["actor"]["login"] = json!("\u{0}🦀");

    let timestamps: [(i64, Value); 6] = [
        (10, json!("2020-10-05T16:33:24Z")),
        (11, json!("2020-10-05T16:33:24.000Z")),
        (12, json!("2020-10-05T08:33:24.000-08:00")),
        (13, json!(CREATED)),
        (14, json!(CREATED.to_string())),
        (15, json!(CREATED as f64 + 0.25)),
    ];
    let mut cases = vec![
        accepted("a 100,000-character commit message and title", body(&long)),
        accepted(
            "unicode and control characters in names and messages",
            body(&strange),
        ),
    ];
    for (id, created) in &timestamps {
        let mut payload = run(*id);
        payload["workflow_run"]["created_at"] = created.clone();
        payload["workflow_run"]["head_commit"]["timestamp"] = created.clone();
        cases.push(Case {
            delivery: format!("timestamp {created}"),
            ..accepted("a timestamp format GitHub uses", body(&payload))
        });
    }
    let timestamp = |id: i64, what: &'static str, value: Value| {
        let mut payload = run(id);
        payload["workflow_run"]["created_at"] = value;
        refused(what, body(&payload), "workflow_run.created_at")
    };
    cases.extend([
        timestamp(
            20,
            "a timestamp without a zone",
            json!("2020-10-05T16:33:24"),
        ),
        timestamp(21, "a timestamp in words", json!("yesterday")),
        timestamp(22, "a negative epoch", json!(-1)),
        timestamp(
            23,
            "an epoch after the year 9999",
            json!(253_402_300_800_i64),
        ),
        timestamp(24, "an empty timestamp", json!("")),
        timestamp(25, "a timestamp of the wrong type", json!({"seconds": 1})),
        timestamp(26, "a null created_at", Value::Null),
    ]);
    cases.extend([
        refused(
            "an epoch beyond 64 bits",
            raw_run(30, "workflow_run.created_at", b"1e300"),
            "workflow_run.created_at",
        ),
        refused(
            "a run id beyond 64 bits",
            raw_run(31, "workflow_run.id", b"18446744073709551616"),
            "workflow_run.id",
        ),
        refused(
            "a lone surrogate in a name",
            raw_run(32, "workflow.name", br#""\ud800""#),
            "workflow.name",
        ),
        refused(
            "invalid UTF-8 in a message",
            raw_run(33, "workflow_run.head_commit.message", b"\"\xff\xfe\""),
            "invalid unicode",
        ),
        // Skipped without recursion, so no stack overflow and nothing to refuse.
        accepted(
            "JSON nested 100,000 deep in an ignored field",
            raw_run(
                34,
                "workflow_run.pull_requests",
                &[vec![b'['; 100_000], vec![b']'; 100_000]].concat(),
            ),
        ),
        refused(
            "JSON nested 100,000 deep where a commit is expected",
            raw_run(
                38,
                "workflow_run.head_commit",
                &[vec![b'['; 100_000], vec![b']'; 100_000]].concat(),
            ),
            "workflow_run.head_commit",
        ),
        refused(
            "an unknown status",
            {
                let mut payload = run(35);
                payload["workflow_run"]["status"] = json!("exploded\u{0}");
                body(&payload)
            },
            "workflow_run.status",
        ),
        // reqwest sends no Content-Length for an empty body; warp wants one.
        Case {
            status: 411,
            ..refused("an empty body", Vec::new(), "Content-Length")
        },
        refused("JSON null", b"null".to_vec(), "invalid type"),
        refused(
            "a delivery id longer than 128 characters",
            body(&run(36)),
            "X-GitHub-Delivery",
        ),
    ]);
    if let Some(case) = cases.last_mut() {
        case.delivery = "d".repeat(129);
    }
    cases.push(Case {
        what: "an event name in the wrong case",
        event: "WORKFLOW_RUN",
        delivery: "wrong case".into(),
        body: body(&run(37)),
        status: 202,
        message: None,
    });

    // Act and assert, case by case
    for case in cases {
        let what = case.what;
        let before = dump_database(&rusqlite::Connection::open(&db_path).unwrap());
        let deliveries_before: i64 = rusqlite::Connection::open(&db_path)
            .unwrap()
            .query_row("SELECT COUNT(*) FROM deliveries", [], |r| r.get(0))
            .unwrap();
        let response = post(&http, &url, case.event, &case.delivery, case.body)
            .await
            .unwrap_or_else(|err| panic!("{what}: no answer ({err})"));
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        assert_eq!(status, case.status, "{what} ({}): {text}", case.delivery);
        if status == 200 {
            continue;
        }
        if let Some(expected) = case.message {
            let error: Value = serde_json::from_str(&text).unwrap();
            let message = error["error"]["message"].as_str().unwrap_or_default();
            assert!(message.contains(expected), "{what}: {message}");
        }
        let db = rusqlite::Connection::open(&db_path).unwrap();
        assert_eq!(
            dump_database(&db),
            before,
            "{what}: no row written or changed"
        );
        let deliveries: i64 = db
            .query_row("SELECT COUNT(*) FROM deliveries", [], |r| r.get(0))
            .unwrap();
        assert_eq!(
            deliveries, deliveries_before,
            "{what}: delivery not recorded"
        );
    }

    // The accepted values are stored as they should be.
    let db = rusqlite::Connection::open(&db_path).unwrap();
    let message: String = query(
        &db,
        "SELECT c.message FROM commits c JOIN workflowruns r ON r.commit_id = c.id WHERE r.id = ?1",
        1,
    );
    assert_eq!(message.len(), MAX_TEXT_BYTES, "cut to the cap");
    assert!(
        long_message.starts_with(&message),
        "cut at a character boundary"
    );
    let title: String = query(&db, "SELECT title FROM workflowruns WHERE id = ?1", 1);
    assert_eq!(title.len(), MAX_TEXT_BYTES);

    let name: String = query(&db, "SELECT name FROM workflows WHERE id = ?1", 77);
    assert_eq!(
        name, strange_name,
        "unicode and control characters kept as sent"
    );
    let branch: String = query(
        &db,
        "SELECT b.name FROM branches b JOIN workflowruns r ON r.branch_id = b.id WHERE r.id = ?1",
        2,
    );
    assert_eq!(branch, strange_branch);
    let (title, actor): (String, String) = query(
        &db,
        "SELECT title, actor FROM workflowruns WHERE id = ?1",
        2,
    );
    assert_eq!(
        (title.as_str(), actor.as_str()),
        (strange_message, "\u{0}🦀")
    );

    for (id, format) in &timestamps {
        let (created, committed): (i64, i64) = query(
            &db,
            "SELECT r.createtime, c.committime FROM workflowruns r
             JOIN commits c ON c.id = r.commit_id WHERE r.id = ?1",
            *id,
        );
        assert_eq!((created, committed), (CREATED, CREATED), "{format}");
    }
    let stored: i64 = db
        .query_row("SELECT COUNT(*) FROM workflowruns", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stored, 3 + timestamps.len() as i64, "only accepted runs");

    // The API and the board render the strange rows.
    let builds = json_at(&http, &server.url("/api/builds?per_page=100")).await;
    let strange_build = builds["builds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["id"] == 2)
        .expect("the strange run is listed");
    assert_eq!(strange_build["workflow"], strange_name);
    assert_eq!(strange_build["branch"], strange_branch);
    let board = http.get(server.url("/")).send().await.unwrap();
    assert_eq!(board.status(), 200);

    server.assert_no_panic_or_error();
    server.terminate();
}
