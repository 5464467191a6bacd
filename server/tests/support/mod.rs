//! A real server on 127.0.0.1 with a random port, a fresh database and a manual clock.
//!
//! The database is a SQLite file by default. With `TEST_STORE=postgres` the same tests run on
//! PostgreSQL: each test's database path names a database of its own on the server that
//! `TEST_POSTGRES_URL` points at (`.ci/test` starts a throwaway one).

#![allow(dead_code)]

pub mod fault_upstream;
pub mod postgres;
pub mod replica;
pub mod traffic_seed;
pub mod upstream;

use app::server::clock::ManualClock;
use futures::StreamExt;
use reqwest::header::{HeaderMap, HeaderValue, ORIGIN};
use server::config::Config;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const ADMIN_PASSWORD: &str = "correct horse battery staple";

pub struct TestServer {
    pub base: String,
    pub running: Option<server::Running>,
    pub clock: Arc<ManualClock>,
    pub db_path: PathBuf,
}

/// Whether these tests run on PostgreSQL (`TEST_STORE=postgres`) rather than SQLite.
pub fn on_postgres() -> bool {
    match std::env::var("TEST_STORE").as_deref() {
        Ok("postgres") => true,
        Ok("sqlite") | Err(_) => false,
        Ok(other) => panic!("TEST_STORE must be sqlite or postgres, not {other:?}"),
    }
}

fn postgres_server() -> String {
    std::env::var("TEST_POSTGRES_URL").expect(
        "TEST_STORE=postgres needs TEST_POSTGRES_URL (a server where tests may create databases)",
    )
}

/// The database name that stands for `db_path` on PostgreSQL.
fn postgres_name(db_path: &Path) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    db_path.hash(&mut h);
    format!("breakglass_{:016x}", h.finish())
}

/// The store URL for the test database at `db_path`.
pub fn database_url(db_path: &Path) -> String {
    if on_postgres() {
        postgres::with_database(&postgres_server(), &postgres_name(db_path))
    } else {
        format!("sqlite://{}", db_path.display())
    }
}

/// Creates the PostgreSQL database for `db_path` the first time (a SQLite file creates itself).
pub async fn prepare_database(db_path: &Path) {
    if !on_postgres() {
        return;
    }
    let name = postgres_name(db_path);
    let admin = postgres_server();
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
        .await
        .unwrap();
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(&name)
        .fetch_optional(&mut conn)
        .await
        .unwrap();
    if exists.is_none() {
        postgres::create_database(&admin, &name).await;
    }
}

pub fn config(db_path: &Path, extra: &[(&str, String)]) -> Config {
    Config::from_lookup(|k| match k {
        "DATABASE_URL" => Some(database_url(db_path)),
        "BREAKGLASS_ADMIN_PASSWORD" => Some(ADMIN_PASSWORD.to_owned()),
        "LEPTOS_SITE_ADDR" => Some("127.0.0.1:0".to_owned()),
        // Never the real ~/.openclaw: a directory next to the test's database.
        "BREAKGLASS_SESSIONS_DIR" if !extra.iter().any(|(n, _)| *n == k) => {
            Some(db_path.with_file_name("sessions").display().to_string())
        }
        _ => extra.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone()),
    })
    .expect("test configuration is valid")
}

impl TestServer {
    pub async fn start(db_path: &Path, clock: Arc<ManualClock>) -> Self {
        Self::start_with(db_path, clock, &[]).await
    }

