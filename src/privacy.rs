//! Masking of personal data (IDs, birthdays, phone numbers) before it reaches a log line.
//! These values often come from the network (a Request-URI, DTMF, a CSV), so the one
//! masking function also keeps control and invisible characters out of the log.

/// Keeps the last `keep` characters and replaces the rest with `*`, so logs can
/// correlate events without revealing the whole value. A kept character that is not
/// printable (NUL, ESC, CR/LF, bidi overrides...) is written escaped, `\u{0}`, so a
/// value can neither forge log lines nor hide what it is.
pub fn mask_tail(value: &str, keep: usize) -> String {
    let n = value.chars().count();
    let hidden = n.saturating_sub(keep);
    let mut out = String::with_capacity(value.len());
    for (i, c) in value.chars().enumerate() {
        if i < hidden {
            out.push('*');
        } else if is_unprintable(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// Control characters and the invisible formatting ones (zero-width, bidi controls,
/// line/paragraph separators, BOM).
fn is_unprintable(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{FEFF}'
        )
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

    #[test]
    fn unprintable_bytes_never_reach_the_log_raw() {
        // The 404 log line's callee, as a hostile Request-URI can make it.
        let masked = mask_phone("0503\0\x1b[2J\r\nINFO forged\u{202E}");
        assert!(!masked.chars().any(is_unprintable), "{masked:?}");
        assert!(masked.ends_with(r"ged\u{202e}"), "{masked:?}");
        assert_eq!(mask_hersys_id("12\0\n"), r"**\u{0}\u{a}");
        // Printable non-ASCII stays readable.
        assert_eq!(mask_phone("電話番号〇一二三"), "****〇一二三");
    }

    #[test]
    fn masking_any_string_leaves_only_printable_characters() {
        for raw in [
            "\0",
            "\u{7f}",
            "\u{85}",
            "\u{9b}",
            "\t\u{2028}\u{feff}",
            "a\u{200b}b",
        ] {
            for keep in 0..4 {
                let m = mask_tail(raw, keep);
                assert!(!m.chars().any(is_unprintable), "{raw:?} keep {keep}: {m:?}");
            }
        }
    }
}
