//! SSE fan-out: how long from an activation until the last of N subscribers has the event, and
//! how much server memory each subscriber costs. Runs the real `breakglass` binary on
//! 127.0.0.1 (a fresh SQLite file per run) and N real HTTP connections to `/api/events`.
//! The baseline is one subscriber in the same run; results are reported as ratios to it.
//!
//! `cargo bench -p server --bench sse_fanout` (add `-- 1000` to choose the sizes).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

const PASSWORD: &str = "benchmark admin password";

struct Server {
    child: Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_breakglass"))
            .env("LEPTOS_SITE_ADDR", "127.0.0.1:0")
            .env(
                "DATABASE_URL",
                format!("sqlite://{}", dir.path().join("bench.db").display()),
            )
            .env("BREAKGLASS_ADMIN_PASSWORD", PASSWORD)
            .env("RUST_LOG", "error")
            .stdout(Stdio::piped())
            .spawn()
            .expect("the breakglass binary starts");
        let stdout = child.stdout.take().unwrap();
        let addr = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|l| {
                l.split("listening on http://")
                    .nth(1)
                    .map(|a| a.trim().to_owned())
            })
            .expect("the server prints its address");
        Self {
            child,
            addr,
            _dir: dir,
        }
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Opens a stream, waits for its snapshot, then reports when the activation arrives.
async fn subscriber(
    addr: String,
    cookie: String,
    ready: mpsc::Sender<()>,
    activated: mpsc::Sender<Instant>,
) {
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    let request = format!(
        "GET /api/events HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\nAccept: text/event-stream\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut seen = Vec::with_capacity(4096);
    let mut buf = [0u8; 4096];
    let mut snapshot = false;
    loop {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "stream ended early");
        seen.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&seen);
        if !snapshot && text.contains("event: state") {
            snapshot = true;
            ready.send(()).await.unwrap();
        }
        if text.contains("\"change\":\"activated\"") {
            activated.send(Instant::now()).await.unwrap();
            return;
        }
    }
}

struct Measurement {
    subscribers: usize,
    to_last_event: Duration,
    activate_round_trip: Duration,
    rss_per_subscriber_kib: f64,
}

async fn measure(n: usize) -> Measurement {
    let server = Server::start();
    let base = format!("http://{}", server.addr);
    let client = reqwest::Client::new();
    let login = client
        .post(format!("{base}/api/auth/login"))
        .json(&serde_json::json!({"username": "admin", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss_before = server.rss_kib();

    let (ready_tx, mut ready_rx) = mpsc::channel(n);
    let (done_tx, mut done_rx) = mpsc::channel(n);
    // Connect in batches so as not to overflow the listen backlog.
    for batch in (0..n).collect::<Vec<_>>().chunks(500) {
        for _ in batch {
            tokio::spawn(subscriber(
                server.addr.clone(),
                cookie.clone(),
                ready_tx.clone(),
                done_tx.clone(),
            ));
        }
        for _ in batch {
            ready_rx.recv().await.unwrap();
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss_after = server.rss_kib();

    let start = Instant::now();
    let res = client
        .post(format!("{base}/api/break-glass/activate"))
        .header("cookie", &cookie)
        .header("origin", &base)
        .json(&serde_json::json!({"reason": "benchmark fan-out", "duration_minutes": 15, "confirm": "CONFIRM"}))
        .send()
        .await
        .unwrap();
    let activate_round_trip = start.elapsed();
    assert_eq!(res.status(), 200);
    let mut last = start;
    for _ in 0..n {
        last = last.max(done_rx.recv().await.unwrap());
    }
    Measurement {
        subscribers: n,
        to_last_event: last - start,
        activate_round_trip,
        rss_per_subscriber_kib: rss_after.saturating_sub(rss_before) as f64 / n as f64,
    }
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![1000, 10_000]
    } else {
        sizes
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // Warm-up, then the baseline: a single subscriber.
        measure(1).await;
        let baseline = measure(1).await;
        println!("| subscribers | activation sent → last subscriber's event | ratio to 1 subscriber | activate round trip | server RSS per subscriber |");
        println!("|---:|---:|---:|---:|---:|");
        let row = |m: &Measurement| {
            println!(
                "| {} | {:.1} ms | {:.1}× | {:.1} ms | {} |",
                m.subscribers,
                m.to_last_event.as_secs_f64() * 1e3,
                m.to_last_event.as_secs_f64() / baseline.to_last_event.as_secs_f64(),
                m.activate_round_trip.as_secs_f64() * 1e3,
                if m.subscribers == 1 {
                    "—".to_owned()
                } else {
                    format!("{:.1} KiB", m.rss_per_subscriber_kib)
                },
            )
        };
        row(&baseline);
        for n in sizes {
            row(&measure(n).await);
        }
    });
}
