//! Role × route × status, generated from the access tables (`server::access`) and the
//! permission table (`app::domain::PERMISSIONS`): every route, every server function and every
//! page is called as nobody, with an API key, and as each role, and must answer 401, 403 or let the
//! caller through exactly as the rules say. A server function without a rule, or a route or
//! server function without a sample request here, fails the test.

mod support;

use app::domain::{Role, ROLES};
use app::server::clock::ManualClock;
use chrono::Utc;
use serde_json::{json, Value};
use server::access::{server_fn_rule, Access, PAGES, ROUTES};
use support::*;

const PASSWORD: &str = "a long enough password";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Caller {
    Nobody,
    Key,
    Operator(Role),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    Unauthenticated,
    Forbidden,
    Through,
}

fn expected(access: Access, caller: Caller) -> Expect {
    use Expect::*;
    match (access, caller) {
        (Access::Public, _) => Through,
        (Access::LoggedIn, Caller::Operator(_)) => Through,
        // The test's key has every scope; tests/api_keys.rs checks keys without them.
        (Access::LoggedInOrKey(_), Caller::Operator(_) | Caller::Key) => Through,
        (Access::ApiKey(_), Caller::Key) => Through,
        (Access::ApiKey(_), Caller::Operator(_)) => Forbidden,
        (Access::Gateway, Caller::Key) => Through,
        (Access::AllowedOrKey(_, _), Caller::Key) => Through,
        (Access::Allowed(p) | Access::AllowedOrKey(p, _), Caller::Operator(role))
            if role.can(p) =>
        {
            Through
        }
        (Access::Allowed(_) | Access::AllowedOrKey(_, _), Caller::Operator(_)) => Forbidden,
        _ => Unauthenticated,
    }
}

/// What an answer says of the caller's rights: a 403 other than `forbidden` (the activator
/// acknowledging their own window) let the role through and refused for another reason.
fn observed(status: u16, code: &str) -> Expect {
    match (status, code) {
        (401, _) => Expect::Unauthenticated,
        (403, "forbidden") => Expect::Forbidden,
        _ => Expect::Through,
    }
}

async fn answer(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    if status != 403 {
        // Only a refusal's body is read: an event stream that let the caller in never ends.
        return (status, String::new());
    }
    let body: Value = response.json().await.unwrap_or(Value::Null);
    // The JSON API names the code; a server function's error is the serialised `AppError`.
    let code = match (
        body["error"]["code"].as_str(),
        body.get("Forbidden"),
        body.as_str(),
    ) {
        (Some(code), _, _) => code.to_owned(),
        (None, Some(_), _) => "forbidden".to_owned(),
        (None, None, variant) => variant.unwrap_or_default().to_owned(),
    };
    (status, code)
}

struct Ids {
    target_operator: i64,
    spare_key: i64,
}

/// A request for each route: the path with its ids, and a JSON body.
fn route_sample(method: &str, path: &str, ids: &Ids) -> Option<(String, Option<Value>)> {
    let op = ids.target_operator;
    let body = match (method, path) {
        ("POST", "/api/auth/login") => json!({"username": "admin", "password": ADMIN_PASSWORD}),
        ("POST", "/api/auth/password") => {
            json!({"current_password": "not the password", "new_password": "another long password"})
        }
        ("POST", "/api/operators") => {
            json!({"username": "sample-operator", "password": PASSWORD, "role": "viewer"})
        }
        ("POST", "/api/operators/{id}/role") => json!({"role": "viewer"}),
        ("POST", "/api/operators/{id}/password") => json!({"password": "a reset password!"}),
        ("POST", "/api/break-glass/activate") => activation("access table check", 15),
        ("PUT", "/api/break-glass/policy") => json!({"ack_minutes": 15}),
        ("POST", "/api/break-glass/acknowledge")
        | ("POST", "/api/break-glass/approve")
        | ("POST", "/api/break-glass/deny") => json!({"note": "seen in the access test"}),
        ("POST", "/api/break-glass/request") | ("POST", "/api/break-glass/drill") => {
            activation("access table check", 15)
        }
        ("POST", "/api/break-glass/extend") => {
            json!({"reason": "access table check", "minutes": 15})
        }
        ("POST", "/api/shield/scan") => json!({"text": "hello"}),
        ("PUT", "/api/shield/mode") => json!({"mode": "OBSERVE"}),
        ("POST", "/api/keys") => json!({"name": "sample key", "scopes": ["gateway"]}),
        ("POST", "/api/notifications/channels") => json!({
            "name": "sample channel", "kind": "webhook", "url": "https://hooks.example.com/x",
            "secret": "env:SAMPLE_SIGNING_KEY", "topics": ["activation"]
        }),
        ("POST", "/api/proxy/ingest") => {
            json!({"source": "litellm", "verdict": "ALLOW", "score": 0})
        }
        ("POST", "/api/watcher") => json!({"action": "poll_now"}),
        ("POST", "/api/reviews/{id}/sign-off") => json!({"notes": "reviewed in the access test"}),
        ("POST", "/v1/chat/completions") => {
            json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
        }
        ("POST", "/v1/embeddings") => json!({"model": "text-embedding-3-small", "input": "hi"}),
        ("GET", _) | ("POST", _) => json!({}),
        _ => return None,
    };
    let path = if path.starts_with("/api/operators/{id}") {
        path.replace("{id}", &op.to_string())
    } else if path.starts_with("/api/keys/{id}") {
        path.replace("{id}", &ids.spare_key.to_string())
    } else {
        path.replace("{id}", "1")
    };
    Some((path, (method != "GET").then_some(body)))
}

