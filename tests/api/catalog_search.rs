//! The event catalog can be searched by name, category or description, without script.

use herald::domain::role::Role;

use crate::helpers::spawn_app;

#[tokio::test]
async fn the_catalog_narrows_to_the_types_that_mention_every_word() {
    let app = spawn_app().await;
    app.login_as(Role::Viewer).await;
    let all = app.get_html("/events").await;
    assert!(all.contains("id=\"badge.awarded\"") && all.contains("id=\"course.completed\""));
    let badges = app.get_html("/events?q=BADGE").await;
    assert!(badges.contains("id=\"badge.awarded\""), "{badges}");
    assert!(!badges.contains("id=\"course.completed\""));
    assert!(badges.contains("event types match “BADGE”"));
    let two_words = app.get_html("/events?q=course+completed").await;
    assert!(two_words.contains("id=\"course.completed\""));
    assert!(!two_words.contains("id=\"badge.awarded\""));
    let none = app.get_html("/events?q=zzz-nothing").await;
    assert!(
        none.contains("No event type matches “zzz-nothing”"),
        "{none}"
    );
}
