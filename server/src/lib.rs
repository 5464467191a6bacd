//! The breakglass server: configuration, the axum router (JSON API, SSE, the Leptos app) and
//! the background tasks. `main.rs` runs it; the integration tests start it on a random port.

#![recursion_limit = "256"]

mod audit_checkpoints;
mod audit_syslog;
pub mod config;
mod gateway;
mod http;
mod notifications;
mod replication;
pub mod shield_eval;
pub mod shield_training;
pub mod state;

pub use http::access;

use crate::replication::Replication;
use crate::state::AppState;
use app::server::break_glass::BreakGlassService;
use app::server::clock::SharedClock;
use app::server::events::EventHub;
use config::Config;
use leptos::config::LeptosOptions;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long a stop waits for the background tasks to finish what they were writing.
const WORKERS_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// A running server: its address, and the handle to stop it.
pub struct Running {
    pub addr: SocketAddr,
    pub state: AppState,
    journal: app::server::traffic::Journal,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<std::io::Result<()>>,
    /// The background tasks that write to the store and end on shutdown.
    workers: Vec<JoinHandle<()>>,
    /// The admin password generated on first start, if one was.
    pub generated_admin_password: Option<String>,
}

impl Running {
    /// Stops accepting, ends open event streams and the timers, gives requests in flight the
    /// shutdown grace, waits for the server and for the background tasks to finish what they
    /// were writing (an audit syslog batch and its position, a notification's outcome), and
    /// writes the last traffic records.
    pub async fn stop(self) -> std::io::Result<()> {
        self.shutdown.send_replace(true);
        let result = self
            .task
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        let workers = async {
            for worker in self.workers {
                let _ = worker.await;
            }
        };
        if tokio::time::timeout(WORKERS_GRACE, workers).await.is_err() {
            tracing::warn!("background tasks still busy after the shutdown grace; stopping anyway");
        }
        self.journal.flush().await;
        self.state.pool.close().await;
        result
    }

    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }
}

#[derive(Debug)]
pub enum StartError {
    Database(sqlx::Error),
    Io(std::io::Error),
    /// A listen address beyond this machine while `admin` has a published password.
    Exposed(SocketAddr),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Database(e) => write!(f, "database: {e}"),
            StartError::Io(e) => write!(f, "{e}"),
            StartError::Exposed(addr) => write!(
                f,
                "refusing to listen on {addr}: the operator `admin` still has the password the \
                 README publishes ({}). Listen on 127.0.0.1, log in and change it (or start a \
                 new database with BREAKGLASS_ADMIN_PASSWORD set to your own)",
                app::server::auth::PUBLISHED_PASSWORDS.join(", ")
            ),
        }
    }
}

