//! `GET /api/audit` paged with its keyset cursor while the trail grows: a SIEM that pulls the
//! oldest first and resumes from the last cursor gets every row exactly once.

mod support;

use app::server::clock::ManualClock;
use chrono::{SecondsFormat, TimeDelta, Utc};
use std::collections::BTreeSet;
use support::*;

async fn page(
    client: &reqwest::Client,
    key: &str,
    s: &TestServer,
    query: &str,
) -> serde_json::Value {
    let res = client
        .get(s.url(&format!("/api/audit?{query}")))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{query}");
    res.json().await.unwrap()
}

fn ids(page: &serde_json::Value) -> Vec<i64> {
    page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect()
}

async fn table(pool: &app::server::database::Pool) -> BTreeSet<i64> {
    sqlx::query_scalar::<_, i64>("SELECT id FROM audit_log")
        .fetch_all(pool)
        .await
        .unwrap()
        .into_iter()
        .collect()
}

#[tokio::test]
async fn a_thousand_rows_pulled_in_pages_of_a_hundred_equal_the_table() {
    let (_dir, db) = fresh_db();
    let start = Utc::now();
    let mut s = TestServer::start(&db, ManualClock::new(start)).await;
    let admin = s.admin().await;
    // The SIEM pulls as fast as it can while the writers run, so how many pages it asks for
    // depends on scheduling: its key's rate limit must not be what this test measures.
    let key = s
        .create_key_with(
            &admin,
            serde_json::json!({
                "name": "siem", "scopes": ["audit:read"], "rate_limit_per_minute": 100000
            }),
        )
        .await;
    let client = reqwest::Client::new();
    let pool = s.db().await;
    // Four writers add 250 rows each while the SIEM pulls.
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let pool = pool.clone();
            tokio::spawn(async move {
                for i in 0..250 {
                    let mut conn = pool.acquire().await.unwrap();
                    app::server::audit_trail::record(
                        &mut conn,
                        start + TimeDelta::seconds(i64::from(w * 250 + i)),
                        &format!("writer-{w}"),
                        app::domain::audit::LOGIN,
                        serde_json::json!({ "n": i }),
                        None,
                    )
                    .await
                    .unwrap();
                }
            })
        })
        .collect();
    let mut pulled = Vec::new();
    let mut cursor = String::new();
    let mut pages = 0;
    loop {
        let writing = writers.iter().any(|w| !w.is_finished());
        let p = page(
            &client,
            &key,
            &s,
            &format!("order=oldest&limit=100&cursor={cursor}"),
        )
        .await;
        let got = ids(&p);
        assert!(got.len() <= 100);
        assert!(got.windows(2).all(|w| w[0] < w[1]), "oldest first: {got:?}");
        pulled.extend(&got);
        pages += 1;
        if let Some(c) = p["next_cursor"].as_str() {
            cursor = c.to_owned();
        }
        // Done once the writers had finished before a page that found nothing more.
        if !writing && got.is_empty() {
            break;
        }
    }
    for w in writers {
        w.await.unwrap();
    }
    assert!(pages > 10, "pulled in {pages} pages");
    let unique: BTreeSet<i64> = pulled.iter().copied().collect();
    assert_eq!(unique.len(), pulled.len(), "no row twice");
    assert_eq!(unique, table(&pool).await, "no row missed");
    assert!(unique.len() >= 1000);

    // Newest first with a time range: pages of 100 cover exactly the rows in the range.
    let from = start + TimeDelta::seconds(100);
    let to = start + TimeDelta::seconds(899);
    let range = format!(
        "from={}&to={}",
        from.to_rfc3339_opts(SecondsFormat::Millis, true),
        to.to_rfc3339_opts(SecondsFormat::Millis, true)
    );
    let mut in_range = Vec::new();
    let mut cursor = String::new();
    loop {
        let p = page(
            &client,
            &key,
            &s,
            &format!("{range}&limit=100&cursor={cursor}"),
        )
        .await;
        let got = ids(&p);
        assert!(got.windows(2).all(|w| w[0] > w[1]), "newest first: {got:?}");
        in_range.extend(got);
        if p["has_more"] != true {
            break;
        }
        cursor = p["next_cursor"].as_str().unwrap().to_owned();
    }
    let expected: BTreeSet<i64> =
        sqlx::query_scalar::<_, i64>("SELECT id FROM audit_log WHERE at >= $1 AND at <= $2")
            .bind(from.timestamp_millis())
            .bind(to.timestamp_millis())
            .fetch_all(&pool)
            .await
            .unwrap()
            .into_iter()
            .collect();
    assert_eq!(expected.len(), 800);
    assert_eq!(in_range.len(), 800, "each row once");
    assert_eq!(in_range.into_iter().collect::<BTreeSet<_>>(), expected);
    s.stop().await;
}

#[tokio::test]
async fn bad_paging_parameters_are_named() {
    let (_dir, db) = fresh_db();
    let mut s = TestServer::start(&db, ManualClock::new(Utc::now())).await;
    let admin = s.admin().await;
    for (query, field) in [
        ("order=sideways", "order"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("cursor=abc", "cursor"),
        ("cursor=-1", "cursor"),
        ("from=soon", "from"),
    ] {
        let res = admin
            .get(s.url(&format!("/api/audit?{query}")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{query}");
        let err: serde_json::Value = res.json().await.unwrap();
        assert_eq!(err["error"]["field"], field, "{query}");
    }
    s.stop().await;
}
