//! When the session store cannot reach the database, actix-session answers a bare 500. This
//! middleware, just outside it, turns that into the 503 "database unavailable" page (with
//! `Retry-After`) that every other page shows in an outage.

use actix_web::Error;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;

use crate::error::{AppError, Unavailable};

pub async fn unavailable_page(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    match next.call(req).await {
        Ok(response) => Ok(response.map_into_boxed_body()),
        // Handlers' errors arrive as responses; an `Err` here is the session store's.
        Err(err) => {
            // Logged once, by the page: the store's cause is in the error's debug form.
            let cause = crate::db::one_line(&format!("session store: {err:?}"));
            // (The request cannot be kept for a response here: actix needs it unshared while
            // routing. The server renders this error's page.)
            Err(AppError::Unavailable(Unavailable::Database(cause)).into())
        }
    }
}
