//! A user's live sessions as the console lists them ("My account" and an admin's user page).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::model::session::{self, ActiveSession};

/// The most sessions listed; "end all" covers the rest.
pub const LISTED: i64 = 50;

pub struct SessionRow {
    pub handle: String,
    pub started: String,
    pub last_seen: String,
    pub expires: String,
    pub address: String,
    /// "Firefox on Linux"; the full user agent is in `user_agent`.
    pub browser: String,
    pub user_agent: String,
    pub is_current: bool,
}

pub struct SessionList {
    pub rows: Vec<SessionRow>,
    /// Live sessions in all (may exceed the rows listed).
    pub total: i64,
}

pub fn load(
    conn: &mut PgConnection,
    user_id: i64,
    seen_since: DateTime<Utc>,
    current: Option<Uuid>,
) -> QueryResult<SessionList> {
    let (sessions, total) = session::list_for_user(conn, user_id, seen_since, LISTED)?;
    let rows = sessions
        .into_iter()
        .map(|found| row(found, current))
        .collect();
    Ok(SessionList { rows, total })
}

fn row(found: ActiveSession, current: Option<Uuid>) -> SessionRow {
    let user_agent = found.user_agent.unwrap_or_default();
    SessionRow {
        handle: found.handle.map(|h| h.to_string()).unwrap_or_default(),
        started: time(found.created_at),
        last_seen: time(found.last_seen_at),
        expires: time(found.expires_at),
        address: found.client_address.unwrap_or_else(|| "unknown".into()),
        browser: describe_user_agent(&user_agent),
        user_agent,
        is_current: found.handle.is_some() && found.handle == current,
    }
}

fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A short, human name for a user agent; good enough to tell one's own devices apart.
pub fn describe_user_agent(user_agent: &str) -> String {
    if user_agent.trim().is_empty() {
        return "Unknown client".into();
    }
    // Order matters: Edge and Opera also say Chrome; Chrome also says Safari.
    const BROWSERS: &[(&str, &str)] = &[
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("HeadlessChrome/", "Headless Chrome"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ];
    const SYSTEMS: &[(&str, &str)] = &[
        ("Android", "Android"),
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ];
    let find = |table: &[(&str, &'static str)]| {
        table
            .iter()
            .find(|(marker, _)| user_agent.contains(marker))
            .map(|(_, name)| *name)
    };
    match (find(BROWSERS), find(SYSTEMS)) {
        (Some(browser), Some(system)) => format!("{browser} on {system}"),
        (Some(browser), None) => browser.into(),
        (None, Some(system)) => format!("A browser on {system}"),
        (None, None) => user_agent.chars().take(40).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::describe_user_agent;

    #[test]
    fn common_user_agents_get_short_names() {
        assert_eq!(
            describe_user_agent(
                "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
            ),
            "Firefox on Linux"
        );
        assert_eq!(
            describe_user_agent(
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36 Edg/126.0"
            ),
            "Edge on Windows"
        );
        assert_eq!(
            describe_user_agent(
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Version/17.5 Mobile/15E148 Safari/604.1"
            ),
            "Safari on iPhone"
        );
        assert_eq!(describe_user_agent(""), "Unknown client");
        assert_eq!(describe_user_agent("my-script/1.0"), "my-script/1.0");
    }
}
