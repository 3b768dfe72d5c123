//! The shared harness: one PostgreSQL for the whole run (`DATABASE_URL`, or a throwaway
//! cluster started here and removed at exit), a migrated template database, and for each
//! test its own database cloned from the template with the app spawned on port 0.

use std::ops::Deref;
use std::os::unix::fs::PermissionsExt;
use std::sync::{Mutex, OnceLock};

use diesel::{Connection, PgConnection, RunQueryDsl};
use herald::accounts;
use herald::auth::password::hash_password;
use herald::config::Settings;
use herald::db::embedded::{ClusterOptions, EmbeddedPostgres};
use herald::db::{self, PgPool};
use herald::domain::password::NewPassword;
use herald::domain::role::Role;
use herald::domain::secret_key::SecretKey;
use herald::domain::username::Username;
use herald::model::audit::Actor;
use herald::model::user::User;
use herald::startup::Application;
use reqwest::StatusCode;
use reqwest::header::LOCATION;

pub const PASSWORD: &str = "a-long-test-password";

struct Cluster {
    /// URL of a maintenance database where test databases are created and dropped.
    admin_url: String,
    template: String,
    embedded: Mutex<Option<EmbeddedPostgres>>,
    dir: Mutex<Option<tempfile::TempDir>>,
    create_lock: Mutex<()>,
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();

unsafe extern "C" {
    fn atexit(callback: extern "C" fn()) -> i32;
}

/// Runs when the test binary exits: drop the template and stop the throwaway cluster.
extern "C" fn stop_cluster() {
    let Some(cluster) = CLUSTER.get() else { return };
    if let Ok(mut conn) = PgConnection::establish(&cluster.admin_url) {
        let _ = diesel::sql_query(format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            cluster.template
        ))
        .execute(&mut conn);
    }
    drop(cluster.embedded.lock().unwrap().take());
    drop(cluster.dir.lock().unwrap().take());
}

fn cluster() -> &'static Cluster {
    CLUSTER.get_or_init(|| {
        let (admin_url, embedded, dir) = match std::env::var("DATABASE_URL") {
            Ok(url) if !url.trim().is_empty() => (url, None, None),
            _ => {
                let dir = tempfile::Builder::new()
                    .prefix("herald-test-pg-")
                    .tempdir()
                    .unwrap();
                // As root the cluster runs as `postgres`, which must be able to enter the dir.
                std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
                    .unwrap();
                let cluster = EmbeddedPostgres::start(
                    &dir.path().join("pg"),
                    ClusterOptions {
                        durable: false,
                        max_connections: 300,
                        ..ClusterOptions::default()
                    },
                )
                .expect("could not start a throwaway PostgreSQL cluster for the tests");
                (cluster.url("postgres"), Some(cluster), Some(dir))
            }
        };
        let template = format!("herald_template_{}", std::process::id());
        let mut conn =
            PgConnection::establish(&admin_url).expect("cannot reach the test PostgreSQL");
        diesel::sql_query(format!(
            "DROP DATABASE IF EXISTS \"{template}\" WITH (FORCE)"
        ))
        .execute(&mut conn)
        .unwrap();
        diesel::sql_query(format!("CREATE DATABASE \"{template}\""))
            .execute(&mut conn)
            .unwrap();
        let mut template_conn =
            PgConnection::establish(&with_database(&admin_url, &template)).unwrap();
        db::run_migrations(&mut template_conn).expect("migrations failed on the template database");
        drop(template_conn);
        unsafe {
            atexit(stop_cluster);
        }
        Cluster {
            admin_url,
            template,
            embedded: Mutex::new(embedded),
            dir: Mutex::new(dir),
            create_lock: Mutex::new(()),
        }
    })
}

/// `url` pointing at `database` instead.
/// A temporary directory for a private PostgreSQL cluster, and the cluster's path inside it.
pub fn private_cluster_root(prefix: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::Builder::new().prefix(prefix).tempdir().unwrap();
    // As root the cluster runs as `postgres`, which must be able to enter the dir.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let root = dir.path().join("pg");
    (dir, root)
}

