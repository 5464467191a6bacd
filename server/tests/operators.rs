//! Operator management and sessions through the real HTTP API: creating, roles, disabling
//! (with an open event stream closed at once), password changes, the session limit and
//! logging out everywhere.

mod support;

use app::server::clock::ManualClock;
use chrono::Utc;
use serde_json::{json, Value};
use support::*;

const PASSWORD: &str = "a long enough password";

async fn post(client: &reqwest::Client, url: String, body: Value) -> (u16, Value) {
    let res = client.post(url).json(&body).send().await.unwrap();
    let code = res.status().as_u16();
    (code, res.json().await.unwrap_or(Value::Null))
}

async fn create(s: &TestServer, admin: &reqwest::Client, name: &str, role: &str) -> i64 {
    let (code, body) = post(
        admin,
        s.url("/api/operators"),
        json!({"username": name, "password": PASSWORD, "role": role}),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    body["id"].as_i64().unwrap()
}

async fn status_code(client: &reqwest::Client, url: String) -> u16 {
    client.get(url).send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn admins_create_operators_with_checked_fields() {
    let (_dir, db) = fresh_db();
    let mut s = TestServer::start(&db, ManualClock::new(Utc::now())).await;
    let admin = s.admin().await;
    for (body, field) in [
        (
            json!({"username": "al", "password": PASSWORD, "role": "viewer"}),
            "username",
        ),
        (
            json!({"username": "alice", "password": "short pass", "role": "viewer"}),
            "password",
        ),
        (
            json!({"username": "alice", "password": PASSWORD, "role": "root"}),
            "role",
        ),
    ] {
        let (code, res) = post(&admin, s.url("/api/operators"), body).await;
        assert_eq!((code, res["error"]["field"].as_str()), (400, Some(field)));
    }
    create(&s, &admin, "alice", "viewer").await;
    let (code, _) = post(
        &admin,
        s.url("/api/operators"),
        json!({"username": "alice", "password": PASSWORD, "role": "admin"}),
    )
    .await;
    assert_eq!(code, 409, "names are unique");

    let alice = s.logged_in("alice", PASSWORD).await;
    let (code, _) = post(
        &alice,
        s.url("/api/operators"),
        json!({"username": "mallory", "password": PASSWORD, "role": "admin"}),
    )
    .await;
    assert_eq!(code, 403, "only admins manage operators");
    assert_eq!(status_code(&alice, s.url("/api/operators")).await, 403);

    let list: Vec<Value> = admin
        .get(s.url("/api/operators"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = list
        .iter()
        .map(|o| o["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["admin", "alice"]);
    assert!(list.iter().all(|o| o.get("password_hash").is_none()));

    // The last enabled admin can neither be demoted nor disable themselves.
    let admin_id = list[0]["id"].as_i64().unwrap();
    let (code, _) = post(
        &admin,
        s.url(&format!("/api/operators/{admin_id}/role")),
        json!({"role": "viewer"}),
    )
    .await;
    assert_eq!(code, 409);
    let (code, _) = post(
        &admin,
        s.url(&format!("/api/operators/{admin_id}/disable")),
        json!({}),
    )
    .await;
    assert_eq!(code, 409);

    let audit: Value = admin
        .get(s.url("/api/audit?action=operator.create"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let audit = audit["entries"].as_array().unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0]["actor"], "admin");
    assert_eq!(audit[0]["source_addr"], "127.0.0.1");
    s.stop().await;
}

#[tokio::test]
async fn disabling_an_operator_ends_their_sessions_and_event_stream_at_once() {
    let (_dir, db) = fresh_db();
    let mut s = TestServer::start(&db, ManualClock::new(Utc::now())).await;
    let admin = s.admin().await;
    let bob_id = create(&s, &admin, "bob", "operator").await;
    let bob = s.logged_in("bob", PASSWORD).await;
    let mut stream = SseReader::open(&bob, &s.url("/api/events")).await;
    assert_eq!(stream.next().await.unwrap().event, "state");

    let (code, body) = post(
        &admin,
        s.url(&format!("/api/operators/{bob_id}/disable")),
        json!({}),
    )
    .await;
    assert_eq!((code, body["disabled"].as_bool()), (200, Some(true)));
    assert!(stream.next().await.is_none(), "the stream ended");
    assert_eq!(
        status_code(&bob, s.url("/api/break-glass/status")).await,
        401
    );
    let res = s
        .client()
        .post(s.url("/api/auth/login"))
        .json(&json!({"username": "bob", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "a disabled operator cannot log in");

    let (code, _) = post(
        &admin,
        s.url(&format!("/api/operators/{bob_id}/enable")),
        json!({}),
    )
    .await;
    assert_eq!(code, 200);
    let bob = s.logged_in("bob", PASSWORD).await;
    assert_eq!(
        status_code(&bob, s.url("/api/break-glass/status")).await,
        200
    );

    // An admin's reset ends the sessions too, and only the new password works.
    let (code, body) = post(
        &admin,
        s.url(&format!("/api/operators/{bob_id}/password")),
        json!({"password": "short"}),
    )
    .await;
    assert_eq!(
        (code, body["error"]["field"].as_str()),
        (400, Some("password"))
    );
    let (code, _) = post(
        &admin,
        s.url(&format!("/api/operators/{bob_id}/password")),
        json!({"password": "a brand new password"}),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(
        status_code(&bob, s.url("/api/break-glass/status")).await,
        401
    );
    s.logged_in("bob", "a brand new password").await;
    s.stop().await;
}

#[tokio::test]
async fn at_most_five_sessions_and_logout_everywhere_ends_them_all() {
    let (_dir, db) = fresh_db();
    let mut s = TestServer::start(&db, ManualClock::new(Utc::now())).await;
    let admin = s.admin().await;
    create(&s, &admin, "carol", "viewer").await;
    let mut sessions = Vec::new();
    for _ in 0..6 {
        sessions.push(s.logged_in("carol", PASSWORD).await);
    }
    let mut codes = Vec::new();
    for c in &sessions {
        codes.push(status_code(c, s.url("/api/break-glass/status")).await);
    }
    assert_eq!(codes, [401, 200, 200, 200, 200, 200], "the oldest ended");

    // Logging out closes the event stream that the session had open.
    let mut stream = SseReader::open(&sessions[1], &s.url("/api/events")).await;
    assert_eq!(stream.next().await.unwrap().event, "state");
    let (code, _) = post(&sessions[1], s.url("/api/auth/logout"), json!({})).await;
    assert_eq!(code, 204);
    assert!(
        stream.next().await.is_none(),
        "the stream ended with the session"
    );

    let (code, body) = post(
        &sessions[5],
        s.url("/api/auth/logout-everywhere"),
        json!({}),
    )
    .await;
    assert_eq!((code, body["sessions_ended"].as_i64()), (200, Some(4)));
    for c in &sessions {
        assert_eq!(status_code(c, s.url("/api/break-glass/status")).await, 401);
    }
    s.stop().await;
}

#[tokio::test]
async fn changing_ones_own_password_needs_the_current_one_and_ends_other_sessions() {
    let (_dir, db) = fresh_db();
    let mut s = TestServer::start(&db, ManualClock::new(Utc::now())).await;
    let admin = s.admin().await;
    create(&s, &admin, "dave", "auditor").await;
    let here = s.logged_in("dave", PASSWORD).await;
    let elsewhere = s.logged_in("dave", PASSWORD).await;
    for (body, field) in [
        (
            json!({"current_password": "wrong password!", "new_password": "another long password"}),
            "current_password",
        ),
        (
            json!({"current_password": PASSWORD, "new_password": "too short"}),
            "new_password",
        ),
    ] {
        let (code, res) = post(&here, s.url("/api/auth/password"), body).await;
        assert_eq!((code, res["error"]["field"].as_str()), (400, Some(field)));
    }
    let (code, _) = post(
        &here,
        s.url("/api/auth/password"),
        json!({"current_password": PASSWORD, "new_password": "another long password"}),
    )
    .await;
    assert_eq!(code, 204);
    assert_eq!(
        status_code(&here, s.url("/api/break-glass/status")).await,
        200
    );
    assert_eq!(
        status_code(&elsewhere, s.url("/api/break-glass/status")).await,
        401
    );
    s.logged_in("dave", "another long password").await;
    s.stop().await;
}

/// Two admins demote (then disable) each other at the same moment, round after round: one of
/// them always remains an enabled admin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_admins_turning_on_each_other_at_once_still_leave_one() {
    let (_dir, db) = fresh_db();
    let mut s = TestServer::start(&db, ManualClock::new(Utc::now())).await;
    let admin = s.admin().await;
    let other = create(&s, &admin, "second-admin", "admin").await;
    let first: i64 = sqlx::query_scalar("SELECT id FROM operators WHERE username = 'admin'")
        .fetch_one(&s.db().await)
        .await
        .unwrap();
    let pool = s.db().await;
    for round in 0..20 {
        // Both are enabled admins again, each with a fresh session.
        sqlx::query("UPDATE operators SET role = 'admin', disabled = 0")
            .execute(&pool)
            .await
            .unwrap();
        let a = s.admin().await;
        let b = s.logged_in("second-admin", PASSWORD).await;
        let (action, body) = if round % 2 == 0 {
            ("role", json!({"role": "viewer"}))
        } else {
            ("disable", json!({}))
        };
        let (by_a, by_b) = tokio::join!(
            post(
                &a,
                s.url(&format!("/api/operators/{other}/{action}")),
                body.clone()
            ),
            post(
                &b,
                s.url(&format!("/api/operators/{first}/{action}")),
                body.clone()
            ),
        );
        let admins: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM operators WHERE role = 'admin' AND disabled = 0",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(admins, 1, "round {round} ({action}): {by_a:?} {by_b:?}");
        let mut codes = [by_a.0, by_b.0];
        codes.sort_unstable();
        // The other is told why: it would leave no admin (409), or, when its request was
        // authorised after the winner's change committed, it is no longer an admin (403) or,
        // disabled, no longer has a session (401).
        assert!(
            codes[0] == 200 && [401, 403, 409].contains(&codes[1]),
            "round {round}: one wins, the other is told why: {codes:?}"
        );
    }
    s.stop().await;
}
