//! `GET /api/events` against a client that opens streams by the hundred, and against time:
//! a session holds a bounded number of streams, the server keeps its file descriptors, and a
//! stream ends when its session expires.

mod support;

use app::domain::events::MAX_STREAMS_PER_SESSION;
use app::server::clock::ManualClock;
use chrono::{TimeDelta, Utc};
use support::*;

/// Open file descriptors of this process (the server and its test clients).
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// A client that keeps no idle connection, so that each request's socket closes after it.
fn unpooled_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

/// Logs in as admin and returns the session cookie (`bg_session=…`) to send by hand.
async fn admin_cookie(s: &TestServer) -> String {
    let res = unpooled_client()
        .post(s.url("/api/auth/login"))
        .header("origin", &s.base)
        .json(&serde_json::json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let cookie = res.headers()["set-cookie"].to_str().unwrap();
    cookie.split(';').next().unwrap().to_owned()
}

#[tokio::test]
async fn a_session_holds_a_bounded_number_of_streams_and_the_server_keeps_its_descriptors() {
    let (_dir, db) = fresh_db();
    let mut s = TestServer::start(&db, ManualClock::new(Utc::now())).await;
    let admin = s.admin().await;
    let cookie = admin_cookie(&s).await;
    let before = open_fds();
    let mut held = Vec::new();
    let session = unpooled_client();
    for _ in 0..MAX_STREAMS_PER_SESSION {
        let res = session
            .get(s.url("/api/events"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        let mut stream = SseReader::from_response(res);
        assert_eq!(stream.next().await.unwrap().event, "state");
        held.push(stream);
    }
    // Two hundred more at once from the same session: each is refused, none is held.
    let url = s.url("/api/events");
    let attempts: Vec<_> = (0..200)
        .map(|_| {
            let client = unpooled_client();
            let url = url.clone();
            let cookie = cookie.clone();
            tokio::spawn(async move {
                let res = client
                    .get(url)
                    .header("cookie", cookie)
                    .send()
                    .await
                    .unwrap();
                let status = res.status().as_u16();
                let retry = res.headers().get("retry-after").is_some();
                let body: serde_json::Value = res.json().await.unwrap();
                (status, retry, body["error"]["code"].clone())
            })
        })
        .collect();
    for attempt in attempts {
        let (status, retry, code) = attempt.await.unwrap();
        assert_eq!(status, 429);
        assert!(retry, "429 says when to try again");
        assert_eq!(code, "too_many_streams");
    }
    let health = admin.get(s.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    // Another session of the same operator has slots of its own.
    let other = s.admin().await;
    let mut stream = SseReader::open(&other, &s.url("/api/events")).await;
    assert_eq!(stream.next().await.unwrap().event, "state");
    drop(stream);
    // The refused connections are gone: descriptors are back to the held streams' own.
    let held_fds = 2 * MAX_STREAMS_PER_SESSION + 16;
    eventually("the refused connections' descriptors to close", || async {
        open_fds() <= before + held_fds
    })
    .await;
    // A stream whose client leaves frees its slot for the next one.
    drop(held.pop());
    let retry = unpooled_client();
    let mut reopened = None;
    for _ in 0..200 {
        let res = retry
            .get(s.url("/api/events"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        if res.status() == 200 {
            reopened = Some(res);
            break;
        }
        assert_eq!(res.status(), 429);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        reopened.is_some(),
        "the freed slot was never given out again"
    );
    s.stop().await;
}

#[tokio::test]
async fn a_stream_ends_when_its_session_expires() {
    let (_dir, db) = fresh_db();
    let clock = ManualClock::new(Utc::now());
    let mut s = TestServer::start(&db, clock.clone()).await;
    let admin = s.admin().await;
    let mut stream = SseReader::open(&admin, &s.url("/api/events")).await;
    assert_eq!(stream.next().await.unwrap().event, "state");
    let lifetime = s.running.as_ref().unwrap().state.sessions.lifetime();
    clock.advance(lifetime - TimeDelta::seconds(1));
    // Still open a second before: a change reaches it.
    let res = admin
        .post(s.url("/api/break-glass/activate"))
        .json(&activation("LiteLLM path is down", 30))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(stream.next_named("state").await.data["change"], "activated");
    clock.advance(TimeDelta::seconds(1));
    // What was already sent (the activation's alert) may come first; then the end.
    while let Some(e) = stream.next().await {
        assert_eq!(
            e.event, "alert",
            "only what was sent before the expiry: {e:?}"
        );
    }
    let res = admin.get(s.url("/api/events")).send().await.unwrap();
    assert_eq!(res.status(), 401, "and cannot be opened again");
    s.stop().await;
}
