//! The audit log reads as sentences, with the raw details collapsed beside them.

use herald::domain::role::Role;
use herald::tokens::Scope;

use crate::delivery_helpers::{create_webhook, token};
use crate::helpers::spawn_app;

#[tokio::test]
async fn the_audit_log_says_who_did_what_to_which_webhook_and_why() {
    let app = spawn_app().await;
    let (hook, _) = create_webhook(&app, "https://hr.example.com/hooks", |i| {
        i.name = "HR sync".into();
    })
    .await;
    let manage = token(&app, Scope::Manage).await;
    let response = reqwest::Client::new()
        .post(format!(
            "{}/api/v1/webhooks/{}/disable",
            app.address, hook.id
        ))
        .bearer_auth(&manage)
        .json(&serde_json::json!({ "reason": "receiver maintenance <b>tonight</b>" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    app.login_as(Role::Manager).await;
    let html = app.get_html("/audit").await;
    let row = &html[html
        .find("disabled webhook")
        .expect("no sentence for the disable")..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(
        row.contains(&format!("disabled webhook\n      <a href=\"/webhooks/{}\">HR sync</a>: receiver maintenance &#60;b&#62;tonight&#60;/b&#62;", hook.id)),
        "{row}"
    );
    assert!(row.contains("<code>webhook.disabled</code>"), "{row}");
    assert!(
        row.contains("<details class=\"audit-details\"><summary>details</summary>"),
        "{row}"
    );
    assert!(html.contains("created webhook"), "{html}");
}
