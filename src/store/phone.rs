//! Japanese phone numbers, stored in E.164 (`+819012345678`).
//!
//! Only Japanese numbers are accepted: the trunk and both caller lines are Japanese, and a
//! foreign number in the patient list is far more likely a typing mistake than a patient.

/// Why a phone number was refused. Never echoes the number (it is personal data).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("phone number is empty")]
    Empty,
    #[error("phone number has characters other than digits, +, spaces, hyphens, dots or brackets")]
    BadCharacter,
    #[error("phone number is not a Japanese number (national 0... or +81...)")]
    NotJapanese,
    #[error("phone number has {0} digits after the country code; Japanese numbers have 9 or 10")]
    BadLength(usize),
}

/// Normalises `090-1234-5678`, `05031980215`, `+81 90 1234 5678` or `+81 (0)90...` to
/// `+819012345678`. Separators (space, `-`, `.`, brackets, full-width hyphen) are dropped.
pub fn normalise_phone(input: &str) -> Result<String, PhoneError> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(PhoneError::Empty);
    }
    let mut digits = String::with_capacity(trimmed.len());
    for (i, c) in trimmed.chars().enumerate() {
        match c {
            '0'..='9' => digits.push(c),
            '+' if i == 0 => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' | '\u{2010}' | '\u{2212}' | '\u{30FC}' | '\u{FF0D}' => {}
            _ => return Err(PhoneError::BadCharacter),
        }
    }
    // National significant number: what follows the trunk prefix 0 or the country code 81.
    let nsn = if let Some(rest) = digits.strip_prefix("+81") {
        // "+81 (0)90 ..." keeps a stray trunk prefix; drop one.
        rest.strip_prefix('0').unwrap_or(rest)
    } else if digits.starts_with('+') || digits.starts_with("00") {
        return Err(PhoneError::NotJapanese);
    } else if let Some(rest) = digits.strip_prefix('0') {
        rest
    } else {
        return Err(PhoneError::NotJapanese);
    };
    if nsn.starts_with('0') {
        return Err(PhoneError::NotJapanese);
    }
    if !(9..=10).contains(&nsn.len()) {
        return Err(PhoneError::BadLength(nsn.len()));
    }
    Ok(format!("+81{nsn}"))
}

/// The domestic dialling form of a stored number: `+819012345678` → `09012345678`.
/// Returns `None` for anything that is not a normalised Japanese number.
pub fn national_form(e164: &str) -> Option<String> {
    let nsn = e164.strip_prefix("+81")?;
    if nsn.is_empty() || !nsn.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(format!("0{nsn}"))
}

