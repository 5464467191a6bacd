//! Configuration from the environment; `breakglass --help` prints this list.

use std::net::SocketAddr;

pub const HELP: &str = "\
breakglass — the LLM security shield's emergency bypass

USAGE:
    breakglass [--help]
    breakglass audit verify    checks the audit trail's hash chain (and MACs, with
                               BREAKGLASS_AUDIT_KEY) in DATABASE_URL; exit status 1 names the
                               first entry that does not fit

ENVIRONMENT:
    LEPTOS_SITE_ADDR           listen address (default 127.0.0.1:3000)
    DATABASE_URL               store: sqlite://<file> for one replica (default
                               sqlite://data/breakglass.db, created when missing), or
                               postgres://user:pass@host/db for several replicas on one database
    BREAKGLASS_ADMIN_PASSWORD  password of the bootstrap operator `admin`, used only when the
                               database has no operator yet; when unset, a generated password is
                               printed once on that first start
    BREAKGLASS_SESSION_HOURS   login session lifetime in hours, 1 to 168 (default 12)
    BREAKGLASS_ACK_MINUTES     minutes after an activation by which a second operator must
                               acknowledge the window, 1 to 240 (default 15), until an admin
                               sets the policy on the Configuration panel; past it, a
                               CRITICAL escalation
    BREAKGLASS_SECURE_COOKIES  `true` when served over HTTPS: session cookies get `Secure`
                               (default false)
    BREAKGLASS_LITELLM_URL     base URL of the LiteLLM proxy that normal traffic goes to
                               (default http://127.0.0.1:4000)
    BREAKGLASS_LITELLM_API_KEY key the gateway presents to LiteLLM (optional)
    BREAKGLASS_BYPASS_URL      base URL of the model provider that traffic goes to directly
                               while break-glass is active (e.g. https://api.openai.com)
    BREAKGLASS_BYPASS_API_KEY  key for that provider
    BREAKGLASS_UPSTREAM_TIMEOUT_SECONDS
                               how long the gateway waits for an upstream's answer to begin,
                               and for each next piece of a streamed answer, 1 to 3600
                               (default 300); then the request ends as upstream_timeout
    BREAKGLASS_SHUTDOWN_GRACE_SECONDS
                               on shutdown, how long requests in flight may still finish,
                               0 to 600 (default 10); then they end as shutdown
    BREAKGLASS_TRAFFIC_FSYNC   which traffic commits wait for the disk: before-forwarding
                               (default: a bypassed request's record before it is forwarded,
                               and at least one commit every 100 ms) or every-commit
    BREAKGLASS_SESSIONS_DIR    root of the OpenClaw session transcripts that the Session
                               Watcher follows (<root>/agents/<agent>/sessions/*.jsonl;
                               default ~/.openclaw)
    BREAKGLASS_SECRETS_KEY     64 hex digits (32 bytes), the same on every replica: encrypts
                               the notification channels' secrets in the database (without
                               it, channels take their secrets only as env:NAME)
    BREAKGLASS_AUDIT_KEY       64 hex digits (32 bytes), the same on every replica: each audit
                               entry's link in the hash chain carries an HMAC under it, so
                               that rewriting the trail needs the key, not only database
                               access (`breakglass audit verify` checks it)
    BREAKGLASS_AUDIT_CHECKPOINTS
                               a file outside the database where the audit chain's head is
                               appended whenever it moved (JSON lines, fsynced; also logged);
                               `audit verify` checks them (default: no checkpoints)
    BREAKGLASS_AUDIT_CHECKPOINT_MS
                               how often the head is checked for a checkpoint, 10 to 3600000
                               ms (default 60000)
    BREAKGLASS_AUDIT_SYSLOG    host:port of a syslog receiver: every audit entry, with its chain
                               link, as RFC 5424 over TCP (octet-counted), at least once
    BREAKGLASS_PUBLIC_URL      the address operators open (e.g. https://breakglass.example.com);
                               links in notifications start with it (default: paths only)
    BREAKGLASS_NOTIFY_POLL_MS  how often each replica looks for notifications to send, 10 to
                               60000 ms (default 1000)
    BREAKGLASS_NOTIFY_RETRY_MS the first retry's delay after a failed delivery, doubled for each
                               next one up to 15 minutes, 10 attempts in all; 10 to 600000 ms
                               (default 10000)
    LEPTOS_SITE_ROOT           directory of the built site (default target/site)
    RUST_LOG                   log filter (default info)
";

#[derive(Clone, Debug)]
pub struct Config {
    pub site_addr: SocketAddr,
    pub database_url: String,
    pub admin_password: Option<String>,
    pub session_hours: i64,
    /// The acknowledgement deadline until an admin sets one on the Configuration panel.
    pub ack_minutes: app::domain::break_glass::AckMinutes,
    pub secure_cookies: bool,
    pub site_root: String,
    pub litellm_url: String,
    pub litellm_api_key: Option<String>,
    pub bypass_url: Option<String>,
    pub bypass_api_key: Option<String>,
    pub sessions_dir: std::path::PathBuf,
    pub upstream_timeout: std::time::Duration,
    pub shutdown_grace: std::time::Duration,
    pub traffic_fsync: app::server::traffic::Fsync,
    pub secrets_key: Option<app::server::secrets::Sealer>,
    pub audit_key: Option<AuditKey>,
    /// Where checkpoints of the audit chain's head go, and how often.
    pub audit_checkpoints: Option<std::path::PathBuf>,
    pub audit_checkpoint_every: std::time::Duration,
    /// `host:port` of a syslog receiver (RFC 5424 over TCP) for the audit trail.
    pub audit_syslog: Option<String>,
    pub notify: Notify,
}

/// The key of the audit chain's MACs (`BREAKGLASS_AUDIT_KEY`), never printed.
#[derive(Clone)]
pub struct AuditKey(pub Vec<u8>);

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditKey(…)")
    }
}

/// How the notification worker works.
#[derive(Clone, Debug)]
pub struct Notify {
    pub poll: std::time::Duration,
    pub retry_base: chrono::TimeDelta,
    pub public_url: Option<String>,
}

/// A whole number of milliseconds from `range`, or `default` when unset.
fn millis(
    get: &impl Fn(&str) -> Option<String>,
    name: &str,
    range: std::ops::RangeInclusive<u64>,
    default: u64,
) -> Result<std::time::Duration, ConfigError> {
    match get(name) {
        None => Ok(std::time::Duration::from_millis(default)),
        Some(v) => v
            .parse::<u64>()
            .ok()
            .filter(|n| range.contains(n))
            .map(std::time::Duration::from_millis)
            .ok_or_else(|| {
                ConfigError(format!(
                    "{name} must be a whole number of milliseconds from {} to {}",
                    range.start(),
                    range.end()
                ))
            }),
    }
}

/// A whole number of seconds from `range`, or `default` when unset.
fn seconds(
    get: &impl Fn(&str) -> Option<String>,
    name: &str,
    range: std::ops::RangeInclusive<u64>,
    default: u64,
) -> Result<std::time::Duration, ConfigError> {
    let n = match get(name) {
        None => default,
        Some(v) => v
            .parse::<u64>()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or_else(|| {
                ConfigError(format!(
                    "{name} must be a whole number of seconds from {} to {}",
                    range.start(),
                    range.end()
                ))
            })?,
    };
    Ok(std::time::Duration::from_secs(n))
}

fn base_url(name: &str, value: String) -> Result<String, ConfigError> {
    let base = value.trim_end_matches('/');
    if (value.starts_with("http://") || value.starts_with("https://"))
        && reqwest::Url::parse(base).is_ok_and(|u| u.has_host())
    {
        Ok(base.to_owned())
    } else {
        Err(ConfigError(format!(
            "{name} must be an http:// or https:// URL"
        )))
    }
}

/// A configuration value that is present but wrong: the variable and the rule it breaks.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let site_addr = get("LEPTOS_SITE_ADDR")
            .unwrap_or_else(|| "127.0.0.1:3000".into())
            .parse()
            .map_err(|_| {
                ConfigError("LEPTOS_SITE_ADDR must be an address like 127.0.0.1:3000".into())
            })?;
        let session_hours = match get("BREAKGLASS_SESSION_HOURS") {
            None => 12,
            Some(v) => v
                .parse::<i64>()
                .ok()
                .filter(|h| (1..=168).contains(h))
                .ok_or_else(|| {
                    ConfigError(
                        "BREAKGLASS_SESSION_HOURS must be a whole number of hours from 1 to 168"
                            .into(),
                    )
                })?,
        };
        let ack_minutes = get("BREAKGLASS_ACK_MINUTES")
            .map_or(Some(15), |v| v.trim().parse::<i64>().ok())
            .and_then(|m| app::domain::break_glass::AckMinutes::parse(m).ok())
            .ok_or_else(|| {
                ConfigError(
                    "BREAKGLASS_ACK_MINUTES must be a whole number of minutes from 1 to 240".into(),
                )
            })?;
        let secure_cookies = match get("BREAKGLASS_SECURE_COOKIES").as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => {
                return Err(ConfigError(
                    "BREAKGLASS_SECURE_COOKIES must be true or false".into(),
                ))
            }
        };
        let database_url =
            get("DATABASE_URL").unwrap_or_else(|| "sqlite://data/breakglass.db".into());
        if app::server::database::Store::of_url(&database_url).is_none() {
            return Err(ConfigError(
                "DATABASE_URL must start with sqlite: (one replica) or postgres:// (several)"
                    .into(),
            ));
        }
        let litellm_url = base_url(
            "BREAKGLASS_LITELLM_URL",
            get("BREAKGLASS_LITELLM_URL").unwrap_or_else(|| "http://127.0.0.1:4000".into()),
        )?;
        let bypass_url = get("BREAKGLASS_BYPASS_URL")
            .map(|v| base_url("BREAKGLASS_BYPASS_URL", v))
            .transpose()?;
        let sessions_dir = match get("BREAKGLASS_SESSIONS_DIR") {
            Some(dir) => std::path::PathBuf::from(dir),
            None => get("HOME")
                .map(std::path::PathBuf::from)
                .ok_or_else(|| {
                    ConfigError(
                        "BREAKGLASS_SESSIONS_DIR must be set when HOME is not (its default is \
                         ~/.openclaw)"
                            .into(),
                    )
                })?
                .join(".openclaw"),
        };
        let upstream_timeout = seconds(&get, "BREAKGLASS_UPSTREAM_TIMEOUT_SECONDS", 1..=3600, 300)?;
        let shutdown_grace = seconds(&get, "BREAKGLASS_SHUTDOWN_GRACE_SECONDS", 0..=600, 10)?;
        let traffic_fsync = match get("BREAKGLASS_TRAFFIC_FSYNC") {
            None => app::server::traffic::Fsync::default(),
            Some(v) => app::server::traffic::Fsync::parse(&v).ok_or_else(|| {
                ConfigError(format!(
                    "BREAKGLASS_TRAFFIC_FSYNC must be {}",
                    app::server::traffic::Fsync::VALUES
                ))
            })?,
        };
        let secrets_key = get("BREAKGLASS_SECRETS_KEY")
            .map(|key| {
                app::server::secrets::Sealer::from_hex(&key).ok_or_else(|| {
                    ConfigError(
                        "BREAKGLASS_SECRETS_KEY must be 64 hex digits (32 bytes; e.g. from \
                         `openssl rand -hex 32`)"
                            .into(),
                    )
                })
            })
            .transpose()?;
        let audit_key = get("BREAKGLASS_AUDIT_KEY")
            .map(|key| {
                hex::decode(key.trim())
                    .ok()
                    .filter(|k| k.len() == 32)
                    .map(AuditKey)
                    .ok_or_else(|| {
                        ConfigError(
                            "BREAKGLASS_AUDIT_KEY must be 64 hex digits (32 bytes; e.g. from \
                             `openssl rand -hex 32`)"
                                .into(),
                        )
                    })
            })
            .transpose()?;
        let audit_checkpoints = get("BREAKGLASS_AUDIT_CHECKPOINTS").map(std::path::PathBuf::from);
        let audit_checkpoint_every = millis(
            &get,
            "BREAKGLASS_AUDIT_CHECKPOINT_MS",
            10..=3_600_000,
            60_000,
        )?;
        let audit_syslog = get("BREAKGLASS_AUDIT_SYSLOG")
            .map(|v| {
                let v = v.trim().to_owned();
                match v.rsplit_once(':') {
                    Some((host, port))
                        if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0) =>
                    {
                        Ok(v)
                    }
                    _ => Err(ConfigError(
                        "BREAKGLASS_AUDIT_SYSLOG must be host:port of a syslog receiver over TCP"
                            .into(),
                    )),
                }
            })
            .transpose()?;
        let notify = Notify {
            poll: millis(&get, "BREAKGLASS_NOTIFY_POLL_MS", 10..=60_000, 1_000)?,
            retry_base: chrono::TimeDelta::from_std(millis(
                &get,
                "BREAKGLASS_NOTIFY_RETRY_MS",
                10..=600_000,
                10_000,
            )?)
            .expect("at most ten minutes"),
            public_url: get("BREAKGLASS_PUBLIC_URL")
                .map(|v| base_url("BREAKGLASS_PUBLIC_URL", v))
                .transpose()?,
        };
        Ok(Self {
            secrets_key,
            audit_key,
            audit_checkpoints,
            audit_checkpoint_every,
            audit_syslog,
            notify,
            traffic_fsync,
            upstream_timeout,
            shutdown_grace,
            site_addr,
            sessions_dir,
            litellm_url,
            litellm_api_key: get("BREAKGLASS_LITELLM_API_KEY"),
            bypass_url,
            bypass_api_key: get("BREAKGLASS_BYPASS_API_KEY"),
            database_url,
            admin_password: get("BREAKGLASS_ADMIN_PASSWORD"),
            session_hours,
            ack_minutes,
            secure_cookies,
            site_root: get("LEPTOS_SITE_ROOT").unwrap_or_else(|| "target/site".into()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(move |k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
    }

    #[test]
    fn defaults() {
        let c = with(&[("HOME", "/home/ops")]).unwrap();
        assert_eq!(c.sessions_dir, std::path::Path::new("/home/ops/.openclaw"));
        assert_eq!(c.site_addr.to_string(), "127.0.0.1:3000");
        assert_eq!(c.database_url, "sqlite://data/breakglass.db");
        assert_eq!(c.session_hours, 12);
        assert_eq!(c.ack_minutes.minutes(), 15);
        assert!(!c.secure_cookies);
        assert_eq!(
            c.traffic_fsync,
            app::server::traffic::Fsync::BeforeForwarding
        );
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (k, v) in [
            ("LEPTOS_SITE_ADDR", "nowhere"),
            ("BREAKGLASS_SESSION_HOURS", "0"),
            ("BREAKGLASS_SECURE_COOKIES", "yes"),
            ("DATABASE_URL", "mysql://x"),
            ("BREAKGLASS_LITELLM_URL", "localhost:4000"),
            ("BREAKGLASS_BYPASS_URL", "ftp://x"),
            ("BREAKGLASS_BYPASS_URL", "http://provider example"),
            ("BREAKGLASS_LITELLM_URL", "http://"),
            ("BREAKGLASS_UPSTREAM_TIMEOUT_SECONDS", "0"),
            ("BREAKGLASS_SHUTDOWN_GRACE_SECONDS", "soon"),
            ("BREAKGLASS_TRAFFIC_FSYNC", "sometimes"),
            ("BREAKGLASS_SECRETS_KEY", "not hex at all"),
            ("BREAKGLASS_SECRETS_KEY", "abcd"),
            ("BREAKGLASS_AUDIT_KEY", "0123"),
            ("BREAKGLASS_AUDIT_CHECKPOINT_MS", "5"),
            ("BREAKGLASS_AUDIT_SYSLOG", "syslog.example.com"),
            ("BREAKGLASS_PUBLIC_URL", "breakglass.example.com"),
            ("BREAKGLASS_NOTIFY_POLL_MS", "0"),
            ("BREAKGLASS_NOTIFY_RETRY_MS", "later"),
        ] {
            let err = with(&[(k, v), ("HOME", "/h")]).unwrap_err();
            assert!(err.0.starts_with(k), "{k}: {}", err.0);
        }
        let err = with(&[]).unwrap_err();
        assert!(err.0.starts_with("BREAKGLASS_SESSIONS_DIR"), "{}", err.0);
    }
}
