//! The gateway's cost: latency added over calling the upstream directly, at concurrency 1 and
//! 16 in one run, for the scanned path, the bypass path (with its durable record before the
//! request is forwarded), and two other gateways in front of the same upstream: the Portkey
//! AI gateway (Node, npm) and a real LiteLLM proxy (PyPI). The upstream is a fast stub in this
//! process (axum, not Python) answering a fixed completion. Also: the server's CPU per request,
//! the SQLite database and WAL sizes after the load, and the journal's write rate on its own
//! (records per second through group commit).
//!
//! The bench process (client and stub) is pinned to the first core and every gateway to the
//! second, so that each gateway has a core of its own and none competes with the client.
//!
//! Two floors show what any proxy costs on this core, whatever it does per request: the same
//! stack as the gateway (axum server, reqwest client) passing the bytes through with no
//! authentication, scan or record, and nginx as a reverse proxy.
//!
//! `cargo bench -p server --bench gateway` (runs the release `breakglass` binary on 127.0.0.1
//! with a fresh SQLite file; Portkey from `target/portkey` and LiteLLM from
//! `target/litellm-venv` when `.ci/setup --bench` installed them, otherwise their rows are
//! left out).

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

const DIRECT: &str = "direct to the stub";
const SCANNED: &str = "breakglass, scanned";
const BYPASS: &str = "breakglass, bypass (durable record first)";
const PORTKEY: &str = "Portkey gateway (Node)";
const LITELLM: &str = "LiteLLM proxy (Python)";
const FLOOR: &str = "floor: pass-through on the same stack (axum + reqwest)";
const NGINX: &str = "floor: nginx reverse proxy (C)";
/// Set in the environment of the bench binary re-run as the same-stack floor: the upstream.
const FLOOR_UPSTREAM: &str = "GATEWAY_BENCH_FLOOR_UPSTREAM";
/// The core the gateways run on; the bench itself runs on core 0.
const GATEWAY_CORE: &str = "1";

/// A command run on `GATEWAY_CORE`.
fn on_gateway_core(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut command = Command::new("taskset");
    command.args(["-c", GATEWAY_CORE]).arg(program);
    command
}

/// Pins every thread of this process to core 0.
fn pin_bench() {
    let pinned = Command::new("taskset")
        .args(["-a", "-p", "-c", "0", &std::process::id().to_string()])
        .stdout(Stdio::null())
        .status()
        .expect("taskset runs");
    assert!(pinned.success(), "taskset could not pin the bench");
}

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
        let mut child = on_gateway_core(env!("CARGO_BIN_EXE_breakglass"))
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
}

