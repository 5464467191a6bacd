//! Notifications reach real receivers that these tests start on 127.0.0.1: a webhook receiver
//! that checks the HMAC signature and the timestamp as a consumer would, a Slack-compatible
//! receiver, and an SMTP server (aiosmtpd, when `.ci/setup --browser` installed it). Delivery
//! is at least once across a receiver that is down for a while and across a restart, with one
//! idempotency key per notification, and once when two servers share the database.

mod support;

use app::server::clock::{Clock, ManualClock};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::{TimeDelta, Utc};
use hmac::Mac;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::*;

const SIGNING_KEY: &str = "a signing key only the receiver and breakglass know";
const SECRETS_KEY: &str = "6b6579206f6620746865207465737473206f66206e6f74696669636174696f6e";
const PASSWORD: &str = OPERATOR_PASSWORD;

/// What a receiver got: the path, the idempotency key, the body, and whether its signature and
/// timestamp held.
#[derive(Clone, Debug)]
struct Received {
    path: String,
    key: String,
    body: Value,
    signed: bool,
}

#[derive(Clone)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    count: tokio::sync::watch::Sender<usize>,
    /// Answer 500 to this many requests first (each still counted as an attempt).
    failing: Arc<AtomicUsize>,
    attempts: Arc<Mutex<Vec<String>>>,
    clock: Arc<ManualClock>,
}

impl Receiver {
    fn new(clock: Arc<ManualClock>) -> Self {
        Self {
            got: Arc::default(),
            count: tokio::sync::watch::channel(0).0,
            failing: Arc::default(),
            attempts: Arc::default(),
            clock,
        }
    }

    /// Serves on `listener` until the returned handle is aborted.
    fn serve(&self, listener: tokio::net::TcpListener) -> tokio::task::JoinHandle<()> {
        let app = axum::Router::new()
            .fallback(receive)
            .with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() })
    }

    /// Waits (at most 15 s) until `n` notifications were accepted, and returns them all.
    async fn wait_for(&self, n: usize) -> Vec<Received> {
        let mut count = self.count.subscribe();
        tokio::time::timeout(Duration::from_secs(15), count.wait_for(|c| *c >= n))
            .await
            .unwrap_or_else(|_| panic!("{n} notifications: got {:#?}", self.got.lock().unwrap()))
            .unwrap();
        self.got.lock().unwrap().clone()
    }
}

/// A consumer's check: the signature is HMAC-SHA256 of `<timestamp>.<body>` under the shared
/// key, and the timestamp is within five minutes of the receiver's clock.
fn verify(headers: &HeaderMap, body: &[u8], now: chrono::DateTime<Utc>) -> bool {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(timestamp), Some(signature)) = (
        header("x-breakglass-timestamp"),
        header("x-breakglass-signature"),
    ) else {
        return false;
    };
    let fresh = timestamp
        .parse::<i64>()
        .is_ok_and(|t| (now.timestamp() - t).abs() <= 300);
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SIGNING_KEY.as_bytes()).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    let matches = signature
        .strip_prefix("v1=")
        .and_then(|hex| hex::decode(hex).ok())
        .is_some_and(|sig| mac.verify_slice(&sig).is_ok());
    fresh && matches
}

async fn receive(
    State(r): State<Receiver>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_default();
    r.attempts.lock().unwrap().push(key.clone());
    if r.failing
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let signed = verify(&headers, &body, r.clock.now());
    r.got.lock().unwrap().push(Received {
        path: uri.path().to_owned(),
        key,
        body: json,
        signed,
    });
    r.count.send_modify(|c| *c += 1);
    if signed || uri.path() != "/hook" {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::UNAUTHORIZED
    }
}

async fn bound() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    (listener, base)
}

