//! Two replicas on one PostgreSQL database (a throwaway cluster, or `TEST_POSTGRES_URL`):
//!
//! - propagation: activate on replica A, and time the `activated` event on A's own event hub
//!   (the baseline: commit, then publish) and on B's (commit, NOTIFY, B reads the state,
//!   publish). Two servers in this process on a shared manual clock, so that each round can
//!   skip the cool-down; the path between them is the real PostgreSQL LISTEN/NOTIFY.
//! - traffic writes: `POST /api/proxy/ingest` from 32 concurrent clients for a few seconds,
//!   first all to one `breakglass` process, then split over two; records per second, and every
//!   accepted record counted in the database afterwards.
//!
//! `cargo bench -p server --bench replicas`

// The TLS cluster is for the tests.
#[allow(dead_code)]
#[path = "../tests/support/postgres.rs"]
mod postgres;
// The relay and the kill switch are for the tests.
#[allow(dead_code)]
#[path = "../tests/support/replica.rs"]
mod replica;

use app::server::clock::ManualClock;
use app::server::events::Published;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

const ADMIN_PASSWORD: &str = "benchmark admin password";
const ROUNDS: usize = 40;
const CLIENTS: usize = 32;
const WRITE_SECONDS: u64 = 5;

fn config(url: &str, dir: &std::path::Path) -> server::config::Config {
    server::config::Config::from_lookup(|k| match k {
        "DATABASE_URL" => Some(url.to_owned()),
        "BREAKGLASS_ADMIN_PASSWORD" => Some(ADMIN_PASSWORD.to_owned()),
        "LEPTOS_SITE_ADDR" => Some("127.0.0.1:0".to_owned()),
        "BREAKGLASS_SESSIONS_DIR" => Some(dir.display().to_string()),
        _ => None,
    })
    .unwrap()
}

/// When the next state event with `change` arrives on `rx`.
async fn until_change(mut rx: broadcast::Receiver<Published>, change: &'static str) -> Instant {
    let wanted = format!("\"change\":\"{change}\"");
    loop {
        let p = rx.recv().await.unwrap();
        if p.name == "state" && p.data.contains(&wanted) {
            return Instant::now();
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn propagation(url: &str) {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(chrono::Utc::now());
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        replicas.push(
            server::start(&config(url, dir.path()), clock.clone(), listener)
                .await
                .unwrap(),
        );
    }
    let (a, b) = (&replicas[0], &replicas[1]);
    let base = format!("http://{}", a.addr);
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let origin = |r: reqwest::RequestBuilder| r.header("origin", &base);
    origin(client.post(format!("{base}/api/auth/login")))
        .json(&serde_json::json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    let (mut on_a, mut on_b, mut round_trips) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let at_a = tokio::spawn(until_change(a.state.events.subscribe(), "activated"));
        let at_b = tokio::spawn(until_change(b.state.events.subscribe(), "activated"));
        let b_deactivated = b.state.events.subscribe();
        let sent = Instant::now();
        let res = origin(client.post(format!("{base}/api/break-glass/activate")))
            .json(&serde_json::json!({
                "reason": "benchmarking propagation", "duration_minutes": 15, "confirm": "CONFIRM"
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        round_trips.push(sent.elapsed());
        let (at_a, at_b) = (at_a.await.unwrap(), at_b.await.unwrap());
        on_a.push(at_a - sent);
        on_b.push(at_b.saturating_duration_since(at_a));
        let res = origin(client.post(format!("{base}/api/break-glass/deactivate")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        until_change(b_deactivated, "deactivated").await;
        clock.advance(chrono::TimeDelta::minutes(16));
    }
    for list in [&mut on_a, &mut on_b, &mut round_trips] {
        list.sort();
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("propagation over {ROUNDS} activations:");
    println!("| | median | p95 | max |");
    println!("|---|---:|---:|---:|");
    for (name, list) in [
        (
            "activate request sent → A's own subscribers (baseline)",
            &on_a,
        ),
        (
            "A's subscribers → B's subscribers (commit on A → event on B)",
            &on_b,
        ),
        ("activate round trip on A", &round_trips),
    ] {
        println!(
            "| {name} | {:.2} ms | {:.2} ms | {:.2} ms |",
            ms(percentile(list, 0.5)),
            ms(percentile(list, 0.95)),
            ms(*list.last().unwrap())
        );
    }
    println!(
        "ratio of median propagation to the same-replica median: {:.2}×",
        percentile(&on_b, 0.5).as_secs_f64() / percentile(&on_a, 0.5).as_secs_f64()
    );
    for r in replicas {
        r.stop().await.unwrap();
    }
}

/// Ingests from `CLIENTS` clients (client i uses key i and replica i mod n) for a few
/// seconds; returns the records accepted.
async fn ingest(replicas: &[&replica::Replica], keys: &[String]) -> u64 {
    let accepted = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(WRITE_SECONDS);
    let mut tasks = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let url = replicas[i % replicas.len()].url("/api/proxy/ingest");
        let (key, accepted) = (key.clone(), accepted.clone());
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut n = 0u64;
            while Instant::now() < deadline {
                let res = client
                    .post(&url)
                    .bearer_auth(&key)
                    .json(&serde_json::json!({
                        "source": "litellm", "model": "gpt-4o-mini", "provider": "openai",
                        "verdict": "ALLOW", "score": 3, "latency_ms": 120,
                        "request_id": format!("bench-{i}-{n}"),
                    }))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
                accepted.fetch_add(1, Ordering::Relaxed);
                n += 1;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    accepted.load(Ordering::Relaxed)
}

async fn writes(url: &str) {
    let a = replica::Replica::start(url, "http://127.0.0.1:9").await;
    let b = replica::Replica::start(url, "http://127.0.0.1:9").await;
    let admin = a.admin().await;
    let mut keys = Vec::new();
    for i in 0..CLIENTS {
        let res = admin
            .post(a.url("/api/keys"))
            .json(&serde_json::json!({
                "name": format!("bench {i}"), "scopes": ["ingest"], "rate_limit_per_minute": 100000
            }))
            .send()
            .await
            .unwrap();
        let body: serde_json::Value = res.json().await.unwrap();
        keys.push(body["secret"].as_str().unwrap().to_owned());
    }
    let pool = app::server::database::connect(url).await.unwrap();
    let count = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM traffic")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    let one = ingest(&[&a], &keys).await;
    let after_one = count().await;
    let two = ingest(&[&a, &b], &keys).await;
    let after_two = count().await;
    assert_eq!(after_one as u64, one, "every accepted record is stored");
    assert_eq!(
        (after_two - after_one) as u64,
        two,
        "every accepted record is stored"
    );
    let rate = |n: u64| n as f64 / WRITE_SECONDS as f64;
    println!("traffic writes, {CLIENTS} clients for {WRITE_SECONDS} s each:");
    println!("| replicas | records/s | ratio to one replica | stored = accepted |");
    println!("|---:|---:|---:|---|");
    println!("| 1 | {:.0} | 1.00× | {one} = {after_one} |", rate(one));
    println!(
        "| 2 | {:.0} | {:.2}× | {two} = {} |",
        rate(two),
        two as f64 / one as f64,
        after_two - after_one
    );
}

#[tokio::main]
async fn main() {
    let pg = postgres::Postgres::start().await;
    propagation(&pg.url).await;
    writes(&pg.url).await;
}
