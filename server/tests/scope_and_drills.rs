//! Scoped windows and drills, end to end: a real server, real stub upstreams, the real
//! gateway, on SQLite (and on PostgreSQL when `TEST_STORE=postgres`).
//!
//! Precedence, as `domain::break_glass::scope` states it: a request is bypassed when its key
//! is one of the window's keys (or the window names none) and its model is one of the
//! window's models (or the window names none). Everything else is scanned and sent to LiteLLM.

mod support;

use app::server::clock::ManualClock;
use chrono::{TimeDelta, Utc};
use sqlx::Row;
use std::sync::Arc;
use support::upstream::Upstream;
use support::*;

struct Setup {
    server: TestServer,
    clock: Arc<ManualClock>,
    litellm: Upstream,
    direct: Upstream,
    admin: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let (dir, db) = fresh_db();
    let litellm = Upstream::start("litellm").await;
    let direct = Upstream::start("provider").await;
    let clock = ManualClock::new(Utc::now());
    let server = start(&db, &clock, &litellm, &direct).await;
    let admin = server.admin().await;
    Setup {
        server,
        clock,
        litellm,
        direct,
        admin,
        _dir: dir,
    }
}

async fn start(
    db: &std::path::Path,
    clock: &Arc<ManualClock>,
    litellm: &Upstream,
    direct: &Upstream,
) -> TestServer {
    TestServer::start_with(
        db,
        clock.clone(),
        &[
            ("BREAKGLASS_LITELLM_URL", litellm.url.clone()),
            ("BREAKGLASS_BYPASS_URL", direct.url.clone()),
        ],
    )
    .await
}

impl Setup {
    /// Stops the server and starts another on the same database, as after a crash or a
    /// deploy; logs the admin in again.
    async fn restart(&mut self) {
        self.server.stop().await;
        let db = self.server.db_path.clone();
        self.server = start(&db, &self.clock, &self.litellm, &self.direct).await;
        self.admin = self.server.admin().await;
    }

    /// A gateway key named `name`, and its id as the scope names it.
    async fn key(&self, name: &str) -> (String, i64) {
        let secret = self
            .server
            .create_key_with(
                &self.admin,
                serde_json::json!({"name": name, "scopes": ["gateway"]}),
            )
            .await;
        let offered: Vec<serde_json::Value> =
            get_json(&self.admin, self.server.url("/api/break-glass/scope-keys")).await;
        let id = offered
            .iter()
            .find(|k| {
                k["name"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("{name} (bgk_"))
            })
            .unwrap_or_else(|| panic!("{name} is offered: {offered:?}"))["id"]
            .as_i64()
            .unwrap();
        (secret, id)
    }