/// The national form with hyphens as Japanese offices write it: `090-1234-5678`,
/// `03-1234-5678`, `0120-123-456`. Mobile/IP (070, 080, 090, 050, 020) are 3-4-4; free dial
/// 0120 is 4-3-3 and 0800 4-3-4; Tokyo (03) and Osaka (06) 2-4-4; other fixed lines 3-3-4,
/// which is right for three-digit area codes (045, 011, ...) and readable for the rest (the
/// full area-code table is not worth carrying for display). `None` like [`national_form`].
pub fn hyphenated_national(e164: &str) -> Option<String> {
    let n = national_form(e164)?;
    let groups: &[usize] = match (n.len(), &n[..n.len().min(4)]) {
        (11, "0800") => &[4, 3, 4],
        (11, p) if ["070", "080", "090", "050", "020"].contains(&&p[..3]) => &[3, 4, 4],
        (10, "0120") => &[4, 3, 3],
        (10, p) if p.starts_with("03") || p.starts_with("06") => &[2, 4, 4],
        (10, _) => &[3, 3, 4],
        _ => return Some(n),
    };
    let mut out = String::with_capacity(n.len() + 2);
    let mut rest = n.as_str();
    for (i, g) in groups.iter().enumerate() {
        if i > 0 {
            out.push('-');
        }
        let (head, tail) = rest.split_at(*g);
        out.push_str(head);
        rest = tail;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn national_forms_become_e164() {
        assert_eq!(normalise_phone("090-1234-5678").unwrap(), "+819012345678");
        assert_eq!(normalise_phone("05031980215").unwrap(), "+815031980215");
        assert_eq!(normalise_phone("050-3311-0008").unwrap(), "+815033110008");
        assert_eq!(normalise_phone("03-1234-5678").unwrap(), "+81312345678");
        assert_eq!(normalise_phone("(03) 1234.5678").unwrap(), "+81312345678");
        assert_eq!(normalise_phone(" 090 1234 5678 ").unwrap(), "+819012345678");
    }

    #[test]
    fn plus_81_forms_are_accepted() {
        assert_eq!(normalise_phone("+819012345678").unwrap(), "+819012345678");
        assert_eq!(
            normalise_phone("+81 90-1234-5678").unwrap(),
            "+819012345678"
        );
        assert_eq!(
            normalise_phone("+81 (0)90 1234 5678").unwrap(),
            "+819012345678"
        );
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        assert_eq!(normalise_phone(""), Err(PhoneError::Empty));
        assert_eq!(normalise_phone("   "), Err(PhoneError::Empty));
        assert_eq!(
            normalise_phone("090-1234-567x"),
            Err(PhoneError::BadCharacter)
        );
        assert_eq!(
            normalise_phone("tel:0901234"),
            Err(PhoneError::BadCharacter)
        );
        assert_eq!(
            normalise_phone("09+012345678"),
            Err(PhoneError::BadCharacter)
        );
        assert_eq!(
            normalise_phone("+14155552671"),
            Err(PhoneError::NotJapanese)
        );
        assert_eq!(
            normalise_phone("0014155552671"),
            Err(PhoneError::NotJapanese)
        );
        assert_eq!(normalise_phone("9012345678"), Err(PhoneError::NotJapanese));
        assert_eq!(normalise_phone("090-1234"), Err(PhoneError::BadLength(6)));
        assert_eq!(
            normalise_phone("090123456789"),
            Err(PhoneError::BadLength(11))
        );
        assert_eq!(normalise_phone("+81"), Err(PhoneError::BadLength(0)));
    }

    #[test]
    fn error_text_does_not_echo_the_number() {
        let e = normalise_phone("090-1234-567x").unwrap_err().to_string();
        assert!(!e.contains("1234"));
    }

    #[test]
    fn national_form_reverses_normalisation() {
        assert_eq!(
            national_form("+819012345678").as_deref(),
            Some("09012345678")
        );
        assert_eq!(national_form("+14155552671"), None);
        assert_eq!(national_form("+81"), None);
    }

    #[test]
    fn hyphenated_national_forms_follow_office_usage() {
        let h = |s: &str| hyphenated_national(s);
        assert_eq!(h("+819012345678").as_deref(), Some("090-1234-5678"));
        assert_eq!(h("+815031980215").as_deref(), Some("050-3198-0215"));
        assert_eq!(h("+81312345678").as_deref(), Some("03-1234-5678"));
        assert_eq!(h("+81612345678").as_deref(), Some("06-1234-5678"));
        assert_eq!(h("+81451234567").as_deref(), Some("045-123-4567"));
        assert_eq!(h("+81120123456").as_deref(), Some("0120-123-456"));
        assert_eq!(h("+818001234567").as_deref(), Some("0800-123-4567"));
        assert_eq!(h("+14155552671"), None);
    }

    proptest::proptest! {
        /// Hyphens only regroup the digits: removing them gives the national form back.
        #[test]
        fn hyphenation_keeps_the_digits(nsn in "[1-9][0-9]{8,9}") {
            let e164 = format!("+81{nsn}");
            let h = hyphenated_national(&e164).unwrap();
            proptest::prop_assert_eq!(h.replace('-', ""), national_form(&e164).unwrap());
            proptest::prop_assert!(!h.starts_with('-') && !h.ends_with('-') && !h.contains("--"));
        }
    }
}
