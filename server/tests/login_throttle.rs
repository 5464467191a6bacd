//! Failed logins are throttled, never locked out: against a real server with a manual clock,
//! from several source addresses (clients bound to different loopback addresses).

mod support;

use app::server::clock::ManualClock;
use chrono::{TimeDelta, Utc};
use std::net::IpAddr;
use support::*;

/// A client whose connections come from `source` (any address of 127.0.0.0/8).
fn from(s: &TestServer, source: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::ORIGIN,
        reqwest::header::HeaderValue::from_str(&s.base).unwrap(),
    );
    reqwest::Client::builder()
        .local_address(source.parse::<IpAddr>().unwrap())
        .default_headers(headers)
        .cookie_store(true)
        .build()
        .unwrap()
}

async fn attempt(
    s: &TestServer,
    source: &str,
    username: &str,
    password: &str,
) -> reqwest::Response {
    from(s, source)
        .post(s.url("/api/auth/login"))
        .json(&serde_json::json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap()
}

async fn status(s: &TestServer, source: &str, password: &str) -> u16 {
    attempt(s, source, "admin", password)
        .await
        .status()
        .as_u16()
}

async fn failures(pool: &app::server::database::Pool, scope: &str, key: &str) -> i64 {
    sqlx::query_scalar("SELECT failures FROM login_throttle WHERE scope = $1 AND key = $2")
        .bind(scope)
        .bind(key)
        .fetch_optional(pool)
        .await
        .unwrap()
        .unwrap_or(0)
}

#[tokio::test]
async fn a_stranger_hammering_an_account_delays_but_never_locks_out_its_owner() {
    let (_dir, db) = fresh_db();
    let clock = ManualClock::new(Utc::now());
    let mut s = TestServer::start(&db, clock.clone()).await;
    assert_eq!(
        status(&s, "127.0.0.1", ADMIN_PASSWORD).await,
        200,
        "the owner's address"
    );

    // A day of guessing from another address, as fast as the throttle lets it.
    let mut refused = 0;
    for _ in 0..300 {
        match status(&s, "127.0.0.2", "guess").await {
            401 => {}
            429 => {
                refused += 1;
                clock.advance(TimeDelta::minutes(5));
            }
            other => panic!("a guess answered {other}"),
        }
    }
    // Past the free failures, each guess waits for the capped delay: one per 5 minutes.
    let verified = 300 - refused;
    assert!(
        verified <= refused + 13,
        "the stranger is held back ({verified} guesses, {refused} refused)"
    );
    let res = attempt(&s, "127.0.0.2", "admin", ADMIN_PASSWORD).await;
    assert_eq!(
        res.status(),
        429,
        "even the right password waits from the stranger's address"
    );
    let retry: i64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..=300).contains(&retry),
        "the delay is capped at 5 minutes: {retry}"
    );
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "login_throttled");

    // The owner, from their own address, right now.
    assert_eq!(status(&s, "127.0.0.1", ADMIN_PASSWORD).await, 200);
    // From an address the owner never used, the account's throttle applies, for minutes only.
    assert_eq!(status(&s, "127.0.0.3", ADMIN_PASSWORD).await, 429);
    clock.advance(TimeDelta::minutes(5));
    assert_eq!(status(&s, "127.0.0.3", ADMIN_PASSWORD).await, 200);

    let pool = s.db().await;
    let disabled: i64 =
        sqlx::query_scalar("SELECT disabled FROM operators WHERE username = 'admin'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(disabled, 0, "no failure sequence disables an account");
    let failed: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'auth.login_failed' AND source_addr = '127.0.0.2'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(failed, 300 - refused, "every verified failure is audited");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_wrong_guesses_each_count() {
    let (_dir, db) = fresh_db();
    let mut s = TestServer::start(&db, ManualClock::new(Utc::now())).await;
    let answers = futures::future::join_all(
        (0..100).map(|_| async { status(&s, "127.0.0.4", "wrong").await }),
    )
    .await;
    let verified = answers.iter().filter(|a| **a == 401).count() as i64;
    let throttled = answers.iter().filter(|a| **a == 429).count() as i64;
    assert_eq!(verified + throttled, 100, "{answers:?}");
    assert!(verified > 3, "the guesses ran at once: {verified}");
    let pool = s.db().await;
    assert_eq!(failures(&pool, "account", "admin").await, verified);
    assert_eq!(failures(&pool, "source", "127.0.0.4").await, verified);
    assert_eq!(failures(&pool, "pair", "admin\n127.0.0.4").await, verified);
    s.stop().await;
}

#[tokio::test]
async fn a_burst_of_failures_raises_a_high_alert_naming_accounts_and_sources() {
    let (_dir, db) = fresh_db();
    let clock = ManualClock::new(Utc::now());
    let mut s = TestServer::start(&db, clock.clone()).await;
    let owner = s.admin().await;
    for i in 0..12 {
        let user = if i % 2 == 0 { "admin" } else { "ops" };
        let res = attempt(&s, "127.0.0.5", user, "guess").await;
        assert_ne!(res.status(), 200);
        clock.advance(TimeDelta::seconds(20));
    }
    let alerts: serde_json::Value = owner
        .get(s.url("/api/alerts"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let bursts: Vec<&serde_json::Value> = alerts
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["title"] == "Burst of failed logins")
        .collect();
    assert_eq!(bursts.len(), 1, "{alerts}");
    assert_eq!(bursts[0]["severity"], "HIGH");
    let message = bursts[0]["message"].as_str().unwrap();
    for named in ["admin", "ops", "127.0.0.5 (10)"] {
        assert!(message.contains(named), "{named} in {message}");
    }
    s.stop().await;
}

#[tokio::test]
async fn a_long_username_is_cut_and_marked_in_the_audit_trail() {
    let (_dir, db) = fresh_db();
    let mut s = TestServer::start(&db, ManualClock::new(Utc::now())).await;
    let long = "x".repeat(100_000);
    let res = attempt(&s, "127.0.0.6", &long, "guess").await;
    assert_eq!(res.status(), 401);
    let pool = s.db().await;
    let (actor, details): (String, String) =
        sqlx::query_as("SELECT actor, details FROM audit_log WHERE action = 'auth.login_failed'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(actor.chars().count(), 64);
    let details: serde_json::Value = serde_json::from_str(&details).unwrap();
    assert_eq!(details["username_truncated"], true);
    assert_eq!(details["username_chars"], 100_000);
    s.stop().await;
}

#[tokio::test]
async fn logins_from_a_foreign_page_are_refused() {
    let (_dir, db) = fresh_db();
    let mut s = TestServer::start(&db, ManualClock::new(Utc::now())).await;
    let body = serde_json::json!({"username": "admin", "password": ADMIN_PASSWORD});
    let plain = reqwest::Client::new();
    for (header, value) in [
        ("origin", "http://evil.example"),
        ("sec-fetch-site", "cross-site"),
    ] {
        let res = plain
            .post(s.url("/api/auth/login"))
            .header(header, value)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403, "{header}: {value}");
        assert!(res.headers().get("set-cookie").is_none());
    }
    // The login page's own form posts to the login server function.
    let page = s
        .client()
        .get(s.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let action = page
        .split("action=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the login form names its server function")
        .to_owned();
    let form = [("username", "admin"), ("password", ADMIN_PASSWORD)];
    let res = plain
        .post(s.url(&action))
        .header("origin", "http://evil.example")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "the login form's server function");
    let res = s
        .client()
        .post(s.url(&action))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert!(
        res.status().is_redirection() || res.status().is_success(),
        "{}",
        res.status()
    );
    // A plain form post from our own page (before hydration) says `Origin: null`, because
    // pages are served with `Referrer-Policy: no-referrer`; `Sec-Fetch-Site` decides then.
    for (site, refused) in [("same-origin", false), ("cross-site", true)] {
        let res = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .post(s.url(&action))
            .header("origin", "null")
            .header("sec-fetch-site", site)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status() == 403,
            refused,
            "Origin: null from a {site} page: {}",
            res.status()
        );
    }
    // A script (no Origin, no Sec-Fetch-Site) still logs in.
    let res = plain
        .post(s.url("/api/auth/login"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    s.stop().await;
}

/// 200 logins at once, each from its own address so that the throttle lets every one reach
/// argon2: the event streams, the break-glass API and the health check keep answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_flood_does_not_stall_the_server() {
    let (_dir, db) = fresh_db();
    let mut s = TestServer::start(&db, ManualClock::new(Utc::now())).await;
    let admin = s.admin().await;
    let mut events = SseReader::open(&admin, &s.url("/api/events")).await;
    assert_eq!(
        events.next_named("state").await.data["status"]["state"],
        "inactive"
    );
    let flood = futures::future::join_all((0..200).map(|i| {
        let source = format!("127.0.{}.{}", 1 + i / 250, 1 + i % 250);
        let s = &s;
        async move {
            attempt(s, &source, &format!("nobody-{i}"), "guess")
                .await
                .status()
        }
    }));
    let during = async {
        // Wait until verifications are queued (some failures audited), then act.
        let pool = s.db().await;
        eventually("the flood has begun", || {
            let pool = pool.clone();
            async move {
                sqlx::query_scalar::<_, i64>(
                    "SELECT COUNT(*) FROM audit_log WHERE action = 'auth.login_failed'",
                )
                .fetch_one(&pool)
                .await
                .unwrap()
                    > 0
            }
        })
        .await;
        let second = std::time::Duration::from_secs(1);
        let health = tokio::time::timeout(second, reqwest::get(s.url("/healthz")))
            .await
            .expect("/healthz answers within 1 s during the flood")
            .unwrap();
        assert_eq!(health.status(), 200);
        let res = admin
            .post(s.url("/api/break-glass/activate"))
            .json(&activation("Login flood drill", 30))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let event = tokio::time::timeout(second, events.next_named("state"))
            .await
            .expect("the activation event arrives within 1 s during the flood");
        assert_eq!(event.data["change"], "activated");
        let still_flooding: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'auth.login_failed'")
                .fetch_one(&pool)
                .await
                .unwrap();
        still_flooding
    };
    let (answers, audited_by_then) = tokio::join!(flood, during);
    assert!(answers.iter().all(|a| *a == 401), "{answers:?}");
    assert!(
        audited_by_then < 200,
        "the checks ran while logins were still being verified ({audited_by_then} of 200 done)"
    );
    s.stop().await;
}
