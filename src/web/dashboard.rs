//! `/`: the signed-in user's starting point.

use actix_web::HttpResponse;
use askama::Template;

use super::page::{PageContext, render};
use crate::auth::current_user::CurrentUser;
use crate::domain::role::Role;
use crate::error::AppError;

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    ctx: PageContext,
    me: CurrentUser,
    roles: Vec<(Role, bool)>,
}

pub async fn show(ctx: PageContext, me: CurrentUser) -> Result<HttpResponse, AppError> {
    let roles = Role::ALL
        .iter()
        .map(|role| (*role, me.role.allows(*role)))
        .collect();
    render(&DashboardPage {
        ctx: ctx.in_section("dashboard"),
        me,
        roles,
    })
}
