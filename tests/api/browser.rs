//! End to end in headless Chromium: sign in, add a viewer (with a mistake first), sign out.
//! Screenshots land in `target/screenshots/`. Skipped with a reason only when Chromium is
//! missing outside CI; with `CI=true` it must run.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use herald::domain::role::Role;
use serde_json::json;

use crate::helpers::{PASSWORD, spawn_app};

pub struct Chrome {
    pub client: Client,
    driver: Child,
}

impl Chrome {
    /// Starts chromedriver and a headless Chromium session, or explains why it can't.
    pub async fn start() -> Option<Self> {
        Self::start_with(None).await
    }

    /// Like [`start`](Self::start), with the page emulating a screen `width` × `height` CSS
    /// pixels wide (a headless window cannot be narrower than 500 px, a phone is).
    pub async fn start_as_screen(width: u32, height: u32) -> Option<Self> {
        Self::start_with(Some((width, height))).await
    }

    async fn start_with(screen: Option<(u32, u32)>) -> Option<Self> {
        let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
            .into_iter()
            .map(Path::new)
            .find(|p| p.exists());
        let driver = ["/usr/bin/chromedriver"]
            .into_iter()
            .map(Path::new)
            .find(|p| p.exists());
        let (Some(chromium), Some(driver)) = (chromium, driver) else {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!(
                    "CI=true but Chromium or chromedriver is missing: .ci/run must install them"
                );
            }
            eprintln!("skipping the browser test: install chromium and chromium-driver to run it");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so Chromium can be killed with it if a test fails.
            .process_group(0)
            .spawn()
            .expect("could not start chromedriver");
        let webdriver = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while reqwest::get(format!("{webdriver}/status")).await.is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().unwrap().keep();
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--no-first-run", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.display()),
                ]
            }),
        );
        if let Some((width, height)) = screen {
            let options = capabilities.get_mut("goog:chromeOptions").unwrap();
            options["mobileEmulation"] = json!({
                "deviceMetrics": { "width": width, "height": height, "pixelRatio": 1.0, "touch": width < 800 }
            });
        }
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&webdriver)
            .await
            .expect("could not open a Chromium session");
        Some(Self { client, driver })
    }

    pub async fn screenshot(&self, name: &str) {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// Waits (up to 10 s) until the element `css` contains `expected`: pages change under
    /// WebDriver while a form submission navigates, so a single look can see the old page.
    pub async fn wait_for_text(&self, css: &str, expected: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut last = String::new();
        while Instant::now() < deadline {
            if let Ok(element) = self.client.find(Locator::Css(css)).await
                && let Ok(text) = element.text().await
            {
                if text.contains(expected) {
                    return;
                }
                last = text;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{css} never contained {expected:?}; last saw {last:?}");
    }

    pub async fn fill(&self, css: &str, value: &str) {
        let field = self.client.find(Locator::Css(css)).await.unwrap();
        field.clear().await.unwrap();
        field.send_keys(value).await.unwrap();
    }

    pub async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }

    /// Signs in as `username` (password [`PASSWORD`]) and waits for the dashboard.
    pub async fn sign_in(&self, base: &str, username: &str) {
        self.client.goto(&format!("{base}/login")).await.unwrap();
        self.fill("#username", username).await;
        self.fill("#password", PASSWORD).await;
        self.click("form[action='/login'] button[type=submit]")
            .await;
        self.wait_for_text("h1", "Dashboard").await;
    }

    /// Resizes the window so the page itself (the viewport) is `width` × `height`.
    pub async fn set_viewport(&self, width: u32, height: u32) {
        self.client.set_window_size(width, height).await.unwrap();
        let inner = self
            .client
            .execute("return [window.innerWidth, window.innerHeight]", vec![])
            .await
            .unwrap();
        let side = |i: usize| inner[i].as_u64().unwrap() as u32;
        let (extra_w, extra_h) = (
            width.saturating_sub(side(0)),
            height.saturating_sub(side(1)),
        );
        if extra_w > 0 || extra_h > 0 {
            self.client
                .set_window_size(width + extra_w, height + extra_h)
                .await
                .unwrap();
        }
    }

    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Chrome {
    /// chromedriver takes its Chromium down with it, also when a test fails midway.
    fn drop(&mut self) {
        let group = nix::unistd::Pid::from_raw(-(self.driver.id() as i32));
        let _ = nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGKILL);
        let _ = self.driver.wait();
    }
}

#[tokio::test]
async fn an_admin_signs_in_adds_a_viewer_and_signs_out_in_a_real_browser() {
    let Some(chrome) = Chrome::start().await else {
        return;
    };
    let app = spawn_app().await;
    app.add_user("ada", Role::Admin).await;

    chrome
        .client
        .goto(&format!("{}/users", app.address))
        .await
        .unwrap();
    chrome.wait_for_text("h1", "Sign in to Herald").await;
    chrome.screenshot("01-login").await;
    chrome.fill("#username", "ada").await;
    chrome.fill("#password", PASSWORD).await;
    chrome
        .click("form[action='/login'] button[type=submit]")
        .await;

    // Back on the page asked for before signing in.
    chrome.wait_for_text("h1", "Users").await;
    chrome
        .client
        .goto(&format!("{}/", app.address))
        .await
        .unwrap();
    chrome.wait_for_text("main", "Signed in as ada").await;
    chrome.screenshot("02-dashboard").await;

    chrome
        .client
        .goto(&format!("{}/users/new", app.address))
        .await
        .unwrap();
    chrome.fill("#username", "vera").await;
    chrome.fill("#password", "short").await;
    chrome.fill("#password_confirm", "short").await;
    chrome.click("main form button[type=submit]").await;
    chrome.wait_for_text("#password-error", "12").await;
    chrome.screenshot("03-add-user-errors").await;

    chrome.fill("#password", "vera-long-password").await;
    chrome.fill("#password_confirm", "vera-long-password").await;
    chrome.click("main form button[type=submit]").await;
    chrome
        .wait_for_text(".flash-success", "Added vera as viewer.")
        .await;
    chrome.wait_for_text("table", "vera").await;
    chrome.screenshot("04-users").await;

    chrome.click("form[action='/logout'] button").await;
    chrome
        .wait_for_text(".flash-success", "You have signed out.")
        .await;
    chrome.screenshot("05-signed-out").await;
    chrome.close().await;
}

#[tokio::test]
async fn a_manager_creates_disables_edits_and_deletes_a_webhook_in_a_real_browser() {
    let Some(chrome) = Chrome::start().await else {
        return;
    };
    let app = spawn_app().await;
    app.add_user("maya", Role::Manager).await;
    let base = app.address.clone();

    chrome.sign_in(&base, "maya").await;

    chrome
        .client
        .goto(&format!("{base}/webhooks"))
        .await
        .unwrap();
    chrome.wait_for_text("main", "No webhooks yet").await;
    chrome.screenshot("10-webhooks-empty").await;

    // A mistake first: the form comes back with the message beside the field.
    chrome
        .client
        .goto(&format!("{base}/webhooks/new"))
        .await
        .unwrap();
    chrome.fill("#name", "HR onboarding").await;
    chrome.fill("#endpoint_url", "ftp://hr.example.com").await;
    chrome
        .click("input[name=events][value='course.completed']")
        .await;
    chrome
        .click("input[name=events][value='badge.awarded']")
        .await;
    chrome.click(".webhook-form button[type=submit]").await;
    chrome
        .wait_for_text("#endpoint_url-error", "Use an https:// URL")
        .await;
    chrome.screenshot("11-webhook-form-error").await;

    chrome
        .fill("#endpoint_url", "https://hr.example.com/hooks/lms")
        .await;
    chrome.click("input[name=auth_kind][value=basic]").await;
    chrome.fill("#basic_username", "lms").await;
    chrome.fill("#basic_password", "s3cret-pass").await;
    chrome.click(".webhook-form button[type=submit]").await;
    chrome.wait_for_text("h1", "Webhook created").await;
    chrome.screenshot("12-webhook-created-secret").await;

    chrome.click(".card a.button").await;
    chrome.wait_for_text("h1", "HR onboarding").await;
    chrome.screenshot("13-webhook-detail").await;

    // Appears in the list; disable it from there.
    chrome
        .client
        .goto(&format!("{base}/webhooks"))
        .await
        .unwrap();
    chrome.wait_for_text("table", "HR onboarding").await;
    chrome.screenshot("14-webhooks-list").await;
    // Disabling asks first, with an optional reason.
    chrome.click("td.row-actions a[href*='/disable']").await;
    chrome.wait_for_text("h1", "Disable HR onboarding?").await;
    chrome.fill("#reason", "receiver maintenance").await;
    chrome.screenshot("15-webhook-disable-confirm").await;
    chrome
        .click("form[action$='/disable'] button[type=submit]")
        .await;
    chrome.wait_for_text(".flash-success", "is disabled").await;
    chrome.wait_for_text("table", "receiver maintenance").await;
    chrome.wait_for_text("table", "disabled").await;
    chrome.screenshot("15-webhook-disabled").await;

    // Edit: rename it; the stored password is kept.
    chrome.click("td.row-actions summary").await;
    chrome.click(".menu-items a[href$='/edit']").await;
    chrome.wait_for_text("h1", "Edit webhook").await;
    chrome.fill("#name", "HR onboarding (EU)").await;
    chrome.click(".webhook-form button[type=submit]").await;
    chrome
        .wait_for_text(".flash-success", "Saved HR onboarding (EU).")
        .await;

    // Delete, after the confirmation page.
    chrome
        .client
        .goto(&format!("{base}/webhooks"))
        .await
        .unwrap();
    chrome.click("td.row-actions summary").await;
    chrome.click(".menu-items a[href$='/delete']").await;
    chrome
        .wait_for_text("h1", "Delete HR onboarding (EU)?")
        .await;
    chrome.screenshot("16-webhook-delete-confirm").await;
    chrome.click("form[action$='/delete'] button").await;
    chrome
        .wait_for_text(".flash-success", "Deleted HR onboarding (EU).")
        .await;
    chrome.wait_for_text("main", "No webhooks yet").await;
    chrome.close().await;
}

#[tokio::test]
async fn a_manager_sends_a_test_event_and_reads_the_answer_in_a_real_browser() {
    let Some(chrome) = Chrome::start().await else {
        return;
    };
    let app = spawn_app().await;
    app.add_user("maya", Role::Manager).await;
    let receiver = crate::receiver::Receiver::start(vec![
        crate::receiver::Reply::status(200)
            .header("Content-Type", "application/json")
            .body("{\"received\": true, \"queue\": \"hr-sync\"}"),
        crate::receiver::Reply::status(503).body("Service Unavailable: maintenance until 14:00"),
    ])
    .await;
    let (hook, _) = crate::delivery_helpers::create_webhook(&app, &receiver.url, |i| {
        i.name = "HR sync".into();
    })
    .await;
    let base = app.address.clone();

    chrome.sign_in(&base, "maya").await;
    chrome
        .client
        .goto(&format!("{base}/webhooks/{}", hook.id))
        .await
        .unwrap();
    chrome.wait_for_text("h1", "HR sync").await;
    chrome.click("form[action$='/test'] button").await;
    chrome.wait_for_text("#test-result h2", "delivered").await;
    chrome.wait_for_text("#test-result", "HTTP 200").await;
    chrome.screenshot("20-test-event-delivered").await;

    chrome.click("form[action$='/test'] button").await;
    chrome.wait_for_text("#test-result h2", "failed").await;
    chrome
        .wait_for_text("#test-result", "maintenance until 14:00")
        .await;
    chrome.screenshot("21-test-event-failed").await;
    assert_eq!(receiver.received().len(), 2);
    chrome.close().await;
}

#[tokio::test]
async fn a_manager_follows_a_failure_fixes_the_receiver_and_replays_it_in_a_real_browser() {
    let Some(chrome) = Chrome::start().await else {
        return;
    };
    let app = spawn_app().await;
    app.add_user("maya", Role::Manager).await;
    // The receiver is misconfigured at first: it rejects the payload.
    let receiver = crate::receiver::Receiver::start(vec![
        crate::receiver::Reply::status(422)
            .header("Content-Type", "application/json")
            .body("{\"error\": \"unknown field course.grade\"}"),
    ])
    .await;
    let (hook, _) = crate::delivery_helpers::create_webhook(&app, &receiver.url, |i| {
        i.name = "Student records".into();
    })
    .await;
    let token = crate::delivery_helpers::token(&app, herald::tokens::Scope::Ingest).await;
    crate::delivery_helpers::emit(
        &app,
        &token,
        serde_json::json!({ "user": { "id": 42 }, "course": { "id": 7, "grade": "A" } }),
    )
    .await;
    let dead = crate::delivery_helpers::delivery_reaches(&app, hook.id, "dead").await;
    let base = app.address.clone();

    chrome.sign_in(&base, "maya").await;
    chrome.wait_for_text("main", "Recent failures").await;
    chrome.screenshot("30-dashboard-failure").await;

    // From the dashboard to the failed delivery and its attempts.
    chrome.click("table a[href^='/deliveries/']").await;
    chrome.wait_for_text("h1", "Student records").await;
    chrome
        .wait_for_text("main", "unknown field course.grade")
        .await;
    chrome.screenshot("31-delivery-attempts").await;

    // The receiver is fixed (it now answers 200); replay from the dead-letter queue.
    chrome
        .client
        .goto(&format!("{base}/dead-letters"))
        .await
        .unwrap();
    chrome.wait_for_text("main", "receiver 4xx").await;
    chrome.screenshot("32-dead-letters").await;
    chrome
        .click(&format!("input[name=ids][value='{}']", dead.id))
        .await;
    chrome
        .click("button[formaction='/dead-letters/replay-selected']")
        .await;
    chrome.wait_for_text("h1", "Replay 1 dead letter?").await;
    chrome.screenshot("32-replay-selected-confirm").await;
    chrome
        .click("form[action='/dead-letters/replay-selected'] button[type=submit]")
        .await;
    chrome
        .wait_for_text(".flash-success", "Replaying 1 dead letter")
        .await;
    crate::delivery_helpers::delivery_reaches(&app, hook.id, "delivered").await;
    chrome
        .client
        .goto(&format!("{base}/deliveries/{}", dead.id))
        .await
        .unwrap();
    chrome.wait_for_text("main", "delivered").await;
    chrome.wait_for_text("main", "Attempt 2").await;
    chrome.screenshot("33-delivered-after-replay").await;
    chrome
        .client
        .goto(&format!("{base}/deliveries"))
        .await
        .unwrap();
    chrome.wait_for_text("table", "Student records").await;
    chrome.screenshot("34-deliveries").await;
    chrome
        .client
        .goto(&format!("{base}/webhooks"))
        .await
        .unwrap();
    chrome.wait_for_text("table", "HTTP 200").await;
    chrome.screenshot("35-webhooks-health").await;
    chrome
        .client
        .goto(&format!("{base}/webhooks/{}", hook.id))
        .await
        .unwrap();
    chrome.wait_for_text("main", "Recent deliveries").await;
    chrome.screenshot("36-webhook-health").await;
    assert_eq!(receiver.received().len(), 2);
    chrome.close().await;
}

#[tokio::test]
async fn failing_paused_and_recovering_webhooks_are_shown_in_a_real_browser() {
    let Some(chrome) = Chrome::start().await else {
        return;
    };
    let app = crate::helpers::spawn_app_with(|s| s.worker.enabled = false).await;
    app.add_user("noor", Role::Manager).await;
    let base = app.address.clone();
    let mut ids = Vec::new();
    for (name, url) in [
        (
            "Grades export",
            "https://grades.example.com/lms/webhooks/completions",
        ),
        ("HR onboarding", "https://hr.example.com/hooks/lms"),
        ("Badge wall", "https://badges.example.org/in"),
        ("Power BI", "https://powerbi.example.net/push"),
    ] {
        let (hook, _) =
            crate::delivery_helpers::create_webhook(&app, url, |i| i.name = name.into()).await;
        ids.push(hook.id);
    }
    let (failing, paused, recovering) = (ids[0], ids[2], ids[3]);
    app.with_conn(move |conn| {
        use diesel::connection::SimpleConnection;
        conn.batch_execute(&format!(
            "UPDATE webhook_flow SET circuit = 'failing', consecutive_failures = 14,
                    failing_since = now() - interval '23 minutes',
                    next_probe_at = now() + interval '2 minutes', probe_interval_seconds = 160
             WHERE webhook_id = {failing};
             UPDATE webhook_flow SET paused_until = now() + interval '90 seconds'
             WHERE webhook_id = {paused};
             UPDATE webhook_flow SET ramp = 4 WHERE webhook_id = {recovering};
             UPDATE webhooks SET max_in_flight = 16, rate_limit_per_second = 20
             WHERE id = {failing}"
        ))
        .unwrap();
    })
    .await;

    chrome.sign_in(&base, "noor").await;
    for (width, height) in [(1440, 900), (390, 844)] {
        chrome.set_viewport(width, height).await;
        chrome
            .client
            .goto(&format!("{base}/webhooks"))
            .await
            .unwrap();
        chrome.wait_for_text("table", "failing · ").await;
        chrome
            .screenshot(&format!("40-webhooks-flow-{width}"))
            .await;
        if width < 600 {
            chrome
                .client
                .execute(
                    "document.querySelector('.table-wrap').scrollIntoView()",
                    vec![],
                )
                .await
                .unwrap();
            chrome.screenshot("40-webhooks-flow-390-table").await;
        }
        chrome
            .client
            .goto(&format!("{base}/webhooks/{failing}"))
            .await
            .unwrap();
        chrome.wait_for_text("main", "Delivery flow").await;
        chrome
            .screenshot(&format!("41-webhook-failing-{width}"))
            .await;
        chrome
            .client
            .execute(
                "document.getElementById('flow-heading').scrollIntoView()",
                vec![],
            )
            .await
            .unwrap();
        chrome
            .screenshot(&format!("42-webhook-failing-flow-{width}"))
            .await;
        chrome.client.goto(&base).await.unwrap();
        chrome.wait_for_text("main", "Failing receivers").await;
        chrome
            .client
            .execute(
                "document.getElementById('held-back-heading').scrollIntoView()",
                vec![],
            )
            .await
            .unwrap();
        chrome
            .screenshot(&format!("43-dashboard-failing-{width}"))
            .await;
        chrome
            .client
            .goto(&format!("{base}/webhooks/{failing}/edit"))
            .await
            .unwrap();
        chrome.fill("#max_in_flight", "0").await;
        chrome.fill("#rate_limit_per_second", "99999").await;
        chrome.click("form.webhook-form button[type=submit]").await;
        chrome
            .wait_for_text(".error-summary h2", "2 problems")
            .await;
        chrome
            .client
            .execute(
                "document.getElementById('max_in_flight').scrollIntoView()",
                vec![],
            )
            .await
            .unwrap();
        chrome
            .screenshot(&format!("44-webhook-form-limits-error-{width}"))
            .await;
    }
    chrome.close().await;
}
