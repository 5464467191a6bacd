//! `GET /metrics`: the Prometheus text format, for operators' dashboards and alerting. Each
//! replica reports its own view; the store's counts (open alerts) are the same everywhere.

use super::{AnyCaller, ApiError};
use crate::state::AppState;
use app::domain::break_glass::Phase;
use app::domain::watcher::RunState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use std::fmt::Write;

pub async fn render(
    State(state): State<AppState>,
    AnyCaller(reader): AnyCaller,
) -> Result<impl IntoResponse, ApiError> {
    let status = state.break_glass.status(&reader)?;
    let watcher = state.watcher.status(&reader)?;
    // A replica that cannot reach the store still reports what it knows; the alert counts,
    // which only the store has, are left out then.
    let open_alerts = app::server::alerts::open_by_severity(&state.pool, &reader)
        .await
        .inspect_err(|e| tracing::warn!(error = %e, "metrics: alert counts unavailable"))
        .unwrap_or_default();
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, samples: &[(&str, f64)]| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    let phase = |p: Phase| f64::from(u8::from(status.state == p));
    metric(
        "breakglass_state",
        "gauge",
        "1 for the break-glass state now in force",
        &[
            ("{state=\"inactive\"}", phase(Phase::Inactive)),
            ("{state=\"requested\"}", phase(Phase::Requested)),
            ("{state=\"active\"}", phase(Phase::Active)),
            ("{state=\"cooling_down\"}", phase(Phase::CoolingDown)),
        ],
    );
    metric(
        "breakglass_drill",
        "gauge",
        "1 while the open window is a drill (nothing is bypassed)",
        &[("", f64::from(u8::from(status.active && status.drill)))],
    );
    metric(
        "breakglass_scoped",
        "gauge",
        "1 while the open window bypasses only some API keys or models",
        &[(
            "",
            f64::from(u8::from(
                status.active
                    && !status.drill
                    && status.scope.as_ref().is_some_and(|s| !s.is_everything()),
            )),
        )],
    );
    metric(
        "breakglass_drill_overdue",
        "gauge",
        "1 when the last drill is older than the policy's interval (or there was none)",
        &[("", f64::from(u8::from(status.drill_overdue)))],
    );
    metric(
        "breakglass_remaining_seconds",
        "gauge",
        "Seconds until an active break-glass window expires",
        &[("", status.remaining_seconds as f64)],
    );
    metric(
        "breakglass_degraded",
        "gauge",
        "1 while this replica has lost its PostgreSQL notification link (activation refused)",
        &[("", f64::from(u8::from((*state.link.borrow()).degraded())))],
    );
    metric(
        "breakglass_event_subscribers",
        "gauge",
        "Open server-sent event streams on this replica",
        &[("", state.events.subscriber_count() as f64)],
    );
    let labels: Vec<String> = open_alerts
        .iter()
        .map(|(severity, _)| format!("{{severity=\"{severity}\"}}"))
        .collect();
    let samples: Vec<(&str, f64)> = labels
        .iter()
        .zip(&open_alerts)
        .map(|(l, (_, n))| (l.as_str(), *n as f64))
        .collect();
    metric(
        "breakglass_unresolved_alerts",
        "gauge",
        "Alerts not resolved yet, by severity",
        &samples,
    );
    metric(
        "breakglass_watcher_running",
        "gauge",
        "1 while the Session Watcher is enabled",
        &[("", f64::from(u8::from(watcher.state == RunState::Running)))],
    );
    for (name, help, value) in [
        (
            "breakglass_watcher_messages_scanned_total",
            "Transcript messages the Session Watcher has scanned",
            watcher.messages_scanned,
        ),
        (
            "breakglass_watcher_bypassed_rescanned_total",
            "Bypassed requests the Session Watcher has rescanned",
            watcher.bypassed_rescanned,
        ),
        (
            "breakglass_watcher_errors_total",
            "Errors the Session Watcher has met since start",
            watcher.error_count,
        ),
    ] {
        metric(name, "counter", help, &[("", value as f64)]);
    }
    for (name, help, value) in [
        (
            "breakglass_watcher_backlog_bytes",
            "Bytes of transcripts not read yet",
            watcher.backlog_bytes,
        ),
        (
            "breakglass_watcher_malformed_lines",
            "Malformed lines in the watched transcripts",
            watcher.malformed_lines,
        ),
        (
            "breakglass_watcher_files",
            "Transcript files watched",
            watcher.files_watched,
        ),
    ] {
        metric(name, "gauge", help, &[("", value as f64)]);
    }
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    ))
}
