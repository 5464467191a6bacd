//! The `traffic` table's store: records written, pages and the chart read.

use crate::domain::shield::{Coverage, Detection};
use crate::domain::traffic::{
    Chart, Cursor, Outcome, TrafficFilter, TrafficPage, TrafficRecord, TrafficSort,
};
use crate::domain::Verdict;
use crate::server::database::{from_millis, to_millis, Db, Pool, Statement, Store};
use crate::server::store::break_glass_windows;
use chrono::{DateTime, Utc};
use sqlx::Row;

/// One request as the gateway saw it.
#[derive(Clone, Debug)]
pub struct NewTraffic {
    pub at: DateTime<Utc>,
    pub source: &'static str,
    pub model: Option<String>,
    pub provider: Option<String>,
    pub verdict: Verdict,
    pub score: Option<u8>,
    pub detections: Vec<Detection>,
    pub latency_ms: Option<i64>,
    pub tokens_in: Option<i64>,
    pub tokens_out: Option<i64>,
    pub http_status: Option<u16>,
    /// The gateway key that sent it; none for what the watcher read.
    pub api_key_id: Option<i64>,
    pub session_id: Option<String>,
    pub request_id: String,
    /// Kept only for BYPASSED traffic, so that it can be scanned after the fact.
    pub request_text: Option<String>,
    pub response_text: Option<String>,
    /// The BYPASSED record that this one is the after-the-fact scan of.
    pub rescan_of: Option<i64>,
    /// For a transcript message: inbound (to the model) or outbound (from it).
    pub direction: Option<&'static str>,
    /// How a gateway exchange ended (`Pending` while in flight); none for other records.
    pub outcome: Option<Outcome>,
    /// The gateway process that wrote a pending record (see `journal`).
    pub gateway_instance: Option<i64>,
    /// Kept text was cut at `MAX_KEPT_TEXT_BYTES`.
    pub text_truncated: bool,
    /// What the shield's verdict covered; none when nothing was scanned.
    pub scan_coverage: Option<Coverage>,
}

const COLUMNS: &str = "INSERT INTO traffic (at, source, model, provider, verdict, score, \
    detections, latency_ms, tokens_in, tokens_out, http_status, api_key_id, session_id, \
    request_id, request_text, response_text, rescan_of, direction, outcome, gateway_instance, \
    text_truncated, scan_coverage) VALUES ";
/// Values bound per record.
const BOUND: usize = 22;
/// The most records one statement inserts (SQLite allows 32,766 bound values).
pub const MAX_ROWS_PER_INSERT: usize = 512;

/// `INSERT … VALUES` with placeholders for `rows` records: numbered (`$N`, which both stores
/// read) or, for SQLite, plain `?`. sqlx's SQLite driver looks up the name of every numbered
/// placeholder, which SQLite finds by a linear search, so binding a statement of n numbered
/// placeholders costs n²; plain ones have no name to look up.
fn insert_sql(rows: usize, numbered: bool) -> String {
    let mut sql = String::from(COLUMNS);
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for column in 0..BOUND {
            if column > 0 {
                sql.push_str(", ");
            }
            if numbered {
                sql.push_str(&format!("${}", row * BOUND + column + 1));
            } else {
                sql.push('?');
            }
        }
        sql.push(')');
    }
    sql
}

pub async fn insert<'e>(
    on: impl sqlx::Executor<'e, Database = Db>,
    t: &NewTraffic,
) -> Result<i64, sqlx::Error> {
    // Read to the end, not `fetch_one`: SQLite runs its auto-checkpoint only after a statement
    // steps to its end, and one left after its first row keeps the WAL growing.
    let rows = bind(
        sqlx::query(&format!("{} RETURNING id", insert_sql(1, true))),
        t,
    )
    .fetch_all(on)
    .await?;
    rows.first()
        .map(|r| r.get(0))
        .ok_or_else(|| sqlx::Error::Protocol("INSERT … RETURNING gave no id".into()))
}

