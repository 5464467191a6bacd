//! Guards in front of every route: login for pages, same-origin for cookie-authenticated
//! writes, and security headers on every response.

use super::ApiError;
use crate::access::Access;
use crate::state::AppState;
use app::domain::AppError;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;

/// The pages and their rules (`access::PAGES`), as path patterns (`/reviews/{id}`). The static
/// assets are not pages.
#[derive(Clone, Debug)]
pub struct Pages(std::sync::Arc<[(Vec<String>, Access)]>);

impl Pages {
    pub fn new(table: &[(&str, Access)]) -> Self {
        Self(
            table
                .iter()
                .map(|(path, access)| (path.split('/').map(str::to_owned).collect(), *access))
                .collect(),
        )
    }

    /// The rule of the page at `path`: each segment as the pattern's, or any non-empty segment
    /// where the pattern has a parameter.
    pub fn rule(&self, path: &str) -> Option<Access> {
        let segments: Vec<&str> = path.split('/').collect();
        self.0
            .iter()
            .find(|(pattern, _)| {
                pattern.len() == segments.len()
                    && pattern.iter().zip(&segments).all(|(p, s)| {
                        p == s || (!s.is_empty() && (p.starts_with('{') || p.starts_with(':')))
                    })
            })
            .map(|(_, access)| *access)
    }
}

/// A page needs what its rule says: a session (else a redirect to the login page), and the
/// permission if the rule names one.
pub async fn pages_need_login(
    State((state, pages)): State<(AppState, Pages)>,
    req: Request,
    next: Next,
) -> Response {
    let rule = match req.method() {
        &Method::GET => pages.rule(req.uri().path()),
        _ => None,
    };
    if let Some(access) = rule.filter(|a| *a != Access::Public) {
        match state.sessions.actor_from_headers(req.headers(), None).await {
            Ok(actor) => {
                if let Access::Allowed(p) | Access::AllowedOrKey(p, _) = access {
                    if let Err(e) = actor.require(p) {
                        return ApiError(e).into_response();
                    }
                }
            }
            Err(AppError::Unauthorized) => return Redirect::to("/login").into_response(),
            Err(e) => return ApiError(e).into_response(),
        }
    }
    next.run(req).await
}

/// A write that carries a cookie must come from this origin: its `Origin` header names this
/// host (or, without `Origin` or with `Origin: null`, `Sec-Fetch-Site` says same-origin). This stops cross-site
/// requests from riding an operator's session. A login carries no cookie yet but sets one, so
/// it gets the same check (login CSRF: a foreign page logging the operator's browser in as
/// someone else); only a login with neither header, which no browser sends, is a script's and
/// passes. The gateway (`/v1/`) is exempt: it ignores cookies and authenticates by
/// `Authorization: Bearer`, which a cross-site page cannot set.
pub async fn same_origin_writes(req: Request, next: Next) -> Response {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let path = req.uri().path();
    let cookie_authenticated = !path.starts_with("/v1/");
    let login = path == "/api/auth/login"
        || crate::access::server_fn_rule(path).is_some_and(|(name, _)| name == "login");
    if safe || !cookie_authenticated || !(login || req.headers().contains_key(header::COOKIE)) {
        return next.run(req).await;
    }
    let headers = req.headers();
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    // A page under `Referrer-Policy: no-referrer` (ours) sends `Origin: null` with a plain form
    // post; then `Sec-Fetch-Site` tells where it came from.
    let origin = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .filter(|o| *o != "null");
    let same_origin = match origin {
        Some(origin) => {
            let origin_host = origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"));
            origin_host.is_some() && origin_host == host
        }
        None => match headers.get("sec-fetch-site") {
            Some(site) => site.as_bytes() == b"same-origin",
            None => login && !headers.contains_key(header::COOKIE),
        },
    };
    if same_origin {
        next.run(req).await
    } else {
        (
            StatusCode::FORBIDDEN,
            Json(serde_json::json!({"error": {
                "code": "cross_origin",
                "message": "Refused a cross-origin write: the Origin header must name this server",
            }})),
        )
            .into_response()
    }
}

pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("x-frame-options", "DENY"),
        ("content-security-policy", "frame-ancestors 'none'"),
    ] {
        headers
            .entry(name)
            .or_insert_with(|| HeaderValue::from_static(value));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::Pages;

    #[test]
    fn pages_match_their_patterns_and_nothing_else() {
        use crate::access::Access::{LoggedIn, Public};
        let pages = Pages::new(&[
            ("/", LoggedIn),
            ("/configuration", LoggedIn),
            ("/reviews/{id}", LoggedIn),
            ("/login", Public),
        ]);
        for page in ["/", "/configuration", "/reviews/7", "/reviews/abc"] {
            assert_eq!(pages.rule(page), Some(LoggedIn), "{page}");
        }
        assert_eq!(pages.rule("/login"), Some(Public));
        for other in [
            "/reviews/",
            "/reviews",
            "/reviews/7/report",
            "/configuration/x",
            "/pkg/app.wasm",
            "/favicon.ico",
        ] {
            assert_eq!(pages.rule(other), None, "{other}");
        }
    }
}
