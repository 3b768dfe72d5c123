//! Retry policies: when to try a failed delivery again, and when to give up.

use std::time::Duration;

use super::dispatch::parse_in_range;

/// The Standard Webhooks schedule: delays before attempts 2 to 8.
const STANDARD_SCHEDULE_SECS: [u64; 7] = [5, 300, 1800, 7200, 18000, 36000, 36000];

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RetryPolicy {
    /// 2 s doubling to 1 h, 60 attempts in all (Skilljar).
    Exponential,
    /// Every 5 minutes, 3 attempts (the reporting webhook seed).
    Fixed,
    /// 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (Standard Webhooks).
    Standard,
    Custom(CustomRetry),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CustomRetry {
    pub initial_seconds: i32,
    pub factor: f64,
    pub max_delay_seconds: i32,
    pub max_attempts: i32,
}

/// The four columns every policy is stored in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryColumns {
    pub kind: &'static str,
    pub initial_seconds: i32,
    pub factor: f64,
    pub max_delay_seconds: i32,
    pub max_attempts: i32,
}

impl RetryPolicy {
    pub const KINDS: [(&'static str, &'static str); 4] = [
        (
            "exponential",
            "Exponential: 2 s, doubling up to 1 h between tries, 60 attempts (about two days)",
        ),
        ("fixed", "Fixed: every 5 minutes, 3 attempts"),
        (
            "standard",
            "Standard Webhooks: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (8 attempts)",
        ),
        (
            "custom",
            "Custom: choose the first delay, growth factor, longest delay and attempts",
        ),
    ];

