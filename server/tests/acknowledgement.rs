//! A second operator answers for each break-glass window: never its activator, only a role
//! with break_glass:acknowledge, by the deployment's deadline; past it unacknowledged the
//! window is escalated once (a CRITICAL alert), across restarts, and can still be
//! acknowledged late.

mod support;

use app::server::clock::ManualClock;
use chrono::{TimeDelta, Utc};
use serde_json::{json, Value};
use support::*;

#[tokio::test]
async fn a_second_operator_acknowledges_and_the_activator_cannot() {
    let (_dir, db) = fresh_db();
    let clock = ManualClock::new(Utc::now());
    let mut s = TestServer::start(&db, clock.clone()).await;
    let admin = s.admin().await;
    let sam = operator(&s, &admin, "sam", "security_manager").await;
    let olga = operator(&s, &admin, "olga", "operator").await;
    let (_, window) = post(
        &admin,
        s.url("/api/break-glass/activate"),
        activation("shield outage INC-90", 60),
    )
    .await;
    let before = status(&sam, &s).await;
    assert_eq!(
        ts(&before["ack_due_at"]),
        ts(&window["activated_at"]) + TimeDelta::minutes(15)
    );
    assert_eq!(
        (&before["acknowledged_by"], &before["ack_overdue"]),
        (&Value::Null, &json!(false))
    );

    let note = json!({"note": "checked INC-90 with the on-call lead"});
    let url = s.url("/api/break-glass/acknowledge");
    let (code, body) = post(&admin, url.clone(), note.clone()).await;
    assert_eq!(
        (code, &body["error"]["code"]),
        (403, &json!("own_window")),
        "the activator: {body}"
    );
    let (code, _) = post(&olga, url.clone(), note.clone()).await;
    assert_eq!(code, 403, "an operator may not acknowledge");
    let (code, body) = post(&sam, url.clone(), json!({"note": "ok"})).await;
    assert_eq!((code, &body["error"]["field"]), (400, &json!("note")));

    let mut events = SseReader::open(&admin, &s.url("/api/events")).await;
    events.next_named("state").await;
    let (code, _) = post(&sam, url.clone(), note.clone()).await;
    assert_eq!(code, 200);
    let heard = events.next_named("state").await;
    assert_eq!(heard.data["change"], "acknowledged");
    assert_eq!(heard.data["status"]["acknowledged_by"], "sam");
    let (code, _) = post(&sam, url, note).await;
    assert_eq!(code, 409, "once");
    assert_eq!(
        count(&s, "SELECT COUNT(*) FROM audit_log WHERE action = 'break_glass.acknowledge' AND actor = 'sam' AND details LIKE '%with the on-call lead%'").await,
        1
    );

    // Acknowledged in time: the due time passes without an escalation.
    clock.advance(TimeDelta::minutes(20));
    assert_eq!(status(&admin, &s).await["ack_overdue"], false);
    assert_eq!(
        count(
            &s,
            "SELECT COUNT(*) FROM alerts WHERE title = 'Break-Glass Not Acknowledged'"
        )
        .await,
        0
    );
    s.stop().await;
}

