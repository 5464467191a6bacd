//! The watcher's background task: passes over the transcripts and the bypassed traffic, each
//! batch committed with its file offset in one transaction, so that a restart neither
//! rescans nor skips a message.

mod follower;
pub mod transcript;

use crate::domain::alerts::{Alert, Severity};
use crate::domain::audit;
use crate::domain::events::ServerEvent;
use crate::domain::shield::{Coverage, ScanResult};
use crate::domain::traffic::{TrafficFilter, SOURCE_WATCHER};
use crate::domain::watcher::{
    finding_severity, PollInterval, RunState, WatcherAction, WatcherControlRequest, WatcherError,
    WatcherStatus, RECENT_ERRORS,
};
use crate::domain::AppError;
use crate::domain::Verdict;
use crate::domain::{Actor, Permission, Reader, Scope};
use crate::server::alerts::{self, NewAlert};
use crate::server::audit_trail;
use crate::server::clock::SharedClock;
use crate::server::database::{self, to_millis, Pool};
use crate::server::events::EventHub;
use crate::server::shield::Shield;
use crate::server::store::break_glass_windows;
use crate::server::traffic::{self, NewTraffic};
use chrono::{DateTime, Timelike, Utc};
use follower::Chunk;
use sqlx::Row;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use transcript::{Line, Malformed, Message};

/// At most this much of a file is read, scanned and committed at a time.
const CHUNK_BYTES: usize = 4 * 1024 * 1024;
/// Bypassed records rescanned per transaction.
const RESCAN_BATCH: i64 = 200;
/// Text kept with a finding for the review.
const EXCERPT_CHARS: usize = 2_000;
/// Notifications arriving in a burst are handled by one pass after this pause.
const SETTLE: Duration = Duration::from_millis(100);

const SETTING_ENABLED: &str = "watcher_enabled";
const SETTING_INTERVAL: &str = "watcher_interval_ms";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Controls {
    enabled: bool,
    interval: PollInterval,
}

/// How far a file has been read.
#[derive(Clone, Debug)]
struct FileState {
    identity: String,
    fingerprint: String,
    offset: u64,
    session_id: Option<String>,
    messages: u64,
    malformed: u64,
    size: u64,
    /// When the file was last seen modified (in memory only: after a restart the first look
    /// checks the file fully).
    modified: Option<std::time::SystemTime>,
}

/// What one chunk of a file gave: scanned messages, malformed lines, and where to go on from.
struct Batch {
    path: String,
    state: FileState,
    scanned: Vec<(Message, ScanResult)>,
    malformed: Vec<(u64, Malformed)>,
}

pub struct Watcher {
    pool: Pool,
    clock: SharedClock,
    shield: Arc<Shield>,
    events: EventHub,
    root: PathBuf,
    controls: watch::Sender<Controls>,
    status: watch::Sender<WatcherStatus>,
    poll_now: mpsc::Sender<oneshot::Sender<()>>,
    poll_requests: std::sync::Mutex<Option<mpsc::Receiver<oneshot::Sender<()>>>>,
}

impl Watcher {
    /// Reads the controls and counters stored by earlier runs.
    pub async fn load(
        pool: Pool,
        clock: SharedClock,
        shield: Arc<Shield>,
        events: EventHub,
        root: PathBuf,
    ) -> Result<Arc<Self>, sqlx::Error> {
        let setting = |name: &'static str| crate::server::store::settings::get(&pool, name);
        let enabled = setting(SETTING_ENABLED).await?.as_deref() != Some("false");
        let interval = setting(SETTING_INTERVAL)
            .await?
            .and_then(|v| v.parse::<i64>().ok())
            .and_then(|ms| PollInterval::parse(ms).ok())
            .unwrap_or(PollInterval::DEFAULT);
        let controls = Controls { enabled, interval };
        let (messages, rescanned) = traffic::watcher_counts(&pool).await?;
        let (poll_now, poll_requests) = mpsc::channel(16);
        let status = WatcherStatus {
            state: if enabled {
                RunState::Running
            } else {
                RunState::Stopped
            },
            directory: root.display().to_string(),
            interval_ms: interval.millis(),
            notifications: false,
            files_watched: 0,
            messages_scanned: messages as u64,
            bypassed_rescanned: rescanned as u64,
            malformed_lines: 0,
            backlog_bytes: 0,
            last_scan_at: None,
            error_count: 0,
            errors: Vec::new(),
        };
        Ok(Arc::new(Self {
            pool,
            clock,
            shield,
            events,
            root,
            controls: watch::channel(controls).0,
            status: watch::channel(status).0,
            poll_now,
            poll_requests: std::sync::Mutex::new(Some(poll_requests)),
        }))
    }