/// Inserts `records` (at most `MAX_ROWS_PER_INSERT`, request ids distinct) with one
/// statement; their ids, in the order given. RETURNING gives rows in no promised order, so
/// each id is matched to its record by request id.
pub async fn insert_many(
    conn: &mut crate::server::database::Conn,
    store: Store,
    records: &[&NewTraffic],
) -> Result<Vec<i64>, sqlx::Error> {
    let numbered = store == Store::Postgres;
    let sql = format!(
        "{} RETURNING id, request_id",
        insert_sql(records.len(), numbered)
    );
    let mut q = sqlx::query(&sql);
    for t in records {
        q = bind(q, t);
    }
    let rows = q.fetch_all(conn).await?;
    let ids: std::collections::HashMap<String, i64> = rows
        .iter()
        .map(|r| (r.get::<String, _>("request_id"), r.get::<i64, _>("id")))
        .collect();
    records
        .iter()
        .map(|t| {
            ids.get(&t.request_id).copied().ok_or_else(|| {
                sqlx::Error::Protocol(format!("no id came back for request {}", t.request_id))
            })
        })
        .collect()
}

/// Inserts `t` unless the same message or rescan is stored already; whether it was new.
pub async fn insert_new(
    conn: &mut crate::server::database::Conn,
    t: &NewTraffic,
) -> Result<bool, sqlx::Error> {
    let done = bind(
        sqlx::query(&format!("{} ON CONFLICT DO NOTHING", insert_sql(1, true))),
        t,
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

fn bind<'q>(
    q: sqlx::query::Query<'q, Db, crate::server::database::Arguments<'q>>,
    t: &'q NewTraffic,
) -> sqlx::query::Query<'q, Db, crate::server::database::Arguments<'q>> {
    q.bind(to_millis(t.at))
        .bind(t.source)
        .bind(&t.model)
        .bind(&t.provider)
        .bind(t.verdict.as_str())
        .bind(t.score.map(i64::from))
        .bind(serde_json::to_string(&t.detections).unwrap_or_else(|_| "[]".into()))
        .bind(t.latency_ms)
        .bind(t.tokens_in)
        .bind(t.tokens_out)
        .bind(t.http_status.map(i64::from))
        .bind(t.api_key_id)
        .bind(&t.session_id)
        .bind(&t.request_id)
        .bind(&t.request_text)
        .bind(&t.response_text)
        .bind(t.rescan_of)
        .bind(t.direction)
        .bind(t.outcome.map(Outcome::as_str))
        .bind(t.gateway_instance)
        .bind(i64::from(t.text_truncated))
        .bind(
            t.scan_coverage
                .as_ref()
                .and_then(|c| serde_json::to_string(c).ok()),
        )
}

/// How a gateway exchange ended: what completes its record.
#[derive(Clone, Debug, Default)]
pub struct Completion {
    pub outcome: Option<Outcome>,
    pub http_status: Option<u16>,
    pub latency_ms: Option<i64>,
    pub tokens_in: Option<i64>,
    pub tokens_out: Option<i64>,
    pub response_text: Option<String>,
    /// The request's or the response's kept text was cut at `MAX_KEPT_TEXT_BYTES`.
    pub text_truncated: bool,
}

impl Completion {
    /// Appends `piece` to the kept response text, up to `MAX_KEPT_TEXT_BYTES`.
    pub fn keep_response_piece(&mut self, piece: &str) {
        let text = self.response_text.get_or_insert_with(String::new);
        let room = crate::domain::traffic::MAX_KEPT_TEXT_BYTES.saturating_sub(text.len());
        if piece.len() <= room {
            text.push_str(piece);
            return;
        }
        let mut end = room;
        while !piece.is_char_boundary(end) {
            end -= 1;
        }
        text.push_str(&piece[..end]);
        self.text_truncated = true;
    }
}

impl NewTraffic {
    /// This record with how its exchange ended.
    pub fn ended(mut self, end: Completion) -> Self {
        self.outcome = end.outcome;
        self.http_status = end.http_status;
        self.latency_ms = end.latency_ms;
        self.tokens_in = end.tokens_in;
        self.tokens_out = end.tokens_out;
        self.response_text = end.response_text;
        self.text_truncated |= end.text_truncated;
        self
    }
}

/// Completes the pending record `id` with how its exchange ended. A record already marked
/// `interrupted` (by a sweep that took its process for gone) takes the true end.
pub async fn complete(
    conn: &mut crate::server::database::Conn,
    id: i64,
    end: &Completion,
) -> Result<(), sqlx::Error> {
    // Numbered placeholders, which both stores read; eight cost nothing to look up.
    let sql = complete_sql(1, true);
    bind_completion(sqlx::query(&sql), id, end)
        .execute(conn)
        .await
        .map(drop)
}

/// Completes several pending records with one statement (at most `MAX_ROWS_PER_INSERT`, ids
/// distinct), as `complete` does each: a batch of the journal costs one round trip to the
/// store, not one per record.
pub async fn complete_many(
    conn: &mut crate::server::database::Conn,
    store: Store,
    ends: &[(i64, &Completion)],
) -> Result<(), sqlx::Error> {
    let sql = complete_sql(ends.len(), store == Store::Postgres);
    let mut q = sqlx::query(&sql);
    for (id, end) in ends {
        q = bind_completion(q, *id, end);
    }
    q.execute(conn).await.map(drop)
}

fn bind_completion<'q>(
    q: sqlx::query::Query<'q, Db, crate::server::database::Arguments<'q>>,
    id: i64,
    end: &'q Completion,
) -> sqlx::query::Query<'q, Db, crate::server::database::Arguments<'q>> {
    q.bind(id)
        .bind(end.outcome.map(Outcome::as_str))
        .bind(end.http_status.map(i64::from))
        .bind(end.latency_ms)
        .bind(end.tokens_in)
        .bind(end.tokens_out)
        .bind(&end.response_text)
        .bind(i64::from(end.text_truncated))
}

