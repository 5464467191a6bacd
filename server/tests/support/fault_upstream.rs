//! A stub upstream on 127.0.0.1 for fault tests: it remembers, for every request it received,
//! the gateway's request id (`x-breakglass-request-id`) and the first message's text (the
//! test's tag for the request), and answers as the last message asks:
//! - `scenario:complete`: at once (a stream of three pieces when `stream` is true);
//! - `scenario:hold`: only once the test calls `release` (or after a minute);
//! - `scenario:trickle`: a stream of a piece every few milliseconds for a long time;
//! - `scenario:done-in-text`: a stream whose text contains `[DONE]`, and whose terminator is
//!   split across two network chunks.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

#[derive(Clone)]
pub struct FaultUpstream {
    pub url: String,
    received: Arc<Mutex<Vec<(String, String)>>>,
    release: Arc<Notify>,
    arrived: Arc<Notify>,
}

/// The pieces of the `done-in-text` stream, as the stub writes them (one network write each).
pub fn done_in_text_chunks() -> Vec<String> {
    let event = |content: &str| {
        format!(
            "data: {}\n\n",
            serde_json::json!({"choices": [{"index": 0, "delta": {"content": content}}]})
        )
    };
    vec![
        event("an agent may print [DONE] "),
        event("and data: [DONE] inside its text"),
        format!(
            "data: {}\n\n",
            serde_json::json!({"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 9}})
        ),
        "data: [DO".to_owned(),
        "NE]\n\n".to_owned(),
    ]
}

impl FaultUpstream {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let up = FaultUpstream {
            url: format!("http://{}", listener.local_addr().unwrap()),
            received: Arc::default(),
            release: Arc::new(Notify::new()),
            arrived: Arc::new(Notify::new()),
        };
        let app = Router::new()
            .route("/v1/chat/completions", post(chat))
            .route(
                "/v1/models",
                get(|| async { Json(serde_json::json!({"data": []})) }),
            )
            .with_state(up.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        up
    }

    /// (request id, tag) of each request received so far, in order of arrival.
    pub fn received(&self) -> Vec<(String, String)> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests have arrived.
    pub async fn wait_for(&self, n: usize) {
        self.wait_until(&format!("{n} requests"), |r| r.len() >= n)
            .await;
    }

    /// Waits until the request tagged `tag` has arrived.
    pub async fn wait_for_tag(&self, tag: &str) {
        self.wait_until(tag, |r| r.iter().any(|(_, t)| t == tag))
            .await;
    }

    async fn wait_until(&self, what: &str, done: impl Fn(&[(String, String)]) -> bool) {
        loop {
            let arrived = self.arrived.notified();
            if done(&self.received.lock().unwrap()) {
                return;
            }
            tokio::time::timeout(Duration::from_secs(30), arrived)
                .await
                .unwrap_or_else(|_| panic!("{what} reach the upstream within 30 s"));
        }
    }

    /// Lets every held request answer.
    pub fn release(&self) {
        self.release.notify_waiters();
    }
}

fn completion(content: &str) -> Response {
    Json(serde_json::json!({
        "id": "chatcmpl-fault",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
    }))
    .into_response()
}

fn event_stream(chunks: impl futures::Stream<Item = String> + Send + 'static) -> Response {
    use futures::StreamExt;
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .body(Body::from_stream(
            chunks.map(|c| Ok::<_, std::io::Error>(Bytes::from(c))),
        ))
        .unwrap()
}

fn piece(content: &str) -> String {
    format!(
        "data: {}\n\n",
        serde_json::json!({"choices": [{"index": 0, "delta": {"content": content}}]})
    )
}

async fn chat(State(up): State<FaultUpstream>, headers: HeaderMap, body: Bytes) -> Response {
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let id = headers
        .get("x-breakglass-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("none")
        .to_owned();
    let tag = json["messages"][0]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let held = up.release.notified();
    up.received.lock().unwrap().push((id, tag));
    up.arrived.notify_waiters();
    let scenario = json["messages"]
        .as_array()
        .and_then(|m| m.last())
        .and_then(|m| m["content"].as_str())
        .and_then(|c| c.strip_prefix("scenario:"))
        .unwrap_or("complete")
        .to_owned();
    let streaming = json["stream"] == true;
    match scenario.as_str() {
        "hold" => {
            let _ = tokio::time::timeout(Duration::from_secs(60), held).await;
            completion("held answer")
        }
        "trickle" => event_stream(futures::stream::unfold(0u32, |n| async move {
            if n > 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            match n {
                0..=5999 => Some((piece("tick "), n + 1)),
                6000 => Some(("data: [DONE]\n\n".to_owned(), n + 1)),
                _ => None,
            }
        })),
        "done-in-text" => {
            // One write each: the stub pauses between them so that they cross the network
            // as separate chunks (the unit tests in gateway/sse.rs cover every split).
            let chunks = done_in_text_chunks();
            event_stream(futures::stream::unfold(
                (0usize, chunks),
                |(i, chunks)| async move {
                    if i > 0 {
                        tokio::time::sleep(Duration::from_millis(30)).await;
                    }
                    let chunk = chunks.get(i)?.clone();
                    Some((chunk, (i + 1, chunks)))
                },
            ))
        }
        _ if streaming => event_stream(futures::stream::iter([
            piece("complete "),
            piece("answer"),
            "data: [DONE]\n\n".to_owned(),
        ])),
        _ => completion("complete answer"),
    }
}
