//! The break-glass HTTP API end to end: a real server on a random port, a fresh SQLite file,
//! and a manual clock for expiry, cool-down and restart reconciliation.

mod support;

use app::server::clock::{Clock, ManualClock};
use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use sqlx::Row;
use support::*;

fn ts(v: &serde_json::Value) -> DateTime<Utc> {
    v.as_str().unwrap().parse().unwrap()
}

async fn post_json(
    client: &reqwest::Client,
    url: String,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let res = client.post(url).json(&body).send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(serde_json::Value::Null))
}

#[tokio::test]
async fn login_sets_a_strict_http_only_cookie_and_refuses_bad_credentials() {
    let (_dir, db) = fresh_db();
    let mut s = TestServer::start(&db, ManualClock::new(Utc::now())).await;
    let client = s.client();
    let (status, body) = post_json(
        &client,
        s.url("/api/auth/login"),
        serde_json::json!({"username": "admin", "password": "wrong password"}),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "bad_credentials");

    let (status, body) = post_json(
        &client,
        s.url("/api/auth/login"),
        serde_json::json!({"password": "x"}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["field"], "username");

    let res = client
        .post(s.url("/api/auth/login"))
        .json(&serde_json::json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("bg_session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let me: serde_json::Value = res.json().await.unwrap();
    assert_eq!(me["role"], "admin");

    // Failed and successful logins are both in the audit trail.
    let rows = sqlx::query("SELECT actor, action FROM audit_log ORDER BY id")
        .fetch_all(&s.db().await)
        .await
        .unwrap();
    let actions: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r.get("actor"), r.get("action")))
        .collect();
    assert_eq!(
        actions,
        vec![
            ("admin".into(), "auth.login_failed".into()),
            ("admin".into(), "auth.login".into())
        ]
    );

    let res = client.post(s.url("/api/auth/logout")).send().await.unwrap();
    assert_eq!(res.status(), 204);
    let res = client
        .get(s.url("/api/break-glass/status"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "the session ended with logout");
    s.stop().await;
}

/// The dialog's server function and the JSON API parse the same `ActivationRequest`: input
/// wrong in several fields names the same field first, whichever door it came through.
#[tokio::test]
async fn both_doors_name_the_same_field_first() {
    let (_dir, db) = fresh_db();
    let mut s = TestServer::start(&db, ManualClock::new(Utc::now())).await;
    let admin = s.admin().await;
    let (server_fn, _) = leptos::server_fn::axum::server_fn_paths()
        .find(|(path, _)| {
            server::access::server_fn_rule(path)
                .is_some_and(|(name, _)| name == "activate_break_glass")
        })
        .expect("the activation server function is registered");
    let cases = [
        (("short", "5", "no"), "reason"),
        (("short", "thirty", ""), "reason"),
        (("long enough reason", "5", "no"), "duration_minutes"),
        (("long enough reason", "thirty", "no"), "duration_minutes"),
        (("long enough reason", "30", "no"), "confirm"),
    ];
    for ((reason, minutes, confirm), field) in cases {
        let form = admin
            .post(s.url(server_fn))
            .header("accept", "application/json")
            .form(&[
                ("reason", reason),
                ("duration_minutes", minutes),
                ("confirm", confirm),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(form.status(), 400, "{reason}, {minutes}, {confirm}");
        let form: serde_json::Value = form.json().await.unwrap();
        let minutes_json = minutes
            .parse::<i64>()
            .map_or_else(|_| serde_json::json!(minutes), |m| serde_json::json!(m));
        let (status, api) = post_json(
            &admin,
            s.url("/api/break-glass/activate"),
            serde_json::json!({"reason": reason, "duration_minutes": minutes_json, "confirm": confirm}),
        )
        .await;
        assert_eq!(status, 400);
        assert_eq!(
            (&form["Invalid"]["field"], &api["error"]["field"]),
            (&serde_json::json!(field), &serde_json::json!(field)),
            "{reason}, {minutes}, {confirm}: {form} / {api}"
        );
        assert_eq!(form["Invalid"]["message"], api["error"]["message"]);
    }
    s.stop().await;
}

/// The login page's server function and `POST /api/auth/login` parse one `LoginRequest`: the
/// same input names the same field with the same message at both.
#[tokio::test]
async fn both_login_doors_name_the_same_field_first() {
    let (_dir, db) = fresh_db();
    let mut s = TestServer::start(&db, ManualClock::new(Utc::now())).await;
    let client = s.client();
    let (server_fn, _) = leptos::server_fn::axum::server_fn_paths()
        .find(|(path, _)| {
            server::access::server_fn_rule(path).is_some_and(|(name, _)| name == "login")
        })
        .expect("the login server function is registered");
    for ((username, password), field) in [
        (("", ""), "username"),
        (("   ", "x"), "username"),
        (("admin", ""), "password"),
    ] {
        let form = client
            .post(s.url(server_fn))
            .header("accept", "application/json")
            .form(&[("username", username), ("password", password)])
            .send()
            .await
            .unwrap();
        assert_eq!(form.status(), 400, "{username:?}, {password:?}");
        let form: serde_json::Value = form.json().await.unwrap();
        let (status, api) = post_json(
            &client,
            s.url("/api/auth/login"),
            serde_json::json!({"username": username, "password": password}),
        )
        .await;
        assert_eq!(status, 400);
        assert_eq!(
            (&form["Invalid"]["field"], &api["error"]["field"]),
            (&serde_json::json!(field), &serde_json::json!(field)),
            "{username:?}, {password:?}: {form} / {api}"
        );
        assert_eq!(form["Invalid"]["message"], api["error"]["message"]);
    }
    s.stop().await;
}

#[tokio::test]
async fn every_route_needs_a_session() {
    let (_dir, db) = fresh_db();
    let mut s = TestServer::start(&db, ManualClock::new(Utc::now())).await;
    let client = s.client();
    for (method, path) in [
        ("GET", "/api/break-glass/status"),
        ("POST", "/api/break-glass/activate"),
        ("POST", "/api/break-glass/deactivate"),
        ("GET", "/api/events"),
    ] {
        let req = match method {
            "GET" => client.get(s.url(path)),
            _ => client
                .post(s.url(path))
                .json(&activation("shield is down", 30)),
        };
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 401, "{method} {path}");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    // Every page of the UI's router but the login page, with a parameter filled in.
    let pages: Vec<String> = leptos_axum::generate_route_list(app::App)
        .iter()
        .map(|r| r.path().replace("{id}", "1"))
        .filter(|p| p != "/login")
        .collect();
    assert!(pages.iter().any(|p| p == "/configuration") && pages.iter().any(|p| p == "/reviews/1"));
    for page in pages {
        let res = client.get(s.url(&page)).send().await.unwrap();
        assert_eq!(res.status(), 303, "{page}");
        assert_eq!(res.headers()["location"], "/login", "{page}");
    }
    let res = client.get(s.url("/login")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    s.stop().await;
}

#[tokio::test]
async fn invalid_activations_name_the_field_and_the_rule() {
    let (_dir, db) = fresh_db();
    let mut s = TestServer::start(&db, ManualClock::new(Utc::now())).await;
    let admin = s.admin().await;
    let cases = [
        (
            serde_json::json!({"reason": "too short", "duration_minutes": 30, "confirm": "CONFIRM"}),
            "reason",
            "Reason must be at least 10 characters (now 9)",
        ),
        (
            serde_json::json!({"duration_minutes": 30, "confirm": "CONFIRM"}),
            "reason",
            "Reason is required: text of 10 to 500 characters",
        ),
        (
            serde_json::json!({"reason": "x".repeat(501), "duration_minutes": 30, "confirm": "CONFIRM"}),
            "reason",
            "Reason must be at most 500 characters (now 501)",
        ),
        (
            serde_json::json!({"reason": "shield is down", "duration_minutes": 14, "confirm": "CONFIRM"}),
            "duration_minutes",
            "Duration must be between 15 minutes and 4 hours (240 minutes), in whole minutes",
        ),
        (
            serde_json::json!({"reason": "shield is down", "duration_minutes": 241, "confirm": "CONFIRM"}),
            "duration_minutes",
            "Duration must be between 15 minutes and 4 hours (240 minutes), in whole minutes",
        ),
        (
            serde_json::json!({"reason": "shield is down", "duration_minutes": 30.5, "confirm": "CONFIRM"}),
            "duration_minutes",
            "Duration must be a whole number of minutes between 15 and 240",
        ),
        (
            serde_json::json!({"reason": "shield is down", "duration_minutes": 30, "confirm": "confirm"}),
            "confirm",
            "Type CONFIRM exactly: capital letters, no spaces before or after",
        ),
        (
            serde_json::json!({"reason": "shield is down", "duration_minutes": 30, "confirm": "CONFIRM "}),
            "confirm",
            "Type CONFIRM exactly: capital letters, no spaces before or after",
        ),
        (
            serde_json::json!(["not", "an", "object"]),
            "body",
            "The request body must be a JSON object",
        ),
    ];
    for (body, field, message) in cases {
        let (status, err) =
            post_json(&admin, s.url("/api/break-glass/activate"), body.clone()).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(err["error"]["field"], field, "{body}");
        assert_eq!(err["error"]["message"], message, "{body}");
    }
    let res = admin
        .post(s.url("/api/break-glass/activate"))
        .header("content-type", "text/plain")
        .body("reason=x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let err: serde_json::Value = res.json().await.unwrap();
    assert_eq!(err["error"]["field"], "body");
    // Nothing was opened by any of them.
    let status: serde_json::Value = admin
        .get(s.url("/api/break-glass/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["active"], false);
    s.stop().await;
}

#[tokio::test]
async fn activate_conflict_deactivate_and_cool_down() {
    let (_dir, db) = fresh_db();
    let start = Utc::now().trunc_subsecs(3);
    let clock = ManualClock::new(start);
    let mut s = TestServer::start(&db, clock.clone()).await;
    let admin = s.admin().await;

    let (status, window) = post_json(
        &admin,
        s.url("/api/break-glass/activate"),
        activation("  LiteLLM proxy is down  ", 60),
    )
    .await;
    assert_eq!(status, 200, "{window}");
    assert_eq!(window["reason"], "LiteLLM proxy is down");
    assert_eq!(window["duration_minutes"], 60);
    assert_eq!(window["activated_by"], "admin");
    assert_eq!(
        ts(&window["expires_at"]) - ts(&window["activated_at"]),
        TimeDelta::minutes(60)
    );

    let status: serde_json::Value = admin
        .get(s.url("/api/break-glass/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["active"], true);
    assert_eq!(status["state"], "active");
    assert_eq!(status["remaining_seconds"], 3600);
    assert_eq!(status["duration_minutes"], 60);
    assert_eq!(status["activated_by"], "admin");
    assert_eq!(status["cool_down_remaining_seconds"], 0);
    assert_eq!(ts(&status["server_time"]), start);

    let (code, err) = post_json(
        &admin,
        s.url("/api/break-glass/activate"),
        activation("a second window please", 30),
    )
    .await;
    assert_eq!(code, 409);
    assert_eq!(err["error"]["code"], "already_active");
    assert_eq!(ts(&err["error"]["expires_at"]), ts(&window["expires_at"]));

    // Traffic during the window: three BYPASSED (one outside the window) and one scanned.
    let db_pool = s.db().await;
    let activated_ms = ts(&window["activated_at"]).timestamp_millis();
    for (offset_ms, verdict, score) in [
        (1_000, "BYPASSED", None),
        (60_000, "BYPASSED", None),
        (120_000, "ALLOW", Some(3)),
        (-5_000, "BYPASSED", None),
        (300_000, "BYPASSED", None),
    ] {
        sqlx::query(
            "INSERT INTO traffic (at, source, verdict, score) VALUES ($1, 'break-glass', $2, $3)",
        )
        .bind(activated_ms + offset_ms)
        .bind(verdict)
        .bind(score)
        .execute(&db_pool)
        .await
        .unwrap();
    }

    clock.advance(TimeDelta::minutes(7) + TimeDelta::seconds(20));
    let (code, summary) = post_json(
        &admin,
        s.url("/api/break-glass/deactivate"),
        serde_json::json!({}),
    )
    .await;
    assert_eq!(code, 200, "{summary}");
    assert_eq!(summary["duration_actual_minutes"], 8, "7m20s rounds up");
    assert_eq!(summary["unscanned_traffic"], 3);

    let (code, err) = post_json(
        &admin,
        s.url("/api/break-glass/deactivate"),
        serde_json::json!({}),
    )
    .await;
    assert_eq!(code, 409);
    assert_eq!(err["error"]["code"], "not_active");

    // Cool-down: 429 with Retry-After for exactly 15 minutes after the end.
    clock.advance(TimeDelta::minutes(5));
    let res = admin
        .post(s.url("/api/break-glass/activate"))
        .json(&activation("shield still flaky", 15))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    assert_eq!(res.headers()["retry-after"], "600");
    let err: serde_json::Value = res.json().await.unwrap();
    assert_eq!(err["error"]["code"], "cooling_down");
    assert_eq!(err["error"]["retry_after_seconds"], 600);
    let status: serde_json::Value = admin
        .get(s.url("/api/break-glass/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["state"], "cooling_down");
    assert_eq!(status["cool_down_remaining_seconds"], 600);

    clock.advance(TimeDelta::minutes(10) - TimeDelta::milliseconds(1));
    let (code, _) = post_json(
        &admin,
        s.url("/api/break-glass/activate"),
        activation("shield still flaky", 15),
    )
    .await;
    assert_eq!(code, 429, "one millisecond before the cool-down ends");
    clock.advance(TimeDelta::milliseconds(1));
    let (code, _) = post_json(
        &admin,
        s.url("/api/break-glass/activate"),
        activation("shield still flaky", 15),
    )
    .await;
    assert_eq!(code, 200, "the cool-down is exactly 15 minutes");

    // The record: the ended window, its alerts, its audit entries.
    let row = sqlx::query("SELECT end_kind, ended_by, unscanned_count, ended_at - activated_at AS ms FROM break_glass_windows WHERE id = 1")
        .fetch_one(&db_pool)
        .await
        .unwrap();
    assert_eq!(row.get::<String, _>("end_kind"), "deactivated");
    assert_eq!(row.get::<String, _>("ended_by"), "admin");
    assert_eq!(row.get::<i64, _>("unscanned_count"), 3);
    assert_eq!(row.get::<i64, _>("ms"), 440_000);
    let titles: Vec<(String, String)> =
        sqlx::query("SELECT severity, title FROM alerts ORDER BY id")
            .fetch_all(&db_pool)
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get("severity"), r.get("title")))
            .collect();
    assert_eq!(
        titles,
        vec![
            (
                "CRITICAL".into(),
                "Break-Glass Activated — Shield bypass for 60 minutes".into()
            ),
            ("HIGH".into(), "Break-Glass Deactivated".into()),
            (
                "CRITICAL".into(),
                "Break-Glass Activated — Shield bypass for 15 minutes".into()
            ),
        ]
    );
    let end_alert: String = sqlx::query_scalar("SELECT message FROM alerts WHERE id = 2")
        .fetch_one(&db_pool)
        .await
        .unwrap();
    assert!(
        end_alert.contains("after 8 minutes active")
            && end_alert.contains("3 requests passed unscanned"),
        "{end_alert}"
    );
    let activate_details: String = sqlx::query_scalar(
        "SELECT details FROM audit_log WHERE action = 'break_glass.activate' ORDER BY id LIMIT 1",
    )
    .fetch_one(&db_pool)
    .await
    .unwrap();
    let details: serde_json::Value = serde_json::from_str(&activate_details).unwrap();
    assert_eq!(details["reason"], "LiteLLM proxy is down");
    assert_eq!(details["duration_minutes"], 60);
    let denied: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'break_glass.activate_denied'",
    )
    .fetch_one(&db_pool)
    .await
    .unwrap();
    assert_eq!(
        denied, 3,
        "the conflict and both cool-down refusals are audited"
    );
    s.stop().await;
}

#[tokio::test]
async fn fifty_concurrent_activations_give_one_window() {
    let (_dir, db) = fresh_db();
    let mut s = TestServer::start(&db, ManualClock::new(Utc::now())).await;
    let admin = s.admin().await;
    let requests = (0..50).map(|i| {
        let admin = admin.clone();
        let url = s.url("/api/break-glass/activate");
        async move {
            admin
                .post(url)
                .json(&activation(&format!("concurrent request {i}"), 30))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    });
    let codes = futures::future::join_all(requests).await;
    assert_eq!(codes.iter().filter(|c| **c == 200).count(), 1, "{codes:?}");
    assert_eq!(codes.iter().filter(|c| **c == 409).count(), 49, "{codes:?}");
    let windows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM break_glass_windows")
        .fetch_one(&s.db().await)
        .await
        .unwrap();
    assert_eq!(windows, 1);
    s.stop().await;
}

#[tokio::test]
async fn the_database_refuses_a_second_open_window_and_activation_in_cool_down() {
    let (_dir, db) = fresh_db();
    let mut s = TestServer::start(&db, ManualClock::new(Utc::now())).await;
    let pool = s.db().await;
    // The database alone is under test: a running server would take the rows written here
    // as its state and record their expiry.
    s.stop().await;
    let insert = |at: i64| {
        sqlx::query("INSERT INTO break_glass_windows (activated_at, expires_at, duration_minutes, reason, activated_by) VALUES ($1, $2, 15, 'written directly', 'test')")
            .bind(at)
            .bind(at + 900_000)
            .execute(&pool)
    };
    insert(1_000).await.unwrap();
    let err = insert(2_000).await.unwrap_err();
    assert!(err.to_string().to_lowercase().contains("unique"), "{err}");
    sqlx::query("UPDATE break_glass_windows SET ended_at = 5000, end_kind = 'deactivated', ended_by = 'test', unscanned_count = 0")
        .execute(&pool)
        .await
        .unwrap();
    let err = insert(5_000 + 899_999).await.unwrap_err();
    assert!(err.to_string().contains("cool-down"), "{err}");
    insert(5_000 + 900_000).await.unwrap();
    let err = sqlx::query("DELETE FROM audit_log").execute(&pool).await;
    assert!(err.is_ok(), "deleting nothing is allowed");
    sqlx::query("INSERT INTO audit_log (at, actor, action) VALUES (1, 'x', 'y')")
        .execute(&pool)
        .await
        .unwrap();
    let err = sqlx::query("UPDATE audit_log SET actor = 'someone else'")
        .execute(&pool)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    let err = sqlx::query("DELETE FROM audit_log")
        .execute(&pool)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    s.stop().await;
}

#[tokio::test]
async fn the_server_expires_the_window_at_expires_at() {
    let (_dir, db) = fresh_db();
    let clock = ManualClock::new(Utc::now());
    let mut s = TestServer::start(&db, clock.clone()).await;
    let admin = s.admin().await;
    let mut events = SseReader::open(&admin, &s.url("/api/events")).await;
    let first = events.next().await.unwrap();
    assert_eq!(first.event, "state");
    assert_eq!(first.data["status"]["state"], "inactive");

    let (_, window) = post_json(
        &admin,
        s.url("/api/break-glass/activate"),
        activation("shield outage INC-42", 15),
    )
    .await;
    let activated = events.next_named("state").await;
    assert_eq!(activated.data["change"], "activated");

    clock.advance(TimeDelta::minutes(15));
    // Nobody asks for the status: the server's own timer ends the window.
    let expired = events.next_named("state").await;
    assert_eq!(expired.data["change"], "expired");
    assert_eq!(expired.data["status"]["state"], "cooling_down");
    let pool = s.db().await;
    let row =
        sqlx::query("SELECT ended_at, expires_at, end_kind, ended_by FROM break_glass_windows")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        row.get::<i64, _>("ended_at"),
        row.get::<i64, _>("expires_at")
    );
    assert_eq!(
        row.get::<i64, _>("ended_at"),
        ts(&window["expires_at"]).timestamp_millis()
    );
    assert_eq!(row.get::<String, _>("end_kind"), "expired");
    assert_eq!(row.get::<String, _>("ended_by"), "system");
    let audit: Vec<String> =
        sqlx::query_scalar("SELECT actor FROM audit_log WHERE action = 'break_glass.expire'")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(audit, vec!["system".to_string()]);

    clock.advance(TimeDelta::minutes(15));
    let over = events.next_named("state").await;
    assert_eq!(over.data["change"], "cool_down_over");
    assert_eq!(over.data["status"]["state"], "inactive");
    s.stop().await;
}

#[tokio::test]
async fn a_restart_reconciles_a_window_that_expired_while_down_exactly_once() {
    let (_dir, db) = fresh_db();
    let clock = ManualClock::new(Utc::now());
    let mut s = TestServer::start(&db, clock.clone()).await;
    let admin = s.admin().await;
    let (code, window) = post_json(
        &admin,
        s.url("/api/break-glass/activate"),
        activation("shield outage INC-43", 30),
    )
    .await;
    assert_eq!(code, 200);
    s.stop().await;

    clock.advance(TimeDelta::hours(2));
    for _ in 0..2 {
        let mut s = TestServer::start(&db, clock.clone()).await;
        let pool = s.db().await;
        let row = sqlx::query("SELECT ended_at, end_kind, ended_by FROM break_glass_windows")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(
            row.get::<i64, _>("ended_at"),
            ts(&window["expires_at"]).timestamp_millis()
        );
        assert_eq!(row.get::<String, _>("end_kind"), "expired");
        assert_eq!(row.get::<String, _>("ended_by"), "system");
        let alerts: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM alerts WHERE title = 'Break-Glass Expired'")
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!(alerts, 1);
        let audits: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'break_glass.expire'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(audits, 1);
        let admin = s.admin().await;
        let status: serde_json::Value = admin
            .get(s.url("/api/break-glass/status"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            status["state"], "inactive",
            "2 h later the cool-down is over too"
        );
        s.stop().await;
    }
}

#[tokio::test]
async fn a_restart_during_a_window_keeps_it_active() {
    let (_dir, db) = fresh_db();
    let clock = ManualClock::new(Utc::now());
    let mut s = TestServer::start(&db, clock.clone()).await;
    let admin = s.admin().await;
    let (_, window) = post_json(
        &admin,
        s.url("/api/break-glass/activate"),
        activation("shield outage INC-44", 60),
    )
    .await;
    s.stop().await;
    clock.advance(TimeDelta::minutes(10));
    let mut s = TestServer::start(&db, clock.clone()).await;
    let admin = s.admin().await;
    let status: serde_json::Value = admin
        .get(s.url("/api/break-glass/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["active"], true);
    assert_eq!(status["expires_at"], window["expires_at"]);
    assert_eq!(status["remaining_seconds"], 50 * 60);
    s.stop().await;
}

#[tokio::test]
async fn events_stream_activation_alerts_and_ends_on_shutdown() {
    let (_dir, db) = fresh_db();
    let mut s = TestServer::start(&db, ManualClock::new(Utc::now())).await;
    let admin = s.admin().await;
    let mut tab_a = SseReader::open(&admin, &s.url("/api/events")).await;
    let mut tab_b = SseReader::open(&admin, &s.url("/api/events")).await;
    for tab in [&mut tab_a, &mut tab_b] {
        let snapshot = tab.next().await.unwrap();
        assert_eq!(snapshot.event, "state");
        assert!(snapshot.data["change"].is_null());
        assert!(snapshot.data["status"]["server_time"].is_string());
    }
    post_json(
        &admin,
        s.url("/api/break-glass/activate"),
        activation("shield outage INC-45", 30),
    )
    .await;
    for tab in [&mut tab_a, &mut tab_b] {
        let state = tab.next_named("state").await;
        assert_eq!(state.data["status"]["active"], true);
        assert_eq!(state.data["status"]["reason"], "shield outage INC-45");
        let alert = tab.next_named("alert").await;
        assert_eq!(alert.data["severity"], "CRITICAL");
        assert_eq!(alert.data["status"], "OPEN");
    }
    // A tab that connects now (or reconnects) starts from the current state.
    let mut late = SseReader::open(&admin, &s.url("/api/events")).await;
    assert_eq!(late.next().await.unwrap().data["status"]["active"], true);

    s.stop().await;
    assert!(tab_a.next().await.is_none(), "the stream ends on shutdown");
}

#[tokio::test]
async fn cross_origin_writes_with_a_session_are_refused() {
    let (_dir, db) = fresh_db();
    let mut s = TestServer::start(&db, ManualClock::new(Utc::now())).await;
    let admin = s.admin().await;
    let res = admin
        .post(s.url("/api/break-glass/activate"))
        .header("origin", "http://evil.example")
        .json(&activation("attacker wants a bypass", 240))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "cross_origin");
    let windows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM break_glass_windows")
        .fetch_one(&s.db().await)
        .await
        .unwrap();
    assert_eq!(windows, 0);
    s.stop().await;
}

#[tokio::test]
async fn an_operator_may_deactivate_but_not_activate() {
    let (_dir, db) = fresh_db();
    let clock = ManualClock::new(Utc::now());
    let mut s = TestServer::start(&db, clock.clone()).await;
    app::server::auth::create_operator(
        &s.running.as_ref().unwrap().state.pool,
        "olivia",
        "operator password 1",
        app::domain::Role::Operator,
        clock.now(),
    )
    .await
    .unwrap();
    let operator = s.logged_in("olivia", "operator password 1").await;
    let (code, err) = post_json(
        &operator,
        s.url("/api/break-glass/activate"),
        activation("I would like a bypass", 30),
    )
    .await;
    assert_eq!(code, 403);
    assert_eq!(
        err["error"]["message"],
        "You are not allowed to activate break-glass"
    );
    // Malformed or not, the attempt is refused for the role first, and recorded.
    let (code, _) = post_json(
        &operator,
        s.url("/api/break-glass/activate"),
        serde_json::json!({"reason": "x", "duration_minutes": 9999}),
    )
    .await;
    assert_eq!(code, 403);
    let denied: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT actor, details, source_addr FROM audit_log \
         WHERE action = 'break_glass.activate_denied' ORDER BY id",
    )
    .fetch_all(&s.db().await)
    .await
    .unwrap();
    assert_eq!(denied.len(), 2, "{denied:?}");
    assert!(denied
        .iter()
        .all(|(actor, _, addr)| actor == "olivia" && addr.as_deref() == Some("127.0.0.1")));
    assert!(denied[0].1.contains("I would like a bypass"));

    let admin = s.admin().await;
    post_json(
        &admin,
        s.url("/api/break-glass/activate"),
        activation("shield outage INC-46", 30),
    )
    .await;
    let (code, _) = post_json(
        &operator,
        s.url("/api/break-glass/deactivate"),
        serde_json::json!({}),
    )
    .await;
    assert_eq!(code, 200);
    s.stop().await;
}

#[tokio::test]
async fn without_a_configured_password_the_first_start_generates_one_once() {
    let (_dir, db) = fresh_db();
    let config = server::config::Config::from_lookup(|k| match k {
        "DATABASE_URL" => Some(format!("sqlite://{}", db.display())),
        "BREAKGLASS_SESSIONS_DIR" => Some(db.with_file_name("sessions").display().to_string()),
        _ => None,
    })
    .unwrap();
    let clock = ManualClock::new(Utc::now());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let first = server::start(&config, clock.clone(), listener)
        .await
        .unwrap();
    let password = first
        .generated_admin_password
        .clone()
        .expect("a password is generated on the first start");
    assert!(password.len() >= 20, "{password}");
    let base = format!("http://{}", first.addr);
    let res = reqwest::Client::new()
        .post(format!("{base}/api/auth/login"))
        .json(&serde_json::json!({"username": "admin", "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    first.stop().await.unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let second = server::start(&config, clock, listener).await.unwrap();
    assert_eq!(second.generated_admin_password, None, "shown only once");
    second.stop().await.unwrap();
}
