use proptest::prelude::*;

use super::*;
use crate::sip::wire::parse;

const LIMITS: SizeLimits = SizeLimits {
    max_header_bytes: 1024,
    max_body_bytes: 256,
};

fn request(length: &str, body: &str) -> String {
    format!(
        "OPTIONS sip:05031980214@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/TCP 127.0.0.1:5061;branch=z9hG4bK-1\r\n\
         From: <sip:0901234@127.0.0.1>;tag=abc\r\n\
         To: <sip:05031980214@127.0.0.1>\r\n\
         Call-ID: c1@127.0.0.1\r\n\
         CSeq: 1 OPTIONS\r\n\
         Content-Length: {length}\r\n\r\n{body}"
    )
}

/// Every event the framer yields for these pieces, fed one after another.
fn events(pieces: &[&[u8]]) -> Vec<StreamEvent> {
    let mut f = StreamFramer::new(LIMITS);
    let mut out = vec![];
    for p in pieces {
        f.push(p);
        while let Some(e) = f.next_event() {
            out.push(e);
        }
        assert!(f.buffered() <= LIMITS.max_header_bytes + 4 + LIMITS.max_body_bytes);
    }
    out
}

fn reply_code(e: &StreamEvent) -> Option<u16> {
    match e {
        StreamEvent::Refused(bad) | StreamEvent::TooLarge(bad) => bad.reply.as_ref().map(|r| r.0),
        _ => None,
    }
}

#[test]
fn messages_are_cut_by_content_length_and_keep_alives_dropped() {
    let one = request("4", "abcd");
    let stream = format!("\r\n\r\n{one}\r\n{one}{}", &one[..10]);
    let got = events(&[stream.as_bytes()]);
    assert_eq!(
        got,
        vec![
            StreamEvent::Message(one.clone().into_bytes()),
            StreamEvent::Message(one.clone().into_bytes())
        ]
    );
    assert!(parse(one.as_bytes()).is_ok());
}

#[test]
fn unusable_length_gets_400_and_a_missing_one_breaks_the_stream() {
    for bad in [
        "-5",
        "five",
        "+5",
        "18446744073709551616",
        "99999999999999999999999",
    ] {
        let got = events(&[request(bad, "").as_bytes()]);
        assert!(
            matches!(got[..], [StreamEvent::Refused(_)]),
            "{bad}: {got:?}"
        );
        assert_eq!(reply_code(&got[0]), Some(400), "{bad}");
    }
    let none = request("0", "").replace("Content-Length: 0\r\n", "");
    assert!(matches!(
        events(&[none.as_bytes()])[..],
        [StreamEvent::Broken(_)]
    ));
}

#[test]
fn huge_or_overflowing_length_gets_413_at_once_and_nothing_more_is_buffered() {
    for huge in ["257", "4000000000", "18446744073709551615"] {
        let head = request(huge, "");
        let mut f = StreamFramer::new(LIMITS);
        f.push(head.as_bytes());
        let e = f
            .next_event()
            .expect("refused as soon as the header section is whole");
        assert!(matches!(e, StreamEvent::TooLarge(_)), "{huge}: {e:?}");
        assert_eq!(reply_code(&e), Some(413), "{huge}");
        // The claimed body keeps streaming in: none of it is kept.
        for _ in 0..1000 {
            f.push(&[b'x'; 4096]);
            assert_eq!(f.next_event(), None);
            assert_eq!(f.buffered(), 0);
        }
    }
}

#[test]
fn body_exactly_at_the_cap_is_a_message() {
    let body = "x".repeat(LIMITS.max_body_bytes);
    let msg = request(&body.len().to_string(), &body);
    assert_eq!(
        events(&[msg.as_bytes()]),
        vec![StreamEvent::Message(msg.into_bytes())]
    );
}

#[test]
fn header_section_over_the_cap_closes_without_waiting_for_its_end() {
    let mut f = StreamFramer::new(LIMITS);
    let trickle =
        b"X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    f.push(b"OPTIONS sip:x@y SIP/2.0\r\n");
    let mut got = None;
    for _ in 0..100 {
        f.push(trickle);
        if let Some(e) = f.next_event() {
            got = Some(e);
            break;
        }
        assert!(f.in_message());
    }
    let Some(StreamEvent::TooLarge(bad)) = got else {
        panic!("expected TooLarge, got {got:?}");
    };
    assert!(bad.reply.is_none());
    assert!(!f.in_message());
}

#[test]
fn datagram_over_a_cap_gets_413_or_513() {
    let code = |d: &str| {
        LIMITS
            .check_datagram(d.as_bytes())
            .err()
            .map(|b| b.reply.map(|r| r.0))
    };
    assert_eq!(code(&request("4", "abcd")), None);
    let body = "x".repeat(300);
    assert_eq!(code(&request("300", &body)), Some(Some(413)));
    assert_eq!(code(&request("18446744073709551615", "")), Some(Some(413)));
    // No Content-Length over UDP: the rest of the datagram is the body, and it counts.
    let unstated = request("0", &body).replace("Content-Length: 0\r\n", "");
    assert_eq!(code(&unstated), Some(Some(413)));
    let long_head =
        request("0", "").replace("CSeq:", &format!("X-Pad: {}\r\nCSeq:", "p".repeat(1100)));
    assert_eq!(code(&long_head), Some(Some(513)));
}

/// Pieces of a hostile stream: good messages, keep-alives, wrong or huge lengths, junk.
fn piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        (0usize..300).prop_map(|n| request(&n.to_string(), &"b".repeat(n)).into_bytes()),
        Just(b"\r\n".to_vec()),
        (0usize..40).prop_map(|n| request(&(n + 5).to_string(), &"c".repeat(n)).into_bytes()),
        Just(request("18446744073709551615", "").into_bytes()),
        Just(request("-1", "").into_bytes()),
        prop::collection::vec(any::<u8>(), 0..64),
        prop::collection::vec(
            prop::sample::select(b"\r\n:Content-Length0123456789 ".to_vec()),
            0..64
        ),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// However a stream is split into reads, the framer yields exactly what it yields for
    /// the whole stream, never panics, and never holds more than one capped message.
    #[test]
    fn splitting_a_stream_never_changes_what_is_framed(
        pieces in prop::collection::vec(piece(), 1..8),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let stream: Vec<u8> = pieces.concat();
        let whole = events(&[&stream]);
        let mut at: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
        at.sort_unstable();
        let mut parts: Vec<&[u8]> = vec![];
        let mut from = 0;
        for cut in at {
            parts.push(&stream[from..cut]);
            from = cut;
        }
        parts.push(&stream[from..]);
        prop_assert_eq!(events(&parts), whole.clone());
        // Byte by byte too.
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        prop_assert_eq!(events(&bytes), whole.clone());
        // A framed message is read by `parse` with exactly the body it stated.
        for e in &whole {
            if let StreamEvent::Message(m) = e
                && let Ok(msg) = parse(m)
            {
                prop_assert!(msg.body.len() <= LIMITS.max_body_bytes);
            }
        }
    }

    #[test]
    fn datagram_check_never_panics(data in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = LIMITS.check_datagram(&data);
    }
}
