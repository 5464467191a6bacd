//! The Traffic Monitor on PostgreSQL with a million records: how long its queries take (the
//! first page under each sort and filter, and the chart) at 1,000,000 records against the
//! same queries at 10,000 records in the same run, and the plan PostgreSQL picks for each.
//!
//! `cargo bench -p server --bench traffic_monitor` (starts a throwaway PostgreSQL cluster, or
//! uses `TEST_POSTGRES_URL`).

// The TLS cluster is for the tests.
#[allow(dead_code)]
#[path = "../tests/support/postgres.rs"]
mod postgres;
#[path = "../tests/support/traffic_seed.rs"]
mod traffic_seed;

use app::domain::traffic::TrafficFilter;
use app::server::traffic::{chart_statement, page_statement};
use chrono::{DateTime, TimeDelta, Utc};
use std::time::{Duration, Instant};

const SMALL: i64 = 10_000;
const LARGE: i64 = 1_000_000;
const RUNS: usize = 15;

fn cases(now: DateTime<Utc>) -> Vec<(&'static str, TrafficFilter, bool)> {
    let page = |f: TrafficFilter| TrafficFilter { limit: 100, ..f };
    let get = |pairs: &'static [(&'static str, &'static str)]| {
        page(
            TrafficFilter::parse(|k| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            })
            .unwrap(),
        )
    };
    let week = TrafficFilter {
        from: Some(now - TimeDelta::days(7)),
        to: Some(now),
        ..TrafficFilter::default()
    };
    vec![
        ("newest first, no filter", get(&[]), false),
        ("highest score first", get(&[("sort", "score")]), false),
        ("verdict BLOCK", get(&[("verdict", "BLOCK")]), false),
        (
            "source break-glass, BYPASSED",
            get(&[("source", "break-glass"), ("verdict", "BYPASSED")]),
            false,
        ),
        ("model", get(&[("model", "model-3")]), false),
        (
            "model + provider",
            get(&[("model", "model-3"), ("provider", "mistral")]),
            false,
        ),
        (
            "provider, BLOCK",
            get(&[("provider", "google"), ("verdict", "BLOCK")]),
            false,
        ),
        ("min score 90", get(&[("min_score", "90")]), false),
        ("chart, last hour", TrafficFilter::default(), true),
        ("chart, last 7 days", week, true),
    ]
}

async fn median(
    pool: &app::server::database::Pool,
    filter: &TrafficFilter,
    chart: bool,
    now: DateTime<Utc>,
) -> Duration {
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let started = Instant::now();
        let statement = if chart {
            chart_statement(filter, now)
        } else {
            page_statement(filter)
        };
        statement.fetch_all(pool).await.unwrap();
        times.push(started.elapsed());
    }
    times.sort();
    times[RUNS / 2]
}

/// The plan's node lines, shortened to what names the access path.
async fn plan(
    pool: &app::server::database::Pool,
    filter: &TrafficFilter,
    chart: bool,
    now: DateTime<Utc>,
) -> String {
    use sqlx::Row;
    let statement = if chart {
        chart_statement(filter, now)
    } else {
        page_statement(filter)
    };
    let rows = statement.explain().fetch_all(pool).await.unwrap();
    rows.iter()
        .map(|r| r.get::<String, _>(0))
        .filter(|l| {
            !l.trim_start().starts_with("Filter")
                && !l.trim_start().starts_with("Sort Key")
                && !l.trim_start().starts_with("Presorted")
                && !l.trim_start().starts_with("Group Key")
                && !l.trim_start().starts_with("Index Cond")
                && !l.trim_start().starts_with("Recheck")
        })
        .map(|l| l.split("  (cost").next().unwrap_or("").trim().to_owned())
        .collect::<Vec<_>>()
        .join(" / ")
}

#[tokio::main]
async fn main() {
    let pg = postgres::Postgres::start().await;
    let pool = app::server::database::connect(&pg.url).await.unwrap();
    let now = Utc::now();
    traffic_seed::seed(&pool, 0, SMALL, now).await;
    let cases = cases(now);
    let mut small = Vec::new();
    for (_, filter, chart) in &cases {
        small.push(median(&pool, filter, *chart, now).await);
    }
    let started = Instant::now();
    traffic_seed::seed(&pool, SMALL, LARGE, now).await;
    println!(
        "seeded {LARGE} records in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    println!("| query | {SMALL} records | {LARGE} records | ratio | plan at {LARGE} |");
    println!("|---|---:|---:|---:|---|");
    for ((name, filter, chart), base) in cases.iter().zip(small) {
        let large = median(&pool, filter, *chart, now).await;
        let plan = plan(&pool, filter, *chart, now).await;
        println!(
            "| {name} | {:.2} ms | {:.2} ms | {:.1}× | {plan} |",
            base.as_secs_f64() * 1e3,
            large.as_secs_f64() * 1e3,
            large.as_secs_f64() / base.as_secs_f64()
        );
    }
}
