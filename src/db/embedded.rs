//! The embedded default database: a private PostgreSQL cluster under the data directory,
//! created on first use from the server binaries installed on the machine, reachable only
//! through a unix socket in a directory nobody else can enter.
//!
//! As root, `initdb` and `postgres` refuse to run, so the cluster runs as the `postgres`
//! account (its directory is chowned to it). Another Herald process on the same data
//! directory (say `herald user add` while `herald serve` runs) reuses the running cluster.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use diesel::{Connection, PgConnection, RunQueryDsl};
use nix::sys::signal::{Signal, kill};
use nix::unistd::{Gid, Pid, Uid, User, chown};

const PORT: u16 = 5432;
const SUPERUSER: &str = "herald";
/// Unix socket paths are limited to 107 bytes; leave room for `/.s.PGSQL.5432`.
const MAX_SOCKET_DIR_LEN: usize = 90;

/// Tuning for the cluster: tests trade durability for speed, production does not.
#[derive(Debug, Clone, Copy)]
pub struct ClusterOptions {
    pub durable: bool,
    pub max_connections: u32,
    /// Load `pg_stat_statements` (the benchmark's breakdown of database work per delivery).
    pub track_statements: bool,
    /// Also accept TLS connections on 127.0.0.1 at this port (which then names the Unix
    /// socket too), with a self-signed certificate made by the `openssl` command: for tests
    /// of TLS to the database. Herald's own cluster is reached over its Unix socket only.
    pub tls_port: Option<u16>,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        Self {
            durable: true,
            max_connections: 100,
            track_statements: false,
            tls_port: None,
        }
    }
}

/// A running cluster; stopped when dropped if this process started it.
#[derive(Debug)]
pub struct EmbeddedPostgres {
    root: PathBuf,
    socket_dir: PathBuf,
    port: u16,
    tls: bool,
    postmaster: Option<Child>,
}

/// The OS account the server processes run as when Herald itself runs as root.
#[derive(Debug, Clone)]
struct ServerAccount {
    name: String,
    uid: Uid,
    gid: Gid,
    groups: Vec<Gid>,
}

impl EmbeddedPostgres {
    /// Creates (first run) or reuses the cluster under `root` and waits until it accepts
    /// connections; the database `herald` exists afterwards.
    pub fn start(root: &Path, options: ClusterOptions) -> anyhow::Result<Self> {
        let bindir = find_server_binaries()?;
        let account = server_account()?;
        fs::create_dir_all(root).with_context(|| format!("could not create {}", root.display()))?;
        let root = root
            .canonicalize()
            .with_context(|| format!("could not resolve {}", root.display()))?;
        prepare_private_dir(&root, account.as_ref())?;
        if let Some(account) = &account {
            ensure_reachable(&root, account)?;
        }

        let data = root.join("data");
        if !data.join("PG_VERSION").exists() {
            init_cluster(&bindir, &root, &data, account.as_ref(), options)?;
        }
        let socket_dir = socket_dir_for(&root);
        prepare_private_dir(&socket_dir, account.as_ref())?;

        let mut cluster = Self {
            root: root.clone(),
            socket_dir,
            port: options.tls_port.unwrap_or(PORT),
            tls: options.tls_port.is_some(),
            postmaster: None,
        };
        if running_postmaster(&data).is_some() {
            tracing::info!(cluster = %root.display(), "reusing the embedded PostgreSQL cluster started by another Herald process");
        } else {
            cluster.postmaster =
                Some(cluster.spawn_postmaster(&bindir, &data, account.as_ref(), options)?);
        }
        cluster.wait_until_ready()?;
        cluster.ensure_database("herald")?;
        Ok(cluster)
    }

