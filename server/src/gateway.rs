//! The OpenAI-compatible gateway that agents point their clients at.
//!
//! Normally every request is scanned by the shield and forwarded to LiteLLM; in BLOCK mode a
//! BLOCK verdict is refused with 403. While break-glass is active nothing is scanned: requests
//! go straight to the direct provider and are recorded as BYPASSED with their text kept for
//! review. Which path applies is read from memory on every request, never from the database.
//! A response completes only after its traffic record is committed.

use crate::config::Config;
use app::alerts::{self, NewAlert, Severity};
use app::api_keys::{KeyRefusal, Scope};
use app::shield::{ScanResult, ShieldMode};
use app::state::AppState;
use app::traffic::{self, NewTraffic, Verdict, SOURCE_BREAK_GLASS, SOURCE_LITELLM};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::StreamExt;
use rand::RngCore;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// At most one "LiteLLM unreachable" alert per this interval; it counts the failures since.
const UNREACHABLE_ALERT_INTERVAL: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub struct Gateway(Arc<Inner>);

struct Inner {
    app: AppState,
    client: reqwest::Client,
    litellm: Upstream,
    bypass: Option<Upstream>,
    unreachable: Mutex<Unreachable>,
}

struct Upstream {
    base: String,
    key: Option<String>,
    /// The provider recorded when the model name does not say (`provider/model`).
    provider: &'static str,
}

#[derive(Default)]
struct Unreachable {
    last_alert: Option<Instant>,
    failures: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Chat,
    Embeddings,
}

impl Kind {
    fn path(self) -> &'static str {
        match self {
            Kind::Chat => "/v1/chat/completions",
            Kind::Embeddings => "/v1/embeddings",
        }
    }

    /// The text the shield scans: every message's text, or every input string.
    fn prompt_text(self, request: &serde_json::Value) -> Result<String, OpenAiError> {
        match self {
            Kind::Chat => {
                let messages = request
                    .get("messages")
                    .and_then(|m| m.as_array())
                    .filter(|m| !m.is_empty())
                    .ok_or_else(|| {
                        bad_request(
                            "messages",
                            "messages is required: a non-empty array of {role, content}",
                        )
                    })?;
                let mut text = String::new();
                for m in messages {
                    match m.get("content") {
                        Some(serde_json::Value::String(s)) => push_line(&mut text, s),
                        Some(serde_json::Value::Array(parts)) => {
                            for part in parts {
                                if let Some(s) = part.get("text").and_then(|t| t.as_str()) {
                                    push_line(&mut text, s);
                                }
                            }
                        }
                        _ => {}
                    }
                }
                Ok(text)
            }
            Kind::Embeddings => match request.get("input") {
                Some(serde_json::Value::String(s)) => Ok(s.clone()),
                Some(serde_json::Value::Array(items)) if !items.is_empty() => {
                    let mut text = String::new();
                    for s in items.iter().filter_map(|i| i.as_str()) {
                        push_line(&mut text, s);
                    }
                    Ok(text)
                }
                _ => Err(bad_request(
                    "input",
                    "input is required: a string or a non-empty array",
                )),
            },
        }
    }
}

fn push_line(text: &mut String, s: &str) {
    if !text.is_empty() {
        text.push('\n');
    }
    text.push_str(s);
}

/// An error in the shape OpenAI clients understand.
struct OpenAiError {
    status: StatusCode,
    kind: &'static str,
    param: Option<&'static str>,
    message: String,
}

impl IntoResponse for OpenAiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(serde_json::json!({"error": {
                "message": self.message,
                "type": self.kind,
                "param": self.param,
                "code": serde_json::Value::Null,
            }})),
        )
            .into_response()
    }
}

fn openai_error(
    status: StatusCode,
    kind: &'static str,
    param: Option<&'static str>,
    message: &str,
) -> Response {
    OpenAiError {
        status,
        kind,
        param,
        message: message.to_owned(),
    }
    .into_response()
}

