//! Opening the store and applying its migrations. `DATABASE_URL` picks the store: `sqlite:`
//! (the embedded default, one replica) or `postgres://` (several replicas on one database).
//! Both run through sqlx's `Any` driver, so every query is written once: `$N` placeholders
//! (which SQLite also reads), integers for times and flags, and SQL both dialects share.

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::ConnectOptions;
use std::fmt::Write;
use std::str::FromStr;
use std::time::Duration;

/// The store's driver, named once so that the rest of the code does not name it.
pub type Db = sqlx::Any;
pub type Pool = sqlx::AnyPool;
/// One connection (or an open transaction, through `&mut *tx`).
pub type Conn = sqlx::AnyConnection;
pub type Row = sqlx::any::AnyRow;
pub type Arguments<'q> = sqlx::any::AnyArguments<'q>;

/// Which database a URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Store {
    Sqlite,
    Postgres,
}

impl Store {
    pub fn of_url(url: &str) -> Option<Store> {
        if url.starts_with("sqlite:") {
            Some(Store::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Store::Postgres)
        } else {
            None
        }
    }
}

/// Opens the database at `url` (creating a SQLite file when missing) and brings its schema up
/// to date with that store's migrations.
pub async fn connect(url: &str) -> Result<Pool, sqlx::Error> {
    sqlx::any::install_default_drivers();
    let store = Store::of_url(url).ok_or_else(|| {
        sqlx::Error::Configuration("DATABASE_URL must start with sqlite: or postgres://".into())
    })?;
    let pool = match store {
        Store::Sqlite => {
            let options = AnyConnectOptions::from_str(&sqlite_url(url))?;
            AnyPoolOptions::new()
                .max_connections(8)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        // WAL lets readers run beside the writer; FULL: a committed audit or
                        // traffic record survives a power cut, not only a crash.
                        for pragma in [
                            "PRAGMA journal_mode = WAL",
                            "PRAGMA synchronous = FULL",
                            "PRAGMA busy_timeout = 10000",
                            "PRAGMA foreign_keys = ON",
                        ] {
                            sqlx::query(pragma).execute(&mut *conn).await?;
                        }
                        Ok(())
                    })
                })
                .connect_with(options)
                .await?
        }
        Store::Postgres => {
            let options = AnyConnectOptions::from_str(url)?
                .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(1));
            AnyPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(5))
                .connect_with(options)
                .await?
        }
    };
    match store {
        Store::Sqlite => sqlx::migrate!("../migrations/sqlite").run(&pool).await?,
        Store::Postgres => sqlx::migrate!("../migrations/postgres").run(&pool).await?,
    }
    Ok(pool)
}

/// Begins a transaction that may write. On SQLite it takes the write lock at once (`BEGIN
/// IMMEDIATE`), waiting its turn under `busy_timeout`: a plain `BEGIN` takes it at the first
/// write, and when another connection has written since this one first read, SQLite refuses
/// that upgrade at once ("database is locked") instead of waiting. PostgreSQL's row locks and
/// constraints need nothing more than its own `BEGIN`.
pub async fn begin(pool: &Pool) -> Result<sqlx::Transaction<'static, Db>, sqlx::Error> {
    let store = Store::of_url(pool.connect_options().database_url.as_str());
    pool.begin_with(match store {
        Some(Store::Sqlite) => "BEGIN IMMEDIATE",
        _ => "BEGIN",
    })
    .await
}

/// The SQLite URL with `mode=rwc` (create when missing) unless it names a mode itself.
fn sqlite_url(url: &str) -> String {
    if url.contains("mode=") {
        return url.to_owned();
    }
    let joiner = if url.contains('?') { '&' } else { '?' };
    format!("{url}{joiner}mode=rwc")
}

/// A statement assembled from pieces, numbering its own `$N` placeholders: sqlx's query
/// builder writes `?` for the `Any` driver, which PostgreSQL does not read.
pub struct Statement {
    sql: String,
    arguments: Arguments<'static>,
    bound: usize,
}

impl Statement {
    pub fn new(sql: impl Into<String>) -> Self {
        Self {
            sql: sql.into(),
            arguments: Arguments::default(),
            bound: 0,
        }
    }

    pub fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(sql);
        self
    }

    /// Appends a placeholder bound to `value`.
    pub fn push_bind<T>(&mut self, value: T) -> &mut Self
    where
        T: sqlx::Encode<'static, Db> + sqlx::Type<Db> + 'static,
    {
        use sqlx::Arguments as _;
        self.bound += 1;
        write!(self.sql, "${}", self.bound).expect("writing to a String cannot fail");
        // Encoding an integer or a string into the Any driver's buffer cannot fail.
        self.arguments.add(value).expect("an Any argument encodes");
        self
    }

    /// The same statement under `EXPLAIN`: its plan, to check which indexes it uses.
    pub fn explain(mut self) -> Self {
        self.sql.insert_str(0, "EXPLAIN ");
        self
    }

    pub async fn fetch_all<'e, E>(self, executor: E) -> Result<Vec<Row>, sqlx::Error>
    where
        E: sqlx::Executor<'e, Database = Db>,
    {
        sqlx::query_with(&self.sql, self.arguments)
            .fetch_all(executor)
            .await
    }
}

pub fn to_millis(at: chrono::DateTime<chrono::Utc>) -> i64 {
    at.timestamp_millis()
}

pub fn from_millis(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

impl From<sqlx::Error> for crate::domain::AppError {
    fn from(value: sqlx::Error) -> Self {
        tracing::error!(error = %value, "database error");
        match value {
            // The database is out of reach or the conversation with it broke (a connection
            // refused, reset or cut during its handshake), which is not this request's fault.
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_) => crate::domain::AppError::Degraded,
            // Another writer held SQLite's lock past `busy_timeout`: nothing was written.
            _ if is_sqlite_busy(&value) => crate::domain::AppError::Busy,
            _ => crate::domain::AppError::Internal,
        }
    }
}

/// SQLite's answer when another connection held the write lock for longer than
/// `busy_timeout`: result code 5 (`SQLITE_BUSY`) or one of its extended codes.
fn is_sqlite_busy(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|e| e.try_downcast_ref::<sqlx::sqlite::SqliteError>())
        .and_then(sqlx::error::DatabaseError::code)
        .and_then(|code| code.parse::<i32>().ok())
        .is_some_and(|code| code & 0xff == 5)
}
