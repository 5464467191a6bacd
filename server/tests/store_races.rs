//! The database's own rules under races, on real stores: two PostgreSQL connections whose
//! transactions overlap (a close racing an activation, audit rows committing out of order), and
//! SQLite's `INSERT OR REPLACE` aimed at the append-only audit trail.

mod support;

use app::server::clock::ManualClock;
use chrono::Utc;
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

/// SQLite lets one writer in at a time. A transaction that reads before it writes (a
/// deactivation counts the window's bypassed traffic, then closes it) must take the write lock
/// when it begins: were it to wait until its first write, any write committed meanwhile (the
/// traffic journal, the notification outbox) would make SQLite refuse it at once, "database is
/// locked", and the operator's Deactivate Now would fail with a 500.
#[tokio::test]
async fn sqlite_deactivations_wait_for_a_flood_of_traffic_writes() {
    let (_dir, db) = fresh_db();
    let clock = ManualClock::new(Utc::now());
    let mut s = TestServer::start(&db, clock.clone()).await;
    let admin = s.admin().await;
    let key = s.create_api_key(&admin, "flooding proxy").await;
    let proxy = reqwest::Client::new();
    const ROUNDS: usize = 5;
    const RECORDS: usize = 100;
    for round in 0..ROUNDS {
        let reason = format!("racing writers, round {round}");
        let (code, body) = post(
            &admin,
            s.url("/api/break-glass/activate"),
            activation(&reason, 15),
        )
        .await;
        assert_eq!(code, 200, "{body}");
        let flood = futures::future::join_all((0..RECORDS).map(|i| {
            proxy
                .post(s.url("/api/proxy/ingest"))
                .bearer_auth(&key)
                .json(&serde_json::json!({
                    "source": "break-glass", "model": "gpt-4o-mini", "verdict": "BYPASSED",
                    "request_text": format!("round {round}, request {i}"),
                }))
                .send()
        }));
        let end = post(
            &admin,
            s.url("/api/break-glass/deactivate"),
            serde_json::json!({}),
        );
        let (sent, (code, body)) = tokio::join!(flood, end);
        assert_eq!(code, 200, "round {round}: {body}");
        let codes: Vec<u16> = sent
            .into_iter()
            .map(|r| r.unwrap().status().as_u16())
            .collect();
        assert!(codes.iter().all(|c| *c == 201), "round {round}: {codes:?}");
        clock.advance(chrono::TimeDelta::minutes(16));
    }
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM traffic")
        .fetch_one(&s.db().await)
        .await
        .unwrap();
    assert_eq!(stored, (ROUNDS * RECORDS) as i64);
    let closed: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM break_glass_windows WHERE ended_at IS NOT NULL")
            .fetch_one(&s.db().await)
            .await
            .unwrap();
    assert_eq!(closed, ROUNDS as i64);
    s.stop().await;
}

/// A write that waited out SQLite's busy timeout behind another writer (an operator's
/// `sqlite3` shell, a backup holding the lock) is refused as busy, 503 with `Retry-After`,
/// not as an internal error; it changed nothing, and once the lock is gone it goes through.
#[tokio::test]
async fn sqlite_writes_held_up_past_the_busy_timeout_are_refused_as_busy() {
    // PostgreSQL has no busy timeout: a write waits for the row locks it needs.
    if on_postgres() {
        return;
    }
    let (_dir, db) = fresh_db();
    let mut s = TestServer::start(&db, ManualClock::new(Utc::now())).await;
    let admin = s.admin().await;
    let mut holder = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    holder.execute("BEGIN IMMEDIATE").await.unwrap();
    let res = admin
        .post(s.url("/api/break-glass/activate"))
        .json(&activation("the store is held by another writer", 30))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "2");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "busy", "{body}");
    assert_eq!(status(&admin, &s).await["active"], false);
    holder.execute("ROLLBACK").await.unwrap();
    let (code, body) = post(
        &admin,
        s.url("/api/break-glass/activate"),
        activation("the store is free again", 30),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    s.stop().await;
}
