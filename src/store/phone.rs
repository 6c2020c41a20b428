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
}
