//! The gateway's traffic journal. Every record the gateway writes goes to one writer task, which
//! commits whatever has queued up meanwhile in one transaction (group commit): under load many
//! records share one commit (one fsync on SQLite), alone a record waits for nobody.
//!
//! What callers rely on:
//! - `insert` and `complete` answer only once the record is committed (or failed to be).
//! - `insert_detached` and `complete_detached` never wait: they are what a dropped request's
//!   guard calls. The writer retries them with backoff until the store takes them.
//! - A pending record whose caller went away before learning its id (the client left while the
//!   record was being written) is completed by the writer itself as
//!   `client_closed_before_response`: such a request was never forwarded.
//! - Durability has two grades. A batch holding a pending record (a bypassed request about to
//!   be forwarded) is committed with an fsync (`synchronous = FULL` on SQLite, `synchronous_commit
//!   = on` on PostgreSQL) before any caller hears back. Every other batch (completions, records
//!   of scanned requests) is committed to the write-ahead log without waiting for the disk: a
//!   killed process loses none of it, and a power cut at most the last `UNSYNCED_AT_MOST`,
//!   because the next batch after that long is committed with an fsync (and when none comes,
//!   a checkpoint syncs the log). `Fsync::EveryCommit` makes every batch wait for the disk.
//! - Each process writes its pending records under its own random instance number and, on
//!   PostgreSQL, holds an advisory lock on that number for as long as it lives. `sweep` marks
//!   the pending records of every instance that is gone (on SQLite, with one process per
//!   database, every other instance) as `interrupted`.

use super::store::{self, Completion, NewTraffic};
use crate::domain::traffic::Outcome;
use crate::server::database::{Pool, Store};
use rand::Rng;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};

/// At most this many writes share one transaction.
const MAX_BATCH: usize = 512;
/// A detached write that keeps failing is given up (and logged) after this many tries.
const MAX_TRIES: u32 = 60;
/// Commits that waited for no fsync are synced within this long.
const UNSYNCED_AT_MOST: Duration = Duration::from_millis(100);
/// How often `run_sweeper` looks for the pending records of processes that are gone.
const SWEEP_INTERVAL: Duration = Duration::from_secs(15);

/// Which commits wait for the disk (`BREAKGLASS_TRAFFIC_FSYNC`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Fsync {
    /// Those of pending records, before their requests are forwarded (and the first after
    /// `UNSYNCED_AT_MOST`).
    #[default]
    BeforeForwarding,
    /// Every commit.
    EveryCommit,
}

impl Fsync {
    pub const VALUES: &'static str = "before-forwarding or every-commit";

    pub fn parse(value: &str) -> Option<Fsync> {
        match value {
            "before-forwarding" => Some(Fsync::BeforeForwarding),
            "every-commit" => Some(Fsync::EveryCommit),
            _ => None,
        }
    }
}

#[derive(Clone)]
pub struct Journal {
    queue: mpsc::UnboundedSender<Message>,
    instance: i64,
    presence: std::sync::Arc<Presence>,
    pool: Pool,
}

#[derive(Debug, thiserror::Error)]
#[error("the traffic record could not be written: {0}")]
pub struct JournalError(String);

/// Where the id of a queued insert arrives.
pub type Receipt = oneshot::Receiver<Result<i64, JournalError>>;

enum Message {
    Write(Op),
    /// Answered once everything queued before it has been written.
    Flush(oneshot::Sender<()>),
}

struct Op {
    write: Write,
    ack: Ack,
    tries: u32,
}

enum Write {
    Insert(Box<NewTraffic>),
    Complete(i64, Box<Completion>),
    /// What the shield found in the answer to a record (a JSON `ScanResult`).
    AnswerScan(i64, String),
}

enum Ack {
    Detached,
    Inserted(oneshot::Sender<Result<i64, JournalError>>),
    Completed(oneshot::Sender<Result<(), JournalError>>),
}