    /// A libpq URL for `database` over the cluster's unix socket.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgresql:///{database}?host={}&port={}&user={SUPERUSER}",
            urlencoding::encode(&self.socket_dir.to_string_lossy()),
            self.port
        )
    }

    /// A libpq URL for `database` over TLS on 127.0.0.1, when the cluster was started with
    /// `tls_port`.
    pub fn tls_url(&self, database: &str) -> Option<String> {
        self.tls.then(|| {
            format!(
                "postgresql://{SUPERUSER}@127.0.0.1:{}/{database}?sslmode=require",
                self.port
            )
        })
    }

    /// The certificate and key of the TLS listener.
    fn tls_files(&self) -> (PathBuf, PathBuf) {
        (self.root.join("server.crt"), self.root.join("server.key"))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether this process started the postmaster (and will stop it).
    pub fn owns_server(&self) -> bool {
        self.postmaster.is_some()
    }

    /// Creates `database` unless it exists.
    pub fn ensure_database(&self, database: &str) -> anyhow::Result<()> {
        let mut conn = PgConnection::establish(&self.url("postgres"))
            .context("could not connect to the embedded PostgreSQL cluster")?;
        let exists: i64 = diesel::sql_query(format!(
            "SELECT count(*) AS n FROM pg_database WHERE datname = '{}'",
            database.replace('\'', "''")
        ))
        .get_result::<Count>(&mut conn)?
        .n;
        if exists == 0 {
            diesel::sql_query(format!(
                "CREATE DATABASE \"{}\"",
                database.replace('"', "\"\"")
            ))
            .execute(&mut conn)?;
        }
        Ok(())
    }

    /// Stops the postmaster this process started (fast shutdown), waiting for it to exit.
    pub fn stop(&mut self) {
        let Some(mut child) = self.postmaster.take() else {
            return;
        };
        let pid = Pid::from_raw(child.id() as i32);
        // SIGINT = "fast" shutdown: roll back open transactions, checkpoint, exit.
        let _ = kill(pid, Signal::SIGINT);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match child.try_wait() {
                Ok(Some(_)) => return,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                _ => break,
            }
        }
        tracing::warn!("PostgreSQL did not stop in 30 s; forcing it");
        let _ = kill(pid, Signal::SIGQUIT);
        let _ = child.wait();
    }

    fn spawn_postmaster(
        &self,
        bindir: &Path,
        data: &Path,
        account: Option<&ServerAccount>,
        options: ClusterOptions,
    ) -> anyhow::Result<Child> {
        let log_path = self.root.join("postgres.log");
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("could not open {}", log_path.display()))?;
        let mut command = Command::new(bindir.join("postgres"));
        command
            .arg("-D")
            .arg(data)
            .arg("-k")
            .arg(&self.socket_dir)
            .args(["-p", &self.port.to_string()])
            .args(["-c", "unix_socket_permissions=0700"])
            // Short OLTP statements only: JIT compiling costs more than it saves (see
            // db/liveness.rs, which also turns it off for a server of one's own).
            .args(["-c", "jit=off"])
            .args([
                "-c",
                &format!("max_connections={}", options.max_connections),
            ]);
        if options.tls_port.is_some() {
            let (certificate, key) = self.tls_files();
            make_self_signed_certificate(&certificate, &key, account)?;
            command
                .args(["-h", "127.0.0.1", "-c", "ssl=on", "-c"])
                .arg(format!("ssl_cert_file={}", certificate.display()))
                .arg("-c")
                .arg(format!("ssl_key_file={}", key.display()));
        } else {
            command.args(["-h", ""]);
        }
        if options.track_statements {
            command
                .args(["-c", "shared_preload_libraries=pg_stat_statements"])
                .args(["-c", "pg_stat_statements.track_planning=on"]);
        }
        if options.durable {
            // Durable (fsync, synchronous commit, full-page writes all on), tuned for a queue:
            // checkpoints less often, so fewer full-page images follow each one (most of the
            // WAL of an update-heavy table right after a checkpoint), and compressed when
            // they are written.
            command.args([
                "-c",
                "checkpoint_timeout=15min",
                "-c",
                "max_wal_size=2GB",
                "-c",
                "wal_compression=on",
            ]);
        } else {
            command.args([
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ]);
        }
        command
            .current_dir(&self.root)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            // Its own process group: a Ctrl-C in the terminal reaches Herald, which then
            // shuts the server down in order instead of both racing.
            .process_group(0);
        run_as(&mut command, account);
        command
            .spawn()
            .with_context(|| format!("could not start {}", bindir.join("postgres").display()))
    }

    fn wait_until_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let url = self.url("postgres");
        loop {
            if let Some(child) = self.postmaster.as_mut()
                && let Some(status) = child.try_wait()?
            {
                self.postmaster = None;
                bail!(
                    "PostgreSQL exited at start ({status}); its log says:\n{}",
                    log_tail(&self.root.join("postgres.log"))
                );
            }
            match PgConnection::establish(&url) {
                Ok(_) => return Ok(()),
                Err(err) if Instant::now() >= deadline => {
                    bail!("PostgreSQL did not accept connections within 60 s: {err}")
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }
}

impl Drop for EmbeddedPostgres {
    fn drop(&mut self) {
        self.stop();
    }
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// The directory holding `initdb` and `postgres`: on PATH, from `pg_config --bindir`, or the
/// newest `/usr/lib/postgresql/*/bin`.
pub fn find_server_binaries() -> anyhow::Result<PathBuf> {
    let has_server = |dir: &Path| dir.join("initdb").is_file() && dir.join("postgres").is_file();
    let mut candidates: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect())
        .unwrap_or_default();
    if let Ok(output) = Command::new("pg_config").arg("--bindir").output()
        && output.status.success()
    {
        candidates.push(PathBuf::from(
            String::from_utf8_lossy(&output.stdout).trim(),
        ));
    }
    let mut versioned: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_string_lossy().parse::<u32>().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    versioned.sort_by_key(|(version, _)| std::cmp::Reverse(*version));
    candidates.extend(versioned.into_iter().map(|(_, dir)| dir));
    candidates
        .into_iter()
        .find(|dir| has_server(dir))
        .ok_or_else(|| {
            anyhow!(
                "PostgreSQL server binaries (initdb, postgres) were not found: install them \
             (Debian: apt-get install postgresql) or set DATABASE_URL to an existing server"
            )
        })
}

fn server_account() -> anyhow::Result<Option<ServerAccount>> {
    if !Uid::effective().is_root() {
        return Ok(None);
    }
    let user = User::from_name("postgres")?.ok_or_else(|| {
        anyhow!(
            "running as root, the embedded PostgreSQL must run as the `postgres` account, which \
             does not exist (Debian: apt-get install postgresql creates it), or set DATABASE_URL"
        )
    })?;
    let name = std::ffi::CString::new(user.name.clone())?;
    let groups = nix::unistd::getgrouplist(&name, user.gid).unwrap_or_else(|_| vec![user.gid]);
    Ok(Some(ServerAccount {
        name: user.name,
        uid: user.uid,
        gid: user.gid,
        groups,
    }))
}

fn run_as(command: &mut Command, account: Option<&ServerAccount>) {
    if let Some(account) = account {
        command.uid(account.uid.as_raw()).gid(account.gid.as_raw());
        command.env("HOME", "/tmp").env("USER", &account.name);
    }
}

/// A certificate for `localhost` and its key, readable by the server account alone (the
/// server refuses a key others can read).
fn make_self_signed_certificate(
    certificate: &Path,
    key: &Path,
    account: Option<&ServerAccount>,
) -> anyhow::Result<()> {
    if !certificate.exists() {
        let output = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args(["-subj", "/CN=localhost", "-keyout"])
            .arg(key)
            .arg("-out")
            .arg(certificate)
            .output()
            .context("could not run `openssl req` for the test certificate")?;
        if !output.status.success() {
            bail!(
                "openssl req failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
    }
    for file in [certificate, key] {
        if let Some(account) = account {
            chown(file, Some(account.uid), Some(account.gid))
                .with_context(|| format!("could not give {} to the server", file.display()))?;
        }
        fs::set_permissions(file, fs::Permissions::from_mode(0o600))
            .with_context(|| format!("could not restrict {}", file.display()))?;
    }
    Ok(())
}

/// Creates `dir` with mode 0700, owned by the server account when there is one.
fn prepare_private_dir(dir: &Path, account: Option<&ServerAccount>) -> anyhow::Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))?;
    if let Some(account) = account {
        chown(dir, Some(account.uid), Some(account.gid)).with_context(|| {
            format!(
                "could not give {} to the `{}` account",
                dir.display(),
                account.name
            )
        })?;
    }
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .with_context(|| format!("could not restrict {} to 0700", dir.display()))?;
    Ok(())
}

