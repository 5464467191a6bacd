//! Opening the embedded SQLite store and applying its migrations.

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;
use std::str::FromStr;
use std::time::Duration;

/// The store's driver, named once so that the rest of the code does not name it.
pub type Db = sqlx::Sqlite;
pub type Pool = SqlitePool;
/// One connection (or an open transaction, through `&mut *tx`).
pub type Conn = sqlx::SqliteConnection;
pub type Row = sqlx::sqlite::SqliteRow;
pub type Arguments<'q> = sqlx::sqlite::SqliteArguments<'q>;

/// Opens (creating when missing) the database at `url` and brings its schema up to date.
pub async fn connect(url: &str) -> Result<Pool, sqlx::Error> {
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // FULL: a committed audit or traffic record survives a power cut, not only a crash.
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await?;
    sqlx::migrate!("../migrations/sqlite").run(&pool).await?;
    Ok(pool)
}

pub fn to_millis(at: chrono::DateTime<chrono::Utc>) -> i64 {
    at.timestamp_millis()
}

pub fn from_millis(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}
