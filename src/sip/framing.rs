//! Message size limits and the stream (TCP) framer, sans-IO: bytes in, whole messages or
//! refusals out. The shell reads the socket and runs the clocks (`connections.rs`).
//!
//! Every peer-supplied length is checked before it is used: a Content-Length above the
//! cap is refused with 413 from the header section alone, so no body is ever buffered
//! past `max_body_bytes`, and no sum of lengths can overflow.

use super::wire::{Malformed, content_length, find, refuse_head};

/// Largest header section and body we accept, on every transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeLimits {
    pub max_header_bytes: usize,
    pub max_body_bytes: usize,
}

impl SizeLimits {
    /// A whole datagram's size check, before it is read: a header section or a stated
    /// body over the cap is refused (513 / 413 where a response can be formed).
    pub fn check_datagram(&self, data: &[u8]) -> Result<(), Malformed> {
        let head_end = find(data, b"\r\n\r\n").unwrap_or(data.len());
        let head = &data[..head_end];
        if head_end > self.max_header_bytes {
            return Err(refuse_head(head, 513, "header section larger than the cap"));
        }
        let body = data.len().saturating_sub(head_end.saturating_add(4));
        let stated = std::str::from_utf8(head)
            .ok()
            .map(stated_lengths)
            .unwrap_or_default();
        let over = |n: &usize| *n > self.max_body_bytes;
        if over(&body) || stated.iter().flatten().any(over) {
            return Err(refuse_head(head, 413, "body larger than the cap"));
        }
        Ok(())
    }
}

/// What the framer made of the bytes so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    /// One whole message (header section and body), for [`super::wire::parse`].
    Message(Vec<u8>),
    /// A message refused from its header section (its Content-Length unusable):
    /// answer where `reply` allows (400), then close the connection.
    Refused(Malformed),
    /// A message over a size cap, refused without reading it: answer where `reply`
    /// allows (413), then close the connection.
    TooLarge(Malformed),
    /// Framing cannot be recovered and nothing can be answered: close the connection
    /// (RFC 3261 §18.3).
    Broken(&'static str),
}

/// Cuts one connection's byte stream into messages by their Content-Length (mandatory
/// on streams). Holds at most one message plus one read's worth of bytes.
#[derive(Debug)]
pub struct StreamFramer {
    limits: SizeLimits,
    buf: Vec<u8>,
    /// How far `buf` was searched for the end of the header section, without finding it.
    searched: usize,
    /// After a refusal or broken framing nothing more is read.
    closed: bool,
}

/// Capacity an empty buffer may keep; a larger one (after a big message) is released, so
/// idle connections hold next to no memory.
const IDLE_CAPACITY: usize = 4096;

impl StreamFramer {
    pub fn new(limits: SizeLimits) -> Self {
        Self {
            limits,
            buf: Vec::new(),
            searched: 0,
            closed: false,
        }
    }

    /// Appends received bytes; call [`Self::next_event`] until `None` after each push.
    pub fn push(&mut self, bytes: &[u8]) {
        if !self.closed {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// True while part of a message (anything but keep-alive CRLFs) is buffered.
    pub fn in_message(&self) -> bool {
        !self.closed && !self.buf.is_empty()
    }

    /// Bytes held for the message in progress.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    pub fn next_event(&mut self) -> Option<StreamEvent> {
        if self.closed {
            return None;
        }
        // CRLF keep-alives (RFC 5626) between messages are dropped at once.
        let ws = self
            .buf
            .iter()
            .take_while(|b| matches!(b, b'\r' | b'\n'))
            .count();
        if ws > 0 {
            self.consume(ws);
        }
        let event = self.frame()?;
        match &event {
            StreamEvent::Message(_) => {}
            StreamEvent::Refused(_) | StreamEvent::TooLarge(_) | StreamEvent::Broken(_) => {
                self.close()
            }
        }
        Some(event)
    }

    fn frame(&mut self) -> Option<StreamEvent> {
        // Only the first max_header_bytes + 4 bytes can hold the end of an acceptable
        // header section, whatever pieces they arrived in.
        let head_window = self.limits.max_header_bytes.saturating_add(4);
        let window = self.buf.len().min(head_window);
        let from = self.searched.saturating_sub(3).min(window);
        let Some(end) = find(&self.buf[from..window], b"\r\n\r\n").map(|i| i + from) else {
            if window == head_window {
                return Some(StreamEvent::TooLarge(Malformed {
                    reason: "header section larger than the cap".into(),
                    reply: None,
                }));
            }
            self.searched = window;
            return None;
        };
        let head = &self.buf[..end];
        let Ok(text) = std::str::from_utf8(head) else {
            return Some(StreamEvent::Broken("header section is not UTF-8"));
        };
        let mut length = None;
        for stated in stated_lengths(text) {
            match stated {
                Some(n) if length.is_none_or(|l| l == n) => length = Some(n),
                Some(_) => {
                    let reason = "conflicting Content-Length values";
                    return Some(StreamEvent::Refused(refuse_head(head, 400, reason)));
                }
                None => {
                    let reason = "Content-Length is not a number";
                    return Some(StreamEvent::Refused(refuse_head(head, 400, reason)));
                }
            }
        }
        let Some(length) = length else {
            return Some(StreamEvent::Broken("no Content-Length on a stream"));
        };
        if length > self.limits.max_body_bytes {
            let bad = refuse_head(head, 413, "body larger than the cap");
            return Some(StreamEvent::TooLarge(bad));
        }
        // Both terms are capped by the limits, but a wrap must be impossible, not unlikely.
        let Some(total) = end.checked_add(4).and_then(|n| n.checked_add(length)) else {
            return Some(StreamEvent::Broken("message length overflows"));
        };
        if self.buf.len() < total {
            return None;
        }
        let message = self.buf[..total].to_vec();
        self.consume(total);
        Some(StreamEvent::Message(message))
    }

    fn consume(&mut self, n: usize) {
        self.buf.drain(..n);
        self.searched = 0;
        if self.buf.is_empty() && self.buf.capacity() > IDLE_CAPACITY {
            self.buf = Vec::new();
        }
    }

    fn close(&mut self) {
        self.closed = true;
        self.buf = Vec::new();
    }
}

/// Every Content-Length of a header section, read by the one rule of `wire`
/// (`None` = not a usable number).
fn stated_lengths(head: &str) -> Vec<Option<usize>> {
    head.split("\r\n")
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .filter(|(name, _)| super::wire::canonical(name.trim()) == "Content-Length")
        .map(|(_, value)| content_length(value))
        .collect()
}

#[cfg(test)]
#[path = "framing_tests.rs"]
mod tests;
