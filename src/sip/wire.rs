//! The one SIP message reader: framing, header unfolding, compact names, and the
//! RFC 3261 checks that decide between "process", "answer with an error" and "drop".
//!
//! Why not rsipstack's `parse_message`: it refuses any method outside its fixed enum (so
//! an unknown method can never get its 501, and RFC 4475 `intmeth`/`esc02` fail), reads a
//! negative or non-numeric Content-Length as 0, and keeps the last of conflicting
//! Content-Lengths. URIs are still parsed by rsipstack's `parse_uri`.

use super::fields::{name_addr_tag, name_addr_uri, param, split_list, uri_user};

/// A SIP message as read from the wire; header names are canonical (compact forms expanded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub start: StartLine,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    Request { method: String, uri: String },
    Response { code: u16, reason: String },
}

/// Why a message was refused; `reply` is the status to answer with when the message is
/// a request whose headers still let us form a response (else it is dropped).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Malformed {
    pub reason: String,
    pub reply: Option<(u16, Box<Message>)>,
}

/// Headers that must appear at most once (RFC 3261 §7.3.1 and RFC 4475 §3.3.8).
const SINGLE: [&str; 5] = ["Call-ID", "From", "To", "CSeq", "Max-Forwards"];
/// Headers a request cannot be processed without (RFC 3261 §8.1.1).
const MANDATORY: [&str; 5] = ["Via", "From", "To", "Call-ID", "CSeq"];

impl Message {
    /// The first value of a header, by canonical or compact name.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = canonical(name);
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header, comma-separated lists split (outside quotes and <>).
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        let name = canonical(name);
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| split_list(v))
            .collect()
    }

    pub fn method(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// `(number, method)` of CSeq; validated by `parse` for every accepted message.
    pub fn cseq(&self) -> Option<(u32, &str)> {
        let v = self.header("CSeq")?;
        let mut it = v.split_ascii_whitespace();
        let n = it.next()?.parse().ok()?;
        Some((n, it.next()?))
    }

    pub fn call_id(&self) -> Option<&str> {
        self.header("Call-ID")
    }

    /// The `tag` parameter of From or To.
    pub fn tag(&self, header: &str) -> Option<&str> {
        self.header(header).and_then(name_addr_tag)
    }

    /// The branch of the top Via.
    pub fn branch(&self) -> Option<&str> {
        let via = *self.header_values("Via").first()?;
        param(via, "branch")
    }

    /// The user part of the Request-URI (phone numbers for us).
    pub fn request_user(&self) -> Option<String> {
        match &self.start {
            StartLine::Request { uri, .. } => uri_user(uri),
            StartLine::Response { .. } => None,
        }
    }

    pub fn content_type(&self) -> Option<String> {
        self.header("Content-Type").map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
    }
}

/// Reads one UDP datagram (or one framed stream message). Never panics.
pub fn parse(data: &[u8]) -> Result<Message, Malformed> {
    // A datagram whose header section is not closed ends at the datagram's end (RFC 4475 baddn).
    let (head, rest) = match find(data, b"\r\n\r\n") {
        Some(i) => (&data[..i], &data[i + 4..]),
        None => (data, &data[data.len()..]),
    };
    let mut msg = parse_head(head)?;
    msg.body = frame_body(&msg, rest).map_err(|r| refuse(&msg, 400, r))?;
    if let StartLine::Request { method, .. } = &msg.start {
        if let Some(missing) = MANDATORY.iter().find(|h| msg.header(h).is_none()) {
            return Err(refuse(&msg, 400, &format!("missing {missing} header")));
        }
        if let Some(h) = SINGLE.iter().find(|h| msg.header_values(h).len() > 1) {
            return Err(refuse(&msg, 400, &format!("several {h} values")));
        }
        match msg.cseq() {
            Some((_, m)) if m == method => {}
            Some(_) => return Err(refuse(&msg, 400, "CSeq method differs from the request's")),
            None => return Err(refuse(&msg, 400, "CSeq number is not a 32-bit integer")),
        }
        if msg
            .header("Max-Forwards")
            .is_some_and(|v| v.parse::<u8>().is_err())
        {
            return Err(refuse(&msg, 400, "Max-Forwards is not 0-255"));
        }
        for name in ["Via", "Contact"] {
            if msg
                .headers
                .iter()
                .any(|(n, v)| n == name && has_empty_item(v))
            {
                return Err(refuse(&msg, 400, &format!("empty item in {name}")));
            }
        }
        for name in ["From", "To"] {
            if msg.header(name).is_some_and(|v| name_addr_uri(v).is_none()) {
                return Err(refuse(&msg, 400, &format!("{name} is not a name-addr")));
            }
        }
    } else if msg.cseq().is_none() || msg.header("Via").is_none() {
        return Err(Malformed {
            reason: "response without a usable CSeq or Via".into(),
            reply: None,
        });
    }
    Ok(msg)
}

