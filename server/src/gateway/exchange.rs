//! One request through the gateway and its traffic record, whichever way it ends. A request
//! that is answered, fails, times out, or is dropped because its client went away or the
//! gateway stopped is recorded with how it ended: `Drop` commits what a dropped handler could
//! not (through the journal's writer, without waiting).
//!
//! The answer's text is kept on the record of a bypassed request (for the review), and held
//! for the shield's scan of the answer on a scanned one (`Finished::answer`).

use app::domain::traffic::{Outcome, MAX_KEPT_TEXT_BYTES};
use app::server::traffic::{Completion, Journal, JournalError, NewTraffic, Receipt};
use std::time::Instant;
use tokio::sync::watch;

pub struct Exchange {
    journal: Journal,
    /// The record until it is written (as pending, or whole at the end).
    record: Option<NewTraffic>,
    /// The pending record written before forwarding.
    id: Option<i64>,
    /// While the pending record is being written: where its id will arrive.
    receipt: Option<Receipt>,
    /// What the end will say: filled in as the answer arrives.
    end: Completion,
    /// When the request arrived (the record's time).
    at: chrono::DateTime<chrono::Utc>,
    /// The answer's text goes on the record when the request's does (bypassed requests), or
    /// else into `answer`.
    keep_text: bool,
    /// The answer's text so far, for the shield (at most `MAX_KEPT_TEXT_BYTES`).
    answer: String,
    started: Instant,
    /// The answer's headers have gone to the client.
    answering: bool,
    /// The record's end has been handed to the journal.
    finished: bool,
    stopping: watch::Receiver<bool>,
}

impl Exchange {
    pub fn new(
        journal: Journal,
        record: NewTraffic,
        started: Instant,
        stopping: watch::Receiver<bool>,
    ) -> Self {
        Self {
            at: record.at,
            keep_text: record.request_text.is_some(),
            answer: String::new(),
            end: Completion {
                text_truncated: record.text_truncated,
                ..Completion::default()
            },
            journal,
            record: Some(record),
            id: None,
            receipt: None,
            started,
            answering: false,
            finished: false,
            stopping,
        }
    }

    /// Writes the record as pending and waits until it is durable: nothing is forwarded
    /// before. Should this future be dropped meanwhile, `Drop` completes the record once its
    /// id arrives.
    pub async fn record_before_forwarding(&mut self) -> Result<(), JournalError> {
        let Some(mut record) = self.record.take() else {
            return Ok(());
        };
        record.outcome = Some(Outcome::Pending);
        record.gateway_instance = Some(self.journal.instance());
        let receipt = self.receipt.insert(self.journal.queue_insert(record)?);
        let id = receipt.await;
        self.receipt = None;
        self.id = Some(id.map_err(|_| JournalError::stopped())??);
        Ok(())
    }

    /// The answer's headers are going out: from now on a client that leaves leaves during it.
    pub fn answering(&mut self) {
        self.answering = true;
    }

    pub fn end_mut(&mut self) -> &mut Completion {
        &mut self.end
    }

    /// A piece of the answer's text, as it arrives.
    pub fn answer_piece(&mut self, piece: &str) {
        if self.keep_text {
            self.end.keep_response_piece(piece);
            return;
        }
        let mut room = MAX_KEPT_TEXT_BYTES
            .saturating_sub(self.answer.len())
            .min(piece.len());
        while !piece.is_char_boundary(room) {
            room -= 1;
        }
        self.answer.push_str(&piece[..room]);
    }

    /// Commits the record with `outcome` and the status the client got (or would have).
    pub async fn finish(
        &mut self,
        outcome: Outcome,
        http_status: Option<u16>,
    ) -> Result<Finished, JournalError> {
        let end = self.take_end(outcome, http_status);
        self.finished = true;
        let id = match (self.id, self.record.take()) {
            (Some(id), _) => self.journal.complete(id, end).await.map(|()| Some(id))?,
            (None, Some(record)) => Some(self.journal.insert(record.ended(end)).await?),
            (None, None) => None,
        };
        let answer = std::mem::take(&mut self.answer);
        Ok(Finished {
            id,
            at: self.at,
            answer: (!answer.is_empty()).then_some(answer),
        })
    }

    fn take_end(&mut self, outcome: Outcome, http_status: Option<u16>) -> Completion {
        let mut end = std::mem::take(&mut self.end);
        end.outcome = Some(outcome);
        end.http_status = http_status.or(end.http_status);
        end.latency_ms =
            Some(i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX));
        end
    }
}

/// A committed record: its id, and the answer's text for the shield when the record does not
/// keep it.
pub struct Finished {
    pub id: Option<i64>,
    pub at: chrono::DateTime<chrono::Utc>,
    pub answer: Option<String>,
}

impl Drop for Exchange {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let outcome = if *self.stopping.borrow() {
            Outcome::Shutdown
        } else if self.answering {
            Outcome::ClientClosedDuringResponse
        } else {
            Outcome::ClientClosedBeforeResponse
        };
        let status = self.answering.then_some(200);
        let end = self.take_end(outcome, status);
        match (self.id, self.record.take(), self.receipt.take()) {
            (Some(id), _, _) => self.journal.complete_detached(id, end),
            (None, Some(record), _) => self.journal.insert_detached(record.ended(end)),
            // The pending record is being written: complete it once it is.
            (None, None, Some(receipt)) => {
                let journal = self.journal.clone();
                tokio::spawn(async move {
                    if let Ok(id) = Journal::inserted(receipt).await {
                        journal.complete_detached(id, end);
                    }
                });
            }
            (None, None, None) => {}
        }
    }
}
