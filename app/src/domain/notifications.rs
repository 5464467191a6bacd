//! Notifications: the channels an admin configures (a signed generic webhook, a Slack-compatible
//! incoming webhook, email over SMTP), the events each channel is told of, and what each
//! message says. Delivery itself (the outbox, the worker, the senders) is the server's.

use crate::domain::alerts::Severity;
use crate::domain::{Field, FieldError, WireField};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a notification tells of. `Test` is sent on demand to one channel, never subscribed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Topic {
    Activation,
    ApprovalRequested,
    Approved,
    Denied,
    AckDue,
    AckOverdue,
    Acknowledged,
    Extension,
    Expiry,
    Deactivation,
    ReviewWaiting,
    WatcherFinding,
    FailedLogins,
    Test,
}

/// The topics a channel can subscribe to, in the order the form lists them.
pub const TOPICS: [Topic; 13] = [
    Topic::Activation,
    Topic::ApprovalRequested,
    Topic::Approved,
    Topic::Denied,
    Topic::AckDue,
    Topic::AckOverdue,
    Topic::Acknowledged,
    Topic::Extension,
    Topic::Expiry,
    Topic::Deactivation,
    Topic::ReviewWaiting,
    Topic::WatcherFinding,
    Topic::FailedLogins,
];

impl Topic {
    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Activation => "activation",
            Topic::ApprovalRequested => "approval_requested",
            Topic::Approved => "approved",
            Topic::Denied => "denied",
            Topic::AckDue => "ack_due",
            Topic::AckOverdue => "ack_overdue",
            Topic::Acknowledged => "acknowledged",
            Topic::Extension => "extension",
            Topic::Expiry => "expiry",
            Topic::Deactivation => "deactivation",
            Topic::ReviewWaiting => "review_waiting",
            Topic::WatcherFinding => "watcher_finding",
            Topic::FailedLogins => "failed_logins",
            Topic::Test => "test",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        TOPICS
            .into_iter()
            .chain([Topic::Test])
            .find(|t| t.as_str() == raw)
    }

    /// As the form and the delivery log name it.
    pub fn label(self) -> &'static str {
        match self {
            Topic::Activation => "Activation",
            Topic::ApprovalRequested => "Approval requested",
            Topic::Approved => "Approved",
            Topic::Denied => "Denied or lapsed requests",
            Topic::AckDue => "Acknowledgement due",
            Topic::AckOverdue => "Acknowledgement overdue",
            Topic::Acknowledged => "Acknowledged",
            Topic::Extension => "Extension",
            Topic::Expiry => "Expiry",
            Topic::Deactivation => "Deactivation",
            Topic::ReviewWaiting => "Review waiting",
            Topic::WatcherFinding => "Findings of HIGH and above (Session Watcher, answers)",
            Topic::FailedLogins => "Failed-login bursts",
            Topic::Test => "Test",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    Webhook,
    Slack,
    Email,
}

impl ChannelKind {
    pub const ALL: [ChannelKind; 3] =
        [ChannelKind::Webhook, ChannelKind::Slack, ChannelKind::Email];

    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Webhook => "webhook",
            ChannelKind::Slack => "slack",
            ChannelKind::Email => "email",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }

    pub fn label(self) -> &'static str {
        match self {
            ChannelKind::Webhook => "Webhook (JSON, HMAC-SHA256 signed)",
            ChannelKind::Slack => "Slack incoming webhook",
            ChannelKind::Email => "Email (SMTP)",
        }
    }
}

/// A secret as an admin gives it: the value itself (stored encrypted) or the name of an
/// environment variable every replica has (`env:NAME`). Never shown back.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    Value(String),
    Env(String),
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Secret::Value(_) => f.write_str("Secret::Value(…)"),
            Secret::Env(name) => write!(f, "Secret::Env({name})"),
        }
    }
}

