//! A real PostgreSQL for the tests. `scripts/test.sh` starts one cluster and
//! exports `SSI_TEST_POSTGRES_URL`; without it (a plain `cargo test`), this
//! process starts a private cluster from Debian's binaries and stops it when
//! the process exits. Each test gets its own fresh database.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use sqlx::{Connection, Executor, PgConnection};

static ADMIN_URL: OnceLock<String> = OnceLock::new();

fn postgres_bin_dir() -> PathBuf {
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap_or_else(|e| {
            panic!("PostgreSQL is not installed ({root:?}: {e}); run scripts/test.sh, which installs it")
        })
        .filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions
        .pop()
        .expect("no PostgreSQL server binaries under /usr/lib/postgresql; run scripts/test.sh")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Runs a PostgreSQL binary, as the `postgres` user when we are root
/// (PostgreSQL refuses to run as root).
fn pg_command(bin: &Path, as_postgres: bool) -> Command {
    if as_postgres {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(bin);
        command
    } else {
        Command::new(bin)
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn start_private_cluster() -> String {
    let bin = postgres_bin_dir();
    let as_postgres = is_root();
    let dir = std::env::temp_dir().join(format!("ssi-pg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create cluster dir");
    if as_postgres {
        let status = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&dir)
            .status()
            .expect("chown");
        assert!(status.success(), "chown of {dir:?} failed");
    }
    let data = dir.join("data");
    let output = pg_command(&bin.join("initdb"), as_postgres)
        .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
        .arg(&data)
        .output()
        .expect("run initdb");
    assert!(
        output.status.success(),
        "initdb failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let port = free_port();
    let log = dir.join("postgres.log");
    let status = pg_command(&bin.join("pg_ctl"), as_postgres)
        .arg("-D")
        .arg(&data)
        .arg("-l")
        .arg(&log)
        .arg("-o")
        .arg(format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=400",
            dir.display()
        ))
        .args(["-w", "start"])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run pg_ctl start");
    assert!(status.success(), "pg_ctl start failed; see {log:?}");
    // Stop the cluster when this test process ends, however it ends.
    let stop = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; {runuser}{pg_ctl} -D {data} -m immediate stop >/dev/null 2>&1; rm -rf {dir}",
        pid = std::process::id(),
        runuser = if as_postgres {
            "runuser -u postgres -- "
        } else {
            ""
        },
        pg_ctl = bin.join("pg_ctl").display(),
        data = data.display(),
        dir = dir.display(),
    );
    // The stopper outlives this process by design, so it is never waited for.
    #[allow(clippy::zombie_processes)]
    Command::new("sh")
        .args(["-c", &stop])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn the cluster's stopper");
    format!("postgres://postgres@127.0.0.1:{port}/postgres")
}

fn admin_url() -> &'static str {
    ADMIN_URL.get_or_init(|| match std::env::var("SSI_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => start_private_cluster(),
    })
}

/// A new, empty database on the test cluster; returns its URL.
pub async fn fresh_database() -> String {
    let admin = admin_url();
    let name = format!("t_{}_{}", std::process::id(), unique_suffix());
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut conn = loop {
        match PgConnection::connect(admin).await {
            Ok(conn) => break conn,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("cannot reach the test PostgreSQL at {admin}: {e}"),
        }
    };
    conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .expect("create the test database");
    let base = admin.rsplit_once('/').expect("URL with a database").0;
    format!("{base}/{name}")
}

fn unique_suffix() -> String {
    use ssi_token::Random;
    let mut bytes = [0u8; 8];
    ssi_token::SystemRandom.fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
