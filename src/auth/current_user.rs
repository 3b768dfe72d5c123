//! The signed-in user of this request, put in the request's extensions by the role guard.

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use std::future::{Ready, ready};

use crate::domain::role::Role;
use crate::error::AppError;
use crate::model::audit::Actor;

#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub id: i64,
    pub username: String,
    pub role: Role,
}

impl From<crate::model::user::User> for CurrentUser {
    fn from(account: crate::model::user::User) -> Self {
        Self {
            id: account.id,
            role: account.role(),
            username: account.username,
        }
    }
}

impl CurrentUser {
    pub fn actor(&self) -> Actor {
        Actor::user(self.id, &self.username)
    }

    pub fn is_admin(&self) -> bool {
        self.role.allows(Role::Admin)
    }

    pub fn can_manage(&self) -> bool {
        self.role.allows(Role::Manager)
    }
}

impl FromRequest for CurrentUser {
    type Error = AppError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<CurrentUser>()
                .cloned()
                .ok_or_else(|| {
                    AppError::Unexpected(anyhow::anyhow!(
                        "route {} reads the current user but has no role guard",
                        req.path()
                    ))
                }),
        )
    }
}