    /// Parses the form's choice; custom values are checked field by field.
    pub fn parse(
        kind: &str,
        initial: &str,
        factor: &str,
        max_delay: &str,
        attempts: &str,
    ) -> Result<Self, Vec<(&'static str, String)>> {
        match kind.trim() {
            "" | "exponential" => Ok(Self::Exponential),
            "fixed" => Ok(Self::Fixed),
            "standard" => Ok(Self::Standard),
            "custom" => {
                let mut errors = Vec::new();
                let initial_seconds = parse_in_range(initial, 1, 86_400)
                    .ok_or_else(|| {
                        errors.push((
                            "retry_initial_seconds",
                            "Enter 1 to 86400 seconds.".to_owned(),
                        ))
                    })
                    .unwrap_or(0);
                let factor = factor
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|f| (1.0..=10.0).contains(f))
                    .ok_or_else(|| {
                        errors.push((
                            "retry_factor",
                            "Enter a factor from 1 (fixed) to 10.".to_owned(),
                        ))
                    })
                    .unwrap_or(1.0);
                let max_delay_seconds = parse_in_range(max_delay, 1, 604_800)
                    .ok_or_else(|| {
                        errors.push((
                            "retry_max_delay_seconds",
                            "Enter 1 to 604800 seconds (7 days).".to_owned(),
                        ))
                    })
                    .unwrap_or(0);
                let max_attempts = parse_in_range(attempts, 1, 100)
                    .ok_or_else(|| {
                        errors.push(("retry_max_attempts", "Enter 1 to 100 attempts.".to_owned()))
                    })
                    .unwrap_or(0);
                if errors.is_empty() && max_delay_seconds < initial_seconds {
                    errors.push((
                        "retry_max_delay_seconds",
                        "The longest delay cannot be shorter than the first one.".to_owned(),
                    ));
                }
                if errors.is_empty() {
                    Ok(Self::Custom(CustomRetry {
                        initial_seconds,
                        factor,
                        max_delay_seconds,
                        max_attempts,
                    }))
                } else {
                    Err(errors)
                }
            }
            _ => Err(vec![(
                "retry_policy",
                "Choose one of the retry policies.".to_owned(),
            )]),
        }
    }

    pub fn columns(&self) -> RetryColumns {
        let (kind, initial_seconds, factor, max_delay_seconds, max_attempts) = match self {
            Self::Exponential => ("exponential", 2, 2.0, 3600, 60),
            Self::Fixed => ("fixed", 300, 1.0, 300, 3),
            Self::Standard => ("standard", 5, 1.0, 36_000, 8),
            Self::Custom(c) => (
                "custom",
                c.initial_seconds,
                c.factor,
                c.max_delay_seconds,
                c.max_attempts,
            ),
        };
        RetryColumns {
            kind,
            initial_seconds,
            factor,
            max_delay_seconds,
            max_attempts,
        }
    }

    pub fn from_columns(
        kind: &str,
        initial_seconds: i32,
        factor: f64,
        max_delay_seconds: i32,
        max_attempts: i32,
    ) -> Self {
        match kind {
            "fixed" => Self::Fixed,
            "standard" => Self::Standard,
            "custom" => Self::Custom(CustomRetry {
                initial_seconds,
                factor,
                max_delay_seconds,
                max_attempts,
            }),
            _ => Self::Exponential,
        }
    }

    pub fn max_attempts(&self) -> i32 {
        self.columns().max_attempts
    }

    /// The delay before attempt `next_attempt` (2 = the first retry), without jitter; `None`
    /// when the policy allows no such attempt.
    pub fn delay_before(&self, next_attempt: i32) -> Option<Duration> {
        let columns = self.columns();
        if next_attempt < 2 || next_attempt > columns.max_attempts {
            return None;
        }
        if let Self::Standard = self {
            return STANDARD_SCHEDULE_SECS
                .get((next_attempt - 2) as usize)
                .map(|s| Duration::from_secs(*s));
        }
        let exponent = next_attempt - 2;
        let delay = f64::from(columns.initial_seconds) * columns.factor.powi(exponent);
        Some(Duration::from_secs_f64(
            delay.min(f64::from(columns.max_delay_seconds)),
        ))
    }

    pub fn describe(&self) -> String {
        match self {
            Self::Custom(c) => format!(
                "Custom: first retry after {} s, ×{} each time up to {} s, {} attempts",
                c.initial_seconds, c.factor, c.max_delay_seconds, c.max_attempts
            ),
            other => Self::KINDS
                .iter()
                .find(|(kind, _)| *kind == other.columns().kind)
                .map(|(_, text)| (*text).to_owned())
                .unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_doubles_from_two_seconds_and_caps_at_an_hour() {
        let policy = RetryPolicy::Exponential;
        assert_eq!(policy.delay_before(2), Some(Duration::from_secs(2)));
        assert_eq!(policy.delay_before(3), Some(Duration::from_secs(4)));
        assert_eq!(policy.delay_before(13), Some(Duration::from_secs(3600)));
        assert_eq!(policy.delay_before(60), Some(Duration::from_secs(3600)));
        assert_eq!(policy.delay_before(61), None);
    }

    #[test]
    fn fixed_is_three_attempts_five_minutes_apart() {
        assert_eq!(
            RetryPolicy::Fixed.delay_before(2),
            Some(Duration::from_secs(300))
        );
        assert_eq!(
            RetryPolicy::Fixed.delay_before(3),
            Some(Duration::from_secs(300))
        );
        assert_eq!(RetryPolicy::Fixed.delay_before(4), None);
    }

    #[test]
    fn standard_follows_the_specification_schedule() {
        let delays: Vec<u64> = (2..=8)
            .map(|n| RetryPolicy::Standard.delay_before(n).unwrap().as_secs())
            .collect();
        assert_eq!(delays, STANDARD_SCHEDULE_SECS);
        assert_eq!(RetryPolicy::Standard.delay_before(9), None);
    }

    #[test]
    fn custom_values_are_checked_field_by_field() {
        let errors = RetryPolicy::parse("custom", "0", "11", "x", "101").unwrap_err();
        let fields: Vec<_> = errors.iter().map(|(f, _)| *f).collect();
        assert_eq!(
            fields,
            [
                "retry_initial_seconds",
                "retry_factor",
                "retry_max_delay_seconds",
                "retry_max_attempts"
            ]
        );
        let errors = RetryPolicy::parse("custom", "60", "2", "30", "5").unwrap_err();
        assert_eq!(errors[0].0, "retry_max_delay_seconds");
        let policy = RetryPolicy::parse("custom", "10", "3", "100", "4").unwrap();
        assert_eq!(policy.delay_before(3), Some(Duration::from_secs(30)));
        assert_eq!(policy.delay_before(4), Some(Duration::from_secs(90)));
        assert_eq!(policy.delay_before(5), None);
    }

    #[test]
    fn policies_round_trip_through_their_columns() {
        for policy in [
            RetryPolicy::Exponential,
            RetryPolicy::Fixed,
            RetryPolicy::Standard,
            RetryPolicy::parse("custom", "10", "1.5", "600", "9").unwrap(),
        ] {
            let c = policy.columns();
            assert_eq!(
                RetryPolicy::from_columns(
                    c.kind,
                    c.initial_seconds,
                    c.factor,
                    c.max_delay_seconds,
                    c.max_attempts
                ),
                policy
            );
        }
    }
}
