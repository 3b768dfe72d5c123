//! Independent implementations of the learning-record standards, installed from package
//! registries into `target/peers/` on first use (`.ci/run` installs them up front):
//! - **Ralph** (`ralph-malph` on PyPI, France Université Numérique's LRS): a real xAPI 1.0.3
//!   Learning Record Store that validates every statement it is sent;
//! - the **IMS Caliper sensor library** (`ims-caliper` on npm, a packaging of IMS Global's
//!   caliper-js reference code), whose validators judge the envelopes a small endpoint
//!   (`tests/peers/caliper_endpoint.js`) receives.
//!
//! Without Python or Node (or a registry) the tests using them are skipped with a note,
//! except under `CI=true`, where that is a failure.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::helpers::free_port;

const RALPH: &str = "ralph-malph[lrs,cli]==5.1.0";
const IMS_CALIPER: &str = "ims-caliper@1.1.0";

fn peers_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("peers")
}

/// Runs `install` under a lock shared by every test process, unless `ready` already holds.
fn installed(
    name: &str,
    ready: impl Fn() -> bool,
    install: impl FnOnce() -> Result<(), String>,
) -> Option<()> {
    if ready() {
        return Some(());
    }
    let dir = peers_dir();
    std::fs::create_dir_all(&dir).ok()?;
    let lock = std::fs::File::create(dir.join(format!("{name}.lock"))).ok()?;
    lock.lock().ok()?;
    let outcome = if ready() { Ok(()) } else { install() };
    match outcome {
        Ok(()) if ready() => Some(()),
        Ok(()) => unavailable(name, "installed, but it does not start"),
        Err(problem) => unavailable(name, &problem),
    }
}

fn unavailable(name: &str, problem: &str) -> Option<()> {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true but the {name} peer is unavailable: {problem}");
    }
    eprintln!("skipping a {name} test: {problem}");
    None
}

fn run(command: &mut Command) -> Result<(), String> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|err| format!("{command:?}: {err}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{command:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .last()
                .unwrap_or_default()
        ))
    }
}

async fn answers(url: &str) {
    crate::helpers::eventually(
        Duration::from_secs(60),
        &format!("{url} to answer"),
        || async {
            reqwest::get(url)
                .await
                .ok()
                .filter(|r| r.status().is_success())
        },
    )
    .await;
}

/// Starts Ralph's API under uvicorn. Ralph's filesystem storage (its development backend;
/// the others need Elasticsearch, MongoDB or ClickHouse) creates its one file and refuses a
/// second write to it, so the launcher sets that backend's write mode to append. Storage
/// only: statement validation, id conflicts and queries are Ralph's own.
fn launcher(port: u16) -> String {
    format!(
        "import ralph.backends.lrs.fs as fs\n\
         from ralph.backends.data.base import BaseOperationType\n\
         fs.FSLRSBackend.default_operation_type = BaseOperationType.APPEND\n\
         import uvicorn\n\
         uvicorn.run('ralph.api:app', host='127.0.0.1', port={port}, log_level='warning')\n"
    )
}

/// Ralph's own LRS client (`ralph write -b lrs`) posts `statements` to the LRS at `base`
/// (statements resource `statements_path`) with Basic `key:secret`, as an LMS would; `None`
/// when Ralph is unavailable (see `installed`), else whether the client reported success.
pub async fn ralph_client_posts(
    base: &str,
    statements_path: &str,
    key: &str,
    secret: &str,
    statements: &[Value],
) -> Option<bool> {
    Lrs::install()?;
    let venv = peers_dir().join("ralph");
    let input: String = statements.iter().map(|s| format!("{s}\n")).collect();
    let mut child = Command::new(venv.join("bin/ralph"))
        .env("RALPH_RUNSERVER_BACKEND", "fs")
        .args([
            "write",
            "-b",
            "lrs",
            "--lrs-base-url",
            base,
            "--lrs-statements-endpoint",
            statements_path,
        ])
        .args(["--lrs-username", key, "--lrs-password", secret])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ralph write");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    if !output.status.success() {
        eprintln!("ralph write: {}", String::from_utf8_lossy(&output.stderr));
    }
    Some(output.status.success())
}