fn bad_request(param: &'static str, message: &str) -> OpenAiError {
    OpenAiError {
        status: StatusCode::BAD_REQUEST,
        kind: "invalid_request_error",
        param: Some(param),
        message: message.to_owned(),
    }
}

fn request_id() -> String {
    let mut bytes = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Gateway {
    pub fn new(app: AppState, config: &Config) -> Self {
        Self(Arc::new(Inner {
            app,
            client: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(5))
                .build()
                .expect("HTTP client builds"),
            litellm: Upstream {
                base: config.litellm_url.clone(),
                key: config.litellm_api_key.clone(),
                provider: "litellm",
            },
            bypass: config.bypass_url.clone().map(|base| Upstream {
                base,
                key: config.bypass_api_key.clone(),
                provider: "direct",
            }),
            unreachable: Mutex::default(),
        }))
    }

    /// The gateway's routes, those of `access::ROUTES` with `Access::Gateway`.
    pub fn router<S>(self) -> Router<S> {
        let mut router = Router::new();
        for endpoint in crate::access::ROUTES
            .iter()
            .filter(|e| e.access == crate::access::Access::Gateway)
        {
            router = router.route(
                endpoint.path,
                match (endpoint.method, endpoint.path) {
                    ("POST", "/v1/chat/completions") => post(chat_completions),
                    ("POST", "/v1/embeddings") => post(embeddings),
                    ("GET", "/v1/models") => get(models),
                    (method, path) => {
                        unreachable!("access::ROUTES lists {method} {path} without a handler")
                    }
                },
            );
        }
        router.with_state(self)
    }

    async fn authenticate(&self, headers: &HeaderMap) -> Result<i64, Response> {
        let unauthorized = |message: &str| {
            openai_error(StatusCode::UNAUTHORIZED, "invalid_api_key", None, message)
        };
        let secret = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| unauthorized("Missing API key: send Authorization: Bearer <key>"))?;
        let app = &self.0.app;
        match app::api_keys::authenticate(&app.pool, &app.api_keys, secret.trim(), app.clock.now())
            .await
        {
            Ok(Ok(key)) if key.scopes.contains(&Scope::Gateway) => Ok(key.id),
            Ok(Ok(_)) => Err(openai_error(
                StatusCode::FORBIDDEN,
                "permission_denied",
                None,
                "This API key lacks the gateway scope",
            )),
            Ok(Err(KeyRefusal::Invalid)) => {
                Err(unauthorized("Invalid, revoked or expired API key"))
            }
            Ok(Err(KeyRefusal::RateLimited {
                retry_after_seconds,
            })) => {
                let mut response = openai_error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limit_exceeded",
                    None,
                    &format!(
                        "This API key is over its rate limit: try again in {retry_after_seconds} s"
                    ),
                );
                if let Ok(v) = axum::http::HeaderValue::from_str(&retry_after_seconds.to_string()) {
                    response
                        .headers_mut()
                        .insert(axum::http::header::RETRY_AFTER, v);
                }
                Err(response)
            }
            Err(e) => {
                tracing::error!(error = %e, "API key lookup failed");
                Err(openai_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "server_error",
                    None,
                    "The gateway cannot check API keys right now",
                ))
            }
        }
    }

    async fn relay(&self, kind: Kind, headers: HeaderMap, body: Bytes) -> Response {
        let started = Instant::now();
        let app = &self.0.app;
        let at = app.clock.now();
        let api_key_id = match self.authenticate(&headers).await {
            Ok(id) => id,
            Err(response) => return response,
        };
        let request: serde_json::Value = match serde_json::from_slice(&body) {
            Ok(v @ serde_json::Value::Object(_)) => v,
            _ => {
                return openai_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request_error",
                    None,
                    "The request body must be a JSON object",
                )
            }
        };
        let Some(model) = request.get("model").and_then(|m| m.as_str()) else {
            return bad_request("model", "model is required: the name of the model to use")
                .into_response();
        };
        let text = match kind.prompt_text(&request) {
            Ok(t) => t,
            Err(e) => return e.into_response(),
        };
        let streaming = kind == Kind::Chat && request.get("stream") == Some(&true.into());
        let bypassing = app.break_glass.bypassing();
        let upstream = if bypassing {
            self.0.bypass.as_ref()
        } else {
            Some(&self.0.litellm)
        };
        let provider = model
            .split_once('/')
            .map(|(p, _)| p.to_owned())
            .or_else(|| upstream.map(|u| u.provider.to_owned()));
        let mut record = NewTraffic {
            at,
            source: if bypassing {
                SOURCE_BREAK_GLASS
            } else {
                SOURCE_LITELLM
            },
            model: Some(model.to_owned()),
            provider,
            verdict: Verdict::Bypassed,
            score: None,
            detections: Vec::new(),
            latency_ms: None,
            tokens_in: None,
            tokens_out: None,
            http_status: None,
            api_key_id: Some(api_key_id),
            session_id: headers
                .get("x-session-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            request_id: request_id(),
            request_text: bypassing.then(|| text.clone()),
            response_text: None,
            rescan_of: None,
            direction: None,
        };
        if !bypassing {
            let ScanResult {
                verdict,
                score,
                detections,
            } = app.shield.scan(&text);
            record.verdict = verdict;
            record.score = Some(score);
            record.detections = detections;
            if verdict == Verdict::Block && *app.shield_mode.borrow() == ShieldMode::Block {
                let rules: Vec<&str> = record.detections.iter().map(|d| d.rule.as_str()).collect();
                let message = format!(
                    "Blocked by the breakglass shield (score {score}; rules {})",
                    rules.join(", ")
                );
                return self
                    .finish(
                        record,
                        started,
                        openai_error(StatusCode::FORBIDDEN, "shield_block", None, &message),
                    )
                    .await;
            }
        }
        let Some(upstream) = upstream else {
            return self
                .finish(
                    record,
                    started,
                    openai_error(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "server_error",
                        None,
                        "Break-glass is active but no direct provider is configured \
                         (BREAKGLASS_BYPASS_URL)",
                    ),
                )
                .await;
        };
        let mut forward = self
            .0
            .client
            .post(format!("{}{}", upstream.base, kind.path()))
            .header(header::CONTENT_TYPE, "application/json")
            .body(body);
        if let Some(key) = &upstream.key {
            forward = forward.bearer_auth(key);
        }
        let response = match forward.send().await {
            Ok(r) => r,
            Err(e) => {
                return self
                    .upstream_failed(record, started, bypassing, e.to_string())
                    .await
            }
        };
        let status = response.status();
        if !bypassing && status.is_server_error() {
            return self
                .upstream_failed(record, started, bypassing, format!("it answered {status}"))
                .await;
        }
        let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
        if streaming && status.is_success() {
            return self.stream_back(record, started, response, content_type);
        }
        let bytes = match response.bytes().await {
            Ok(b) => b,
            Err(e) => {
                return self
                    .upstream_failed(record, started, bypassing, e.to_string())
                    .await
            }
        };
        if let Ok(json) = serde_json::from_slice::<serde_json::Value>(&bytes) {
            let usage = &json["usage"];
            record.tokens_in = usage["prompt_tokens"].as_i64();
            record.tokens_out = usage["completion_tokens"].as_i64();
            if bypassing {
                record.response_text = json["choices"][0]["message"]["content"]
                    .as_str()
                    .map(str::to_owned);
            }
        }
        let mut reply = (status, bytes).into_response();
        if let Some(ct) = content_type {
            reply.headers_mut().insert(header::CONTENT_TYPE, ct);
        }
        self.finish(record, started, reply).await
    }

    /// Records the request, then lets the response go. A response that cannot be recorded is
    /// not delivered: nothing is served without its traffic record.
    async fn finish(
        &self,
        mut record: NewTraffic,
        started: Instant,
        response: Response,
    ) -> Response {
        record.http_status = Some(response.status().as_u16());
        record.latency_ms = Some(i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX));
        match traffic::insert(&self.0.app.pool, &record).await {
            Ok(_) => response,
            Err(e) => {
                tracing::error!(error = %e, request_id = %record.request_id, "traffic record not written");
                openai_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "server_error",
                    None,
                    "The gateway could not record this request, so it was not delivered",
                )
            }
        }
    }

    async fn upstream_failed(
        &self,
        record: NewTraffic,
        started: Instant,
        bypassing: bool,
        detail: String,
    ) -> Response {
        let message = if bypassing {
            format!("The direct provider could not be reached: {detail}")
        } else {
            self.litellm_unreachable(&detail).await;
            format!(
                "LiteLLM at {} is unreachable or failing ({detail}). If the shield path stays \
                 down, an operator can activate break-glass.",
                self.0.litellm.base
            )
        };
        self.finish(
            record,
            started,
            openai_error(StatusCode::BAD_GATEWAY, "upstream_error", None, &message),
        )
        .await
    }

    /// Raises a HIGH alert at most once a minute, with the failures counted since the last one.
    async fn litellm_unreachable(&self, detail: &str) {
        let failures = {
            let mut u = self.0.unreachable.lock().expect("unreachable lock");
            u.failures += 1;
            if u.last_alert
                .is_some_and(|t| t.elapsed() < UNREACHABLE_ALERT_INTERVAL)
            {
                return;
            }
            u.last_alert = Some(Instant::now());
            std::mem::take(&mut u.failures)
        };
        let app = &self.0.app;
        let raised = async {
            let mut conn = app.pool.acquire().await?;
            alerts::insert(
                &mut conn,
                NewAlert {
                    at: app.clock.now(),
                    severity: Severity::High,
                    source: alerts::SOURCE_GATEWAY,
                    title: alerts::LITELLM_UNREACHABLE.to_owned(),
                    message: format!(
                        "{failures} request(s) could not reach LiteLLM at {}; last error: {detail}. \
                         Break-glass exists for exactly this: it lets agents keep working, \
                         unscanned and recorded, while the shield path is down.",
                        self.0.litellm.base
                    ),
                    window_id: None,
                    link: None,
                },
            )
            .await
        }
        .await;
        match raised {
            Ok(alert) => app.events.publish(&app::events::ServerEvent::Alert(alert)),
            Err(e) => tracing::error!(error = %e, "could not raise the LiteLLM alert"),
        }
    }

    /// Passes a streamed answer through chunk by chunk as it arrives. The chunk that carries
    /// `[DONE]` is held until the traffic record is committed, so the stream completes only
    /// after the record exists.
    fn stream_back(
        &self,
        record: NewTraffic,
        started: Instant,
        upstream: reqwest::Response,
        content_type: Option<HeaderValue>,
    ) -> Response {
        let keep_text = record.verdict == Verdict::Bypassed;
        let state = StreamState {
            upstream: upstream.bytes_stream().boxed(),
            recorder: Some(StreamRecorder::new(record, keep_text)),
            held: None,
            gateway: self.clone(),
            started,
        };
        let body = futures::stream::unfold(state, |mut s| async move {
            let recorder = s.recorder.as_mut()?;
            match s.upstream.next().await {
                Some(Ok(chunk)) => {
                    recorder.observe(&chunk);
                    if contains(&chunk, b"[DONE]") {
                        s.held = Some(chunk);
                        // Keep reading: the upstream ends right after [DONE].
                        return Some((Ok(Bytes::new()), s));
                    }
                    Some((Ok(chunk), s))
                }
                Some(Err(e)) => {
                    let mut recorder = s.recorder.take()?;
                    recorder.record.http_status = Some(502);
                    s.gateway.commit(recorder, s.started).await;
                    Some((Err(std::io::Error::other(e)), s))
                }
                None => {
                    let recorder = s.recorder.take()?;
                    if s.gateway.commit(recorder, s.started).await {
                        s.held.take().map(|held| (Ok(held), s))
                    } else {
                        Some((Err(std::io::Error::other("traffic record not written")), s))
                    }
                }
            }
        });
        let mut response = Response::new(Body::from_stream(body));
        if let Some(ct) = content_type {
            response.headers_mut().insert(header::CONTENT_TYPE, ct);
        }
        response
    }

    async fn commit(&self, recorder: StreamRecorder, started: Instant) -> bool {
        let mut record = recorder.finish();
        record.latency_ms = Some(i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX));
        if record.http_status.is_none() {
            record.http_status = Some(200);
        }
        match traffic::insert(&self.0.app.pool, &record).await {
            Ok(_) => true,
            Err(e) => {
                tracing::error!(error = %e, request_id = %record.request_id, "traffic record not written");
                false
            }
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

struct StreamState {
    upstream: futures::stream::BoxStream<'static, reqwest::Result<Bytes>>,
    recorder: Option<StreamRecorder>,
    held: Option<Bytes>,
    gateway: Gateway,
    started: Instant,
}

/// Reads the server-sent events of a streamed answer as they pass: token usage, and (for
/// bypassed traffic) the answer's text.
struct StreamRecorder {
    record: NewTraffic,
    keep_text: bool,
    text: String,
    pending: Vec<u8>,
}

impl StreamRecorder {
    fn new(record: NewTraffic, keep_text: bool) -> Self {
        Self {
            record,
            keep_text,
            text: String::new(),
            pending: Vec::new(),
        }
    }

    fn observe(&mut self, chunk: &[u8]) {
        self.pending.extend_from_slice(chunk);
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let Some(data) = line.strip_prefix(b"data:") else {
                continue;
            };
            let Ok(event) = serde_json::from_slice::<serde_json::Value>(data.trim_ascii()) else {
                continue;
            };
            if let Some(usage) = event.get("usage").filter(|u| u.is_object()) {
                self.record.tokens_in = usage["prompt_tokens"].as_i64();
                self.record.tokens_out = usage["completion_tokens"].as_i64();
            }
            if self.keep_text {
                if let Some(piece) = event["choices"][0]["delta"]["content"].as_str() {
                    self.text.push_str(piece);
                }
            }
        }
    }

    fn finish(mut self) -> NewTraffic {
        if self.keep_text {
            self.record.response_text = Some(self.text);
        }
        self.record
    }
}

