//! The gateway's cost: latency added over calling the upstream directly, at concurrency 1 and
//! 16 in one run, for the scanned path, the bypass path (with its durable record before the
//! request is forwarded) and a real LiteLLM proxy (PyPI) in front of the same upstream. The
//! upstream is a fast stub in this process (axum, not Python) answering a fixed completion.
//! Also: the server's CPU per request, the SQLite database and WAL sizes after the load, and
//! the journal's write rate on its own (records per second through group commit).
//!
//! `cargo bench -p server --bench gateway` (runs the release `breakglass` binary on 127.0.0.1
//! with a fresh SQLite file; LiteLLM from `target/litellm-venv` when `.ci/setup --browser`
//! installed it, otherwise that row is left out).

use axum::routing::post;
use axum::{Json, Router};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = "benchmark admin password";
/// Requests per measured run at concurrency 1 and 16 (LiteLLM gets fewer: it is slower).
const REQUESTS: [(usize, usize); 2] = [(1, 3_000), (16, 16_000)];
const LITELLM_REQUESTS: [(usize, usize); 2] = [(1, 400), (16, 1_600)];
const WARM_UP: usize = 300;

fn prompt() -> String {
    let sentence = "Please summarise the quarterly report for the operations team, listing the \
                    three largest changes in spending and the reasons given for each of them. ";
    sentence.repeat(2048 / sentence.len() + 1)[..2048].to_owned()
}

fn body() -> serde_json::Value {
    serde_json::json!({
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": prompt()}],
    })
}