/// A running Ralph LRS with one set of credentials; killed on drop.
pub struct Lrs {
    /// The xAPI base an LMS or Herald is configured with (`…/xAPI`): statements are under it.
    pub base: String,
    pub key: String,
    pub secret: String,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Lrs {
    /// Installs Ralph when it is missing (`None`: unavailable).
    fn install() -> Option<()> {
        let venv = peers_dir().join("ralph");
        let python = venv.join("bin/python");
        let ready = || {
            Command::new(&python)
                .args(["-c", "import ralph.api, requests, uvicorn"])
                .env("RALPH_RUNSERVER_BACKEND", "fs")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        installed("Ralph LRS", ready, || {
            run(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
            run(Command::new(venv.join("bin/pip")).args(["install", "--quiet", RALPH, "requests"]))
        })
    }

    pub async fn start() -> Option<Self> {
        Self::install()?;
        let venv = peers_dir().join("ralph");
        let python = venv.join("bin/python");
        let dir = tempfile::tempdir().unwrap();
        let (key, secret) = (
            "herald-lrs-key".to_owned(),
            format!("secret-{}", uuid::Uuid::now_v7().simple()),
        );
        let env = |command: &mut Command| {
            command
                .env("RALPH_APP_DIR", dir.path().join("app"))
                .env("RALPH_AUTH_FILE", dir.path().join("auth.json"))
                .env("RALPH_RUNSERVER_BACKEND", "fs")
                .env(
                    "RALPH_BACKENDS__LRS__FS__DEFAULT_DIRECTORY_PATH",
                    dir.path().join("store"),
                );
        };
        let mut auth = Command::new(venv.join("bin/ralph"));
        env(&mut auth);
        run(auth.args([
            "auth",
            "-u",
            &key,
            "-p",
            &secret,
            "-s",
            "all",
            "-M",
            "mailto:herald-tests@example.org",
            "-w",
        ]))
        .expect("ralph auth");
        let port = free_port();
        let mut server = Command::new(&python);
        env(&mut server);
        let child = server
            .args(["-c", &launcher(port)])
            .stdin(Stdio::null())
            .spawn()
            .expect("start Ralph");
        let lrs = Self {
            base: format!("http://127.0.0.1:{port}/xAPI"),
            key,
            secret,
            child,
            _dir: dir,
        };
        answers(&format!("http://127.0.0.1:{port}/__lbheartbeat__")).await;
        Some(lrs)
    }

    /// Every statement the LRS stores (newest first, as the LRS answers).
    pub async fn statements(&self) -> Vec<Value> {
        let response = reqwest::Client::new()
            .get(format!("{}/statements?limit=500", self.base))
            .basic_auth(&self.key, Some(&self.secret))
            .header("X-Experience-API-Version", "1.0.3")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        body["statements"].as_array().cloned().unwrap_or_default()
    }

    /// Posts statements straight to the LRS, as another client would.
    pub async fn post(&self, statements: &Value) -> reqwest::Response {
        reqwest::Client::new()
            .post(format!("{}/statements", self.base))
            .basic_auth(&self.key, Some(&self.secret))
            .header("X-Experience-API-Version", "1.0.3")
            .json(statements)
            .send()
            .await
            .unwrap()
    }
}

impl Drop for Lrs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Caliper endpoint judged by the IMS Caliper library; killed on drop.
pub struct CaliperEndpoint {
    pub url: String,
    pub token: String,
    child: Child,
}

impl CaliperEndpoint {
    pub async fn start() -> Option<Self> {
        let prefix = peers_dir().join("caliper");
        let modules = prefix.join("node_modules");
        let ready = || {
            modules
                .join("ims-caliper/lib/validators/eventValidator.js")
                .exists()
                && Command::new("node")
                    .arg("--version")
                    .stdout(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
        };
        installed("IMS Caliper", ready, || {
            std::fs::create_dir_all(&prefix).map_err(|e| e.to_string())?;
            run(Command::new("npm")
                .args([
                    "install",
                    "--no-audit",
                    "--no-fund",
                    "--loglevel=error",
                    "--prefix",
                ])
                .arg(&prefix)
                .arg(IMS_CALIPER))
        })?;
        let port = free_port();
        let token = format!("caliper-{}", uuid::Uuid::now_v7().simple());
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/caliper_endpoint.js");
        let child = Command::new("node")
            .arg(script)
            .arg(&modules)
            .arg(port.to_string())
            .arg(&token)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("start the Caliper endpoint");
        let endpoint = Self {
            url: format!("http://127.0.0.1:{port}/"),
            token,
            child,
        };
        answers(&format!("http://127.0.0.1:{port}/events")).await;
        Some(endpoint)
    }

    /// The events it accepted, in order.
    pub async fn events(&self) -> Vec<Value> {
        reqwest::get(format!("{}events", self.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

impl Drop for CaliperEndpoint {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