fn settings() -> Vec<(&'static str, String)> {
    vec![
        ("BREAKGLASS_SECRETS_KEY", SECRETS_KEY.to_owned()),
        ("BREAKGLASS_NOTIFY_POLL_MS", "20".to_owned()),
        ("BREAKGLASS_NOTIFY_RETRY_MS", "60000".to_owned()),
        (
            "BREAKGLASS_PUBLIC_URL",
            "https://breakglass.example.com".to_owned(),
        ),
    ]
}

async fn add_webhook(s: &TestServer, admin: &reqwest::Client, url: &str, topics: Value) -> Value {
    let (code, channel) = post(
        admin,
        s.url("/api/notifications/channels"),
        json!({"name": "ops webhook", "kind": "webhook", "url": url,
               "secret": SIGNING_KEY, "topics": topics}),
    )
    .await;
    assert_eq!(code, 201, "{channel}");
    channel
}

async fn deliveries(s: &TestServer, client: &reqwest::Client) -> Vec<Value> {
    client
        .get(s.url("/api/notifications/deliveries"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Reads the delivery log until `done` holds for it (at most 15 s).
async fn log_until(
    s: &TestServer,
    client: &reqwest::Client,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let log = deliveries(s, client).await;
        if done(&log) {
            return log;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the delivery log never got there: {log:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn of<'a>(got: &'a [Received], event: &str) -> &'a Received {
    got.iter()
        .find(|r| r.body["event"] == event)
        .unwrap_or_else(|| panic!("no {event} in {got:#?}"))
}

#[tokio::test]
async fn a_signed_webhook_hears_a_window_from_activation_to_review() {
    let (_dir, db) = fresh_db();
    let clock = ManualClock::new(Utc::now());
    let mut s = TestServer::start_with(&db, clock.clone(), &settings()).await;
    let admin = s.admin().await;
    let receiver = Receiver::new(clock.clone());
    let (listener, base) = bound().await;
    let _serving = receiver.serve(listener);
    let channel = add_webhook(
        &s,
        &admin,
        &format!("{base}/hook"),
        json!([
            "activation",
            "ack_due",
            "acknowledged",
            "extension",
            "deactivation",
            "review_waiting"
        ]),
    )
    .await;

    // The secret is never shown back, nor stored as given.
    let listed = admin
        .get(s.url("/api/notifications/channels"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!listed.contains(SIGNING_KEY), "{listed}");
    assert_eq!(channel["secret"], "stored");
    let stored: String = sqlx::query_scalar("SELECT secret FROM notification_channels")
        .fetch_one(&s.db().await)
        .await
        .unwrap();
    assert!(stored.starts_with("sealed:v1:") && !stored.contains("signing"));

    let (code, _) = post(
        &admin,
        s.url("/api/break-glass/activate"),
        activation("LiteLLM down, INC-88 needs agents", 60),
    )
    .await;
    assert_eq!(code, 200);
    let got = receiver.wait_for(2).await;
    let activated = of(&got, "activation");
    assert!(activated.signed, "{activated:?}");
    assert_eq!(activated.path, "/hook");
    assert_eq!(activated.body["idempotency_key"], activated.key.as_str());
    assert_eq!(activated.body["severity"], "CRITICAL");
    assert_eq!(
        activated.body["link"],
        "https://breakglass.example.com/configuration"
    );
    let text = activated.body["message"].as_str().unwrap();
    assert!(
        text.contains("admin activated break-glass until")
            && text.contains("LiteLLM down, INC-88 needs agents"),
        "{text}"
    );
    let due = of(&got, "ack_due");
    assert!(due.body["message"]
        .as_str()
        .unwrap()
        .contains("other than admin must acknowledge it by"));

    let (code, _) = post(
        &admin,
        s.url("/api/operators"),
        json!({"username": "sam", "password": PASSWORD, "role": "security_manager"}),
    )
    .await;
    assert_eq!(code, 201);
    let sam = s.logged_in("sam", PASSWORD).await;
    let (code, _) = post(
        &sam,
        s.url("/api/break-glass/acknowledge"),
        json!({"note": "seen, bridge call open"}),
    )
    .await;
    assert_eq!(code, 200);
    let (code, _) = post(
        &admin,
        s.url("/api/break-glass/extend"),
        json!({"reason": "vendor still restoring", "minutes": 30}),
    )
    .await;
    assert_eq!(code, 200);
    let (code, _) = post(&admin, s.url("/api/break-glass/deactivate"), json!({})).await;
    assert_eq!(code, 200);
    let got = receiver.wait_for(6).await;
    assert!(of(&got, "acknowledged").body["message"]
        .as_str()
        .unwrap()
        .contains("seen, bridge call open"));
    assert!(of(&got, "extension").body["title"]
        .as_str()
        .unwrap()
        .contains("30 more minutes"));
    assert!(of(&got, "deactivation").body["message"]
        .as_str()
        .unwrap()
        .contains("requests passed unscanned"));
    let review = of(&got, "review_waiting");
    let window = review.body["window_id"].as_i64().unwrap();
    assert_eq!(
        review.body["link"],
        format!("https://breakglass.example.com/reviews/{window}")
    );
    assert!(got.iter().all(|r| r.signed), "{got:#?}");
    let keys: std::collections::HashSet<_> = got.iter().map(|r| &r.key).collect();
    assert_eq!(keys.len(), 6, "one key per notification");

    // Every role reads the delivery log: each delivered at the first attempt.
    let log = log_until(&s, &sam, |log| {
        log.len() == 6 && log.iter().all(|d| d["status"] == "delivered")
    })
    .await;
    assert!(log.iter().all(|d| d["attempts"] == 1), "{log:#?}");
    s.stop().await;
}

#[tokio::test]
async fn a_receiver_that_is_down_gets_it_later_with_the_same_key_even_across_a_restart() {
    let (_dir, db) = fresh_db();
    let clock = ManualClock::new(Utc::now());
    let mut s = TestServer::start_with(&db, clock.clone(), &settings()).await;
    let admin = s.admin().await;
    let receiver = Receiver::new(clock.clone());
    // The receiver's port, closed for now: nothing listens there.
    let (listener, base) = bound().await;
    let address = listener.local_addr().unwrap();
    drop(listener);
    let channel = add_webhook(&s, &admin, &format!("{base}/hook"), json!(["activation"])).await;
    let id = channel["id"].as_i64().unwrap();

    let (code, queued) = post(
        &admin,
        s.url(&format!("/api/notifications/channels/{id}/test")),
        json!({}),
    )
    .await;
    assert_eq!(code, 202, "{queued}");
    let key = queued["idempotency_key"].as_str().unwrap().to_owned();
    let log = log_until(&s, &admin, |log| {
        log.first().is_some_and(|d| d["attempts"] == 1)
    })
    .await;
    assert_eq!(log[0]["status"], "pending");
    let error = log[0]["last_error"].as_str().unwrap();
    assert!(error.contains("Connection refused"), "{error}");
    assert!(
        !error.contains("127.0.0.1"),
        "the log never shows a channel's URL: {error}"
    );

    // A restart keeps it; the second attempt comes at the retry time (60 s later).
    s.stop().await;
    let mut s = TestServer::start_with(&db, clock.clone(), &settings()).await;
    let admin = s.admin().await;
    let _serving = receiver.serve(tokio::net::TcpListener::bind(address).await.unwrap());
    receiver.failing.store(1, Ordering::SeqCst);
    clock.advance(TimeDelta::seconds(60));
    let log = log_until(&s, &admin, |log| {
        log.first().is_some_and(|d| d["attempts"] == 2)
    })
    .await;
    assert_eq!(log[0]["status"], "pending");
    assert_eq!(log[0]["last_error"], "the receiver answered HTTP 500");
    assert!(receiver.got.lock().unwrap().is_empty());
    // The third waits twice as long.
    clock.advance(TimeDelta::seconds(120));
    let got = receiver.wait_for(1).await;
    assert_eq!(got[0].key, key);
    assert!(got[0].signed);
    assert_eq!(got[0].body["event"], "test");
    let attempts = receiver.attempts.lock().unwrap().clone();
    assert_eq!(
        attempts,
        vec![key.clone(), key.clone()],
        "the same key at every attempt"
    );
    let log = log_until(&s, &admin, |log| log[0]["status"] == "delivered").await;
    assert_eq!(log[0]["attempts"], 3);
    s.stop().await;
}

#[tokio::test]
async fn two_servers_on_one_database_send_each_notification_once() {
    let (_dir, db) = fresh_db();
    let clock = ManualClock::new(Utc::now());
    let mut a = TestServer::start_with(&db, clock.clone(), &settings()).await;
    let mut b = TestServer::start_with(&db, clock.clone(), &settings()).await;
    let admin_a = a.admin().await;
    let admin_b = b.admin().await;
    let receiver = Receiver::new(clock.clone());
    let (listener, base) = bound().await;
    let _serving = receiver.serve(listener);
    let id = add_webhook(&a, &admin_a, &format!("{base}/hook"), json!(["activation"])).await["id"]
        .as_i64()
        .unwrap();
    let sends = (0..40).map(|i| {
        let (s, client) = if i % 2 == 0 {
            (&a, &admin_a)
        } else {
            (&b, &admin_b)
        };
        post(
            client,
            s.url(&format!("/api/notifications/channels/{id}/test")),
            json!({}),
        )
    });
    for (code, body) in futures::future::join_all(sends).await {
        assert_eq!(code, 202, "{body}");
    }
    let got = receiver.wait_for(40).await;
    log_until(&a, &admin_a, |log| {
        log.len() == 40 && log.iter().all(|d| d["status"] == "delivered")
    })
    .await;
    let attempts = receiver.attempts.lock().unwrap().clone();
    let unique: std::collections::HashSet<_> = attempts.iter().collect();
    assert_eq!(got.len(), 40);
    assert_eq!(attempts.len(), 40, "no notification was sent twice");
    assert_eq!(unique.len(), 40);
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn slack_gets_escaped_blocks_and_its_url_stays_secret() {
    let (_dir, db) = fresh_db();
    let clock = ManualClock::new(Utc::now());
    let mut s = TestServer::start_with(&db, clock.clone(), &settings()).await;
    let admin = s.admin().await;
    let receiver = Receiver::new(clock.clone());
    let (listener, base) = bound().await;
    let _serving = receiver.serve(listener);
    let url = format!("{base}/services/T000/B000/XXXXSECRET");
    let (code, channel) = post(
        &admin,
        s.url("/api/notifications/channels"),
        json!({"name": "slack", "kind": "slack", "url": url, "topics": ["activation"]}),
    )
    .await;
    assert_eq!(code, 201, "{channel}");
    assert_eq!(channel["endpoint"], Value::Null);
    let listed = admin
        .get(s.url("/api/notifications/channels"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!listed.contains("XXXXSECRET"), "{listed}");
    let stored: String = sqlx::query_scalar("SELECT secret FROM notification_channels")
        .fetch_one(&s.db().await)
        .await
        .unwrap();
    assert!(!stored.contains("XXXXSECRET"));

    let (code, _) = post(
        &admin,
        s.url("/api/break-glass/activate"),
        activation("outage <!channel> & <https://evil.example|login>", 30),
    )
    .await;
    assert_eq!(code, 200);
    let got = receiver.wait_for(1).await;
    assert_eq!(got[0].path, "/services/T000/B000/XXXXSECRET");
    let body = got[0].body.to_string();
    assert!(!body.contains("<!channel>"), "{body}");
    assert!(body.contains("&lt;!channel&gt; &amp; &lt;https://evil.example|login&gt;"));
    assert_eq!(got[0].body["blocks"][0]["type"], "header");
    s.stop().await;
}

#[tokio::test]
async fn channels_are_for_admins_and_bad_input_names_its_field() {
    let (_dir, db) = fresh_db();
    let clock = ManualClock::new(Utc::now());
    let mut s = TestServer::start_with(&db, clock.clone(), &settings()).await;
    let admin = s.admin().await;
    for (body, field) in [
        (json!({"name": "x", "kind": "pager"}), "kind"),
        (
            json!({"name": "x", "kind": "webhook", "url": "http://hooks.example.com/x",
                "secret": SIGNING_KEY, "topics": ["activation"]}),
            "url",
        ),
        (
            json!({"name": "x", "kind": "webhook", "url": "https://hooks.example.com/x",
                "secret": "short", "topics": ["activation"]}),
            "secret",
        ),
        (
            json!({"name": "x", "kind": "webhook", "url": "https://hooks.example.com/x",
                "secret": SIGNING_KEY, "topics": []}),
            "topics",
        ),
        (
            json!({"name": "x", "kind": "email", "url": "smtp://mail.example.com",
                "mail_from": "bg@example.com", "mail_to": "nobody", "topics": ["expiry"]}),
            "mail_to",
        ),
    ] {
        let (code, error) = post(&admin, s.url("/api/notifications/channels"), body).await;
        assert_eq!(
            (code, error["error"]["field"].as_str()),
            (400, Some(field)),
            "{error}"
        );
    }
    let (code, _) = post(
        &admin,
        s.url("/api/operators"),
        json!({"username": "sam", "password": PASSWORD, "role": "security_manager"}),
    )
    .await;
    assert_eq!(code, 201);
    let sam = s.logged_in("sam", PASSWORD).await;
    let (code, _) = post(
        &sam,
        s.url("/api/notifications/channels"),
        json!({"name": "mine", "kind": "webhook", "url": "https://x.example",
               "secret": SIGNING_KEY, "topics": ["activation"]}),
    )
    .await;
    assert_eq!(code, 403);
    // Adding and removing are audited, without the secret.
    let channel = add_webhook(&s, &admin, "https://hooks.example.com/x", json!(["expiry"])).await;
    let id = channel["id"].as_i64().unwrap();
    let (code, _) = post(
        &admin,
        s.url(&format!("/api/notifications/channels/{id}/remove")),
        json!({}),
    )
    .await;
    assert_eq!(code, 204);
    let details: Vec<String> = sqlx::query_scalar(
        "SELECT details FROM audit_log WHERE action LIKE 'notifications.%' ORDER BY id",
    )
    .fetch_all(&s.db().await)
    .await
    .unwrap();
    assert_eq!(details.len(), 2);
    assert!(details.iter().all(|d| !d.contains(SIGNING_KEY)));
    s.stop().await;
}

#[tokio::test]
async fn without_a_secrets_key_only_environment_secrets_are_taken() {
    let (_dir, db) = fresh_db();
    let clock = ManualClock::new(Utc::now());
    let mut s = TestServer::start_with(&db, clock.clone(), &[]).await;
    let admin = s.admin().await;
    let (code, error) = post(
        &admin,
        s.url("/api/notifications/channels"),
        json!({"name": "x", "kind": "webhook", "url": "https://x.example",
               "secret": SIGNING_KEY, "topics": ["activation"]}),
    )
    .await;
    assert_eq!(code, 400);
    assert_eq!(error["error"]["field"], "secret");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("BREAKGLASS_SECRETS_KEY"),
        "{error}"
    );
    let (code, channel) = post(
        &admin,
        s.url("/api/notifications/channels"),
        json!({"name": "x", "kind": "webhook", "url": "https://x.example",
               "secret": "env:BREAKGLASS_TEST_HOOK_KEY", "topics": ["activation"]}),
    )
    .await;
    assert_eq!(code, 201, "{channel}");
    assert_eq!(channel["secret"], "environment");
    s.stop().await;
}

/// aiosmtpd on a free port of 127.0.0.1, writing each mail it accepts into `maildir`.
async fn smtp_server(maildir: &std::path::Path) -> (tokio::process::Child, u16) {
    let python =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/smtp-venv/bin/python");
    assert!(
        python.exists(),
        "aiosmtpd is not installed: run .ci/setup --browser (it installs target/smtp-venv)"
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = tokio::process::Command::new(python)
        .args(["-m", "aiosmtpd", "-n", "-l"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["-c", "aiosmtpd.handlers.Mailbox"])
        .arg(maildir)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Ready when it accepts a connection.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "aiosmtpd did not start"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (child, port)
}

#[tokio::test]
async fn email_reaches_a_real_smtp_server_and_a_password_never_goes_in_clear() {
    let (dir, db) = fresh_db();
    let maildir = dir.path().join("maildir");
    let (_smtp, port) = smtp_server(&maildir).await;
    let clock = ManualClock::new(Utc::now());
    let mut s = TestServer::start_with(&db, clock.clone(), &settings()).await;
    let admin = s.admin().await;
    let (code, channel) = post(
        &admin,
        s.url("/api/notifications/channels"),
        json!({"name": "on-call mail", "kind": "email", "url": format!("smtp://127.0.0.1:{port}"),
               "mail_from": "breakglass@example.com",
               "mail_to": "oncall@example.com, ciso@example.com", "topics": ["activation"]}),
    )
    .await;
    assert_eq!(code, 201, "{channel}");
    // The same server with a login: it offers no STARTTLS, so the password is never sent.
    let (code, with_login) = post(
        &admin,
        s.url("/api/notifications/channels"),
        json!({"name": "mail with login", "kind": "email",
               "url": format!("smtp://127.0.0.1:{port}"), "mail_from": "breakglass@example.com",
               "mail_to": "oncall@example.com", "smtp_user": "robot",
               "secret": "an smtp password", "topics": ["activation"]}),
    )
    .await;
    assert_eq!(code, 201, "{with_login}");

    let (code, _) = post(
        &admin,
        s.url("/api/break-glass/activate"),
        activation("mail gateway test, INC-91", 30),
    )
    .await;
    assert_eq!(code, 200);
    let log = log_until(&s, &admin, |log| {
        log.len() == 2 && log.iter().all(|d| d["attempts"] == 1)
    })
    .await;
    let by = |name: &str| log.iter().find(|d| d["channel"] == name).unwrap();
    assert_eq!(by("on-call mail")["status"], "delivered", "{log:#?}");
    let refused = by("mail with login");
    assert_eq!(refused["status"], "pending");
    let error = refused["last_error"].as_str().unwrap();
    assert!(error.to_lowercase().contains("tls"), "{error}");

    let new = maildir.join("new");
    let mails: Vec<_> = std::fs::read_dir(&new).unwrap().collect();
    assert_eq!(mails.len(), 1, "one mail, for the channel without a login");
    let mail = std::fs::read_to_string(mails[0].as_ref().unwrap().path()).unwrap();
    let key = by("on-call mail")["idempotency_key"].as_str().unwrap();
    assert!(
        mail.contains("Subject: [breakglass] Break-Glass Activated"),
        "{mail}"
    );
    assert!(
        mail.contains(&format!("Message-ID: <{key}@breakglass>")),
        "{mail}"
    );
    assert!(mail.contains("oncall@example.com") && mail.contains("ciso@example.com"));
    // The body is quoted-printable: its soft line breaks joined, the reason reads whole.
    assert!(
        mail.replace("=\n", "")
            .contains("Reason: mail gateway test, INC-91"),
        "{mail}"
    );
    assert!(!mail.contains("an smtp password"));
    s.stop().await;
}
