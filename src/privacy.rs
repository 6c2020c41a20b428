//! Masking of personal data (IDs, birthdays, phone numbers) before it reaches a log line.

/// Keeps the last `keep` characters and replaces the rest with `*`, so logs can
/// correlate events without revealing the whole value.
pub fn mask_tail(value: &str, keep: usize) -> String {
    let n = value.chars().count();
    let hidden = n.saturating_sub(keep);
    value
        .chars()
        .enumerate()
        .map(|(i, c)| if i < hidden { '*' } else { c })
        .collect()
}

/// A phone number for logs: only the last 4 digits are shown.
pub fn mask_phone(phone: &str) -> String {
    mask_tail(phone, 4)
}

/// A HER-SYS ID for logs: only the last 2 digits are shown.
pub fn mask_hersys_id(id: &str) -> String {
    mask_tail(id, 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_keeps_last_four_digits_only() {
        assert_eq!(mask_phone("+819012345678"), "*********5678");
    }

    #[test]
    fn short_values_are_not_padded_or_panicking() {
        assert_eq!(mask_hersys_id("7"), "7");
        assert_eq!(mask_hersys_id(""), "");
        assert_eq!(mask_hersys_id("1234567"), "*****67");
    }
}