    /// One chat call; which upstream answered, and the source and verdict of its record.
    async fn chat(&self, key: &str, model: &str) -> String {
        let (litellm, direct) = (self.litellm.count(), self.direct.count());
        let res = reqwest::Client::new()
            .post(self.server.url("/v1/chat/completions"))
            .bearer_auth(key)
            .json(&serde_json::json!({
                "model": model,
                "messages": [{"role": "user", "content": "summarise the incident channel"}],
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{model}");
        let went = match (self.litellm.count() - litellm, self.direct.count() - direct) {
            (1, 0) => "litellm",
            (0, 1) => "direct",
            other => panic!("one upstream answers each call, not {other:?}"),
        };
        let row = sqlx::query("SELECT source, verdict FROM traffic ORDER BY id DESC LIMIT 1")
            .fetch_one(&self.server.db().await)
            .await
            .unwrap();
        format!(
            "{went} {}/{}",
            row.get::<String, _>("source"),
            row.get::<String, _>("verdict")
        )
    }

    async fn open(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        post(&self.admin, self.server.url(path), body).await
    }

    async fn deactivate(&self) -> serde_json::Value {
        let (code, body) = self
            .open("/api/break-glass/deactivate", serde_json::json!({}))
            .await;
        assert_eq!(code, 200, "{body}");
        body
    }
}

fn scoped(keys: &[i64], models: &[&str]) -> serde_json::Value {
    let mut body = activation("LiteLLM cannot reach the vendor for the CI fleet", 30);
    body["scope_keys"] = serde_json::json!(keys);
    body["scope_models"] = serde_json::json!(models);
    body
}

#[tokio::test]
async fn a_scoped_window_bypasses_only_what_it_names_and_says_so_everywhere() {
    let s = setup().await;
    let (ci, ci_id) = s.key("ci-fleet").await;
    let (other, _) = s.key("support-bot").await;
    let mut events = SseReader::open(&s.admin, &s.server.url("/api/events")).await;
    events.next_named("state").await;

    let (code, opened) = s
        .open("/api/break-glass/activate", scoped(&[ci_id], &["gpt-4o"]))
        .await;
    assert_eq!(code, 200, "{opened}");
    let words = "only API key ci-fleet (bgk_";
    assert!(
        opened["scope"].as_str().unwrap().starts_with(words),
        "{opened}"
    );
    let heard = events.next_named("state").await.data;
    assert_eq!(
        heard["status"]["scope"]["models"],
        serde_json::json!(["gpt-4o"])
    );
    assert!(heard["status"]["scope_text"]
        .as_str()
        .unwrap()
        .ends_with(&format!("(#{ci_id}) when calling model gpt-4o")));
    let alert = events.next_named("alert").await.data;
    assert!(alert["title"].as_str().unwrap().contains(words), "{alert}");

    // Precedence: both lists must match; the decision switches with no database query.
    assert_eq!(s.chat(&ci, "gpt-4o").await, "direct break-glass/BYPASSED");
    assert_eq!(s.chat(&ci, "claude-3-haiku").await, "litellm litellm/ALLOW");
    assert_eq!(s.chat(&other, "gpt-4o").await, "litellm litellm/ALLOW");
    assert_eq!(
        s.chat(&other, "claude-3-haiku").await,
        "litellm litellm/ALLOW"
    );
    // A model name in disguise is another model: scanned.
    assert_eq!(s.chat(&ci, "GPT-4o").await, "litellm litellm/ALLOW");
    assert_eq!(s.chat(&ci, "gpt-4o ").await, "litellm litellm/ALLOW");
    assert_eq!(s.chat(&ci, "gpt-4o").await, "direct break-glass/BYPASSED");

    let summary = s.deactivate().await;
    assert_eq!(summary["unscanned_traffic"], 2, "only what was in scope");
    let audit = s.server.db().await;
    let details: String =
        sqlx::query_scalar("SELECT details FROM audit_log WHERE action = 'break_glass.activate'")
            .fetch_one(&audit)
            .await
            .unwrap();
    let details: serde_json::Value = serde_json::from_str(&details).unwrap();
    assert_eq!(details["scope"]["keys"][0]["id"], ci_id);
    assert_eq!(details["scope"]["models"], serde_json::json!(["gpt-4o"]));
    let id = opened["id"].as_i64().unwrap();
    let review: serde_json::Value =
        get_json(&s.admin, s.server.url(&format!("/api/reviews/{id}"))).await;
    assert_eq!(review["window"]["scope"], opened["scope"]);
    let report = s
        .admin
        .get(s.server.url(&format!("/api/reviews/{id}/report.md")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        report.contains("- Scope: only API key ci-fleet"),
        "{report}"
    );

    // After the cool-down, a window for one model and any key; and one for everything.
    s.clock.advance(TimeDelta::minutes(16));
    let (code, opened) = s
        .open(
            "/api/break-glass/activate",
            scoped(&[], &["claude-3-haiku"]),
        )
        .await;
    assert_eq!(code, 200, "{opened}");
    assert_eq!(opened["scope"], "only model claude-3-haiku");
    assert_eq!(
        s.chat(&other, "claude-3-haiku").await,
        "direct break-glass/BYPASSED"
    );
    assert_eq!(s.chat(&ci, "gpt-4o").await, "litellm litellm/ALLOW");
    s.deactivate().await;
    s.clock.advance(TimeDelta::minutes(16));
    let (code, opened) = s
        .open(
            "/api/break-glass/activate",
            activation("LiteLLM is down for every team", 15),
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(opened["scope"], "all traffic");
    assert_eq!(
        s.chat(&other, "anything").await,
        "direct break-glass/BYPASSED"
    );
}

#[tokio::test]
async fn a_bad_scope_is_refused_naming_the_field_and_opens_nothing() {
    let s = setup().await;
    let (_, id) = s.key("ci-fleet").await;
    let (_, revoked) = s.key("old-fleet").await;
    let res = s
        .admin
        .post(s.server.url(&format!("/api/keys/{revoked}/revoke")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let ingest_only = s
        .server
        .create_key_with(
            &s.admin,
            serde_json::json!({"name": "ingest-only", "scopes": ["ingest"]}),
        )
        .await;
    assert!(ingest_only.starts_with("bgk_"));
    for (body, field, says) in [
        (
            scoped(&[revoked], &[]),
            "scope_keys",
            format!("id {revoked}"),
        ),
        (
            scoped(&[id + 100], &[]),
            "scope_keys",
            format!("id {}", id + 100),
        ),
        (
            scoped(&[0], &[]),
            "scope_keys",
            "whole numbers above 0".into(),
        ),
        (scoped(&[], &["a,b"]), "scope_models", "no commas".into()),
        (
            scoped(&[], &[""]),
            "scope_models",
            "1 to 256 characters".into(),
        ),
    ] {
        let (code, answer) = s.open("/api/break-glass/activate", body.clone()).await;
        assert_eq!(code, 400, "{body}");
        assert_eq!(answer["error"]["field"], field, "{answer}");
        assert!(
            answer["error"]["message"].as_str().unwrap().contains(&says),
            "{answer}"
        );
    }
    // The scope is named before the confirmation, as the dialog orders its fields.
    let mut body = scoped(&[0], &[]);
    body["confirm"] = "confirm".into();
    assert_eq!(
        s.open("/api/break-glass/activate", body).await.1["error"]["field"],
        "scope_keys"
    );
    assert_eq!(status(&s.admin, &s.server).await["state"], "inactive");
    // The keys offered are the live gateway keys only.
    let offered: Vec<serde_json::Value> =
        get_json(&s.admin, s.server.url("/api/break-glass/scope-keys")).await;
    let ids: Vec<i64> = offered.iter().map(|k| k["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, vec![id]);
    assert!(offered.iter().all(|k| !k.to_string().contains("secret")));

    // The largest scope there is (50 keys with the longest names, 20 of the longest model
    // names) is stored, announced, audited and notified whole, and reads back after a restart.
    let mut keys = vec![id];
    for i in 0..49 {
        let name = format!("{i:02}{}", "k".repeat(98));
        keys.push(s.key(&name).await.1);
    }
    let models: Vec<String> = (0..20)
        .map(|i| format!("{i:02}{}", "m".repeat(254)))
        .collect();
    let models: Vec<&str> = models.iter().map(String::as_str).collect();
    let (code, opened) = s
        .open("/api/break-glass/activate", scoped(&keys, &models))
        .await;
    assert_eq!(code, 200, "{opened}");
    let words = opened["scope"].as_str().unwrap();
    assert!(words.starts_with("only API keys ci-fleet") && words.ends_with(models[19]));
    let (_, body) = s
        .open("/api/break-glass/deactivate", serde_json::json!({}))
        .await;
    assert_eq!(body["unscanned_traffic"], 0);
    let review: serde_json::Value = get_json(
        &s.admin,
        s.server.url(&format!("/api/reviews/{}", opened["id"])),
    )
    .await;
    assert_eq!(review["window"]["scope"], opened["scope"]);
}

#[tokio::test]
async fn a_drill_runs_the_procedure_bypasses_nothing_and_leaves_no_cool_down() {
    let s = setup().await;
    let (key, _) = s.key("ci-fleet").await;
    let second = operator(&s.server, &s.admin, "rita", "security_manager").await;
    let before = status(&s.admin, &s.server).await;
    assert_eq!(before["last_drill_at"], serde_json::Value::Null);
    assert_eq!(before["drill_overdue"], true, "no drill yet is overdue");

    // A pager channel hears every step; each notification says it is a drill.
    let (code, channel) = s
        .open(
            "/api/notifications/channels",
            serde_json::json!({
                "name": "pager", "kind": "webhook", "url": "http://127.0.0.1:9/hook",
                "secret": "env:PAGER_SIGNING_KEY",
                "topics": ["activation", "ack_due", "acknowledged", "deactivation", "review_waiting"],
            }),
        )
        .await;
    assert_eq!(code, 201, "{channel}");
    let mut events = SseReader::open(&second, &s.server.url("/api/events")).await;
    events.next_named("state").await;
    let (code, drill) = s
        .open(
            "/api/break-glass/drill",
            activation("quarterly rehearsal of the procedure", 15),
        )
        .await;
    assert_eq!(code, 200, "{drill}");
    assert_eq!(drill["drill"], true);
    let heard = events.next_named("state").await.data;
    assert_eq!(heard["status"]["state"], "active");
    assert_eq!(heard["status"]["drill"], true);
    assert_eq!(heard["status"]["drill_overdue"], false);
    let alert = events.next_named("alert").await.data;
    assert!(
        alert["title"].as_str().unwrap().starts_with("[DRILL] "),
        "{alert}"
    );
    assert_eq!(alert["severity"], "CRITICAL");

    // Traffic stays scanned, and a real prompt injection is still judged.
    assert_eq!(s.chat(&key, "gpt-4o").await, "litellm litellm/ALLOW");
    assert_eq!(s.direct.count(), 0);

    // The second operator acknowledges it, as in a real window.
    let (code, _) = post(
        &second,
        s.server.url("/api/break-glass/acknowledge"),
        serde_json::json!({"note": "paged and answered in four minutes"}),
    )
    .await;
    assert_eq!(code, 200);
    let summary = s.deactivate().await;
    assert_eq!(summary["unscanned_traffic"], 0);
    let after = status(&s.admin, &s.server).await;
    assert_eq!(after["state"], "inactive", "no cool-down after a drill");
    assert_eq!(ts(&after["last_drill_at"]), ts(&drill["activated_at"]));

    // Its own review, marked as a drill.
    let id = drill["id"].as_i64().unwrap();
    let review: serde_json::Value =
        get_json(&s.admin, s.server.url(&format!("/api/reviews/{id}"))).await;
    assert_eq!(review["window"]["drill"], true);
    let report = s
        .admin
        .get(s.server.url(&format!("/api/reviews/{id}/report.md")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(report.starts_with("# Break-glass drill #"), "{report}");
    let titles: Vec<String> =
        sqlx::query_scalar("SELECT title FROM alerts WHERE window_id = $1 ORDER BY id")
            .bind(id)
            .fetch_all(&s.server.db().await)
            .await
            .unwrap();
    assert!(titles.len() >= 2);
    assert!(
        titles.iter().all(|t| t.starts_with("[DRILL] ")),
        "every alert of a drill says so: {titles:?}"
    );
    let notified: Vec<String> =
        sqlx::query_scalar("SELECT title FROM notification_outbox ORDER BY id")
            .fetch_all(&s.server.db().await)
            .await
            .unwrap();
    // Start, acknowledgement, end, review waiting (no "ack due": it would fall due at the
    // drill's very end).
    assert_eq!(notified.len(), 4, "{notified:?}");
    assert!(
        notified.iter().all(|t| t.starts_with("[DRILL] ")),
        "{notified:?}"
    );
    let drilled = count(
        &s.server,
        "SELECT COUNT(*) FROM audit_log WHERE action = 'break_glass.drill'",
    )
    .await;
    assert_eq!(drilled, 1);

    // A real activation right after a drill needs no cool-down.
    let (code, _) = s
        .open(
            "/api/break-glass/activate",
            activation("LiteLLM really is down now", 15),
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(s.chat(&key, "gpt-4o").await, "direct break-glass/BYPASSED");
    s.deactivate().await;
    // During a real window's cool-down no drill starts (a drill never follows a real end
    // unnoticed); once it is over, one does.
    let (code, refused) = s
        .open(
            "/api/break-glass/drill",
            activation("quarterly rehearsal of the procedure", 15),
        )
        .await;
    assert_eq!(code, 429, "{refused}");
    assert_eq!(refused["error"]["code"], "cooling_down", "{refused}");

    // The drill interval: older than the policy's days, the card warns.
    // (Sessions end meanwhile: each look is a new login.)
    s.clock.advance(TimeDelta::days(89));
    let admin = s.server.admin().await;
    assert_eq!(status(&admin, &s.server).await["drill_overdue"], false);
    s.clock.advance(TimeDelta::days(2));
    let admin = s.server.admin().await;
    assert_eq!(status(&admin, &s.server).await["drill_overdue"], true);
    let (code, _) = put(
        &admin,
        s.server.url("/api/break-glass/policy"),
        serde_json::json!({"drill_days": 120}),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(status(&admin, &s.server).await["drill_overdue"], false);
    let (code, refused) = put(
        &admin,
        s.server.url("/api/break-glass/policy"),
        serde_json::json!({"drill_days": 0}),
    )
    .await;
    assert_eq!(code, 400);
    assert_eq!(refused["error"]["field"], "drill_days");
}

#[tokio::test]
async fn a_real_activation_ends_a_drill_at_once_even_under_approval_and_the_review_gate() {
    let s = setup().await;
    let (key, _) = s.key("ci-fleet").await;
    let (code, _) = put(
        &s.admin,
        s.server.url("/api/break-glass/policy"),
        serde_json::json!({"mode": "approval", "review_gate": true}),
    )
    .await;
    assert_eq!(code, 200);

    // A drill needs no approval and passes the review gate; it expires with no cool-down.
    let (code, first) = s
        .open(
            "/api/break-glass/drill",
            activation("rehearsal under the approval policy", 15),
        )
        .await;
    assert_eq!(code, 200, "{first}");
    s.clock.advance(TimeDelta::minutes(15));
    let gone = status(&s.admin, &s.server).await;
    assert_eq!(gone["state"], "inactive");
    let (code, second_drill) = s
        .open(
            "/api/break-glass/drill",
            activation("second rehearsal, same afternoon", 30),
        )
        .await;
    assert_eq!(
        code, 200,
        "an unreviewed drill holds nothing back: {second_drill}"
    );

    // Under approval, the real thing is a request: it ends the drill at once.
    let (code, requested) = s
        .open(
            "/api/break-glass/request",
            activation("LiteLLM is down for the whole fleet", 30),
        )
        .await;
    assert_eq!(code, 200, "{requested}");
    assert_eq!(requested["state"], "requested");
    let ended: (Option<i64>, Option<String>) = {
        let row = sqlx::query("SELECT ended_at, ended_by FROM break_glass_windows WHERE id = $1")
            .bind(second_drill["id"].as_i64().unwrap())
            .fetch_one(&s.server.db().await)
            .await
            .unwrap();
        (row.get("ended_at"), row.get("ended_by"))
    };
    assert!(ended.0.is_some(), "the drill ended at the request");
    assert_eq!(ended.1.as_deref(), Some("admin"));
    let approver = operator(&s.server, &s.admin, "rita", "security_manager").await;
    let (code, approved) = post(
        &approver,
        s.server.url("/api/break-glass/approve"),
        serde_json::json!({"note": "checked the outage page myself"}),
    )
    .await;
    assert_eq!(code, 200, "{approved}");
    assert_eq!(approved["drill"], false);
    assert_eq!(s.chat(&key, "gpt-4o").await, "direct break-glass/BYPASSED");

    // In the emergency policy, activation itself ends a drill.
    s.deactivate().await;
    let (code, _) = put(
        &s.admin,
        s.server.url("/api/break-glass/policy"),
        serde_json::json!({"mode": "emergency", "review_gate": false}),
    )
    .await;
    assert_eq!(code, 200);
    s.clock.advance(TimeDelta::minutes(16));
    let (code, drill) = s
        .open(
            "/api/break-glass/drill",
            activation("rehearsal after the incident", 60),
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(s.chat(&key, "gpt-4o").await, "litellm litellm/ALLOW");
    let (code, real) = s
        .open(
            "/api/break-glass/activate",
            activation("LiteLLM is down again, for real", 15),
        )
        .await;
    assert_eq!(code, 200, "{real}");
    assert_eq!(s.chat(&key, "gpt-4o").await, "direct break-glass/BYPASSED");
    let open = count(
        &s.server,
        "SELECT COUNT(*) FROM break_glass_windows WHERE ended_at IS NULL",
    )
    .await;
    assert_eq!(open, 1, "the drill closed as the real window opened");
    let drill_end: Option<i64> =
        sqlx::query_scalar("SELECT ended_at FROM break_glass_windows WHERE id = $1")
            .bind(drill["id"].as_i64().unwrap())
            .fetch_one(&s.server.db().await)
            .await
            .unwrap();
    assert_eq!(
        drill_end.map(|ms| ms / 1000),
        Some(ts(&real["activated_at"]).timestamp())
    );
    // A drill cannot start over a real window.
    let (code, _) = s
        .open(
            "/api/break-glass/drill",
            activation("rehearsal while it is real", 15),
        )
        .await;
    assert_eq!(code, 409);
}

#[tokio::test]
async fn a_restart_keeps_a_drill_a_drill_and_a_scope_its_scope() {
    let mut s = setup().await;
    let (fleet, fleet_id) = s.key("ci-fleet").await;
    let (other, _) = s.key("support-bot").await;

    let (code, _) = s
        .open(
            "/api/break-glass/drill",
            activation("rehearsal across a restart", 30),
        )
        .await;
    assert_eq!(code, 200);
    s.restart().await;
    let after = status(&s.admin, &s.server).await;
    assert_eq!(
        (after["state"].as_str(), after["drill"].as_bool()),
        (Some("active"), Some(true))
    );
    assert_eq!(s.chat(&fleet, "gpt-4o").await, "litellm litellm/ALLOW");
    s.deactivate().await;
    assert_eq!(status(&s.admin, &s.server).await["state"], "inactive");

    let (code, opened) = s
        .open(
            "/api/break-glass/activate",
            scoped(&[fleet_id], &["gpt-4o"]),
        )
        .await;
    assert_eq!(code, 200, "{opened}");
    s.restart().await;
    assert_eq!(
        status(&s.admin, &s.server).await["scope_text"],
        opened["scope"]
    );
    assert_eq!(
        s.chat(&fleet, "gpt-4o").await,
        "direct break-glass/BYPASSED"
    );
    assert_eq!(s.chat(&other, "gpt-4o").await, "litellm litellm/ALLOW");
    assert_eq!(s.chat(&fleet, "gpt-4o-mini").await, "litellm litellm/ALLOW");
}
