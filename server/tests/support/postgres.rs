//! A PostgreSQL server for tests: `TEST_POSTGRES_URL` when set (each test gets a database of
//! its own there), otherwise a throwaway cluster started here (initdb into a temporary
//! directory, a free port on 127.0.0.1) and stopped when the value is dropped.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Postgres {
    /// A database of this test's own.
    pub url: String,
    cluster: Option<Cluster>,
}

struct Cluster {
    bin: PathBuf,
    data: PathBuf,
    run_as: Option<String>,
    _dir: tempfile::TempDir,
}

/// Where Debian puts the server programs (`/usr/lib/postgresql/<version>/bin`).
fn server_bin() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is installed (.ci/setup installs Debian's postgresql)")
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").exists())
        .collect();
    versions.sort();
    versions
        .pop()
        .expect("an initdb under /usr/lib/postgresql/*/bin")
}

/// initdb and postgres refuse to run as root; then they run as the `postgres` user.
fn command(bin: &Path, program: &str, run_as: Option<&str>) -> Command {
    match run_as {
        Some(user) => {
            let mut c = Command::new("runuser");
            c.args(["-u", user, "--"]).arg(bin.join(program));
            c
        }
        None => Command::new(bin.join(program)),
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn database_name() -> String {
    static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("breakglass_test_{}_{n}", std::process::id())
}

impl Postgres {
    pub async fn start() -> Self {
        let name = database_name();
        if let Ok(admin_url) = std::env::var("TEST_POSTGRES_URL") {
            create_database(&admin_url, &name).await;
            return Self {
                url: with_database(&admin_url, &name),
                cluster: None,
            };
        }
        Self::start_cluster(&name, false).await
    }

    /// A cluster of its own that accepts only TLS connections over TCP (a self-signed
    /// certificate made here), with a URL that asks for TLS (`sslmode=require`).
    pub async fn start_tls() -> Self {
        Self::start_cluster(&database_name(), true).await
    }

    async fn start_cluster(name: &str, tls: bool) -> Self {
        let bin = server_bin();
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let run_as = is_root().then(|| "postgres".to_owned());
        if run_as.is_some() {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(status.success(), "chown the cluster directory to postgres");
        }
        let status = command(&bin, "initdb", run_as.as_deref())
            .args(["-D"])
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "initdb");
        let port = free_port();
        let mut options = format!(
            "-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={} \
             -c fsync=off -c full_page_writes=off -c max_connections=200",
            dir.path().display()
        );
        if tls {
            let status = command(Path::new("/usr/bin"), "openssl", run_as.as_deref())
                .args([
                    "req",
                    "-new",
                    "-x509",
                    "-days",
                    "1",
                    "-nodes",
                    "-subj",
                    "/CN=127.0.0.1",
                ])
                .arg("-keyout")
                .arg(data.join("server.key"))
                .arg("-out")
                .arg(data.join("server.crt"))
                .stderr(std::process::Stdio::null())
                .status()
                .unwrap();
            assert!(status.success(), "openssl makes a certificate");
            // Only TLS over TCP: a plain connection is refused.
            std::fs::write(
                data.join("pg_hba.conf"),
                "local all all trust\nhostssl all all 127.0.0.1/32 trust\n",
            )
            .unwrap();
            options.push_str(" -c ssl=on");
        }
        let status = command(&bin, "pg_ctl", run_as.as_deref())
            .args(["-D"])
            .arg(&data)
            .args(["-o", &options, "-w", "-l"])
            .arg(dir.path().join("server.log"))
            .arg("start")
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "pg_ctl start");
        let query = if tls { "?sslmode=require" } else { "" };
        let admin_url = format!("postgres://postgres@127.0.0.1:{port}/postgres{query}");
        create_database(&admin_url, name).await;
        Self {
            url: with_database(&admin_url, name),
            cluster: Some(Cluster {
                bin,
                data,
                run_as,
                _dir: dir,
            }),
        }
    }
}

/// `url` naming database `name` instead (its query, such as `sslmode`, kept).
pub fn with_database(url: &str, name: &str) -> String {
    let (base, rest) = url.rsplit_once('/').expect("a URL with a database");
    let query = rest.find('?').map_or("", |i| &rest[i..]);
    format!("{base}/{name}{query}")
}

pub async fn create_database(admin_url: &str, name: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(admin_url).await.unwrap();
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(c) = &self.cluster {
            let _ = command(&c.bin, "pg_ctl", c.run_as.as_deref())
                .args(["-D"])
                .arg(&c.data)
                .args(["-m", "immediate", "stop"])
                .stdout(std::process::Stdio::null())
                .status();
        }
    }
}
