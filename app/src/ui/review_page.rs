//! The review of an ended break-glass window, and the list of windows waiting for one.

use super::counted;
use super::live::Live;
use crate::domain::break_glass::AwaitingReview;
use crate::domain::review::{Finding, Review};
use crate::domain::time_format;
use crate::domain::AppError;
use crate::domain::Permission;
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

#[server]
pub async fn load_review(id: i64) -> Result<Review, AppError> {
    crate::server::server_fn_result(
        async {
            let reviews = expect_context::<crate::server::review::Reviews>();
            let actor = crate::server::auth::current_actor().await?;
            reviews.load(&actor, id).await
        }
        .await,
    )
}

#[server]
pub async fn sign_off_review(id: i64, notes: String) -> Result<Review, AppError> {
    crate::server::server_fn_result(
        async {
            let reviews = expect_context::<crate::server::review::Reviews>();
            let actor = crate::server::auth::current_actor().await?;
            let notes = crate::domain::review::ReviewNotes::parse(&notes)?;
            reviews.sign_off(&actor, id, &notes).await
        }
        .await,
    )
}

#[server]
pub async fn windows_awaiting_review() -> Result<Vec<AwaitingReview>, AppError> {
    crate::server::server_fn_result(
        async {
            let reviews = expect_context::<crate::server::review::Reviews>();
            let actor = crate::server::auth::current_actor().await?;
            reviews.awaiting(&actor).await
        }
        .await,
    )
}

#[component]
pub fn ReviewPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").and_then(|v| v.parse::<i64>().ok());
    let sign_off = ServerAction::<SignOffReview>::new();
    // Reload after a successful sign-off only: a refused one keeps the form and its text.
    let signed = move || sign_off.value().with(|v| matches!(v, Some(Ok(_))));
    let review = Resource::new(
        move || (id(), signed()),
        |(id, _)| async move {
            match id {
                Some(id) => load_review(id).await,
                None => Err(AppError::NotFound(
                    "No such window: its id is not a number".into(),
                )),
            }
        },
    );
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading the review…"</p> }>
            {move || review.get().map(|r| match r {
                Err(e) => view! { <h1>"Review"</h1><p class="server-error" role="alert">{e.to_string()}</p> }.into_any(),
                Ok(review) => view! { <ReviewReport review sign_off/> }.into_any(),
            })}
        </Transition>
    }
}

