//! The OpenAI-compatible gateway that agents point their clients at.
//!
//! Normally every request is scanned by the shield and forwarded to LiteLLM; in BLOCK mode a
//! BLOCK verdict is refused with 403. While break-glass is active nothing is scanned: requests
//! go straight to the direct provider and are recorded as BYPASSED with their text kept for
//! review. Which path applies is read from memory on every request, never from the database.
//!
//! Every request that passes authentication and parsing has its record (`exchange.rs`), with
//! an outcome saying how it ended. A bypassed request is recorded, durably, before it is
//! forwarded, and not forwarded when it cannot be. A response completes only after its record
//! is committed; a stream's end is held until then (`sse.rs`).

mod exchange;
mod prompt;
mod sse;

use crate::config::Config;
use crate::state::AppState;
use app::domain::alerts::{Severity, LITELLM_UNREACHABLE, SOURCE_GATEWAY};
use app::domain::shield::{Coverage, ScanResult, ShieldMode};
use app::domain::traffic::{self, Outcome, SOURCE_BREAK_GLASS, SOURCE_LITELLM};
use app::domain::Scope;
use app::domain::Verdict;
use app::domain::{Field, FieldError};
use app::server::alerts::{self, NewAlert};
use app::server::api_keys::KeyRefusal;
use app::server::traffic::{Journal, NewTraffic};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Timelike;
use exchange::{Exchange, Finished};
use futures::StreamExt;
use prompt::Prompt;
use rand::RngCore;
use sse::SseRelay;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Sent upstream with each request and back to the client: the traffic record's request id.
const REQUEST_ID_HEADER: &str = "x-breakglass-request-id";
/// The agent's own name for its conversation, kept on each record (the Session Watcher and
/// the Traffic Monitor group by it).
const SESSION_ID_HEADER: &str = "x-session-id";

/// Answers held for their scan at most (each up to `MAX_KEPT_TEXT_BYTES`); past that an answer
/// is left unscanned, which its record says, rather than held without bound.
const ANSWERS_IN_HAND: usize = 256;

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
    /// Answers waiting for their scan or being scanned (`ANSWERS_IN_HAND`).
    answers_in_hand: Arc<tokio::sync::Semaphore>,
    /// Answers being scanned (one per core).
    answer_scans: tokio::sync::Semaphore,
    journal: Journal,
    upstream_timeout: Duration,
    shutdown_grace: Duration,
}

struct Upstream {
    base: String,
    /// The endpoints, parsed once rather than on every request.
    chat: reqwest::Url,
    embeddings: reqwest::Url,
    models: reqwest::Url,
    key: Option<String>,
    /// The provider recorded when the model name does not say (`provider/model`).
    provider: &'static str,
}

impl Upstream {
    /// `base` is a URL that `Config` checked, so its endpoints parse.
    fn new(base: String, key: Option<String>, provider: &'static str) -> Self {
        let endpoint = |path: &str| {
            reqwest::Url::parse(&format!("{base}{path}")).expect("Config checked the base URL")
        };
        Self {
            chat: endpoint(Kind::Chat.path()),
            embeddings: endpoint(Kind::Embeddings.path()),
            models: endpoint("/v1/models"),
            base,
            key,
            provider,
        }
    }

    fn endpoint(&self, kind: Kind) -> reqwest::Url {
        match kind {
            Kind::Chat => self.chat.clone(),
            Kind::Embeddings => self.embeddings.clone(),
        }
    }
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