    pub async fn start_with(
        db_path: &Path,
        clock: Arc<ManualClock>,
        extra: &[(&str, String)],
    ) -> Self {
        prepare_database(db_path).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let running = server::start(&config(db_path, extra), clock.clone(), listener)
            .await
            .expect("server starts");
        Self {
            base: format!("http://{}", running.addr),
            running: Some(running),
            clock,
            db_path: db_path.to_owned(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await.expect("server stops cleanly");
        }
    }

    /// A client that keeps cookies and sends this server's Origin, as a browser tab would.
    pub fn client(&self) -> reqwest::Client {
        let mut headers = HeaderMap::new();
        headers.insert(ORIGIN, HeaderValue::from_str(&self.base).unwrap());
        reqwest::Client::builder()
            .cookie_store(true)
            .default_headers(headers)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    pub async fn logged_in(&self, username: &str, password: &str) -> reqwest::Client {
        let client = self.client();
        let res = client
            .post(self.url("/api/auth/login"))
            .json(&serde_json::json!({"username": username, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "login as {username}");
        client
    }

    pub async fn admin(&self) -> reqwest::Client {
        self.logged_in("admin", ADMIN_PASSWORD).await
    }

    /// Creates an API key with every scope through the admin API and returns its secret.
    pub async fn create_api_key(&self, admin: &reqwest::Client, name: &str) -> String {
        let scopes = [
            "gateway",
            "ingest",
            "shield:scan",
            "break_glass:read",
            "audit:read",
        ];
        self.create_key_with(admin, serde_json::json!({ "name": name, "scopes": scopes }))
            .await
    }

    /// Creates an API key from a full request body and returns its secret.
    pub async fn create_key_with(
        &self,
        admin: &reqwest::Client,
        body: serde_json::Value,
    ) -> String {
        let res = admin
            .post(self.url("/api/keys"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let created: serde_json::Value = res.json().await.unwrap();
        let secret = created["secret"].as_str().unwrap().to_owned();
        assert!(secret.starts_with("bgk_"));
        secret
    }

    /// Sets the shield mode through the admin API.
    pub async fn set_shield_mode(&self, admin: &reqwest::Client, mode: &str) {
        let res = admin
            .put(self.url("/api/shield/mode"))
            .json(&serde_json::json!({ "mode": mode }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "setting the shield mode to {mode}");
    }

    /// A second pool on the same database, to seed and inspect rows.
    pub async fn db(&self) -> app::server::database::Pool {
        app::server::database::connect(&database_url(&self.db_path))
            .await
            .unwrap()
    }
}

pub fn fresh_db() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("breakglass.db");
    (dir, path)
}

pub fn activation(reason: &str, minutes: i64) -> serde_json::Value {
    serde_json::json!({"reason": reason, "duration_minutes": minutes, "confirm": "CONFIRM"})
}

/// Waits (up to 10 s, polling) until `check` holds; the bound only stops a broken test.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..500 {
        if check().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for: {what}");
}

/// A parsed server-sent event.
#[derive(Debug, Clone)]
pub struct Sse {
    pub event: String,
    pub data: serde_json::Value,
}

/// Reads events from an open `text/event-stream` response.
pub struct SseReader {
    stream: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: String,
}

impl SseReader {
    pub async fn open(client: &reqwest::Client, url: &str) -> Self {
        Self::from_response(client.get(url).send().await.unwrap())
    }

    pub fn from_response(res: reqwest::Response) -> Self {
        assert_eq!(res.status(), 200);
        assert_eq!(
            res.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Self {
            stream: res.bytes_stream().boxed(),
            buffer: String::new(),
        }
    }

    /// The next event (keep-alive comments skipped), or `None` when the stream ended.
    pub async fn next(&mut self) -> Option<Sse> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = None;
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        event = Some(v.trim().to_owned());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if let Some(event) = event {
                    return Some(Sse {
                        event,
                        data: serde_json::from_str(&data).expect("event data is JSON"),
                    });
                }
                continue;
            }
            let chunk =
                tokio::time::timeout(std::time::Duration::from_secs(10), self.stream.next())
                    .await
                    .expect("an event within 10 s")?
                    .ok()?;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Skips events until one named `event` arrives.
    pub async fn next_named(&mut self, event: &str) -> Sse {
        loop {
            let e = self.next().await.expect("stream still open");
            if e.event == event {
                return e;
            }
        }
    }
}

/// The password of the operators `operator` creates.
pub const OPERATOR_PASSWORD: &str = "a long enough password";

/// An RFC 3339 time from a JSON string.
pub fn ts(v: &serde_json::Value) -> chrono::DateTime<chrono::Utc> {
    v.as_str().unwrap().parse().unwrap()
}

/// POSTs `body` as JSON: the status and the JSON answer (`null` when there is none).
pub async fn post(
    client: &reqwest::Client,
    url: String,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let res = client.post(url).json(&body).send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(serde_json::Value::Null))
}

/// GETs `url` and reads its JSON answer.
pub async fn get_json<T: serde::de::DeserializeOwned>(client: &reqwest::Client, url: String) -> T {
    client.get(url).send().await.unwrap().json().await.unwrap()
}

/// PUTs `body` as JSON: the status and the JSON answer.
pub async fn put(
    client: &reqwest::Client,
    url: String,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let res = client.put(url).json(&body).send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(serde_json::Value::Null))
}

/// `GET /api/break-glass/status` as `client`.
pub async fn status(client: &reqwest::Client, s: &TestServer) -> serde_json::Value {
    client
        .get(s.url("/api/break-glass/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Creates the operator `name` with `role` through the admin API and logs them in.
pub async fn operator(
    s: &TestServer,
    admin: &reqwest::Client,
    name: &str,
    role: &str,
) -> reqwest::Client {
    let (code, _) = post(
        admin,
        s.url("/api/operators"),
        serde_json::json!({"username": name, "password": OPERATOR_PASSWORD, "role": role}),
    )
    .await;
    assert_eq!(code, 201);
    s.logged_in(name, OPERATOR_PASSWORD).await
}

/// The one number `sql` selects, from the test's database.
pub async fn count(s: &TestServer, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(&s.db().await)
        .await
        .unwrap()
}
