//! Wakes the worker when another Herald process queues deliveries: a dedicated asynchronous
//! connection (`db::notifications`, since diesel has no way to wait for a notification)
//! LISTENs on the channel the ingest transaction NOTIFYs at commit, and sleeps until one arrives — no
//! polling, so an idle Herald costs nothing here. When the connection is lost, the worker's
//! polling interval covers the gap and the listener reconnects after a pause.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::db::notifications::NotificationConnection;
use crate::ingest::NOTIFY_CHANNEL;
use crate::ingest::other_workers::{self, OtherWorkers};

/// How long to wait before connecting again after the connection failed.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// Starts the listener; `listening` says whether notifications arrive now (while it is false
/// the worker polls at its short interval). It announces itself to the workers of other
/// processes when it connects, and tells `others` when another one does.
pub fn spawn(
    database_url: String,
    wake: Arc<Notify>,
    listening: Arc<AtomicBool>,
    others: Arc<OtherWorkers>,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut lost = false;
        loop {
            let ended = tokio::select! {
                _ = stop.cancelled() => break,
                ended = listen(&database_url, &wake, &listening, &others, &mut lost) => ended,
            };
            listening.store(false, Ordering::SeqCst);
            // One line when it goes, one when it is back: not one per retry.
            if !lost {
                tracing::warn!(
                    "LISTEN connection lost ({}); relying on polling until it is back",
                    crate::db::one_line(&ended)
                );
                lost = true;
            }
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(RECONNECT_AFTER) => {}
            }
        }
    })
}

/// Connects, LISTENs and wakes the worker on each notification until the connection ends;
/// returns why it ended.
async fn listen(
    database_url: &str,
    wake: &Notify,
    listening: &AtomicBool,
    others: &OtherWorkers,
    lost: &mut bool,
) -> String {
    // Named so ingest in other processes knows a worker here wants notifications.
    let mut connection =
        match NotificationConnection::connect(database_url, other_workers::listener_name()).await {
            Ok(connection) => connection,
            Err(err) => return err,
        };
    // What joined while this listener was away went unheard: ask again before trusting it.
    others.forget();
    let statement = format!(
        "LISTEN {NOTIFY_CHANNEL}; SELECT pg_notify('{NOTIFY_CHANNEL}', '{}')",
        other_workers::joined_payload()
    );
    if let Err(err) = connection.execute(&statement).await {
        return err;
    }
    if *lost {
        tracing::info!("LISTEN connection back");
        *lost = false;
    }
    listening.store(true, Ordering::SeqCst);
    // A notification sent while there was no listener is covered by one poll now.
    wake.notify_one();
    loop {
        match connection.next_payload().await {
            Ok(payload) => {
                others.heard(&payload);
                wake.notify_one();
            }
            Err(err) => return err,
        }
    }
}
