//! Settings read from the environment once at start, validated with clear errors.
//! Secrets are wrapped in `SecretString`, so `Debug` output and logs never show them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;

use crate::domain::secret_key::SecretKey;

/// The HTTP server's own connection limit per worker, used when `HERALD_MAX_CONNECTIONS` is
/// not set. No tighter default: a client that sends a request head and never its body holds
/// its connection until it goes away, so a low limit would let a few such clients lock
/// everyone out (see `web::connection_limit`).
pub const SERVER_CONNECTIONS_PER_WORKER: usize = 25_600;

/// Everything Herald needs to run, parsed from `HERALD_*` variables and `DATABASE_URL`.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `None` = run on the embedded PostgreSQL cluster under `data_dir`.
    pub database_url: Option<SecretString>,
    pub bind: SocketAddr,
    pub data_dir: PathBuf,
    /// `None` = generated once and kept in `data_dir/secret.key`.
    pub secret_key: Option<SecretKey>,
    pub cookie_secure: bool,
    pub session_idle_timeout: Duration,
    /// A session ends this long after sign-in however active it is.
    pub session_lifetime: Duration,
    /// Connections of the web pool (console, management API, ingest).
    pub db_pool_size: u32,
    /// How long a web request waits for a pooled connection before it is answered 503.
    pub db_pool_timeout: Duration,
    /// Connections of the delivery worker's own pool (claims, recorder, LISTEN, retention).
    pub worker_db_pool_size: u32,
    /// Ingest requests doing database work at once; more wait up to `ingest_wait`, then 503.
    pub ingest_concurrency: usize,
    /// How long an ingest request waits for one of those slots.
    pub ingest_wait: Duration,
    /// HTTP worker threads; defaults to the number of cores.
    pub http_workers: usize,
    /// Open HTTP connections at once, across the workers, when set; more wait to be accepted
    /// (see `web::connection_limit`).
    pub max_connections: Option<usize>,
    /// How long a request's body may take to arrive after its head (see `web::body_deadline`).
    pub request_body_timeout: Duration,
    pub login_throttle: LoginThrottle,
    /// Reverse proxies whose `X-Forwarded-For` tells the client's address (see
    /// `web::client_address`); empty = the TCP peer is the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Whether webhook endpoints may use plain `http://` (local testing only).
    pub allow_http_targets: bool,
    /// How long a rotated-out signing secret keeps signing alongside the new one.
    pub secret_rotation_overlap: Duration,
    pub admin_password: Option<SecretString>,
    pub worker: WorkerSettings,
    /// Management API requests per second per token, and the burst allowed above it.
    pub api_rate_per_second: std::num::NonZeroU32,
    pub api_burst: std::num::NonZeroU32,
}

/// The delivery worker's knobs.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Whether `herald serve` runs a worker too (`herald worker` always does).
    pub enabled: bool,
    /// Requests in flight at once, per process.
    pub concurrency: usize,
    /// How often to look for due deliveries when no notification arrives.
    pub poll_interval: Duration,
    /// The longest an idle worker sleeps while its LISTEN connection is up (it wakes earlier
    /// for anything due sooner, and on every notification).
    pub idle_poll: Duration,
    /// How long a graceful stop waits for requests in flight.
    pub shutdown_grace: Duration,
    /// Addresses that are normally refused (loopback, private…) but allowed here.
    pub allow_private_targets: Vec<ipnet::IpNet>,
    /// How long a claim holds a delivery; renewed every third of it while the request is in
    /// flight. When it runs out (the worker died), another worker takes the delivery back.
    pub lease: Duration,
    /// When a failing receiver's circuit opens and how often it is probed.
    pub breaker: crate::delivery::breaker::BreakerSettings,
    /// How long delivered deliveries, their attempts and events are kept.
    pub retention: Duration,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            concurrency: 64,
            poll_interval: Duration::from_secs(1),
            idle_poll: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(20),
            allow_private_targets: Vec::new(),
            lease: Duration::from_secs(10),
            breaker: crate::delivery::breaker::BreakerSettings::default(),
            retention: Duration::from_secs(30 * 86_400),
        }
    }
}