impl Secret {
    /// `env:NAME` (upper-case letters, digits and `_`, not starting with a digit), or the
    /// value itself, `min..=max` characters.
    fn parse(field: Field, raw: &str, min: usize, max: usize) -> Result<Self, FieldError> {
        let raw = raw.trim();
        if let Some(name) = raw.strip_prefix("env:") {
            let valid = !name.is_empty()
                && name.len() <= 64
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            return if valid {
                Ok(Secret::Env(name.to_owned()))
            } else {
                Err(FieldError::new(
                    field,
                    "An environment reference must be env:NAME, NAME in capitals, digits and _",
                ))
            };
        }
        let n = raw.chars().count();
        if n < min || n > max || raw.chars().any(char::is_control) {
            return Err(FieldError::new(
                field,
                format!(
                    "{} must be {min} to {max} characters on one line, or env:NAME",
                    field_label(field)
                ),
            ));
        }
        Ok(Secret::Value(raw.to_owned()))
    }
}

fn field_label(field: Field) -> &'static str {
    match field {
        Field::Url => "The URL",
        _ => "The secret",
    }
}

/// How a stored secret is shown: only where it comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretSource {
    None,
    Stored,
    Environment,
}

/// A channel about to be created, every field checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelSpec {
    pub name: String,
    pub kind: ChannelKind,
    /// Shown back: the webhook's URL or the SMTP server's `smtp://host:port`; none for Slack.
    pub endpoint: Option<String>,
    /// The webhook's signing key, the Slack URL, or the SMTP password.
    pub secret: Option<Secret>,
    pub mail_from: Option<String>,
    pub mail_to: Vec<String>,
    pub smtp_user: Option<String>,
    pub topics: Vec<Topic>,
}

/// A channel as either door receives it: the Notification Channels form or
/// `POST /api/notifications/channels`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ChannelRequest {
    #[serde(default)]
    pub name: Option<WireField>,
    #[serde(default)]
    pub kind: Option<WireField>,
    #[serde(default)]
    pub url: Option<WireField>,
    #[serde(default)]
    pub secret: Option<WireField>,
    #[serde(default)]
    pub mail_from: Option<WireField>,
    #[serde(default)]
    pub mail_to: Option<WireField>,
    #[serde(default)]
    pub smtp_user: Option<WireField>,
    #[serde(default)]
    pub topics: Option<WireField>,
}

pub const SIGNING_KEY_MIN: usize = 32;
pub const SECRET_MAX: usize = 512;
pub const URL_MAX: usize = 2048;
pub const RECIPIENTS_MAX: usize = 20;

fn text(field: Option<WireField>) -> Option<String> {
    match field {
        Some(WireField::Text(t)) if !t.trim().is_empty() => Some(t.trim().to_owned()),
        _ => None,
    }
}

impl TryFrom<ChannelRequest> for ChannelSpec {
    type Error = FieldError;

