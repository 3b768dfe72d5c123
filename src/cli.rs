//! The `herald` command line: `serve` (the default), `migrate`, `worker`, `user …`,
//! `token …`, `emit` and `generate-history`.

use std::io::{BufRead, IsTerminal};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use secrecy::ExposeSecret;

use crate::accounts;
use crate::auth::password::hash_password;
use crate::config::Settings;
use crate::db::{self, Database};
use crate::domain::password::NewPassword;
use crate::domain::password_strength;
use crate::domain::role::Role;
use crate::domain::secret_key::SecretKey;
use crate::domain::username::Username;
use crate::model::PageRequest;
use crate::model::audit::Actor;
use crate::model::user;
use crate::startup::Application;

#[derive(Debug, Parser)]
#[command(
    name = "herald",
    version,
    about = "Webhook admin console and delivery service for learning platforms"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the admin console (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage console users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Run only the delivery worker (no console), to scale delivery separately.
    Worker,
    /// Fill the database with made-up history (disabled webhooks, events, deliveries, attempts
    /// spread over the last days), for load tests of the console and the API. Adds to what is
    /// there; never run it against a database with real data.
    GenerateHistory {
        #[arg(long, default_value_t = 10_000_000)]
        deliveries: i64,
        #[arg(long, default_value_t = 1_000)]
        webhooks: i64,
        #[arg(long, default_value_t = 3)]
        attempts_per_delivery: i32,
        #[arg(long, default_value_t = 28)]
        days: i64,
    },
    /// Post one event through the ingest path, for scripts and demos.
    Emit {
        /// The event type, for example course.completed.
        event_type: String,
        /// The event's data as JSON.
        #[arg(long, default_value = "{}")]
        data: String,
        /// When it happened (RFC 3339); defaults to now.
        #[arg(long)]
        occurred_at: Option<String>,
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// Judge how easy a password is to guess (JSON on standard input and output); `serve`
    /// and `worker` run it so that the estimator's dictionaries never stay in their memory.
    #[command(hide = true)]
    JudgePassword,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token and print it (shown only this once).
    Add {
        name: String,
        /// ingest (post events), read or manage (the management API).
        #[arg(long, value_parser = crate::tokens::Scope::parse)]
        scope: crate::tokens::Scope,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user; the password is asked on the terminal, or read from stdin.
    Add {
        name: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a user's password (ends their open sessions).
    Passwd {
        name: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List,
    /// Disable a user (ends their open sessions).
    Disable { name: String },
    /// Enable a disabled user.
    Enable { name: String },
}

/// The helper's side of `password_strength`: one question in, one verdict out.
fn judge_password() -> anyhow::Result<()> {
    let question: password_strength::Question = serde_json::from_reader(std::io::stdin().lock())
        .context("reading the question from standard input")?;
    let verdict = password_strength::judge_here(&question);
    serde_json::to_writer(std::io::stdout().lock(), &verdict)?;
    Ok(())
}

fn parse_role(raw: &str) -> Result<Role, String> {
    raw.parse()
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::JudgePassword = command {
        return judge_password();
    }
    if matches!(command, Command::Serve | Command::Worker)
        && let Ok(executable) = std::env::current_exe()
    {
        password_strength::use_helper_process(executable);
    }
    let settings = Settings::from_env()?;
    match command {
        Command::Serve => serve(settings),
        Command::Migrate => {
            let database = Database::open(&settings)?;
            let pool = db::build_pool(&database.url, 1)?;
            db::run_migrations(&mut *pool.get()?)?;
            println!("Migrations are up to date.");
            Ok(())
        }
        Command::User(command) => run_user_command(&settings, command),
        Command::Worker => run_worker(settings),
        Command::JudgePassword => judge_password(),
        Command::Emit {
            event_type,
            data,
            occurred_at,
            idempotency_key,
        } => emit(&settings, event_type, &data, occurred_at, idempotency_key),
        Command::GenerateHistory {
            deliveries,
            webhooks,
            attempts_per_delivery,
            days,
        } => {
            if deliveries < 1
                || webhooks < 1
                || !(1..=20).contains(&attempts_per_delivery)
                || days < 1
            {
                bail!(
                    "--deliveries, --webhooks and --days must be at least 1, --attempts-per-delivery 1 to 20"
                );
            }
            let database = Database::open(&settings)?;
            let writers = 2;
            let pool = db::build_pool(&database.url, writers as u32 + 1)?;
            db::run_migrations(&mut *pool.get()?)?;
            let plan = crate::sample_history::Plan {
                deliveries,
                webhooks,
                attempts_per_delivery,
                days,
                ..Default::default()
            };
            crate::sample_history::generate(&pool, plan, writers)?;
            println!("Generated {deliveries} deliveries across {webhooks} webhooks.");
            Ok(())
        }
        Command::Token(TokenCommand::Add { name, scope }) => {
            let name = crate::tokens::parse_name(&name)
                .map_err(|problem| anyhow::anyhow!("name: {problem}"))?;
            let database = Database::open(&settings)?;
            let pool = db::build_pool(&database.url, 1)?;
            let mut conn = pool.get()?;
            db::run_migrations(&mut conn)?;
            let (token, plain) =
                crate::tokens::create(&mut conn, &Actor::command_line(), &name, scope)?;
            eprintln!(
                "Created API token {} ({}). It is shown only this once:",
                token.name, token.scope
            );
            println!("{}", plain.expose());
            Ok(())
        }
    }
}

fn serve(settings: Settings) -> anyhow::Result<()> {
    let database = Database::open(&settings)?;
    let pools = db::Pools::connect(&database.url, &settings)?;
    db::run_migrations(&mut *pools.web.get()?)?;
    let secret = match &settings.secret_key {
        Some(key) => key.clone(),
        None => {
            if settings.database_url.is_some() {
                tracing::warn!(
                    "HERALD_SECRET_KEY is not set: using the key kept in {}; every Herald process sharing this database needs the same key",
                    settings.data_dir.display()
                );
            }
            SecretKey::load_or_create(&settings.data_dir)?
        }
    };
    let first_admin = accounts::bootstrap_first_admin(
        &mut *pools.web.get()?,
        settings.admin_password.as_ref().map(|p| p.expose_secret()),
    )?;
    let bind = settings.bind;
    // For the banner, printed once the port is known.
    let banner_settings = settings.clone();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    let result = runtime.block_on(async move {
        let app = Application::build(settings, pools, secret).await?;
        app.stop_on_signal()?;
        let url = console_url(bind, app.port());
        if let Some(admin) = first_admin {
            print_first_admin(&admin, &url);
        }
        // Start-up is over: what it alone used need not stay resident.
        crate::file_pages::hand_back();
        say(&format!("Herald is serving the console on {url}/"));
        for line in local_receiver_notes(&banner_settings, &url).lines() {
            say(&format!(" {line}"));
        }
        app.run_until_stopped().await?;
        Ok::<_, anyhow::Error>(())
    });
    tracing::info!("stopped serving; shutting down");
    drop(database);
    result
}

/// The secret key of this installation: configured, or kept in the data directory.
fn secret_key(settings: &Settings) -> anyhow::Result<SecretKey> {
    match &settings.secret_key {
        Some(key) => Ok(key.clone()),
        None => SecretKey::load_or_create(&settings.data_dir),
    }
}

fn run_worker(settings: Settings) -> anyhow::Result<()> {
    let database = Database::open(&settings)?;
    // Claims, the recorder, lease reclaiming, retention and the LISTEN connection.
    let pool = db::build_worker_pool(&database.url, settings.worker_db_pool_size)?;
    db::run_migrations(&mut *pool.get()?)?;
    let secrets = crate::domain::secret_box::SecretBox::new(&secret_key(&settings)?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    let listen_url = database.url.clone();
    runtime.block_on(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let outbound = crate::delivery::Outbound::new(
            settings.worker.allow_private_targets.clone(),
            settings.worker.concurrency,
        )
        .with_inbox(pool.clone(), secrets.clone());
        let worker = crate::delivery::worker::Worker::new(
            pool,
            secrets,
            settings.worker.clone(),
            outbound,
            std::sync::Arc::new(tokio::sync::Notify::new()),
            Some(listen_url),
            Default::default(),
        );
        let stop = tokio_util::sync::CancellationToken::new();
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        let running = tokio::spawn(worker.clone().run(stop.clone()));
        // Start-up is over: what it alone used need not stay resident.
        crate::file_pages::hand_back();
        say(&format!("Herald worker {} is delivering", worker.id()));
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
        stop.cancel();
        let _ = running.await;
        Ok::<_, anyhow::Error>(())
    })?;
    drop(database);
    Ok(())
}

fn emit(
    settings: &Settings,
    event_type: String,
    data: &str,
    occurred_at: Option<String>,
    idempotency_key: Option<String>,
) -> anyhow::Result<()> {
    use crate::ingest::{queue, request};
    let data: serde_json::Value = serde_json::from_str(data).context("--data is not valid JSON")?;
    let mut event = serde_json::json!({ "type": event_type, "data": data });
    if let Some(at) = occurred_at {
        event["occurred_at"] = at.into();
    }
    if let Some(key) = idempotency_key {
        event["idempotency_key"] = key.into();
    }
    let (_, events) = request::parse(event.to_string().as_bytes(), chrono::Utc::now()).map_err(
        |err| match err {
            request::RequestError::Invalid(errors) => anyhow::anyhow!("invalid event: {errors:?}"),
            request::RequestError::Malformed { message, .. } => anyhow::anyhow!(message),
        },
    )?;
    let database = Database::open(settings)?;
    let pool = db::build_pool(&database.url, 1)?;
    let mut conn = pool.get()?;
    db::run_migrations(&mut conn)?;
    let source = format!("herald emit ({})", Actor::command_line().name);
    let queued =
        queue::accept(&mut conn, &Default::default(), events, &source).map_err(
            |err| match err {
                queue::QueueError::UnknownTypes(types) => {
                    anyhow::anyhow!(
                        "unknown event type {}: see the catalog at /events",
                        types.join(", ")
                    )
                }
                queue::QueueError::Database(err) => err.into(),
            },
        )?;
    if queued.deliveries > 0 {
        crate::ingest::signal::notify_workers(&mut conn)?;
    }
    let accepted = &queued.accepted[0];
    if accepted.duplicate {
        eprintln!("This idempotency key was used before: nothing new was queued.");
    } else {
        eprintln!("Queued {} deliveries.", queued.deliveries);
    }
    println!("{}", accepted.id);
    Ok(())
}

/// Where a browser on this machine reaches the console: a wildcard bind address (`0.0.0.0`,
/// `::`) is not one to type, so the loopback address stands in for it.
fn console_url(bind: std::net::SocketAddr, port: u16) -> String {
    let ip = match bind.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => std::net::Ipv4Addr::LOCALHOST.into(),
        ip if ip.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    format!("http://{}", std::net::SocketAddr::new(ip, port))
}

/// What the start-up banner says about reaching receivers on this machine or network, and
/// about signing in over plain http from elsewhere, as configured now.
fn local_receiver_notes(settings: &Settings, url: &str) -> String {
    let mut notes = vec![
        format!("No receiver yet? Try the built-in test receiver at {url}/inboxes (managers):"),
        "  webhooks send to its inboxes inside Herald, with no network or address settings."
            .to_owned(),
    ];
    let allowed = &settings.worker.allow_private_targets;
    if allowed.is_empty() {
        notes
            .push("Receivers on loopback or private addresses are refused: allow them with".into());
        notes.push(
            "  HERALD_ALLOW_PRIVATE_TARGETS=127.0.0.1 (addresses or CIDRs, comma-separated)."
                .into(),
        );
    } else {
        let list: Vec<String> = allowed.iter().map(ToString::to_string).collect();
        notes.push(format!(
            "Receivers at {} are allowed (HERALD_ALLOW_PRIVATE_TARGETS).",
            list.join(", ")
        ));
    }
    if settings.allow_http_targets {
        notes.push("Plain http:// receivers are allowed (HERALD_ALLOW_HTTP_TARGETS).".into());
    } else {
        notes.push(
            "Receivers need https://; for a plain http:// one set HERALD_ALLOW_HTTP_TARGETS=true."
                .into(),
        );
    }
    if settings.cookie_secure && !settings.bind.ip().is_loopback() {
        notes.push(
            "The session cookie is Secure: over plain http, browsers sign in only on 127.0.0.1"
                .into(),
        );
        notes.push(
            "  or localhost; from other machines use https (or HERALD_COOKIE_SECURE=false on a trusted network).".into(),
        );
    }
    notes.join("\n")
}

fn print_first_admin(admin: &accounts::FirstAdmin, url: &str) {
    let password = admin
        .generated_password
        .as_ref()
        .map_or("(the value of HERALD_ADMIN_PASSWORD)", |p| p.expose());
    say("================================================================");
    say(" Herald created the first admin account. It is shown only once.");
    say(&format!("   username: {}", admin.username));
    say(&format!("   password: {password}"));
    say(&format!(
        " Sign in at {url}/login, then add your own users."
    ));
    say("================================================================");
}

/// A line on standard output for a long-running process. `println!` panics when stdout is
/// closed (a supervisor or a test that stopped reading), which would take the server down;
/// here a lost line is just lost.
fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn run_user_command(settings: &Settings, command: UserCommand) -> anyhow::Result<()> {
    let database = Database::open(settings)?;
    let pool = db::build_pool(&database.url, 1)?;
    let mut conn = pool.get()?;
    db::run_migrations(&mut conn)?;
    let actor = Actor::command_line();
    match command {
        UserCommand::Add {
            name,
            role,
            password_stdin,
        } => {
            let username =
                Username::parse(&name).map_err(|problem| anyhow::anyhow!("username: {problem}"))?;
            let password = read_new_password(password_stdin, username.as_str())?;
            let created = accounts::create_user(
                &mut conn,
                &actor,
                &username,
                role,
                &hash_password(&password),
            )?;
            println!("Added {} as {}.", created.username, created.role);
        }
        UserCommand::Passwd {
            name,
            password_stdin,
        } => {
            let account = find_user(&mut conn, &name)?;
            let password = read_new_password(password_stdin, &account.username)?;
            accounts::reset_password(&mut conn, &actor, account.id, &hash_password(&password))?;
            println!(
                "Changed the password of {}; their open sessions have ended.",
                account.username
            );
        }
        UserCommand::List => {
            let mut page = PageRequest::new(Some(1), 500);
            println!(
                "{:<32} {:<8} {:<9} LAST SIGN-IN",
                "USERNAME", "ROLE", "STATUS"
            );
            loop {
                let users = user::list(&mut conn, page)?;
                for account in &users.items {
                    println!(
                        "{:<32} {:<8} {:<9} {}",
                        account.username,
                        account.role,
                        if account.is_disabled() {
                            "disabled"
                        } else {
                            "active"
                        },
                        account.last_login_at.map_or("never".to_owned(), |at| at
                            .format("%Y-%m-%d %H:%M UTC")
                            .to_string())
                    );
                }
                if !users.has_next() {
                    break;
                }
                page.number += 1;
            }
        }
        UserCommand::Disable { name } => {
            let account = find_user(&mut conn, &name)?;
            accounts::set_disabled(&mut conn, &actor, account.id, true)?;
            println!(
                "Disabled {}; their open sessions have ended.",
                account.username
            );
        }
        UserCommand::Enable { name } => {
            let account = find_user(&mut conn, &name)?;
            accounts::set_disabled(&mut conn, &actor, account.id, false)?;
            println!("Enabled {}.", account.username);
        }
    }
    Ok(())
}

fn find_user(conn: &mut diesel::PgConnection, name: &str) -> anyhow::Result<user::User> {
    let username =
        Username::parse(name).map_err(|problem| anyhow::anyhow!("username: {problem}"))?;
    user::find_by_username(conn, &username)?
        .ok_or_else(|| anyhow::anyhow!("no user named {username}"))
}

/// From stdin's first line with `--password-stdin`, else asked twice on the terminal; held
/// to the password rule for `username`.
fn read_new_password(from_stdin: bool, username: &str) -> anyhow::Result<NewPassword> {
    let raw = if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    } else {
        if !std::io::stdin().is_terminal() {
            bail!("no terminal to ask for the password on: pass --password-stdin and pipe it in");
        }
        let first = rpassword::prompt_password("Password: ")?;
        let second = rpassword::prompt_password("Repeat the password: ")?;
        if first != second {
            bail!("the two passwords differ");
        }
        first
    };
    NewPassword::parse_for(&raw, username).map_err(|problem| anyhow::anyhow!("password: {problem}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        let mut settings = Settings::for_database("postgres://unused");
        // Production defaults (the test settings open loopback and plain http).
        settings.allow_http_targets = false;
        settings.worker.allow_private_targets = Vec::new();
        settings.cookie_secure = true;
        settings
    }

    #[test]
    fn the_banner_names_the_inbox_and_the_settings_for_local_receivers() {
        let notes = local_receiver_notes(&settings(), "http://127.0.0.1:8080");
        assert!(notes.contains("http://127.0.0.1:8080/inboxes"), "{notes}");
        assert!(
            notes.contains("HERALD_ALLOW_PRIVATE_TARGETS=127.0.0.1"),
            "{notes}"
        );
        assert!(notes.contains("HERALD_ALLOW_HTTP_TARGETS=true"), "{notes}");
        // Bound to loopback, a Secure cookie works in the browser: nothing to warn about.
        assert!(!notes.contains("Secure"), "{notes}");
    }

    #[test]
    fn the_banner_says_what_is_allowed_already_and_warns_about_plain_http_from_elsewhere() {
        let mut settings = settings();
        settings.allow_http_targets = true;
        settings.worker.allow_private_targets = vec!["10.0.0.0/8".parse().unwrap()];
        settings.bind = "0.0.0.0:8080".parse().unwrap();
        let notes = local_receiver_notes(&settings, "http://127.0.0.1:8080");
        assert!(
            notes.contains("Receivers at 10.0.0.0/8 are allowed"),
            "{notes}"
        );
        assert!(
            notes.contains("Plain http:// receivers are allowed"),
            "{notes}"
        );
        assert!(
            notes.contains("browsers sign in only on 127.0.0.1"),
            "{notes}"
        );
    }

    #[test]
    fn a_wildcard_bind_address_is_shown_as_loopback() {
        assert_eq!(
            console_url("0.0.0.0:8080".parse().unwrap(), 8080),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            console_url("[::]:0".parse().unwrap(), 9000),
            "http://[::1]:9000"
        );
        assert_eq!(
            console_url("192.0.2.7:8080".parse().unwrap(), 8080),
            "http://192.0.2.7:8080"
        );
    }
}
