//! The official `openai` Python client as the agent, against a real server and a stub
//! upstream. `.ci/setup --browser` installs the client into `target/agent-venv`.

mod support;

use app::server::clock::ManualClock;
use chrono::Utc;
use support::upstream::Upstream;
use support::*;

fn agent_python() -> std::path::PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = std::env::var_os("BREAKGLASS_AGENT_PYTHON")
        .map(Into::into)
        .unwrap_or_else(|| root.join("target/agent-venv/bin/python"));
    assert!(
        python.exists(),
        "{} is missing: run `bash .ci/setup --browser` to install the openai client",
        python.display()
    );
    python
}

#[tokio::test]
async fn the_openai_client_works_through_the_gateway() {
    let (_dir, db) = fresh_db();
    let litellm = Upstream::start("litellm").await;
    let mut s = TestServer::start_with(
        &db,
        ManualClock::new(Utc::now()),
        &[("BREAKGLASS_LITELLM_URL", litellm.url.clone())],
    )
    .await;
    let admin = s.admin().await;
    let key = s.create_api_key(&admin, "python agent").await;
    s.set_shield_mode(&admin, "BLOCK").await;
    // The stub streams its first chunk, then waits to be released. The agent streams once: a
    // permit stored now lets that stream finish at once, whenever it comes.
    litellm.release.notify_one();

    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../integrations/agents/openai_agent.py");
    let output = tokio::process::Command::new(agent_python())
        .arg(script)
        .env("OPENAI_BASE_URL", format!("{}/v1", s.base))
        .env("OPENAI_API_KEY", key)
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "agent failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(seen["answer"], "answer from litellm");
    assert_eq!(seen["usage"], serde_json::json!([7, 3]));
    assert_eq!(seen["streamed"], "answer from litellm");
    assert_eq!(seen["blocked"]["status"], 403);
    assert_eq!(seen["bad_key"], 401);

    let sessions: Vec<Option<String>> =
        sqlx::query_scalar("SELECT session_id FROM traffic ORDER BY id")
            .fetch_all(&s.db().await)
            .await
            .unwrap();
    assert_eq!(
        sessions.len(),
        3,
        "two answered requests and the blocked one"
    );
    assert_eq!(sessions[0].as_deref(), Some("agent-session-1"));
    s.stop().await;
}
