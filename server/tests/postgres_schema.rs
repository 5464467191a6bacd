//! The PostgreSQL migrations, side by side with SQLite's, on a real PostgreSQL server: the
//! same tables and columns as the SQLite schema, and the same rules enforced by the database
//! (one open window, the cool-down, an append-only audit log, the traffic checks and the
//! watcher's uniqueness).

mod support;

use sqlx::{Connection, Row};
use std::collections::BTreeMap;
use support::postgres::Postgres;
use support::*;

type Schema = BTreeMap<String, Vec<String>>;

async fn sqlite_schema() -> Schema {
    let (_dir, db) = fresh_db();
    let pool = app::server::database::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' \
         AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx_%'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut schema = Schema::new();
    for table in tables {
        let mut columns: Vec<String> =
            sqlx::query_scalar(&format!("SELECT name FROM pragma_table_info('{table}')"))
                .fetch_all(&pool)
                .await
                .unwrap();
        columns.sort();
        schema.insert(table, columns);
    }
    schema
}

async fn postgres_schema(conn: &mut sqlx::PgConnection) -> Schema {
    let rows = sqlx::query(
        "SELECT table_name::text, column_name::text FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name NOT LIKE '_sqlx_%'",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    let mut schema = Schema::new();
    for r in rows {
        schema
            .entry(r.get::<String, _>(0))
            .or_default()
            .push(r.get(1));
    }
    schema.values_mut().for_each(|c| c.sort());
    schema
}

async fn refused(conn: &mut sqlx::PgConnection, sql: &str) -> String {
    match sqlx::query(sql).execute(&mut *conn).await {
        Ok(_) => panic!("the database accepted: {sql}"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn postgres_has_the_sqlite_schema_and_enforces_the_same_rules() {
    let pg = Postgres::start().await;
    let mut conn = sqlx::PgConnection::connect(&pg.url).await.unwrap();
    sqlx::migrate!("../migrations/postgres")
        .run(&mut conn)
        .await
        .unwrap();
    assert_eq!(postgres_schema(&mut conn).await, sqlite_schema().await);

    let t0: i64 = 1_800_000_000_000;
    let window = |at: i64, ended: Option<i64>| {
        let end = match ended {
            Some(e) => format!("{e}, 'deactivated', 'admin', 0"),
            None => "NULL, NULL, NULL, NULL".into(),
        };
        format!(
            "INSERT INTO break_glass_windows (activated_at, expires_at, duration_minutes, reason, \
             activated_by, ended_at, end_kind, ended_by, unscanned_count) \
             VALUES ({at}, {at} + 1800000, 30, 'outage of the shield', 'admin', {end})"
        )
    };
    sqlx::query(&window(t0, None))
        .execute(&mut conn)
        .await
        .unwrap();
    let e = refused(&mut conn, &window(t0 + 1, None)).await;
    assert!(e.contains("break_glass_one_open_window"), "{e}");
    sqlx::query(
        "UPDATE break_glass_windows SET ended_at = $1, end_kind = 'deactivated', \
                 ended_by = 'admin', unscanned_count = 0",
    )
    .bind(t0 + 60_000)
    .execute(&mut conn)
    .await
    .unwrap();
    let e = refused(&mut conn, &window(t0 + 60_000 + 899_999, None)).await;
    assert!(e.contains("cool-down in progress"), "{e}");
    sqlx::query(&window(t0 + 60_000 + 900_000, None))
        .execute(&mut conn)
        .await
        .unwrap();
    let e = refused(
        &mut conn,
        "INSERT INTO break_glass_windows (activated_at, expires_at, duration_minutes, reason, \
         activated_by) VALUES (3000000000000, 2, 30, 'a bad expiry time', 'admin')",
    )
    .await;
    assert!(e.contains("check constraint"), "{e}");

    sqlx::query("INSERT INTO audit_log (at, actor, action) VALUES (1, 'admin', 'auth.login')")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO audit_chain (audit_id, prev_hash, row_hash) \
         SELECT id, repeat('0', 64), repeat('1', 64) FROM audit_log",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    for sql in [
        "UPDATE audit_log SET actor = 'mallory'",
        "DELETE FROM audit_log",
        "UPDATE audit_chain SET row_hash = prev_hash",
        "DELETE FROM audit_chain",
        "TRUNCATE audit_chain",
    ] {
        let e = refused(&mut conn, sql).await;
        assert!(e.contains("append-only"), "{sql}: {e}");
    }
    // The chain's links refer to the trail: it cannot be emptied while they do.
    let e = refused(&mut conn, "TRUNCATE audit_log").await;
    assert!(
        e.contains("append-only") || e.contains("foreign key"),
        "TRUNCATE audit_log: {e}"
    );

    let e = refused(
        &mut conn,
        "INSERT INTO traffic (at, source, verdict, score) VALUES (1, 'break-glass', 'BYPASSED', 5)",
    )
    .await;
    assert!(
        e.contains("check constraint"),
        "a bypassed record has no score: {e}"
    );
    let watched = "INSERT INTO traffic (at, source, verdict, score, session_id, request_id) \
                   VALUES (1, 'session-watcher', 'ALLOW', 0, 's-1', 'm-1') ON CONFLICT DO NOTHING";
    let first = sqlx::query(watched).execute(&mut conn).await.unwrap();
    let again = sqlx::query(watched).execute(&mut conn).await.unwrap();
    assert_eq!((first.rows_affected(), again.rows_affected()), (1, 0));

    let scopes: String = sqlx::query_scalar(
        "INSERT INTO api_keys (name, prefix, key_hash, created_at, created_by) \
         VALUES ('old', 'bgk_1', 'h', 1, 'admin') RETURNING scopes",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(scopes, "gateway ingest shield:scan break_glass:read");
}