    /// Name, kind, URL, secret, sender, recipients, login, topics: the first that is missing,
    /// mistyped or invalid is the one named.
    fn try_from(raw: ChannelRequest) -> Result<Self, FieldError> {
        let name = text(raw.name)
            .filter(|n| n.chars().count() <= 64 && !n.chars().any(char::is_control))
            .ok_or_else(|| FieldError::new(Field::Name, "Name must be 1 to 64 characters"))?;
        let kind = text(raw.kind)
            .and_then(|k| ChannelKind::parse(&k))
            .ok_or_else(|| {
                FieldError::new(Field::Kind, "Kind must be one of webhook, slack, email")
            })?;
        let url = text(raw.url).ok_or_else(|| FieldError::new(Field::Url, url_rule(kind)))?;
        let secret = text(raw.secret);
        let (endpoint, secret) = match kind {
            ChannelKind::Webhook => {
                web_url(&url).ok_or_else(|| FieldError::new(Field::Url, url_rule(kind)))?;
                let key = secret.ok_or_else(|| {
                    FieldError::new(
                        Field::Secret,
                        format!(
                            "A webhook needs a signing secret of {SIGNING_KEY_MIN} to \
                             {SECRET_MAX} characters, or env:NAME"
                        ),
                    )
                })?;
                let key = Secret::parse(Field::Secret, &key, SIGNING_KEY_MIN, SECRET_MAX)?;
                (Some(url), Some(key))
            }
            ChannelKind::Slack => {
                if secret.is_some() {
                    return Err(FieldError::new(
                        Field::Secret,
                        "A Slack channel takes no secret: its URL is the secret",
                    ));
                }
                let secret = Secret::parse(Field::Url, &url, 1, URL_MAX)?;
                if let Secret::Value(url) = &secret {
                    web_url(url).ok_or_else(|| FieldError::new(Field::Url, url_rule(kind)))?;
                }
                (None, Some(secret))
            }
            ChannelKind::Email => {
                smtp_url(&url).ok_or_else(|| FieldError::new(Field::Url, url_rule(kind)))?;
                let secret = secret
                    .map(|s| Secret::parse(Field::Secret, &s, 1, SECRET_MAX))
                    .transpose()?;
                (Some(url), secret)
            }
        };
        let (mail_from, mail_to, smtp_user) = if kind == ChannelKind::Email {
            let from = text(raw.mail_from).filter(|a| mailbox(a)).ok_or_else(|| {
                FieldError::new(Field::MailFrom, "Sender must be one email address")
            })?;
            let to: Vec<String> = text(raw.mail_to)
                .map(|list| list.split(',').map(|a| a.trim().to_owned()).collect())
                .unwrap_or_default();
            if to.is_empty() || to.len() > RECIPIENTS_MAX || !to.iter().all(|a| mailbox(a)) {
                return Err(FieldError::new(
                    Field::MailTo,
                    format!(
                        "Recipients must be 1 to {RECIPIENTS_MAX} email addresses, separated \
                         by commas"
                    ),
                ));
            }
            let user = text(raw.smtp_user);
            if user
                .as_ref()
                .is_some_and(|u| u.chars().count() > 254 || u.chars().any(char::is_control))
            {
                return Err(FieldError::new(
                    Field::SmtpUser,
                    "SMTP login must be at most 254 characters",
                ));
            }
            if user.is_some() != secret.is_some() {
                return Err(FieldError::new(
                    Field::Secret,
                    "Give an SMTP login and its password together, or neither",
                ));
            }
            (Some(from), to, user)
        } else {
            (None, Vec::new(), None)
        };
        let topics = topics(raw.topics)?;
        Ok(Self {
            name,
            kind,
            endpoint,
            secret,
            mail_from,
            mail_to,
            smtp_user,
            topics,
        })
    }
}

fn url_rule(kind: ChannelKind) -> &'static str {
    match kind {
        ChannelKind::Webhook => {
            "URL must be https://… (or http:// to this machine), at most 2048 characters"
        }
        ChannelKind::Slack => {
            "URL must be the incoming webhook's https://… (or http:// to this machine), or \
             env:NAME"
        }
        ChannelKind::Email => "URL must be the SMTP server as smtp://host:port",
    }
}

/// The host of an `https://` URL, or of an `http://` URL to this machine; `None` otherwise.
pub fn web_url(url: &str) -> Option<&str> {
    if url.len() > URL_MAX || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let (secure, rest) = match url.split_once("://")? {
        ("https", rest) => (true, rest),
        ("http", rest) => (false, rest),
        _ => return None,
    };
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.contains('@') {
        return None;
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next()?,
        None => authority.split(':').next()?,
    };
    let loopback = matches!(host, "127.0.0.1" | "localhost" | "::1");
    (!host.is_empty() && (secure || loopback)).then_some(host)
}

/// `(host, port)` of `smtp://host:port` (port 587 when left out).
pub fn smtp_url(url: &str) -> Option<(&str, u16)> {
    let authority = url.strip_prefix("smtp://")?.trim_end_matches('/');
    if authority.is_empty()
        || authority.len() > 255
        || authority.contains(['/', '@', '?', '#'])
        || authority
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        return None;
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => Some((host, port.parse().ok().filter(|p| *p > 0)?)),
        None => Some((authority, 587)),
    }
    .filter(|(host, _)| !host.is_empty())
}

/// A plain address: one `@`, something on each side, no spaces, angle brackets or commas.
fn mailbox(address: &str) -> bool {
    address.len() <= 254
        && !address.contains(|c: char| c.is_whitespace() || c.is_control() || "<>,;\"".contains(c))
        && address.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        })
}