/// The form body of each server function's call.
fn server_fn_sample(name: &str, ids: &Ids) -> Option<String> {
    Some(match name {
        "login" => format!(
            "username=admin&password={}",
            ADMIN_PASSWORD.replace(' ', "+")
        ),
        "change_password" => "current_password=wrong&new_password=another+long+password".into(),
        "create_operator" => {
            "username=fn-operator&password=a+long+enough+password&role=viewer".into()
        }
        "change_operator" => format!("id={}&change=role&value=viewer", ids.target_operator),
        "activate_break_glass" => {
            "reason=access+table+check&duration_minutes=15&confirm=CONFIRM".into()
        }
        "extend_break_glass" => "reason=access+table+check&minutes=15".into(),
        "acknowledge_break_glass" | "approve_break_glass" | "deny_break_glass" => {
            "note=seen+in+the+access+test".into()
        }
        "request_break_glass" | "start_drill" => {
            "reason=access+table+check&duration_minutes=15&confirm=CONFIRM".into()
        }
        "set_policy" => "ack_minutes=15&mode=emergency&approval_minutes=15&drill_days=90".into(),
        "set_shield_mode" => "mode=OBSERVE".into(),
        "create_api_key" => "name=fn+key&gateway=on&expires_at=&rate_limit_per_minute=".into(),
        "revoke_api_key" => format!("id={}", ids.spare_key),
        "add_channel" => "name=fn+channel&kind=webhook&url=https%3A%2F%2Fhooks.example.com%2Fx\
                          &secret=env%3ASAMPLE_KEY&mail_from=&mail_to=&smtp_user=\
                          &topics%5B%5D=activation"
            .into(),
        "remove_channel" | "test_channel" => "id=1".into(),
        "update_alert" => "id=1&action=acknowledge".into(),
        "list_audit" => "action=&actor=&from=&to=&cursor=".into(),
        "list_traffic" | "load_traffic_chart" => "query=".into(),
        "control_watcher" => "action=poll_now".into(),
        "load_review" => "id=1".into(),
        "sign_off_review" => "id=1&notes=reviewed+in+the+access+test".into(),
        "logout"
        | "who_am_i"
        | "logout_everywhere"
        | "list_operators"
        | "deactivate_break_glass"
        | "litellm_outage"
        | "current_shield_mode"
        | "list_api_keys"
        | "list_channels"
        | "list_deliveries"
        | "list_alerts"
        | "list_windows"
        | "load_watcher_status"
        | "load_policy"
        | "scope_keys"
        | "windows_awaiting_review" => String::new(),
        _ => return None,
    })
}

