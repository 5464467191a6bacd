//! Real server processes (the `breakglass` binary) sharing one PostgreSQL database, and a TCP
//! relay that can cut one replica off from that database.

use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

use super::ADMIN_PASSWORD;

/// One replica: a `breakglass` process on a random port of 127.0.0.1.
pub struct Replica {
    pub base: String,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Replica {
    /// Starts the binary on `database_url` with stub upstreams at `upstream` (both the
    /// LiteLLM path and the bypass path), and waits until it listens.
    pub async fn start(database_url: &str, upstream: &str) -> Replica {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_breakglass"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", database_url)
            .env("LEPTOS_SITE_ADDR", "127.0.0.1:0")
            .env("LEPTOS_SITE_ROOT", dir.path())
            .env("BREAKGLASS_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("BREAKGLASS_SESSIONS_DIR", dir.path().join("sessions"))
            .env("BREAKGLASS_LITELLM_URL", upstream)
            .env("BREAKGLASS_BYPASS_URL", upstream)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the breakglass binary starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let base = loop {
            let line = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line())
                .await
                .expect("the replica starts within 30 s")
                .unwrap()
                .expect("the replica prints its address");
            if let Some(addr) = line.strip_prefix("breakglass is listening on ") {
                break addr.to_owned();
            }
        };
        // Keep reading stdout so the child never blocks on a full pipe; its log (warnings and
        // errors) goes to the test's output, shown when a test fails.
        let name = base.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                eprintln!("[{name}] {line}");
            }
        });
        Replica {
            base,
            child,
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Kills the process without letting it shut down, as a crash would.
    pub async fn kill(mut self) {
        self.child.kill().await.unwrap();
    }

    /// A client with its own cookies that sends this replica's Origin, logged in as admin.
    pub async fn admin(&self) -> reqwest::Client {
        self.logged_in("admin", ADMIN_PASSWORD).await
    }

    /// The same, logged in as `username`.
    pub async fn logged_in(&self, username: &str, password: &str) -> reqwest::Client {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::ORIGIN,
            reqwest::header::HeaderValue::from_str(&self.base).unwrap(),
        );
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .default_headers(headers)
            .build()
            .unwrap();
        let res = client
            .post(self.url("/api/auth/login"))
            .json(&serde_json::json!({"username": username, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "login as {username} on {}", self.base);
        client
    }
}

/// A TCP relay from a port on 127.0.0.1 to `target`, which can cut every connection.
pub struct Relay {
    pub port: u16,
    cut: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Relay {
    pub async fn start(target: std::net::SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let open: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept = {
            let (cut, open) = (cut.clone(), open.clone());
            tokio::spawn(async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    if cut.load(Ordering::SeqCst) {
                        drop(inbound);
                        continue;
                    }
                    let relay = tokio::spawn(async move {
                        if let Ok(mut outbound) = TcpStream::connect(target).await {
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    });
                    open.lock().unwrap().push(relay);
                }
            })
        };
        Relay {
            port,
            cut,
            open,
            accept,
        }
    }

    /// Drops every relayed connection and refuses new ones, as a failed network would.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for relay in self.open.lock().unwrap().drain(..) {
            relay.abort();
        }
    }

    pub fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}
