//! Wakes the worker when another Herald process queues deliveries: a dedicated connection
//! LISTENs on the channel the ingest transaction NOTIFYs at commit. Diesel offers no blocking
//! wait for notifications, so the connection's socket is checked every few milliseconds (a
//! local read, no query); the worker's polling interval covers a lost connection.
//! Each check is a short blocking task, so the listener never outlives its runtime.

use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::db::{PgPool, PooledPg};
use crate::ingest::NOTIFY_CHANNEL;

const CHECK_EVERY: Duration = Duration::from_millis(5);

pub fn spawn(
    pool: PgPool,
    wake: Arc<Notify>,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut listening: Option<PooledPg> = None;
        let mut lost = false;
        let mut ticker = tokio::time::interval(CHECK_EVERY);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = ticker.tick() => {}
            }
            let (held, pool) = (listening.take(), pool.clone());
            let checked = tokio::task::spawn_blocking(move || check(held, &pool)).await;
            match checked {
                Ok(Ok((conn, woke))) => {
                    listening = Some(conn);
                    if lost {
                        tracing::info!("LISTEN connection back");
                        lost = false;
                    }
                    if woke {
                        wake.notify_one();
                    }
                }
                Ok(Err(err)) => {
                    // One line when it goes, one when it is back: not one per retry.
                    if !lost {
                        tracing::warn!(
                            "LISTEN connection lost ({}); relying on polling until it is back",
                            crate::db::one_line(&err.to_string())
                        );
                        lost = true;
                    }
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
                Err(_) => break,
            }
        }
        if let Some(mut conn) = listening {
            let _ = tokio::task::spawn_blocking(move || {
                diesel::sql_query(format!("UNLISTEN {NOTIFY_CHANNEL}")).execute(&mut conn)
            })
            .await;
        }
    })
}

/// Drains pending notifications (connecting and LISTENing first if needed).
fn check(held: Option<PooledPg>, pool: &PgPool) -> anyhow::Result<(PooledPg, bool)> {
    let mut conn = match held {
        Some(conn) => conn,
        None => {
            let mut conn = pool.get()?;
            diesel::sql_query(format!("LISTEN {NOTIFY_CHANNEL}")).execute(&mut conn)?;
            conn
        }
    };
    let mut woke = false;
    for notification in conn.notifications_iter() {
        notification?;
        woke = true;
    }
    Ok((conn, woke))
}
