use super::shield_settings::current_shield_mode;
use super::traffic_chart::TrafficChart;
use super::watcher_panel::WatcherPanel;
use crate::domain::break_glass::WindowPick;
use crate::domain::time_format;
use crate::domain::traffic::{Chart, TrafficFilter, TrafficPage, TrafficRecord, OUTCOMES, SOURCES};
use crate::domain::AppError;
use crate::domain::VERDICTS;
use leptos::prelude::*;
use leptos_router::components::{Form, A};
use leptos_router::hooks::use_query_map;

#[server]
pub async fn list_traffic(query: String) -> Result<TrafficPage, AppError> {
    crate::server::server_fn_result(
        async {
            let pool = expect_context::<crate::server::database::Pool>();
            let actor = crate::server::auth::current_actor().await?;
            let filter = crate::server::traffic::filter_from_query(&query)?;
            crate::server::traffic::page(&pool, &actor, &filter).await
        }
        .await,
    )
}

#[server]
pub async fn load_traffic_chart(query: String) -> Result<Chart, AppError> {
    crate::server::server_fn_result(
        async {
            let pool = expect_context::<crate::server::database::Pool>();
            let clock = expect_context::<crate::server::clock::SharedClock>();
            let actor = crate::server::auth::current_actor().await?;
            let filter = crate::server::traffic::filter_from_query(&query)?;
            crate::server::traffic::chart(&pool, &actor, &filter, clock.now()).await
        }
        .await,
    )
}

/// Past break-glass windows, newest first, for the time-range quick pick.
#[server]
pub async fn list_windows() -> Result<Vec<WindowPick>, AppError> {
    crate::server::server_fn_result(
        async {
            let pool = expect_context::<crate::server::database::Pool>();
            let actor = crate::server::auth::current_actor().await?;
            crate::server::break_glass::recent_windows(&pool, &actor, 20).await
        }
        .await,
    )
}

/// A time bound from the URL as the `datetime-local` input shows it (UTC, whole seconds).
fn shown_instant(raw: String) -> String {
    match time_format::parse_instant(crate::domain::Field::From, &raw) {
        Ok(Some(t)) => time_format::local_input(t),
        _ => raw,
    }
}

