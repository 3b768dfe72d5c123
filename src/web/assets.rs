//! Static files, compiled into the binary so the console works offline and from any directory.

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{HttpResponse, web};

use crate::error::AppError;

const FILES: &[(&str, &str, &str)] = &[
    (
        "herald.css",
        "text/css; charset=utf-8",
        include_str!("../../static/herald.css"),
    ),
    (
        "herald.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/herald.js"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_str!("../../static/favicon.svg"),
    ),
];

pub async fn serve(file: web::Path<String>) -> Result<HttpResponse, AppError> {
    let (_, content_type, body) = FILES
        .iter()
        .find(|(name, _, _)| *name == file.as_str())
        .ok_or(AppError::NotFound)?;
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, *content_type))
        .insert_header((CACHE_CONTROL, "public, max-age=3600"))
        .body(*body))
}
