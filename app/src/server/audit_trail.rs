use crate::domain::audit::{AuditEntry, AuditFilter, AuditOrder, AuditPage};
use crate::domain::{AppError, Permission, Reader, Scope};
use crate::server::database::{from_millis, to_millis, Pool, Statement};
use chrono::{DateTime, Utc};
use sha2::Digest;
use sqlx::Row;

/// Appends an entry to the trail and links it into the hash chain, in the caller's
/// transaction (on PostgreSQL the insert takes the 'audit' turn, so entries and their links
/// follow commit order).
pub async fn record(
    conn: &mut crate::server::database::Conn,
    at: DateTime<Utc>,
    actor: &str,
    action: &str,
    details: serde_json::Value,
    source_addr: Option<&str>,
) -> Result<(), sqlx::Error> {
    let details = details.to_string();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO audit_log (at, actor, action, details, source_addr) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(to_millis(at))
    .bind(actor)
    .bind(action)
    .bind(&details)
    .bind(source_addr)
    .fetch_one(&mut *conn)
    .await?;
    let prev: Option<String> =
        sqlx::query_scalar("SELECT row_hash FROM audit_chain ORDER BY audit_id DESC LIMIT 1")
            .fetch_optional(&mut *conn)
            .await?;
    let prev = prev.unwrap_or_else(|| GENESIS.to_owned());
    let row_hash = link_hash(
        &prev,
        &canonical(id, to_millis(at), actor, action, &details, source_addr),
    );
    sqlx::query(
        "INSERT INTO audit_chain (audit_id, prev_hash, row_hash, mac) VALUES ($1, $2, $3, $4)",
    )
    .bind(id)
    .bind(&prev)
    .bind(&row_hash)
    .bind(mac_key().map(|key| mac(key, &row_hash)))
    .execute(conn)
    .await?;
    Ok(())
}

/// The `prev_hash` of the first link of the chain.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An entry's content as its hash covers it: a JSON array, the same bytes on both stores.
fn canonical(
    id: i64,
    at_millis: i64,
    actor: &str,
    action: &str,
    details: &str,
    source_addr: Option<&str>,
) -> String {
    serde_json::json!([id, at_millis, actor, action, details, source_addr]).to_string()
}

/// Hex SHA-256 of the previous link's hash, a newline, and the entry's canonical content.
fn link_hash(prev: &str, canonical: &str) -> String {
    let mut h = sha2::Sha256::new();
    h.update(prev.as_bytes());
    h.update(b"\n");
    h.update(canonical.as_bytes());
    hex::encode(h.finalize())
}

fn mac(key: &[u8], row_hash: &str) -> String {
    use hmac::Mac;
    let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key");
    m.update(row_hash.as_bytes());
    hex::encode(m.finalize().into_bytes())
}

static MAC_KEY: std::sync::OnceLock<Option<Vec<u8>>> = std::sync::OnceLock::new();

/// The key every link's MAC is made with (`BREAKGLASS_AUDIT_KEY`), for this process; the first
/// call decides. Without one, links carry hashes only.
pub fn use_mac_key(key: Option<Vec<u8>>) {
    let _ = MAC_KEY.set(key);
}

fn mac_key() -> Option<&'static [u8]> {
    MAC_KEY.get().and_then(|k| k.as_deref())
}

/// What checking the chain found.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChainCheck {
    pub ok: bool,
    /// Entries checked against the chain.
    pub checked: i64,
    /// Entries written before the chain existed (not covered by it).
    pub before_chain: i64,
    /// The hash of the last link: what a checkpoint records.
    pub head: Option<String>,
    /// Whether the links' MACs were checked (a key is set).
    pub macs_checked: bool,
    /// The first entry that does not fit, and why.
    pub first_bad_id: Option<i64>,
    pub why: Option<String>,
}

