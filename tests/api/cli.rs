//! The `herald user …` and `herald migrate` commands, run as the real binary.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use herald::domain::role::Role;
use herald::domain::username::Username;
use herald::model::user;

use crate::helpers::{TestDatabase, assert_redirects_to, spawn_app};

fn herald(database_url: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn user_add_creates_a_user_who_can_sign_in() {
    let app = spawn_app().await;
    let url = app.database.url.clone();
    let output = tokio::task::spawn_blocking(move || {
        herald(
            &url,
            &[
                "user",
                "add",
                "Carol",
                "--role",
                "manager",
                "--password-stdin",
            ],
            Some("carols-long-password\n"),
        )
    })
    .await
    .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("Added carol as manager."));
    assert_redirects_to(&app.login("carol", "carols-long-password").await, "/");

    let audit = app
        .with_conn(|conn| {
            herald::model::audit::list(conn, herald::model::PageRequest::new(None, 10)).unwrap()
        })
        .await;
    assert!(audit.items[0].actor.starts_with("cli ("));
}

#[test]
fn user_add_rejects_bad_input_with_a_clear_message() {
    let database = TestDatabase::migrated();
    let output = herald(
        &database.url,
        &["user", "add", "dave", "--role", "root", "--password-stdin"],
        Some("long-enough-password\n"),
    );
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("unknown role"),
        "{}",
        stderr(&output)
    );

    let output = herald(
        &database.url,
        &[
            "user",
            "add",
            "dave",
            "--role",
            "viewer",
            "--password-stdin",
        ],
        Some("short\n"),
    );
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("password: Use at least 12 characters."),
        "{}",
        stderr(&output)
    );

    // Without a terminal and without --password-stdin it says what to do instead of hanging.
    let output = herald(
        &database.url,
        &["user", "add", "dave", "--role", "viewer"],
        None,
    );
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("--password-stdin"),
        "{}",
        stderr(&output)
    );

    herald(
        &database.url,
        &[
            "user",
            "add",
            "dave",
            "--role",
            "viewer",
            "--password-stdin",
        ],
        Some("long-enough-password\n"),
    );
    let output = herald(
        &database.url,
        &[
            "user",
            "add",
            "DAVE",
            "--role",
            "viewer",
            "--password-stdin",
        ],
        Some("long-enough-password\n"),
    );
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("already taken"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn user_add_and_passwd_refuse_an_easily_guessed_password() {
    let database = TestDatabase::migrated();
    let url = database.url.as_str();
    let output = herald(
        url,
        &[
            "user",
            "add",
            "gina",
            "--role",
            "viewer",
            "--password-stdin",
        ],
        Some("password1234\n"),
    );
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("password: This password is too easy to guess."),
        "{}",
        stderr(&output)
    );

    let added = herald(
        url,
        &[
            "user",
            "add",
            "gina",
            "--role",
            "viewer",
            "--password-stdin",
        ],
        Some("ginas-long-password\n"),
    );
    assert!(added.status.success(), "{}", stderr(&added));
    let output = herald(
        url,
        &["user", "passwd", "gina", "--password-stdin"],
        Some("qwertyuiop123\n"),
    );
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("password: This password is too easy to guess."),
        "{}",
        stderr(&output)
    );
}