#[tokio::test]
async fn every_route_and_server_function_answers_each_role_as_the_tables_say() {
    let (_dir, db) = fresh_db();
    // LiteLLM at a port nothing listens on: gateway calls that get through answer 502.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let litellm = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let mut s = TestServer::start_with(
        &db,
        ManualClock::new(Utc::now()),
        &[("BREAKGLASS_LITELLM_URL", litellm)],
    )
    .await;
    let admin = s.admin().await;
    for role in ROLES.into_iter().filter(|r| *r != Role::Admin) {
        let res = admin
            .post(s.url("/api/operators"))
            .json(&json!({"username": role.as_str(), "password": PASSWORD, "role": role.as_str()}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
    }
    let target: Value = admin
        .post(s.url("/api/operators"))
        .json(&json!({"username": "target", "password": PASSWORD, "role": "viewer"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = s.create_api_key(&admin, "access test").await;
    let spare: Vec<Value> = {
        s.create_api_key(&admin, "spare").await;
        admin
            .get(s.url("/api/keys"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    };
    let ids = Ids {
        target_operator: target["id"].as_i64().unwrap(),
        spare_key: spare.iter().find(|k| k["name"] == "spare").unwrap()["id"]
            .as_i64()
            .unwrap(),
    };

    let mut callers = vec![Caller::Nobody, Caller::Key];
    callers.extend(ROLES.map(Caller::Operator));
    let client_for = |caller: Caller| {
        let s = &s;
        async move {
            match caller {
                Caller::Operator(Role::Admin) => s.admin().await,
                Caller::Operator(role) => s.logged_in(role.as_str(), PASSWORD).await,
                Caller::Nobody | Caller::Key => s.client(),
            }
        }
    };

    let mut wrong = Vec::new();
    let mut checked = 0;
    for endpoint in ROUTES {
        let Some((path, body)) = route_sample(endpoint.method, endpoint.path, &ids) else {
            panic!(
                "no sample request for {} {}",
                endpoint.method, endpoint.path
            );
        };
        for caller in &callers {
            let client = client_for(*caller).await;
            let method = reqwest::Method::from_bytes(endpoint.method.as_bytes()).unwrap();
            let mut request = client.request(method, s.url(&path));
            if *caller == Caller::Key {
                request = request.bearer_auth(&key);
            }
            if let Some(body) = &body {
                request = request.json(body);
            }
            let (status, code) = answer(request.send().await.unwrap()).await;
            let want = expected(endpoint.access, *caller);
            checked += 1;
            if observed(status, &code) != want {
                wrong.push(format!(
                    "{} {} as {caller:?}: {status}, expected {want:?}",
                    endpoint.method, endpoint.path
                ));
            }
        }
    }

    let mut server_fns: Vec<(&str, reqwest::Method)> =
        leptos::server_fn::axum::server_fn_paths().collect();
    server_fns.sort_by_key(|(p, _)| *p);
    assert!(
        server_fns.len() >= 20,
        "the server functions are registered"
    );
    for (path, method) in server_fns {
        let Some((name, access)) = server_fn_rule(path) else {
            panic!("the server function at {path} has no rule in server::access::SERVER_FNS");
        };
        let Some(body) = server_fn_sample(name, &ids) else {
            panic!("no sample call for the server function {name}");
        };
        for caller in &callers {
            let client = client_for(*caller).await;
            let mut request = client
                .request(method.clone(), s.url(path))
                .header("content-type", "application/x-www-form-urlencoded")
                .header("accept", "application/json")
                .body(body.clone());
            if *caller == Caller::Key {
                request = request.bearer_auth(&key);
            }
            let (status, code) = answer(request.send().await.unwrap()).await;
            let want = expected(access, *caller);
            checked += 1;
            if observed(status, &code) != want {
                wrong.push(format!(
                    "server fn {name} as {caller:?}: {status}, expected {want:?}"
                ));
            }
        }
    }
    // The pages: the router has exactly the table's, and each answers as its rule says (a
    // page sends the caller it does not let through to the login page).
    let mut routed: Vec<String> = leptos_axum::generate_route_list(app::App)
        .iter()
        .map(|r| r.path().to_owned())
        .collect();
    let mut listed: Vec<String> = PAGES.iter().map(|(p, _)| (*p).to_owned()).collect();
    routed.sort();
    listed.sort();
    assert_eq!(routed, listed, "the UI's router and server::access::PAGES");
    for (page, access) in PAGES {
        for caller in &callers {
            let client = client_for(*caller).await;
            let mut request = client.get(s.url(&page.replace("{id}", "1")));
            if *caller == Caller::Key {
                request = request.bearer_auth(&key);
            }
            let res = request.send().await.unwrap();
            let status = match res.status().as_u16() {
                303 if res.headers()["location"] == "/login" => 401,
                status => status,
            };
            let want = expected(*access, *caller);
            checked += 1;
            if observed(status, "forbidden") != want {
                wrong.push(format!(
                    "page {page} as {caller:?}: {status}, expected {want:?}"
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {checked} calls answered wrongly:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    s.stop().await;
}
