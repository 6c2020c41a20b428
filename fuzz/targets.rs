//! What each fuzz target does with one input. Shared by the AFL binaries in `fuzz/src/bin`
//! and by `tests/fuzz_corpus.rs`, which replays every stored corpus file in CI, so the two
//! can never drift apart. Each function must return normally for every input: a panic is
//! the bug the fuzzer looks for.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// One fuzz target: what it does with one input.
pub type Target = fn(&[u8]);

/// Every target by name, as the corpus folders are named.
pub const TARGETS: &[(&str, Target)] = &[
    ("sip_datagram", sip_datagram),
    ("sip_stream", sip_stream),
    ("sdp", sdp),
    ("rtp", rtp),
    ("inband", inband),
    ("csv_import", csv_import),
];

/// One UDP datagram: the size caps, the SIP reader, then the whole sans-IO core (answer,
/// dialogs, eight rounds of timers).
pub fn sip_datagram(data: &[u8]) {
    let _ = limits().check_datagram(data);
    if let Ok(msg) = kenkocall::sip::wire::parse(data) {
        let _ = msg.call_id();
        let _ = msg.cseq();
        let _ = msg.request_user();
        let _ = msg.content_type();
    }
    let mut core = sip_core();
    let start = Instant::now();
    let from = peer(kenkocall::sip::core::TransportKind::Udp);
    // The same bytes twice (a retransmission), then time passing past every timer.
    core.handle_datagram(start, from, data);
    core.handle_datagram(start + Duration::from_millis(500), from, data);
    drain(&mut core, start);
    let mut now = start;
    for _ in 0..8 {
        now += Duration::from_secs(40);
        core.handle_timeout(now);
        assert!(
            core.poll_timeout().is_none_or(|t| t > now),
            "a deadline is still due after handle_timeout"
        );
        drain(&mut core, now);
    }
}

/// A TCP byte stream cut at a point the input chooses (its first byte), framed as the
/// connection task frames it, each message into the core.
pub fn sip_stream(data: &[u8]) {
    use kenkocall::sip::framing::{StreamEvent, StreamFramer};
    let Some((&cut, stream)) = data.split_first() else {
        return;
    };
    let mut framer = StreamFramer::new(limits());
    let mut core = sip_core();
    let now = Instant::now();
    let from = peer(kenkocall::sip::core::TransportKind::Tcp);
    let piece = usize::from(cut).max(1);
    for chunk in stream.chunks(piece) {
        framer.push(chunk);
        while let Some(event) = framer.next_event() {
            match event {
                StreamEvent::Message(msg) => {
                    assert!(msg.len() <= 16384 + 4 + 65536, "a message over the caps");
                    core.handle_datagram(now, from, &msg);
                    drain(&mut core, now);
                }
                StreamEvent::Refused(_) | StreamEvent::TooLarge(_) | StreamEvent::Broken(_) => {
                    return;
                }
            }
        }
        assert!(
            framer.buffered() <= 2 * (16384 + 4 + 65536) + piece,
            "unbounded buffer"
        );
    }
}

/// An SDP body: parse, negotiate as an offer, and read as an answer.
pub fn sdp(data: &[u8]) {
    use kenkocall::sip::sdp;
    if let Ok(desc) = sdp::parse(data) {
        let _ = desc.is_hold();
        let _ = desc.negotiate();
    }
    let _ = sdp::read_answer(data);
}