/// `UPDATE traffic SET <set> FROM (VALUES …) AS v WHERE traffic.id = v.column1` for `rows`
/// rows of values of `types` (the first the id), placeholders as in `insert_sql`. A VALUES
/// list names its columns column1, column2, … on both stores; the casts give PostgreSQL the
/// types it cannot infer there.
fn update_from_values_sql(set: &str, types: &[&str], rows: usize, numbered: bool) -> String {
    let mut sql = format!("UPDATE traffic SET {set} FROM (VALUES ");
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for (column, ty) in types.iter().enumerate() {
            if column > 0 {
                sql.push_str(", ");
            }
            let placeholder = if numbered {
                format!("${}", row * types.len() + column + 1)
            } else {
                "?".to_owned()
            };
            sql.push_str(&format!("CAST({placeholder} AS {ty})"));
        }
        sql.push(')');
    }
    sql.push_str(") AS v WHERE traffic.id = v.column1");
    sql
}

/// `update_from_values_sql` for `rows` completions, in `bind_completion`'s order.
fn complete_sql(rows: usize, numbered: bool) -> String {
    update_from_values_sql(
        "outcome = v.column2, http_status = v.column3, latency_ms = v.column4, \
         tokens_in = v.column5, tokens_out = v.column6, response_text = v.column7, \
         text_truncated = v.column8, gateway_instance = NULL",
        &[
            "BIGINT", "TEXT", "BIGINT", "BIGINT", "BIGINT", "BIGINT", "TEXT", "BIGINT",
        ],
        rows,
        numbered,
    )
}

/// Records what the shield found in the answer to record `id` (a JSON `ScanResult`).
pub async fn set_response_scan(
    conn: &mut crate::server::database::Conn,
    id: i64,
    scan: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE traffic SET response_scan = $1 WHERE id = $2")
        .bind(scan)
        .bind(id)
        .execute(conn)
        .await
        .map(drop)
}

