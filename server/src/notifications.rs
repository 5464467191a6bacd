//! Delivers the notification outbox: each replica's worker claims what is due (a lease, so
//! that replicas never send the same notification at once), sends it to its channel, and
//! records the attempt: delivered, or retried with backoff, or given up after the last
//! attempt. At least once: a worker that dies after sending and before recording leaves its
//! lease to expire, and the notification is sent again with the same idempotency key.
//!
//! - webhook: `POST` of the message as JSON, signed: `X-Breakglass-Timestamp` (Unix seconds
//!   at sending) and `X-Breakglass-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`;
//!   the key also in `Idempotency-Key`.
//! - slack: `POST` of Slack blocks to the incoming webhook's URL (the channel's secret).
//! - email: SMTP with STARTTLS when the server offers it (required when a login is given);
//!   the key is the mail's `Message-ID`.

use crate::config::Notify;
use app::domain::notifications::{retry_delay, ChannelKind, Message};
use app::server::clock::SharedClock;
use app::server::database::Pool;
use app::server::notifications::outbox::{self, Claimed};
use app::server::notifications::{Destination, Notifications};
use hmac::{Hmac, Mac};
use std::time::Duration;
use tokio::sync::watch;

/// How long a claim holds: longer than any one attempt can take.
const LEASE: chrono::TimeDelta = chrono::TimeDelta::minutes(2);
const BATCH: u32 = 16;
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Worker {
    notifications: Notifications,
    pool: Pool,
    clock: SharedClock,
    settings: Notify,
    /// This replica's name on its leases.
    owner: String,
    http: reqwest::Client,
}

impl Worker {
    pub fn new(
        notifications: Notifications,
        pool: Pool,
        clock: SharedClock,
        settings: Notify,
    ) -> Self {
        Self {
            notifications,
            pool,
            clock,
            settings,
            owner: format!("worker-{}", app::server::secrets::random_hex(8)),
            http: reqwest::Client::builder()
                .timeout(HTTP_TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("HTTP client builds"),
        }
    }

    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            let now = self.clock.now();
            let claimed =
                match outbox::claim(&self.pool, &self.owner, now, now + LEASE, BATCH).await {
                    Ok(claimed) => claimed,
                    Err(e) => {
                        tracing::warn!(error = %e, "could not claim notifications");
                        Vec::new()
                    }
                };
            let full = claimed.len() == BATCH as usize;
            futures::future::join_all(claimed.into_iter().map(|c| self.deliver(c))).await;
            if full {
                continue;
            }
            tokio::select! {
                _ = tokio::time::sleep(self.settings.poll) => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
        }
    }

    async fn deliver(&self, claimed: Claimed) {
        let mut message = claimed.message;
        if let (Some(base), Some(path)) = (&self.settings.public_url, &message.link) {
            if path.starts_with('/') {
                message.link = Some(format!("{base}{path}"));
            }
        }
        let sent = match self.notifications.destination(claimed.channel_id).await {
            Ok(destination) => self.send(&destination, &message).await,
            Err(why) => Err(why),
        };
        let at = self.clock.now();
        let attempts = claimed.attempts + 1;
        let outcome = match &sent {
            Ok(()) => Ok(()),
            // A removed channel will not come back.
            Err(why) if claimed.channel_id.is_none() => Err((why.as_str(), None)),
            Err(why) => Err((
                why.as_str(),
                retry_delay(attempts, self.settings.retry_base).map(|d| at + d),
            )),
        };
        if let Err((why, _)) = &outcome {
            tracing::warn!(
                key = %message.idempotency_key, attempts, error = %why,
                "a notification was not delivered"
            );
        }
        match outbox::attempted(&self.pool, claimed.id, &self.owner, at, outcome).await {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                key = %message.idempotency_key,
                "a notification's lease was lost before its attempt was recorded"
            ),
            Err(e) => tracing::error!(error = %e, "could not record a notification's attempt"),
        }
    }

    async fn send(&self, to: &Destination, message: &Message) -> Result<(), String> {
        let secret = to.secret.as_deref();
        match to.channel.kind {
            ChannelKind::Webhook => {
                let url = to.channel.endpoint.as_deref().ok_or("no URL")?;
                let key = secret.ok_or("no signing secret")?;
                let body =
                    serde_json::to_vec(&message.webhook_body()).map_err(|e| e.to_string())?;
                let timestamp = self.clock.now().timestamp().to_string();
                let request = self
                    .http
                    .post(url)
                    .header("content-type", "application/json")
                    .header("idempotency-key", &message.idempotency_key)
                    .header("x-breakglass-timestamp", &timestamp)
                    .header("x-breakglass-signature", signature(key, &timestamp, &body))
                    .body(body);
                answered(request.send().await)
            }
            ChannelKind::Slack => {
                let url = secret.ok_or("no URL")?;
                let request = self.http.post(url).json(&message.slack_body());
                answered(request.send().await)
            }
            ChannelKind::Email => email(to, message).await,
        }
    }
}

