//! Times as people read them in lists: "3 min ago", "in 2 h", "yesterday"; the exact UTC time
//! goes in the element's title and `datetime` attribute.

use chrono::{DateTime, Utc};

/// `at` relative to `now`, in a few characters.
pub fn relative(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let seconds = (now - at).num_seconds();
    let (amount, future) = (seconds.unsigned_abs(), seconds < 0);
    let text = match amount {
        0..=9 => return "just now".into(),
        10..=59 => format!("{amount} s"),
        60..=3_599 => format!("{} min", amount / 60),
        3_600..=86_399 => format!("{} h", amount / 3_600),
        86_400..=172_799 if !future => return "yesterday".into(),
        86_400..=2_591_999 => match amount / 86_400 {
            1 => "1 day".into(),
            days => format!("{days} days"),
        },
        _ => return at.format("%Y-%m-%d").to_string(),
    };
    if future {
        format!("in {text}")
    } else {
        format!("{text} ago")
    }
}

/// The exact time shown on hover.
pub fn exact(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

#[cfg(test)]
mod tests {
    use super::relative;
    use chrono::{Duration, TimeZone, Utc};

    #[test]
    fn recent_times_read_as_durations_and_old_ones_as_dates() {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap();
        assert_eq!(relative(now - Duration::seconds(3), now), "just now");
        assert_eq!(relative(now - Duration::seconds(42), now), "42 s ago");
        assert_eq!(relative(now - Duration::minutes(5), now), "5 min ago");
        assert_eq!(relative(now - Duration::hours(3), now), "3 h ago");
        assert_eq!(relative(now - Duration::hours(30), now), "yesterday");
        assert_eq!(relative(now - Duration::days(4), now), "4 days ago");
        assert_eq!(relative(now - Duration::days(90), now), "2026-08-25");
        assert_eq!(relative(now + Duration::minutes(2), now), "in 2 min");
        assert_eq!(relative(now + Duration::hours(30), now), "in 1 day");
    }
}
