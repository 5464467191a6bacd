use crate::error::AppError;
use crate::time_format;
use crate::traffic::TrafficRecord;
use leptos::prelude::*;

#[server]
pub async fn list_traffic() -> Result<Vec<TrafficRecord>, AppError> {
    crate::server_fn_result(
        async {
            crate::auth::current_actor().await?;
            let state = expect_context::<crate::state::AppState>();
            Ok(crate::traffic::recent(&state.pool, 200).await?)
        }
        .await,
    )
}

/// The newest traffic records, including the BYPASSED ones of break-glass windows.
#[component]
pub fn TrafficPage() -> impl IntoView {
    let records = Resource::new(|| (), |_| list_traffic());
    view! {
        <h1>"Traffic Monitor"</h1>
        <Transition fallback=|| view! { <p class="muted">"Loading traffic…"</p> }>
            {move || records.get().map(|r| match r {
                Err(e) => view! { <p class="server-error">{e.to_string()}</p> }.into_any(),
                Ok(list) if list.is_empty() => view! {
                    <p class="muted">"No LLM traffic has been recorded yet."</p>
                }.into_any(),
                Ok(list) => view! {
                    <table class="table" data-testid="traffic-table">
                        <thead><tr>
                            <th>"Time"</th><th>"Source"</th><th>"Model"</th><th>"Provider"</th>
                            <th>"Verdict"</th><th>"Score"</th><th>"Latency"</th><th>"Tokens"</th><th>"Status"</th>
                        </tr></thead>
                        <tbody>
                            {list.into_iter().map(|t| view! {
                                <tr>
                                    <td class="nowrap">{time_format::utc(t.at)}</td>
                                    <td>{t.source}</td>
                                    <td>{t.model}</td>
                                    <td>{t.provider}</td>
                                    <td><span class=format!("pill verdict-{}", t.verdict.as_str().to_lowercase())>{t.verdict.as_str()}</span></td>
                                    <td>{t.score}</td>
                                    <td>{t.latency_ms.map(|ms| format!("{ms} ms"))}</td>
                                    <td>{match (t.tokens_in, t.tokens_out) {
                                        (None, None) => String::new(),
                                        (i, o) => format!("{} / {}", i.unwrap_or(0), o.unwrap_or(0)),
                                    }}</td>
                                    <td>{t.http_status}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any(),
            })}
        </Transition>
    }
}
