//! `/webhooks`: the list, the create and edit forms, the detail page and the manage actions.

pub mod actions;
pub mod body_preview;
pub mod detail;
pub mod form;
pub mod list;
pub mod list_row;
pub mod secret;
pub mod test_ping;

use crate::error::AppError;
use crate::model::webhook::{self, Webhook};
use crate::web::state::AppState;
use crate::webhooks::service::WebhookError;

/// The webhook `id`, or the 404 page.
pub async fn load_webhook(state: &AppState, id: i64) -> Result<Webhook, AppError> {
    state
        .run(move |conn| webhook::find(conn, id))
        .await?
        .ok_or(AppError::NotFound)
}

impl From<WebhookError> for AppError {
    fn from(err: WebhookError) -> Self {
        match err {
            WebhookError::NotFound => AppError::NotFound,
            WebhookError::Database(err) => err.into(),
            other => AppError::Unexpected(anyhow::Error::new(other)),
        }
    }
}