impl Journal {
    /// Starts the writer on `pool`. On PostgreSQL it first takes this process's advisory lock
    /// on a connection of its own (so that other replicas can tell it is alive).
    pub async fn start(pool: Pool, database_url: &str, fsync: Fsync) -> Result<Self, sqlx::Error> {
        let instance = rand::thread_rng().gen_range(1..i64::MAX);
        let store = Store::of_url(database_url).unwrap_or(Store::Sqlite);
        let presence = match store {
            Store::Postgres => Presence::postgres(database_url, instance).await?,
            Store::Sqlite => Presence::Embedded,
        };
        let (queue, rx) = mpsc::unbounded_channel();
        tokio::spawn(write_loop(pool.clone(), store, fsync, rx));
        Ok(Self {
            queue,
            instance,
            presence: std::sync::Arc::new(presence),
            pool,
        })
    }

    /// This process's instance number, written into its pending records.
    pub fn instance(&self) -> i64 {
        self.instance
    }

    /// Writes `record`; answers with its id once committed.
    pub async fn insert(&self, record: NewTraffic) -> Result<i64, JournalError> {
        Self::inserted(self.queue_insert(record)?).await
    }

    /// Queues `record` and returns the receipt that will carry its id: a caller that may be
    /// dropped while waiting keeps the receipt where its `Drop` can still read it.
    pub fn queue_insert(&self, record: NewTraffic) -> Result<Receipt, JournalError> {
        let (ack, answer) = oneshot::channel();
        self.send(Write::Insert(Box::new(record)), Ack::Inserted(ack))?;
        Ok(answer)
    }

    /// The id a receipt carries, once its record is committed.
    pub async fn inserted(receipt: Receipt) -> Result<i64, JournalError> {
        receipt.await.map_err(|_| gone())?
    }

    /// Completes the pending record `id` with `end`; answers once committed.
    pub async fn complete(&self, id: i64, end: Completion) -> Result<(), JournalError> {
        let (ack, answer) = oneshot::channel();
        self.send(Write::Complete(id, Box::new(end)), Ack::Completed(ack))?;
        answer.await.map_err(|_| gone())?
    }

    /// Records what the shield found in the answer to record `id`; answers once committed.
    pub async fn answer_scanned(
        &self,
        id: i64,
        result: &crate::domain::shield::ScanResult,
    ) -> Result<(), JournalError> {
        let json = serde_json::to_string(result).map_err(|e| JournalError(e.to_string()))?;
        let (ack, answer) = oneshot::channel();
        self.send(Write::AnswerScan(id, json), Ack::Completed(ack))?;
        answer.await.map_err(|_| gone())?
    }

    /// Writes `record` without waiting.
    pub fn insert_detached(&self, record: NewTraffic) {
        self.detached(Write::Insert(Box::new(record)));
    }

    /// Completes the pending record `id` without waiting.
    pub fn complete_detached(&self, id: i64, end: Completion) {
        self.detached(Write::Complete(id, Box::new(end)));
    }

    /// Waits until everything queued so far has been written (or failed for good).
    pub async fn flush(&self) {
        let (ack, done) = oneshot::channel();
        if self.queue.send(Message::Flush(ack)).is_ok() {
            let _ = done.await;
        }
    }

    /// Marks the pending records of every gateway process that is gone as interrupted; how
    /// many it marked.
    pub async fn sweep(&self) -> Result<u64, sqlx::Error> {
        let mut marked = 0;
        for other in store::pending_instances(&self.pool, self.instance).await? {
            if self.presence.is_gone(other).await? {
                let n = store::mark_interrupted(&self.pool, other).await?;
                if n > 0 {
                    tracing::warn!(
                        instance = other,
                        records = n,
                        "marked the in-flight traffic of a gateway process that is gone as interrupted"
                    );
                }
                marked += n;
                self.presence.release(other).await?;
            }
        }
        Ok(marked)
    }

    /// Sweeps every `SWEEP_INTERVAL` until shutdown (replicas die while others run).
    pub async fn run_sweeper(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(SWEEP_INTERVAL) => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
            if let Err(e) = self.sweep().await {
                tracing::warn!(error = %e, "could not sweep interrupted traffic records");
            }
        }
    }

    fn send(&self, write: Write, ack: Ack) -> Result<(), JournalError> {
        self.queue
            .send(Message::Write(Op {
                write,
                ack,
                tries: 0,
            }))
            .map_err(|_| gone())
    }

    fn detached(&self, write: Write) {
        if self.send(write, Ack::Detached).is_err() {
            tracing::error!("traffic journal stopped: a record was lost");
        }
    }
}

