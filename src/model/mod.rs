//! One file per table: the row struct, its insert form and the queries, each taking
//! `&mut PgConnection` so callers decide where the connection comes from.

pub mod activity;
pub mod api_token;
pub mod attempt_counts;
pub mod audit;
pub mod dashboard;
pub mod delivery;
pub mod delivery_attempt;
pub mod delivery_list;
pub mod event;
pub mod event_type;
pub mod first_run;
pub mod health;
pub mod login_throttle;
pub mod session;
pub mod test_inbox;
pub mod test_send;
pub mod user;
pub mod webhook;
pub mod webhook_flow;

/// A page of a list: 1-based page number and fixed page size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub number: i64,
    pub per_page: i64,
}

impl PageRequest {
    pub const DEFAULT_PER_PAGE: i64 = 50;

    /// Page `number` (anything below 1, or absent, is page 1).
    pub fn new(number: Option<i64>, per_page: i64) -> Self {
        Self {
            number: number.unwrap_or(1).clamp(1, 1_000_000),
            per_page,
        }
    }

    pub fn offset(&self) -> i64 {
        (self.number - 1) * self.per_page
    }
}

/// Rows of one page and the total, so templates can show "page 2 of 7".
#[derive(Debug, Clone)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub total: i64,
    pub page: PageRequest,
}

impl<T> Paged<T> {
    pub fn page_count(&self) -> i64 {
        ((self.total + self.page.per_page - 1) / self.page.per_page).max(1)
    }

    pub fn has_previous(&self) -> bool {
        self.page.number > 1
    }

    pub fn has_next(&self) -> bool {
        self.page.number < self.page_count()
    }
}