/// `v1=` and the hex HMAC-SHA256 of `<timestamp>.<body>` under `key`.
pub fn signature(key: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes a key of any size");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// A 2xx answer is a delivery; anything else says what went wrong, without the URL (a Slack
/// URL is a secret, and the log is read by every role).
fn answered(result: reqwest::Result<reqwest::Response>) -> Result<(), String> {
    match result {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(format!(
            "the receiver answered HTTP {}",
            r.status().as_u16()
        )),
        Err(e) => Err(error_chain(&e.without_url())),
    }
}

/// An error and what caused it, as one line: "error sending request: client error (Connect):
/// tcp connect error: Connection refused (os error 111)".
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        text.push_str(": ");
        text.push_str(&e.to_string());
        cause = e.source();
    }
    text
}

async fn email(to: &Destination, message: &Message) -> Result<(), String> {
    use lettre::message::header::ContentType;
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::transport::smtp::client::{Tls, TlsParameters};
    use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
    let channel = &to.channel;
    let (host, port) = channel
        .endpoint
        .as_deref()
        .and_then(app::domain::notifications::smtp_url)
        .ok_or("no SMTP server")?;
    let tls = TlsParameters::new(host.to_owned()).map_err(|e| e.to_string())?;
    let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .port(port)
        .timeout(Some(SMTP_TIMEOUT));
    transport = match (&channel.smtp_user, &to.secret) {
        // A password never crosses the network in clear.
        (Some(user), Some(password)) => transport
            .tls(Tls::Required(tls))
            .credentials(Credentials::new(user.clone(), password.clone())),
        _ => transport.tls(Tls::Opportunistic(tls)),
    };
    let from = channel
        .mail_from
        .as_deref()
        .ok_or("no sender")?
        .parse()
        .map_err(|e: lettre::address::AddressError| e.to_string())?;
    let mut mail = lettre::Message::builder()
        .from(from)
        .subject(message.email_subject())
        .message_id(Some(format!("<{}@breakglass>", message.idempotency_key)))
        .header(ContentType::TEXT_PLAIN);
    for recipient in &channel.mail_to {
        mail = mail.to(recipient
            .parse()
            .map_err(|e: lettre::address::AddressError| e.to_string())?);
    }
    let mail = mail.body(message.email_body()).map_err(|e| e.to_string())?;
    transport
        .build()
        .send(mail)
        .await
        .map(|_| ())
        .map_err(|e| error_chain(&e))
}

#[cfg(test)]
mod tests {
    /// The signature a receiver computes by the documented recipe, here with Python's `hmac`
    /// module: `hmac.new(b"Jefe", b'1733560000.{"a":1}', hashlib.sha256).hexdigest()`.
    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        assert_eq!(
            super::signature("Jefe", "1733560000", br#"{"a":1}"#),
            "v1=747b9c25e800176ec669b167c3c9a225c233d707153524835f05babef031f112"
        );
    }
}