/// The server account must be able to enter every directory above the cluster; a data dir
/// under root's 0700 home is the usual trap.
fn ensure_reachable(root: &Path, account: &ServerAccount) -> anyhow::Result<()> {
    for dir in root.ancestors().skip(1) {
        let meta =
            fs::metadata(dir).with_context(|| format!("could not inspect {}", dir.display()))?;
        let mode = meta.mode();
        let can_enter = if meta.uid() == account.uid.as_raw() {
            mode & 0o100 != 0
        } else if account.groups.iter().any(|gid| gid.as_raw() == meta.gid()) {
            mode & 0o010 != 0
        } else {
            mode & 0o001 != 0
        };
        if !can_enter {
            bail!(
                "the embedded PostgreSQL runs as the `{}` account, which cannot enter {}: \
                 run `chmod o+x {}` or set HERALD_DATA_DIR to a directory it can reach",
                account.name,
                dir.display(),
                dir.display()
            );
        }
    }
    Ok(())
}

fn init_cluster(
    bindir: &Path,
    root: &Path,
    data: &Path,
    account: Option<&ServerAccount>,
    options: ClusterOptions,
) -> anyhow::Result<()> {
    // A directory left by an interrupted initdb would make the next one refuse to run.
    if data.exists() {
        fs::remove_dir_all(data).with_context(|| format!("could not clear {}", data.display()))?;
    }
    prepare_private_dir(data, account)?;
    let mut command = Command::new(bindir.join("initdb"));
    command
        .arg("-D")
        .arg(data)
        .args([
            "-U",
            SUPERUSER,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-instructions",
        ])
        .current_dir(root);
    if !options.durable {
        command.arg("--no-sync");
    }
    run_as(&mut command, account);
    let output = command
        .output()
        .with_context(|| format!("could not run {}", bindir.join("initdb").display()))?;
    if !output.status.success() {
        bail!(
            "initdb failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    tracing::info!(cluster = %data.display(), "created the embedded PostgreSQL cluster");
    Ok(())
}

/// A postmaster already serving `data` (started by another Herald process), if any. A stale
/// `postmaster.pid` left by a crash is removed so it cannot block this start.
fn running_postmaster(data: &Path) -> Option<i32> {
    let pid_file = data.join("postmaster.pid");
    let contents = fs::read_to_string(&pid_file).ok()?;
    let pid: i32 = contents.lines().next()?.trim().parse().ok()?;
    let alive = kill(Pid::from_raw(pid), None).is_ok();
    let is_postgres = fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|comm| comm.trim().starts_with("postgres"))
        .unwrap_or(false);
    if alive && is_postgres {
        return Some(pid);
    }
    tracing::warn!(
        pid,
        "removing a stale postmaster.pid left by an earlier crash"
    );
    let _ = fs::remove_file(&pid_file);
    None
}

/// `root/run`, or a fixed per-cluster directory under /tmp when that path is too long.
fn socket_dir_for(root: &Path) -> PathBuf {
    let preferred = root.join("run");
    if preferred.as_os_str().len() <= MAX_SOCKET_DIR_LEN {
        return preferred;
    }
    use sha2::Digest;
    let digest = sha2::Sha256::digest(root.as_os_str().as_encoded_bytes());
    PathBuf::from(format!("/tmp/herald-pg-{}", hex::encode(&digest[..8])))
}

fn log_tail(path: &Path) -> String {
    let Ok(file) = File::open(path) else {
        return "(no log)".into();
    };
    use std::io::{BufRead, BufReader};
    let lines: Vec<String> = BufReader::new(file).lines().map_while(Result::ok).collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}