    /// What the shield reads of the request (`prompt.rs`).
    fn prompt(self, request: &serde_json::Value) -> Result<Prompt, OpenAiError> {
        match self {
            Kind::Chat => Prompt::of_chat(request).ok_or_else(|| {
                bad_request(
                    "messages",
                    "messages is required: a non-empty array of {role, content}",
                )
            }),
            Kind::Embeddings => Prompt::of_embeddings(request).ok_or_else(|| {
                bad_request(
                    "input",
                    "input is required: a string, an array of strings or an array of token ids",
                )
            }),
        }
    }
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

/// The names a request gives its record, each within its cap: the model, the provider its
/// name starts with, and the `X-Session-Id` header.
fn labels(
    model: &str,
    headers: &HeaderMap,
) -> Result<(String, Option<String>, Option<String>), OpenAiError> {
    let refuse = |param: &'static str, e: FieldError| bad_request(param, &e.message);
    let model = traffic::label(Field::Model, "model", model, traffic::MODEL_MAX_CHARS)
        .map_err(|e| refuse("model", e))?;
    let provider = traffic::provider_of(&model).map_err(|e| refuse("model", e))?;
    let session_id = match headers.get(SESSION_ID_HEADER) {
        None => None,
        Some(v) => {
            let v = v.to_str().map_err(|_| {
                bad_request("X-Session-Id", "X-Session-Id must be printable ASCII text")
            })?;
            Some(
                traffic::label(
                    Field::SessionId,
                    "X-Session-Id",
                    v,
                    traffic::SESSION_ID_MAX_CHARS,
                )
                .map_err(|e| refuse("X-Session-Id", e))?,
            )
        }
    };
    Ok((model, provider, session_id))
}

/// Prompts at least this long are scanned on the blocking pool, so that a megabyte prompt
/// does not hold up the async workers (event streams, expiry, other requests).
const SCAN_OFF_WORKERS_BYTES: usize = 16 * 1024;

async fn scan(shield: &Arc<app::server::shield::Shield>, text: String) -> ScanResult {
    if text.len() < SCAN_OFF_WORKERS_BYTES {
        return shield.scan(&text);
    }
    let shield = shield.clone();
    match tokio::task::spawn_blocking(move || shield.scan(&text)).await {
        Ok(result) => result,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

fn request_id() -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut bytes = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let mut id = String::with_capacity(24);
    for b in bytes {
        id.push(char::from(HEX[usize::from(b >> 4)]));
        id.push(char::from(HEX[usize::from(b & 15)]));
    }
    id
}

impl Gateway {
    pub fn new(app: AppState, journal: Journal, config: &Config) -> Self {
        Self(Arc::new(Inner {
            journal,
            upstream_timeout: config.upstream_timeout,
            shutdown_grace: config.shutdown_grace,
            app,
            client: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(5))
                .build()
                .expect("HTTP client builds"),
            litellm: Upstream::new(
                config.litellm_url.clone(),
                config.litellm_api_key.clone(),
                "litellm",
            ),
            bypass: config
                .bypass_url
                .clone()
                .map(|base| Upstream::new(base, config.bypass_api_key.clone(), "direct")),
            unreachable: Mutex::default(),
            answers_in_hand: Arc::new(tokio::sync::Semaphore::new(ANSWERS_IN_HAND)),
            answer_scans: tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get()),
            ),
        }))
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
        match app::server::api_keys::authenticate(
            &app.pool,
            &app.api_keys,
            secret.trim(),
            app.clock.now(),
        )
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
        let (model, model_provider, session_id) = match labels(model, &headers) {
            Ok(labels) => labels,
            Err(e) => return e.into_response(),
        };
        let Prompt {
            text,
            parts,
            unscannable,
        } = match kind.prompt(&request) {
            Ok(p) => p,
            Err(e) => return e.into_response(),
        };
        let streaming = kind == Kind::Chat && request.get("stream") == Some(&true.into());
        let bypassing = app.break_glass.bypasses(api_key_id, &model);
        let upstream = if bypassing {
            self.0.bypass.as_ref()
        } else {
            Some(&self.0.litellm)
        };
        let provider = model_provider.or_else(|| upstream.map(|u| u.provider.to_owned()));
        let request_id = request_id();
        let kept = bypassing.then(|| traffic::keep_text(text.clone()));
        let mut record = NewTraffic {
            at,
            source: if bypassing {
                SOURCE_BREAK_GLASS
            } else {
                SOURCE_LITELLM
            },
            model: Some(model),
            provider,
            verdict: Verdict::Bypassed,
            score: None,
            detections: Vec::new(),
            latency_ms: None,
            tokens_in: None,
            tokens_out: None,
            http_status: None,
            api_key_id: Some(api_key_id),
            session_id,
            request_id: request_id.clone(),
            text_truncated: kept.as_ref().is_some_and(|(_, cut)| *cut),
            request_text: kept.map(|(t, _)| t),
            response_text: None,
            rescan_of: None,
            direction: None,
            outcome: None,
            gateway_instance: None,
            scan_coverage: None,
        };
        let mut blocked = None;
        if !bypassing {
            let ScanResult {
                verdict,
                score,
                detections,
            } = scan(&app.shield, text).await;
            // Nothing readable is not the same as nothing found.
            let verdict =
                if verdict == Verdict::Allow && parts.is_empty() && !unscannable.is_empty() {
                    Verdict::Review
                } else {
                    verdict
                };
            record.scan_coverage = Some(Coverage {
                rules: app.shield.version(),
                model: app.shield.model_version().map(str::to_owned),
                parts: parts.into_iter().map(str::to_owned).collect(),
                unscannable,
            });
            record.verdict = verdict;
            record.score = Some(score);
            record.detections = detections;
            if verdict == Verdict::Block && app.shield_mode.current() == ShieldMode::Block {
                let rules: Vec<&str> = record.detections.iter().map(|d| d.rule.as_str()).collect();
                blocked = Some(format!(
                    "Blocked by the breakglass shield (score {score}; rules {})",
                    rules.join(", ")
                ));
            }
        }
        let mut exchange = Exchange::new(
            self.0.journal.clone(),
            record,
            started,
            app.shutdown.clone(),
        );
        if let Some(message) = blocked {
            let reply = openai_error(StatusCode::FORBIDDEN, "shield_block", None, &message);
            return self.end(exchange, Outcome::Refused, reply).await;
        }
        let Some(upstream) = upstream else {
            let reply = openai_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "server_error",
                None,
                "Break-glass is active but no direct provider is configured \
                 (BREAKGLASS_BYPASS_URL)",
            );
            return self.end(exchange, Outcome::Refused, reply).await;
        };
        // Nothing scans a bypassed request, so its record is the control: durable before the
        // request leaves, or the request does not leave.
        if bypassing {
            if let Err(e) = exchange.record_before_forwarding().await {
                tracing::error!(error = %e, %request_id, "bypassed request not recorded, so not forwarded");
                return openai_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "server_error",
                    None,
                    "Break-glass is active, but the gateway could not record this request, so \
                     it was not forwarded: every bypassed request must have its record",
                );
            }
        }
        let mut forward = self
            .0
            .client
            .post(upstream.endpoint(kind))
            .header(header::CONTENT_TYPE, "application/json")
            .header(REQUEST_ID_HEADER, &request_id)
            .body(body);
        if let Some(key) = &upstream.key {
            forward = forward.bearer_auth(key);
        }
        let mut stop = Box::pin(self.stop_deadline());
        let response = tokio::select! {
            sent = tokio::time::timeout(self.0.upstream_timeout, forward.send()) => match sent {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => {
                    return self.upstream_failed(exchange, bypassing, e.to_string()).await
                }
                Err(_) => return self.upstream_timed_out(exchange, bypassing).await,
            },
            () = &mut stop => return self.stopped(exchange).await,
        };
        let status = response.status();
        if !bypassing && status.is_server_error() {
            return self
                .upstream_failed(exchange, bypassing, format!("it answered {status}"))
                .await;
        }
        let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
        if streaming && status.is_success() {
            exchange.answering();
            return self.stream_back(exchange, response, content_type, request_id, stop);
        }
        let bytes = tokio::select! {
            read = tokio::time::timeout(self.0.upstream_timeout, response.bytes()) => match read {
                Ok(Ok(b)) => b,
                Ok(Err(e)) => {
                    return self.upstream_failed(exchange, bypassing, e.to_string()).await
                }
                Err(_) => return self.upstream_timed_out(exchange, bypassing).await,
            },
            () = &mut stop => return self.stopped(exchange).await,
        };
        if let Ok(json) = serde_json::from_slice::<serde_json::Value>(&bytes) {
            let usage = &json["usage"];
            let end = exchange.end_mut();
            end.tokens_in = usage["prompt_tokens"].as_i64();
            end.tokens_out = usage["completion_tokens"].as_i64();
            if let Some(text) = json["choices"][0]["message"]["content"].as_str() {
                exchange.answer_piece(text);
            }
        }
        let mut reply = (status, bytes).into_response();
        if let Some(ct) = content_type {
            reply.headers_mut().insert(header::CONTENT_TYPE, ct);
        }
        let outcome = if status.is_server_error() {
            Outcome::UpstreamError
        } else {
            Outcome::Completed
        };
        let mut reply = self.end(exchange, outcome, reply).await;
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            reply.headers_mut().insert(REQUEST_ID_HEADER, v);
        }
        reply
    }

    /// Resolves `shutdown_grace` after the server began to stop; never if it does not.
    fn stop_deadline(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut stopping = self.0.app.shutdown.clone();
        let grace = self.0.shutdown_grace;
        async move {
            if stopping.wait_for(|s| *s).await.is_err() {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(grace).await;
        }
    }

    /// Records the exchange with `outcome`, then lets `response` go. A response that cannot be
    /// recorded is not delivered: nothing is served without its traffic record.
    async fn end(&self, mut exchange: Exchange, outcome: Outcome, response: Response) -> Response {
        match exchange
            .finish(outcome, Some(response.status().as_u16()))
            .await
        {
            Ok(finished) => {
                self.scan_answer(finished);
                response
            }
            Err(e) => {
                tracing::error!(error = %e, "traffic record not written");
                openai_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "server_error",
                    None,
                    "The gateway could not record this request, so it was not delivered",
                )
            }
        }
    }

    async fn stopped(&self, exchange: Exchange) -> Response {
        let reply = openai_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            None,
            "The gateway is shutting down; send the request again",
        );
        self.end(exchange, Outcome::Shutdown, reply).await
    }

    async fn upstream_timed_out(&self, exchange: Exchange, bypassing: bool) -> Response {
        let seconds = self.0.upstream_timeout.as_secs();
        let detail = format!("no answer within {seconds} s");
        if !bypassing {
            self.litellm_unreachable(&detail).await;
        }
        let reply = openai_error(
            StatusCode::GATEWAY_TIMEOUT,
            "upstream_timeout",
            None,
            &format!("The upstream gave {detail} (BREAKGLASS_UPSTREAM_TIMEOUT_SECONDS)"),
        );
        self.end(exchange, Outcome::UpstreamTimeout, reply).await
    }

    async fn upstream_failed(
        &self,
        exchange: Exchange,
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
        let reply = openai_error(StatusCode::BAD_GATEWAY, "upstream_error", None, &message);
        self.end(exchange, Outcome::UpstreamError, reply).await
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
        self.raise(NewAlert {
            at: app.clock.now(),
            severity: Severity::High,
            source: SOURCE_GATEWAY,
            title: LITELLM_UNREACHABLE.to_owned(),
            message: format!(
                "{failures} request(s) could not reach LiteLLM at {}; last error: {detail}. \
                 Break-glass exists for exactly this: it lets agents keep working, \
                 unscanned and recorded, while the shield path is down.",
                self.0.litellm.base
            ),
            window_id: None,
            link: None,
            topic: None,
        })
        .await;
    }

    /// Stores `alert` and pushes it to every tab.
    async fn raise(&self, alert: NewAlert<'_>) {
        let app = &self.0.app;
        let title = alert.title.clone();
        let raised = async {
            let mut conn = app.pool.acquire().await?;
            alerts::insert(&mut conn, alert).await
        }
        .await;
        match raised {
            Ok(alert) => app
                .events
                .publish(&app::domain::events::ServerEvent::Alert(alert)),
            Err(e) => tracing::error!(error = %e, %title, "could not raise an alert"),
        }
    }

    /// Scans the answer to a scanned request, off the request's path (its client has it
    /// already): for secrets, credentials and personal data leaving through the model, and for
    /// instructions aimed at the agent. What it finds goes on the record and, as the Session
    /// Watcher's findings do, raises an alert.
    fn scan_answer(&self, finished: Finished) {
        let (Some(id), Some(answer)) = (finished.id, finished.answer) else {
            return;
        };
        let Ok(in_hand) = self.0.answers_in_hand.clone().try_acquire_owned() else {
            tracing::warn!(
                id,
                "an answer was left unscanned: {ANSWERS_IN_HAND} wait for their scan"
            );
            return;
        };
        let gateway = self.clone();
        tokio::spawn(async move {
            gateway.record_answer_scan(id, finished.at, answer).await;
            drop(in_hand);
        });
    }

    async fn record_answer_scan(&self, id: i64, at: chrono::DateTime<chrono::Utc>, answer: String) {
        let app = &self.0.app;
        let result = {
            let Ok(_scanning) = self.0.answer_scans.acquire().await else {
                return;
            };
            scan(&app.shield, answer).await
        };
        if let Err(e) = self.0.journal.answer_scanned(id, &result).await {
            tracing::error!(error = %e, id, "could not record the scan of an answer");
            return;
        }
        let Some(severity) = app::domain::watcher::finding_severity(result.verdict, result.score)
        else {
            return;
        };
        let rules: Vec<&str> = result.detections.iter().map(|d| d.rule.as_str()).collect();
        // Whole seconds, as the Traffic Monitor's time inputs show them.
        let from = at.with_nanosecond(0).unwrap_or(at);
        let filter = traffic::TrafficFilter {
            source: Some(SOURCE_LITELLM.to_owned()),
            from: Some(from),
            to: Some(from + chrono::TimeDelta::seconds(1)),
            limit: traffic::DEFAULT_PAGE,
            ..Default::default()
        };
        self.raise(NewAlert {
            at: app.clock.now(),
            severity,
            source: SOURCE_GATEWAY,
            title: format!(
                "Gateway: {} finding in a model's answer",
                result.verdict.as_str()
            ),
            message: format!(
                "The answer to traffic record #{id} scored {} ({}) at {}. It was delivered: \
                 answers are scanned after they go out.",
                result.score,
                rules.join(", "),
                app::domain::time_format::utc(at),
            ),
            window_id: None,
            link: Some(format!("/traffic?{}", filter.to_query(false))),
            topic: matches!(severity, Severity::Critical | Severity::High)
                .then_some(app::domain::notifications::Topic::WatcherFinding),
        })
        .await;
    }

    /// Passes a streamed answer through as it arrives. Its end (`data: [DONE]` and what
    /// follows) is held until the traffic record is committed, so the stream completes only
    /// after the record exists. A client that leaves drops the stream, and with it the
    /// exchange, whose record then says so.
    fn stream_back(
        &self,
        exchange: Exchange,
        upstream: reqwest::Response,
        content_type: Option<HeaderValue>,
        request_id: String,
        stop: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
    ) -> Response {
        let state = StreamState {
            gateway: self.clone(),
            upstream: upstream.bytes_stream().boxed(),
            exchange: Some(exchange),
            relay: SseRelay::default(),
            idle_timeout: self.0.upstream_timeout,
            stop,
        };
        let body = futures::stream::unfold(state, |mut s| async move {
            loop {
                let exchange = s.exchange.as_mut()?;
                let next = tokio::select! {
                    next = tokio::time::timeout(s.idle_timeout, s.upstream.next()) => next,
                    () = &mut s.stop => {
                        let _ = exchange.finish(Outcome::Shutdown, STREAM_STATUS).await;
                        s.exchange = None;
                        return Some((Err(std::io::Error::other("the gateway is shutting down")), s));
                    }
                };
                match next {
                    Ok(Some(Ok(chunk))) => {
                        let out = s.relay.push(&chunk, |line| {
                            if let Some(piece) = sse::observe_line(line, exchange.end_mut()) {
                                exchange.answer_piece(&piece);
                            }
                        });
                        if !out.is_empty() {
                            return Some((Ok(Bytes::from(out)), s));
                        }
                    }
                    Ok(Some(Err(e))) => {
                        let _ = exchange.finish(Outcome::UpstreamError, STREAM_STATUS).await;
                        s.exchange = None;
                        return Some((Err(std::io::Error::other(e)), s));
                    }
                    Err(_) => {
                        let _ = exchange
                            .finish(Outcome::UpstreamTimeout, STREAM_STATUS)
                            .await;
                        s.exchange = None;
                        return Some((Err(std::io::Error::other("the upstream went silent")), s));
                    }
                    Ok(None) => {
                        let committed = exchange.finish(Outcome::Completed, STREAM_STATUS).await;
                        s.exchange = None;
                        return match committed {
                            Ok(finished) => {
                                s.gateway.scan_answer(finished);
                                let held = std::mem::take(&mut s.relay).finish();
                                (!held.is_empty()).then(|| (Ok(Bytes::from(held)), s))
                            }
                            Err(e) => {
                                tracing::error!(error = %e, "traffic record not written");
                                Some((Err(std::io::Error::other("traffic record not written")), s))
                            }
                        };
                    }
                }
            }
        });
        let mut response = Response::new(Body::from_stream(body));
        if let Some(ct) = content_type {
            response.headers_mut().insert(header::CONTENT_TYPE, ct);
        }
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert(REQUEST_ID_HEADER, v);
        }
        response
    }
}

/// What a client of a stream was told, whatever came after: the headers said 200.
const STREAM_STATUS: Option<u16> = Some(200);

struct StreamState {
    gateway: Gateway,
    upstream: futures::stream::BoxStream<'static, reqwest::Result<Bytes>>,
    /// Until the record's end is committed.
    exchange: Option<Exchange>,
    relay: SseRelay,
    idle_timeout: Duration,
    stop: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
}

pub(crate) async fn chat_completions(
    State(gw): State<Gateway>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    gw.relay(Kind::Chat, headers, body).await
}

pub(crate) async fn embeddings(
    State(gw): State<Gateway>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    gw.relay(Kind::Embeddings, headers, body).await
}

/// The models of whichever upstream serves this key's traffic now (the direct provider only
/// when the open window bypasses every model of the key).
pub(crate) async fn models(State(gw): State<Gateway>, headers: HeaderMap) -> Response {
    let key_id = match gw.authenticate(&headers).await {
        Ok(id) => id,
        Err(response) => return response,
    };
    let upstream = if gw.0.app.break_glass.bypasses_key(key_id) {
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
    let mut request = gw.0.client.request(Method::GET, upstream.models.clone());
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