async fn chat_completions(State(gw): State<Gateway>, headers: HeaderMap, body: Bytes) -> Response {
    gw.relay(Kind::Chat, headers, body).await
}

async fn embeddings(State(gw): State<Gateway>, headers: HeaderMap, body: Bytes) -> Response {
    gw.relay(Kind::Embeddings, headers, body).await
}

/// The models of whichever upstream currently serves traffic.
async fn models(State(gw): State<Gateway>, headers: HeaderMap) -> Response {
    if let Err(response) = gw.authenticate(&headers).await {
        return response;
    }
    let upstream = if gw.0.app.break_glass.bypassing() {
        gw.0.bypass.as_ref()
    } else {
        Some(&gw.0.litellm)
    };
    let Some(upstream) = upstream else {
        return openai_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            None,
            "Break-glass is active but no direct provider is configured (BREAKGLASS_BYPASS_URL)",
        );
    };
    let mut request =
        gw.0.client
            .request(Method::GET, format!("{}/v1/models", upstream.base));
    if let Some(key) = &upstream.key {
        request = request.bearer_auth(key);
    }
    match request.send().await {
        Ok(r) => {
            let status = r.status();
            match r.bytes().await {
                Ok(b) => (status, [(header::CONTENT_TYPE, "application/json")], b).into_response(),
                Err(e) => openai_error(
                    StatusCode::BAD_GATEWAY,
                    "upstream_error",
                    None,
                    &e.to_string(),
                ),
            }
        }
        Err(e) => openai_error(
            StatusCode::BAD_GATEWAY,
            "upstream_error",
            None,
            &format!("The upstream at {} is unreachable: {e}", upstream.base),
        ),
    }
}
