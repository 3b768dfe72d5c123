//! Dispatch timing: each event at once, or gathered into batches (Totara's "dispatch timing",
//! Adobe Learning Manager's non-real-time events).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DispatchTiming {
    Immediate,
    Batched {
        window_minutes: i32,
        max_events: i32,
    },
}

impl DispatchTiming {
    /// The timing, or every bad field with its message.
    pub fn parse(
        mode: &str,
        window: &str,
        max_events: &str,
    ) -> Result<Self, Vec<(&'static str, String)>> {
        match mode.trim() {
            "" | "immediate" => Ok(Self::Immediate),
            "batched" => {
                let window_minutes = parse_in_range(window, 1, 1440);
                let max_events = parse_in_range(max_events, 1, 1000);
                match (window_minutes, max_events) {
                    (Some(window_minutes), Some(max_events)) => Ok(Self::Batched {
                        window_minutes,
                        max_events,
                    }),
                    _ => {
                        let mut problems = Vec::new();
                        if window_minutes.is_none() {
                            problems.push((
                                "batch_window_minutes",
                                "Enter a window of 1 to 1440 minutes.".to_owned(),
                            ));
                        }
                        if max_events.is_none() {
                            problems.push((
                                "batch_max_events",
                                "Enter a batch size of 1 to 1000 events.".to_owned(),
                            ));
                        }
                        Err(problems)
                    }
                }
            }
            _ => Err(vec![(
                "dispatch_mode",
                "Choose immediate or batched.".into(),
            )]),
        }
    }

    pub fn mode(&self) -> &'static str {
        match self {
            Self::Immediate => "immediate",
            Self::Batched { .. } => "batched",
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Self::Immediate => "Immediate".into(),
            Self::Batched {
                window_minutes,
                max_events,
            } => format!("Batched: every {window_minutes} min, at most {max_events} events"),
        }
    }
}

/// `raw` as a whole number within `min..=max`, or `None`.
pub fn parse_in_range(raw: &str, min: i32, max: i32) -> Option<i32> {
    raw.trim()
        .parse::<i32>()
        .ok()
        .filter(|v| (min..=max).contains(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batched_needs_a_window_and_a_size_in_range() {
        assert_eq!(
            DispatchTiming::parse("batched", "15", "100").unwrap(),
            DispatchTiming::Batched {
                window_minutes: 15,
                max_events: 100
            }
        );
        assert_eq!(
            DispatchTiming::parse("batched", "0", "100").unwrap_err()[0].0,
            "batch_window_minutes"
        );
        assert_eq!(
            DispatchTiming::parse("batched", "1441", "100").unwrap_err()[0].0,
            "batch_window_minutes"
        );
        assert_eq!(
            DispatchTiming::parse("batched", "5", "1001").unwrap_err()[0].0,
            "batch_max_events"
        );
        assert_eq!(
            DispatchTiming::parse("immediate", "", "").unwrap(),
            DispatchTiming::Immediate
        );
        assert!(DispatchTiming::parse("sometimes", "", "").is_err());
        // Both bad fields are reported at once.
        assert_eq!(
            DispatchTiming::parse("batched", "0", "0")
                .unwrap_err()
                .len(),
            2
        );
    }
}
