//! Traffic on the server: the journal that writes records, their store, ingest, and reads.

mod ingest;
mod journal;
mod reads;
mod store;
pub use ingest::ingested;
pub use journal::{Fsync, Journal, JournalError, Receipt};
pub use reads::{chart, filter_from_query, page};
pub use store::{
    awaiting_rescan, chart_statement, count_bypassed, in_window, insert, insert_new,
    page_statement, watcher_counts, watcher_findings, Completion, NewTraffic,
};