/// Checks the whole chain, in id order: each entry's link must exist, follow the link before
/// it, hash the entry's content as stored, and (with a key) carry the right MAC. Names the
/// first entry that does not fit: an edited, inserted, deleted or reordered row shows there.
pub async fn verify_chain(pool: &Pool) -> Result<ChainCheck, sqlx::Error> {
    let key = mac_key();
    let mut check = ChainCheck {
        ok: true,
        checked: 0,
        before_chain: 0,
        head: None,
        macs_checked: key.is_some(),
        first_bad_id: None,
        why: None,
    };
    let mut expected_prev: Option<String> = None;
    let mut after = i64::MIN;
    loop {
        let rows = sqlx::query(
            "SELECT a.id, a.at, a.actor, a.action, a.details, a.source_addr, c.prev_hash, \
             c.row_hash, c.mac FROM audit_log a LEFT JOIN audit_chain c ON c.audit_id = a.id \
             WHERE a.id > $1 ORDER BY a.id LIMIT 1000",
        )
        .bind(after)
        .fetch_all(pool)
        .await?;
        if rows.is_empty() {
            break;
        }
        for r in &rows {
            let id: i64 = r.get("id");
            after = id;
            let link: Option<String> = r.get("row_hash");
            let bad = |why: &str| (id, why.to_owned());
            let found = match (&expected_prev, link) {
                // Not yet in the chain: an entry from before it existed.
                (None, None) => {
                    check.before_chain += 1;
                    None
                }
                (Some(_), None) => Some(bad("it has no link in the chain (inserted around it)")),
                (expected, Some(row_hash)) => {
                    let prev: String = r.get("prev_hash");
                    let content = canonical(
                        id,
                        r.get("at"),
                        r.get("actor"),
                        r.get("action"),
                        r.get("details"),
                        r.get("source_addr"),
                    );
                    let mac_stored: Option<String> = r.get("mac");
                    let follows = match expected {
                        Some(e) => &prev == e,
                        None => prev == GENESIS,
                    };
                    if !follows {
                        Some(bad(
                            "it does not follow the entry before it (an entry was deleted, \
                             inserted or reordered)",
                        ))
                    } else if link_hash(&prev, &content) != row_hash {
                        Some(bad("its content is not what was written (edited)"))
                    } else if key.is_some_and(|k| mac_stored.as_deref() != Some(&mac(k, &row_hash)))
                    {
                        Some(bad("its MAC does not match (rewritten without the key)"))
                    } else {
                        check.checked += 1;
                        expected_prev = Some(row_hash);
                        None
                    }
                }
            };
            if let Some((id, why)) = found {
                check.ok = false;
                check.first_bad_id = Some(id);
                check.why = Some(why);
                check.head = expected_prev;
                return Ok(check);
            }
        }
    }
    check.head = expected_prev;
    Ok(check)
}

/// `verify_chain` for a caller who may read the trail, then the checkpoints.
pub async fn verify(
    pool: &Pool,
    reader: &Reader,
    checkpoints: Option<&std::path::Path>,
) -> Result<ChainCheck, AppError> {
    reader.require(Permission::AuditRead, Scope::AuditRead)?;
    let check = verify_chain(pool).await?;
    Ok(match checkpoints {
        Some(path) => verify_checkpoints(pool, check, path).await?,
        None => check,
    })
}

/// The chain's head: the last link's entry id and hash.
pub async fn head(pool: &Pool) -> Result<Option<Checkpoint>, sqlx::Error> {
    let row =
        sqlx::query("SELECT audit_id, row_hash FROM audit_chain ORDER BY audit_id DESC LIMIT 1")
            .fetch_optional(pool)
            .await?;
    Ok(row.map(|r| Checkpoint {
        audit_id: r.get("audit_id"),
        row_hash: r.get("row_hash"),
    }))
}

/// A record of the chain's head, kept outside the database: entries removed from the end of
/// the trail (with their links) leave a checkpoint that no longer fits.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Checkpoint {
    pub audit_id: i64,
    pub row_hash: String,
}

/// Checks every checkpoint in the file at `path` (JSON lines) against the chain: each must
/// name an entry whose link still has that hash. A chain that is already broken is reported
/// as it is.
pub async fn verify_checkpoints(
    pool: &Pool,
    mut check: ChainCheck,
    path: &std::path::Path,
) -> Result<ChainCheck, sqlx::Error> {
    if !check.ok {
        return Ok(check);
    }
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(check);
    };
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let Ok(point) = serde_json::from_str::<Checkpoint>(line) else {
            check.ok = false;
            check.why = Some(format!(
                "the checkpoint file has a line that is not one: {line}"
            ));
            return Ok(check);
        };
        let stored: Option<String> =
            sqlx::query_scalar("SELECT row_hash FROM audit_chain WHERE audit_id = $1")
                .bind(point.audit_id)
                .fetch_optional(pool)
                .await?;
        if stored.as_deref() != Some(point.row_hash.as_str()) {
            check.ok = false;
            check.first_bad_id = Some(point.audit_id);
            check.why = Some(format!(
                "a checkpoint says entry {} had the hash {}; the trail {} (entries removed \
                 from its end, or rewritten)",
                point.audit_id,
                point.row_hash,
                if stored.is_some() {
                    "has another"
                } else {
                    "no longer has it"
                }
            ));
            return Ok(check);
        }
    }
    Ok(check)
}