    pub fn status(&self, reader: &Reader) -> Result<WatcherStatus, AppError> {
        reader.require(Permission::StatusRead, Scope::BreakGlassRead)?;
        Ok(self.snapshot())
    }

    /// The status, for services that checked their own caller.
    pub(crate) fn snapshot(&self) -> WatcherStatus {
        self.status.borrow().clone()
    }

    /// Carries out an operator's control, audited; `poll_now` answers after the pass.
    pub async fn control(
        &self,
        actor: &Actor,
        raw: WatcherControlRequest,
    ) -> Result<WatcherStatus, AppError> {
        actor.require(Permission::WatcherControl)?;
        let action = WatcherAction::try_from(raw)?;
        let now = self.clock.now();
        let current = *self.controls.borrow();
        let (next, audit_action, details) = match action {
            WatcherAction::PollNow => {
                if !current.enabled {
                    return Err(AppError::Conflict(
                        "The Session Watcher is disabled; enable it before polling".into(),
                    ));
                }
                (current, audit::WATCHER_POLL, serde_json::json!({}))
            }
            WatcherAction::Enable => (
                Controls {
                    enabled: true,
                    ..current
                },
                audit::WATCHER_ENABLE,
                serde_json::json!({}),
            ),
            WatcherAction::Disable => (
                Controls {
                    enabled: false,
                    ..current
                },
                audit::WATCHER_DISABLE,
                serde_json::json!({}),
            ),
            WatcherAction::SetInterval(interval) => (
                Controls {
                    interval,
                    ..current
                },
                audit::WATCHER_INTERVAL,
                serde_json::json!({
                    "interval_ms": interval.millis(),
                    "previous_interval_ms": current.interval.millis(),
                }),
            ),
        };
        let mut tx = database::begin(&self.pool).await?;
        for (name, value) in [
            (SETTING_ENABLED, next.enabled.to_string()),
            (SETTING_INTERVAL, next.interval.millis().to_string()),
        ] {
            crate::server::store::settings::put(
                &mut tx,
                name,
                &value,
                now,
                &actor.operator.username,
            )
            .await?;
        }
        audit_trail::record(
            &mut tx,
            now,
            &actor.operator.username,
            audit_action,
            details,
            actor.source_addr.as_deref(),
        )
        .await?;
        tx.commit().await?;
        self.controls.send_replace(next);
        self.status.send_modify(|s| {
            s.interval_ms = next.interval.millis();
            s.state = if next.enabled {
                RunState::Running
            } else {
                RunState::Stopped
            };
        });
        if action == WatcherAction::PollNow {
            let (done, finished) = oneshot::channel();
            self.poll_now
                .send(done)
                .await
                .map_err(|_| AppError::Conflict("The Session Watcher has stopped".into()))?;
            finished
                .await
                .map_err(|_| AppError::Conflict("The Session Watcher has stopped".into()))?;
        }
        Ok(self.snapshot())
    }

