//! `attempt_counts_hourly`: attempts per webhook and hour (delivered, failed, and those that
//! made their delivery a dead letter), added to by every statement that writes attempts, so the
//! dashboard, the charts and webhook health never count history rows.

/// A statement part that adds the rows of `written` (a CTE returning `webhook_id`,
/// `started_at` and `outcome` of the attempts just inserted) to the hourly counts; to be used
/// as one more CTE of the statement that inserts the attempts. Rows are added in key order so
/// that two writers never wait for each other in a cycle.
pub fn add_counts_of(written: &str) -> String {
    format!(
        "INSERT INTO attempt_counts_hourly AS c (hour, webhook_id, delivered, failed, dead)
         SELECT date_trunc('hour', started_at, 'UTC'), webhook_id,
                count(*) FILTER (WHERE outcome = 'delivered'),
                count(*) FILTER (WHERE outcome <> 'delivered'),
                count(*) FILTER (WHERE outcome IN ('dead', 'disabled'))
         FROM {written} GROUP BY 1, 2 ORDER BY 1, 2
         ON CONFLICT (hour, webhook_id) DO UPDATE
         SET delivered = c.delivered + EXCLUDED.delivered, failed = c.failed + EXCLUDED.failed,
             dead = c.dead + EXCLUDED.dead
         RETURNING 1"
    )
}