#[tokio::test]
async fn an_unacknowledged_window_escalates_once_and_can_be_acknowledged_late() {
    let (_dir, db) = fresh_db();
    let clock = ManualClock::new(Utc::now());
    let mut s = TestServer::start_with(
        &db,
        clock.clone(),
        &[("BREAKGLASS_ACK_MINUTES", "5".into())],
    )
    .await;
    let admin = s.admin().await;
    let (_, window) = post(
        &admin,
        s.url("/api/break-glass/activate"),
        activation("shield outage INC-91", 60),
    )
    .await;
    let due = ts(&window["activated_at"]) + TimeDelta::minutes(5);
    assert_eq!(
        ts(&status(&admin, &s).await["ack_due_at"]),
        due,
        "the deployment's deadline"
    );
    let mut events = SseReader::open(&admin, &s.url("/api/events")).await;
    events.next_named("state").await;

    clock.advance(TimeDelta::minutes(5));
    // Nobody asks: the server's own timer escalates at the due time. The state and its
    // alert arrive in either order.
    let (mut escalated, mut alert) = (None, None);
    while escalated.is_none() || alert.is_none() {
        let e = events.next().await.expect("the stream stays open");
        match e.event.as_str() {
            "state" => escalated = Some(e.data),
            "alert" => alert = Some(e.data),
            _ => {}
        }
    }
    let (escalated, alert) = (escalated.unwrap(), alert.unwrap());
    assert_eq!(escalated["change"], "ack_overdue");
    assert_eq!(escalated["status"]["ack_overdue"], true);
    assert_eq!(
        escalated["status"]["active"], true,
        "the bypass itself goes on"
    );
    assert_eq!(
        (&alert["severity"], &alert["title"]),
        (&json!("CRITICAL"), &json!("Break-Glass Not Acknowledged"))
    );

    // A restart neither forgets the escalation nor repeats it.
    s.stop().await;
    clock.advance(TimeDelta::minutes(1));
    let mut s = TestServer::start_with(
        &db,
        clock.clone(),
        &[("BREAKGLASS_ACK_MINUTES", "5".into())],
    )
    .await;
    let admin = s.admin().await;
    assert_eq!(status(&admin, &s).await["ack_overdue"], true);
    for sql in [
        "SELECT COUNT(*) FROM alerts WHERE title = 'Break-Glass Not Acknowledged'",
        "SELECT COUNT(*) FROM audit_log WHERE action = 'break_glass.ack_overdue' AND actor = 'system'",
    ] {
        assert_eq!(count(&s, sql).await, 1, "{sql}");
    }

    let sam = operator(&s, &admin, "sam", "security_manager").await;
    let (code, _) = post(
        &sam,
        s.url("/api/break-glass/acknowledge"),
        json!({"note": "late, but checked with the activator"}),
    )
    .await;
    assert_eq!(code, 200);
    let now = status(&admin, &s).await;
    assert_eq!(
        (&now["acknowledged_by"], &now["ack_overdue"]),
        (&json!("sam"), &json!(false))
    );
    assert_eq!(
        count(&s, "SELECT COUNT(*) FROM audit_log WHERE action = 'break_glass.acknowledge' AND details LIKE '%\"late\":true%'").await,
        1
    );

    // The review and its report say who answered for the window, and that it was late.
    let (code, _) = post(&admin, s.url("/api/break-glass/deactivate"), json!({})).await;
    assert_eq!(code, 200);
    let id = window["id"].as_i64().unwrap();
    let review: Value = admin
        .get(s.url(&format!("/api/reviews/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(review["window"]["acknowledged"]["by"], "sam");
    assert_eq!(review["window"]["ack_overdue"], true);
    let markdown = admin
        .get(s.url(&format!("/api/reviews/{id}/report.md")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        markdown.contains("Acknowledged by sam") && markdown.contains("after it fell due"),
        "{markdown}"
    );
    s.stop().await;
}

#[tokio::test]
async fn an_admin_sets_the_deadline_for_the_next_window_audited_and_kept() {
    let (_dir, db) = fresh_db();
    let clock = ManualClock::new(Utc::now());
    let mut s = TestServer::start(&db, clock.clone()).await;
    let admin = s.admin().await;
    let sam = operator(&s, &admin, "sam", "security_manager").await;
    let url = s.url("/api/break-glass/policy");
    let policy: Value = sam
        .get(url.clone())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        policy["ack_minutes"], 15,
        "BREAKGLASS_ACK_MINUTES until an admin sets one"
    );

    // Only an admin sets it: a security manager activates, so does not set their own check.
    let res = sam
        .put(url.clone())
        .json(&json!({"ack_minutes": 240}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    for bad in [json!(0), json!(241), json!("soon")] {
        let res = admin
            .put(url.clone())
            .json(&json!({"ack_minutes": bad}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{bad}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["field"], "ack_minutes");
    }
    let res = admin
        .put(url.clone())
        .json(&json!({"ack_minutes": 7}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        count(&s, "SELECT COUNT(*) FROM audit_log WHERE action = 'break_glass.policy' AND details LIKE '%\"ack_minutes\":7%' AND details LIKE '%\"ack_minutes_before\":15%'").await,
        1
    );

    // The next window is due 7 minutes after its activation, and so after a restart.
    let (_, window) = post(
        &sam,
        s.url("/api/break-glass/activate"),
        activation("shield outage INC-92", 60),
    )
    .await;
    let due = ts(&window["activated_at"]) + TimeDelta::minutes(7);
    assert_eq!(ts(&status(&admin, &s).await["ack_due_at"]), due);
    s.stop().await;
    let mut s = TestServer::start(&db, clock.clone()).await;
    let admin = s.admin().await;
    let policy: Value = admin
        .get(s.url("/api/break-glass/policy"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(policy["ack_minutes"], 7);
    assert_eq!(ts(&status(&admin, &s).await["ack_due_at"]), due);
    s.stop().await;
}

/// Two second operators, ten acknowledgements at once: one is recorded, every other is
/// refused as already acknowledged, and the trail has one acknowledgement.
#[tokio::test]
async fn concurrent_acknowledgements_record_exactly_one() {
    let (_dir, db) = fresh_db();
    let mut s = TestServer::start(&db, ManualClock::new(Utc::now())).await;
    let admin = s.admin().await;
    let sam = operator(&s, &admin, "sam", "security_manager").await;
    let ada = operator(&s, &admin, "ada", "admin").await;
    post(
        &admin,
        s.url("/api/break-glass/activate"),
        activation("shield outage INC-93", 60),
    )
    .await;
    let url = s.url("/api/break-glass/acknowledge");
    let answers = futures::future::join_all((0..10).map(|i| {
        let client = if i % 2 == 0 { &sam } else { &ada };
        post(
            client,
            url.clone(),
            json!({"note": "checked the outage with the activator"}),
        )
    }))
    .await;
    let codes: Vec<u16> = answers.iter().map(|(code, _)| *code).collect();
    assert_eq!(
        codes.iter().filter(|c| **c == 200).count(),
        1,
        "{answers:?}"
    );
    assert_eq!(
        codes.iter().filter(|c| **c == 409).count(),
        9,
        "{answers:?}"
    );
    assert_eq!(
        count(
            &s,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'break_glass.acknowledge'"
        )
        .await,
        1
    );
    s.stop().await;
}
