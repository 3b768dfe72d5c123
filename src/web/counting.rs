//! Numbers in sentences: "1,204 queued deliveries", "1 dead letter".

/// `n` with a comma between thousands: 1204 → "1,204".
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// `n` and the noun that agrees with it: `counted(1204, "queued delivery", "queued deliveries")`.
pub fn counted(n: i64, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1204), "1,204");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(-1000), "-1,000");
    }

    #[test]
    fn the_noun_agrees_with_the_number() {
        assert_eq!(counted(1, "dead letter", "dead letters"), "1 dead letter");
        assert_eq!(counted(0, "dead letter", "dead letters"), "0 dead letters");
        assert_eq!(
            counted(1204, "queued delivery", "queued deliveries"),
            "1,204 queued deliveries"
        );
    }
}