/// `set_response_scan` for several records in one statement (ids distinct).
pub async fn set_response_scans(
    conn: &mut crate::server::database::Conn,
    store: Store,
    scans: &[(i64, &str)],
) -> Result<(), sqlx::Error> {
    let sql = update_from_values_sql(
        "response_scan = v.column2",
        &["BIGINT", "TEXT"],
        scans.len(),
        store == Store::Postgres,
    );
    let mut q = sqlx::query(&sql);
    for (id, scan) in scans {
        q = q.bind(*id).bind(*scan);
    }
    q.execute(conn).await.map(drop)
}

/// The gateway processes, other than `except`, that left records pending.
pub async fn pending_instances(pool: &Pool, except: i64) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT DISTINCT gateway_instance FROM traffic \
         WHERE outcome = 'pending' AND gateway_instance <> $1",
    )
    .bind(except)
    .fetch_all(pool)
    .await
}

/// Marks the records that gateway process `instance` left pending as interrupted: it is gone.
pub async fn mark_interrupted(pool: &Pool, instance: i64) -> Result<u64, sqlx::Error> {
    sqlx::query(
        "UPDATE traffic SET outcome = 'interrupted', gateway_instance = NULL \
         WHERE outcome = 'pending' AND gateway_instance = $1",
    )
    .bind(instance)
    .execute(pool)
    .await
    .map(|done| done.rows_affected())
}

/// BYPASSED records between `from` and `to` inclusive: the traffic no shield saw.
pub async fn count_bypassed(
    conn: &mut crate::server::database::Conn,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM traffic WHERE verdict = 'BYPASSED' AND at >= $1 AND at <= $2",
    )
    .bind(to_millis(from))
    .bind(to_millis(to))
    .fetch_one(conn)
    .await
}

/// The filters on where traffic came from (source, model, provider), which the table and
/// the chart share.
fn push_origin(q: &mut Statement, filter: &TrafficFilter) {
    for (column, value) in [
        ("source", &filter.source),
        ("model", &filter.model),
        ("provider", &filter.provider),
    ] {
        if let Some(v) = value {
            q.push(" AND ")
                .push(column)
                .push(" = ")
                .push_bind(v.clone());
        }
    }
}

/// The counts behind the chart: records per bucket and verdict.
pub fn chart_statement(filter: &TrafficFilter, now: DateTime<Utc>) -> Statement {
    let (from, to) = Chart::range(filter, now);
    let bucket_ms = Chart::bucket_minutes(from, to) * 60_000;
    let mut q = Statement::new("SELECT (at - ");
    q.push_bind(to_millis(from))
        .push(") / ")
        .push_bind(bucket_ms);
    q.push(" AS bucket, verdict, COUNT(*) AS n FROM traffic WHERE at >= ")
        .push_bind(to_millis(from))
        .push(" AND at < ")
        .push_bind(to_millis(to));
    push_origin(&mut q, filter);
    q.push(" GROUP BY bucket, verdict");
    q
}

/// The chart for `filter` (all verdicts; the verdict, score and cursor filters do not apply).
pub async fn chart(
    pool: &Pool,
    filter: &TrafficFilter,
    now: DateTime<Utc>,
) -> Result<Chart, sqlx::Error> {
    let (from, to) = Chart::range(filter, now);
    let rows = chart_statement(filter, now).fetch_all(pool).await?;
    let counts = rows.iter().filter_map(|r| {
        Some((
            r.get::<i64, _>("bucket"),
            Verdict::parse(r.get("verdict"))?,
            r.get::<i64, _>("n"),
        ))
    });
    let windows = break_glass_windows::overlapping(pool, from, to).await?;
    Ok(Chart::build(from, to, counts.collect::<Vec<_>>(), windows))
}

/// The columns `record_from_row` reads.
pub const RECORD_COLUMNS: &str = "id, at, source, model, provider, verdict, score, \
    latency_ms, tokens_in, tokens_out, http_status, session_id, request_id, detections, \
    direction, rescan_of, outcome, text_truncated, scan_coverage, response_scan";