    /// Runs until shutdown: a pass at each interval, on file notifications, and on request.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let Some(mut poll_requests) = self.poll_requests.lock().ok().and_then(|mut p| p.take())
        else {
            return;
        };
        let mut files = match self.load_files().await {
            Ok(files) => files,
            Err(e) => {
                self.error(format!("could not read the watcher's file offsets: {e}"));
                HashMap::new()
            }
        };
        let (notified, mut notifications) = mpsc::channel::<()>(1);
        let mut notifier: Option<notify::RecommendedWatcher> = None;
        let mut controls = self.controls.subscribe();
        let mut due = true;
        loop {
            let current = *controls.borrow_and_update();
            if !current.enabled && notifier.is_some() {
                notifier = None;
                self.status.send_modify(|s| s.notifications = false);
            }
            if due && current.enabled {
                self.attach(&mut notifier, &notified);
                self.pass(&mut files).await;
            }
            due = false;
            tokio::select! {
                () = async { let _ = shutdown.wait_for(|s| *s).await; } => break,
                _ = tokio::time::sleep(Duration::from_millis(current.interval.millis())) => {
                    due = true;
                }
                Some(()) = notifications.recv() => {
                    tokio::time::sleep(SETTLE).await;
                    while notifications.try_recv().is_ok() {}
                    due = true;
                }
                Some(done) = poll_requests.recv() => {
                    if self.controls.borrow().enabled {
                        self.attach(&mut notifier, &notified);
                        self.pass(&mut files).await;
                    }
                    let _ = done.send(());
                }
                Ok(()) = controls.changed() => {
                    due = controls.borrow().enabled && !current.enabled;
                }
            }
        }
    }

    /// Attaches file notifications once the sessions directory exists.
    fn attach(
        &self,
        notifier: &mut Option<notify::RecommendedWatcher>,
        notified: &mpsc::Sender<()>,
    ) {
        if notifier.is_none() {
            *notifier = self.notifier(notified.clone());
        }
    }

    /// File notifications on the root, when the platform gives them; polling covers the rest.
    fn notifier(&self, notified: mpsc::Sender<()>) -> Option<notify::RecommendedWatcher> {
        use notify::Watcher as _;
        if !self.root.is_dir() {
            return None;
        }
        let made = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            if event.is_ok() {
                let _ = notified.try_send(());
            }
        })
        .and_then(|mut w| {
            w.watch(&self.root, notify::RecursiveMode::Recursive)
                .map(|()| w)
        });
        match made {
            Ok(w) => {
                self.status.send_modify(|s| s.notifications = true);
                Some(w)
            }
            Err(e) => {
                self.error(format!("file notifications unavailable, polling only: {e}"));
                None
            }
        }
    }

    async fn load_files(&self) -> Result<HashMap<String, FileState>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT path, identity, fingerprint, read_offset, session_id, messages, malformed, size \
             FROM watcher_files",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| {
                (
                    r.get::<String, _>("path"),
                    FileState {
                        identity: r.get("identity"),
                        fingerprint: r.get("fingerprint"),
                        offset: r.get::<i64, _>("read_offset") as u64,
                        session_id: r.get("session_id"),
                        messages: r.get::<i64, _>("messages") as u64,
                        malformed: r.get::<i64, _>("malformed") as u64,
                        size: r.get::<i64, _>("size") as u64,
                        modified: None,
                    },
                )
            })
            .collect())
    }

    /// One pass: every transcript to its end, then the bypassed traffic not rescanned yet.
    async fn pass(&self, files: &mut HashMap<String, FileState>) {
        let root = self.root.clone();
        let listed = tokio::task::spawn_blocking(move || follower::transcripts(&root)).await;
        let paths = match listed {
            Ok(Ok(paths)) => paths,
            Ok(Err(e)) => {
                self.error(format!("cannot list {}: {e}", self.root.display()));
                Vec::new()
            }
            Err(e) => {
                self.error(format!("listing the transcripts failed: {e}"));
                Vec::new()
            }
        };
        if !self.root.is_dir() {
            self.error(format!(
                "the sessions directory {} does not exist (yet)",
                self.root.display()
            ));
        }
        let listed: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        for path in &paths {
            if let Err(e) = self.follow(path, files, &listed).await {
                self.error(format!("{}: {e}", path.display()));
            }
        }
        let gone: Vec<String> = files
            .keys()
            .filter(|p| !listed.contains(p))
            .cloned()
            .collect();
        for path in gone {
            if sqlx::query("DELETE FROM watcher_files WHERE path = $1")
                .bind(&path)
                .execute(&self.pool)
                .await
                .is_ok()
            {
                files.remove(&path);
            }
        }
        if let Err(e) = self.rescan_bypassed().await {
            self.error(format!("rescanning bypassed traffic: {e}"));
        }
        let now = self.clock.now();
        self.status.send_modify(|s| {
            s.files_watched = files.len() as u64;
            s.malformed_lines = files.values().map(|f| f.malformed).sum();
            s.backlog_bytes = files
                .values()
                .map(|f| f.size.saturating_sub(f.offset))
                .sum();
            s.last_scan_at = Some(now);
        });
    }

    /// Reads `path` from where it was left to its last complete line, chunk by chunk.
    async fn follow(
        &self,
        path: &Path,
        files: &mut HashMap<String, FileState>,
        listed: &[String],
    ) -> Result<(), String> {
        let key = path.display().to_string();
        let start = {
            let path = path.to_owned();
            let current = files.get(&key).cloned();
            // Only a path seen for the first time may be a known file under a new name.
            let (known, listed): (Vec<(String, FileState)>, Vec<String>) = if current.is_none() {
                let known = files.iter().map(|(p, s)| (p.clone(), s.clone())).collect();
                (known, listed.to_vec())
            } else {
                (Vec::new(), Vec::new())
            };
            tokio::task::spawn_blocking(move || starting_point(&path, current, &known, &listed))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?
        };
        let Start {
            mut state,
            adopted_from,
        } = start;
        if let Some(old) = adopted_from {
            // A rotated file keeps its offset under its new name.
            files.remove(&old);
            sqlx::query("DELETE FROM watcher_files WHERE path = $1")
                .bind(&old)
                .execute(&self.pool)
                .await
                .map_err(|e| e.to_string())?;
        }
        loop {
            let shield = self.shield.clone();
            let path_buf = path.to_owned();
            let read_state = state.clone();
            let batch = tokio::task::spawn_blocking(move || {
                read_batch(&path_buf, read_state, &shield).map_err(|e| e.to_string())
            })
            .await
            .map_err(|e| e.to_string())??;
            let Some(batch) = batch else {
                if files.get(&key).map(|f| (f.offset, f.size, &f.fingerprint))
                    != Some((state.offset, state.size, &state.fingerprint))
                {
                    self.save_offset(&key, &state)
                        .await
                        .map_err(|e| e.to_string())?;
                    files.insert(key.clone(), state);
                }
                return Ok(());
            };
            let batch = Batch {
                path: key.clone(),
                ..batch
            };
            let malformed = batch.malformed.len();
            if let Some((offset, why)) = batch.malformed.first() {
                self.error(format!(
                    "{key}: {malformed} malformed line(s) skipped, the first at byte {offset}: {why}"
                ));
            }
            let inserted = self.commit(&batch).await.map_err(|e| e.to_string())?;
            state = batch.state;
            files.insert(key.clone(), state.clone());
            self.status.send_modify(|s| {
                s.messages_scanned += inserted;
                s.last_scan_at = Some(self.clock.now());
            });
        }
    }

    async fn save_offset(&self, path: &str, state: &FileState) -> Result<(), sqlx::Error> {
        let mut conn = self.pool.acquire().await?;
        upsert_file(&mut conn, path, state, self.clock.now()).await
    }

    /// Stores a batch's records, its alerts and the file's new offset in one transaction;
    /// returns how many messages were new.
    async fn commit(&self, batch: &Batch) -> Result<u64, sqlx::Error> {
        let mut tx = database::begin(&self.pool).await?;
        let mut inserted = 0;
        let mut findings = Vec::new();
        let session_id = batch.state.session_id.clone();
        for (message, result) in &batch.scanned {
            let record = NewTraffic {
                model: message.model.clone(),
                provider: message.provider.clone(),
                session_id: session_id.clone(),
                direction: Some(message.direction.as_str()),
                ..watched(
                    result,
                    &self.shield,
                    &message.text,
                    message.at,
                    message.id.clone(),
                )
            };
            if traffic::insert_new(&mut tx, &record).await? {
                inserted += 1;
                if is_finding(result.verdict) {
                    findings.push(Finding {
                        at: message.at,
                        verdict: result.verdict,
                        score: result.score,
                        rules: result.detections.iter().map(|d| d.rule.clone()).collect(),
                        what: format!(
                            "{} message {} in session {}",
                            message.role,
                            message.id,
                            session_id.as_deref().unwrap_or("?")
                        ),
                    });
                }
            }
        }
        let mut state = batch.state.clone();
        state.messages += inserted;
        upsert_file(&mut tx, &batch.path, &state, self.clock.now()).await?;
        let raised = self.raise_alerts(&mut tx, findings).await?;
        tx.commit().await?;
        for alert in raised {
            self.events.publish(&ServerEvent::Alert(alert));
        }
        Ok(inserted)
    }

    /// Scans the text kept from BYPASSED requests that no rescan covers yet, once their
    /// exchange has ended (a pending record's answer is still to come).
    async fn rescan_bypassed(&self) -> Result<(), sqlx::Error> {
        loop {
            let pending = traffic::awaiting_rescan(&self.pool, RESCAN_BATCH).await?;
            if pending.is_empty() {
                return Ok(());
            }
            let shield = self.shield.clone();
            let scanned: Vec<(NewTraffic, ScanResult)> = tokio::task::spawn_blocking(move || {
                pending
                    .iter()
                    .map(|r| {
                        let text = [r.request_text.as_deref(), r.response_text.as_deref()]
                            .into_iter()
                            .flatten()
                            .collect::<Vec<_>>()
                            .join("\n");
                        let result = shield.scan(&text);
                        let record = NewTraffic {
                            model: r.model.clone(),
                            provider: r.provider.clone(),
                            session_id: r.session_id.clone(),
                            rescan_of: Some(r.id),
                            ..watched(&result, &shield, &text, r.at, r.request_id.clone())
                        };
                        (record, result)
                    })
                    .collect()
            })
            .await
            .map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
            let mut tx = database::begin(&self.pool).await?;
            let mut inserted = 0;
            let mut findings = Vec::new();
            for (record, result) in &scanned {
                if traffic::insert_new(&mut tx, record).await? {
                    inserted += 1;
                    if is_finding(result.verdict) {
                        findings.push(Finding {
                            at: record.at,
                            verdict: result.verdict,
                            score: result.score,
                            rules: result.detections.iter().map(|d| d.rule.clone()).collect(),
                            what: format!("bypassed request {}", record.request_id),
                        });
                    }
                }
            }
            let raised = self.raise_alerts(&mut tx, findings).await?;
            tx.commit().await?;
            for alert in raised {
                self.events.publish(&ServerEvent::Alert(alert));
            }
            self.status
                .send_modify(|s| s.bypassed_rescanned += inserted);
        }
    }

    /// One alert per verdict and severity among the findings, linking to them in the Traffic
    /// Monitor, and to the break-glass window they fell in.
    async fn raise_alerts(
        &self,
        conn: &mut crate::server::database::Conn,
        findings: Vec<Finding>,
    ) -> Result<Vec<Alert>, sqlx::Error> {
        let mut groups: BTreeMap<(&'static str, &'static str), Vec<Finding>> = BTreeMap::new();
        for f in findings {
            if let Some(severity) = finding_severity(f.verdict, f.score) {
                groups
                    .entry((f.verdict.as_str(), severity.as_str()))
                    .or_default()
                    .push(f);
            }
        }
        let mut raised = Vec::new();
        for ((verdict, _), group) in groups {
            let Some(first) = group.iter().min_by_key(|f| f.at) else {
                continue;
            };
            let last = group.iter().map(|f| f.at).max().unwrap_or(first.at);
            let top = group.iter().max_by_key(|f| f.score).unwrap_or(first);
            let severity = finding_severity(top.verdict, top.score).unwrap_or(Severity::Medium);
            let window_id = break_glass_windows::open_at(&mut *conn, first.at).await?;
            // Whole seconds, as the Traffic Monitor's time inputs show them.
            let from = first.at.with_nanosecond(0).unwrap_or(first.at);
            let to = last.with_nanosecond(0).unwrap_or(last) + chrono::TimeDelta::seconds(1);
            let filter = TrafficFilter {
                source: Some(SOURCE_WATCHER.to_owned()),
                verdict: Verdict::parse(verdict),
                from: Some(from),
                to: Some(to),
                limit: crate::domain::traffic::DEFAULT_PAGE,
                ..Default::default()
            };
            let during = window_id
                .map(|id| format!(" during break-glass window #{id}"))
                .unwrap_or_default();
            let title = if group.len() == 1 {
                format!("Session Watcher: {verdict} finding{during}")
            } else {
                format!(
                    "Session Watcher: {} {verdict} findings{during}",
                    group.len()
                )
            };
            let message = format!(
                "{} scored {} ({}) at {}{}.",
                top.what,
                top.score,
                top.rules.join(", "),
                crate::domain::time_format::utc(top.at),
                if group.len() > 1 {
                    format!("; {} more like it", group.len() - 1)
                } else {
                    String::new()
                }
            );
            raised.push(
                alerts::insert(
                    conn,
                    NewAlert {
                        at: self.clock.now(),
                        severity,
                        source: SOURCE_WATCHER,
                        title,
                        message,
                        window_id,
                        link: Some(format!("/traffic?{}", filter.to_query(false))),
                        topic: matches!(severity, Severity::Critical | Severity::High)
                            .then_some(crate::domain::notifications::Topic::WatcherFinding),
                    },
                )
                .await?,
            );
        }
        Ok(raised)
    }

    fn error(&self, message: String) {
        tracing::warn!(target: "watcher", "{message}");
        let at = self.clock.now();
        self.status.send_modify(|s| match s.errors.first_mut() {
            // The same complaint pass after pass is one error, seen again.
            Some(newest) if newest.message == message => newest.at = at,
            _ => {
                s.errors.insert(0, WatcherError { at, message });
                s.errors.truncate(RECENT_ERRORS);
                s.error_count += 1;
            }
        });
    }
}

