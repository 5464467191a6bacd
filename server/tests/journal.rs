//! The traffic journal against the real store: records, completions and answer scans written
//! together in one batch each end up on their own record.

mod support;

use app::domain::shield::ScanResult;
use app::domain::traffic::{Outcome, SOURCE_BREAK_GLASS};
use app::domain::Verdict;
use app::server::traffic::{Completion, Fsync, Journal, NewTraffic};
use sqlx::Row;
use support::*;

fn pending(i: usize) -> NewTraffic {
    NewTraffic {
        at: chrono::Utc::now(),
        source: SOURCE_BREAK_GLASS,
        model: Some("gpt-4o-mini".into()),
        provider: Some("openai".into()),
        verdict: Verdict::Bypassed,
        score: None,
        detections: Vec::new(),
        latency_ms: None,
        tokens_in: None,
        tokens_out: None,
        http_status: None,
        api_key_id: None,
        session_id: None,
        request_id: format!("journal-{i}"),
        request_text: Some(format!("request {i}")),
        response_text: None,
        rescan_of: None,
        direction: None,
        outcome: Some(Outcome::Pending),
        gateway_instance: Some(7),
        text_truncated: false,
        scan_coverage: None,
    }
}

/// A completion whose every field says which record it belongs to.
fn completion(i: usize) -> Completion {
    let i64 = |n: usize| i64::try_from(n).unwrap();
    Completion {
        outcome: Some(if i.is_multiple_of(2) {
            Outcome::Completed
        } else {
            Outcome::ClientClosedDuringResponse
        }),
        http_status: (!i.is_multiple_of(7)).then(|| 200 + u16::try_from(i % 5).unwrap()),
        latency_ms: Some(i64(i)),
        tokens_in: Some(i64(i * 2)),
        tokens_out: i.is_multiple_of(2).then(|| i64(i * 3)),
        response_text: (!i.is_multiple_of(3))
            .then(|| format!("answer {i}, with 'quotes' and \"more\"")),
        text_truncated: i.is_multiple_of(4),
    }
}

/// A scan of an answer whose score says which record it belongs to.
fn answer_scan(i: usize) -> ScanResult {
    ScanResult {
        verdict: if i.is_multiple_of(3) {
            Verdict::Review
        } else {
            Verdict::Allow
        },
        score: u8::try_from(i % 100).unwrap(),
        detections: Vec::new(),
    }
}

#[tokio::test]
async fn completions_and_answer_scans_written_together_each_reach_their_own_record() {
    let (_dir, db) = fresh_db();
    prepare_database(&db).await;
    let url = database_url(&db);
    let pool = app::server::database::connect(&url).await.unwrap();
    let journal = Journal::start(pool.clone(), &url, Fsync::default())
        .await
        .unwrap();
    const N: usize = 300;
    // Queued all at once, so the writer takes them in a few large batches.
    let ids = futures::future::join_all((0..N).map(|i| journal.insert(pending(i))))
        .await
        .into_iter()
        .collect::<Result<Vec<i64>, _>>()
        .unwrap();
    futures::future::join_all(
        ids.iter()
            .enumerate()
            .map(|(i, id)| journal.complete(*id, completion(i))),
    )
    .await
    .into_iter()
    .collect::<Result<Vec<()>, _>>()
    .unwrap();

    let scans: Vec<ScanResult> = (0..N).map(answer_scan).collect();
    futures::future::join_all(
        ids.iter()
            .zip(&scans)
            .map(|(id, scan)| journal.answer_scanned(*id, scan)),
    )
    .await
    .into_iter()
    .collect::<Result<Vec<()>, _>>()
    .unwrap();

    let rows = sqlx::query(
        "SELECT id, request_id, outcome, http_status, latency_ms, tokens_in, tokens_out, \
         response_text, text_truncated, gateway_instance, response_scan FROM traffic",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), N);
    for row in rows {
        let i = ids
            .iter()
            .position(|id| *id == row.get::<i64, _>("id"))
            .unwrap();
        assert_eq!(row.get::<String, _>("request_id"), format!("journal-{i}"));
        let end = completion(i);
        assert_eq!(
            row.get::<String, _>("outcome"),
            end.outcome.unwrap().as_str(),
            "record {i}"
        );
        assert_eq!(
            row.get::<Option<i64>, _>("http_status"),
            end.http_status.map(i64::from),
            "record {i}"
        );
        assert_eq!(row.get::<Option<i64>, _>("latency_ms"), end.latency_ms);
        assert_eq!(row.get::<Option<i64>, _>("tokens_in"), end.tokens_in);
        assert_eq!(row.get::<Option<i64>, _>("tokens_out"), end.tokens_out);
        assert_eq!(
            row.get::<Option<String>, _>("response_text"),
            end.response_text
        );
        assert_eq!(
            row.get::<i64, _>("text_truncated"),
            i64::from(end.text_truncated)
        );
        assert_eq!(row.get::<Option<i64>, _>("gateway_instance"), None);
        let scan: ScanResult =
            serde_json::from_str(&row.get::<String, _>("response_scan")).unwrap();
        assert_eq!(scan, answer_scan(i), "record {i}");
    }
}