/// A port on 127.0.0.1 nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn with_database(url: &str, database: &str) -> String {
    let mut parsed = url::Url::parse(url).expect("DATABASE_URL is not a URL");
    parsed.set_path(&format!("/{database}"));
    parsed.to_string()
}

/// A fresh database for one test: migrated (cloned from the template) or empty.
pub struct TestDatabase {
    pub name: String,
    pub url: String,
}

impl TestDatabase {
    pub fn migrated() -> Self {
        Self::create(true)
    }

    pub fn empty() -> Self {
        Self::create(false)
    }

    fn create(migrated: bool) -> Self {
        let cluster = cluster();
        let name = format!("herald_test_{}", uuid_like());
        let _guard = cluster
            .create_lock
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let mut conn = PgConnection::establish(&cluster.admin_url).unwrap();
        let sql = if migrated {
            format!(
                "CREATE DATABASE \"{name}\" TEMPLATE \"{}\"",
                cluster.template
            )
        } else {
            format!("CREATE DATABASE \"{name}\"")
        };
        diesel::sql_query(sql).execute(&mut conn).unwrap();
        Self {
            url: with_database(&cluster.admin_url, &name),
            name,
        }
    }

    pub fn connect(&self) -> PgConnection {
        PgConnection::establish(&self.url).unwrap()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Ok(mut conn) = PgConnection::establish(&cluster().admin_url) {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ))
            .execute(&mut conn);
        }
    }
}

fn uuid_like() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 8];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// One browser: a cookie-keeping client that does not follow redirects.
pub struct Browser {
    pub client: reqwest::Client,
    pub address: String,
}

impl Browser {
    pub fn new_for(address: &str) -> Self {
        Self::new(address)
    }

    fn new(address: &str) -> Self {
        Self::built(address, |builder| builder)
    }

    /// A browser whose client `configure` adjusts (source address, default headers…).
    fn built(
        address: &str,
        configure: impl FnOnce(reqwest::ClientBuilder) -> reqwest::ClientBuilder,
    ) -> Self {
        let builder = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none());
        Self {
            client: configure(builder).build().unwrap(),
            address: address.to_owned(),
        }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .unwrap()
    }

    pub async fn get_html(&self, path: &str) -> String {
        self.get(path).await.text().await.unwrap()
    }

    /// Follows a `303 See Other` with a GET, as a browser does after a form (post/redirect/get).
    pub async fn follow(&self, response: reqwest::Response) -> reqwest::Response {
        assert_eq!(
            response.status(),
            StatusCode::SEE_OTHER,
            "expected a redirect from {}",
            response.url()
        );
        let location = response.headers()[LOCATION].to_str().unwrap().to_owned();
        self.get(&location).await
    }

    /// The session's CSRF token, read from a page's form.
    pub async fn csrf_token(&self) -> String {
        let mut response = self.get("/").await;
        if response.status() == StatusCode::SEE_OTHER {
            response = self.get("/login").await;
        }
        csrf_from(&response.text().await.unwrap()).expect("no CSRF token on the page")
    }

    /// POSTs a form with this session's CSRF token, as the browser would.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let token = self.csrf_token().await;
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        all.push(("csrf_token", &token));
        self.post_form_raw(path, &all).await
    }

    /// POSTs exactly `fields`, with no CSRF token added.
    pub async fn post_form_raw(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.address))
            .form(fields)
            .send()
            .await
            .unwrap()
    }

    pub async fn login(&self, username: &str, password: &str) -> reqwest::Response {
        self.post_form("/login", &[("username", username), ("password", password)])
            .await
    }

    pub async fn logout(&self) -> reqwest::Response {
        self.post_form("/logout", &[]).await
    }
}

pub fn csrf_from(html: &str) -> Option<String> {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker)? + marker.len();
    let end = html[start..].find('"')?;
    Some(html[start..start + end].to_owned())
}

