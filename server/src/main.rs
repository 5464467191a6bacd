use app::server::clock::{DatabaseClock, SharedClock, SystemClock};
use app::server::database::Store;
use server::config::{Config, HELP};
use std::sync::Arc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    if std::env::args().skip(1).any(|a| a == "--help" || a == "-h") {
        print!("{HELP}");
        return std::process::ExitCode::SUCCESS;
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args == ["audit", "verify"] {
        return audit_verify().await;
    }
    if let Some(arg) = std::env::args().nth(1) {
        eprintln!(
            "breakglass: unknown argument {arg:?}; configuration is by environment\n\n{HELP}"
        );
        return std::process::ExitCode::from(2);
    }
    tracing_subscriber::fmt()
        // Colours for a terminal only, not for a log file or journald.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .init();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("breakglass: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(config.site_addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("breakglass: cannot listen on {}: {e}", config.site_addr);
            return std::process::ExitCode::FAILURE;
        }
    };
    // Replicas share PostgreSQL's clock, so that they judge expiry and cool-down alike.
    let clock: SharedClock = match Store::of_url(&config.database_url) {
        Some(Store::Postgres) => {
            match DatabaseClock::connect(&config.database_url, Arc::new(SystemClock)).await {
                Ok(clock) => clock,
                Err(e) => {
                    eprintln!("breakglass: cannot read the database's clock: {e}");
                    return std::process::ExitCode::FAILURE;
                }
            }
        }
        _ => Arc::new(SystemClock),
    };
    let running = match server::start(&config, clock, listener).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("breakglass: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    if let Some(password) = &running.generated_admin_password {
        println!("Created the operator `admin` with the generated password: {password}");
        println!("It is shown only this once; set BREAKGLASS_ADMIN_PASSWORD to choose your own.");
    }
    println!("breakglass is listening on http://{}", running.addr);
    stop_signal().await;
    tracing::info!("shutting down");
    match running.stop().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("breakglass: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Ctrl-C, or SIGTERM as sent by service managers.
async fn stop_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler installs");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// `breakglass audit verify`: checks the audit trail's chain in `DATABASE_URL` (with the MACs
/// when `BREAKGLASS_AUDIT_KEY` is set); exits 1 naming the first entry that does not fit.
async fn audit_verify() -> std::process::ExitCode {
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("breakglass: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    app::server::audit_trail::use_mac_key(config.audit_key.map(|k| k.0));
    let checked = match app::server::database::connect(&config.database_url).await {
        Ok(pool) => match app::server::audit_trail::verify_chain(&pool).await {
            Ok(check) => match &config.audit_checkpoints {
                Some(path) => {
                    app::server::audit_trail::verify_checkpoints(&pool, check, path).await
                }
                None => Ok(check),
            },
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    match checked {
        Ok(c) => {
            println!(
                "{} entries checked{}, {} from before the chain; head {}",
                c.checked,
                if c.macs_checked {
                    " with their MACs"
                } else {
                    " (no BREAKGLASS_AUDIT_KEY: hashes only)"
                },
                c.before_chain,
                c.head.as_deref().unwrap_or("(empty)")
            );
            if c.ok {
                println!("the audit trail is intact");
                return std::process::ExitCode::SUCCESS;
            }
            let why = c.why.unwrap_or_default();
            match c.first_bad_id {
                Some(id) => println!("audit entry {id} does not fit: {why}"),
                None => println!("the audit trail does not fit: {why}"),
            }
            std::process::ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("breakglass: cannot read the audit trail: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
