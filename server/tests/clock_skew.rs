//! Two replicas on one PostgreSQL database, one of whose clocks runs 20 minutes ahead: judged
//! by the database's clock, it still sees the whole cool-down after the other one's window.

mod support;

use app::server::clock::{Clock, DatabaseClock, ManualClock, SharedClock, SystemClock};
use chrono::{TimeDelta, Utc};
use std::sync::Arc;
use support::postgres::Postgres;
use support::*;

async fn replica(url: &str, clock: SharedClock) -> (server::Running, String) {
    let (_dir, db) = fresh_db();
    let mut config = config(&db, &[]);
    config.database_url = url.to_owned();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let running = server::start(&config, clock, listener).await.unwrap();
    let base = format!("http://{}", running.addr);
    (running, base)
}

async fn admin(base: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::ORIGIN, base.parse().unwrap());
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .default_headers(headers)
        .build()
        .unwrap();
    let res = client
        .post(format!("{base}/api/auth/login"))
        .json(&serde_json::json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    client
}

#[tokio::test]
async fn a_replica_whose_clock_runs_ahead_cannot_shorten_the_cool_down() {
    let pg = Postgres::start().await;
    let true_clock = DatabaseClock::connect(&pg.url, Arc::new(SystemClock))
        .await
        .unwrap();
    let (a, a_base) = replica(&pg.url, true_clock).await;
    // B's own clock is 20 minutes ahead of the database's (and stands still).
    let ahead = ManualClock::new(Utc::now() + TimeDelta::minutes(20));
    let b_clock = DatabaseClock::connect(&pg.url, ahead.clone())
        .await
        .unwrap();
    assert!(
        (b_clock.offset() + TimeDelta::minutes(20)).abs() < TimeDelta::seconds(5),
        "B measured its clock as 20 minutes ahead: {}",
        b_clock.offset()
    );
    assert!((b_clock.now() - Utc::now()).abs() < TimeDelta::seconds(5));
    let (b, b_base) = replica(&pg.url, b_clock).await;

    let on_a = admin(&a_base).await;
    let res = on_a
        .post(format!("{a_base}/api/break-glass/activate"))
        .json(&activation("LiteLLM path is down", 30))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = on_a
        .post(format!("{a_base}/api/break-glass/deactivate"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let on_b = admin(&b_base).await;
    let res = on_b
        .post(format!("{b_base}/api/break-glass/activate"))
        .json(&activation("trying again from B", 30))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429, "B sees the cool-down");
    let err: serde_json::Value = res.json().await.unwrap();
    assert_eq!(err["error"]["code"], "cooling_down");
    let left = err["error"]["retry_after_seconds"].as_i64().unwrap();
    assert!(
        (880..=905).contains(&left),
        "the whole 15 minutes are left, not 15 minus B's 20 minutes ahead: {left} s"
    );
    a.stop().await.unwrap();
    b.stop().await.unwrap();
}