#[component]
fn ReviewReport(review: Review, sign_off: ServerAction<SignOffReview>) -> impl IntoView {
    let w = review.window.clone();
    let p = review.progress.clone();
    let caught_up = p.caught_up(w.ended_at);
    let how = if w.end_kind == crate::domain::break_glass::EndKind::Deactivated {
        format!("deactivated by {}", w.ended_by)
    } else {
        "expired".to_owned()
    };
    let blocks = review.count(crate::domain::Verdict::Block);
    let reviews = review.count(crate::domain::Verdict::Review);
    let id = w.id;
    view! {
        <h1>{if w.drill { "Break-glass drill #" } else { "Break-glass window #" }} {id} " review"</h1>
        <div class="cards">
        <section class="card" data-testid="review-window">
            <Show when=move || w.drill>
                <p data-testid="review-drill"><span class="pill drill">"Drill"</span>
                    " A rehearsal: the procedure ran and nothing was bypassed."</p>
            </Show>
            <dl class="facts">
                <dt>"Activated by"</dt><dd>{w.activated_by.clone()}</dd>
                <dt>"Scope"</dt><dd data-testid="review-scope">{w.scope.clone()}</dd>
                <dt>"From"</dt><dd>{time_format::utc(w.activated_at)}</dd>
                <dt>"To"</dt><dd>{time_format::utc(w.ended_at)} " (" {how} ")"</dd>
                <dt>"Duration"</dt><dd>{w.duration_minutes} " minutes"</dd>
                <dt>"Reason"</dt><dd><q class="reason">{w.reason.clone()}</q></dd>
                {w.approval.clone().map(|a| view! {
                    <dt>"Approved"</dt>
                    <dd data-testid="review-approval">
                        {a.approved_by} ", " {time_format::utc(a.approved_at)}
                        " (requested by " {a.requested_by} " at " {time_format::utc(a.requested_at)} ")"
                        {a.overrides_review_of.map(|id| format!(
                            "; an override: window #{id} had not been reviewed"
                        ))}
                        " — " <q class="reason">{a.note}</q>
                    </dd>
                })}
                <dt>"Acknowledged"</dt>
                <dd data-testid="review-acknowledged">
                    {match w.acknowledged.clone() {
                        Some(a) => view! {
                            {a.by} ", " {time_format::utc(a.at)}
                            {w.ack_overdue.then_some(" (late: escalated)")} " — "
                            <q class="reason">{a.notes}</q>
                        }.into_any(),
                        None => view! {
                            <span class="pill danger">
                                {if w.ack_overdue { "Never (escalated)" } else { "Never" }}
                            </span>
                        }.into_any(),
                    }}
                </dd>
                {(!w.extensions.is_empty()).then(|| view! {
                    <dt>"Extended"</dt>
                    <dd data-testid="review-extensions">
                        <ul class="extensions">
                            {w.extensions.iter().map(|e| view! {
                                <li>
                                    {time_format::utc(e.at)} " by " {e.by.clone()} ": "
                                    {e.minutes} " minutes more, to " {time_format::utc(e.expires_after)}
                                    " — " <q class="reason">{e.reason.clone()}</q>
                                </li>
                            }).collect_view()}
                        </ul>
                    </dd>
                })}
                <dt>"Unscanned requests"</dt><dd data-testid="review-unscanned">{w.unscanned_count}</dd>
            </dl>
        </section>
        <section class="card" aria-labelledby="progress-title" data-testid="review-progress">
            <h2 id="progress-title">"Session Watcher progress"</h2>
            <p>
                <span class=if caught_up { "pill ok" } else { "pill warn" }>
                    {if caught_up { "Caught up" } else { "Still scanning" }}
                </span>
                " " {counted(p.messages_scanned, "transcript message", "transcript messages")}
                " from the window scanned; "
                {p.bypassed_rescanned} " of " {counted(p.bypassed, "bypassed request", "bypassed requests")}
                " rescanned ("
                {p.bypassed_pending()} " pending"
                {(p.bypassed_without_text > 0).then(|| format!(", {} without kept text", p.bypassed_without_text))}
                ")."
                {(p.backlog_bytes > 0).then(|| format!(" {} bytes of transcripts still to read.", p.backlog_bytes))}
            </p>
            <p>
                <a href=review.traffic_link() data-testid="review-traffic-link">
                    "Open the Traffic Monitor for the window (Session Watcher records)"
                </a>
                " · Export: "
                <a href=format!("/api/reviews/{id}/report.md") download>"Markdown"</a>
                " · "
                <a href=format!("/api/reviews/{id}/report.json") download>"JSON"</a>
            </p>
        </section>
        <section class="card wide" aria-labelledby="findings-title">
            <h2 id="findings-title">"Findings: " {blocks} " BLOCK, " {reviews} " REVIEW"</h2>
            {if review.findings.is_empty() {
                view! { <p class="muted" data-testid="no-findings">"No BLOCK or REVIEW findings in the window so far."</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap"><table class="table" data-testid="findings-table">
                        <thead><tr>
                            <th>"Time"</th><th>"Verdict"</th><th>"Score"</th><th>"What"</th><th>"Rules"</th><th>"Text"</th>
                        </tr></thead>
                        <tbody>
                            {review.findings.into_iter().map(|f| view! { <FindingRow finding=f/> }).collect_view()}
                        </tbody>
                    </table></div>
                }.into_any()
            }}
        </section>
        <SignOffCard window=w sign_off/>
        </div>
    }
}

