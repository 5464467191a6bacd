//! API keys through the real HTTP API: scopes, expiry, the per-key rate limit, revocation and
//! the checks on creating one.

mod support;

use app::server::clock::ManualClock;
use chrono::{TimeDelta, Utc};
use serde_json::{json, Value};
use support::*;

async fn call(s: &TestServer, key: &str, method: &str, path: &str, body: Value) -> u16 {
    let client = reqwest::Client::new();
    let url = s.url(path);
    let request = match method {
        "GET" => client.get(url),
        _ => client.post(url).json(&body),
    };
    request
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_key_can_do_only_what_its_scopes_say() {
    let (_dir, db) = fresh_db();
    let mut s = TestServer::start(&db, ManualClock::new(Utc::now())).await;
    let admin = s.admin().await;
    let ingest = json!({"source": "litellm", "verdict": "ALLOW", "score": 0});
    let reads = [
        (
            "GET",
            "/api/break-glass/status",
            json!({}),
            "break_glass:read",
        ),
        ("GET", "/api/watcher/status", json!({}), "break_glass:read"),
        (
            "POST",
            "/api/shield/scan",
            json!({"text": "hi"}),
            "shield:scan",
        ),
        ("GET", "/api/shield/mode", json!({}), "shield:scan"),
        ("POST", "/api/proxy/ingest", ingest, "ingest"),
        ("GET", "/api/audit", json!({}), "audit:read"),
    ];
    for (method, path, body, scope) in &reads {
        let only = s
            .create_key_with(
                &admin,
                json!({"name": format!("only {scope}"), "scopes": [scope]}),
            )
            .await;
        let other = s
            .create_key_with(
                &admin,
                json!({"name": format!("not {scope}"), "scopes": ["gateway"]}),
            )
            .await;
        let through = call(&s, &only, method, path, body.clone()).await;
        assert!(
            matches!(through, 200 | 201),
            "{method} {path} with {scope}: {through}"
        );
        assert_eq!(
            call(&s, &other, method, path, body.clone()).await,
            403,
            "{method} {path} without {scope}"
        );
    }
    let ingest_only = s
        .create_key_with(&admin, json!({"name": "ingest only", "scopes": ["ingest"]}))
        .await;
    let res = reqwest::Client::new()
        .post(s.url("/v1/chat/completions"))
        .bearer_auth(&ingest_only)
        .json(&json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body["error"]["type"], "permission_denied",
        "OpenAI-style error"
    );
    s.stop().await;
}

#[tokio::test]
async fn keys_expire_and_are_revoked_on_the_next_request() {
    let (_dir, db) = fresh_db();
    let clock = ManualClock::new(Utc::now());
    let mut s = TestServer::start(&db, clock.clone()).await;
    let admin = s.admin().await;
    let expires = (app::server::clock::Clock::now(&*clock) + TimeDelta::hours(1)).to_rfc3339();
    let key = s
        .create_key_with(
            &admin,
            json!({"name": "temporary", "scopes": ["break_glass:read"], "expires_at": expires}),
        )
        .await;
    assert_eq!(
        call(&s, &key, "GET", "/api/break-glass/status", json!({})).await,
        200
    );
    clock.advance(TimeDelta::hours(1));
    assert_eq!(
        call(&s, &key, "GET", "/api/break-glass/status", json!({})).await,
        401
    );

    let key = s
        .create_key_with(
            &admin,
            json!({"name": "revoked", "scopes": ["break_glass:read"]}),
        )
        .await;
    assert_eq!(
        call(&s, &key, "GET", "/api/break-glass/status", json!({})).await,
        200
    );
    let keys: Vec<Value> = admin
        .get(s.url("/api/keys"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = keys.iter().find(|k| k["name"] == "revoked").unwrap()["id"]
        .as_i64()
        .unwrap();
    assert!(keys
        .iter()
        .all(|k| k.get("secret").is_none() && k.get("key_hash").is_none()));
    let res = admin
        .post(s.url(&format!("/api/keys/{id}/revoke")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        call(&s, &key, "GET", "/api/break-glass/status", json!({})).await,
        401
    );
    s.stop().await;
}

#[tokio::test]
async fn a_key_over_its_rate_limit_is_told_when_to_come_back() {
    let (_dir, db) = fresh_db();
    let clock = ManualClock::new(Utc::now());
    let mut s = TestServer::start(&db, clock.clone()).await;
    let admin = s.admin().await;
    let key = s
        .create_key_with(
            &admin,
            json!({"name": "slow", "scopes": ["break_glass:read"], "rate_limit_per_minute": 3}),
        )
        .await;
    let other = s
        .create_key_with(
            &admin,
            json!({"name": "other", "scopes": ["break_glass:read"]}),
        )
        .await;
    for _ in 0..3 {
        assert_eq!(
            call(&s, &key, "GET", "/api/break-glass/status", json!({})).await,
            200
        );
    }
    let res = reqwest::Client::new()
        .get(s.url("/api/break-glass/status"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    assert_eq!(res.headers()["retry-after"], "20");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    assert_eq!(
        call(&s, &other, "GET", "/api/break-glass/status", json!({})).await,
        200,
        "limits are per key"
    );
    let last_used = || async {
        let keys: Vec<Value> = admin
            .get(s.url("/api/keys"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        keys.iter().find(|k| k["name"] == "slow").unwrap()["last_used_at"].clone()
    };
    let first_use = last_used().await;
    assert!(
        first_use.is_string(),
        "the first use is recorded: {first_use}"
    );
    clock.advance(TimeDelta::seconds(20));
    assert_eq!(
        call(&s, &key, "GET", "/api/break-glass/status", json!({})).await,
        200
    );
    assert_eq!(
        last_used().await,
        first_use,
        "written at most once a minute"
    );
    clock.advance(TimeDelta::seconds(41));
    assert_eq!(
        call(&s, &key, "GET", "/api/break-glass/status", json!({})).await,
        200
    );
    assert_ne!(last_used().await, first_use, "and again after a minute");
    s.stop().await;
}

#[tokio::test]
async fn creating_a_key_names_each_bad_field() {
    let (_dir, db) = fresh_db();
    let mut s = TestServer::start(&db, ManualClock::new(Utc::now())).await;
    let admin = s.admin().await;
    for (body, field) in [
        (json!({"name": "k"}), "scopes"),
        (json!({"name": "k", "scopes": []}), "scopes"),
        (json!({"name": "k", "scopes": ["root"]}), "scopes"),
        (
            json!({"name": "k", "scopes": ["gateway"], "expires_at": "2001-01-01T00:00:00Z"}),
            "expires_at",
        ),
        (
            json!({"name": "k", "scopes": ["gateway"], "rate_limit_per_minute": 0}),
            "rate_limit_per_minute",
        ),
        (json!({"name": "", "scopes": ["gateway"]}), "name"),
        // The first field in form order, whether it breaks its rule or its type: the form's
        // server function goes through the same conversion.
        (json!({"name": "", "scopes": "gateway"}), "name"),
        (
            json!({"name": "k", "scopes": "gateway", "expires_at": 1}),
            "scopes",
        ),
        (
            json!({"name": "k", "scopes": ["gateway"], "expires_at": 1, "rate_limit_per_minute": "x"}),
            "expires_at",
        ),
        (
            json!({"name": "k", "scopes": ["gateway"], "rate_limit_per_minute": 1.5}),
            "rate_limit_per_minute",
        ),
    ] {
        let res = admin
            .post(s.url("/api/keys"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{body}");
        let answer: Value = res.json().await.unwrap();
        assert_eq!(answer["error"]["field"], field, "{body}");
    }
    s.stop().await;
}
