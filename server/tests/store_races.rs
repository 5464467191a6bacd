//! The database's own rules under races, on real stores: two PostgreSQL connections whose
//! transactions overlap (a close racing an activation, audit rows committing out of order), and
//! SQLite's `INSERT OR REPLACE` aimed at the append-only audit trail.

mod support;

use sqlx::{Connection, Executor, PgConnection, Row};
use support::postgres::Postgres;
use support::*;

const T0: i64 = 1_800_000_000_000;

async fn migrated() -> (Postgres, PgConnection, PgConnection) {
    let pg = Postgres::start().await;
    let mut a = PgConnection::connect(&pg.url).await.unwrap();
    sqlx::migrate!("../migrations/postgres")
        .run(&mut a)
        .await
        .unwrap();
    let b = PgConnection::connect(&pg.url).await.unwrap();
    (pg, a, b)
}

/// Waits until some session of this database waits for a lock (the blocked statement of the
/// other connection), watched from a third connection.
async fn someone_waits_for_a_lock(url: &str) {
    let mut watcher = PgConnection::connect(url).await.unwrap();
    for _ in 0..500 {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&mut watcher)
        .await
        .unwrap();
        if waiting > 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("no statement waited for a lock");
}

#[tokio::test]
async fn postgres_cool_down_holds_when_a_close_and_an_activation_race() {
    let (pg, mut a, mut b) = migrated().await;
    a.execute(
        format!(
            "INSERT INTO break_glass_windows (activated_at, expires_at, duration_minutes, reason, \
             activated_by) VALUES ({T0}, {T0} + 1800000, 30, 'outage of the shield', 'admin')"
        )
        .as_str(),
    )
    .await
    .unwrap();
    // A closes the window and has not committed yet.
    a.execute("BEGIN").await.unwrap();
    a.execute(
        format!(
            "UPDATE break_glass_windows SET ended_at = {}, end_kind = 'deactivated', \
             ended_by = 'admin', unscanned_count = 0 WHERE ended_at IS NULL",
            T0 + 60_000
        )
        .as_str(),
    )
    .await
    .unwrap();
    // B activates a second later, inside the cool-down that A's close starts.
    let activation = tokio::spawn(async move {
        let result = sqlx::query(&format!(
            "INSERT INTO break_glass_windows (activated_at, expires_at, duration_minutes, reason, \
             activated_by) VALUES ({at}, {at} + 1800000, 30, 'right after the close', 'eve')",
            at = T0 + 61_000
        ))
        .execute(&mut b)
        .await;
        result.map(drop).map_err(|e| e.to_string())
    });
    someone_waits_for_a_lock(&pg.url).await;
    a.execute("COMMIT").await.unwrap();
    let refused = activation
        .await
        .unwrap()
        .expect_err("the activation went in");
    assert!(refused.contains("cool-down in progress"), "{refused}");
    let windows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM break_glass_windows")
        .fetch_one(&mut a)
        .await
        .unwrap();
    assert_eq!(windows, 1);
}

#[tokio::test]
async fn postgres_audit_ids_become_visible_in_the_order_they_commit() {
    let (pg, mut a, mut b) = migrated().await;
    let insert = |actor: &str| {
        format!("INSERT INTO audit_log (at, actor, action) VALUES ({T0}, '{actor}', 'auth.login')")
    };
    a.execute("BEGIN").await.unwrap();
    a.execute(insert("first").as_str()).await.unwrap();
    // B's row, in a transaction of its own, starts while A's is still open.
    let second = insert("second");
    let other = tokio::spawn(async move { b.execute(second.as_str()).await.map(drop) });
    someone_waits_for_a_lock(&pg.url).await;
    // A reader that pulls now sees neither row, so its cursor cannot pass A's.
    let mut reader = PgConnection::connect(&pg.url).await.unwrap();
    let seen: Vec<i64> = sqlx::query_scalar("SELECT id FROM audit_log ORDER BY id")
        .fetch_all(&mut reader)
        .await
        .unwrap();
    assert!(seen.is_empty(), "{seen:?}");
    a.execute("COMMIT").await.unwrap();
    other.await.unwrap().unwrap();
    let rows = sqlx::query("SELECT id, actor FROM audit_log ORDER BY id")
        .fetch_all(&mut reader)
        .await
        .unwrap();
    let actors: Vec<String> = rows.iter().map(|r| r.get("actor")).collect();
    assert_eq!(actors, ["first", "second"], "ids follow commit order");
}

#[tokio::test]
async fn sqlite_insert_or_replace_cannot_delete_an_audit_row() {
    let (_dir, db) = fresh_db();
    let pool = app::server::database::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO audit_log (id, at, actor, action) VALUES (1, 1, 'admin', 'auth.login')",
    )
    .execute(&pool)
    .await
    .unwrap();
    for sql in [
        "INSERT OR REPLACE INTO audit_log (id, at, actor, action) VALUES (1, 2, 'mallory', 'auth.logout')",
        "REPLACE INTO audit_log (id, at, actor, action) VALUES (1, 2, 'mallory', 'auth.logout')",
        "INSERT INTO audit_log (id, at, actor, action) VALUES (1, 2, 'mallory', 'auth.logout') \
         ON CONFLICT (id) DO UPDATE SET actor = excluded.actor",
    ] {
        let e = sqlx::query(sql)
            .execute(&pool)
            .await
            .expect_err(sql)
            .to_string();
        assert!(e.contains("append-only"), "{sql}: {e}");
    }
    let rows = sqlx::query("SELECT id, at, actor FROM audit_log")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<String, _>("actor"), "admin");
    assert_eq!(rows[0].get::<i64, _>("at"), 1);
}
