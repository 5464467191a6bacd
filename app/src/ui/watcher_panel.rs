//! The Session Watcher's status and controls, at the top of the Traffic Monitor.

use super::counted;
use super::live::Live;
use crate::domain::time_format;
use crate::domain::watcher::{RunState, WatcherStatus};
use crate::domain::AppError;
use crate::domain::Permission;
use leptos::prelude::*;

#[server]
pub async fn load_watcher_status() -> Result<WatcherStatus, AppError> {
    crate::server::server_fn_result(
        async {
            let watcher = expect_context::<std::sync::Arc<crate::server::watcher::Watcher>>();
            let actor = crate::server::auth::current_actor().await?;
            watcher.status(&crate::domain::Reader::Operator(actor))
        }
        .await,
    )
}

/// `action` is poll_now, set_interval (with `interval_seconds`), enable or disable.
#[server]
pub async fn control_watcher(
    action: String,
    interval_seconds: Option<String>,
) -> Result<WatcherStatus, AppError> {
    crate::server::server_fn_result(
        async {
            let watcher = expect_context::<std::sync::Arc<crate::server::watcher::Watcher>>();
            let actor = crate::server::auth::current_actor().await?;
            let raw =
                crate::domain::watcher::WatcherControlRequest::from_form(action, interval_seconds);
            watcher.control(&actor, raw).await
        }
        .await,
    )
}

#[component]
pub fn WatcherPanel() -> impl IntoView {
    let live = expect_context::<Live>();
    let control = ServerAction::<ControlWatcher>::new();
    let tick = RwSignal::new(0u64);
    Effect::new(move |_| {
        if let Ok(handle) = set_interval_with_handle(
            move || tick.update(|t| *t += 1),
            std::time::Duration::from_secs(5),
        ) {
            on_cleanup(move || handle.clear());
        }
    });
    let status = Resource::new(
        move || (tick.get(), control.version().get()),
        |_| load_watcher_status(),
    );
    let may_control = move || {
        live.me
            .get()
            .is_some_and(|me| me.can(Permission::WatcherControl))
    };
    view! {
        <section class="card watcher" aria-labelledby="watcher-title" data-testid="watcher-panel">
            <h2 id="watcher-title">"Session Watcher"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || status.get().map(|r| match r {
                    Err(e) => view! { <p class="server-error">{e.to_string()}</p> }.into_any(),
                    Ok(s) => view! { <WatcherFacts status=s/> }.into_any(),
                })}
            </Transition>
            <Show when=may_control>
                <div class="watcher-controls">
                    <ActionForm action=control attr:class="inline-form">
                        <input type="hidden" name="action" value="poll_now"/>
                        <button type="submit">"Poll now"</button>
                    </ActionForm>
                    <ActionForm action=control attr:class="inline-form">
                        <input type="hidden" name="action" value="set_interval"/>
                        <label for="watcher-interval">"Interval (s)"</label>
                        <input id="watcher-interval" name="interval_seconds" type="number" min="1" max="60" required size="3"/>
                        <button type="submit">"Set"</button>
                    </ActionForm>
                    {move || {
                        let running = status.get().and_then(|r| r.ok()).is_none_or(|s| s.state == RunState::Running);
                        let (action, label) = if running { ("disable", "Disable") } else { ("enable", "Enable") };
                        view! {
                            <ActionForm action=control attr:class="inline-form">
                                <input type="hidden" name="action" value=action/>
                                <button type="submit">{label}</button>
                            </ActionForm>
                        }
                    }}
                </div>
                {move || control.value().get().and_then(|r| r.err()).map(|e| view! {
                    <p class="server-error" role="alert">{e.to_string()}</p>
                })}
            </Show>
        </section>
    }
}

#[component]
fn WatcherFacts(status: WatcherStatus) -> impl IntoView {
    let running = status.state == RunState::Running;
    view! {
        <p class="status-line" data-testid="watcher-status">
            <span class=if running { "pill ok" } else { "pill warn" }>
                {if running { "RUNNING" } else { "STOPPED" }}
            </span>
            " " {counted(status.files_watched, "file", "files")} " · "
            <span data-testid="watcher-messages">{status.messages_scanned}</span>
            {if status.messages_scanned == 1 { " message scanned · " } else { " messages scanned · " }}
            {counted(status.bypassed_rescanned, "bypassed request", "bypassed requests")} " rescanned · "
            {counted(status.malformed_lines, "malformed line", "malformed lines")} " · every "
            {status.interval_ms / 1000} " s"
            {if status.notifications { " (and on file changes)" } else { "" }}
            " · last scan "
            {status.last_scan_at.map(time_format::utc).unwrap_or_else(|| "not yet".into())}
            {(status.backlog_bytes > 0).then(|| format!(" · {} bytes to read", status.backlog_bytes))}
        </p>
        <p class="muted">"Directory: " <code>{status.directory}</code></p>
        {(!status.errors.is_empty()).then(|| view! {
            <details class="watcher-errors">
                <summary>{counted(status.error_count, "error", "errors")}</summary>
                <ul>
                    {status.errors.into_iter().map(|e| view! {
                        <li>{time_format::utc(e.at)} ": " {e.message}</li>
                    }).collect_view()}
                </ul>
            </details>
        })}
    }
}