/// One page of the trail, for an operator who may read it or a key with the `audit:read`
/// scope.
pub async fn list(
    pool: &Pool,
    reader: &Reader,
    filter: &AuditFilter,
) -> Result<AuditPage, AppError> {
    reader.require(Permission::AuditRead, Scope::AuditRead)?;
    let mut q = Statement::new(
        "SELECT id, at, actor, action, details, source_addr FROM audit_log WHERE 1 = 1",
    );
    if let Some(action) = &filter.action {
        q.push(" AND action = ").push_bind(action.clone());
    }
    if let Some(actor) = &filter.actor {
        q.push(" AND actor = ").push_bind(actor.clone());
    }
    if let Some(from) = filter.from {
        q.push(" AND at >= ").push_bind(to_millis(from));
    }
    if let Some(to) = filter.to {
        q.push(" AND at <= ").push_bind(to_millis(to));
    }
    let newest = filter.order == AuditOrder::Newest;
    if let Some(c) = filter.cursor {
        q.push(if newest { " AND id < " } else { " AND id > " })
            .push_bind(c);
    }
    q.push(if newest {
        " ORDER BY id DESC LIMIT "
    } else {
        " ORDER BY id LIMIT "
    })
    // One more than asked: whether more matched.
    .push_bind(i64::from(filter.limit) + 1);
    let rows = q.fetch_all(pool).await?;
    let mut entries: Vec<AuditEntry> = rows
        .into_iter()
        .map(|r| AuditEntry {
            id: r.get("id"),
            at: from_millis(r.get("at")),
            actor: r.get("actor"),
            action: r.get("action"),
            details: serde_json::from_str(r.get::<&str, _>("details"))
                .unwrap_or(serde_json::Value::Null),
            source_addr: r.get("source_addr"),
        })
        .collect();
    let has_more = entries.len() > filter.limit as usize;
    entries.truncate(filter.limit as usize);
    let next_cursor = entries
        .last()
        .map(|e| e.id)
        .or(filter.cursor)
        .map(|id| id.to_string());
    Ok(AuditPage {
        entries,
        next_cursor,
        has_more,
    })
}

/// An entry as the export gives it: its content and its link in the chain (none for entries
/// from before the chain).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ChainedEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    /// As stored (a JSON text), so that a receiver can recompute the hash byte for byte.
    pub details: String,
    pub source_addr: Option<String>,
    pub prev_hash: Option<String>,
    pub row_hash: Option<String>,
    pub mac: Option<String>,
}

/// Up to `limit` entries after `cursor`, oldest first, with their links: for a SIEM that pulls
/// with the last id it got. Ids follow commit order, so nothing is missed or given twice.
pub async fn export(
    pool: &Pool,
    reader: &Reader,
    cursor: Option<i64>,
    limit: u32,
) -> Result<Vec<ChainedEntry>, AppError> {
    reader.require(Permission::AuditRead, Scope::AuditRead)?;
    Ok(after(pool, cursor, limit).await?)
}

/// Up to `limit` entries after `cursor`, oldest first, with their links (for the export and
/// the syslog sink).
pub async fn after(
    pool: &Pool,
    cursor: Option<i64>,
    limit: u32,
) -> Result<Vec<ChainedEntry>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT a.id, a.at, a.actor, a.action, a.details, a.source_addr, c.prev_hash, \
         c.row_hash, c.mac FROM audit_log a LEFT JOIN audit_chain c ON c.audit_id = a.id \
         WHERE a.id > $1 ORDER BY a.id LIMIT $2",
    )
    .bind(cursor.unwrap_or(0))
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| ChainedEntry {
            id: r.get("id"),
            at: from_millis(r.get("at")),
            actor: r.get("actor"),
            action: r.get("action"),
            details: r.get("details"),
            source_addr: r.get("source_addr"),
            prev_hash: r.get("prev_hash"),
            row_hash: r.get("row_hash"),
            mac: r.get("mac"),
        })
        .collect())
}
