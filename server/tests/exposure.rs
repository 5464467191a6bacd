//! The server refuses to listen beyond this machine while `admin` has the README's password,
//! and the demo keeps working on 127.0.0.1.

mod support;

use app::server::clock::ManualClock;
use chrono::Utc;
use support::*;

const DEMO_PASSWORD: &str = "breakglass-demo";

#[tokio::test]
async fn the_published_password_is_refused_beyond_loopback_and_works_on_it() {
    let (_dir, db) = fresh_db();
    prepare_database(&db).await;
    let mut config = config(&db, &[]);
    config.admin_password = Some(DEMO_PASSWORD.to_owned());

    // The demo command's address: it starts, and the demo login works.
    let local = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let running = server::start(&config, ManualClock::new(Utc::now()), local)
        .await
        .expect("the demo starts on 127.0.0.1");
    let res = reqwest::Client::new()
        .post(format!("http://{}/api/auth/login", running.addr))
        .json(&serde_json::json!({"username": "admin", "password": DEMO_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    running.stop().await.unwrap();

    // Bound to every interface, as `LEPTOS_SITE_ADDR=0.0.0.0:3000` would; it never serves.
    let everywhere = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let refused = server::start(&config, ManualClock::new(Utc::now()), everywhere).await;
    let Err(error) = refused else {
        panic!("the server started on 0.0.0.0 with the demo password");
    };
    let message = error.to_string();
    assert!(
        message.contains("refusing to listen on 0.0.0.0"),
        "{message}"
    );
    assert!(message.contains(DEMO_PASSWORD), "{message}");
}
