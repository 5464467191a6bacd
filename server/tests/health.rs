//! The health checks a load balancer uses.

mod support;

use app::clock::ManualClock;
use chrono::Utc;
use serde_json::Value;
use support::*;

#[tokio::test]
async fn readiness_follows_the_database_and_liveness_does_not() {
    let (_dir, db) = fresh_db();
    let mut s = TestServer::start(&db, ManualClock::new(Utc::now())).await;
    let anyone = reqwest::Client::new();
    let get = |path: &str| anyone.get(s.url(path)).send();
    let res = get("/healthz").await.unwrap();
    assert_eq!(res.status(), 200);
    let res = get("/readyz").await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["database"], "ok");

    // The store goes away: not ready, but still alive.
    s.running.as_ref().unwrap().state.pool.close().await;
    let res = get("/readyz").await.unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "not_ready");
    assert_eq!(get("/healthz").await.unwrap().status(), 200);
    s.stop().await;
}