#[component]
pub fn TrafficPage() -> impl IntoView {
    let query = use_query_map();
    let query_string = move || query.with(|q| q.to_query_string());
    let param = move |k: &str| query.with(|q| q.get(k).unwrap_or_default());
    // New rows appear on their own: the first page refreshes every 5 seconds.
    let tick = RwSignal::new(0u64);
    Effect::new(move |_| {
        if let Ok(handle) = set_interval_with_handle(
            move || {
                if untrack(move || param("cursor")).is_empty() {
                    tick.update(|t| *t += 1);
                }
            },
            std::time::Duration::from_secs(5),
        ) {
            on_cleanup(move || handle.clear());
        }
    });
    let page = Resource::new(
        move || (query_string(), tick.get()),
        |(q, _)| list_traffic(q),
    );
    let chart = Resource::new(
        move || (query_string(), tick.get()),
        |(q, _)| load_traffic_chart(q),
    );
    let windows = Resource::new(|| (), |_| list_windows());
    let current = move || TrafficFilter::parse(|k| Some(param(k))).unwrap_or_default();

    let mode = Resource::new(|| (), |_| current_shield_mode());
    view! {
        <h1>"Traffic Monitor"</h1>
        <Transition fallback=|| ()>
            {move || mode.get().and_then(|r| r.ok()).map(|m| view! {
                <p class="status-line" data-testid="shield-status">
                    "Shield status: " <strong>{m.as_str()}</strong>
                    {match m {
                        crate::domain::shield::ShieldMode::Observe => " — verdicts recorded, nothing refused",
                        crate::domain::shield::ShieldMode::Block => " — BLOCK verdicts refused",
                    }}
                </p>
            })}
        </Transition>
        <WatcherPanel/>
        <Form method="GET" action="" attr:class="filters" attr:data-testid="traffic-filters">
            <label>"Source "
                <select name="source" prop:value=move || param("source")>
                    <option value="">"All"</option>
                    {SOURCES.into_iter().map(|s| view! { <option value=s>{s}</option> }).collect_view()}
                </select>
            </label>
            <label>"Model " <input name="model" prop:value=move || param("model")/></label>
            <label>"Provider " <input name="provider" prop:value=move || param("provider")/></label>
            <label>"Verdict "
                <select name="verdict" prop:value=move || param("verdict")>
                    <option value="">"All"</option>
                    {VERDICTS.into_iter().map(|v| view! { <option value=v.as_str()>{v.as_str()}</option> }).collect_view()}
                </select>
            </label>
            <label>"Outcome "
                <select name="outcome" prop:value=move || param("outcome")>
                    <option value="">"All"</option>
                    {OUTCOMES.into_iter().map(|o| view! { <option value=o.as_str()>{o.label()}</option> }).collect_view()}
                </select>
            </label>
            <label>"Min score " <input name="min_score" inputmode="numeric" size="4" prop:value=move || param("min_score")/></label>
            <label>"From (UTC) " <input type="datetime-local" step="1" name="from" prop:value=move || shown_instant(param("from"))/></label>
            <label>"To (UTC) " <input type="datetime-local" step="1" name="to" prop:value=move || shown_instant(param("to"))/></label>
            <label>"Sort "
                <select name="sort" prop:value=move || param("sort")>
                    <option value="">"Time"</option>
                    <option value="score">"Score"</option>
                </select>
            </label>
            <button type="submit">"Filter"</button>
            <A href="/traffic">"Clear"</A>
        </Form>
        <Transition fallback=|| ()>
            {move || windows.get().and_then(|r| r.ok()).filter(|w| !w.is_empty()).map(|list| view! {
                <p class="window-picks" data-testid="window-picks">"Break-glass windows: "
                    {list.into_iter().map(|pick| {
                        let people = pick.people();
                        let w = pick.window;
                        let to = pick.ended_at.unwrap_or(w.expires_at);
                        let href = format!(
                            "/traffic?source=break-glass&from={}&to={}",
                            time_format::local_input(w.activated_at),
                            time_format::local_input(to),
                        );
                        view! {
                            <A href=href>{time_format::utc(w.activated_at)}" – "{time_format::utc(to)}" ("{people}")"</A>
                        }
                    }).collect_view()}
                </p>
            })}
        </Transition>
        <Transition fallback=|| ()>
            {move || chart.get().and_then(|r| r.ok()).map(|c| view! { <TrafficChart chart=c/> })}
        </Transition>
        <Transition fallback=|| view! { <p class="muted">"Loading traffic…"</p> }>
            {move || page.get().map(|r| match r {
                Err(e) => view! { <p class="server-error" role="alert" data-testid="traffic-error">{e.to_string()}</p> }.into_any(),
                Ok(p) => view! { <TrafficTable page=p filter=current()/> }.into_any(),
            })}
        </Transition>
    }
}

#[component]
fn TrafficTable(page: TrafficPage, filter: TrafficFilter) -> impl IntoView {
    let export = format!("/api/traffic.csv?{}", filter.to_query(false));
    let next = page.next_cursor.clone().map(|c| {
        let mut f = filter.clone();
        f.cursor = crate::domain::traffic::Cursor::decode(&c, f.sort).ok();
        format!("/traffic?{}", f.to_query(true))
    });
    let first = filter
        .cursor
        .is_some()
        .then(|| format!("/traffic?{}", filter.to_query(false)));
    if page.records.is_empty() {
        return view! { <p class="muted" data-testid="traffic-empty">"No traffic matches these filters."</p> }.into_any();
    }
    view! {
        <div class="table-wrap"><table class="table" data-testid="traffic-table">
            <thead><tr>
                <th>"Time"</th><th>"Source"</th><th>"Model"</th><th>"Provider"</th>
                <th>"Verdict"</th><th>"Outcome"</th><th>"Score"</th><th>"Latency"</th><th>"Tokens"</th><th>"Status"</th>
            </tr></thead>
            <tbody>
                {page.records.into_iter().map(|t| view! { <TrafficRow record=t/> }).collect_view()}
            </tbody>
        </table></div>
        <p class="pager">
            {first.map(|href| view! { <A href=href>"← Newest"</A> })}
            {next.map(|href| view! { <A href=href>"Older →"</A> })}
            <a href=export download>"Export CSV"</a>
        </p>
    }
    .into_any()
}