fn topics(raw: Option<WireField>) -> Result<Vec<Topic>, FieldError> {
    let bad = || {
        FieldError::new(
            Field::Topics,
            format!(
                "Topics must be a list of {}",
                TOPICS.map(Topic::as_str).join(", ")
            ),
        )
    };
    let items = match raw {
        Some(WireField::List(items)) => items,
        Some(WireField::Text(one)) if !one.trim().is_empty() => vec![WireField::Text(one)],
        _ => Vec::new(),
    };
    let mut parsed = Vec::new();
    for item in items {
        let topic = match item {
            WireField::Text(t) => Topic::parse(t.trim()).filter(|t| *t != Topic::Test),
            _ => None,
        }
        .ok_or_else(bad)?;
        if !parsed.contains(&topic) {
            parsed.push(topic);
        }
    }
    if parsed.is_empty() {
        return Err(FieldError::new(
            Field::Topics,
            "Choose at least one event to send",
        ));
    }
    parsed.sort_by_key(|t| TOPICS.iter().position(|x| x == t));
    Ok(parsed)
}

/// A channel as the Configuration panel lists it: nothing secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Channel {
    pub id: i64,
    pub name: String,
    pub kind: ChannelKind,
    pub endpoint: Option<String>,
    pub secret: SecretSource,
    pub mail_from: Option<String>,
    pub mail_to: Vec<String>,
    pub smtp_user: Option<String>,
    pub topics: Vec<Topic>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

/// Something worth telling, written to the outbox of every channel subscribed to its topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub topic: Topic,
    pub at: DateTime<Utc>,
    pub severity: Severity,
    pub title: String,
    pub message: String,
    pub window_id: Option<i64>,
    /// A path in the product (`/review/3`), made absolute with the public URL when sent.
    pub link: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Pending, Self::Delivered, Self::Failed]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }
}

/// One notification to one channel, as the delivery log on the Alerts page shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub id: i64,
    pub channel: String,
    pub topic: Topic,
    pub title: String,
    pub created_at: DateTime<Utc>,
    pub status: DeliveryStatus,
    pub attempts: i64,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub idempotency_key: String,
}

/// Attempts a notification gets before it is given up as failed.
pub const MAX_ATTEMPTS: i64 = 10;
/// The longest wait between two attempts.
pub const MAX_RETRY_DELAY: chrono::TimeDelta = chrono::TimeDelta::minutes(15);

/// When to try again after the `attempts`-th failed attempt: `base`, doubled for each attempt
/// before, at most `MAX_RETRY_DELAY`; `None` after `MAX_ATTEMPTS`.
pub fn retry_delay(attempts: i64, base: chrono::TimeDelta) -> Option<chrono::TimeDelta> {
    if attempts >= MAX_ATTEMPTS {
        return None;
    }
    let doublings = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(0)
        .min(20);
    Some(
        base.checked_mul(1 << doublings)
            .unwrap_or(MAX_RETRY_DELAY)
            .min(MAX_RETRY_DELAY),
    )
}

/// A notification on its way: the notice, its key (the same in every attempt) and the link
/// made absolute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub idempotency_key: String,
    pub topic: Topic,
    pub severity: Severity,
    pub at: DateTime<Utc>,
    pub title: String,
    pub message: String,
    pub window_id: Option<i64>,
    pub link: Option<String>,
}

impl Message {
    /// The generic webhook's JSON body.
    pub fn webhook_body(&self) -> serde_json::Value {
        serde_json::json!({
            "idempotency_key": self.idempotency_key,
            "event": self.topic.as_str(),
            "severity": self.severity.as_str(),
            "at": self.at,
            "title": self.title,
            "message": self.message,
            "window_id": self.window_id,
            "link": self.link,
        })
    }

