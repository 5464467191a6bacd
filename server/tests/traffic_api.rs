//! `GET /api/traffic` and its CSV export against a real server and seeded SQLite rows.

mod support;

use app::server::clock::ManualClock;
use chrono::Utc;
use support::*;

/// (minute, source, model, verdict, score); two rows share minute 5 to test the tie-break.
const ROWS: [(i64, &str, &str, &str, Option<i64>); 8] = [
    (1, "litellm", "gpt-4o", "ALLOW", Some(0)),
    (2, "litellm", "gpt-4o", "REVIEW", Some(30)),
    (3, "break-glass", "gpt-4o", "BYPASSED", None),
    (4, "litellm", "claude", "BLOCK", Some(90)),
    (5, "litellm", "claude", "ALLOW", Some(5)),
    (5, "break-glass", "claude", "BYPASSED", None),
    (6, "litellm", "gpt-4o", "BLOCK", Some(65)),
    (7, "litellm", "gpt-4o", "REVIEW", Some(25)),
];

const T0: i64 = 1_800_000_000_000;

async fn seeded() -> (tempfile::TempDir, TestServer, reqwest::Client) {
    let (dir, db) = fresh_db();
    let s = TestServer::start(&db, ManualClock::new(Utc::now())).await;
    let pool = s.db().await;
    for (minute, source, model, verdict, score) in ROWS {
        sqlx::query(
            "INSERT INTO traffic (at, source, model, provider, verdict, score, http_status, request_id) \
             VALUES ($1, $2, $3, 'openai', $4, $5, 200, $6)",
        )
        .bind(T0 + minute * 60_000)
        .bind(source)
        .bind(model)
        .bind(verdict)
        .bind(score)
        .bind(format!("req-{minute}-{source}"))
        .execute(&pool)
        .await
        .unwrap();
    }
    let admin = s.admin().await;
    (dir, s, admin)
}

