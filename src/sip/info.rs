//! DTMF carried in SIP INFO bodies: `application/dtmf-relay` (`Signal=5\r\nDuration=160`)
//! and `application/dtmf` (the bare key).

use crate::call::{Digit, DigitSource};

/// Why an INFO body gave no digit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InfoError {
    #[error("INFO content type {0:?} does not carry DTMF")]
    UnsupportedType(String),
    #[error("INFO body has no valid DTMF key")]
    NoKey,
}

/// The digit in an INFO body of the given (lower-cased, parameter-free) content type.
pub fn digit_from_info(content_type: &str, body: &[u8]) -> Result<Digit, InfoError> {
    let text = std::str::from_utf8(body).map_err(|_| InfoError::NoKey)?;
    let value = match content_type {
        "application/dtmf-relay" => text
            .lines()
            .filter_map(|l| l.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("signal"))
            .map(|(_, v)| v.trim())
            .ok_or(InfoError::NoKey)?,
        "application/dtmf" => text.trim(),
        other => return Err(InfoError::UnsupportedType(other.to_string())),
    };
    let key = match value {
        // RFC 4733 event codes sometimes appear instead of the key itself.
        "10" => '*',
        "11" => '#',
        v if v.chars().count() == 1 => v.chars().next().ok_or(InfoError::NoKey)?,
        _ => return Err(InfoError::NoKey),
    };
    let key = key.to_ascii_uppercase();
    if !(key.is_ascii_digit() || matches!(key, '*' | '#' | 'A'..='D')) {
        return Err(InfoError::NoKey);
    }
    Ok(Digit {
        key,
        source: DigitSource::SipInfo,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(ct: &str, body: &str) -> Result<char, InfoError> {
        digit_from_info(ct, body.as_bytes()).map(|d| {
            assert_eq!(d.source, DigitSource::SipInfo);
            d.key
        })
    }

    #[test]
    fn dtmf_relay_signal_line_gives_the_key() {
        assert_eq!(
            key("application/dtmf-relay", "Signal=5\r\nDuration=160\r\n"),
            Ok('5')
        );
        assert_eq!(
            key("application/dtmf-relay", "signal= *\r\nDuration=100"),
            Ok('*')
        );
        assert_eq!(key("application/dtmf-relay", "Signal=11\r\n"), Ok('#'));
    }

    #[test]
    fn bare_dtmf_body_gives_the_key() {
        assert_eq!(key("application/dtmf", "9\r\n"), Ok('9'));
        assert_eq!(key("application/dtmf", "#"), Ok('#'));
    }

    #[test]
    fn bad_bodies_are_errors() {
        assert_eq!(
            key("application/dtmf-relay", "Duration=160"),
            Err(InfoError::NoKey)
        );
        assert_eq!(key("application/dtmf", "55"), Err(InfoError::NoKey));
        assert_eq!(key("application/dtmf", "x"), Err(InfoError::NoKey));
        assert!(matches!(
            key("text/plain", "5"),
            Err(InfoError::UnsupportedType(_))
        ));
        assert_eq!(
            digit_from_info("application/dtmf", &[0xff]),
            Err(InfoError::NoKey)
        );
    }
}
