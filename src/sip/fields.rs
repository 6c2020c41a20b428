//! Reading header field values: comma lists, name-addr (display name, URI, tag),
//! `;name=value` parameters, and the parts of a URI we use (user, scheme).

use rsipstack::sip::{Scheme, parse_uri};

/// Splits a header list at commas that are outside quotes and angle brackets.
pub fn split_list(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut quoted, mut angle, mut escaped, mut start) = (false, false, false, 0);
    for (i, ch) in value.char_indices() {
        match ch {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => {
                out.push(value[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(value[start..].trim());
    out
}

/// The URI of a name-addr or addr-spec (`"Bob" <sip:b@x>;tag=1` or `sip:b@x;tag=1`);
/// None when a quote or bracket is left open.
pub fn name_addr_uri(value: &str) -> Option<&str> {
    let after_name = skip_display_name(value)?;
    if let Some(open) = after_name.find('<') {
        let close = after_name[open..].find('>')? + open;
        Some(after_name[open + 1..close].trim())
    } else {
        Some(after_name.split(';').next().unwrap_or("").trim())
    }
}

/// The header parameters after the URI of a name-addr (`;tag=...`).
fn name_addr_params(value: &str) -> Option<&str> {
    let after_name = skip_display_name(value)?;
    match after_name.find('<') {
        Some(open) => {
            let close = after_name[open..].find('>')? + open;
            Some(&after_name[close + 1..])
        }
        None => after_name.find(';').map(|i| &after_name[i..]),
    }
}

pub fn name_addr_tag(value: &str) -> Option<&str> {
    param(name_addr_params(value)?, "tag")
}

fn skip_display_name(value: &str) -> Option<&str> {
    let v = value.trim_start();
    let Some(quoted) = v.strip_prefix('"') else {
        return Some(v);
    };
    let mut escaped = false;
    for (i, ch) in quoted.char_indices() {
        match ch {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return Some(&quoted[i + 1..]),
            _ => {}
        }
    }
    None
}

/// A `;name=value` parameter of a header value (first match, name case-insensitive).
pub fn param<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    value.split(';').skip(1).find_map(|p| {
        let (n, v) = p.split_once('=')?;
        n.trim().eq_ignore_ascii_case(name).then_some(v.trim())
    })
}

/// The user part of a `sip:`/`sips:` URI (unescaped) or the number of a `tel:` URI.
pub fn uri_user(uri: &str) -> Option<String> {
    let uri = uri.trim();
    if let Some(tel) = uri.strip_prefix("tel:") {
        return Some(tel.split(';').next().unwrap_or("").to_string());
    }
    let parsed = parse_uri(uri).ok()?;
    if !matches!(parsed.scheme, Some(Scheme::Sip) | Some(Scheme::Sips)) {
        return None;
    }
    parsed.auth.map(|a| unescape(&a.user))
}

/// Whether a number (or user name) can go into a SIP URI user part as it is.
pub fn is_dialable(user: &str) -> bool {
    (1..=32).contains(&user.len())
        && user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.*_".contains(&b))
}

/// URI scheme, lower-cased (`sip`, `sips`, `tel`, ...).
pub fn uri_scheme(uri: &str) -> Option<String> {
    let (scheme, _) = uri.split_once(':')?;
    Some(scheme.to_ascii_lowercase())
}

/// %HH unescaping, once (RFC 3261 §19.1.2); bad escapes are kept as they are.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_safe_user_parts_are_dialable() {
        assert!(is_dialable("09033334444") && is_dialable("+819033334444"));
        assert!(!is_dialable("") && !is_dialable("090\r\nVia: x") && !is_dialable("a@b"));
        assert!(!is_dialable(&"1".repeat(33)));
    }
}