/// A row that opens to show what the shield matched.
#[component]
fn TrafficRow(record: TrafficRecord) -> impl IntoView {
    let open = RwSignal::new(false);
    let t = record;
    let detections = t.detections.clone();
    let coverage = t.scan_coverage.clone();
    let answer = t.response_scan.clone();
    view! {
        <tr class="traffic-row" on:click=move |_| open.update(|o| *o = !*o) title="Show the detections">
            <td class="nowrap">{time_format::utc(t.at)}</td>
            <td>{t.source}</td>
            <td>{t.model}</td>
            <td>{t.provider}</td>
            <td><span class=format!("pill verdict-{}", t.verdict.as_str().to_lowercase())>{t.verdict.as_str()}</span></td>
            <td class=t.outcome.map(|o| format!("outcome-{}", o.as_str()))>{t.outcome.map(|o| o.label())}</td>
            <td>{t.score}</td>
            <td>{t.latency_ms.map(|ms| format!("{ms} ms"))}</td>
            <td>{match (t.tokens_in, t.tokens_out) {
                (None, None) => String::new(),
                (i, o) => format!("{} / {}", i.unwrap_or(0), o.unwrap_or(0)),
            }}</td>
            <td>{t.http_status}</td>
        </tr>
        <Show when=move || open.get()>
            <tr class="traffic-detail">
                <td colspan="10">
                    <div>"Request " <code>{t.request_id.clone()}</code>
                        {t.session_id.clone().map(|s| view! { " · session " <code>{s}</code> })}
                        {t.direction.clone().map(|d| view! { " · " {d} " message" })}
                        {t.rescan_of.map(|id| view! { " · after-the-fact scan of bypassed record #" {id} })}
                        {t.text_truncated.then_some(" · kept text truncated at 1 MiB")}
                    </div>
                    <div class="scan-coverage">{match &coverage {
                        Some(c) => format!("Scanned by {}", c.summary()),
                        None => "Not scanned by the shield".to_owned(),
                    }}</div>
                    <DetectionList detections=detections.clone() none="Nothing found: no rule matched and the model flagged nothing."/>
                    <div class="scan-coverage">{match &answer {
                        Some(a) => format!(
                            "The model's answer, scanned after it went out: {} (score {})",
                            a.verdict.as_str(),
                            a.score
                        ),
                        None => "The model's answer was not scanned".to_owned(),
                    }}</div>
                    {answer.clone().map(|a| view! {
                        <DetectionList detections=a.detections none="Nothing found in the answer: no rule matched and the model flagged nothing."/>
                    })}
                </td>
            </tr>
        </Show>
    }
}

/// What the shield found: a row per rule that matched and for the model's finding, or `none`
/// when there is nothing.
#[component]
fn DetectionList(
    detections: Vec<crate::domain::shield::Detection>,
    none: &'static str,
) -> impl IntoView {
    if detections.is_empty() {
        return view! { <p class="muted">{none}</p> }.into_any();
    }
    view! {
        <table class="table inner">
            <thead><tr><th>"Rule"</th><th>"Category"</th><th>"Severity"</th><th>"Matches"</th><th>"Revealed by"</th><th>"Weighed most"</th></tr></thead>
            <tbody>
                {detections.into_iter().map(|d| view! {
                    <tr><td><code>{d.rule}</code></td><td>{d.category}</td>
                        <td>{d.severity.as_str()}</td><td>{d.matches}</td>
                        <td>{d.revealed_by.unwrap_or_else(|| "the text as sent".into())}</td>
                        <td class="features">{d.features.join(" · ")}</td></tr>
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}