fn gone() -> JournalError {
    JournalError::stopped()
}

impl JournalError {
    /// The journal's writer is gone: nothing can be recorded.
    pub fn stopped() -> Self {
        JournalError("the journal's writer has stopped".into())
    }
}

/// How a batch is committed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Durability {
    /// Committed and flushed to the disk before the callers hear back.
    Synced,
    /// Committed to the log; flushed by a later `Synced` batch or a checkpoint.
    Logged,
}

impl Durability {
    /// What a batch of `ops` needs, when the oldest commit not yet flushed is `unsynced_since`.
    fn of(fsync: Fsync, ops: &[Op], unsynced_since: Option<Instant>) -> Durability {
        if fsync == Fsync::EveryCommit {
            return Durability::Synced;
        }
        let forwarding = ops
            .iter()
            .any(|op| matches!(&op.write, Write::Insert(r) if r.outcome == Some(Outcome::Pending)));
        if forwarding || unsynced_since.is_some_and(|t| t.elapsed() >= UNSYNCED_AT_MOST) {
            Durability::Synced
        } else {
            Durability::Logged
        }
    }
}

/// The writer's own connection (out of the pool, so that its settings reach no other caller),
/// the durability its commits have now, and what it has committed without an fsync. One
/// connection for both grades: on SQLite a commit by another connection empties this one's
/// page cache, so two connections taking turns would read every page back for every batch.
struct Writer {
    pool: Pool,
    store: Store,
    fsync: Fsync,
    conn: Option<crate::server::database::Conn>,
    /// What the connection's commits wait for; none until it is first set.
    grade: Option<Durability>,
    unsynced_since: Option<Instant>,
}

/// Pages the writer's SQLite connection keeps in memory (negative: KiB). The traffic table's
/// indexes are appended at their ends, so the pages a batch touches stay few and warm.
const SQLITE_CACHE_KIB: i64 = 32 * 1024;

impl Writer {
    /// The connection, set to commit with `durability`.
    async fn conn(
        &mut self,
        durability: Durability,
    ) -> Result<&mut crate::server::database::Conn, sqlx::Error> {
        if self.conn.is_none() {
            let mut conn = self.pool.acquire().await?.detach();
            if self.store == Store::Sqlite {
                sqlx::query(&format!("PRAGMA cache_size = -{SQLITE_CACHE_KIB}"))
                    .execute(&mut conn)
                    .await?;
            }
            self.conn = Some(conn);
            self.grade = None;
        }
        let conn = self.conn.as_mut().expect("just set");
        if self.grade != Some(durability) {
            // Stated whatever the pool or the server set.
            let statement = match (self.store, durability) {
                (Store::Sqlite, Durability::Synced) => "PRAGMA synchronous = FULL",
                (Store::Sqlite, Durability::Logged) => "PRAGMA synchronous = NORMAL",
                (Store::Postgres, Durability::Synced) => "SET synchronous_commit = on",
                (Store::Postgres, Durability::Logged) => "SET synchronous_commit = off",
            };
            sqlx::query(statement).execute(&mut *conn).await?;
            self.grade = Some(durability);
        }
        Ok(conn)
    }

    async fn write(&mut self, ops: &[Op]) -> Result<Vec<Option<i64>>, sqlx::Error> {
        let durability = Durability::of(self.fsync, ops, self.unsynced_since);
        let store = self.store;
        let written = match self.conn(durability).await {
            Ok(conn) => write_batch(conn, store, ops).await,
            Err(e) => Err(e),
        };
        match &written {
            Ok(_) if durability == Durability::Synced => self.unsynced_since = None,
            Ok(_) => {
                self.unsynced_since.get_or_insert_with(Instant::now);
            }
            // The connection may be what failed: the next batch takes a fresh one.
            Err(_) => self.conn = None,
        }
        written
    }

    /// Flushes what was committed without an fsync. On SQLite a passive checkpoint syncs the
    /// log before it copies pages; PostgreSQL's WAL writer flushes asynchronous commits by
    /// itself within `3 × wal_writer_delay`.
    async fn sync(&mut self) {
        if self.unsynced_since.is_none() {
            return;
        }
        if self.store == Store::Sqlite {
            // A checkpoint syncs the log first under either grade: keep the one set.
            let grade = self.grade.unwrap_or(Durability::Logged);
            let checkpoint = match self.conn(grade).await {
                Ok(conn) => sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                    .execute(conn)
                    .await
                    .map(drop),
                Err(e) => Err(e),
            };
            if let Err(e) = checkpoint {
                tracing::warn!(error = %e, "could not checkpoint the traffic journal");
                self.conn = None;
                return;
            }
        }
        self.unsynced_since = None;
    }