pub fn record_from_row(r: &crate::server::database::Row) -> Option<TrafficRecord> {
    Some(TrafficRecord {
        id: r.get("id"),
        at: from_millis(r.get("at")),
        source: r.get("source"),
        model: r.get("model"),
        provider: r.get("provider"),
        verdict: Verdict::parse(r.get("verdict"))?,
        score: r.get("score"),
        latency_ms: r.get("latency_ms"),
        tokens_in: r.get("tokens_in"),
        tokens_out: r.get("tokens_out"),
        http_status: r.get("http_status"),
        session_id: r.get("session_id"),
        request_id: r.get("request_id"),
        detections: serde_json::from_str(r.get::<&str, _>("detections")).unwrap_or_default(),
        direction: r.get("direction"),
        rescan_of: r.get("rescan_of"),
        outcome: r.get::<Option<&str>, _>("outcome").and_then(Outcome::parse),
        text_truncated: r.get::<i64, _>("text_truncated") != 0,
        scan_coverage: r
            .get::<Option<&str>, _>("scan_coverage")
            .and_then(|c| serde_json::from_str(c).ok()),
        response_scan: r
            .get::<Option<&str>, _>("response_scan")
            .and_then(|c| serde_json::from_str(c).ok()),
    })
}

/// The query for one page of records matching `filter` (one more than the page holds).
pub fn page_statement(filter: &TrafficFilter) -> Statement {
    let mut q = Statement::new(format!("SELECT {RECORD_COLUMNS} FROM traffic WHERE 1 = 1"));
    push_origin(&mut q, filter);
    if let Some(v) = filter.verdict {
        q.push(" AND verdict = ").push_bind(v.as_str());
    }
    if let Some(v) = filter.outcome {
        q.push(" AND outcome = ").push_bind(v.as_str());
    }
    if let Some(v) = filter.min_score {
        q.push(" AND score >= ").push_bind(i64::from(v));
    }
    if let Some(v) = filter.from {
        q.push(" AND at >= ").push_bind(to_millis(v));
    }
    if let Some(v) = filter.to {
        q.push(" AND at <= ").push_bind(to_millis(v));
    }
    match (filter.sort, filter.cursor) {
        (TrafficSort::Time, Some(c)) => {
            q.push(" AND (at < ").push_bind(c.at_ms);
            q.push(" OR (at = ").push_bind(c.at_ms);
            q.push(" AND id < ").push_bind(c.id).push("))");
        }
        (TrafficSort::Score, Some(c)) => {
            let s = c.score.unwrap_or(-1);
            q.push(" AND (COALESCE(score, -1) < ").push_bind(s);
            q.push(" OR (COALESCE(score, -1) = ").push_bind(s);
            q.push(" AND (at < ").push_bind(c.at_ms);
            q.push(" OR (at = ").push_bind(c.at_ms);
            q.push(" AND id < ").push_bind(c.id).push("))))");
        }
        _ => {}
    }
    q.push(match filter.sort {
        TrafficSort::Time => " ORDER BY at DESC, id DESC",
        TrafficSort::Score => " ORDER BY COALESCE(score, -1) DESC, at DESC, id DESC",
    });
    // One more than asked: whether a next page exists.
    q.push(" LIMIT ").push_bind(i64::from(filter.limit) + 1);
    q
}

/// One page of records matching `filter`, newest (or highest score) first.
pub async fn page(pool: &Pool, filter: &TrafficFilter) -> Result<TrafficPage, sqlx::Error> {
    let rows = page_statement(filter).fetch_all(pool).await?;
    let mut records: Vec<TrafficRecord> = rows.iter().filter_map(record_from_row).collect();
    let next_cursor = (records.len() > filter.limit as usize).then(|| {
        records.truncate(filter.limit as usize);
        let last = records.last().expect("a full page has a last record");
        Cursor {
            score: (filter.sort == TrafficSort::Score).then(|| last.score.unwrap_or(-1)),
            at_ms: to_millis(last.at),
            id: last.id,
        }
        .encode()
    });
    Ok(TrafficPage {
        records,
        next_cursor,
    })
}