pub fn assert_redirects_to(response: &reqwest::Response, location: &str) {
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "expected a redirect to {location}"
    );
    assert_eq!(
        response.headers().get(LOCATION).unwrap().to_str().unwrap(),
        location
    );
}

pub struct TestApp {
    pub address: String,
    pub pool: PgPool,
    pub browser: Browser,
    pub database: TestDatabase,
    /// The app's secret box, so tests can store webhooks the worker can decrypt.
    pub secrets: herald::domain::secret_box::SecretBox,
    /// The same key as text, for `HERALD_SECRET_KEY` of child processes.
    pub secret_key_text: String,
    /// The server's ingest admission control, to see how many slots requests hold.
    pub ingest_admission: herald::ingest::admission::Admission,
}

impl Deref for TestApp {
    type Target = Browser;

    fn deref(&self) -> &Browser {
        &self.browser
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Spawns the app on its own database, after `configure` adjusts the settings.
pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let database = TestDatabase::migrated();
    let mut settings = Settings::for_database(&database.url);
    configure(&mut settings);
    let pools = db::Pools::connect(&database.url, &settings).unwrap();
    let pool = pools.web.clone();
    let secret_key_text = format!("test-secret-key-{}{}", uuid_like(), uuid_like());
    let secret_key = SecretKey::parse(&secret_key_text).unwrap();
    let application = Application::build(settings, pools, secret_key.clone())
        .await
        .expect("the app did not start");
    let port = application.port();
    let ingest_admission = application.ingest_admission();
    tokio::spawn(application.run_until_stopped());
    let address = format!("http://127.0.0.1:{port}");
    TestApp {
        browser: Browser::new(&address),
        address,
        pool,
        database,
        secrets: herald::domain::secret_box::SecretBox::new(&secret_key),
        secret_key_text,
        ingest_admission,
    }
}

impl TestApp {
    /// Another browser, with its own cookies.
    pub fn new_browser(&self) -> Browser {
        Browser::new(&self.address)
    }

    /// Another browser connecting from `source` (any 127.x.y.z: a different client address
    /// on loopback), sending `headers` with every request.
    pub fn browser_from(&self, source: &str, headers: &[(&'static str, &str)]) -> Browser {
        let source: std::net::IpAddr = source.parse().unwrap();
        let mut map = reqwest::header::HeaderMap::new();
        for (name, value) in headers {
            map.append(*name, value.parse().unwrap());
        }
        Browser::built(&self.address, |builder| {
            builder.local_address(source).default_headers(map)
        })
    }

    /// Adds a user straight through the account service (password: [`PASSWORD`]).
    pub async fn add_user(&self, username: &str, role: Role) -> User {
        let pool = self.pool.clone();
        let username = Username::parse(username).unwrap();
        tokio::task::spawn_blocking(move || {
            let hash = hash_password(&NewPassword::parse(PASSWORD).unwrap());
            accounts::create_user(
                &mut pool.get().unwrap(),
                &Actor::system(),
                &username,
                role,
                &hash,
            )
            .unwrap()
        })
        .await
        .unwrap()
    }

    /// Adds a user with `role` and signs this app's browser in as them.
    pub async fn login_as(&self, role: Role) -> User {
        let user = self
            .add_user(&format!("{role}-{}", &uuid_like()[..6]), role)
            .await;
        let response = self.login(&user.username, PASSWORD).await;
        assert_redirects_to(&response, "/");
        user
    }

    pub async fn with_conn<T: Send + 'static>(
        &self,
        query: impl FnOnce(&mut PgConnection) -> T + Send + 'static,
    ) -> T {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || query(&mut pool.get().unwrap()))
            .await
            .unwrap()
    }
}

/// Waits until `probe` returns `Some`, checking every 20 ms, failing after `deadline`.
pub async fn eventually<T, F, Fut>(deadline: std::time::Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let until = tokio::time::Instant::now() + deadline;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        if tokio::time::Instant::now() >= until {
            panic!("timed out after {deadline:?} waiting for {what}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