    /// The next message, syncing meanwhile should the deadline of an unsynced commit pass.
    async fn next(&mut self, rx: &mut mpsc::UnboundedReceiver<Message>) -> Option<Message> {
        if let Some(since) = self.unsynced_since {
            let left = UNSYNCED_AT_MOST.saturating_sub(since.elapsed());
            if let Ok(message) = tokio::time::timeout(left, rx.recv()).await {
                return message;
            }
            self.sync().await;
        }
        rx.recv().await
    }
}

async fn write_loop(
    pool: Pool,
    store: Store,
    fsync: Fsync,
    mut rx: mpsc::UnboundedReceiver<Message>,
) {
    let mut writer = Writer {
        pool: pool.clone(),
        store,
        fsync,
        conn: None,
        grade: None,
        unsynced_since: None,
    };
    // Writes to do before new ones: retries and follow-ups of the last batch.
    let mut carried: Vec<Op> = Vec::new();
    loop {
        let mut ops = std::mem::take(&mut carried);
        let mut flushes = Vec::new();
        if ops.is_empty() {
            match writer.next(&mut rx).await {
                Some(Message::Write(op)) => ops.push(op),
                Some(Message::Flush(ack)) => flushes.push(ack),
                None => return writer.sync().await,
            }
        }
        // Let the tasks that are ready run first: under load they are requests about to queue
        // their records, which then share this commit (measured at 16 concurrent requests:
        // about 11 writes per commit instead of 2, a fifth less CPU per request); alone, a
        // write waits for one turn of the scheduler.
        tokio::task::yield_now().await;
        while ops.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(Message::Write(op)) => ops.push(op),
                Ok(Message::Flush(ack)) => flushes.push(ack),
                Err(_) => break,
            }
        }
        if !ops.is_empty() {
            let results = match writer.write(&ops).await {
                Ok(ids) => ids.into_iter().map(Ok).collect(),
                // One bad write must not sink the others: each on its own.
                Err(e) => {
                    tracing::warn!(error = %e, writes = ops.len(), "traffic batch failed; writing one by one");
                    write_each(&pool, &ops).await
                }
            };
            let mut failed = false;
            for (op, result) in ops.into_iter().zip(results) {
                failed |= result.is_err();
                settle(op, result, &mut carried);
            }
            if failed && !carried.is_empty() {
                let tries = carried.iter().map(|op| op.tries).max().unwrap_or(0);
                tokio::time::sleep(Duration::from_millis(50 << tries.min(7))).await;
            }
        }
        if !flushes.is_empty() {
            writer.sync().await;
        }
        for ack in flushes {
            let _ = ack.send(());
        }
    }
}

/// Writes `ops` in one transaction: the inserts in as few statements as their number allows
/// (their request ids are distinct: the gateway draws them at random), then the completions
/// likewise; the id of each insert, in order.
async fn write_batch(
    conn: &mut crate::server::database::Conn,
    store: Store,
    ops: &[Op],
) -> Result<Vec<Option<i64>>, sqlx::Error> {
    if let [op] = ops {
        // One statement commits on its own: no transaction to open and close.
        return Ok(vec![write(conn, &op.write).await?]);
    }
    let mut inserts = Vec::with_capacity(ops.len());
    let mut completions = Vec::with_capacity(ops.len());
    let mut answer_scans = Vec::new();
    for op in ops {
        match &op.write {
            Write::Insert(record) => inserts.push(&**record),
            Write::Complete(id, end) => completions.push((*id, &**end)),
            Write::AnswerScan(id, scan) => answer_scans.push((*id, scan.as_str())),
        }
    }
    let inserts_distinct = distinct(inserts.iter().map(|r| r.request_id.as_str()));
    let completions_distinct = distinct(completions.iter().map(|(id, _)| *id));
    let answer_scans_distinct = distinct(answer_scans.iter().map(|(id, _)| *id));
    let mut tx = sqlx::Connection::begin(conn).await?;
    let mut ids = Vec::with_capacity(ops.len());
    if inserts_distinct && completions_distinct && answer_scans_distinct {
        let mut inserted = Vec::with_capacity(inserts.len());
        for chunk in chunks(&inserts) {
            inserted.extend(store::insert_many(&mut tx, store, chunk).await?);
        }
        for chunk in chunks(&completions) {
            store::complete_many(&mut tx, store, chunk).await?;
        }
        for chunk in chunks(&answer_scans) {
            store::set_response_scans(&mut tx, store, chunk).await?;
        }
        let mut inserted = inserted.into_iter();
        for op in ops {
            ids.push(match &op.write {
                Write::Insert(_) => inserted.next(),
                Write::Complete(..) | Write::AnswerScan(..) => None,
            });
        }
    } else {
        for op in ops {
            ids.push(write(&mut tx, &op.write).await?);
        }
    }
    tx.commit().await?;
    Ok(ids)
}

