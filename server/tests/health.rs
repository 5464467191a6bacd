//! The health checks a load balancer uses.

mod support;

use app::server::clock::ManualClock;
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

#[tokio::test]
async fn metrics_show_the_state_alerts_and_streams_to_a_key_that_may_read_them() {
    let (_dir, db) = fresh_db();
    let mut s = TestServer::start(&db, ManualClock::new(Utc::now())).await;
    let admin = s.admin().await;
    let reader = s
        .create_key_with(
            &admin,
            serde_json::json!({"name": "prometheus", "scopes": ["break_glass:read"]}),
        )
        .await;
    let gateway_only = s
        .create_key_with(
            &admin,
            serde_json::json!({"name": "agent", "scopes": ["gateway"]}),
        )
        .await;
    let scrape = |key: String| {
        let url = s.url("/metrics");
        async move {
            let res = reqwest::Client::new()
                .get(url)
                .bearer_auth(key)
                .send()
                .await
                .unwrap();
            (res.status().as_u16(), res.text().await.unwrap())
        }
    };
    let (code, text) = scrape(reader.clone()).await;
    assert_eq!(code, 200);
    assert!(
        text.contains("breakglass_state{state=\"inactive\"} 1"),
        "{text}"
    );
    assert!(text.contains("breakglass_state{state=\"active\"} 0"));
    assert!(text.contains("breakglass_drill_overdue 1"), "{text}");
    assert!(text.contains("# TYPE breakglass_watcher_messages_scanned_total counter"));

    let _stream = SseReader::open(&admin, &s.url("/api/events")).await;
    let res = admin
        .post(s.url("/api/break-glass/activate"))
        .json(&activation("metrics check for the dashboard", 30))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (_, text) = scrape(reader).await;
    assert!(
        text.contains("breakglass_state{state=\"active\"} 1"),
        "{text}"
    );
    assert!(text.contains("breakglass_remaining_seconds 1800"), "{text}");
    assert!(text.contains("breakglass_drill 0"), "{text}");
    assert!(text.contains("breakglass_scoped 0"), "{text}");
    assert!(
        text.contains("breakglass_unresolved_alerts{severity=\"CRITICAL\"} 1"),
        "{text}"
    );
    assert!(text.contains("breakglass_event_subscribers 1"), "{text}");
    assert_eq!(scrape(gateway_only).await.0, 403);
    let anonymous = reqwest::Client::new()
        .get(s.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    s.stop().await;
}