struct Finding {
    at: DateTime<Utc>,
    verdict: Verdict,
    score: u8,
    rules: Vec<String>,
    what: String,
}

/// A Session Watcher record of `text` scanned as `result`, at the time the text was written;
/// the text is kept only for a finding. `shield` is what scanned it (its rule pack and model).
fn watched(
    result: &ScanResult,
    shield: &Shield,
    text: &str,
    at: DateTime<Utc>,
    request_id: String,
) -> NewTraffic {
    NewTraffic {
        at,
        source: SOURCE_WATCHER,
        model: None,
        provider: None,
        verdict: result.verdict,
        score: Some(result.score),
        detections: result.detections.clone(),
        latency_ms: None,
        tokens_in: None,
        tokens_out: None,
        http_status: None,
        api_key_id: None,
        session_id: None,
        request_id,
        request_text: is_finding(result.verdict).then(|| excerpt(text)),
        response_text: None,
        rescan_of: None,
        direction: None,
        outcome: None,
        gateway_instance: None,
        text_truncated: false,
        scan_coverage: Some(Coverage {
            rules: shield.version(),
            model: shield.model_version().map(str::to_owned),
            parts: vec!["transcript".into()],
            ..Coverage::default()
        }),
    }
}

fn is_finding(verdict: Verdict) -> bool {
    matches!(verdict, Verdict::Block | Verdict::Review)
}