/// Whether `keys` has no key twice.
fn distinct<K: std::hash::Hash + Eq>(keys: impl ExactSizeIterator<Item = K>) -> bool {
    let n = keys.len();
    keys.collect::<std::collections::HashSet<_>>().len() == n
}

/// `items` in pieces of a few fixed sizes (powers of two, at most `MAX_ROWS_PER_INSERT`), so
/// that each statement is prepared once and then found in the connection's statement cache.
fn chunks<T>(mut items: &[T]) -> impl Iterator<Item = &[T]> {
    std::iter::from_fn(move || {
        if items.is_empty() {
            return None;
        }
        let size = (1 << items.len().ilog2()).min(store::MAX_ROWS_PER_INSERT);
        let (chunk, rest) = items.split_at(size);
        items = rest;
        Some(chunk)
    })
}

async fn write_each(pool: &Pool, ops: &[Op]) -> Vec<Result<Option<i64>, sqlx::Error>> {
    let mut results = Vec::with_capacity(ops.len());
    for op in ops {
        let result = match pool.acquire().await {
            Ok(mut conn) => write(&mut conn, &op.write).await,
            Err(e) => Err(e),
        };
        results.push(result);
    }
    results
}

async fn write(
    conn: &mut crate::server::database::Conn,
    write: &Write,
) -> Result<Option<i64>, sqlx::Error> {
    match write {
        Write::Insert(record) => store::insert(&mut *conn, record).await.map(Some),
        Write::Complete(id, record) => store::complete(conn, *id, record).await.map(|()| None),
        Write::AnswerScan(id, scan) => store::set_response_scan(conn, *id, scan)
            .await
            .map(|()| None),
    }
}

/// Answers the caller of `op`, or carries it over: a failed detached write to retry, a pending
/// record whose caller left to complete.
fn settle(mut op: Op, result: Result<Option<i64>, sqlx::Error>, carried: &mut Vec<Op>) {
    match (op.ack, result) {
        (Ack::Inserted(ack), Ok(id)) => {
            let id = id.expect("an insert returns its id");
            if ack.send(Ok(id)).is_err() {
                if let Write::Insert(record) = op.write {
                    if record.outcome == Some(Outcome::Pending) {
                        let end = Completion {
                            outcome: Some(Outcome::ClientClosedBeforeResponse),
                            text_truncated: record.text_truncated,
                            ..Completion::default()
                        };
                        carried.push(Op {
                            write: Write::Complete(id, Box::new(end)),
                            ack: Ack::Detached,
                            tries: 0,
                        });
                    }
                }
            }
        }
        (Ack::Completed(ack), Ok(_)) => {
            let _ = ack.send(Ok(()));
        }
        (Ack::Inserted(ack), Err(e)) => {
            let _ = ack.send(Err(JournalError(e.to_string())));
        }
        (Ack::Completed(ack), Err(e)) => {
            let _ = ack.send(Err(JournalError(e.to_string())));
        }
        (Ack::Detached, Ok(_)) => {}
        (Ack::Detached, Err(e)) => {
            op.tries += 1;
            op.ack = Ack::Detached;
            if op.tries < MAX_TRIES {
                carried.push(op);
            } else {
                match &op.write {
                    Write::Insert(r) => {
                        tracing::error!(error = %e, request_id = %r.request_id, "gave up writing a traffic record")
                    }
                    Write::Complete(id, _) => {
                        tracing::error!(error = %e, id, "gave up completing a traffic record")
                    }
                    Write::AnswerScan(id, _) => {
                        tracing::error!(error = %e, id, "gave up recording the scan of an answer")
                    }
                }
            }
        }
    }
}

