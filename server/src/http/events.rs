//! `GET /api/events`: the server-sent event stream, and the shared worker that lets all of a
//! browser's tabs use one stream.

use super::Caller;
use app::events::{ServerEvent, StateEvent};
use app::state::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::IntoResponse;
use futures::stream::{self, Stream, StreamExt};
use std::convert::Infallible;
use std::time::Duration;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;

const WORKER: &str = include_str!("events_worker.js");

fn snapshot(state: &AppState) -> Event {
    let event = ServerEvent::State(StateEvent {
        change: None,
        status: state.break_glass.status(),
    });
    Event::default().event(event.name()).data(event.data_json())
}

/// On connect: the current state (with `server_time`); then every change as it is published;
/// a keep-alive comment every 15 s. A subscriber that fell behind gets a fresh snapshot, and a
/// reconnecting one starts with a snapshot, so no tab stays out of date. Ends on shutdown,
/// and at once when the caller's session ends (logout, logout everywhere, a password reset or
/// change elsewhere, a disabled operator).
pub async fn stream(
    State(state): State<AppState>,
    Caller(actor): Caller,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    // Subscribe before the snapshot so that no change falls between the two.
    let updates = BroadcastStream::new(state.events.subscribe());
    let mut ended = state.sessions_ended.subscribe();
    let session_state = state.clone();
    let first = snapshot(&state);
    let mut shutdown = state.shutdown.clone();
    let stream = stream::once(async move { first })
        .chain(updates.map(move |item| match item {
            Ok(p) => Event::default().event(p.name).data(&*p.data),
            Err(BroadcastStreamRecvError::Lagged(_)) => snapshot(&state),
        }))
        .map(Ok)
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
                    if !matches!(
                        app::auth::operator_for_token(&session_state, &actor.token).await,
                        Ok(Some(_))
                    ) {
                        return;
                    }
                }
            };
            tokio::select! {
                _ = shutdown.wait_for(|s| *s) => {}
                () = session_over => {}
            }
        });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
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
