//! The LiteLLM callback (`integrations/litellm`) inside a real LiteLLM proxy from PyPI, with a
//! stub model upstream and a real breakglass server, all on 127.0.0.1. `.ci/setup --browser`
//! installs LiteLLM into `target/litellm-venv`.

mod support;

use app::server::clock::ManualClock;
use chrono::Utc;
use sqlx::Row;
use std::path::Path;
use support::upstream::Upstream;
use support::*;

struct LiteLlm {
    child: tokio::process::Child,
    url: String,
    master_key: String,
    _dir: tempfile::TempDir,
}

impl Drop for LiteLlm {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

async fn start_litellm(model_upstream: &str, breakglass: &str, api_key: &str) -> LiteLlm {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let litellm = root.join("target/litellm-venv/bin/litellm");
    assert!(
        litellm.exists(),
        "{} is missing: run `bash .ci/setup --browser` to install LiteLLM",
        litellm.display()
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        root.join("integrations/litellm/breakglass_callback.py"),
        dir.path().join("breakglass_callback.py"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("config.yaml"),
        format!(
            "model_list:\n  - model_name: gpt-4o-mini\n    litellm_params:\n      model: openai/gpt-4o-mini\n      api_base: {model_upstream}/v1\n      api_key: sk-stub\nlitellm_settings:\n  callbacks: [\"breakglass_callback.handler\"]\n"
        ),
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let master_key = format!("sk-test-{}", app::server::secrets::random_hex(12));
    let child = tokio::process::Command::new(litellm)
        .arg("--config")
        .arg(dir.path().join("config.yaml"))
        .arg("--host")
        .arg("127.0.0.1")
        .arg("--port")
        .arg(port.to_string())
        .env("LITELLM_MASTER_KEY", &master_key)
        .env("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        .env("LITELLM_TELEMETRY_DISABLED", "True")
        .env("DO_NOT_TRACK", "1")
        .env("BREAKGLASS_URL", breakglass)
        .env("BREAKGLASS_API_KEY", api_key)
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..600 {
        if let Ok(r) = client.get(format!("{url}/health/liveliness")).send().await {
            if r.status() == 200 {
                return LiteLlm {
                    child,
                    url,
                    master_key,
                    _dir: dir,
                };
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("LiteLLM did not become live within 60 s");
}

#[tokio::test]
async fn the_callback_scans_blocks_and_reports_bypassed_traffic() {
    let (_dir, db) = fresh_db();
    let model = Upstream::start("model").await;
    let mut s = TestServer::start(&db, ManualClock::new(Utc::now())).await;
    let admin = s.admin().await;
    let key = s.create_api_key(&admin, "litellm callback").await;
    let proxy = start_litellm(&model.url, &s.base, &key).await;
    let agent = reqwest::Client::new();
    let chat = |prompt: &str| {
        agent
            .post(format!("{}/v1/chat/completions", proxy.url))
            .bearer_auth(&proxy.master_key)
            .json(&serde_json::json!({
                "model": "gpt-4o-mini",
                "messages": [{"role": "user", "content": prompt}],
            }))
            .send()
    };
    let pool = s.db().await;
    let rows = || async {
        sqlx::query(
            "SELECT source, verdict, score, request_text, response_text FROM traffic \
             WHERE source <> 'session-watcher' ORDER BY id",
        )
        .fetch_all(&pool)
        .await
        .unwrap()
    };

    let res = chat("Summarise the incident report").await.unwrap();
    assert_eq!(res.status(), 200);
    eventually("the scanned call is reported", || async {
        rows().await.len() == 1
    })
    .await;

    s.set_shield_mode(&admin, "BLOCK").await;
    let res = chat("-----BEGIN RSA PRIVATE KEY-----").await.unwrap();
    assert_eq!(res.status(), 403, "{}", res.text().await.unwrap());
    assert_eq!(model.count(), 1, "the blocked call never reached the model");
    eventually("the blocked call is reported", || async {
        rows().await.len() == 2
    })
    .await;

    // A drill bypasses nothing behind LiteLLM either.
    let res = admin
        .post(s.url("/api/break-glass/drill"))
        .json(&activation("rehearsal behind LiteLLM", 15))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = chat("-----BEGIN RSA PRIVATE KEY----- during the drill")
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "a drill bypasses nothing");
    eventually("the call refused in the drill is reported", || async {
        rows().await.len() == 3
    })
    .await;

    // The real activation ends the drill at once.
    let res = admin
        .post(s.url("/api/break-glass/activate"))
        .json(&activation("shield service is down", 30))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = chat("-----BEGIN RSA PRIVATE KEY----- during the outage")
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        200,
        "nothing is scanned while break-glass is active"
    );
    eventually("the bypassed call is reported", || async {
        rows().await.len() == 4
    })
    .await;
    // A report comes after its answer, so a second report of a call could still be on its
    // way. LiteLLM schedules a call's callbacks when the call ends: a second report of an
    // earlier call would be sent before a later call's, so once that is in, it would be too.
    let res = chat("the last call of this test").await.unwrap();
    assert_eq!(res.status(), 200);
    eventually("the last call is reported", || async {
        rows().await.iter().any(|r| {
            r.get::<Option<String>, _>("request_text").as_deref()
                == Some("the last call of this test")
        })
    })
    .await;
    assert_eq!(rows().await.len(), 5, "each call is reported once");

    let rows = rows().await;
    let summary: Vec<(String, String, Option<i64>)> = rows
        .iter()
        .map(|r| (r.get("source"), r.get("verdict"), r.get("score")))
        .collect();
    assert_eq!(summary[0], ("litellm".into(), "ALLOW".into(), Some(0)));
    assert_eq!(summary[1].1, "BLOCK");
    assert_eq!(summary[2].1, "BLOCK", "scanned in the drill");
    assert_eq!(summary[3], ("break-glass".into(), "BYPASSED".into(), None));
    assert_eq!(
        rows[3].get::<String, _>("request_text"),
        "-----BEGIN RSA PRIVATE KEY----- during the outage"
    );
    assert_eq!(
        rows[3].get::<String, _>("response_text"),
        "answer from model"
    );
    s.stop().await;
}