/// How this process tells which other gateway processes are alive.
enum Presence {
    /// One process per SQLite database: every other instance is a process that has ended.
    Embedded,
    /// Each process holds `pg_advisory_lock(instance)` on a connection of its own; a lock that
    /// can be taken belongs to a process that is gone.
    Postgres {
        url: String,
        instance: i64,
        conn: tokio::sync::Mutex<sqlx::PgConnection>,
    },
}

impl Presence {
    async fn postgres(url: &str, instance: i64) -> Result<Self, sqlx::Error> {
        Ok(Presence::Postgres {
            url: url.to_owned(),
            instance,
            conn: tokio::sync::Mutex::new(Self::announce(url, instance).await?),
        })
    }

    async fn announce(url: &str, instance: i64) -> Result<sqlx::PgConnection, sqlx::Error> {
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(url).await?;
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(instance)
            .execute(&mut conn)
            .await?;
        Ok(conn)
    }

    /// Whether `other` is gone. On PostgreSQL this takes its lock, to be `release`d.
    async fn is_gone(&self, other: i64) -> Result<bool, sqlx::Error> {
        match self {
            Presence::Embedded => Ok(true),
            Presence::Postgres {
                url,
                instance,
                conn,
            } => {
                let mut conn = conn.lock().await;
                let taken = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                    .bind(other)
                    .fetch_one(&mut *conn)
                    .await;
                match taken {
                    Ok(taken) => Ok(taken),
                    Err(e) => {
                        // Our own lock went with the connection: take it again.
                        *conn = Self::announce(url, *instance).await?;
                        Err(e)
                    }
                }
            }
        }
    }

    async fn release(&self, other: i64) -> Result<(), sqlx::Error> {
        if let Presence::Postgres { conn, .. } = self {
            sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(other)
                .execute(&mut *conn.lock().await)
                .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(write: Write) -> Op {
        Op {
            write,
            ack: Ack::Detached,
            tries: 0,
        }
    }

    fn insert(outcome: Option<Outcome>) -> Op {
        op(Write::Insert(Box::new(NewTraffic {
            at: chrono::Utc::now(),
            source: crate::domain::traffic::SOURCE_BREAK_GLASS,
            model: None,
            provider: None,
            verdict: crate::domain::Verdict::Bypassed,
            score: None,
            detections: Vec::new(),
            latency_ms: None,
            tokens_in: None,
            tokens_out: None,
            http_status: None,
            api_key_id: None,
            session_id: None,
            request_id: "r".into(),
            request_text: None,
            response_text: None,
            rescan_of: None,
            direction: None,
            outcome,
            gateway_instance: None,
            text_truncated: false,
            scan_coverage: None,
        })))
    }

    fn complete() -> Op {
        op(Write::Complete(1, Box::default()))
    }

    #[test]
    fn a_batch_with_a_record_about_to_be_forwarded_waits_for_the_disk() {
        let ops = [complete(), insert(Some(Outcome::Pending)), complete()];
        assert_eq!(
            Durability::of(Fsync::BeforeForwarding, &ops, None),
            Durability::Synced
        );
    }

    #[test]
    fn completions_and_whole_records_do_not_wait_for_the_disk_until_the_deadline() {
        let ops = [complete(), insert(Some(Outcome::Completed))];
        assert_eq!(
            Durability::of(Fsync::BeforeForwarding, &ops, None),
            Durability::Logged
        );
        assert_eq!(
            Durability::of(Fsync::BeforeForwarding, &ops, Some(Instant::now())),
            Durability::Logged
        );
        let overdue = Instant::now() - UNSYNCED_AT_MOST;
        assert_eq!(
            Durability::of(Fsync::BeforeForwarding, &ops, Some(overdue)),
            Durability::Synced
        );
        assert_eq!(
            Durability::of(Fsync::EveryCommit, &ops, None),
            Durability::Synced
        );
    }
}