/// RTP datagrams through the strict latch and receiver and, for payload types 96-127, the
/// RFC 4733 decoder; audio payloads through G.711 decoding. Each datagram is preceded by 2
/// bytes: the top bit says whether it comes from the address the SDP named or a stranger,
/// the other 15 its length. Each packet is 20 ms after the one before.
pub fn rtp(data: &[u8]) {
    use kenkocall::media::latch::{LatchConfig, RtpLatch};
    use kenkocall::media::{g711, rfc4733::TelephoneEventDecoder, rtp::RtpReceiver};
    let signalled: SocketAddr = ([127, 0, 0, 1], 4000).into();
    let stranger: SocketAddr = ([127, 0, 0, 2], 4000).into();
    let mut now = Instant::now();
    let mut receiver = RtpReceiver::new(RtpLatch::new(LatchConfig::default(), signalled, now));
    let mut events = TelephoneEventDecoder::default();
    let mut rest = data;
    while let [hi, lo, tail @ ..] = rest {
        let from = if hi & 0x80 == 0 { signalled } else { stranger };
        let len = usize::from(u16::from_be_bytes([hi & 0x7F, *lo])).min(tail.len());
        let (datagram, next) = tail.split_at(len);
        rest = next;
        now += Duration::from_millis(20);
        let Ok(reader) = receiver.accept(now, from, datagram) else {
            continue;
        };
        let payload = reader.payload();
        if reader.payload_type() >= 96 {
            let _ = events.on_packet(reader.timestamp(), reader.mark(), payload);
        } else {
            let _: i32 = payload
                .iter()
                .map(|b| i32::from(g711::ulaw_decode(*b)) + i32::from(g711::alaw_decode(*b)))
                .sum();
        }
    }
}

/// Raw 16-bit little-endian audio through the in-band DTMF detector, in odd-sized pieces.
pub fn inband(data: &[u8]) {
    let samples: Vec<i16> = data
        .chunks_exact(2)
        .map(|p| i16::from_le_bytes([p[0], p[1]]))
        .collect();
    let mut detector = kenkocall::media::inband::InbandDetector::default();
    let mut digits = 0usize;
    for piece in samples.chunks(97) {
        detector.push(piece, |_| digits += 1);
    }
    assert!(
        digits <= samples.len() / 80 + 1,
        "more digits than 10 ms blocks"
    );
}

/// A roster CSV as staff upload it: every row checked, nothing stored.
pub fn csv_import(data: &[u8]) {
    match kenkocall::store::parse_patients_csv(data) {
        Ok(rows) => assert!(rows.iter().all(|(line, _)| *line >= 2)),
        Err(errors) => assert!(!errors.0.is_empty(), "an error result with no errors"),
    }
}

fn limits() -> kenkocall::sip::framing::SizeLimits {
    kenkocall::sip::framing::SizeLimits {
        max_header_bytes: 16384,
        max_body_bytes: 65536,
    }
}

fn sip_core() -> kenkocall::sip::core::SipCore {
    use kenkocall::sip::core::{CoreConfig, SipCore};
    let cfg = CoreConfig {
        local: ([127, 0, 0, 1], 5060).into(),
        inbound_numbers: vec!["05031980214".into()],
        max_calls: 4,
        max_unconfirmed_per_source: 4,
        ring_timeout: Duration::from_secs(45),
        called_number_from: kenkocall::sip::numbers::CalledNumberSource::default_order(),
        trunk: None,
    };
    // Seeded: a crash the fuzzer finds replays the same way.
    SipCore::new(cfg, Default::default()).with_rng_seed(1)
}

fn peer(transport: kenkocall::sip::core::TransportKind) -> kenkocall::sip::core::Peer {
    kenkocall::sip::core::Peer {
        transport,
        addr: ([127, 0, 0, 1], 5070).into(),
    }
}

/// Takes every output, and answers each incoming call so the dialog code runs too.
fn drain(core: &mut kenkocall::sip::core::SipCore, now: Instant) {
    use kenkocall::sip::SipEvent;
    use kenkocall::sip::core::{Command, Output};
    let mut calls = Vec::new();
    while let Some(out) = core.poll_output() {
        if let Output::Event(SipEvent::IncomingCall { call, .. }) = out {
            calls.push(call);
        }
    }
    for call in calls {
        let local_rtp = ([127, 0, 0, 1], 20000).into();
        core.handle_command(now, Command::Answer { call, local_rtp });
    }
    while core.poll_output().is_some() {}
}
