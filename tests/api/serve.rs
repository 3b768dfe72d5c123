//! `herald serve` as a person runs it: first start prints the admin's credentials once, the
//! embedded default creates its own cluster, SIGTERM stops everything cleanly.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::helpers::{Browser, TestDatabase, assert_redirects_to};

struct Served {
    child: Child,
    address: String,
    output: Vec<String>,
}

impl Served {
    fn password(&self) -> Option<String> {
        self.output
            .iter()
            .find_map(|line| line.trim().strip_prefix("password: ").map(str::to_owned))
    }

    /// SIGTERM, then wait for a clean exit.
    fn stop(mut self) {
        kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM).unwrap();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "herald exited with {status}");
    }
}

impl Drop for Served {
    /// A failed test must not leave a server (and its cluster) running.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM);
            let _ = self.child.wait();
        }
    }
}

/// Starts `herald serve` and waits (up to two minutes) until it says where it listens.
fn serve(configure: impl FnOnce(&mut Command)) -> Served {
    let mut command = Command::new(env!("CARGO_BIN_EXE_herald"));
    command
        .arg("serve")
        .env("HERALD_BIND", "127.0.0.1:0")
        .env("HERALD_COOKIE_SECURE", "false")
        .env("HERALD_HTTP_WORKERS", "1")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    configure(&mut command);
    let mut served = Served {
        child: command.spawn().unwrap(),
        address: String::new(),
        output: Vec::new(),
    };
    let stdout = served.child.stdout.take().unwrap();
    let (lines_tx, lines_rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    loop {
        // On a timeout the panic drops `served`, which stops the process.
        let line = lines_rx
            .recv_timeout(Duration::from_secs(120))
            .unwrap_or_else(|_| panic!("herald did not start; it printed {:?}", served.output));
        if let Some(rest) = line.split("serving the console on ").nth(1) {
            served.address = rest.trim_end_matches('/').to_owned();
            return served;
        }
        served.output.push(line);
    }
}

async fn health(address: &str) -> reqwest::StatusCode {
    reqwest::get(format!("{address}/healthz"))
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn the_first_start_creates_an_admin_and_prints_the_password_once() {
    let database = TestDatabase::empty();
    let url = database.url.clone();
    let first = tokio::task::spawn_blocking(move || {
        serve(|c| {
            c.env("DATABASE_URL", &url)
                .env("HERALD_DATA_DIR", std::env::temp_dir());
        })
    })
    .await
    .unwrap();
    let password = first
        .password()
        .expect("the first start prints the admin password");
    assert!(first.output.iter().any(|l| l.contains("username: admin")));
    assert!(password.len() >= 20);

    let browser = Browser::new_for(&first.address);
    assert_redirects_to(&browser.login("admin", &password).await, "/");
    assert!(browser.get_html("/users").await.contains(">admin</a>"));
    first.stop();

    let url = database.url.clone();
    let second = tokio::task::spawn_blocking(move || {
        serve(|c| {
            c.env("DATABASE_URL", &url)
                .env("HERALD_DATA_DIR", std::env::temp_dir());
        })
    })
    .await
    .unwrap();
    assert!(
        second.password().is_none(),
        "printed credentials twice: {:?}",
        second.output
    );
    second.stop();
}

#[tokio::test]
async fn herald_admin_password_sets_the_first_admins_password() {
    let database = TestDatabase::empty();
    let url = database.url.clone();
    let served = tokio::task::spawn_blocking(move || {
        serve(|c| {
            c.env("DATABASE_URL", &url)
                .env("HERALD_DATA_DIR", std::env::temp_dir())
                .env("HERALD_ADMIN_PASSWORD", "chosen-admin-password");
        })
    })
    .await
    .unwrap();
    assert!(
        served
            .output
            .iter()
            .any(|l| l.contains("HERALD_ADMIN_PASSWORD"))
    );
    assert!(
        !served
            .output
            .iter()
            .any(|l| l.contains("chosen-admin-password"))
    );
    let browser = Browser::new_for(&served.address);
    assert_redirects_to(&browser.login("admin", "chosen-admin-password").await, "/");
    served.stop();
}

fn postmaster_pid(data_dir: &Path) -> Option<i32> {
    std::fs::read_to_string(data_dir.join("postgres/data/postmaster.pid"))
        .ok()?
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}

#[tokio::test]
async fn with_no_database_url_herald_runs_its_own_cluster_and_stops_it_on_sigterm() {
    let dir = tempfile::Builder::new()
        .prefix("herald-serve-")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let data_dir = dir.path().join("data");

    let dd = data_dir.clone();
    let served = tokio::task::spawn_blocking(move || {
        serve(|c| {
            c.env_remove("DATABASE_URL").env("HERALD_DATA_DIR", &dd);
        })
    })
    .await
    .unwrap();
    assert_eq!(health(&served.address).await, reqwest::StatusCode::OK);
    let password = served.password().expect("credentials printed");
    let pid = postmaster_pid(&data_dir).expect("a postmaster runs under the data dir");
    let key_mode = std::fs::metadata(data_dir.join("secret.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(key_mode & 0o777, 0o600);
    served.stop();
    assert!(
        postmaster_pid(&data_dir).is_none(),
        "postmaster.pid left behind"
    );
    assert!(
        kill(Pid::from_raw(pid), None).is_err(),
        "the postmaster still runs"
    );

    // A crash leaves a stale postmaster.pid behind: it must not block the next start.
    std::fs::write(
        data_dir.join("postgres/data/postmaster.pid"),
        "999999\n/stale\n1\n5432\n\n\n",
    )
    .unwrap();
    let dd = data_dir.clone();
    let again = tokio::task::spawn_blocking(move || {
        serve(|c| {
            c.env_remove("DATABASE_URL").env("HERALD_DATA_DIR", &dd);
        })
    })
    .await
    .unwrap();
    assert!(again.password().is_none());
    let browser = Browser::new_for(&again.address);
    assert_redirects_to(&browser.login("admin", &password).await, "/");
    again.stop();
}
