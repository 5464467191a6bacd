//! The optional syslog sink of the audit trail: every entry, with its chain link, as an RFC
//! 5424 message over TCP (octet-counted frames, RFC 6587) to `BREAKGLASS_AUDIT_SYSLOG`. The
//! position sent so far is a setting, moved by compare-and-set after the receiver took the
//! batch: at least once, across restarts and replicas (a receiver drops a repeated `id`).

use app::server::audit_trail::{self, ChainedEntry};
use app::server::clock::SharedClock;
use app::server::database::Pool;
use app::server::store::settings;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::watch;

/// The setting that holds the id of the last entry the receiver took.
pub const CURSOR_SETTING: &str = "audit_syslog_cursor";
const BATCH: u32 = 500;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// syslog facility 13 (log audit) × 8 + severity 5 (notice).
const PRI: u8 = 109;
/// The example enterprise number of RFC 5612, for the structured data's id.
const SD_ID: &str = "audit@32473";

/// How often the sink looks for new entries, and waits before retrying a receiver.
const POLL: Duration = Duration::from_secs(1);

pub async fn run(
    pool: Pool,
    clock: SharedClock,
    target: String,
    mut shutdown: watch::Receiver<bool>,
) {
    let host = hostname();
    let mut stream: Option<TcpStream> = None;
    loop {
        match send_batch(&pool, &clock, &target, &host, &mut stream).await {
            Ok(true) => continue,
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = %e, %target, "the audit syslog receiver did not take entries; retrying");
                stream = None;
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Sends the next batch; `true` when a full batch went (more may wait).
async fn send_batch(
    pool: &Pool,
    clock: &SharedClock,
    target: &str,
    host: &str,
    stream: &mut Option<TcpStream>,
) -> Result<bool, Box<dyn std::error::Error + Send + Sync>> {
    let stored = settings::get(pool, CURSOR_SETTING).await?;
    let cursor = stored.as_deref().map(str::parse::<i64>).transpose()?;
    let entries = audit_trail::after(pool, cursor, BATCH).await?;
    let Some(last) = entries.last().map(|e| e.id) else {
        return Ok(false);
    };
    if stream.is_none() {
        *stream = Some(tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(target)).await??);
    }
    let out = stream.as_mut().expect("connected above");
    let mut frames = Vec::new();
    for entry in &entries {
        let message = message(entry, host)?;
        frames.extend_from_slice(format!("{} {message}", message.len()).as_bytes());
    }
    out.write_all(&frames).await?;
    out.flush().await?;
    let moved = settings::replace_if(
        pool,
        CURSOR_SETTING,
        stored.as_deref(),
        &last.to_string(),
        clock.now(),
        app::domain::audit::SYSTEM,
    )
    .await?;
    if !moved {
        tracing::info!("another replica moved the audit syslog position first");
    }
    Ok(entries.len() == BATCH as usize)
}

/// `<PRI>1 TIMESTAMP HOSTNAME breakglass - MSGID [audit@32473 id=… actor=… row_hash=…] JSON`.
fn message(entry: &ChainedEntry, host: &str) -> Result<String, serde_json::Error> {
    let param = |v: &str| {
        v.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace(']', "\\]")
    };
    let msgid: String = entry
        .action
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(32)
        .collect();
    Ok(format!(
        "<{PRI}>1 {} {host} breakglass - {} [{SD_ID} id=\"{}\" actor=\"{}\" row_hash=\"{}\"] {}",
        entry
            .at
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        if msgid.is_empty() {
            "-".to_owned()
        } else {
            msgid
        },
        entry.id,
        param(&entry.actor),
        param(entry.row_hash.as_deref().unwrap_or("")),
        serde_json::to_string(entry)?,
    ))
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| {
            h.trim()
                .chars()
                .filter(|c| c.is_ascii_graphic())
                .take(255)
                .collect::<String>()
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "-".to_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn structured_data_escapes_what_rfc_5424_says_it_must() {
        let entry = app::server::audit_trail::ChainedEntry {
            id: 7,
            at: chrono::DateTime::UNIX_EPOCH,
            actor: "ev\"il]\\".into(),
            action: "auth.login failed".into(),
            details: "{}".into(),
            source_addr: None,
            prev_hash: None,
            row_hash: Some("ab".into()),
            mac: None,
        };
        let m = super::message(&entry, "host").unwrap();
        assert!(m.starts_with("<109>1 1970-01-01T00:00:00.000Z host breakglass - auth.loginfailed [audit@32473 id=\"7\" actor=\"ev\\\"il\\]\\\\\" row_hash=\"ab\"] {"), "{m}");
    }
}
