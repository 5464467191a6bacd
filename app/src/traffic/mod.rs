//! LLM traffic records: what went through, how it was judged, or that it was not (BYPASSED).

mod chart;
mod csv;
#[cfg(feature = "ssr")]
mod ingest;
#[cfg(feature = "ssr")]
mod journal;
mod listing;
#[cfg(feature = "ssr")]
mod reads;
mod record;
#[cfg(feature = "ssr")]
mod store;

pub use chart::{Chart, MAX_BUCKETS};
pub use csv::write_csv;
#[cfg(feature = "ssr")]
pub use ingest::ingested;
#[cfg(feature = "ssr")]
pub use journal::{Fsync, Journal, JournalError, Receipt};
pub use listing::{Cursor, TrafficFilter, TrafficPage, TrafficSort, DEFAULT_PAGE, MAX_PAGE};
#[cfg(feature = "ssr")]
pub use reads::{chart, page};
pub use record::{
    keep_text, label, provider_of, Outcome, TrafficRecord, DETECTION_NAME_MAX_CHARS,
    MAX_INGESTED_DETECTIONS, MAX_KEPT_TEXT_BYTES, MODEL_MAX_CHARS, OUTCOMES, PROVIDER_MAX_CHARS,
    REQUEST_ID_MAX_CHARS, SESSION_ID_MAX_CHARS, SOURCES, SOURCE_BREAK_GLASS, SOURCE_LITELLM,
    SOURCE_WATCHER,
};
#[cfg(feature = "ssr")]
pub use store::{
    awaiting_rescan, chart_statement, count_bypassed, in_window, insert, insert_new,
    page_statement, watcher_counts, watcher_findings, Completion, NewTraffic,
};
