//! Every request that reached a model has its traffic record, whatever happens to its client,
//! the upstream or the gateway: clients that leave at random points, in and out of
//! break-glass; a store that refuses the record; an upstream that goes silent; a shutdown; a
//! `kill -9` mid-load; and `[DONE]` where a naive relay would trip over it.

mod support;

use app::server::clock::ManualClock;
use chrono::Utc;
use futures::StreamExt;
use rand::{Rng, SeedableRng};
use sqlx::Row;
use std::collections::HashMap;
use support::fault_upstream::{done_in_text_chunks, FaultUpstream};
use support::*;

struct Setup {
    server: TestServer,
    upstream: FaultUpstream,
    admin: reqwest::Client,
    key: String,
    _dir: tempfile::TempDir,
}

async fn setup_with(extra: &[(&str, String)]) -> Setup {
    let (dir, db) = fresh_db();
    let upstream = FaultUpstream::start().await;
    let mut env = vec![
        ("BREAKGLASS_LITELLM_URL", upstream.url.clone()),
        ("BREAKGLASS_BYPASS_URL", upstream.url.clone()),
    ];
    env.extend(extra.iter().cloned());
    let server = TestServer::start_with(&db, ManualClock::new(Utc::now()), &env).await;
    let admin = server.admin().await;
    let key = server.create_api_key(&admin, "agents").await;
    Setup {
        server,
        upstream,
        admin,
        key,
        _dir: dir,
    }
}

async fn setup() -> Setup {
    setup_with(&[]).await
}

/// One traffic row as the tests read it.
#[derive(Debug, Clone)]
struct Record {
    request_id: String,
    session_id: Option<String>,
    verdict: String,
    outcome: String,
    http_status: Option<i64>,
    response_text: Option<String>,
    tokens_out: Option<i64>,
}

/// The gateway's records (not the Session Watcher's rescans of them).
async fn records(db: &app::server::database::Pool) -> Vec<Record> {
    sqlx::query(
        "SELECT request_id, session_id, verdict, outcome, http_status, response_text, tokens_out \
         FROM traffic WHERE source <> 'session-watcher' ORDER BY id",
    )
    .fetch_all(db)
    .await
    .unwrap()
    .iter()
    .map(|r| Record {
        request_id: r.get("request_id"),
        session_id: r.get("session_id"),
        verdict: r.get("verdict"),
        outcome: r.get("outcome"),
        http_status: r.get("http_status"),
        response_text: r.get("response_text"),
        tokens_out: r.get("tokens_out"),
    })
    .collect()
}

fn chat_body(tag: &str, scenario: &str, stream: bool) -> serde_json::Value {
    serde_json::json!({
        "model": "gpt-4o-mini",
        "stream": stream,
        "messages": [
            {"role": "user", "content": tag},
            {"role": "user", "content": format!("scenario:{scenario}")},
        ],
    })
}

/// A request from a client of its own (no shared connection), tagged by `x-session-id`.
fn request(s: &Setup, tag: &str, scenario: &str, stream: bool) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .post(s.server.url("/v1/chat/completions"))
        .bearer_auth(&s.key)
        .header("x-session-id", tag)
        .json(&chat_body(tag, scenario, stream))
}

impl Setup {
    async fn activate(&self) {
        let res = self
            .admin
            .post(self.server.url("/api/break-glass/activate"))
            .json(&activation("LiteLLM path is down", 30))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }

    async fn deactivate(&self) -> serde_json::Value {
        let res = self
            .admin
            .post(self.server.url("/api/break-glass/deactivate"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        res.json().await.unwrap()
    }
}

/// Where a client of the random fault test leaves.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Leave {
    /// The upstream holds the answer; the client gives up once its request has arrived there.
    BeforeHeaders,
    /// A stream that goes on and on; the client reads a piece and hangs up.
    MidStream,
    /// The client reads the whole stream, then hangs up.
    AfterLastChunk,
    /// The client reads the whole (non-streamed) answer.
    Completed,
    /// The client hangs up at a random moment soon after sending.
    AnyMoment,
}

const LEAVES: [Leave; 5] = [
    Leave::BeforeHeaders,
    Leave::MidStream,
    Leave::AfterLastChunk,
    Leave::Completed,
    Leave::AnyMoment,
];

async fn run_client(s: &Setup, tag: String, leave: Leave, jitter_us: u64) {
    match leave {
        Leave::BeforeHeaders => {
            let stream = jitter_us.is_multiple_of(2);
            let pending = tokio::spawn(request(s, &tag, "hold", stream).send());
            s.upstream.wait_for_tag(&tag).await;
            pending.abort();
            let _ = pending.await;
        }
        Leave::MidStream => {
            let res = request(s, &tag, "trickle", true).send().await.unwrap();
            assert_eq!(res.status(), 200);
            let mut body = res.bytes_stream();
            let first = body.next().await.unwrap().unwrap();
            assert!(!first.is_empty());
            drop(body);
        }
        Leave::AfterLastChunk => {
            let res = request(s, &tag, "complete", true).send().await.unwrap();
            assert_eq!(res.status(), 200);
            let text = res.text().await.unwrap();
            assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
        }
        Leave::Completed => {
            let res = request(s, &tag, "complete", false).send().await.unwrap();
            assert_eq!(res.status(), 200);
        }
        Leave::AnyMoment => {
            let pending =
                tokio::spawn(request(s, &tag, "complete", jitter_us.is_multiple_of(2)).send());
            tokio::time::sleep(std::time::Duration::from_micros(jitter_us)).await;
            pending.abort();
            let _ = pending.await;
        }
    }
}

/// Runs `n` clients that leave at random points, all at once, and checks that what the
/// upstream received and the traffic records agree.
async fn clients_leave_at_random_points(bypassing: bool) {
    let mut s = setup().await;
    if bypassing {
        s.activate().await;
    }
    let seed: u64 = std::env::var("FAULT_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| rand::thread_rng().gen());
    eprintln!("fault test seed {seed} (FAULT_SEED={seed} repeats it)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let plan: Vec<(String, Leave, u64)> = (0..40)
        .map(|i| {
            (
                format!("client-{i}"),
                LEAVES[rng.gen_range(0..LEAVES.len())],
                rng.gen_range(0..3000),
            )
        })
        .collect();
    futures::future::join_all(
        plan.iter()
            .map(|(tag, leave, jitter)| run_client(&s, tag.clone(), *leave, *jitter)),
    )
    .await;
    let db = s.server.db().await;
    // Records of clients that left are completed by the journal's writer: wait for that.
    let received = s.upstream.received();
    let wanted = received.len();
    eventually(
        "no record is pending, and every request the upstream received has one",
        || {
            let db = db.clone();
            let received = received.clone();
            async move {
                let rows = records(&db).await;
                let ids: Vec<&str> = rows.iter().map(|r| r.request_id.as_str()).collect();
                rows.iter().all(|r| r.outcome != "pending")
                    && received
                        .iter()
                        .filter(|(id, _)| ids.contains(&id.as_str()))
                        .count()
                        == wanted
            }
        },
    )
    .await;
    s.upstream.release();
    let rows = records(&db).await;
    let by_id: HashMap<&str, &Record> = rows.iter().map(|r| (r.request_id.as_str(), r)).collect();
    for (id, tag) in &received {
        let record = by_id
            .get(id.as_str())
            .unwrap_or_else(|| panic!("{tag} reached the upstream as {id} but has no record"));
        assert_eq!(record.session_id.as_deref(), Some(tag.as_str()));
    }
    let expected_verdict = if bypassing { "BYPASSED" } else { "ALLOW" };
    for (tag, leave, _) in &plan {
        let mine: Vec<&Record> = rows
            .iter()
            .filter(|r| r.session_id.as_deref() == Some(tag.as_str()))
            .collect();
        assert!(
            mine.len() <= 1,
            "{tag}: one record per request, not {mine:?}"
        );
        let reached = received.iter().any(|(_, t)| t == tag);
        let Some(record) = mine.first() else {
            assert_eq!(*leave, Leave::AnyMoment, "{tag} ({leave:?}) has no record");
            assert!(!reached, "{tag} reached the upstream without a record");
            continue;
        };
        assert_eq!(record.verdict, expected_verdict, "{tag}");
        let expected = match leave {
            Leave::BeforeHeaders => "client_closed_before_response",
            Leave::MidStream => "client_closed_during_response",
            Leave::AfterLastChunk | Leave::Completed => "completed",
            Leave::AnyMoment => {
                assert!(
                    [
                        "completed",
                        "client_closed_before_response",
                        "client_closed_during_response"
                    ]
                    .contains(&record.outcome.as_str()),
                    "{tag}: {record:?}"
                );
                continue;
            }
        };
        assert_eq!(record.outcome, expected, "{tag} ({leave:?}): {record:?}");
        assert!(
            reached,
            "{tag} ({leave:?}) has a record but never reached the upstream"
        );
    }
    // The Traffic Monitor's API filters on the outcome.
    for outcome in [
        "completed",
        "client_closed_before_response",
        "client_closed_during_response",
    ] {
        let page: serde_json::Value = s
            .admin
            .get(
                s.server
                    .url(&format!("/api/traffic?outcome={outcome}&limit=1000")),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let listed = page["records"].as_array().unwrap();
        let stored = rows.iter().filter(|r| r.outcome == outcome).count();
        assert_eq!(listed.len(), stored, "{outcome}");
        assert!(listed.iter().all(|r| r["outcome"] == outcome));
    }
    let res = s
        .admin
        .get(s.server.url("/api/traffic?outcome=vanished"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let error: serde_json::Value = res.json().await.unwrap();
    assert_eq!(error["error"]["field"], "outcome");
    if bypassing {
        let ended = s.deactivate().await;
        let bypassed = rows.iter().filter(|r| r.verdict == "BYPASSED").count();
        assert_eq!(
            ended["unscanned_traffic"], bypassed,
            "the end counts every unscanned request"
        );
    }
    s.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bypassed_requests_whose_clients_leave_keep_their_records() {
    clients_leave_at_random_points(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scanned_requests_whose_clients_leave_keep_their_records() {
    clients_leave_at_random_points(false).await;
}

#[tokio::test]
async fn a_bypassed_request_that_cannot_be_recorded_is_not_forwarded() {
    let mut s = setup().await;
    s.activate().await;
    let db = s.server.db().await;
    // The store refuses new traffic rows, as a full disk or a broken database would.
    if on_postgres() {
        sqlx::query(
            "CREATE FUNCTION refuse_traffic() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'no space left'; END $$",
        )
        .execute(&db)
        .await
        .unwrap();
        sqlx::query(
            "CREATE TRIGGER refuse_traffic BEFORE INSERT ON traffic \
             FOR EACH ROW EXECUTE FUNCTION refuse_traffic()",
        )
        .execute(&db)
        .await
        .unwrap();
    } else {
        sqlx::query(
            "CREATE TRIGGER refuse_traffic BEFORE INSERT ON traffic \
             BEGIN SELECT RAISE(ABORT, 'no space left'); END",
        )
        .execute(&db)
        .await
        .unwrap();
    }
    let res = request(&s, "refused", "complete", false)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["type"], "server_error");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("not forwarded"), "{message}");
    assert!(
        s.upstream.received().is_empty(),
        "nothing reached the provider"
    );
    s.server.stop().await;
}

#[tokio::test]
async fn an_upstream_that_does_not_answer_ends_as_upstream_timeout() {
    let mut s = setup_with(&[("BREAKGLASS_UPSTREAM_TIMEOUT_SECONDS", "1".into())]).await;
    for bypassing in [false, true] {
        if bypassing {
            s.activate().await;
        }
        let tag = format!("silent-{bypassing}");
        let res = request(&s, &tag, "hold", false).send().await.unwrap();
        assert_eq!(res.status(), 504);
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["error"]["type"], "upstream_timeout");
    }
    let rows = records(&s.server.db().await).await;
    let outcomes: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r.verdict.as_str(), r.outcome.as_str()))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("ALLOW", "upstream_timeout"),
            ("BYPASSED", "upstream_timeout")
        ]
    );
    assert!(rows.iter().all(|r| r.http_status == Some(504)));
    s.upstream.release();
    s.server.stop().await;
}

#[tokio::test]
async fn requests_in_flight_at_shutdown_end_as_shutdown() {
    let mut s = setup_with(&[("BREAKGLASS_SHUTDOWN_GRACE_SECONDS", "0".into())]).await;
    s.activate().await;
    let held = tokio::spawn(request(&s, "held", "hold", false).send());
    let streaming = request(&s, "trickling", "trickle", true)
        .send()
        .await
        .unwrap();
    let mut body = streaming.bytes_stream();
    body.next().await.unwrap().unwrap();
    s.upstream.wait_for_tag("held").await;
    let db = s.server.db().await;
    s.server.stop().await;
    let answer = held.await.unwrap().unwrap();
    assert_eq!(answer.status(), 503);
    while let Some(Ok(_)) = body.next().await {}
    let rows = records(&db).await;
    let outcome = |tag: &str| {
        rows.iter()
            .find(|r| r.session_id.as_deref() == Some(tag))
            .map(|r| r.outcome.clone())
    };
    assert_eq!(outcome("held").as_deref(), Some("shutdown"));
    assert_eq!(outcome("trickling").as_deref(), Some("shutdown"));
    s.upstream.release();
}

/// Reads a stream to its end, noting what the record said at the moment the end arrived.
async fn read_stream_and_record_at_end(
    s: &Setup,
    db: &app::server::database::Pool,
    tag: &str,
) -> (Vec<u8>, Record) {
    let res = request(s, tag, "done-in-text", true).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let mut body = res.bytes_stream();
    let mut received = Vec::new();
    let terminator = b"data: [DONE]\n\n";
    while let Some(chunk) = body.next().await {
        received.extend_from_slice(&chunk.unwrap());
        if received.ends_with(terminator) {
            break;
        }
    }
    // The client has just seen the end: the record must already be complete.
    let record = records(db)
        .await
        .into_iter()
        .find(|r| r.session_id.as_deref() == Some(tag))
        .expect("a record exists when the stream ends");
    (received, record)
}

#[tokio::test]
async fn done_in_the_text_and_a_split_terminator_pass_intact_after_the_record() {
    let mut s = setup().await;
    let db = s.server.db().await;
    let expected = done_in_text_chunks().concat().into_bytes();
    for bypassing in [false, true] {
        if bypassing {
            s.activate().await;
        }
        let tag = format!("done-{bypassing}");
        let (received, record) = read_stream_and_record_at_end(&s, &db, &tag).await;
        assert_eq!(
            String::from_utf8_lossy(&received),
            String::from_utf8_lossy(&expected),
            "every byte, in order"
        );
        assert_eq!(
            record.outcome, "completed",
            "committed before the end was sent"
        );
        assert_eq!(record.tokens_out, Some(9));
        if bypassing {
            assert_eq!(
                record.response_text.as_deref(),
                Some("an agent may print [DONE] and data: [DONE] inside its text")
            );
        }
    }
    s.server.stop().await;
}

/// `kill -9` of the server while bypassed requests are in flight: after a restart each one the
/// upstream received has its record, marked interrupted, and the window counts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_kill_9_every_bypassed_request_the_upstream_received_has_its_record() {
    let (_dir, db_path) = fresh_db();
    prepare_database(&db_path).await;
    let url = database_url(&db_path);
    let upstream = FaultUpstream::start().await;
    let first = replica::Replica::start(&url, &upstream.url).await;
    let admin = first.admin().await;
    let res = admin
        .post(first.url("/api/keys"))
        .json(&serde_json::json!({"name": "agents", "scopes": ["gateway"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let key = res.json::<serde_json::Value>().await.unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = admin
        .post(first.url("/api/break-glass/activate"))
        .json(&activation("LiteLLM path is down", 30))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let send = |tag: String, scenario: &'static str| {
        let url = first.url("/v1/chat/completions");
        let key = key.clone();
        async move {
            reqwest::Client::new()
                .post(url)
                .bearer_auth(key)
                .header("x-session-id", &tag)
                .json(&chat_body(&tag, scenario, false))
                .send()
                .await
        }
    };
    // Load: ten answered, then ten that the upstream holds while the process dies.
    for i in 0..10 {
        let res = send(format!("done-{i}"), "complete").await.unwrap();
        assert_eq!(res.status(), 200);
    }
    let in_flight: Vec<_> = (0..10)
        .map(|i| tokio::spawn(send(format!("held-{i}"), "hold")))
        .collect();
    upstream.wait_for(20).await;
    first.kill().await;
    for request in in_flight {
        assert!(
            request.await.unwrap().is_err(),
            "the connection died with the process"
        );
    }
    let second = replica::Replica::start(&url, &upstream.url).await;
    let db = app::server::database::connect(&url).await.unwrap();
    eventually("the dead process's records are marked interrupted", || {
        let db = db.clone();
        async move { records(&db).await.iter().all(|r| r.outcome != "pending") }
    })
    .await;
    let rows = records(&db).await;
    let by_id: HashMap<&str, &Record> = rows.iter().map(|r| (r.request_id.as_str(), r)).collect();
    let received = upstream.received();
    assert_eq!(received.len(), 20);
    for (id, tag) in &received {
        let record = by_id
            .get(id.as_str())
            .unwrap_or_else(|| panic!("{tag} reached the upstream but has no record"));
        let expected = if tag.starts_with("held") {
            "interrupted"
        } else {
            "completed"
        };
        assert_eq!(record.outcome, expected, "{tag}");
        assert_eq!(record.verdict, "BYPASSED");
    }
    assert_eq!(rows.len(), 20);
    let admin = second.admin().await;
    let res = admin
        .post(second.url("/api/break-glass/deactivate"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let ended: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        ended["unscanned_traffic"], 20,
        "the window counts the interrupted ones"
    );
    upstream.release();
}

/// The WAL-index header in a SQLite `-shm` file (host byte order): the last frame in the log
/// (`mxFrame`, offset 16) and how many frames checkpoints have copied into the database
/// (`nBackfill`, offset 96). A checkpoint syncs the log before it copies.
fn wal_frames(db_path: &std::path::Path) -> (u32, u32) {
    let shm = std::fs::read(db_path.with_extension("db-shm")).unwrap();
    let word = |at: usize| u32::from_ne_bytes(shm[at..at + 4].try_into().unwrap());
    (word(16), word(96))
}

#[tokio::test]
async fn a_record_committed_without_an_fsync_is_synced_soon_after() {
    if on_postgres() {
        // PostgreSQL's WAL writer flushes asynchronous commits itself.
        return;
    }
    let s = setup().await;
    let res = request(&s, "scanned-once", "complete", false)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (logged, _) = wal_frames(&s.server.db_path);
    eventually("the journal syncs the log it committed to", || {
        let path = s.server.db_path.clone();
        async move {
            let (_, backfilled) = wal_frames(&path);
            backfilled >= logged
        }
    })
    .await;
    let rows = records(&s.server.db().await).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].outcome, "completed");
}

/// 3,000 records one after another, each a batch of its own (about 40 MiB of WAL frames):
/// the log must start over after each checkpoint, whether or not the journal syncs by
/// checkpointing.
async fn wal_stays_bounded(fsync: &str) {
    if on_postgres() {
        return;
    }
    let s = setup_with(&[("BREAKGLASS_TRAFFIC_FSYNC", fsync.into())]).await;
    let key = s
        .server
        .create_key_with(
            &s.admin,
            serde_json::json!({
                "name": "steady agent", "scopes": ["gateway"], "rate_limit_per_minute": 100000
            }),
        )
        .await;
    let client = reqwest::Client::new();
    for i in 0..3_000 {
        let tag = format!("load-{i}");
        let res = client
            .post(s.server.url("/v1/chat/completions"))
            .bearer_auth(&key)
            .json(&chat_body(&tag, "complete", false))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    let wal = std::fs::metadata(s.server.db_path.with_extension("db-wal"))
        .unwrap()
        .len();
    // SQLite checkpoints at 1,000 pages (4 MiB) and then starts the log over.
    assert!(
        wal < 12 * 1024 * 1024,
        "with {fsync}, the WAL grew to {} MiB",
        wal / (1024 * 1024)
    );
    assert_eq!(records(&s.server.db().await).await.len(), 3_000);
}

#[tokio::test]
async fn the_wal_stays_bounded_under_sustained_load() {
    wal_stays_bounded("before-forwarding").await;
}

#[tokio::test]
async fn the_wal_stays_bounded_when_every_commit_waits_for_the_disk() {
    wal_stays_bounded("every-commit").await;
}
