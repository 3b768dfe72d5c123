//! `audit_log`: who changed what, when. Details describe the change, never secret values.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::Value;

use super::{PageRequest, Paged};
use crate::db::schema::audit_log;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_log, check_for_backend(diesel::pg::Pg))]
pub struct AuditEntry {
    pub id: i64,
    pub occurred_at: DateTime<Utc>,
    pub actor_user_id: Option<i64>,
    pub actor: String,
    pub action: String,
    pub target_type: String,
    pub target_id: Option<String>,
    pub target_label: Option<String>,
    pub details: Value,
}

/// Who did something: a signed-in user, or the command line.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: Option<i64>,
    pub name: String,
}

impl Actor {
    /// A request made with an API token: the audit log names the token.
    pub fn api_token(name: &str) -> Self {
        Self {
            user_id: None,
            name: format!("api token {name}"),
        }
    }

    pub fn user(id: i64, username: &str) -> Self {
        Self {
            user_id: Some(id),
            name: username.to_owned(),
        }
    }

    pub fn command_line() -> Self {
        let os_user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
        Self {
            user_id: None,
            name: format!("cli ({os_user})"),
        }
    }

    pub fn system() -> Self {
        Self {
            user_id: None,
            name: "system".into(),
        }
    }
}

/// One change to record.
#[derive(Debug, Clone)]
pub struct Change<'a> {
    pub action: &'a str,
    pub target_type: &'a str,
    pub target_id: Option<String>,
    pub target_label: Option<String>,
    pub details: Value,
}

pub fn record(conn: &mut PgConnection, actor: &Actor, change: Change<'_>) -> QueryResult<()> {
    diesel::insert_into(audit_log::table)
        .values((
            audit_log::actor_user_id.eq(actor.user_id),
            audit_log::actor.eq(&actor.name),
            audit_log::action.eq(change.action),
            audit_log::target_type.eq(change.target_type),
            audit_log::target_id.eq(change.target_id),
            audit_log::target_label.eq(change.target_label),
            audit_log::details.eq(change.details),
        ))
        .execute(conn)
        .map(|_| ())
}

/// Narrows the audit log: by target type, by action prefix, by actor name.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub target_type: Option<String>,
    pub action: Option<String>,
    pub actor: Option<String>,
}

fn filtered(filter: &AuditFilter) -> audit_log::BoxedQuery<'static, diesel::pg::Pg> {
    let mut query = audit_log::table.into_boxed();
    if let Some(target_type) = filter.target_type.clone().filter(|s| !s.is_empty()) {
        query = query.filter(audit_log::target_type.eq(target_type));
    }
    if let Some(action) = filter.action.clone().filter(|s| !s.is_empty()) {
        query = query.filter(audit_log::action.like(format!(
            "{}%",
            action.replace('%', "\\%").replace('_', "\\_")
        )));
    }
    if let Some(actor) = filter.actor.clone().filter(|s| !s.is_empty()) {
        query = query.filter(audit_log::actor.eq(actor));
    }
    query
}

pub fn list(conn: &mut PgConnection, page: PageRequest) -> QueryResult<Paged<AuditEntry>> {
    list_filtered(conn, &AuditFilter::default(), page)
}

pub fn list_filtered(
    conn: &mut PgConnection,
    filter: &AuditFilter,
    page: PageRequest,
) -> QueryResult<Paged<AuditEntry>> {
    let total = filtered(filter).count().get_result(conn)?;
    let items = filtered(filter)
        .select(AuditEntry::as_select())
        .order((audit_log::occurred_at.desc(), audit_log::id.desc()))
        .limit(page.per_page)
        .offset(page.offset())
        .load(conn)?;
    Ok(Paged { items, total, page })
}

pub fn for_target(
    conn: &mut PgConnection,
    target_type: &str,
    target_id: &str,
) -> QueryResult<Vec<AuditEntry>> {
    audit_log::table
        .filter(audit_log::target_type.eq(target_type))
        .filter(audit_log::target_id.eq(target_id))
        .select(AuditEntry::as_select())
        .order((audit_log::occurred_at.desc(), audit_log::id.desc()))
        .limit(200)
        .load(conn)
}
