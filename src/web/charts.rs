//! Charts drawn on the server as inline SVG (no script, nothing fetched): attempts per hour
//! over the last 24 hours, delivered stacked under failed, with the hour's success rate as a
//! dot. Every bar has a `<title>`, so hovering (or a screen reader) gives the numbers.

use std::fmt::Write;

use chrono::{DateTime, Duration, DurationRound, Utc};

use crate::model::activity::HourCounts;

const HOURS: i64 = 24;
const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 180.0;
const LEFT: f64 = 40.0;
const BOTTOM: f64 = 22.0;
const TOP: f64 = 10.0;

/// The 24 hours ending with the current one, each with its counts (zero when absent).
pub fn last_day(counts: &[HourCounts], now: DateTime<Utc>) -> Vec<HourCounts> {
    let current = now.duration_trunc(Duration::hours(1)).unwrap_or(now);
    (0..HOURS)
        .rev()
        .map(|back| {
            let hour = current - Duration::hours(back);
            counts
                .iter()
                .find(|c| c.hour == hour)
                .copied()
                .unwrap_or(HourCounts {
                    hour,
                    delivered: 0,
                    failed: 0,
                    dead: 0,
                })
        })
        .collect()
}

/// The SVG of `hours` (see [`last_day`]); `label` names the chart for screen readers.
pub fn hourly_svg(hours: &[HourCounts], label: &str) -> String {
    let peak = hours
        .iter()
        .map(|h| h.delivered + h.failed)
        .max()
        .unwrap_or(0)
        .max(1);
    let plot_width = WIDTH - LEFT;
    let plot_height = HEIGHT - BOTTOM - TOP;
    let slot = plot_width / hours.len().max(1) as f64;
    let bar = (slot * 0.7).max(1.0);
    let y = |value: i64| TOP + plot_height * (1.0 - value as f64 / peak as f64);
    let mut svg = String::new();
    let total: i64 = hours.iter().map(|h| h.delivered + h.failed).sum();
    let failed: i64 = hours.iter().map(|h| h.failed).sum();
    let _ = write!(
        svg,
        "<svg class=\"chart\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"{}: {total} attempt{}, {failed} failed, in the last 24 hours\" preserveAspectRatio=\"none\">",
        escape(label),
        if total == 1 { "" } else { "s" }
    );
    // Grid: the peak and half of it.
    for value in [peak, peak / 2] {
        let line = y(value);
        let _ = write!(
            svg,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{WIDTH}\" y1=\"{line:.1}\" y2=\"{line:.1}\"/><text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{value}</text>",
            LEFT - 6.0,
            line + 4.0
        );
    }
    let baseline = y(0);
    let _ = write!(
        svg,
        "<line class=\"baseline\" x1=\"{LEFT}\" x2=\"{WIDTH}\" y1=\"{baseline:.1}\" y2=\"{baseline:.1}\"/>"
    );
    for (i, hour) in hours.iter().enumerate() {
        let x = LEFT + slot * i as f64 + (slot - bar) / 2.0;
        let delivered_top = y(hour.delivered);
        let all_top = y(hour.delivered + hour.failed);
        let attempts = hour.delivered + hour.failed;
        let rate = if attempts > 0 {
            format!(
                ", {:.0} % delivered",
                100.0 * hour.delivered as f64 / attempts as f64
            )
        } else {
            String::new()
        };
        let _ = write!(
            svg,
            "<g class=\"hour\"><title>{} UTC: {} delivered, {} failed{rate}</title>",
            hour.hour.format("%H:00"),
            hour.delivered,
            hour.failed
        );
        // A transparent full-height target so the title shows on hover even for short bars.
        let _ = write!(
            svg,
            "<rect class=\"hit\" x=\"{x:.1}\" y=\"{TOP}\" width=\"{bar:.1}\" height=\"{plot_height:.1}\"/>"
        );
        if hour.delivered > 0 {
            let _ = write!(
                svg,
                "<rect class=\"ok\" x=\"{x:.1}\" y=\"{delivered_top:.1}\" width=\"{bar:.1}\" height=\"{:.1}\"/>",
                baseline - delivered_top
            );
        }
        if hour.failed > 0 {
            let _ = write!(
                svg,
                "<rect class=\"bad\" x=\"{x:.1}\" y=\"{all_top:.1}\" width=\"{bar:.1}\" height=\"{:.1}\"/>",
                delivered_top - all_top
            );
        }
        svg.push_str("</g>");
        if i % 6 == 0 || i + 1 == hours.len() {
            let _ = write!(
                svg,
                "<text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                x + bar / 2.0,
                HEIGHT - 6.0,
                hour.hour.format("%H:00")
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

/// The share of attempts delivered over the hours, as text ("97 %", or "—" with none).
pub fn success_rate(hours: &[HourCounts]) -> String {
    let delivered: i64 = hours.iter().map(|h| h.delivered).sum();
    let all: i64 = hours.iter().map(|h| h.delivered + h.failed).sum();
    if all == 0 {
        "—".into()
    } else {
        format!("{:.0} %", 100.0 * delivered as f64 / all as f64)
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_last_day_has_24_hours_with_gaps_filled() {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 14, 25, 0).unwrap();
        let counts = [HourCounts {
            hour: Utc.with_ymd_and_hms(2026, 11, 23, 13, 0, 0).unwrap(),
            delivered: 9,
            failed: 1,
            dead: 0,
        }];
        let day = last_day(&counts, now);
        assert_eq!(day.len(), 24);
        assert_eq!(
            day[23].hour,
            Utc.with_ymd_and_hms(2026, 11, 23, 14, 0, 0).unwrap()
        );
        assert_eq!((day[22].delivered, day[22].failed), (9, 1));
        assert_eq!(day.iter().map(|h| h.delivered + h.failed).sum::<i64>(), 10);
        assert_eq!(success_rate(&day), "90 %");
        assert_eq!(success_rate(&last_day(&[], now)), "—");
    }

    #[test]
    fn every_hour_with_attempts_is_drawn_with_its_numbers() {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 14, 25, 0).unwrap();
        let counts = [HourCounts {
            hour: Utc.with_ymd_and_hms(2026, 11, 23, 13, 0, 0).unwrap(),
            delivered: 9,
            failed: 1,
            dead: 0,
        }];
        let svg = hourly_svg(&last_day(&counts, now), "Attempts <per> hour");
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("aria-label=\"Attempts &lt;per&gt; hour: 10 attempts, 1 failed"));
        assert!(svg.contains("<title>13:00 UTC: 9 delivered, 1 failed, 90 % delivered</title>"));
        assert_eq!(svg.matches("class=\"ok\"").count(), 1);
        assert_eq!(svg.matches("class=\"bad\"").count(), 1);
        assert_eq!(svg.matches("<g class=\"hour\">").count(), 24);
    }
}