#[component]
fn FindingRow(finding: Finding) -> impl IntoView {
    let r = finding.record;
    let what = match (r.rescan_of, r.direction.clone()) {
        (Some(_), _) => format!(
            "Bypassed request {}",
            r.request_id.clone().unwrap_or_default()
        ),
        (None, direction) => format!(
            "Session {} message {} ({})",
            r.session_id.clone().unwrap_or_default(),
            r.request_id.clone().unwrap_or_default(),
            direction.unwrap_or_default()
        ),
    };
    let rules: Vec<String> = r.detections.iter().map(|d| d.rule.clone()).collect();
    view! {
        <tr class=format!("verdict-{}", r.verdict.as_str().to_lowercase())>
            <td class="nowrap">{time_format::utc(r.at)}</td>
            <td><span class=format!("pill verdict-{}", r.verdict.as_str().to_lowercase())>{r.verdict.as_str()}</span></td>
            <td>{r.score}</td>
            <td>{what}</td>
            <td>{rules.join(", ")}</td>
            <td><pre class="excerpt">{finding.excerpt}</pre></td>
        </tr>
    }
}

#[component]
fn SignOffCard(
    window: crate::domain::break_glass::EndedWindow,
    sign_off: ServerAction<SignOffReview>,
) -> impl IntoView {
    let live = expect_context::<Live>();
    let activated_by = window.activated_by.clone();
    let own = {
        let activated_by = activated_by.clone();
        move || live.me.get().is_some_and(|me| me.username == activated_by)
    };
    let may_sign = move || {
        live.me
            .get()
            .is_some_and(|me| me.can(Permission::BreakGlassReview) && me.username != activated_by)
    };
    let id = window.id;
    view! {
        <section class="card" aria-labelledby="sign-off-title" data-testid="review-sign-off">
            <h2 id="sign-off-title">"Sign-off"</h2>
            {match window.reviewed {
                Some(s) => view! {
                    <p><span class="pill ok">"Reviewed"</span> " by " <strong>{s.by}</strong> " at " {time_format::utc(s.at)}</p>
                    <pre class="notes" data-testid="review-notes">{s.notes}</pre>
                }.into_any(),
                None => view! {
                    <Show when=may_sign fallback=move || view! {
                        <p class="muted">
                            {if own() {
                                "Not reviewed yet. You opened this window: another operator signs off its review."
                            } else {
                                "Not reviewed yet. Your role cannot sign off reviews."
                            }}
                        </p>
                    }>
                        <ActionForm action=sign_off>
                            <input type="hidden" name="id" value=id/>
                            <label for="review-notes">"Incident notes (at least 10 characters)"</label>
                            <textarea id="review-notes" name="notes" rows="5" maxlength="10000"></textarea>
                            <button type="submit">"Mark reviewed"</button>
                        </ActionForm>
                        {move || sign_off.value().get().and_then(|r| r.err()).map(|e| view! {
                            <p class="server-error" role="alert">{e.to_string()}</p>
                        })}
                    </Show>
                }.into_any(),
            }}
        </section>
    }
}

/// On the Break-Glass card: the ended windows that nobody has reviewed yet.
#[component]
pub fn AwaitingReviews() -> impl IntoView {
    let live = expect_context::<Live>();
    let may_read = move || {
        live.me
            .get()
            .is_some_and(|me| me.can(Permission::AuditRead))
    };
    let awaiting = Resource::new(
        move || live.status.get().map(|s| s.state),
        |_| windows_awaiting_review(),
    );
    view! {
        <Show when=may_read>
            <Transition fallback=|| ()>
                {move || awaiting.get().and_then(|r| r.ok()).map(|list| {
                    let (drills, windows): (Vec<_>, Vec<_>) = list.into_iter().partition(|w| w.drill);
                    [("Waiting for review", "awaiting-review", windows), ("Drills waiting for review", "awaiting-drill-review", drills)]
                        .into_iter()
                        .filter(|(_, _, l)| !l.is_empty())
                        .map(|(title, testid, list)| view! {
                            <div class="awaiting-review" data-testid=testid>
                                <h3>{title}</h3>
                                <ul>
                                    {list.into_iter().map(|w| view! {
                                        <li>
                                            <a href=crate::domain::break_glass::review_path(w.id)>
                                                {if w.drill { "Drill #" } else { "Window #" }} {w.id}
                                            </a>
                                            " by " {w.activated_by} ", " {time_format::utc(w.activated_at)} " to "
                                            {time_format::utc(w.ended_at)} ": " {w.unscanned_count} " unscanned"
                                        </li>
                                    }).collect_view()}
                                </ul>
                            </div>
                        })
                        .collect_view()
                })}
            </Transition>
        </Show>
    }
}