/// Opens the store, reconciles break-glass with the clock, and serves on `listener`.
pub async fn start(
    config: &Config,
    clock: SharedClock,
    listener: TcpListener,
) -> Result<Running, StartError> {
    if let Some(dir) = sqlite_parent_dir(&config.database_url) {
        std::fs::create_dir_all(dir).map_err(StartError::Io)?;
    }
    let pool = app::server::database::connect(&config.database_url)
        .await
        .map_err(StartError::Database)?;
    app::server::audit_trail::use_mac_key(config.audit_key.clone().map(|k| k.0));
    let generated_admin_password = app::server::auth::ensure_bootstrap_admin(
        &pool,
        config.admin_password.as_deref(),
        clock.now(),
    )
    .await
    .map_err(StartError::Database)?;
    let listening = listener.local_addr().map_err(StartError::Io)?;
    if !listening.ip().is_loopback()
        && app::server::auth::admin_has_published_password(&pool)
            .await
            .map_err(StartError::Database)?
    {
        return Err(StartError::Exposed(listening));
    }
    let journal = app::server::traffic::Journal::start(
        pool.clone(),
        &config.database_url,
        config.traffic_fsync,
    )
    .await
    .map_err(StartError::Database)?;
    // Records left in flight by a process that died (kill -9, a crash) say so.
    journal.sweep().await.map_err(StartError::Database)?;
    let shield_mode = app::server::shield::ModeSetting::load(pool.clone(), clock.clone())
        .await
        .map_err(StartError::Database)?;
    let replication = Arc::new(
        match app::server::database::Store::of_url(&config.database_url) {
            Some(app::server::database::Store::Postgres) => {
                Replication::postgres(&config.database_url)
            }
            _ => Replication::embedded(),
        },
    );
    // Listening starts before the state is read, so no change falls between the two.
    let notices = replication.connect().await.map_err(StartError::Database)?;
    let events = EventHub::new(1024);
    let break_glass = BreakGlassService::load(
        pool.clone(),
        clock.clone(),
        events.clone(),
        replication.subscribe(),
        config.ack_minutes,
    )
    .await
    .map_err(StartError::Database)?;
    let shield = Arc::new(app::server::shield::Shield::builtin());
    let watcher = app::server::watcher::Watcher::load(
        pool.clone(),
        clock.clone(),
        shield.clone(),
        events.clone(),
        config.sessions_dir.clone(),
    )
    .await
    .map_err(StartError::Database)?;
    let addr = listener.local_addr().map_err(StartError::Io)?;
    let (shutdown, shutdown_rx) = watch::channel(false);
    let leptos_options = LeptosOptions::builder()
        .output_name("breakglass")
        .site_root(config.site_root.as_str())
        .site_pkg_dir("pkg")
        .site_addr(addr)
        .build();
    let reviews = app::server::review::Reviews::new(pool.clone(), clock.clone(), watcher.clone());
    let sessions_ended = tokio::sync::broadcast::channel(64).0;
    let sessions = app::server::auth::Sessions::new(
        pool.clone(),
        clock.clone(),
        events.clone(),
        sessions_ended.clone(),
        chrono::TimeDelta::hours(config.session_hours),
        config.secure_cookies,
    );
    let operators =
        app::server::operators::Operators::new(pool.clone(), clock.clone(), sessions_ended.clone());
    let notifications = app::server::notifications::Notifications::new(
        pool.clone(),
        clock.clone(),
        config.secrets_key.clone(),
    );
    let state = AppState {
        leptos_options,
        pool,
        clock,
        events,
        break_glass: break_glass.clone(),
        shield,
        shield_mode,
        watcher: watcher.clone(),
        reviews,
        operators,
        sessions,
        notifications: notifications.clone(),
        audit_checkpoints: config.audit_checkpoints.clone().map(Arc::new),
        shutdown: shutdown_rx.clone(),
        api_keys: Arc::default(),
        link: replication.subscribe(),
    };
    let mut workers = vec![
        tokio::spawn(break_glass.run_expiry_timer(shutdown_rx.clone())),
        tokio::spawn(watcher.run(shutdown_rx.clone())),
        tokio::spawn(journal.clone().run_sweeper(shutdown_rx.clone())),
    ];
    if let Some(target) = &config.audit_syslog {
        workers.push(tokio::spawn(audit_syslog::run(
            state.pool.clone(),
            state.clock.clone(),
            target.clone(),
            shutdown_rx.clone(),
        )));
    }
    match &config.audit_checkpoints {
        Some(path) => {
            workers.push(tokio::spawn(audit_checkpoints::run(
                state.pool.clone(),
                path.clone(),
                config.audit_checkpoint_every,
                shutdown_rx.clone(),
            )));
        }
        None => tracing::warn!(
            "BREAKGLASS_AUDIT_CHECKPOINTS is not set: the audit chain's head is not kept outside \
             the database, so entries removed from the end of the trail would go unnoticed"
        ),
    }
    workers.push(tokio::spawn(
        notifications::Worker::new(
            notifications,
            state.pool.clone(),
            state.clock.clone(),
            config.notify.clone(),
        )
        .run(shutdown_rx.clone()),
    ));
    if let Some(notices) = notices {
        let state = state.clone();
        tokio::spawn(async move { replication.run(state, notices).await });
    }
    let router = http::router(
        state.clone(),
        gateway::Gateway::new(state.clone(), journal.clone(), config),
    );
    let mut stop = shutdown_rx;
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .await
    });
    Ok(Running {
        addr,
        state,
        journal,
        shutdown,
        task,
        workers,
        generated_admin_password,
    })
}

fn sqlite_parent_dir(url: &str) -> Option<&std::path::Path> {
    let path = url
        .strip_prefix("sqlite://")
        .or(url.strip_prefix("sqlite:"))?;
    let path = path.split('?').next()?;
    if path.starts_with(":memory:") {
        return None;
    }
    std::path::Path::new(path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
}
