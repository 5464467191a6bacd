//! Escalating login lockout against a real server, with a manual clock.

mod support;

use app::clock::ManualClock;
use chrono::{TimeDelta, Utc};
use support::*;

async fn attempt(s: &TestServer, password: &str) -> reqwest::Response {
    s.client()
        .post(s.url("/api/auth/login"))
        .json(&serde_json::json!({"username": "admin", "password": password}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn failures_lock_out_longer_and_longer_then_disable() {
    let (_dir, db) = fresh_db();
    let clock = ManualClock::new(Utc::now());
    let mut s = TestServer::start(&db, clock.clone()).await;
    for _ in 0..4 {
        assert_eq!(attempt(&s, "wrong").await.status(), 401);
    }
    assert_eq!(
        attempt(&s, ADMIN_PASSWORD).await.status(),
        200,
        "4 failures lock nothing"
    );
    for _ in 0..5 {
        assert_eq!(attempt(&s, "wrong").await.status(), 401);
    }
    // Locked: even the right password is refused, with Retry-After.
    let res = attempt(&s, ADMIN_PASSWORD).await;
    assert_eq!(res.status(), 429);
    assert_eq!(res.headers()["retry-after"], "60");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "login_locked");
    assert_eq!(
        body["error"]["message"],
        "Too many failed logins: try again in 01:00"
    );

    clock.advance(TimeDelta::seconds(60));
    assert_eq!(
        attempt(&s, ADMIN_PASSWORD).await.status(),
        200,
        "the lock ends, success resets"
    );
    for _ in 0..4 {
        assert_eq!(attempt(&s, "wrong").await.status(), 401);
    }
    assert_eq!(attempt(&s, "wrong").await.status(), 401);
    assert_eq!(
        attempt(&s, "wrong").await.status(),
        429,
        "locked after 5 since the reset"
    );

    // Drive the count to 20, waiting out each lock: 10 -> 5 min, 15 -> 30 min, 20 -> disabled.
    let mut failures = 5;
    while failures < 20 {
        clock.advance(TimeDelta::minutes(31));
        assert_eq!(attempt(&s, "wrong").await.status(), 401);
        failures += 1;
        if failures == 10 {
            clock.advance(TimeDelta::minutes(4));
            assert_eq!(
                attempt(&s, ADMIN_PASSWORD).await.status(),
                429,
                "10 failures: 5 minutes"
            );
        }
    }
    clock.advance(TimeDelta::hours(2));
    assert_eq!(
        attempt(&s, ADMIN_PASSWORD).await.status(),
        401,
        "disabled after 20"
    );
    let pool = s.db().await;
    let disabled: i64 =
        sqlx::query_scalar("SELECT disabled FROM operators WHERE username = 'admin'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(disabled, 1);
    let actions: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit_log WHERE action IN ('auth.login_locked', 'auth.operator_disabled') ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        actions.iter().filter(|a| *a == "auth.login_locked").count(),
        3
    );
    assert_eq!(
        actions.last().map(String::as_str),
        Some("auth.operator_disabled")
    );
    s.stop().await;
}
