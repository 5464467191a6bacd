//! Checkpoints of the audit chain's head, written to a file outside the database (one JSON
//! line each, fsynced) and announced in the log, so that entries removed from the end of the
//! trail, links and all, leave a checkpoint that no longer fits (`audit_trail::verify`).

use app::server::audit_trail::{self, Checkpoint};
use app::server::database::Pool;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::watch;

/// Writes the head whenever it moved, every `every`, until `shutdown`; and once more then.
pub async fn run(pool: Pool, path: PathBuf, every: Duration, mut shutdown: watch::Receiver<bool>) {
    let mut last: Option<Checkpoint> = None;
    loop {
        match audit_trail::head(&pool).await {
            Ok(Some(head)) if last.as_ref() != Some(&head) => {
                match append(path.clone(), head.clone()).await {
                    Ok(()) => {
                        tracing::info!(
                            audit_id = head.audit_id, row_hash = %head.row_hash,
                            file = %path.display(), "audit checkpoint"
                        );
                        last = Some(head);
                    }
                    Err(e) => tracing::error!(
                        error = %e, file = %path.display(), "could not write an audit checkpoint"
                    ),
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not read the audit chain's head"),
        }
        if *shutdown.borrow() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => {}
        }
    }
}

async fn append(path: PathBuf, head: Checkpoint) -> std::io::Result<()> {
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        let line = serde_json::to_string(&head).map_err(std::io::Error::other)?;
        writeln!(file, "{line}")?;
        file.sync_all()
    })
    .await
    .map_err(std::io::Error::other)?
}
