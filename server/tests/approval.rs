//! The approval-required policy: an activation is a request that a second operator (never
//! the requester, only a role with break_glass:approve) approves or denies by the policy's
//! deadline; the window opens at the approval for the requested duration; a request nobody
//! decides lapses; every step is audited, alerted and pushed to every tab, and kept across a
//! restart.

mod support;

use app::server::clock::ManualClock;
use chrono::{TimeDelta, Utc};
use serde_json::{json, Value};
use support::*;

/// A server under the approval-required policy (20 minutes to decide), with an admin and
/// `sam`, a security manager.
async fn approval_server(db: &std::path::Path, clock: std::sync::Arc<ManualClock>) -> TestServer {
    let s = TestServer::start(db, clock).await;
    let admin = s.admin().await;
    let res = admin
        .put(s.url("/api/break-glass/policy"))
        .json(&json!({"mode": "approval", "approval_minutes": 20}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let policy: Value = res.json().await.unwrap();
    assert_eq!(
        (policy["mode"].as_str(), policy["approval_minutes"].as_u64()),
        (Some("approval"), Some(20))
    );
    assert_eq!(
        policy["ack_minutes"], 15,
        "a change keeps what it does not name"
    );
    s
}

#[tokio::test]
async fn a_request_waits_for_a_second_operator_and_the_window_opens_at_the_approval() {
    let (_dir, db) = fresh_db();
    let clock = ManualClock::new(Utc::now());
    let mut s = approval_server(&db, clock.clone()).await;
    let admin = s.admin().await;
    let sam = operator(&s, &admin, "sam", "security_manager").await;
    let viewer = operator(&s, &admin, "vera", "viewer").await;
    assert_eq!(status(&sam, &s).await["approval_required"], true);

    // Activating directly is refused, and the attempt audited.
    let (code, error) = post(
        &sam,
        s.url("/api/break-glass/activate"),
        activation("LiteLLM down again, INC-501", 60),
    )
    .await;
    assert_eq!(
        (code, error["error"]["code"].as_str()),
        (409, Some("approval_required"))
    );
    assert_eq!(
        count(
            &s,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'break_glass.activate_denied'"
        )
        .await,
        1
    );

    let mut events = SseReader::open(&admin, &s.url("/api/events")).await;
    events.next_named("state").await;
    let (code, requested) = post(
        &sam,
        s.url("/api/break-glass/request"),
        activation("LiteLLM down again, INC-501", 60),
    )
    .await;
    assert_eq!(code, 200, "{requested}");
    assert_eq!(requested["state"], "requested");
    assert_eq!(requested["requested_by"], "sam");
    assert_eq!(requested["active"], false);
    let requested_at = ts(&requested["requested_at"]);
    assert_eq!(
        ts(&requested["decide_by"]),
        requested_at + TimeDelta::minutes(20)
    );
    let event = events.next_named("state").await;
    assert_eq!(event.data["change"], "requested");
    assert_eq!(
        event.data["status"]["reason"],
        "LiteLLM down again, INC-501"
    );
    let alert = events.next_named("alert").await;
    assert!(alert.data["title"]
        .as_str()
        .unwrap()
        .contains("waiting for approval"));

    // A second request, or an activation, waits its turn.
    let (code, _) = post(
        &admin,
        s.url("/api/break-glass/request"),
        activation("another outage entirely", 30),
    )
    .await;
    assert_eq!(code, 409);

    // Never the requester; never a role without break_glass:approve.
    let note = json!({"note": "checked the incident channel"});
    let (code, error) = post(&sam, s.url("/api/break-glass/approve"), note.clone()).await;
    assert_eq!(
        (code, error["error"]["code"].as_str()),
        (403, Some("own_window"))
    );
    let (code, _) = post(&viewer, s.url("/api/break-glass/approve"), note.clone()).await;
    assert_eq!(code, 403);
    let (code, error) = post(
        &admin,
        s.url("/api/break-glass/approve"),
        json!({"note": "ok"}),
    )
    .await;
    assert_eq!(
        (code, error["error"]["field"].as_str()),
        (400, Some("note"))
    );

    clock.advance(TimeDelta::minutes(5));
    let (code, window) = post(&admin, s.url("/api/break-glass/approve"), note).await;
    assert_eq!(code, 200, "{window}");
    let approved_at = ts(&window["activated_at"]);
    assert!(approved_at >= requested_at + TimeDelta::minutes(5));
    assert_eq!(
        ts(&window["expires_at"]),
        approved_at + TimeDelta::minutes(60)
    );
    assert_eq!(window["activated_by"], "sam");
    let event = events.next_named("state").await;
    assert_eq!(event.data["change"], "approved");
    assert_eq!(event.data["status"]["active"], true);
    // The approver has answered for it: no acknowledgement is pending.
    assert_eq!(event.data["status"]["acknowledged_by"], "admin");
    assert_eq!(event.data["status"]["ack_overdue"], false);

    let actions: Vec<(String, String)> = sqlx::query_as(
        "SELECT action, actor FROM audit_log WHERE action IN \
         ('break_glass.request', 'break_glass.approve', 'break_glass.activate') ORDER BY id",
    )
    .fetch_all(&s.db().await)
    .await
    .unwrap();
    let actions: Vec<(&str, &str)> = actions
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    assert_eq!(
        actions,
        vec![
            ("break_glass.request", "sam"),
            ("break_glass.approve", "admin"),
            ("break_glass.activate", "sam"),
        ]
    );
    assert_eq!(
        count(
            &s,
            "SELECT COUNT(*) FROM break_glass_requests WHERE state = 'approved' \
             AND decided_by = 'admin' AND window_id IS NOT NULL"
        )
        .await,
        1
    );

    // The review says who asked, who approved, when, and why.
    let (code, _) = post(&admin, s.url("/api/break-glass/deactivate"), json!({})).await;
    assert_eq!(code, 200);
    let id = window["id"].as_i64().unwrap();
    let review: Value = admin
        .get(s.url(&format!("/api/reviews/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let approval = &review["window"]["approval"];
    assert_eq!(
        (
            approval["requested_by"].as_str(),
            approval["approved_by"].as_str()
        ),
        (Some("sam"), Some("admin"))
    );
    assert_eq!(approval["note"], "checked the incident channel");
    let report = admin
        .get(s.url(&format!("/api/reviews/{id}/report.md")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        report.contains("## Approval\n\nRequested by sam at")
            && report.contains("approved by admin at"),
        "{report}"
    );
    s.stop().await;
}

#[tokio::test]
async fn a_denied_or_undecided_request_opens_nothing_and_starts_no_cool_down() {
    let (_dir, db) = fresh_db();
    let clock = ManualClock::new(Utc::now());
    let mut s = approval_server(&db, clock.clone()).await;
    let admin = s.admin().await;
    let sam = operator(&s, &admin, "sam", "security_manager").await;
    let mut events = SseReader::open(&sam, &s.url("/api/events")).await;
    events.next_named("state").await;

    let (code, _) = post(
        &sam,
        s.url("/api/break-glass/request"),
        activation("shield path flapping", 30),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(events.next_named("state").await.data["change"], "requested");
    let (code, denied) = post(
        &admin,
        s.url("/api/break-glass/deny"),
        json!({"note": "LiteLLM is back, no bypass needed"}),
    )
    .await;
    assert_eq!(code, 200, "{denied}");
    assert_eq!(denied["state"], "inactive");
    assert_eq!(events.next_named("state").await.data["change"], "denied");

    // No cool-down: a new request is taken at once; nobody decides it in time.
    let (code, requested) = post(
        &sam,
        s.url("/api/break-glass/request"),
        activation("shield path flapping again", 30),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(events.next_named("state").await.data["change"], "requested");
    clock.advance(TimeDelta::minutes(20));
    let event = events.next_named("state").await;
    assert_eq!(event.data["change"], "request_lapsed");
    assert_eq!(event.data["status"]["state"], "inactive");
    let (code, _) = post(
        &admin,
        s.url("/api/break-glass/approve"),
        json!({"note": "too late for this one"}),
    )
    .await;
    assert_eq!(code, 409);
    assert_eq!(
        count(&s, "SELECT COUNT(*) FROM break_glass_windows").await,
        0,
        "nothing opened: {requested}"
    );
    assert_eq!(
        count(
            &s,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'break_glass.request_lapsed'"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &s,
            "SELECT COUNT(*) FROM alerts WHERE title = 'Break-Glass Request Lapsed'"
        )
        .await,
        1
    );
    s.stop().await;
}

#[tokio::test]
async fn a_request_waits_across_a_restart_and_lapses_while_the_server_is_down() {
    let (_dir, db) = fresh_db();
    let clock = ManualClock::new(Utc::now());
    let mut s = approval_server(&db, clock.clone()).await;
    let admin = s.admin().await;
    let sam = operator(&s, &admin, "sam", "security_manager").await;
    let (code, _) = post(
        &sam,
        s.url("/api/break-glass/request"),
        activation("restart during the request", 45),
    )
    .await;
    assert_eq!(code, 200);
    s.stop().await;

    let mut s = TestServer::start(&db, clock.clone()).await;
    let admin = s.admin().await;
    let now = status(&admin, &s).await;
    assert_eq!(
        (now["state"].as_str(), now["requested_by"].as_str()),
        (Some("requested"), Some("sam"))
    );
    assert_eq!(now["approval_required"], true, "the policy is kept too");
    s.stop().await;

    clock.advance(TimeDelta::minutes(21));
    let mut s = TestServer::start(&db, clock.clone()).await;
    let admin = s.admin().await;
    assert_eq!(status(&admin, &s).await["state"], "inactive");
    let lapsed: Vec<(String, i64)> =
        sqlx::query_as("SELECT state, decided_at FROM break_glass_requests")
            .fetch_all(&s.db().await)
            .await
            .unwrap();
    let decide_by: i64 = sqlx::query_scalar("SELECT decide_by FROM break_glass_requests")
        .fetch_one(&s.db().await)
        .await
        .unwrap();
    assert_eq!(
        lapsed,
        vec![("lapsed".to_owned(), decide_by)],
        "lapsed at its deadline"
    );
    s.stop().await;
}

#[tokio::test]
async fn two_approvers_at_once_open_one_window() {
    let (_dir, db) = fresh_db();
    let clock = ManualClock::new(Utc::now());
    let mut s = approval_server(&db, clock.clone()).await;
    let admin = s.admin().await;
    let requester = operator(&s, &admin, "rita", "security_manager").await;
    let sam = operator(&s, &admin, "sam", "security_manager").await;
    for round in 0..5 {
        let (code, body) = post(
            &requester,
            s.url("/api/break-glass/request"),
            activation(&format!("concurrent approvals, round {round}"), 15),
        )
        .await;
        assert_eq!(code, 200, "{body}");
        let note = json!({"note": "approving at the same moment"});
        let (a, b, d) = tokio::join!(
            post(&admin, s.url("/api/break-glass/approve"), note.clone()),
            post(&sam, s.url("/api/break-glass/approve"), note.clone()),
            post(&sam, s.url("/api/break-glass/deny"), note.clone()),
        );
        let codes = [a.0, b.0, d.0];
        assert_eq!(
            codes.iter().filter(|c| **c == 200).count(),
            1,
            "exactly one decision wins: {codes:?} {a:?} {b:?} {d:?}"
        );
        assert!(codes.iter().all(|c| [200, 409].contains(c)), "{codes:?}");
        if status(&admin, &s).await["active"] == true {
            let (code, _) = post(&admin, s.url("/api/break-glass/deactivate"), json!({})).await;
            assert_eq!(code, 200);
            clock.advance(TimeDelta::minutes(15));
            eventually("the cool-down ends", || async {
                status(&admin, &s).await["state"] == "inactive"
            })
            .await;
        }
    }
    assert_eq!(
        count(
            &s,
            "SELECT COUNT(*) FROM break_glass_requests WHERE state = 'pending'"
        )
        .await,
        0
    );
    let windows = count(&s, "SELECT COUNT(*) FROM break_glass_windows").await;
    let approved = count(
        &s,
        "SELECT COUNT(*) FROM break_glass_requests WHERE state = 'approved'",
    )
    .await;
    assert_eq!(windows, approved, "one window for each approval");
    s.stop().await;
}

#[tokio::test]
async fn the_review_gate_holds_a_new_window_until_a_second_operator_overrides_it() {
    let (_dir, db) = fresh_db();
    let clock = ManualClock::new(Utc::now());
    let mut s = TestServer::start(&db, clock.clone()).await;
    let admin = s.admin().await;
    let sam = operator(&s, &admin, "sam", "security_manager").await;
    let res = admin
        .put(s.url("/api/break-glass/policy"))
        .json(&json!({"review_gate": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // Nothing waits for review yet: the emergency policy opens at once.
    let (code, first) = post(
        &sam,
        s.url("/api/break-glass/activate"),
        activation("first outage of the day", 15),
    )
    .await;
    assert_eq!(code, 200, "{first}");
    let (code, _) = post(&sam, s.url("/api/break-glass/deactivate"), json!({})).await;
    assert_eq!(code, 200);
    clock.advance(TimeDelta::minutes(15));
    eventually("the cool-down ends", || async {
        status(&sam, &s).await["state"] == "inactive"
    })
    .await;

    // The first window waits for its review: a new one needs a second operator.
    let (code, error) = post(
        &sam,
        s.url("/api/break-glass/activate"),
        activation("second outage of the day", 15),
    )
    .await;
    assert_eq!(
        (code, error["error"]["code"].as_str()),
        (409, Some("review_pending"))
    );
    assert_eq!(error["error"]["window_id"], first["id"]);
    let (code, requested) = post(
        &sam,
        s.url("/api/break-glass/request"),
        activation("second outage of the day", 15),
    )
    .await;
    assert_eq!(code, 200, "{requested}");
    assert_eq!(requested["overrides_review_of"], first["id"]);
    assert_eq!(requested["approval_required"], false);
    let (code, window) = post(
        &admin,
        s.url("/api/break-glass/approve"),
        json!({"note": "first window reviewed verbally, override"}),
    )
    .await;
    assert_eq!(code, 200, "{window}");
    let approve: String =
        sqlx::query_scalar("SELECT details FROM audit_log WHERE action = 'break_glass.approve'")
            .fetch_one(&s.db().await)
            .await
            .unwrap();
    let approve: Value = serde_json::from_str(&approve).unwrap();
    assert_eq!(approve["overrides_review_of"], first["id"]);
    let message: String = sqlx::query_scalar(
        "SELECT message FROM alerts WHERE title LIKE 'Break-Glass Activated%approved by admin'",
    )
    .fetch_one(&s.db().await)
    .await
    .unwrap();
    assert!(
        message.contains(&format!("window #{} has not been reviewed", first["id"])),
        "{message}"
    );
    s.stop().await;
}

#[tokio::test]
async fn under_the_approval_policy_an_extension_waits_for_a_second_operator_too() {
    let (_dir, db) = fresh_db();
    let clock = ManualClock::new(Utc::now());
    let mut s = approval_server(&db, clock.clone()).await;
    let admin = s.admin().await;
    let sam = operator(&s, &admin, "sam", "security_manager").await;
    let (code, _) = post(
        &sam,
        s.url("/api/break-glass/request"),
        activation("LiteLLM down, INC-777", 30),
    )
    .await;
    assert_eq!(code, 200);
    let note = json!({"note": "checked on the incident bridge"});
    let (code, window) = post(&admin, s.url("/api/break-glass/approve"), note.clone()).await;
    assert_eq!(code, 200);
    let end = ts(&window["expires_at"]);
    let mut events = SseReader::open(&admin, &s.url("/api/events")).await;
    events.next_named("state").await;

    let ask = json!({"reason": "vendor still restoring", "minutes": 45});
    let (code, asked) = post(&sam, s.url("/api/break-glass/extend"), ask.clone()).await;
    assert_eq!(code, 200, "{asked}");
    assert_eq!(
        ts(&asked["expires_at"]),
        end,
        "nothing moves before the approval"
    );
    let event = events.next_named("state").await;
    assert_eq!(event.data["change"], "extension_requested");
    assert_eq!(event.data["status"]["extension_requested_by"], "sam");
    assert_eq!(event.data["status"]["extension_minutes"], 45);
    let (code, _) = post(&sam, s.url("/api/break-glass/extend"), ask.clone()).await;
    assert_eq!(code, 409, "one extension waits at a time");
    let (code, error) = post(&sam, s.url("/api/break-glass/approve"), note.clone()).await;
    assert_eq!(
        (code, error["error"]["code"].as_str()),
        (403, Some("own_window"))
    );

    let (code, extended) = post(&admin, s.url("/api/break-glass/approve"), note.clone()).await;
    assert_eq!(code, 200, "{extended}");
    assert_eq!(ts(&extended["expires_at"]), end + TimeDelta::minutes(45));
    let event = events.next_named("state").await;
    assert_eq!(event.data["change"], "extended");
    assert_eq!(event.data["status"]["extension_requested_by"], Value::Null);
    let by: String =
        sqlx::query_scalar("SELECT extended_by FROM break_glass_extensions WHERE minutes = 45")
            .fetch_one(&s.db().await)
            .await
            .unwrap();
    assert_eq!(by, "sam");

    // Denied: the end stays. Undecided: it lapses, and the end stays.
    let (code, _) = post(
        &sam,
        s.url("/api/break-glass/extend"),
        json!({"reason": "a little more time", "minutes": 15}),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(
        events.next_named("state").await.data["change"],
        "extension_requested"
    );
    let (code, _) = post(
        &admin,
        s.url("/api/break-glass/deny"),
        json!({"note": "wrap it up, no more"}),
    )
    .await;
    assert_eq!(code, 200);
    let event = events.next_named("state").await;
    assert_eq!(event.data["change"], "denied");
    assert_eq!(
        ts(&event.data["status"]["expires_at"]),
        end + TimeDelta::minutes(45)
    );
    let (code, _) = post(
        &sam,
        s.url("/api/break-glass/extend"),
        json!({"reason": "a little more time", "minutes": 15}),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(
        events.next_named("state").await.data["change"],
        "extension_requested"
    );
    clock.advance(TimeDelta::minutes(20));
    let event = events.next_named("state").await;
    assert_eq!(event.data["change"], "request_lapsed");
    assert_eq!(event.data["status"]["active"], true);
    assert_eq!(
        ts(&event.data["status"]["expires_at"]),
        end + TimeDelta::minutes(45)
    );
    assert_eq!(
        count(
            &s,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'break_glass.extend_request'"
        )
        .await,
        3
    );
    s.stop().await;
}

#[tokio::test]
async fn a_request_that_lapsed_while_its_replica_was_down_is_recorded_by_another() {
    let (_dir, db) = fresh_db();
    let clock = ManualClock::new(Utc::now());
    let mut a = approval_server(&db, clock.clone()).await;
    let mut b = TestServer::start(&db, clock.clone()).await;
    let on_a = a.admin().await;
    let sam = operator(&a, &on_a, "sam", "security_manager").await;
    let (code, _) = post(
        &sam,
        a.url("/api/break-glass/request"),
        activation("asked on the replica that then stopped", 30),
    )
    .await;
    assert_eq!(code, 200);
    a.stop().await;
    // Past the deadline, with nobody left to have recorded the lapse but B.
    clock.advance(TimeDelta::minutes(21));
    let sam_on_b = b.logged_in("sam", OPERATOR_PASSWORD).await;
    eventually("B takes a new request", || async {
        post(
            &sam_on_b,
            b.url("/api/break-glass/request"),
            activation("asked again on the other replica", 30),
        )
        .await
        .0 == 200
    })
    .await;
    assert_eq!(
        count(
            &b,
            "SELECT COUNT(*) FROM break_glass_requests WHERE state = 'lapsed'"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &b,
            "SELECT COUNT(*) FROM break_glass_requests WHERE state = 'pending'"
        )
        .await,
        1
    );
    b.stop().await;
}
