//! Extending a break-glass window: the end moves for every client at once, never past 4 hours
//! from the activation; it is audited, alerted, kept across a restart and shown in the review;
//! the expiry timer ends the window at its new end.

mod support;

use app::server::clock::ManualClock;
use chrono::{TimeDelta, Utc};
use serde_json::{json, Value};
use sqlx::Row;
use support::*;

async fn get(client: &reqwest::Client, url: String) -> Value {
    client.get(url).send().await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn an_extension_moves_the_end_everywhere_and_the_timer_follows_it() {
    let (_dir, db) = fresh_db();
    let clock = ManualClock::new(Utc::now());
    let mut s = TestServer::start(&db, clock.clone()).await;
    let admin = s.admin().await;
    let (_, window) = post(
        &admin,
        s.url("/api/break-glass/activate"),
        activation("shield outage INC-77", 30),
    )
    .await;
    let mut events = SseReader::open(&admin, &s.url("/api/events")).await;
    events.next_named("state").await;

    let (code, extended) = post(
        &admin,
        s.url("/api/break-glass/extend"),
        json!({"reason": "vendor still restoring the shield", "minutes": 45}),
    )
    .await;
    assert_eq!(code, 200, "{extended}");
    let new_end = ts(&window["activated_at"]) + TimeDelta::minutes(75);
    assert_eq!(ts(&extended["expires_at"]), new_end);
    assert_eq!(extended["id"], window["id"]);
    // Every open stream hears the new end with the change that moved it.
    let event = events.next_named("state").await;
    assert_eq!(event.data["change"], "extended");
    assert_eq!(ts(&event.data["status"]["expires_at"]), new_end);
    assert_eq!(event.data["status"]["duration_minutes"], 75);
    let alert = events.next_named("alert").await;
    assert_eq!(alert.data["severity"], "HIGH");
    assert!(
        alert.data["title"].as_str().unwrap().contains("Extended"),
        "{}",
        alert.data
    );

    let pool = s.db().await;
    let details: String = sqlx::query_scalar(
        "SELECT details FROM audit_log WHERE action = 'break_glass.extend' AND actor = 'admin'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let details: Value = serde_json::from_str(&details).unwrap();
    assert_eq!(
        (&details["minutes"], &details["reason"]),
        (&json!(45), &json!("vendor still restoring the shield"))
    );

    // Past the old end the window is still open; the new end survives a restart.
    clock.advance(TimeDelta::minutes(31));
    let status = get(&admin, s.url("/api/break-glass/status")).await;
    assert_eq!(status["active"], true);
    assert_eq!(status["remaining_seconds"], 44 * 60);
    s.stop().await;
    let mut s = TestServer::start(&db, clock.clone()).await;
    let admin = s.admin().await;
    let status = get(&admin, s.url("/api/break-glass/status")).await;
    assert_eq!(ts(&status["expires_at"]), new_end);

    let mut events = SseReader::open(&admin, &s.url("/api/events")).await;
    events.next_named("state").await;
    clock.advance(TimeDelta::minutes(44));
    let expired = events.next_named("state").await;
    assert_eq!(expired.data["change"], "expired");
    let pool = s.db().await;
    let row = sqlx::query("SELECT id, ended_at, end_kind FROM break_glass_windows")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(row.get::<i64, _>("ended_at"), new_end.timestamp_millis());
    assert_eq!(row.get::<String, _>("end_kind"), "expired");

    // The review and its Markdown report name the extension.
    let id = row.get::<i64, _>("id");
    let review = get(&admin, s.url(&format!("/api/reviews/{id}"))).await;
    let extensions = &review["window"]["extensions"];
    assert_eq!(extensions.as_array().map(Vec::len), Some(1), "{review}");
    assert_eq!(
        (&extensions[0]["by"], &extensions[0]["minutes"]),
        (&json!("admin"), &json!(45))
    );
    assert_eq!(review["window"]["duration_minutes"], 75);
    let markdown = admin
        .get(s.url(&format!("/api/reviews/{id}/report.md")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        markdown.contains("## Extensions")
            && markdown.contains("vendor still restoring the shield"),
        "{markdown}"
    );
    s.stop().await;
}

#[tokio::test]
async fn an_extension_stays_within_four_hours_and_needs_the_activate_permission() {
    let (_dir, db) = fresh_db();
    let clock = ManualClock::new(Utc::now());
    let mut s = TestServer::start(&db, clock.clone()).await;
    let admin = s.admin().await;
    let extend = |minutes: i64| json!({"reason": "the outage is not over yet", "minutes": minutes});

    let (code, body) = post(&admin, s.url("/api/break-glass/extend"), extend(30)).await;
    assert_eq!((code, &body["error"]["code"]), (409, &json!("not_active")));

    post(
        &admin,
        s.url("/api/break-glass/activate"),
        activation("shield outage INC-78", 200),
    )
    .await;
    let (code, body) = post(&admin, s.url("/api/break-glass/extend"), extend(60)).await;
    assert_eq!((code, &body["error"]["field"]), (400, &json!("minutes")));
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at most 40 more minutes"),
        "{body}"
    );
    let (code, _) = post(&admin, s.url("/api/break-glass/extend"), extend(40)).await;
    assert_eq!(code, 200);
    let (code, body) = post(&admin, s.url("/api/break-glass/extend"), extend(1)).await;
    assert_eq!(
        (code, &body["error"]["field"]),
        (400, &json!("minutes")),
        "{body}"
    );
    let (code, body) = post(
        &admin,
        s.url("/api/break-glass/extend"),
        json!({"reason": "too short", "minutes": 500}),
    )
    .await;
    assert_eq!(
        (code, &body["error"]["field"]),
        (400, &json!("reason")),
        "the reason is judged first"
    );

    // An operator may deactivate but not extend; a viewer neither.
    for role in ["operator", "viewer"] {
        let (code, _) = post(
            &admin,
            s.url("/api/operators"),
            json!({"username": role, "password": "a long enough password", "role": role}),
        )
        .await;
        assert_eq!(code, 201);
        let client = s.logged_in(role, "a long enough password").await;
        let (code, body) = post(&client, s.url("/api/break-glass/extend"), extend(5)).await;
        assert_eq!(
            (code, &body["error"]["code"]),
            (403, &json!("forbidden")),
            "{role}"
        );
    }
    let pool = s.db().await;
    let (duration, extensions): (i64, i64) = (
        sqlx::query_scalar("SELECT duration_minutes FROM break_glass_windows")
            .fetch_one(&pool)
            .await
            .unwrap(),
        sqlx::query_scalar("SELECT COUNT(*) FROM break_glass_extensions")
            .fetch_one(&pool)
            .await
            .unwrap(),
    );
    assert_eq!((duration, extensions), (240, 1));
    // The database holds the line too: no window row lasts more than 4 hours.
    let widened = sqlx::query(
        "UPDATE break_glass_windows SET duration_minutes = 241, expires_at = activated_at + 241 * 60000",
    )
    .execute(&pool)
    .await;
    assert!(widened.is_err(), "a 241-minute window was stored");
    s.stop().await;
}

/// Twenty extensions at once of a 200-minute window, ten minutes each: exactly four fit in
/// the 4 hours, every other is refused naming `minutes`, and each success has its one record.
#[tokio::test]
async fn concurrent_extensions_never_take_a_window_past_four_hours() {
    let (_dir, db) = fresh_db();
    let mut s = TestServer::start(&db, ManualClock::new(Utc::now())).await;
    let admin = s.admin().await;
    post(
        &admin,
        s.url("/api/break-glass/activate"),
        activation("shield outage INC-79", 200),
    )
    .await;
    let url = s.url("/api/break-glass/extend");
    let answers = futures::future::join_all((0..20).map(|_| {
        post(
            &admin,
            url.clone(),
            json!({"reason": "the outage is not over yet", "minutes": 10}),
        )
    }))
    .await;
    let ok = answers.iter().filter(|(code, _)| *code == 200).count();
    let refused: Vec<_> = answers.iter().filter(|(code, _)| *code != 200).collect();
    assert_eq!(ok, 4, "{answers:?}");
    assert!(
        refused
            .iter()
            .all(|(code, body)| *code == 400 && body["error"]["field"] == "minutes"),
        "{refused:?}"
    );
    let pool = s.db().await;
    let (duration, extensions): (i64, i64) = (
        sqlx::query_scalar("SELECT duration_minutes FROM break_glass_windows")
            .fetch_one(&pool)
            .await
            .unwrap(),
        sqlx::query_scalar("SELECT COUNT(*) FROM break_glass_extensions")
            .fetch_one(&pool)
            .await
            .unwrap(),
    );
    assert_eq!((duration, extensions), (240, 4));
    s.stop().await;
}
