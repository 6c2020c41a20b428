//! Building the SIP messages we send, as text. Responses copy Via, From, To, Call-ID and
//! CSeq from the request (RFC 3261 §8.2.6.2); requests are assembled from their parts.

use std::fmt::Write as _;

use super::wire::Message;

pub(crate) const USER_AGENT: &str = "kenkocall";
/// Methods we handle; sent in Allow with 405/501 and OPTIONS answers.
pub(crate) const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, PRACK";
/// Option tags we support (RFC 3262 reliable provisionals, RFC 4028 session timers).
pub(crate) const SUPPORTED: &str = "100rel, timer";

/// Our reason phrases for the codes we send.
pub(crate) fn reason_phrase(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "Version Not Supported",
        603 => "Decline",
        _ => "Unknown",
    }
}

/// A body with its Content-Type.
pub(crate) struct Body<'a> {
    pub content_type: &'a str,
    pub bytes: &'a [u8],
}

/// A response to `req`. `to_tag` is added to To unless the request already carries one.
pub(crate) fn response(
    req: &Message,
    code: u16,
    to_tag: Option<&str>,
    extra: &[(&str, String)],
    body: Option<Body<'_>>,
) -> Vec<u8> {
    let mut s = format!("SIP/2.0 {code} {}\r\n", reason_phrase(code));
    for (name, value) in &req.headers {
        match name.as_str() {
            "Via" | "From" | "Call-ID" | "CSeq" => {
                let _ = write!(s, "{name}: {value}\r\n");
            }
            "Record-Route" if (101..300).contains(&code) => {
                let _ = write!(s, "{name}: {value}\r\n");
            }
            "To" => {
                let needs_tag = req.tag("To").is_none() && code > 100;
                match to_tag {
                    Some(tag) if needs_tag => {
                        let _ = write!(s, "To: {value};tag={tag}\r\n");
                    }
                    _ => {
                        let _ = write!(s, "To: {value}\r\n");
                    }
                }
            }
            _ => {}
        }
    }
    finish(s, extra, body)
}

/// The parts of a request we originate.
pub(crate) struct RequestParts<'a> {
    pub method: &'a str,
    pub uri: &'a str,
    /// Full Via value, branch included.
    pub via: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    pub call_id: &'a str,
    pub cseq: u32,
    pub routes: &'a [String],
    pub extra: &'a [(&'a str, String)],
}

pub(crate) fn request(p: &RequestParts<'_>, body: Option<Body<'_>>) -> Vec<u8> {
    let mut s = format!(
        "{} {} SIP/2.0\r\nVia: {}\r\nMax-Forwards: 70\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {} {}\r\n",
        p.method, p.uri, p.via, p.from, p.to, p.call_id, p.cseq, p.method
    );
    for route in p.routes {
        let _ = write!(s, "Route: {route}\r\n");
    }
    finish(s, p.extra, body)
}

fn finish(mut s: String, extra: &[(&str, String)], body: Option<Body<'_>>) -> Vec<u8> {
    for (name, value) in extra {
        let _ = write!(s, "{name}: {value}\r\n");
    }
    let _ = write!(s, "User-Agent: {USER_AGENT}\r\n");
    let mut bytes = match &body {
        Some(b) => {
            let _ = write!(
                s,
                "Content-Type: {}\r\nContent-Length: {}\r\n\r\n",
                b.content_type,
                b.bytes.len()
            );
            s.into_bytes()
        }
        None => {
            s.push_str("Content-Length: 0\r\n\r\n");
            s.into_bytes()
        }
    };
    if let Some(b) = body {
        bytes.extend_from_slice(b.bytes);
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::wire::parse;

    const OPTIONS: &str = "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-a\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK-b\r\n\
From: <sip:a@b>;tag=1\r\nTo: <sip:x@y>\r\nCall-ID: c1\r\nCSeq: 5 OPTIONS\r\nContent-Length: 0\r\n\r\n";

    #[test]
    fn response_copies_vias_in_order_and_tags_to() {
        let req = parse(OPTIONS.as_bytes()).unwrap();
        let out = response(&req, 200, Some("t9"), &[("Allow", ALLOW.into())], None);
        let resp = parse(&out).unwrap();
        assert_eq!(resp.header_values("Via").len(), 2);
        assert_eq!(resp.branch(), Some("z9hG4bK-a"));
        assert_eq!(resp.tag("To"), Some("t9"));
        assert_eq!(resp.cseq(), Some((5, "OPTIONS")));
        assert_eq!(resp.header("Allow"), Some(ALLOW));
    }

    #[test]
    fn request_with_body_reads_back() {
        let out = request(
            &RequestParts {
                method: "INFO",
                uri: "sip:x@127.0.0.1",
                via: "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-q",
                from: "<sip:a@b>;tag=1",
                to: "<sip:x@y>;tag=2",
                call_id: "c2",
                cseq: 7,
                routes: &["<sip:proxy;lr>".into()],
                extra: &[],
            },
            Some(Body {
                content_type: "application/dtmf",
                bytes: b"5",
            }),
        );
        let m = parse(&out).unwrap();
        assert_eq!(m.method(), Some("INFO"));
        assert_eq!(m.body, b"5");
        assert_eq!(m.header("Route"), Some("<sip:proxy;lr>"));
    }
}