async fn get(admin: &reqwest::Client, s: &TestServer, query: &str) -> (u16, serde_json::Value) {
    let res = admin
        .get(s.url(&format!("/api/traffic?{query}")))
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

fn ids(page: &serde_json::Value) -> Vec<String> {
    page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["request_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn filters_combine_and_pages_cover_everything_once() {
    let (_dir, mut s, admin) = seeded().await;
    let (code, all) = get(&admin, &s, "").await;
    assert_eq!(code, 200);
    assert_eq!(
        ids(&all),
        vec![
            "req-7-litellm",
            "req-6-litellm",
            "req-5-break-glass",
            "req-5-litellm",
            "req-4-litellm",
            "req-3-break-glass",
            "req-2-litellm",
            "req-1-litellm"
        ]
    );
    assert!(all["next_cursor"].is_null());

    let (_, p) = get(&admin, &s, "verdict=BLOCK").await;
    assert_eq!(ids(&p), vec!["req-6-litellm", "req-4-litellm"]);
    let (_, p) = get(&admin, &s, "source=break-glass").await;
    assert_eq!(ids(&p), vec!["req-5-break-glass", "req-3-break-glass"]);
    let (_, p) = get(&admin, &s, "model=claude&min_score=1").await;
    assert_eq!(ids(&p), vec!["req-5-litellm", "req-4-litellm"]);
    let from = chrono::DateTime::from_timestamp_millis(T0 + 2 * 60_000)
        .unwrap()
        .to_rfc3339();
    let to = chrono::DateTime::from_timestamp_millis(T0 + 4 * 60_000)
        .unwrap()
        .to_rfc3339();
    let (_, p) = get(
        &admin,
        &s,
        &format!("from={}&to={}", urlencode(&from), urlencode(&to)),
    )
    .await;
    assert_eq!(
        ids(&p),
        vec!["req-4-litellm", "req-3-break-glass", "req-2-litellm"]
    );
    let (_, p) = get(&admin, &s, "provider=anthropic").await;
    assert!(ids(&p).is_empty());

    // Keyset pages of 3, by time then by score: every record exactly once, in order.
    for (sort, expected) in [
        ("time", ids(&all)),
        ("score", {
            let (_, by_score) = get(&admin, &s, "sort=score").await;
            ids(&by_score)
        }),
    ] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let q = match &cursor {
                Some(c) => format!("sort={sort}&limit=3&cursor={c}"),
                None => format!("sort={sort}&limit=3"),
            };
            let (code, page) = get(&admin, &s, &q).await;
            assert_eq!(code, 200, "{page}");
            seen.extend(ids(&page));
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        assert_eq!(seen, expected, "sort={sort}");
    }
    let (_, by_score) = get(&admin, &s, "sort=score").await;
    assert_eq!(
        &ids(&by_score)[..3],
        ["req-4-litellm", "req-6-litellm", "req-2-litellm"]
    );
    s.stop().await;
}

#[tokio::test]
async fn bad_filters_are_named_and_anonymous_callers_refused() {
    let (_dir, mut s, admin) = seeded().await;
    for (q, field) in [
        ("verdict=allowed", "verdict"),
        ("min_score=x", "min_score"),
        ("cursor=abc", "cursor"),
    ] {
        let (code, err) = get(&admin, &s, q).await;
        assert_eq!(code, 400, "{q}");
        assert_eq!(err["error"]["field"], field, "{q}");
    }
    let res = s.client().get(s.url("/api/traffic")).send().await.unwrap();
    assert_eq!(res.status(), 401);
    s.stop().await;
}

#[tokio::test]
async fn csv_export_has_every_filtered_row() {
    let (_dir, mut s, admin) = seeded().await;
    let res = admin
        .get(s.url("/api/traffic.csv?source=litellm&sort=score"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/csv; charset=utf-8");
    let body = res.text().await.unwrap();
    let lines: Vec<&str> = body.lines().collect();
    assert!(lines[0].starts_with("time,source,model,provider,verdict,outcome,score"));
    assert_eq!(lines.len(), 1 + 6, "{body}");
    assert!(lines[1].contains(",BLOCK,,90,"), "{}", lines[1]);
    s.stop().await;
}

#[tokio::test]
async fn csv_export_streams_every_row_of_a_large_table() {
    let (_dir, mut s, admin) = seeded().await;
    // More rows than the old export held (100,000), so nothing is cut at a limit.
    const MORE: i64 = 120_000;
    let pool = s.db().await;
    sqlx::query(
        "INSERT INTO traffic (at, source, model, verdict, score, request_id) \
         WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < $1) \
         SELECT $2 - (i % 5000) * 1000, 'litellm', 'gpt-4o', 'ALLOW', 1, 'bulk-' || i FROM n",
    )
    .bind(MORE)
    .bind(T0)
    .execute(&pool)
    .await
    .unwrap();
    let res = admin.get(s.url("/api/traffic.csv")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers().get("content-length").is_none(),
        "the export is streamed, not built whole first"
    );
    let mut chunks = 0;
    let mut body = Vec::new();
    let mut stream = res.bytes_stream();
    while let Some(chunk) = futures::StreamExt::next(&mut stream).await {
        body.extend_from_slice(&chunk.unwrap());
        chunks += 1;
    }
    assert!(chunks > 1, "arrived in {chunks} piece(s)");
    let body = String::from_utf8(body).unwrap();
    let mut seen = std::collections::HashSet::new();
    for line in body.lines().skip(1) {
        let request_id = line.split(',').nth(12).unwrap();
        assert!(seen.insert(request_id.to_owned()), "{request_id} twice");
    }
    assert_eq!(seen.len() as i64, MORE + ROWS.len() as i64);
    s.stop().await;
}

fn urlencode(v: &str) -> String {
    v.replace(':', "%3A").replace('+', "%2B")
}
