//! `GET /api/events`: the server-sent event stream, and the shared worker that lets all of a
//! browser's tabs use one stream.

use super::{ApiError, Caller};
use crate::state::AppState;
use app::domain::events::{ServerEvent, StateEvent, MAX_STREAMS_PER_SESSION};
use app::domain::{AppError, Reader};
use axum::extract::State;
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::IntoResponse;
use axum::Extension;
use futures::stream::{self, Stream, StreamExt};
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;

const WORKER: &str = include_str!("events_worker.js");

/// The state now, as the stream's first event and after a subscriber fell behind.
fn snapshot(state: &AppState, reader: &Reader) -> Result<Event, AppError> {
    let event = ServerEvent::State(StateEvent {
        change: None,
        status: state.break_glass.status(reader)?,
    });
    Ok(Event::default().event(event.name()).data(event.data_json()))
}

/// How many streams each session holds, so that a client opening thousands is refused before
/// they cost the server a file descriptor and a subscription each.
#[derive(Clone, Default)]
pub struct StreamSlots(Arc<Mutex<HashMap<String, usize>>>);

/// One held stream; dropping it (the stream ended or its client went away) frees the slot.
pub struct StreamSlot {
    slots: StreamSlots,
    token: String,
}

impl StreamSlots {
    fn take(&self, token: &str) -> Result<StreamSlot, AppError> {
        let mut held = self.0.lock().expect("stream slots lock");
        let count = held.entry(token.to_owned()).or_default();
        if *count >= MAX_STREAMS_PER_SESSION {
            return Err(AppError::TooManyStreams {
                limit: MAX_STREAMS_PER_SESSION,
            });
        }
        *count += 1;
        Ok(StreamSlot {
            slots: self.clone(),
            token: token.to_owned(),
        })
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut held = self.slots.0.lock().expect("stream slots lock");
        if let Some(count) = held.get_mut(&self.token) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.token);
            }
        }
    }
}

/// On connect: the current state (with `server_time`); then every change as it is published;
/// a keep-alive comment every 15 s. A subscriber that fell behind gets a fresh snapshot, and a
/// reconnecting one starts with a snapshot, so no tab stays out of date. Ends on shutdown, when
/// the caller's session expires, and at once when it ends otherwise (logout, logout
/// everywhere, a password reset or change elsewhere, a disabled operator). A session holds at
/// most `MAX_STREAMS_PER_SESSION` streams; one more is refused with 429.
pub async fn stream(
    State(state): State<AppState>,
    Extension(slots): Extension<StreamSlots>,
    Caller(actor): Caller,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let slot = slots.take(&actor.token)?;
    // Subscribe before the snapshot so that no change falls between the two.
    let updates = BroadcastStream::new(state.events.subscribe());
    let mut ended = state.sessions.subscribe_ended();
    let sessions = state.sessions.clone();
    let clock = state.clock.clone();
    let reader = Reader::Operator(actor.clone());
    let first = snapshot(&state, &reader)?;
    let mut shutdown = state.shutdown.clone();
    let stream = stream::once(async move { first })
        .chain(updates.map(move |item| {
            match item {
                Ok(p) => Event::default().event(p.name).data(&*p.data),
                Err(BroadcastStreamRecvError::Lagged(_)) => snapshot(&state, &reader)
                    .unwrap_or_else(|e| Event::default().comment(e.to_string())),
            }
        }))
        .map(move |event| {
            // The slot lives as long as the stream.
            let _held = &slot;
            Ok(event)
        })
        .take_until(async move {
            let session_over = async {
                loop {
                    match ended.recv().await {
                        Ok(id) if id != actor.operator.id => continue,
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                            return std::future::pending().await
                        }
                        // Its operator, or missed notices: is this session still there?
                        _ => {}
                    }
                    if !matches!(sessions.operator_for_token(&actor.token).await, Ok(Some(_))) {
                        return;
                    }
                }
            };
            tokio::select! {
                _ = shutdown.wait_for(|s| *s) => {}
                () = session_over => {}
                () = clock.sleep_until(actor.session_expires_at) => {}
            }
        });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

pub async fn worker_script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        WORKER,
    )
}