fn excerpt(text: &str) -> String {
    match text.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

struct Start {
    state: FileState,
    adopted_from: Option<String>,
}

/// Where to start reading `path`: where it was left, from the start when the file was
/// replaced or truncated, or where a rotated file was left under its old name.
fn starting_point(
    path: &Path,
    current: Option<FileState>,
    known: &[(String, FileState)],
    listed: &[String],
) -> std::io::Result<Start> {
    let mut file = std::fs::File::open(path)?;
    let meta = file.metadata()?;
    let identity = follower::identity(&meta);
    let size = meta.len();
    let modified = meta.modified().ok();
    if let Some(s) = current.as_ref().filter(|s| {
        s.identity == identity && s.size == size && s.offset == size && s.modified == modified
    }) {
        // Read to the end before and unchanged since: nothing to open further.
        return Ok(Start {
            state: s.clone(),
            adopted_from: None,
        });
    }
    let fingerprint = follower::fingerprint(&mut file)?.unwrap_or_default();
    let fresh = FileState {
        identity: identity.clone(),
        fingerprint: fingerprint.clone(),
        offset: 0,
        session_id: None,
        messages: 0,
        malformed: 0,
        size,
        modified,
    };
    let same_file =
        |s: &FileState| s.identity == identity && (s.offset == 0 || s.fingerprint == fingerprint);
    let state = match current {
        Some(s) if same_file(&s) && size >= s.offset => FileState {
            fingerprint: fingerprint.clone(),
            size,
            modified,
            ..s
        },
        Some(s) if same_file(&s) => FileState {
            // Truncated in place: what is there now is new.
            messages: s.messages,
            malformed: s.malformed,
            ..fresh
        },
        Some(_) => fresh,
        None => {
            let moved = known.iter().find(|(old, s)| {
                s.offset > 0
                    && s.identity == identity
                    && s.fingerprint == fingerprint
                    && size >= s.offset
                    && (!listed.contains(old) || still_elsewhere(old, &s.identity))
            });
            if let Some((old, s)) = moved {
                return Ok(Start {
                    state: FileState {
                        size,
                        modified,
                        ..s.clone()
                    },
                    adopted_from: Some(old.clone()),
                });
            }
            fresh
        }
    };
    Ok(Start {
        state,
        adopted_from: None,
    })
}

/// Whether the file now at `old` is another file than the one with `identity`.
fn still_elsewhere(old: &str, identity: &str) -> bool {
    std::fs::metadata(old).map_or(true, |m| follower::identity(&m) != identity)
}

/// Reads, parses and scans the next chunk of `path` after `state`.
fn read_batch(
    path: &Path,
    mut state: FileState,
    shield: &Shield,
) -> std::io::Result<Option<Batch>> {
    let mut file = std::fs::File::open(path)?;
    let size = file.metadata()?.len();
    state.size = size;
    let Some(chunk) = follower::read_chunk(&mut file, state.offset, size, CHUNK_BYTES)? else {
        return Ok(None);
    };
    if state.offset == 0 && state.fingerprint.is_empty() {
        state.fingerprint = follower::fingerprint(&mut file)?.unwrap_or_default();
    }
    let (scanned, malformed, session_id) =
        scan_chunk(&chunk, state.session_id.clone(), path, shield);
    state.session_id = Some(session_id);
    state.offset = chunk.end();
    state.malformed += malformed.len() as u64;
    Ok(Some(Batch {
        path: String::new(),
        state,
        scanned,
        malformed,
    }))
}

type Scanned = (Vec<(Message, ScanResult)>, Vec<(u64, Malformed)>, String);

fn scan_chunk(chunk: &Chunk, session_id: Option<String>, path: &Path, shield: &Shield) -> Scanned {
    let mut session_id = session_id;
    let mut scanned = Vec::new();
    let mut malformed = Vec::new();
    for (offset, line) in chunk.lines() {
        match transcript::parse_line(line) {
            Ok(Line::Header { session_id: id }) => session_id = Some(id),
            Ok(Line::Message(m)) => {
                let result = shield.scan(&m.text);
                scanned.push((m, result));
            }
            Ok(Line::Skipped) => {}
            Err(why) => malformed.push((offset, why)),
        }
    }
    let session_id = session_id.unwrap_or_else(|| transcript::session_id_from_path(path));
    (scanned, malformed, session_id)
}

async fn upsert_file(
    conn: &mut crate::server::database::Conn,
    path: &str,
    s: &FileState,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO watcher_files (path, identity, fingerprint, read_offset, session_id, messages, \
         malformed, size, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (path) DO UPDATE SET identity = excluded.identity, \
         fingerprint = excluded.fingerprint, read_offset = excluded.read_offset, \
         session_id = excluded.session_id, messages = excluded.messages, \
         malformed = excluded.malformed, size = excluded.size, updated_at = excluded.updated_at",
    )
    .bind(path)
    .bind(&s.identity)
    .bind(&s.fingerprint)
    .bind(s.offset as i64)
    .bind(&s.session_id)
    .bind(s.messages as i64)
    .bind(s.malformed as i64)
    .bind(s.size as i64)
    .bind(to_millis(now))
    .execute(conn)
    .await?;
    Ok(())
}
