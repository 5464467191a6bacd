//! A stub OpenAI-compatible upstream on 127.0.0.1, standing in for LiteLLM or a provider.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// A prompt that makes the stub answer with `LEAKED_ANSWER`.
pub const LEAK_PLEASE: &str = "What is in the deployment notes?";
/// An answer that carries a cloud credential out through the model.
pub const LEAKED_ANSWER: &str =
    "The notes say: use access key AKIAIOSFODNN7EXAMPLE for the production bucket.";

#[derive(Default)]
pub struct Seen {
    pub requests: Vec<(String, Option<String>, serde_json::Value)>,
}

#[derive(Clone)]
pub struct Upstream {
    pub url: String,
    pub seen: Arc<Mutex<Seen>>,
    /// A streamed answer waits here after its first chunk until the test releases it.
    pub release: Arc<Notify>,
    name: &'static str,
}

impl Upstream {
    pub async fn start(name: &'static str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let up = Upstream {
            url: format!("http://{}", listener.local_addr().unwrap()),
            seen: Arc::default(),
            release: Arc::new(Notify::new()),
            name,
        };
        let app = Router::new()
            .route("/v1/chat/completions", post(chat))
            .route("/v1/embeddings", post(embeddings))
            .route("/v1/models", get(models))
            .with_state(up.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        up
    }

    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().requests.len()
    }

    pub fn last_auth(&self) -> Option<String> {
        self.seen
            .lock()
            .unwrap()
            .requests
            .last()
            .and_then(|r| r.1.clone())
    }
}

fn remember(up: &Upstream, path: &str, headers: &HeaderMap, body: &Bytes) -> serde_json::Value {
    let json: serde_json::Value = serde_json::from_slice(body).unwrap();
    let auth = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap().to_owned());
    up.seen
        .lock()
        .unwrap()
        .requests
        .push((path.to_owned(), auth, json.clone()));
    json
}

async fn chat(State(up): State<Upstream>, headers: HeaderMap, body: Bytes) -> Response {
    let json = remember(&up, "/v1/chat/completions", &headers, &body);
    let asked = json["messages"]
        .as_array()
        .and_then(|m| m.last())
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default();
    // A model that leaks what it should not, when asked to.
    let answer = if asked == LEAK_PLEASE {
        LEAKED_ANSWER.to_owned()
    } else {
        format!("answer from {}", up.name)
    };
    if json["stream"] == true {
        let release = up.release.clone();
        let (first, rest) = answer.split_at(6);
        let chunk = |content: &str| {
            format!(
                "data: {}\n\n",
                serde_json::json!({"choices": [{"index": 0, "delta": {"content": content}}]})
            )
        };
        let first = chunk(first);
        let rest = chunk(rest);
        let usage = format!(
            "data: {}\n\n",
            serde_json::json!({"choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": 2}})
        );
        let stream = async_stream(first, release, vec![rest, usage, "data: [DONE]\n\n".into()]);
        return Response::builder()
            .header(header::CONTENT_TYPE, "text/event-stream")
            .body(Body::from_stream(stream))
            .unwrap();
    }
    Json(serde_json::json!({
        "id": "chatcmpl-stub",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
    }))
    .into_response()
}

/// The first chunk at once; the others only after `release` is notified.
fn async_stream(
    first: String,
    release: Arc<Notify>,
    rest: Vec<String>,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> {
    use futures::StreamExt;
    futures::stream::once(async move { Ok(Bytes::from(first)) }).chain(
        futures::stream::once(async move {
            release.notified().await;
            futures::stream::iter(rest.into_iter().map(|c| Ok(Bytes::from(c))))
        })
        .flatten(),
    )
}

async fn embeddings(State(up): State<Upstream>, headers: HeaderMap, body: Bytes) -> Response {
    remember(&up, "/v1/embeddings", &headers, &body);
    Json(serde_json::json!({
        "object": "list",
        "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}],
        "usage": {"prompt_tokens": 4, "total_tokens": 4},
    }))
    .into_response()
}

async fn models(State(up): State<Upstream>) -> Response {
    Json(serde_json::json!({"object": "list", "data": [{"id": format!("{}-model", up.name)}]}))
        .into_response()
}