/// The Session Watcher's records so far: transcript messages, and rescans of BYPASSED records.
pub async fn watcher_counts(pool: &Pool) -> Result<(i64, i64), sqlx::Error> {
    sqlx::query_as(
        "SELECT COUNT(*) FILTER (WHERE rescan_of IS NULL), \
         COUNT(*) FILTER (WHERE rescan_of IS NOT NULL) FROM traffic WHERE source = $1",
    )
    .bind(crate::domain::traffic::SOURCE_WATCHER)
    .fetch_one(pool)
    .await
}

/// A BYPASSED record's kept text, waiting for the Session Watcher's rescan.
pub struct Unrescanned {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub model: Option<String>,
    pub provider: Option<String>,
    pub session_id: Option<String>,
    pub request_id: String,
    pub request_text: Option<String>,
    pub response_text: Option<String>,
}

/// Up to `limit` BYPASSED records, oldest first, whose exchange has ended (a pending record's
/// answer is still to come), whose text was kept, and that no rescan covers yet.
pub async fn awaiting_rescan(pool: &Pool, limit: i64) -> Result<Vec<Unrescanned>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT t.id, t.at, t.model, t.provider, t.session_id, t.request_id, \
         t.request_text, t.response_text FROM traffic t \
         WHERE t.verdict = 'BYPASSED' AND COALESCE(t.outcome, '') <> 'pending' \
         AND (t.request_text IS NOT NULL OR t.response_text IS NOT NULL) \
         AND NOT EXISTS (SELECT 1 FROM traffic r WHERE r.rescan_of = t.id) \
         ORDER BY t.id LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| Unrescanned {
            id: r.get("id"),
            at: from_millis(r.get("at")),
            model: r.get("model"),
            provider: r.get("provider"),
            session_id: r.get("session_id"),
            request_id: r.get("request_id"),
            request_text: r.get("request_text"),
            response_text: r.get("response_text"),
        })
        .collect())
}

/// What the traffic of a break-glass window holds, for its review.
pub struct WindowCounts {
    /// Transcript messages from the window that the Session Watcher has scanned.
    pub messages_scanned: i64,
    pub bypassed: i64,
    pub bypassed_rescanned: i64,
    /// Bypassed requests whose text was not kept.
    pub bypassed_without_text: i64,
}

/// The counts of the window from `from` to `to` inclusive.
pub async fn in_window(
    pool: &Pool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<WindowCounts, sqlx::Error> {
    let (from, to) = (to_millis(from), to_millis(to));
    let messages_scanned: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM traffic WHERE source = $1 AND rescan_of IS NULL \
         AND at >= $2 AND at <= $3",
    )
    .bind(crate::domain::traffic::SOURCE_WATCHER)
    .bind(from)
    .bind(to)
    .fetch_one(pool)
    .await?;
    let (bypassed, bypassed_rescanned, bypassed_without_text): (i64, i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), \
         COUNT(*) FILTER (WHERE EXISTS (SELECT 1 FROM traffic r WHERE r.rescan_of = t.id)), \
         COUNT(*) FILTER (WHERE t.request_text IS NULL AND t.response_text IS NULL) \
         FROM traffic t WHERE t.verdict = 'BYPASSED' AND t.at >= $1 AND t.at <= $2",
    )
    .bind(from)
    .bind(to)
    .fetch_one(pool)
    .await?;
    Ok(WindowCounts {
        messages_scanned,
        bypassed,
        bypassed_rescanned,
        bypassed_without_text,
    })
}

/// The Session Watcher's BLOCK and REVIEW findings from `from` to `to` inclusive, highest
/// score first (at most 1,000), each with the text it found.
pub async fn watcher_findings(
    pool: &Pool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(TrafficRecord, Option<String>)>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {RECORD_COLUMNS}, request_text FROM traffic \
         WHERE source = $1 AND verdict IN ('BLOCK', 'REVIEW') AND at >= $2 AND at <= $3 \
         ORDER BY score DESC, at, id LIMIT 1000"
    ))
    .bind(crate::domain::traffic::SOURCE_WATCHER)
    .bind(to_millis(from))
    .bind(to_millis(to))
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .filter_map(|r| Some((record_from_row(r)?, r.get("request_text"))))
        .collect())
}