    /// A Slack incoming webhook's body: the title as a header, the message, and a context
    /// line with the link and the key. Slack reads `&`, `<` and `>` as markup, so the text is
    /// escaped; a reason cannot make a link or mention of its own.
    pub fn slack_body(&self) -> serde_json::Value {
        let mut context = Vec::new();
        if let Some(link) = &self.link {
            context.push(format!("<{}|Open in breakglass>", slack_escape(link)));
        }
        context.push(format!(
            "{} · {} · key `{}`",
            self.severity.as_str(),
            crate::domain::time_format::utc(self.at),
            self.idempotency_key
        ));
        serde_json::json!({
            "text": format!("{}: {}", slack_escape(&self.title), slack_escape(&self.message)),
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": truncate(&self.title, 150)}},
                {"type": "section", "text": {"type": "mrkdwn", "text": slack_escape(&self.message)}},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": context.join("\n")}]},
            ],
        })
    }

    pub fn email_subject(&self) -> String {
        format!("[breakglass] {}", self.title)
    }

    pub fn email_body(&self) -> String {
        let mut body = format!(
            "{}\n\n{}\n\nSeverity: {}\nAt: {}\n",
            self.title,
            self.message,
            self.severity.as_str(),
            crate::domain::time_format::utc(self.at)
        );
        if let Some(link) = &self.link {
            body.push_str(&format!("Open: {link}\n"));
        }
        body.push_str(&format!("Idempotency key: {}\n", self.idempotency_key));
        body
    }
}

fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(kind: &str, url: &str, secret: &str) -> ChannelRequest {
        ChannelRequest {
            name: Some(WireField::Text("ops".into())),
            kind: Some(WireField::Text(kind.into())),
            url: Some(WireField::Text(url.into())),
            secret: Some(WireField::Text(secret.into())),
            mail_from: Some(WireField::Text("breakglass@example.com".into())),
            mail_to: Some(WireField::Text("a@example.com, b@example.com".into())),
            smtp_user: None,
            topics: Some(WireField::List(vec![
                WireField::Text("expiry".into()),
                WireField::Text("activation".into()),
            ])),
        }
    }

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn a_webhook_needs_a_web_url_and_a_long_signing_secret() {
        let spec =
            ChannelSpec::try_from(form("webhook", "https://hooks.example.com/x", KEY)).unwrap();
        assert_eq!(
            spec.endpoint.as_deref(),
            Some("https://hooks.example.com/x")
        );
        assert_eq!(spec.secret, Some(Secret::Value(KEY.into())));
        assert_eq!(spec.topics, vec![Topic::Activation, Topic::Expiry]);
        assert!(spec.mail_to.is_empty());
        let field = |r: ChannelRequest| ChannelSpec::try_from(r).unwrap_err().field;
        assert_eq!(
            field(form("webhook", "https://x.example", "short")),
            Field::Secret
        );
        assert_eq!(
            field(form("webhook", "https://x.example", "")),
            Field::Secret
        );
        for bad in [
            "http://hooks.example.com/x",
            "ftp://x.example",
            "https://user:pw@x.example",
            "https:// x.example",
            "https://",
        ] {
            assert_eq!(field(form("webhook", bad, KEY)), Field::Url, "{bad}");
        }
        assert!(ChannelSpec::try_from(form("webhook", "http://127.0.0.1:9/h", KEY)).is_ok());
        assert_eq!(
            ChannelSpec::try_from(form("webhook", "https://x.example", "env:HOOK_KEY"))
                .unwrap()
                .secret,
            Some(Secret::Env("HOOK_KEY".into()))
        );
        assert_eq!(
            field(form("webhook", "https://x.example", "env:lower")),
            Field::Secret
        );
    }

    #[test]
    fn a_slack_url_is_the_secret_and_never_the_endpoint() {
        let spec =
            ChannelSpec::try_from(form("slack", "https://hooks.slack.com/services/T/B/X", ""))
                .unwrap();
        assert_eq!(spec.endpoint, None);
        assert_eq!(
            spec.secret,
            Some(Secret::Value(
                "https://hooks.slack.com/services/T/B/X".into()
            ))
        );
        let err = ChannelSpec::try_from(form("slack", "https://hooks.slack.com/x", KEY));
        assert_eq!(err.unwrap_err().field, Field::Secret);
        assert_eq!(
            ChannelSpec::try_from(form("slack", "env:SLACK_URL", ""))
                .unwrap()
                .secret,
            Some(Secret::Env("SLACK_URL".into()))
        );
    }

    #[test]
    fn email_needs_a_server_a_sender_and_recipients() {
        let spec =
            ChannelSpec::try_from(form("email", "smtp://mail.example.com:2525", "")).unwrap();
        assert_eq!(spec.mail_to, vec!["a@example.com", "b@example.com"]);
        assert_eq!(
            smtp_url("smtp://mail.example.com"),
            Some(("mail.example.com", 587))
        );
        let mut no_to = form("email", "smtp://mail.example.com", "");
        no_to.mail_to = Some(WireField::Text("a@example.com, not an address".into()));
        assert_eq!(
            ChannelSpec::try_from(no_to).unwrap_err().field,
            Field::MailTo
        );
        let mut login_without_password = form("email", "smtp://mail.example.com", "");
        login_without_password.smtp_user = Some(WireField::Text("robot".into()));
        assert_eq!(
            ChannelSpec::try_from(login_without_password)
                .unwrap_err()
                .field,
            Field::Secret
        );
        assert_eq!(
            ChannelSpec::try_from(form("email", "smtp://h:0", ""))
                .unwrap_err()
                .field,
            Field::Url
        );
    }

    #[test]
    fn topics_are_known_at_least_one_and_never_test() {
        let with = |topics: WireField| {
            let mut r = form("webhook", "https://x.example", KEY);
            r.topics = Some(topics);
            ChannelSpec::try_from(r)
        };
        assert_eq!(
            with(WireField::List(vec![])).unwrap_err().field,
            Field::Topics
        );
        assert_eq!(
            with(WireField::Text("test".into())).unwrap_err().field,
            Field::Topics
        );
        assert_eq!(
            with(WireField::Text("ack_overdue".into())).unwrap().topics,
            vec![Topic::AckOverdue]
        );
        for t in TOPICS {
            assert_eq!(Topic::parse(t.as_str()), Some(t));
        }
    }

    #[test]
    fn the_first_bad_field_in_form_order_is_named() {
        let mut r = form("nope", "ftp://x", "");
        r.name = Some(WireField::Whole(3));
        assert_eq!(
            ChannelSpec::try_from(r.clone()).unwrap_err().field,
            Field::Name
        );
        r.name = Some(WireField::Text("ops".into()));
        assert_eq!(ChannelSpec::try_from(r).unwrap_err().field, Field::Kind);
    }

    #[test]
    fn retries_back_off_to_a_ceiling_and_then_stop() {
        let base = chrono::TimeDelta::seconds(10);
        let delays: Vec<_> = (1..=MAX_ATTEMPTS).map(|n| retry_delay(n, base)).collect();
        assert_eq!(delays[0], Some(base));
        assert_eq!(delays[1], Some(base * 2));
        assert_eq!(delays[2], Some(base * 4));
        assert_eq!(delays[8], Some(MAX_RETRY_DELAY));
        assert_eq!(delays[9], None);
        assert!(delays.windows(2).all(|w| w[1].is_none() || w[0] <= w[1]));
    }

    #[test]
    fn a_secret_is_never_printed() {
        assert!(!format!("{:?}", Secret::Value(KEY.into())).contains(KEY));
    }

    #[test]
    fn slack_text_cannot_carry_markup_of_its_own() {
        let m = Message {
            idempotency_key: "k1".into(),
            topic: Topic::Activation,
            severity: Severity::Critical,
            at: DateTime::UNIX_EPOCH,
            title: "Break-Glass Activated".into(),
            message: "Reason: <!channel> & <https://evil.example|click>".into(),
            window_id: Some(1),
            link: Some("https://bg.example/review/1".into()),
        };
        let body = m.slack_body().to_string();
        assert!(!body.contains("<!channel>"), "{body}");
        assert!(body.contains("&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;"));
        assert!(body.contains("<https://bg.example/review/1|Open in breakglass>"));
        assert_eq!(m.webhook_body()["idempotency_key"], "k1");
        assert!(m.email_body().contains("Idempotency key: k1"));
    }
}
