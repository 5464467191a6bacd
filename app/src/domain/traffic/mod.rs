//! LLM traffic records: what went through, how it was judged, or that it was not (BYPASSED).

mod chart;
mod csv;
mod listing;
mod record;

pub use chart::{Chart, MAX_BUCKETS};
pub use csv::write_csv;
pub use listing::{Cursor, TrafficFilter, TrafficPage, TrafficSort, DEFAULT_PAGE, MAX_PAGE};
pub use record::{
    keep_text, label, provider_of, Outcome, TrafficRecord, DETECTION_NAME_MAX_CHARS,
    MAX_INGESTED_DETECTIONS, MAX_KEPT_TEXT_BYTES, MODEL_MAX_CHARS, OUTCOMES, PROVIDER_MAX_CHARS,
    REQUEST_ID_MAX_CHARS, SESSION_ID_MAX_CHARS, SOURCES, SOURCE_BREAK_GLASS, SOURCE_LITELLM,
    SOURCE_WATCHER,
};