/// The upstream: answers every completion at once with the same small body.
async fn stub() -> String {
    let answer = serde_json::json!({
        "id": "chatcmpl-bench", "object": "chat.completion", "model": "gpt-4o-mini",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": "Spending rose in three areas."}}],
        "usage": {"prompt_tokens": 420, "completion_tokens": 8, "total_tokens": 428},
    });
    let app = Router::new().route(
        "/v1/chat/completions",
        post(move || {
            let answer = answer.clone();
            async move { Json(answer) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

struct Server {
    child: Child,
    base: String,
    db: PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start(upstream: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("bench.db");
        let mut child = Command::new(env!("CARGO_BIN_EXE_breakglass"))
            .env("LEPTOS_SITE_ADDR", "127.0.0.1:0")
            .env("LEPTOS_SITE_ROOT", dir.path())
            .env("DATABASE_URL", format!("sqlite://{}", db.display()))
            .env("BREAKGLASS_ADMIN_PASSWORD", PASSWORD)
            .env("BREAKGLASS_SESSIONS_DIR", dir.path().join("sessions"))
            .env("BREAKGLASS_LITELLM_URL", upstream)
            .env("BREAKGLASS_BYPASS_URL", upstream)
            .env("RUST_LOG", "error")
            .stdout(Stdio::piped())
            .spawn()
            .expect("the breakglass binary starts");
        let stdout = child.stdout.take().unwrap();
        let base = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|l| {
                l.strip_prefix("breakglass is listening on ")
                    .map(|a| a.trim().to_owned())
            })
            .expect("the server prints its address");
        Self {
            child,
            base,
            db,
            _dir: dir,
        }
    }

    /// CPU time (user + system) the server process has used so far.
    fn cpu(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .unwrap()
            .1
            .split_whitespace()
            .collect();
        // utime and stime are fields 14 and 15 of stat(5); here 0-based after the name.
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        Duration::from_millis(ticks * 10)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn file_mib(path: &Path) -> f64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0) as f64 / (1024.0 * 1024.0)
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
        .json(&serde_json::json!({"username": "admin", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    client
}

/// Latencies of `n` requests from `c` connections, each sending its share one after another.
async fn load(url: &str, key: Option<&str>, c: usize, n: usize) -> (Vec<Duration>, Duration) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(c)
        .build()
        .unwrap();
    let body = serde_json::to_vec(&body()).unwrap();
    let started = Instant::now();
    let tasks: Vec<_> = (0..c)
        .map(|i| {
            let client = client.clone();
            let url = url.to_owned();
            let key = key.map(str::to_owned);
            let body = body.clone();
            let share = n / c + usize::from(i < n % c);
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(share);
                for _ in 0..share {
                    let mut req = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(body.clone());
                    if let Some(key) = &key {
                        req = req.bearer_auth(key);
                    }
                    let t = Instant::now();
                    let res = req.send().await.unwrap();
                    assert_eq!(res.status(), 200, "{url}");
                    res.bytes().await.unwrap();
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::with_capacity(n);
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let elapsed = started.elapsed();
    all.sort_unstable();
    (all, elapsed)
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

struct Run {
    p50: Duration,
    p99: Duration,
    rate: f64,
    cpu_per_request: Option<Duration>,
}

async fn measure(url: &str, key: Option<&str>, c: usize, n: usize, server: Option<&Server>) -> Run {
    load(url, key, c, WARM_UP.min(n)).await;
    let cpu = server.map(Server::cpu);
    let (latencies, elapsed) = load(url, key, c, n).await;
    Run {
        p50: pct(&latencies, 0.50),
        p99: pct(&latencies, 0.99),
        rate: n as f64 / elapsed.as_secs_f64(),
        cpu_per_request: server
            .zip(cpu)
            .map(|(s, before)| (s.cpu() - before) / n as u32),
    }
}

fn added(path: Duration, direct: Duration) -> String {
    let ms = (path.as_secs_f64() - direct.as_secs_f64()) * 1000.0;
    format!("{ms:+.3} ms")
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

/// A real LiteLLM proxy in front of `upstream`, when it is installed.
async fn litellm(upstream: &str) -> Option<(tokio::process::Child, String, tempfile::TempDir)> {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/litellm-venv/bin/litellm");
    if !bin.exists() {
        eprintln!(
            "LiteLLM is not installed ({}); its row is left out",
            bin.display()
        );
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.yaml"),
        format!(
            "model_list:\n  - model_name: gpt-4o-mini\n    litellm_params:\n      model: openai/gpt-4o-mini\n      api_base: {upstream}/v1\n      api_key: sk-stub\n"
        ),
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = tokio::process::Command::new(bin)
        .arg("--config")
        .arg(dir.path().join("config.yaml"))
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .env("LITELLM_MASTER_KEY", "sk-bench-master")
        .env("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        .env("LITELLM_TELEMETRY_DISABLED", "True")
        .env("DO_NOT_TRACK", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..900 {
        if let Ok(r) = client.get(format!("{url}/health/liveliness")).send().await {
            if r.status() == 200 {
                return Some((child, url, dir));
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("LiteLLM did not become live within 90 s");
}

/// The journal alone: records per second written through group commit by `writers` tasks,
/// each waiting for its record's commit before it sends the next (as a request does).
async fn journal_rate(writers: usize, records: usize) -> (f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("journal.db").display());
    let pool = app::database::connect(&url).await.unwrap();
    let journal = app::traffic::Journal::start(pool, &url).await.unwrap();
    let record = |i: usize| app::traffic::NewTraffic {
        at: chrono::Utc::now(),
        source: app::traffic::SOURCE_BREAK_GLASS,
        model: Some("gpt-4o-mini".into()),
        provider: Some("openai".into()),
        verdict: app::traffic::Verdict::Bypassed,
        score: None,
        detections: Vec::new(),
        latency_ms: Some(3),
        tokens_in: Some(420),
        tokens_out: Some(8),
        http_status: Some(200),
        api_key_id: None,
        session_id: Some("bench".into()),
        request_id: format!("bench-{i}"),
        request_text: Some(prompt()),
        response_text: Some("Spending rose in three areas.".into()),
        rescan_of: None,
        direction: None,
        outcome: None,
        gateway_instance: None,
        text_truncated: false,
    };
    let started = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let journal = journal.clone();
            tokio::spawn(async move {
                for i in (w..records).step_by(writers) {
                    journal.insert(record(i)).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let rate = records as f64 / started.elapsed().as_secs_f64();
    let wal = file_mib(&dir.path().join("journal.db-wal"));
    (rate, wal)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `-- journal`: only the journal's write rate.
    if std::env::args().skip(1).any(|a| a == "journal") {
        return journal_rates().await;
    }
    let upstream = stub().await;
    let server = Server::start(&upstream);
    let base = server.base.clone();
    let admin = admin(&base).await;
    let created: serde_json::Value = admin
        .post(format!("{base}/api/keys"))
        .json(&serde_json::json!({
            "name": "bench", "scopes": ["gateway"], "rate_limit_per_minute": 100000
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = created["secret"].as_str().unwrap().to_owned();
    let direct_url = format!("{upstream}/v1/chat/completions");
    let gateway_url = format!("{base}/v1/chat/completions");
    let litellm = litellm(&upstream).await;

    let mut rows: Vec<(String, usize, Run)> = Vec::new();
    for (c, n) in REQUESTS {
        rows.push((
            "direct to the stub".into(),
            c,
            measure(&direct_url, None, c, n, None).await,
        ));
        rows.push((
            "breakglass, scanned".into(),
            c,
            measure(&gateway_url, Some(&key), c, n, Some(&server)).await,
        ));
    }
    // One window for both bypass runs: after it ends, the cool-down refuses another.
    let res = admin
        .post(format!("{base}/api/break-glass/activate"))
        .json(&serde_json::json!({
            "reason": "benchmark of the bypass path", "duration_minutes": 240, "confirm": "CONFIRM"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    for (c, n) in REQUESTS {
        rows.push((
            "breakglass, bypass (durable record first)".into(),
            c,
            measure(&gateway_url, Some(&key), c, n, Some(&server)).await,
        ));
    }
    let sizes = (
        file_mib(&server.db),
        file_mib(&server.db.with_extension("db-wal")),
    );
    let records: i64 = {
        let pool = app::database::connect(&format!("sqlite://{}", server.db.display()))
            .await
            .unwrap();
        sqlx::query_scalar("SELECT COUNT(*) FROM traffic WHERE source <> 'session-watcher'")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    if let Some((_, url, _)) = &litellm {
        for (c, n) in LITELLM_REQUESTS {
            rows.push((
                "LiteLLM proxy (Python)".into(),
                c,
                measure(
                    &format!("{url}/v1/chat/completions"),
                    Some("sk-bench-master"),
                    c,
                    n,
                    None,
                )
                .await,
            ));
        }
    }

    println!("| path | c | p50 | p99 | added p50 | added p99 | req/s | server CPU per request |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (c, _) in REQUESTS {
        let direct = &rows
            .iter()
            .find(|(name, rc, _)| *rc == c && name.starts_with("direct"))
            .unwrap()
            .2;
        for (name, _, run) in rows.iter().filter(|(_, rc, _)| *rc == c) {
            let is_direct = std::ptr::eq(run, direct);
            println!(
                "| {name} | {c} | {} | {} | {} | {} | {:.0} | {} |",
                ms(run.p50),
                ms(run.p99),
                if is_direct {
                    "—".into()
                } else {
                    added(run.p50, direct.p50)
                },
                if is_direct {
                    "—".into()
                } else {
                    added(run.p99, direct.p99)
                },
                run.rate,
                run.cpu_per_request
                    .map(|d| format!("{} µs", d.as_micros()))
                    .unwrap_or_else(|| "—".into())
            );
        }
    }
    let sent: usize = WARM_UP * 4 + REQUESTS.iter().map(|(_, n)| 2 * n).sum::<usize>();
    println!();
    println!(
        "Gateway requests sent {sent}, traffic records {records}; after the load the database \
         is {:.1} MiB and its WAL {:.1} MiB.",
        sizes.0, sizes.1
    );
    println!();
    journal_rates().await;
}

async fn journal_rates() {
    for (writers, records) in [(1, 2_000), (16, 100_000), (256, 200_000), (1024, 200_000)] {
        let (rate, wal) = journal_rate(writers, records).await;
        println!(
            "Journal alone, {writers} writer(s) (2 KB request text each): {rate:.0} records/s; \
             WAL after {records} records {wal:.1} MiB."
        );
    }
}