/// CPU time (user + system) the process `pid` has used so far.
fn cpu_of(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
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

/// Where a path's requests go, with the headers it needs.
struct Target {
    url: String,
    headers: reqwest::header::HeaderMap,
}

impl Target {
    fn new(url: String, headers: &[(&'static str, &str)]) -> Self {
        let headers = headers
            .iter()
            .map(|(name, value)| {
                (
                    reqwest::header::HeaderName::from_static(name),
                    value.parse().unwrap(),
                )
            })
            .collect();
        Self { url, headers }
    }
}

/// Latencies of `n` requests from `c` connections, each sending its share one after another.
async fn load(target: &Target, c: usize, n: usize) -> (Vec<Duration>, Duration) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(c)
        .build()
        .unwrap();
    let body = serde_json::to_vec(&body()).unwrap();
    let started = Instant::now();
    let tasks: Vec<_> = (0..c)
        .map(|i| {
            let client = client.clone();
            let url = target.url.clone();
            let headers = target.headers.clone();
            let body = body.clone();
            let share = n / c + usize::from(i < n % c);
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(share);
                for _ in 0..share {
                    let req = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .headers(headers.clone())
                        .body(body.clone());
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

/// Measures `target` at concurrency `c`, with the CPU time of the gateway process `pid`.
async fn measure(target: &Target, c: usize, n: usize, pid: Option<u32>) -> Run {
    load(target, c, WARM_UP.min(n)).await;
    let cpu = pid.map(cpu_of);
    let (latencies, elapsed) = load(target, c, n).await;
    Run {
        p50: pct(&latencies, 0.50),
        p99: pct(&latencies, 0.99),
        rate: n as f64 / elapsed.as_secs_f64(),
        cpu_per_request: pid
            .zip(cpu)
            .map(|(pid, before)| (cpu_of(pid) - before) / n as u32),
    }
}

fn added(path: Duration, direct: Duration) -> String {
    let ms = (path.as_secs_f64() - direct.as_secs_f64()) * 1000.0;
    format!("{ms:+.3} ms")
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

/// The same-stack floor: every request's body passed to `upstream` and its answer passed back,
/// nothing else. Prints its address for `floor` to read.
async fn pass_through(upstream: String) {
    use axum::body::Bytes;
    use axum::http::{header, StatusCode};
    let client = reqwest::Client::new();
    let url = format!("{upstream}/v1/chat/completions");
    let app = Router::new().route(
        "/v1/chat/completions",
        post(move |body: Bytes| {
            let forwarded = client
                .post(url.clone())
                .header(header::CONTENT_TYPE, "application/json")
                .body(body)
                .send();
            async move {
                let answer = forwarded.await.map_err(|_| StatusCode::BAD_GATEWAY)?;
                let status = answer.status().as_u16();
                let bytes = answer.bytes().await.map_err(|_| StatusCode::BAD_GATEWAY)?;
                Ok::<_, StatusCode>((
                    StatusCode::from_u16(status).unwrap(),
                    [(header::CONTENT_TYPE, "application/json")],
                    bytes,
                ))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("floor listening on {}", listener.local_addr().unwrap());
    axum::serve(listener, app).await.unwrap();
}

/// This bench binary run again as the same-stack floor, on the gateway's core.
async fn floor(upstream: &str) -> (tokio::process::Child, Target, ()) {
    let mut child = tokio::process::Command::from(on_gateway_core(
        std::env::current_exe().expect("the bench knows its own path"),
    ))
    .env(FLOOR_UPSTREAM, upstream)
    .stdout(Stdio::piped())
    .kill_on_drop(true)
    .spawn()
    .unwrap();
    let mut lines =
        tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(child.stdout.take().unwrap()));
    let address = loop {
        let line = lines.next_line().await.unwrap();
        let line = line.expect("the floor prints its address");
        if let Some(address) = line.strip_prefix("floor listening on ") {
            break address.to_owned();
        }
    };
    let target = Target::new(format!("http://{address}/v1/chat/completions"), &[]);
    (child, target, ())
}

/// nginx as a reverse proxy in front of `upstream` (one worker, keep-alive to the upstream),
/// when it is installed.
async fn nginx(upstream: &str) -> Option<(tokio::process::Child, Target, tempfile::TempDir)> {
    let bin = Path::new("/usr/sbin/nginx");
    if !bin.exists() {
        eprintln!("nginx is not installed; its row is left out");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let upstream = upstream.trim_start_matches("http://");
    std::fs::write(
        dir.path().join("nginx.conf"),
        format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {dir}/nginx.pid;\n\
             error_log {dir}/error.log error;\nevents {{ worker_connections 1024; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {dir}/body;\n\
             proxy_temp_path {dir}/proxy;\n\
             upstream stub {{ server {upstream}; keepalive 32; }}\n\
             server {{\n    listen 127.0.0.1:{port};\n\
             location / {{ proxy_pass http://stub; proxy_http_version 1.1; \
             proxy_set_header Connection \"\"; }}\n  }}\n}}\n",
            dir = dir.path().display()
        ),
    )
    .unwrap();
    let child = tokio::process::Command::from(on_gateway_core(bin))
        .arg("-c")
        .arg(dir.path().join("nginx.conf"))
        .arg("-p")
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let target = Target::new(format!("{url}/v1/chat/completions"), &[]);
    // nginx answers a GET of the completions path with the stub's 405: it is up.
    let client = reqwest::Client::new();
    for _ in 0..900 {
        if client.get(&target.url).send().await.is_ok() {
            return Some((child, target, dir));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("nginx did not start within 90 s");
}

/// A real LiteLLM proxy in front of `upstream`, when it is installed.
async fn litellm(upstream: &str) -> Option<(tokio::process::Child, Target, tempfile::TempDir)> {
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
    let port = free_port();
    let child = tokio::process::Command::from(on_gateway_core(bin))
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
    wait_live("LiteLLM", &format!("{url}/health/liveliness")).await;
    let target = Target::new(
        format!("{url}/v1/chat/completions"),
        &[("authorization", "Bearer sk-bench-master")],
    );
    Some((child, target, dir))
}

/// A free port on 127.0.0.1.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Answers 200 at `url` within 90 s, or the gateway did not start.
async fn wait_live(name: &str, url: &str) {
    let client = reqwest::Client::new();
    for _ in 0..900 {
        if let Ok(r) = client.get(url).send().await {
            if r.status() == 200 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{name} did not become live within 90 s");
}

/// The Portkey AI gateway (Node) in front of `upstream`, when it is installed. Its server
/// binds every interface; a preloaded module makes it listen on 127.0.0.1 only.
async fn portkey(upstream: &str) -> Option<(tokio::process::Child, Target, tempfile::TempDir)> {
    let start = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/portkey/node_modules/@portkey-ai/gateway/build/start-server.js");
    if !start.exists() {
        eprintln!(
            "Portkey is not installed ({}); its row is left out",
            start.display()
        );
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let loopback = dir.path().join("loopback.mjs");
    std::fs::write(
        &loopback,
        "import net from 'node:net';\n\
         const listen = net.Server.prototype.listen;\n\
         net.Server.prototype.listen = function (port, host, ...rest) {\n\
           if (typeof port === 'number' && (host === undefined || typeof host === 'function')) {\n\
             return listen.call(this, port, '127.0.0.1', ...(host ? [host, ...rest] : rest));\n\
           }\n\
           return listen.call(this, port, host, ...rest);\n\
         };\n",
    )
    .unwrap();
    let port = free_port();
    let child = tokio::process::Command::from(on_gateway_core("node"))
        .arg("--import")
        .arg(&loopback)
        .arg(start)
        .arg(format!("--port={port}"))
        .arg("--headless")
        .env("NODE_ENV", "production")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    wait_live("Portkey", &format!("{url}/")).await;
    let custom_host = format!("{upstream}/v1");
    let target = Target::new(
        format!("{url}/v1/chat/completions"),
        &[
            ("authorization", "Bearer sk-stub"),
            ("x-portkey-provider", "openai"),
            ("x-portkey-custom-host", &custom_host),
        ],
    );
    Some((child, target, dir))
}

/// The journal alone: records per second written through group commit by `writers` tasks,
/// each waiting for its record's commit before it sends the next (as a request does).
async fn journal_rate(
    writers: usize,
    records: usize,
    outcome: Option<app::domain::traffic::Outcome>,
) -> (f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("journal.db").display());
    let pool = app::server::database::connect(&url).await.unwrap();
    let journal =
        app::server::traffic::Journal::start(pool, &url, app::server::traffic::Fsync::default())
            .await
            .unwrap();
    let record = move |i: usize| app::server::traffic::NewTraffic {
        at: chrono::Utc::now(),
        source: app::domain::traffic::SOURCE_BREAK_GLASS,
        model: Some("gpt-4o-mini".into()),
        provider: Some("openai".into()),
        verdict: app::domain::Verdict::Bypassed,
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
        outcome,
        gateway_instance: None,
        text_truncated: false,
        scan_coverage: None,
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

fn main() {
    if let Ok(upstream) = std::env::var(FLOOR_UPSTREAM) {
        // The floor runs as the gateway does: a runtime sized to the one core it is given.
        return tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(pass_through(upstream));
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(bench());
}

async fn bench() {
    pin_bench();
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
    let direct = Target::new(format!("{upstream}/v1/chat/completions"), &[]);
    let bearer = format!("Bearer {key}");
    let gateway = Target::new(
        format!("{base}/v1/chat/completions"),
        &[("authorization", &bearer)],
    );
    let portkey = portkey(&upstream).await;
    let litellm = litellm(&upstream).await;
    let floor = floor(&upstream).await;
    let nginx = nginx(&upstream).await;
    let pid = |child: &tokio::process::Child| child.id();

    let mut rows: Vec<(&str, usize, Run)> = Vec::new();
    for (c, n) in REQUESTS {
        rows.push((DIRECT, c, measure(&direct, c, n, None).await));
        let (child, target, _) = &floor;
        rows.push((FLOOR, c, measure(target, c, n, pid(child)).await));
        if let Some((child, target, _)) = &nginx {
            rows.push((NGINX, c, measure(target, c, n, pid(child)).await));
        }
        rows.push((
            SCANNED,
            c,
            measure(&gateway, c, n, Some(server.child.id())).await,
        ));
        if let Some((child, target, _)) = &portkey {
            rows.push((PORTKEY, c, measure(target, c, n, pid(child)).await));
        }
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
            BYPASS,
            c,
            measure(&gateway, c, n, Some(server.child.id())).await,
        ));
    }
    let sizes = (
        file_mib(&server.db),
        file_mib(&server.db.with_extension("db-wal")),
    );
    let records: i64 = {
        let pool = app::server::database::connect(&format!("sqlite://{}", server.db.display()))
            .await
            .unwrap();
        sqlx::query_scalar("SELECT COUNT(*) FROM traffic WHERE source <> 'session-watcher'")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    if let Some((child, target, _)) = &litellm {
        for (c, n) in LITELLM_REQUESTS {
            rows.push((LITELLM, c, measure(target, c, n, pid(child)).await));
        }
    }

    println!("| path | c | p50 | p99 | added p50 | added p99 | req/s | gateway CPU per request |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (c, _) in REQUESTS {
        let direct = &rows
            .iter()
            .find(|(name, rc, _)| *rc == c && *name == DIRECT)
            .unwrap()
            .2;
        let ordered = [DIRECT, FLOOR, NGINX, SCANNED, BYPASS, PORTKEY, LITELLM]
            .into_iter()
            .flat_map(|path| {
                rows.iter()
                    .filter(move |(name, rc, _)| *rc == c && *name == path)
            });
        for (name, _, run) in ordered {
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
    use app::domain::traffic::Outcome;
    for (writers, records) in [(1, 2_000), (16, 100_000), (256, 200_000), (1024, 200_000)] {
        // A pending record (a bypassed request about to be forwarded) waits for the disk; a
        // whole one (a scanned request's) is committed to the log.
        for (grade, outcome) in [
            ("pending, fsynced", Outcome::Pending),
            ("whole, logged", Outcome::Completed),
        ] {
            let (rate, wal) = journal_rate(writers, records, Some(outcome)).await;
            println!(
                "Journal alone, {writers} writer(s), {grade} (2 KB request text each): \
                 {rate:.0} records/s; WAL after {records} records {wal:.1} MiB."
            );
        }
    }
}
