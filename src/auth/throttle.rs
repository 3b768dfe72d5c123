//! Sign-in throttling. Every attempt first *reserves* its place: in one transaction it locks
//! the counters of its three keys — the (username, client address) pair, the username, the
//! address — decides, and counts itself as a failure before the password is checked. Attempts
//! on the same keys therefore queue on the row locks and none can slip past a limit, however
//! many arrive at once. A right password takes the reservation back.
//!
//! - **Pair**: `free_failures` failures, then a wait before each further attempt that starts
//!   at `first_backoff` and doubles with each failure up to `max_backoff`. Forgotten after
//!   `window` without a failure; cleared by a successful sign-in from that address.
//! - **Username** (all addresses together): beyond `username_ceiling` failures in a `window`,
//!   one attempt per `username_interval`. It slows guessing spread over many addresses but
//!   never locks the owner out: their right password gets in after that short wait.
//! - **Address** (all usernames together): beyond `address_ceiling` failures in a `window`,
//!   that address is refused until the window ends.
//!
//! A refused attempt changes no counter, so refusals cannot be used to extend anyone's wait.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::config::LoginThrottle;
use crate::model::login_throttle::{self, Counter, Key, Scope};

/// Longest username key kept: usernames have at most 64 characters, so a longer typed name
/// (always wrong) still gets a key of its own without storing whatever was sent.
const MAX_USERNAME_KEY_CHARS: usize = 65;
/// Stale counters deleted after each successful sign-in.
const PRUNE_BATCH: i64 = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    Refused { retry_after: Duration },
}

/// The username as the throttle keys it: trimmed, lower-case, at most 65 characters.
pub fn normalise_username(typed: &str) -> String {
    typed
        .trim()
        .to_lowercase()
        .chars()
        .take(MAX_USERNAME_KEY_CHARS)
        .collect()
}

/// The address an attempt is counted under: an IPv4 address as it is, an IPv6 address by its
/// /64 network — one subscriber usually holds a whole /64, so counting single IPv6 addresses
/// would let one client try from billions. IPv4-mapped IPv6 addresses count as their IPv4.
pub fn address_key(address: std::net::IpAddr) -> String {
    match address {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let [a, b, c, d, ..] = v6.segments();
                format!("{a:x}:{b:x}:{c:x}:{d:x}::/64")
            }
        },
    }
}

/// Who is trying to sign in: the username as typed (normalised) and the client address, and
/// whether the browser signed in as that user before (`auth::known_client`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    username: String,
    client_address: String,
    known_client: bool,
}

impl Attempt {
    pub fn new(typed_username: &str, client_address: std::net::IpAddr) -> Self {
        Self {
            username: normalise_username(typed_username),
            client_address: address_key(client_address),
            known_client: false,
        }
    }

    /// A browser that signed in as this user before: the per-username ceiling does not apply
    /// to it (it is neither held back by it nor counted in it), so guesses from elsewhere can
    /// slow the username for strangers but never keep its owner out.
    pub fn from_known_client(mut self) -> Self {
        self.known_client = true;
        self
    }

    /// The keys in the order every attempt locks them, so two attempts never deadlock.
    pub fn keys(&self) -> Vec<Key> {
        let mut keys = self.all_keys().to_vec();
        if self.known_client {
            keys.retain(|key| key.scope != Scope::Username);
        }
        keys
    }

    fn all_keys(&self) -> [Key; 3] {
        [
            Key {
                scope: Scope::Pair,
                username: self.username.clone(),
                client_address: self.client_address.clone(),
            },
            Key {
                scope: Scope::Username,
                username: self.username.clone(),
                client_address: String::new(),
            },
            Key {
                scope: Scope::Address,
                username: String::new(),
                client_address: self.client_address.clone(),
            },
        ]
    }
}

/// Reserves the attempt's place (counted as a failure) or refuses it, atomically.
pub fn reserve(
    conn: &mut PgConnection,
    limits: &LoginThrottle,
    attempt: &Attempt,
) -> QueryResult<Verdict> {
    conn.transaction(|conn| {
        let mut locked = Vec::with_capacity(3);
        for key in attempt.keys() {
            let row = login_throttle::lock(conn, &key)?;
            locked.push((key, row));
        }
        // The clock as read after the last lock was granted.
        let now = locked
            .iter()
            .map(|(_, row)| row.now)
            .max()
            .unwrap_or_else(Utc::now);
        let mut updates = Vec::with_capacity(3);
        let mut longest_wait: Option<Duration> = None;
        for (key, row) in locked {
            match judge(key.scope, row.counter, limits, now) {
                Judgement::Proceed(counter) => updates.push((key, counter)),
                Judgement::Wait(wait) => {
                    longest_wait = Some(longest_wait.map_or(wait, |longest| longest.max(wait)));
                }
            }
        }
        if let Some(retry_after) = longest_wait {
            // Nothing is written: a refusal counts against no one.
            return Ok(Verdict::Refused { retry_after });
        }
        for (key, counter) in &updates {
            login_throttle::store(conn, key, counter)?;
        }
        Ok(Verdict::Allowed)
    })
}

