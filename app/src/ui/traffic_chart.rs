use crate::domain::time_format;
use crate::domain::traffic::Chart;
use crate::domain::VERDICTS;
use leptos::prelude::*;

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 170.0;
const LEFT: f64 = 36.0;
const BOTTOM: f64 = 18.0;

/// Requests per bucket by verdict as stacked bars, break-glass windows shaded behind them.
#[component]
pub fn TrafficChart(chart: Chart) -> impl IntoView {
    let plot_w = WIDTH - LEFT;
    let plot_h = HEIGHT - BOTTOM;
    let span_ms = (chart.to - chart.from).num_milliseconds().max(1) as f64;
    let x_of = move |t: chrono::DateTime<chrono::Utc>| {
        let f = ((t - chart.from).num_milliseconds() as f64 / span_ms).clamp(0.0, 1.0);
        LEFT + f * plot_w
    };
    let n = chart.buckets.len().max(1) as f64;
    let bar_w = plot_w / n;
    let max = chart
        .buckets
        .iter()
        .map(|b| b.iter().sum::<i64>())
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let windows = chart
        .windows
        .iter()
        .map(|(start, end)| {
            let (x0, x1) = (x_of(*start), x_of(*end));
            view! {
                <rect class="window" x=format!("{x0:.1}") y="0" width=format!("{:.1}", (x1 - x0).max(1.0))
                    height=format!("{plot_h:.1}")>
                    <title>{format!("Break-glass {} – {}", time_format::utc(*start), time_format::utc(*end))}</title>
                </rect>
            }
        })
        .collect_view();
    let bars = chart
        .buckets
        .iter()
        .enumerate()
        .flat_map(|(i, counts)| {
            let mut y = plot_h;
            let x = LEFT + i as f64 * bar_w;
            VERDICTS
                .iter()
                .zip(counts.iter())
                .filter(|(_, c)| **c > 0)
                .map(|(v, c)| {
                    let h = *c as f64 / max * (plot_h - 4.0);
                    y -= h;
                    view! {
                        <rect class=format!("bar-{}", v.as_str().to_lowercase())
                            x=format!("{x:.1}") y=format!("{y:.1}")
                            width=format!("{:.1}", (bar_w * 0.85).max(1.0)) height=format!("{h:.1}")>
                            <title>{format!("{c} {}", v.as_str())}</title>
                        </rect>
                    }
                })
                .collect::<Vec<_>>()
        })
        .collect_view();
    let per = if chart.bucket_minutes == 1 {
        "minute".to_owned()
    } else {
        format!("{} minutes", chart.bucket_minutes)
    };
    view! {
        <figure class="chart" data-testid="traffic-chart">
            <svg viewBox=format!("0 0 {WIDTH} {HEIGHT}") role="img"
                aria-label=format!("Requests per {per} by verdict")>
                {windows}
                {bars}
                <line class="axis" x1=LEFT y1=plot_h x2=WIDTH y2=plot_h/>
                <text class="label" x="2" y="12">{max as i64}</text>
                <text class="label" x="2" y=format!("{plot_h:.0}")>"0"</text>
                <text class="label" x=LEFT y=HEIGHT - 4.0>{time_format::utc(chart.from)}</text>
                <text class="label" x=WIDTH y=HEIGHT - 4.0 text-anchor="end">{time_format::utc(chart.to)}</text>
            </svg>
            <figcaption>
                "Requests per " {per} " by verdict: "
                {VERDICTS.iter().map(|v| view! {
                    <span class=format!("legend legend-{}", v.as_str().to_lowercase())>{v.as_str()}</span>
                }).collect_view()}
                <span class="legend legend-window">"break-glass window"</span>
            </figcaption>
        </figure>
    }
}
