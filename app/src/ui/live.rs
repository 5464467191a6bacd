//! One live subscription per tab, shared by the banner and the pages.
//!
//! The tab joins a SharedWorker that holds the browser's single EventSource on `/api/events`,
//! so that any number of tabs use one HTTP connection. Where SharedWorker is missing the tab
//! opens its own EventSource. Times are corrected by the offset between the server's clock and
//! the browser's, measured when each state event arrived.

use crate::domain::alerts::Alert;
use crate::domain::break_glass::BreakGlassStatus;
use crate::domain::AppError;
use crate::domain::Operator;
use leptos::prelude::*;

#[derive(Clone, Copy)]
pub struct Live {
    /// The latest break-glass status; `None` until the stream has delivered one.
    pub status: RwSignal<Option<BreakGlassStatus>>,
    /// Server clock minus browser clock, in milliseconds.
    pub offset_ms: RwSignal<i64>,
    /// The browser's clock, sampled after hydration; `None` during SSR.
    pub now_ms: RwSignal<Option<i64>>,
    pub connected: RwSignal<bool>,
    /// The newest alert pushed by the server.
    pub last_alert: RwSignal<Option<Alert>>,
    pub me: RwSignal<Option<Operator>>,
}

impl Live {
    /// Seconds from the server's now to `until_ms`, rounded up; `None` before hydration.
    pub fn seconds_until(&self, until: chrono::DateTime<chrono::Utc>) -> Option<i64> {
        let now = self.now_ms.get()? + self.offset_ms.get();
        let ms = (until.timestamp_millis() - now).max(0);
        Some((ms + 999) / 1000)
    }
}

#[server]
pub async fn who_am_i() -> Result<Operator, AppError> {
    crate::server::server_fn_result(
        crate::server::auth::current_actor()
            .await
            .map(|a| a.operator),
    )
}

pub fn provide_live() -> Live {
    let live = Live {
        status: RwSignal::new(None),
        offset_ms: RwSignal::new(0),
        now_ms: RwSignal::new(None),
        connected: RwSignal::new(false),
        last_alert: RwSignal::new(None),
        me: RwSignal::new(None),
    };
    provide_context(live);
    // Effects run only in the browser, after hydration.
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        browser::start(live);
    });
    live
}

#[cfg(feature = "hydrate")]
mod browser {
    use super::Live;
    use crate::domain::alerts::Alert;
    use leptos::prelude::*;
    use serde::Deserialize;
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::JsCast;

    /// A message from the shared worker (or the tab's own EventSource).
    #[derive(Deserialize)]
    struct StreamMessage {
        event: String,
        data: String,
        received_at: f64,
    }

    impl Live {
        fn receive(&self, msg: StreamMessage) {
            match msg.event.as_str() {
                "state" => {
                    if let Ok(e) =
                        serde_json::from_str::<crate::domain::events::StateEvent>(&msg.data)
                    {
                        self.now_ms.set(Some(js_sys::Date::now() as i64));
                        self.offset_ms
                            .set(e.status.server_time.timestamp_millis() - msg.received_at as i64);
                        self.status.set(Some(e.status));
                        self.connected.set(true);
                    }
                }
                "alert" => {
                    if let Ok(a) = serde_json::from_str::<Alert>(&msg.data) {
                        self.last_alert.set(Some(a));
                    }
                }
                "connection" => self.connected.set(msg.data == "open"),
                _ => {}
            }
        }
    }

    pub fn start(live: Live) {
        tick_every_second(live);
        leptos::task::spawn_local(async move {
            if let Ok(me) = super::who_am_i().await {
                live.me.set(Some(me));
            }
        });
        if join_shared_worker(live).is_err() {
            open_event_source(live);
        }
    }

    /// Samples the clock four times a second, so that a countdown's second flips within a
    /// quarter second of the true boundary.
    fn tick_every_second(live: Live) {
        live.now_ms.set(Some(js_sys::Date::now() as i64));
        gloo_timers::callback::Interval::new(250, move || {
            live.now_ms.set(Some(js_sys::Date::now() as i64));
        })
        .forget();
    }

    fn join_shared_worker(live: Live) -> Result<(), wasm_bindgen::JsValue> {
        let worker = web_sys::SharedWorker::new("/events-worker.js")?;
        let port = worker.port();
        let on_message =
            Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
                if let Some(text) = e.data().as_string() {
                    if let Ok(msg) = serde_json::from_str::<StreamMessage>(&text) {
                        live.receive(msg);
                    }
                }
            });
        port.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        on_message.forget();
        port.start();
        // Tell the worker when this tab goes, so that it stops writing to a dead port.
        let leaving = port.clone();
        let on_pagehide = Closure::<dyn FnMut()>::new(move || {
            let _ = leaving.post_message(&"leave".into());
        });
        web_sys::window()
            .ok_or("no window")?
            .add_event_listener_with_callback("pagehide", on_pagehide.as_ref().unchecked_ref())?;
        on_pagehide.forget();
        Ok(())
    }

    fn open_event_source(live: Live) {
        let Ok(source) = web_sys::EventSource::new("/api/events") else {
            return;
        };
        for name in ["state", "alert"] {
            let on_event = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(
                move |e: web_sys::MessageEvent| {
                    live.receive(StreamMessage {
                        event: name.to_owned(),
                        data: e.data().as_string().unwrap_or_default(),
                        received_at: js_sys::Date::now(),
                    });
                },
            );
            let _ =
                source.add_event_listener_with_callback(name, on_event.as_ref().unchecked_ref());
            on_event.forget();
        }
        let on_error = Closure::<dyn FnMut()>::new(move || live.connected.set(false));
        source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        on_error.forget();
    }
}
