//! Phone numbers on the wire: the form we compare and report them in (national), the
//! form a trunk wants them in (`trunk.number_format`), and where an inbound INVITE names
//! the number that was dialled (`sip.called_number_from`). The one place for both
//! directions; the case store keeps E.164 (`store::phone`).

use serde::{Deserialize, Serialize};

use super::fields::{name_addr_uri, uri_user};
use super::wire::{Message, StartLine};

/// How a trunk wants callee and caller numbers written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NumberFormat {
    /// Japan's domestic form, `09012345678` (NTT NGN, Hikari Denwa, most 050 carriers).
    #[default]
    National,
    /// E.164 with `+`, `+819012345678` (Twilio and most international carriers).
    E164,
}

/// Where an inbound INVITE names the number that was dialled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CalledNumberSource {
    /// RFC 3455 `P-Called-Party-ID` (the NTT NGN sets it).
    #[serde(rename = "P-Called-Party-ID")]
    PCalledPartyId,
    /// The To header's URI (a Hikari Denwa home gateway sends `sip:3@hgw` as the
    /// Request-URI and the dialled number in To).
    #[serde(rename = "To")]
    To,
    /// The Request-URI's user part.
    #[serde(rename = "Request-URI")]
    RequestUri,
}

impl CalledNumberSource {
    /// Today's behaviour: the Request-URI only.
    pub fn default_order() -> Vec<CalledNumberSource> {
        vec![CalledNumberSource::RequestUri]
    }

    /// The user part this source names in `req`, if the source is present.
    fn read(self, req: &Message) -> Option<String> {
        match self {
            CalledNumberSource::PCalledPartyId => req
                .header("P-Called-Party-ID")
                .and_then(name_addr_uri)
                .and_then(uri_user),
            CalledNumberSource::To => req.header("To").and_then(name_addr_uri).and_then(uri_user),
            CalledNumberSource::RequestUri => match &req.start {
                StartLine::Request { .. } => req.request_user(),
                StartLine::Response { .. } => None,
            },
        }
    }
}

/// The dialled number of an inbound INVITE, in national form: the first source in
/// `order` that is present decides (a later one is not consulted, so a number in the
/// Request-URI cannot override the carrier's P-Called-Party-ID).
pub fn called_number(req: &Message, order: &[CalledNumberSource]) -> String {
    order
        .iter()
        .find_map(|s| s.read(req).filter(|u| !u.is_empty()))
        .map(|u| national_number(&u))
        .unwrap_or_default()
}

/// A phone number as we compare and report it: parameters and RFC 3966 visual
/// separators dropped, and Japan's `+81` written as the national `0` prefix (trunks send
/// either `+815031980214` or `05031980214` for the same line).
pub fn national_number(user: &str) -> String {
    let number = user.split(';').next().unwrap_or("");
    let kept: String = number
        .chars()
        .filter(|c| !matches!(c, '-' | '.' | '(' | ')' | ' '))
        .collect();
    match kept.strip_prefix("+81") {
        Some(rest) => format!("0{rest}"),
        None => kept,
    }
}

/// A number as the trunk wants it: national (`+81` → `0`) or E.164 (a national `0…`
/// → `+81…`). Anything else (an extension like `3`, a foreign `+1…`, `00…`) goes as it is.
pub fn wire_number(number: &str, format: NumberFormat) -> String {
    let national = national_number(number);
    match format {
        NumberFormat::National => national,
        NumberFormat::E164 => match national.strip_prefix('0') {
            Some(rest) if !rest.starts_with('0') && !rest.is_empty() => format!("+81{rest}"),
            _ => national,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn japanese_e164_and_national_forms_compare_equal() {
        assert_eq!(national_number("+815031980214"), "05031980214");
        assert_eq!(national_number("050-3198-0214"), "05031980214");
        assert_eq!(national_number("+81-50-3198-0214;npdi"), "05031980214");
        assert_eq!(national_number("+12125551234"), "+12125551234");
        assert_eq!(national_number("anonymous"), "anonymous");
    }

    #[test]
    fn trunk_forms() {
        use NumberFormat::*;
        assert_eq!(wire_number("+819012345678", National), "09012345678");
        assert_eq!(wire_number("09012345678", National), "09012345678");
        assert_eq!(wire_number("09012345678", E164), "+819012345678");
        assert_eq!(wire_number("+819012345678", E164), "+819012345678");
        assert_eq!(wire_number("+14155552671", E164), "+14155552671");
        assert_eq!(wire_number("+14155552671", National), "+14155552671");
        assert_eq!(wire_number("3", E164), "3");
        assert_eq!(wire_number("0", E164), "0");
        assert_eq!(wire_number("0012125551234", E164), "0012125551234");
    }

    fn invite(ruri: &str, to: &str, pcpi: Option<&str>) -> Message {
        let pcpi = pcpi.map_or(String::new(), |p| format!("P-Called-Party-ID: <{p}>\r\n"));
        let text = format!(
            "INVITE {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\n\
             From: <sip:0312345678@hgw>;tag=a\r\nTo: <{to}>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n\
             {pcpi}Content-Length: 0\r\n\r\n"
        );
        crate::sip::wire::parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn the_first_present_source_decides() {
        use CalledNumberSource::*;
        let hgw = invite("sip:3@192.168.1.1", "sip:05031980214@192.168.1.1", None);
        assert_eq!(
            called_number(&hgw, &CalledNumberSource::default_order()),
            "3"
        );
        assert_eq!(called_number(&hgw, &[To, RequestUri]), "05031980214");
        assert_eq!(called_number(&hgw, &[PCalledPartyId, RequestUri]), "3");
        let ngn = invite(
            "sip:+815031980214@ngn",
            "sip:0399999999@ngn",
            Some("tel:+815031980299"),
        );
        assert_eq!(called_number(&ngn, &[PCalledPartyId, To]), "05031980299");
        assert_eq!(called_number(&ngn, &[]), "");
    }

    proptest! {
        /// Formatting for a trunk never changes which number it is: both forms read back
        /// to the same national number, and formatting is idempotent.
        #[test]
        fn formats_round_trip(n in "(\\+81|0)[1-9][0-9]{8,9}") {
            let national = national_number(&n);
            for f in [NumberFormat::National, NumberFormat::E164] {
                let w = wire_number(&n, f);
                prop_assert_eq!(national_number(&w), national.clone());
                prop_assert_eq!(wire_number(&w, f), w.clone());
            }
        }
    }
}
