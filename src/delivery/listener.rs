//! Wakes the worker when another Herald process queues deliveries: a dedicated connection
//! LISTENs on the channel the ingest transaction NOTIFYs at commit. libpq offers no blocking
//! wait through diesel, so the thread checks the socket every few milliseconds (a cheap local
//! read, no query); the worker's polling interval covers a lost connection.

use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::db::PgPool;
use crate::ingest::NOTIFY_CHANNEL;

const CHECK_EVERY: Duration = Duration::from_millis(5);

pub fn spawn(
    pool: PgPool,
    wake: Arc<Notify>,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::task::spawn_blocking(move || {
        while !stop.is_cancelled() {
            if let Err(err) = listen(&pool, &wake, &stop) {
                tracing::warn!(
                    "LISTEN connection lost ({err}); relying on polling until it is back"
                );
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    })
}

fn listen(pool: &PgPool, wake: &Notify, stop: &CancellationToken) -> anyhow::Result<()> {
    // Held for the worker's lifetime: the pool is sized with one connection for it.
    let mut conn = pool.get()?;
    diesel::sql_query(format!("LISTEN {NOTIFY_CHANNEL}")).execute(&mut conn)?;
    let result = (|| {
        while !stop.is_cancelled() {
            let mut woke = false;
            for notification in conn.notifications_iter() {
                notification?;
                woke = true;
            }
            if woke {
                wake.notify_one();
            }
            std::thread::sleep(CHECK_EVERY);
        }
        Ok(())
    })();
    let _ = diesel::sql_query(format!("UNLISTEN {NOTIFY_CHANNEL}")).execute(&mut conn);
    result
}