/// The password was right: this pair starts afresh, and the username's and the address's
/// counts take this attempt back (failures from elsewhere stay counted).
pub fn succeeded(
    conn: &mut PgConnection,
    limits: &LoginThrottle,
    attempt: &Attempt,
) -> QueryResult<()> {
    conn.transaction(|conn| {
        for key in attempt.keys() {
            match key.scope {
                Scope::Pair => login_throttle::delete(conn, &key)?,
                Scope::Username | Scope::Address => login_throttle::take_back_one(conn, &key)?,
            }
        }
        Ok::<_, diesel::result::Error>(())
    })?;
    let forgotten_before =
        Utc::now() - chrono::Duration::from_std(limits.window).unwrap_or(chrono::Duration::MAX);
    login_throttle::prune(conn, forgotten_before, PRUNE_BATCH).map(|_| ())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Judgement {
    /// Go ahead; the counter as it is with this attempt counted.
    Proceed(Counter),
    Wait(Duration),
}

/// What one key's counter says about an attempt at `now`.
fn judge(scope: Scope, counter: Counter, limits: &LoginThrottle, now: DateTime<Utc>) -> Judgement {
    let window = chrono::Duration::from_std(limits.window).unwrap_or(chrono::Duration::MAX);
    let mut counter = counter;
    let wait_until =
        |until: DateTime<Utc>| Judgement::Wait((until - now).to_std().unwrap_or_default());
    match scope {
        Scope::Pair => {
            if counter.failures > 0 && now - counter.last_failure_at >= window {
                counter.failures = 0;
            }
            if counter.failures > 0 && now < counter.next_allowed_at {
                return wait_until(counter.next_allowed_at);
            }
            counter.failures += 1;
            counter.next_allowed_at = now + to_chrono(backoff(limits, counter.failures));
        }
        Scope::Username => {
            restart_window_if_over(&mut counter, window, now);
            if counter.failures >= ceiling(limits.username_ceiling) && now < counter.next_allowed_at
            {
                return wait_until(counter.next_allowed_at);
            }
            counter.failures += 1;
            counter.next_allowed_at = if counter.failures >= ceiling(limits.username_ceiling) {
                now + to_chrono(limits.username_interval)
            } else {
                now
            };
        }
        Scope::Address => {
            restart_window_if_over(&mut counter, window, now);
            if counter.failures >= ceiling(limits.address_ceiling) {
                return wait_until(counter.window_started_at + window);
            }
            counter.failures += 1;
        }
    }
    counter.last_failure_at = now;
    Judgement::Proceed(counter)
}

/// The wait after a pair's `failures`-th failure: none within the free ones, then doubling.
pub fn backoff(limits: &LoginThrottle, failures: i32) -> Duration {
    let free = i32::try_from(limits.free_failures).unwrap_or(i32::MAX);
    if failures < free {
        return Duration::ZERO;
    }
    let doublings = u32::try_from(failures - free).unwrap_or(0).min(31);
    limits
        .first_backoff
        .saturating_mul(1 << doublings)
        .min(limits.max_backoff)
}

fn restart_window_if_over(counter: &mut Counter, window: chrono::Duration, now: DateTime<Utc>) {
    if counter.failures == 0 || now - counter.window_started_at >= window {
        counter.failures = 0;
        counter.window_started_at = now;
    }
}

fn ceiling(limit: u32) -> i32 {
    i32::try_from(limit).unwrap_or(i32::MAX)
}

fn to_chrono(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> LoginThrottle {
        LoginThrottle {
            free_failures: 5,
            first_backoff: Duration::from_secs(30),
            max_backoff: Duration::from_secs(900),
            window: Duration::from_secs(3600),
            username_ceiling: 3,
            username_interval: Duration::from_secs(5),
            address_ceiling: 4,
        }
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
    }

    fn fresh(now: DateTime<Utc>) -> Counter {
        Counter {
            failures: 0,
            window_started_at: now,
            last_failure_at: now,
            next_allowed_at: now,
        }
    }

    /// Attempts every second on one key until the first refusal; the counter and that wait.
    fn until_refused(scope: Scope, limits: &LoginThrottle) -> (Counter, Duration) {
        let mut counter = fresh(at(0));
        for second in 0..1000 {
            match judge(scope, counter, limits, at(second)) {
                Judgement::Proceed(next) => counter = next,
                Judgement::Wait(wait) => return (counter, wait),
            }
        }
        panic!("{scope:?} never refused");
    }

    #[test]
    fn the_backoff_starts_after_the_free_failures_and_doubles_up_to_the_cap() {
        let limits = limits();
        let waits: Vec<u64> = (1..=12).map(|n| backoff(&limits, n).as_secs()).collect();
        assert_eq!(waits, [0, 0, 0, 0, 30, 60, 120, 240, 480, 900, 900, 900]);
        assert_eq!(backoff(&limits, i32::MAX), Duration::from_secs(900));
    }

    #[test]
    fn a_pair_is_refused_after_its_free_failures_and_allowed_again_after_the_wait() {
        let limits = limits();
        let (counter, wait) = until_refused(Scope::Pair, &limits);
        assert_eq!(counter.failures, 5);
        // The fifth failure was at second 4; the attempt at second 5 waits 29 more.
        assert_eq!(wait, Duration::from_secs(29));
        let Judgement::Proceed(after) = judge(Scope::Pair, counter, &limits, at(34)) else {
            panic!("still refused once the wait was over");
        };
        assert_eq!(after.failures, 6);
        assert_eq!(
            judge(Scope::Pair, after, &limits, at(35)),
            Judgement::Wait(Duration::from_secs(59))
        );
    }

    #[test]
    fn a_pair_forgets_its_failures_after_a_quiet_window() {
        let limits = limits();
        let (counter, _) = until_refused(Scope::Pair, &limits);
        let Judgement::Proceed(after) = judge(Scope::Pair, counter, &limits, at(4 + 3600)) else {
            panic!("refused after a quiet window");
        };
        assert_eq!(after.failures, 1);
    }

    #[test]
    fn a_username_past_its_ceiling_is_slowed_not_blocked() {
        let limits = limits();
        let (counter, wait) = until_refused(Scope::Username, &limits);
        assert_eq!(counter.failures, 3);
        assert_eq!(wait, Duration::from_secs(4));
        // Once the interval is over one attempt goes through, then the next waits again.
        let Judgement::Proceed(after) = judge(Scope::Username, counter, &limits, at(7)) else {
            panic!("a slowed username stayed blocked");
        };
        assert_eq!(
            judge(Scope::Username, after, &limits, at(8)),
            Judgement::Wait(Duration::from_secs(4))
        );
    }

    #[test]
    fn an_address_past_its_ceiling_waits_for_the_window_to_end() {
        let limits = limits();
        let (counter, wait) = until_refused(Scope::Address, &limits);
        assert_eq!(counter.failures, 4);
        assert_eq!(wait, Duration::from_secs(3600 - 4));
        let Judgement::Proceed(after) = judge(Scope::Address, counter, &limits, at(3600)) else {
            panic!("the address stayed refused after its window");
        };
        assert_eq!(after.failures, 1);
        assert_eq!(after.window_started_at, at(3600));
    }

    #[test]
    fn ipv6_addresses_count_by_their_64_network() {
        let one = Attempt::new("alice", "2001:db8:1:2::1".parse().unwrap());
        let other = Attempt::new("alice", "2001:db8:1:2:ffff::9".parse().unwrap());
        let elsewhere = Attempt::new("alice", "2001:db8:1:3::1".parse().unwrap());
        assert_eq!(one.client_address, "2001:db8:1:2::/64");
        assert_eq!(one, other);
        assert_ne!(one, elsewhere);
        let mapped = Attempt::new("alice", "::ffff:192.0.2.1".parse().unwrap());
        assert_eq!(mapped.client_address, "192.0.2.1");
    }

    #[test]
    fn attempts_are_keyed_by_the_normalised_username_and_the_address() {
        let address = "203.0.113.7".parse().unwrap();
        let attempt = Attempt::new("  Alice ", address);
        let [pair, username, by_address]: [Key; 3] = attempt.keys().try_into().unwrap();
        assert_eq!(
            (pair.username.as_str(), pair.client_address.as_str()),
            ("alice", "203.0.113.7")
        );
        assert_eq!(
            (username.username.as_str(), username.client_address.as_str()),
            ("alice", "")
        );
        assert_eq!(
            (
                by_address.username.as_str(),
                by_address.client_address.as_str()
            ),
            ("", "203.0.113.7")
        );
        let known = Attempt::new("alice", address).from_known_client().keys();
        assert_eq!(
            known.iter().map(|key| key.scope).collect::<Vec<_>>(),
            [Scope::Pair, Scope::Address]
        );
        let long = Attempt::new(&"x".repeat(10_000), address);
        assert_eq!(
            long.keys()[0].username.chars().count(),
            MAX_USERNAME_KEY_CHARS
        );
    }
}
