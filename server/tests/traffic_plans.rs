//! The Traffic Monitor's queries on PostgreSQL use indexes, checked with EXPLAIN on a table
//! large enough (200,000 records, analysed) for the planner to prefer them when they fit:
//! a first page never scans or sorts the whole table, and a recent chart reads an index only.
//! docs/BENCHMARKS.md has the timings at a million records.

mod support;

use app::domain::traffic::TrafficFilter;
use app::server::traffic::{chart_statement, page_statement};
use sqlx::Row;
use support::postgres::Postgres;

async fn plan(
    pool: &app::server::database::Pool,
    statement: app::server::database::Statement,
) -> String {
    let rows = statement.explain().fetch_all(pool).await.unwrap();
    rows.iter()
        .map(|r| r.get::<String, _>(0))
        .collect::<Vec<_>>()
        .join("\n")
}

fn filter(pairs: &[(&str, &str)]) -> TrafficFilter {
    TrafficFilter::parse(|k| {
        pairs
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.to_string())
    })
    .unwrap()
}

#[tokio::test]
async fn the_traffic_monitor_queries_use_indexes() {
    let pg = Postgres::start().await;
    let pool = app::server::database::connect(&pg.url).await.unwrap();
    let now = chrono::Utc::now();
    support::traffic_seed::seed(&pool, 0, 200_000, now).await;

    let pages: [&[(&str, &str)]; 7] = [
        &[],
        &[("sort", "score")],
        &[("verdict", "BLOCK")],
        &[("source", "break-glass"), ("verdict", "BYPASSED")],
        &[("model", "model-3")],
        &[("provider", "google"), ("sort", "score")],
        &[("min_score", "90")],
    ];
    for pairs in pages {
        let plan = plan(&pool, page_statement(&filter(pairs))).await;
        assert!(plan.contains("Index"), "{pairs:?} uses no index:\n{plan}");
        assert!(
            !plan.contains("Seq Scan"),
            "{pairs:?} scans the table:\n{plan}"
        );
        // An incremental sort of the few rows sharing a timestamp is fine; a full one is not.
        let full_sort = plan
            .lines()
            .any(|l| l.trim_start().starts_with("->  Sort") || l.starts_with("Sort"));
        assert!(!full_sort, "{pairs:?} sorts the table:\n{plan}");
    }
    let chart = plan(&pool, chart_statement(&TrafficFilter::default(), now)).await;
    assert!(
        chart.contains("Index Only Scan using traffic_at_verdict"),
        "the last hour's chart reads more than its index:\n{chart}"
    );
}