#[test]
fn user_list_passwd_disable_and_enable_work() {
    let database = TestDatabase::migrated();
    let url = database.url.as_str();
    assert!(
        herald(
            url,
            &["user", "add", "erin", "--role", "admin", "--password-stdin"],
            Some("erins-long-password\n")
        )
        .status
        .success()
    );
    assert!(
        herald(
            url,
            &[
                "user",
                "add",
                "frank",
                "--role",
                "viewer",
                "--password-stdin"
            ],
            Some("franks-long-password\n")
        )
        .status
        .success()
    );

    let listing = stdout(&herald(url, &["user", "list"], None));
    assert!(
        listing.contains("erin") && listing.contains("admin"),
        "{listing}"
    );
    assert!(listing.lines().any(|line| line.starts_with("frank")
        && line.contains("viewer")
        && line.contains("active")));

    let output = herald(
        url,
        &["user", "passwd", "frank", "--password-stdin"],
        Some("franks-new-password\n"),
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let mut conn = database.connect();
    let creds = user::credentials(&mut conn, &Username::parse("frank").unwrap())
        .unwrap()
        .unwrap();
    assert!(herald::auth::password::verify_password(
        "franks-new-password",
        Some(&creds.password_hash)
    ));

    assert!(
        herald(url, &["user", "disable", "frank"], None)
            .status
            .success()
    );
    assert!(
        stdout(&herald(url, &["user", "list"], None))
            .lines()
            .any(|l| l.starts_with("frank") && l.contains("disabled"))
    );
    assert!(
        herald(url, &["user", "enable", "frank"], None)
            .status
            .success()
    );
    let frank = user::find_by_username(&mut conn, &Username::parse("frank").unwrap())
        .unwrap()
        .unwrap();
    assert!(!frank.is_disabled());
    assert_eq!(frank.role(), Role::Viewer);

    // The last active admin cannot be disabled from the command line either.
    let output = herald(url, &["user", "disable", "erin"], None);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("last active admin"),
        "{}",
        stderr(&output)
    );

    let output = herald(url, &["user", "disable", "nobody"], None);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("no user named nobody"));
}

#[test]
fn migrate_applies_the_migrations_to_an_empty_database() {
    let database = TestDatabase::empty();
    let output = herald(&database.url, &["migrate"], None);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("Migrations are up to date."));
    let mut conn = database.connect();
    assert!(user::list(&mut conn, herald::model::PageRequest::new(None, 10)).is_ok());
}

#[test]
fn a_bad_setting_stops_herald_with_one_clear_line() {
    let output = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["user", "list"])
        .env("HERALD_BIND", "not-an-address")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("invalid configuration: HERALD_BIND is not valid"),
        "{message}"
    );
    assert_eq!(message.trim().lines().count(), 1, "{message}");
}

#[test]
fn judge_password_reads_its_question_on_stdin_and_answers_in_json() {
    let ask = |question: &str| {
        let output = herald("postgres://unused", &["judge-password"], Some(question));
        assert!(output.status.success(), "{}", stderr(&output));
        serde_json::from_slice::<serde_json::Value>(&output.stdout).unwrap()
    };
    let weak = ask(r#"{"password":"password1234","known":[]}"#);
    assert!(
        weak["too_weak"]
            .as_str()
            .is_some_and(|advice| advice.starts_with("This password is too easy to guess.")),
        "{weak}"
    );
    // A password built on a known word (the username) counts as easy to guess.
    let built_on_name = ask(r#"{"password":"zelda-ingram-2024","known":["zelda-ingram"]}"#);
    assert!(built_on_name["too_weak"].is_string(), "{built_on_name}");
    let strong = ask(r#"{"password":"ginas-long-password","known":["gina"]}"#);
    assert!(strong["too_weak"].is_null(), "{strong}");
}

#[test]
fn serve_judges_the_first_admins_password_in_its_helper_and_refuses_a_weak_one() {
    let database = TestDatabase::empty();
    let output = Command::new(env!("CARGO_BIN_EXE_herald"))
        .arg("serve")
        .env("DATABASE_URL", &database.url)
        .env("HERALD_DATA_DIR", std::env::temp_dir())
        .env("HERALD_BIND", "127.0.0.1:0")
        .env("HERALD_ADMIN_PASSWORD", "password1234")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(
        err.contains("HERALD_ADMIN_PASSWORD: This password is too easy to guess."),
        "{err}"
    );
    assert!(
        !err.contains("judging here"),
        "the helper process should have answered: {err}"
    );
    assert!(
        !err.contains("password1234"),
        "the password was printed: {err}"
    );
}
