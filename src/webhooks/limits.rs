//! How hard Herald may push one receiver: requests in flight at once (across every worker) and,
//! optionally, requests per second. Parsed once from the form's text (or the API's numbers
//! turned into text), so a stored value is always within the database's bounds.

use super::dispatch::parse_in_range;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryLimits {
    max_in_flight: i32,
    rate_limit_per_second: Option<i32>,
}

impl Default for DeliveryLimits {
    fn default() -> Self {
        Self {
            max_in_flight: Self::DEFAULT_MAX_IN_FLIGHT,
            rate_limit_per_second: None,
        }
    }
}

impl DeliveryLimits {
    pub const DEFAULT_MAX_IN_FLIGHT: i32 = 8;
    pub const MAX_IN_FLIGHT: (i32, i32) = (1, 256);
    pub const RATE_PER_SECOND: (i32, i32) = (1, 10_000);

    /// Blank in-flight = the default (8); blank rate = no limit. Errors are keyed by field.
    pub fn parse(max_in_flight: &str, rate: &str) -> Result<Self, Vec<(&'static str, String)>> {
        let mut errors = Vec::new();
        let (min, max) = Self::MAX_IN_FLIGHT;
        let max_in_flight = if max_in_flight.trim().is_empty() {
            Some(Self::DEFAULT_MAX_IN_FLIGHT)
        } else {
            parse_in_range(max_in_flight, min, max)
        };
        if max_in_flight.is_none() {
            errors.push((
                "max_in_flight",
                format!("Enter a whole number of requests from {min} to {max}."),
            ));
        }
        let (min, max) = Self::RATE_PER_SECOND;
        let rate_limit_per_second = if rate.trim().is_empty() {
            Some(None)
        } else {
            parse_in_range(rate, min, max).map(Some)
        };
        if rate_limit_per_second.is_none() {
            errors.push((
                "rate_limit_per_second",
                format!(
                    "Enter a whole number of requests per second from {min} to {max}, or leave it blank for no limit."
                ),
            ));
        }
        match (max_in_flight, rate_limit_per_second) {
            (Some(max_in_flight), Some(rate_limit_per_second)) => Ok(Self {
                max_in_flight,
                rate_limit_per_second,
            }),
            _ => Err(errors),
        }
    }

    pub fn max_in_flight(&self) -> i32 {
        self.max_in_flight
    }

    pub fn rate_limit_per_second(&self) -> Option<i32> {
        self.rate_limit_per_second
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(result: Result<DeliveryLimits, Vec<(&'static str, String)>>) -> Vec<&'static str> {
        result.unwrap_err().into_iter().map(|(f, _)| f).collect()
    }

    #[test]
    fn blank_means_the_default_and_no_rate_limit() {
        assert_eq!(
            DeliveryLimits::parse("", " ").unwrap(),
            DeliveryLimits::default()
        );
        let parsed = DeliveryLimits::parse(" 256 ", "10000").unwrap();
        assert_eq!(parsed.max_in_flight(), 256);
        assert_eq!(parsed.rate_limit_per_second(), Some(10_000));
        assert_eq!(DeliveryLimits::parse("1", "1").unwrap().max_in_flight(), 1);
    }

    #[test]
    fn out_of_range_or_not_whole_numbers_are_refused_per_field() {
        assert_eq!(fields(DeliveryLimits::parse("0", "")), ["max_in_flight"]);
        assert_eq!(fields(DeliveryLimits::parse("257", "")), ["max_in_flight"]);
        assert_eq!(fields(DeliveryLimits::parse("2.5", "")), ["max_in_flight"]);
        assert_eq!(
            fields(DeliveryLimits::parse("8", "0")),
            ["rate_limit_per_second"]
        );
        assert_eq!(
            fields(DeliveryLimits::parse("x", "10001")),
            ["max_in_flight", "rate_limit_per_second"]
        );
    }
}