/// Sign-in throttling (see `auth::throttle`): failures are counted per (username, client
/// address) with a growing wait, per username across all addresses (slowed, never blocked,
/// so nobody can lock an account out), and per address across usernames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginThrottle {
    /// Failed sign-ins for one username from one address before waits start.
    pub free_failures: u32,
    /// The wait after those; each further failure doubles it…
    pub first_backoff: Duration,
    /// …up to this.
    pub max_backoff: Duration,
    /// The period of the per-username and per-address counts; a (username, address) pair's
    /// failures are forgotten after this long without one. At least `max_backoff`.
    pub window: Duration,
    /// Failures for one username (all addresses together) within the window after which that
    /// username is slowed…
    pub username_ceiling: u32,
    /// …to one attempt per this interval.
    pub username_interval: Duration,
    /// Failures from one address (all usernames together) within the window after which that
    /// address is refused until the window ends.
    pub address_ceiling: u32,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        Self {
            free_failures: 5,
            first_backoff: Duration::from_secs(30),
            max_backoff: Duration::from_secs(15 * 60),
            window: Duration::from_secs(60 * 60),
            username_ceiling: 50,
            username_interval: Duration::from_secs(5),
            address_ceiling: 100,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {name} {problem}")]
pub struct ConfigError {
    pub name: &'static str,
    pub problem: String,
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`, so tests can supply their own environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let db_pool_size = positive(
            "HERALD_DB_POOL_SIZE",
            parse_or("HERALD_DB_POOL_SIZE", get("HERALD_DB_POOL_SIZE"), 20u32)?,
        )?;
        // By default ingest may use 4 connections at once (fewer if the web pool is small:
        // at most three quarters of it, so the console and the management API still get
        // connections). More concurrent ingest commits raise ingest throughput a little but
        // take the database's CPU from delivery: measured on 2 cores under a 500-client
        // flood, delivery kept ~26 % of its unloaded rate with 15, ~45 % with 4, ~49 % with 2.
        let ingest_concurrency = positive(
            "HERALD_INGEST_CONCURRENCY",
            parse_or(
                "HERALD_INGEST_CONCURRENCY",
                get("HERALD_INGEST_CONCURRENCY"),
                (db_pool_size as usize * 3 / 4).clamp(1, 4),
            )?,
        )?;
        if ingest_concurrency > db_pool_size as usize {
            return Err(ConfigError {
                name: "HERALD_INGEST_CONCURRENCY",
                problem: format!(
                    "must not exceed HERALD_DB_POOL_SIZE ({db_pool_size}): every ingest request needs a connection"
                ),
            });
        }
        Ok(Self {
            database_url: get("DATABASE_URL").map(SecretString::from),
            bind: parse_or(
                "HERALD_BIND",
                get("HERALD_BIND"),
                "127.0.0.1:8080".parse().unwrap(),
            )?,
            data_dir: get("HERALD_DATA_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("./herald-data")),
            secret_key: get("HERALD_SECRET_KEY")
                .map(|raw| {
                    SecretKey::parse(&raw).map_err(|problem| ConfigError {
                        name: "HERALD_SECRET_KEY",
                        problem,
                    })
                })
                .transpose()?,
            cookie_secure: parse_bool("HERALD_COOKIE_SECURE", get("HERALD_COOKIE_SECURE"), true)?,
            session_idle_timeout: Duration::from_secs(
                60 * positive(
                    "HERALD_SESSION_IDLE_MINUTES",
                    parse_or(
                        "HERALD_SESSION_IDLE_MINUTES",
                        get("HERALD_SESSION_IDLE_MINUTES"),
                        480u64,
                    )?,
                )?,
            ),
            session_lifetime: Duration::from_secs(
                3600 * positive(
                    "HERALD_SESSION_LIFETIME_HOURS",
                    parse_or(
                        "HERALD_SESSION_LIFETIME_HOURS",
                        get("HERALD_SESSION_LIFETIME_HOURS"),
                        168u64,
                    )?,
                )?,
            ),
            db_pool_size,
            db_pool_timeout: Duration::from_millis(positive(
                "HERALD_DB_POOL_TIMEOUT_MS",
                parse_or(
                    "HERALD_DB_POOL_TIMEOUT_MS",
                    get("HERALD_DB_POOL_TIMEOUT_MS"),
                    1000u64,
                )?,
            )?),
            worker_db_pool_size: at_least(
                "HERALD_WORKER_DB_POOL_SIZE",
                3,
                parse_or(
                    "HERALD_WORKER_DB_POOL_SIZE",
                    get("HERALD_WORKER_DB_POOL_SIZE"),
                    6u32,
                )?,
            )?,
            ingest_concurrency,
            ingest_wait: Duration::from_millis(positive(
                "HERALD_INGEST_WAIT_MS",
                parse_or(
                    "HERALD_INGEST_WAIT_MS",
                    get("HERALD_INGEST_WAIT_MS"),
                    1000u64,
                )?,
            )?),
            http_workers: positive(
                "HERALD_HTTP_WORKERS",
                parse_or(
                    "HERALD_HTTP_WORKERS",
                    get("HERALD_HTTP_WORKERS"),
                    std::thread::available_parallelism().map_or(2, |n| n.get()),
                )?,
            )?,
            max_connections: match get("HERALD_MAX_CONNECTIONS").filter(|v| !v.trim().is_empty()) {
                None => None,
                raw => Some(positive(
                    "HERALD_MAX_CONNECTIONS",
                    parse_or("HERALD_MAX_CONNECTIONS", raw, 0usize)?,
                )?),
            },
            request_body_timeout: Duration::from_secs(positive(
                "HERALD_REQUEST_BODY_TIMEOUT_SECONDS",
                parse_or(
                    "HERALD_REQUEST_BODY_TIMEOUT_SECONDS",
                    get("HERALD_REQUEST_BODY_TIMEOUT_SECONDS"),
                    30u64,
                )?,
            )?),
            login_throttle: login_throttle(&get)?,
            trusted_proxies: parse_networks(
                "HERALD_TRUSTED_PROXIES",
                get("HERALD_TRUSTED_PROXIES"),
            )?,
            allow_http_targets: parse_bool(
                "HERALD_ALLOW_HTTP_TARGETS",
                get("HERALD_ALLOW_HTTP_TARGETS"),
                false,
            )?,
            secret_rotation_overlap: Duration::from_secs(
                3600 * parse_or(
                    "HERALD_SECRET_ROTATION_OVERLAP_HOURS",
                    get("HERALD_SECRET_ROTATION_OVERLAP_HOURS"),
                    24u64,
                )?,
            ),
            admin_password: get("HERALD_ADMIN_PASSWORD").map(SecretString::from),
            api_rate_per_second: parse_or(
                "HERALD_API_RATE_PER_SECOND",
                get("HERALD_API_RATE_PER_SECOND"),
                std::num::NonZeroU32::new(50).unwrap(),
            )?,
            api_burst: parse_or(
                "HERALD_API_BURST",
                get("HERALD_API_BURST"),
                std::num::NonZeroU32::new(100).unwrap(),
            )?,
            worker: WorkerSettings {
                enabled: parse_bool("HERALD_RUN_WORKER", get("HERALD_RUN_WORKER"), true)?,
                concurrency: positive(
                    "HERALD_WORKER_CONCURRENCY",
                    parse_or(
                        "HERALD_WORKER_CONCURRENCY",
                        get("HERALD_WORKER_CONCURRENCY"),
                        64usize,
                    )?,
                )?,
                poll_interval: Duration::from_millis(positive(
                    "HERALD_WORKER_POLL_MS",
                    parse_or(
                        "HERALD_WORKER_POLL_MS",
                        get("HERALD_WORKER_POLL_MS"),
                        1000u64,
                    )?,
                )?),
                idle_poll: Duration::from_millis(positive(
                    "HERALD_WORKER_IDLE_POLL_MS",
                    parse_or(
                        "HERALD_WORKER_IDLE_POLL_MS",
                        get("HERALD_WORKER_IDLE_POLL_MS"),
                        60_000u64,
                    )?,
                )?),
                shutdown_grace: Duration::from_secs(parse_or(
                    "HERALD_WORKER_SHUTDOWN_SECONDS",
                    get("HERALD_WORKER_SHUTDOWN_SECONDS"),
                    20u64,
                )?),
                allow_private_targets: parse_networks(
                    "HERALD_ALLOW_PRIVATE_TARGETS",
                    get("HERALD_ALLOW_PRIVATE_TARGETS"),
                )?,
                lease: Duration::from_secs(at_least(
                    "HERALD_WORKER_LEASE_SECONDS",
                    3,
                    parse_or(
                        "HERALD_WORKER_LEASE_SECONDS",
                        get("HERALD_WORKER_LEASE_SECONDS"),
                        10u64,
                    )?,
                )?),
                breaker: breaker_settings(&get)?,
                retention: Duration::from_secs(
                    86_400
                        * positive(
                            "HERALD_RETENTION_DAYS",
                            parse_or("HERALD_RETENTION_DAYS", get("HERALD_RETENTION_DAYS"), 30u64)?,
                        )?,
                ),
            },
        })
    }

    /// Settings for a process that talks to `database_url` and binds an ephemeral port.
    pub fn for_database(database_url: &str) -> Self {
        Self {
            database_url: Some(SecretString::from(database_url.to_owned())),
            bind: "127.0.0.1:0".parse().unwrap(),
            data_dir: PathBuf::from("./herald-data"),
            secret_key: Some(SecretKey::generate()),
            cookie_secure: false,
            session_idle_timeout: Duration::from_secs(8 * 3600),
            session_lifetime: Duration::from_secs(7 * 86_400),
            db_pool_size: 4,
            // Generous, so a busy test machine does not turn slow checkouts into 503s; the
            // outage tests set production values.
            db_pool_timeout: Duration::from_secs(10),
            worker_db_pool_size: 4,
            ingest_concurrency: 4,
            ingest_wait: Duration::from_secs(10),
            http_workers: 1,
            max_connections: None,
            request_body_timeout: Duration::from_secs(30),
            login_throttle: LoginThrottle::default(),
            trusted_proxies: Vec::new(),
            allow_http_targets: true,
            secret_rotation_overlap: Duration::from_secs(24 * 3600),
            admin_password: None,
            api_rate_per_second: std::num::NonZeroU32::new(50).unwrap(),
            api_burst: std::num::NonZeroU32::new(100).unwrap(),
            worker: WorkerSettings {
                poll_interval: Duration::from_millis(200),
                // Tests change rows behind the worker's back (no notification).
                idle_poll: Duration::from_millis(200),
                shutdown_grace: Duration::from_secs(5),
                // Tests run their receivers on loopback.
                allow_private_targets: vec!["127.0.0.0/8".parse().unwrap()],
                ..WorkerSettings::default()
            },
        }
    }
}

fn parse_or<T: std::str::FromStr>(
    name: &'static str,
    raw: Option<String>,
    default: T,
) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match raw {
        None => Ok(default),
        Some(raw) => raw.trim().parse().map_err(|err| ConfigError {
            name,
            problem: format!("is not valid ({err}): {raw:?}"),
        }),
    }
}

fn positive<T: PartialOrd + Default>(name: &'static str, value: T) -> Result<T, ConfigError> {
    if value > T::default() {
        Ok(value)
    } else {
        Err(ConfigError {
            name,
            problem: "must be greater than zero".into(),
        })
    }
}

fn at_least<T: PartialOrd + std::fmt::Display>(
    name: &'static str,
    minimum: T,
    value: T,
) -> Result<T, ConfigError> {
    if value >= minimum {
        Ok(value)
    } else {
        Err(ConfigError {
            name,
            problem: format!("must be at least {minimum}"),
        })
    }
}

/// `HERALD_BREAKER_FAILURES`, `HERALD_BREAKER_FIRST_PROBE_SECONDS`, `HERALD_BREAKER_MAX_PROBE_SECONDS`.
fn breaker_settings(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<crate::delivery::breaker::BreakerSettings, ConfigError> {
    let defaults = crate::delivery::breaker::BreakerSettings::default();
    let threshold = positive(
        "HERALD_BREAKER_FAILURES",
        parse_or(
            "HERALD_BREAKER_FAILURES",
            get("HERALD_BREAKER_FAILURES"),
            defaults.threshold,
        )?,
    )?;
    let first_probe = positive(
        "HERALD_BREAKER_FIRST_PROBE_SECONDS",
        parse_or(
            "HERALD_BREAKER_FIRST_PROBE_SECONDS",
            get("HERALD_BREAKER_FIRST_PROBE_SECONDS"),
            defaults.first_probe.as_secs(),
        )?,
    )?;
    let max_probe = at_least(
        "HERALD_BREAKER_MAX_PROBE_SECONDS",
        first_probe,
        parse_or(
            "HERALD_BREAKER_MAX_PROBE_SECONDS",
            get("HERALD_BREAKER_MAX_PROBE_SECONDS"),
            defaults.max_probe.as_secs(),
        )?,
    )?;
    Ok(crate::delivery::breaker::BreakerSettings {
        threshold,
        first_probe: Duration::from_secs(first_probe),
        max_probe: Duration::from_secs(max_probe),
    })
}

/// `HERALD_LOGIN_*`: the sign-in throttle's limits.
fn login_throttle(get: &impl Fn(&str) -> Option<String>) -> Result<LoginThrottle, ConfigError> {
    let defaults = LoginThrottle::default();
    let count =
        |name: &'static str, default: u32| positive(name, parse_or(name, get(name), default)?);
    let seconds = |name: &'static str, default: Duration| {
        positive(name, parse_or(name, get(name), default.as_secs())?).map(Duration::from_secs)
    };
    // HERALD_LOGIN_MAX_FAILURES is the setting's former name.
    let free_failures = match get("HERALD_LOGIN_FREE_FAILURES") {
        Some(_) => count("HERALD_LOGIN_FREE_FAILURES", defaults.free_failures)?,
        None => count("HERALD_LOGIN_MAX_FAILURES", defaults.free_failures)?,
    };
    let first_backoff = seconds("HERALD_LOGIN_FIRST_BACKOFF_SECONDS", defaults.first_backoff)?;
    let max_backoff = seconds("HERALD_LOGIN_MAX_BACKOFF_SECONDS", defaults.max_backoff)?;
    if max_backoff < first_backoff {
        return Err(ConfigError {
            name: "HERALD_LOGIN_MAX_BACKOFF_SECONDS",
            problem: format!(
                "must be at least HERALD_LOGIN_FIRST_BACKOFF_SECONDS ({})",
                first_backoff.as_secs()
            ),
        });
    }
    let window_minutes = positive(
        "HERALD_LOGIN_WINDOW_MINUTES",
        parse_or(
            "HERALD_LOGIN_WINDOW_MINUTES",
            get("HERALD_LOGIN_WINDOW_MINUTES"),
            defaults.window.as_secs() / 60,
        )?,
    )?;
    let window = Duration::from_secs(60 * window_minutes);
    if window < max_backoff {
        return Err(ConfigError {
            name: "HERALD_LOGIN_WINDOW_MINUTES",
            problem: format!(
                "must cover HERALD_LOGIN_MAX_BACKOFF_SECONDS ({} s): failures forgotten sooner would end the waits early",
                max_backoff.as_secs()
            ),
        });
    }
    Ok(LoginThrottle {
        free_failures,
        first_backoff,
        max_backoff,
        window,
        username_ceiling: count("HERALD_LOGIN_USERNAME_CEILING", defaults.username_ceiling)?,
        username_interval: seconds(
            "HERALD_LOGIN_USERNAME_INTERVAL_SECONDS",
            defaults.username_interval,
        )?,
        address_ceiling: count("HERALD_LOGIN_ADDRESS_CEILING", defaults.address_ceiling)?,
    })
}

/// A comma-separated list of CIDRs (`10.0.0.0/8, 127.0.0.1/32`); a bare address is one host.
fn parse_networks(
    name: &'static str,
    raw: Option<String>,
) -> Result<Vec<ipnet::IpNet>, ConfigError> {
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    raw.split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| {
            part.parse::<ipnet::IpNet>()
                .or_else(|_| part.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| ConfigError {
                    name,
                    problem: format!("has {part:?}, which is not an address or a CIDR block"),
                })
        })
        .collect()
}

fn parse_bool(name: &'static str, raw: Option<String>, default: bool) -> Result<bool, ConfigError> {
    match raw.as_deref().map(|raw| raw.trim().to_ascii_lowercase()) {
        None => Ok(default),
        Some(value) => match value.as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" => Ok(false),
            _ => Err(ConfigError {
                name,
                problem: format!("must be true or false, not {value:?}"),
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let s = settings(&[]).unwrap();
        assert!(s.database_url.is_none());
        assert_eq!(s.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(s.data_dir, PathBuf::from("./herald-data"));
        assert!(s.cookie_secure);
        assert_eq!(s.session_idle_timeout, Duration::from_secs(8 * 3600));
        assert_eq!(s.session_lifetime, Duration::from_secs(7 * 86_400));
    }

    #[test]
    fn a_bad_bind_address_names_the_variable() {
        let err = settings(&[("HERALD_BIND", "nowhere")]).unwrap_err();
        assert_eq!(err.name, "HERALD_BIND");
    }

    #[test]
    fn cookie_secure_accepts_false_and_rejects_garbage() {
        assert!(
            !settings(&[("HERALD_COOKIE_SECURE", "false")])
                .unwrap()
                .cookie_secure
        );
        assert!(settings(&[("HERALD_COOKIE_SECURE", "perhaps")]).is_err());
    }

    #[test]
    fn private_target_allowlist_takes_cidrs_and_addresses() {
        let s = settings(&[("HERALD_ALLOW_PRIVATE_TARGETS", "127.0.0.1, 10.0.0.0/8,::1")]).unwrap();
        let nets: Vec<String> = s
            .worker
            .allow_private_targets
            .iter()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(nets, ["127.0.0.1/32", "10.0.0.0/8", "::1/128"]);
        let err = settings(&[("HERALD_ALLOW_PRIVATE_TARGETS", "10.0.0.0/33")]).unwrap_err();
        assert_eq!(err.name, "HERALD_ALLOW_PRIVATE_TARGETS");
        assert_eq!(settings(&[]).unwrap().worker.concurrency, 64);
    }

    #[test]
    fn the_connection_limit_has_a_default_and_is_validated() {
        assert_eq!(settings(&[]).unwrap().max_connections, None);
        assert_eq!(
            settings(&[("HERALD_MAX_CONNECTIONS", " ")])
                .unwrap()
                .max_connections,
            None
        );
        let s = settings(&[("HERALD_MAX_CONNECTIONS", "64")]).unwrap();
        assert_eq!(s.max_connections, Some(64));
        assert_eq!(
            settings(&[]).unwrap().request_body_timeout,
            Duration::from_secs(30)
        );
        let err = settings(&[("HERALD_REQUEST_BODY_TIMEOUT_SECONDS", "0")]).unwrap_err();
        assert_eq!(err.name, "HERALD_REQUEST_BODY_TIMEOUT_SECONDS");
        for bad in ["0", "-1", "many"] {
            let err = settings(&[("HERALD_MAX_CONNECTIONS", bad)]).unwrap_err();
            assert_eq!(err.name, "HERALD_MAX_CONNECTIONS");
        }
    }

    #[test]
    fn pools_and_ingest_limits_have_defaults_and_are_validated() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.db_pool_size, 20);
        assert_eq!(s.worker_db_pool_size, 6);
        assert_eq!(s.db_pool_timeout, Duration::from_secs(1));
        assert_eq!(s.ingest_concurrency, 4);
        assert_eq!(s.ingest_wait, Duration::from_secs(1));
        let s = settings(&[("HERALD_DB_POOL_SIZE", "4")]).unwrap();
        assert_eq!(s.ingest_concurrency, 3);
        let s = settings(&[("HERALD_DB_POOL_SIZE", "1")]).unwrap();
        assert_eq!(s.ingest_concurrency, 1);

        let err = settings(&[("HERALD_INGEST_CONCURRENCY", "21")]).unwrap_err();
        assert_eq!(err.name, "HERALD_INGEST_CONCURRENCY");
        assert!(
            err.problem.contains("HERALD_DB_POOL_SIZE"),
            "{}",
            err.problem
        );
        let err = settings(&[("HERALD_INGEST_CONCURRENCY", "0")]).unwrap_err();
        assert_eq!(err.name, "HERALD_INGEST_CONCURRENCY");
        let err = settings(&[("HERALD_WORKER_DB_POOL_SIZE", "2")]).unwrap_err();
        assert_eq!(err.name, "HERALD_WORKER_DB_POOL_SIZE");
        assert_eq!(err.problem, "must be at least 3");
        let err = settings(&[("HERALD_DB_POOL_TIMEOUT_MS", "soon")]).unwrap_err();
        assert_eq!(err.name, "HERALD_DB_POOL_TIMEOUT_MS");
        let err = settings(&[("HERALD_INGEST_WAIT_MS", "0")]).unwrap_err();
        assert_eq!(err.name, "HERALD_INGEST_WAIT_MS");
    }

    #[test]
    fn login_throttle_limits_have_defaults_and_are_validated() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.login_throttle, LoginThrottle::default());
        assert!(s.trusted_proxies.is_empty());

        let s = settings(&[
            ("HERALD_LOGIN_FREE_FAILURES", "3"),
            ("HERALD_LOGIN_FIRST_BACKOFF_SECONDS", "10"),
            ("HERALD_LOGIN_MAX_BACKOFF_SECONDS", "600"),
            ("HERALD_LOGIN_WINDOW_MINUTES", "30"),
            ("HERALD_LOGIN_USERNAME_CEILING", "20"),
            ("HERALD_LOGIN_USERNAME_INTERVAL_SECONDS", "2"),
            ("HERALD_LOGIN_ADDRESS_CEILING", "40"),
        ])
        .unwrap();
        assert_eq!(
            s.login_throttle,
            LoginThrottle {
                free_failures: 3,
                first_backoff: Duration::from_secs(10),
                max_backoff: Duration::from_secs(600),
                window: Duration::from_secs(30 * 60),
                username_ceiling: 20,
                username_interval: Duration::from_secs(2),
                address_ceiling: 40,
            }
        );
        // The former name still works.
        let s = settings(&[("HERALD_LOGIN_MAX_FAILURES", "7")]).unwrap();
        assert_eq!(s.login_throttle.free_failures, 7);

        let err = settings(&[("HERALD_LOGIN_FREE_FAILURES", "0")]).unwrap_err();
        assert_eq!(err.name, "HERALD_LOGIN_FREE_FAILURES");
        let err = settings(&[("HERALD_LOGIN_MAX_BACKOFF_SECONDS", "10")]).unwrap_err();
        assert_eq!(err.name, "HERALD_LOGIN_MAX_BACKOFF_SECONDS");
        let err = settings(&[("HERALD_LOGIN_WINDOW_MINUTES", "5")]).unwrap_err();
        assert_eq!(err.name, "HERALD_LOGIN_WINDOW_MINUTES");
        assert!(err.problem.contains("900 s"), "{}", err.problem);
    }

    #[test]
    fn trusted_proxies_take_addresses_and_cidrs_and_name_a_bad_entry() {
        let s = settings(&[("HERALD_TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.1,::1")]).unwrap();
        let nets: Vec<String> = s.trusted_proxies.iter().map(|n| n.to_string()).collect();
        assert_eq!(nets, ["10.0.0.0/8", "192.168.1.1/32", "::1/128"]);
        let err = settings(&[("HERALD_TRUSTED_PROXIES", "10.0.0.1,proxy.local")]).unwrap_err();
        assert_eq!(err.name, "HERALD_TRUSTED_PROXIES");
        assert_eq!(
            err.to_string(),
            "invalid configuration: HERALD_TRUSTED_PROXIES has \"proxy.local\", which is not an address or a CIDR block"
        );
    }

    #[test]
    fn a_short_secret_key_is_rejected() {
        let err = settings(&[("HERALD_SECRET_KEY", "short")]).unwrap_err();
        assert_eq!(err.name, "HERALD_SECRET_KEY");
    }

    #[test]
    fn debug_output_never_shows_secrets() {
        let s = settings(&[
            ("DATABASE_URL", "postgres://u:hunter2hunter2@h/db"),
            (
                "HERALD_SECRET_KEY",
                "k3y-material-that-is-long-enough-0123456789",
            ),
            ("HERALD_ADMIN_PASSWORD", "adminpassword-visible?"),
        ])
        .unwrap();
        let debug = format!("{s:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(!debug.contains("k3y-material"), "{debug}");
        assert!(!debug.contains("adminpassword"), "{debug}");
    }
}