/// The start line and header section (without the blank line); the body is left empty.
fn parse_head(head: &[u8]) -> Result<Message, Malformed> {
    let drop = |reason: &str| Malformed {
        reason: reason.into(),
        reply: None,
    };
    let head = std::str::from_utf8(head).map_err(|_| drop("header section is not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let start = lines.next().unwrap_or("");
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut bad_line = None;
    for line in lines {
        if line.starts_with([' ', '\t']) {
            match headers.last_mut() {
                Some((_, v)) => {
                    v.push(' ');
                    v.push_str(line.trim());
                }
                None => bad_line = Some("continuation line before any header"),
            }
            continue;
        }
        match line.split_once(':') {
            Some((name, value)) if is_token(name.trim()) => {
                headers.push((canonical(name.trim()).to_string(), value.trim().to_string()))
            }
            _ => bad_line = Some("header line without a name and colon"),
        }
    }
    let (start_line, version_ok, start_error) = match parse_start_line(start) {
        Ok((line, version_ok)) => (line, version_ok, None),
        // A request line with stray spaces still names its method: it can get a 400.
        Err(reason) => match start.split(' ').next().filter(|m| is_token(m)) {
            Some(method) if !start.starts_with("SIP/") => {
                let line = StartLine::Request {
                    method: method.to_string(),
                    uri: String::new(),
                };
                (line, true, Some(reason))
            }
            _ => return Err(drop(reason)),
        },
    };
    let msg = Message {
        start: start_line,
        headers,
        body: Vec::new(),
    };
    if let Some(reason) = start_error {
        return Err(refuse(&msg, 400, reason));
    }
    if let StartLine::Request { uri, .. } = &msg.start
        && uri.starts_with('<')
    {
        return Err(refuse(&msg, 400, "Request-URI enclosed in <>"));
    }
    if !version_ok {
        return Err(refuse(&msg, 505, "SIP version is not 2.0"));
    }
    if let Some(reason) = bad_line {
        return Err(refuse(&msg, 400, reason));
    }
    Ok(msg)
}

/// Refuses a message by its header section alone (its body is too large to read, or its
/// length unusable): `code` where a response can be formed, else whatever the header
/// section itself earns (a 400, or a drop).
pub fn refuse_head(head: &[u8], code: u16, reason: &str) -> Malformed {
    match parse_head(head) {
        Ok(msg) => refuse(&msg, code, reason),
        Err(bad) => bad,
    }
}

/// A Content-Length value: digits only (RFC 3261 §20.14; no sign, no spaces), and a
/// number that fits; anything else is `None`, never a panic or a wrap.
pub fn content_length(value: &str) -> Option<usize> {
    let v = value.trim();
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
}

/// A refusal that carries the request back for a response when one can be formed
/// (Via and CSeq present; never for responses).
fn refuse(msg: &Message, code: u16, reason: &str) -> Malformed {
    let can_reply = matches!(msg.start, StartLine::Request { .. })
        && msg.header("Via").is_some()
        && msg.header("CSeq").is_some();
    Malformed {
        reason: reason.into(),
        reply: can_reply.then(|| (code, Box::new(msg.clone()))),
    }
}

/// The start line, and whether a request's version is SIP/2.0 (else it gets 505).
fn parse_start_line(line: &str) -> Result<(StartLine, bool), &'static str> {
    if let Some(rest) = line.strip_prefix("SIP/2.0 ") {
        let (code, reason) = rest
            .split_once(' ')
            .ok_or("Status-Line without a reason SP")?;
        let code: u16 = code.parse().map_err(|_| "status code is not a number")?;
        if !(100..=699).contains(&code) {
            return Err("status code out of range");
        }
        let start = StartLine::Response {
            code,
            reason: reason.to_string(),
        };
        return Ok((start, true));
    }
    let parts: Vec<&str> = line.split(' ').collect();
    let [method, uri, version] = parts[..] else {
        return Err("Request-Line is not METHOD SP URI SP VERSION");
    };
    if !is_token(method) || uri.is_empty() || version.is_empty() {
        return Err("Request-Line is not METHOD SP URI SP VERSION");
    }
    let start = StartLine::Request {
        method: method.to_string(),
        uri: uri.to_string(),
    };
    Ok((start, version == "SIP/2.0"))
}

fn frame_body(msg: &Message, rest: &[u8]) -> Result<Vec<u8>, &'static str> {
    let lengths: Vec<&str> = msg
        .headers
        .iter()
        .filter(|(n, _)| n == "Content-Length")
        .map(|(_, v)| v.as_str())
        .collect();
    let Some(first) = lengths.first() else {
        // RFC 2543 style over UDP: the body is the rest of the datagram.
        return Ok(rest.to_vec());
    };
    if lengths.iter().any(|l| l != first) {
        return Err("conflicting Content-Length values");
    }
    let len = content_length(first).ok_or("Content-Length is not a number")?;
    if len > rest.len() {
        return Err("Content-Length larger than the message");
    }
    // Extra octets after the body are noise in a datagram (RFC 3261 §18.3).
    Ok(rest[..len].to_vec())
}

pub(crate) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b))
}

/// Long names for the compact forms of RFC 3261 §7.3.3 (and RFC 3265/3515/3841).
pub fn canonical(name: &str) -> &str {
    const TABLE: [(&str, &str); 14] = [
        ("i", "Call-ID"),
        ("m", "Contact"),
        ("e", "Content-Encoding"),
        ("l", "Content-Length"),
        ("c", "Content-Type"),
        ("f", "From"),
        ("s", "Subject"),
        ("k", "Supported"),
        ("t", "To"),
        ("v", "Via"),
        ("o", "Event"),
        ("r", "Refer-To"),
        ("u", "Allow-Events"),
        ("x", "Session-Expires"),
    ];
    for (short, long) in TABLE {
        if name.eq_ignore_ascii_case(short) || name.eq_ignore_ascii_case(long) {
            return long;
        }
    }
    for long in [
        "CSeq",
        "Max-Forwards",
        "Record-Route",
        "Route",
        "Require",
        "Proxy-Require",
    ] {
        if name.eq_ignore_ascii_case(long) {
            return long;
        }
    }
    name
}

fn has_empty_item(value: &str) -> bool {
    split_list(value)
        .iter()
        .any(|item| item.is_empty() || item.split(';').skip(1).any(|p| p.trim().is_empty()))
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
