use super::*;
use crate::media::rtp::MAX_PACKET;
use rtp_rs::{RtpPacketBuilder, RtpReader, Seq};

fn peer() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 40000))
}

fn media(codec: Codec, te: Option<u8>) -> NegotiatedMedia {
    NegotiatedMedia {
        codec,
        telephone_event_pt: te,
        remote_rtp: peer(),
        ptime_ms: 20,
    }
}

fn ms(t0: Instant, m: u64) -> Instant {
    t0 + Duration::from_millis(m)
}

/// (seq, timestamp, marker, payload) of every packet due by `now`.
fn drain(s: &mut MediaSession, now: Instant) -> Vec<(u16, u32, bool, Vec<u8>)> {
    let mut buf = [0u8; MAX_PACKET];
    let mut out = Vec::new();
    while let Some(tx) = s.poll_transmit(now, &mut buf) {
        let r = RtpReader::new(&buf[..tx.len]).unwrap();
        out.push((
            u16::from(r.sequence_number()),
            r.timestamp(),
            r.mark(),
            r.payload().to_vec(),
        ));
    }
    out
}

fn events(s: &mut MediaSession) -> Vec<MediaEvent> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

fn digits(s: &mut MediaSession) -> Vec<(char, DigitSource)> {
    events(s)
        .into_iter()
        .filter_map(|e| match e {
            MediaEvent::Digit(d) => Some((d.key, d.source)),
            _ => None,
        })
        .collect()
}

fn rtp(pt: u8, seq: u16, ts: u32, marker: bool, payload: &[u8]) -> Vec<u8> {
    rtp_ssrc(0x1111, pt, seq, ts, marker, payload)
}

fn rtp_ssrc(ssrc: u32, pt: u8, seq: u16, ts: u32, marker: bool, payload: &[u8]) -> Vec<u8> {
    RtpPacketBuilder::new()
        .payload_type(pt)
        .ssrc(ssrc)
        .sequence(Seq::from(seq))
        .timestamp(ts)
        .marked(marker)
        .payload(payload)
        .build()
        .unwrap()
}

fn prompt(frames: usize, level: i16) -> Prompt {
    Prompt::from_samples(&vec![level; frames * 160])
}

#[test]
fn silence_is_sent_every_frame_with_continuous_sequence_and_timestamp() {
    let t0 = Instant::now();
    let mut s = MediaSession::new(&media(Codec::Pcmu, Some(101)), SessionConfig::default(), t0);
    let mut pkts = Vec::new();
    for i in 0..5 {
        pkts.extend(drain(&mut s, ms(t0, 20 * i)));
        assert!(
            drain(&mut s, ms(t0, 20 * i + 19)).is_empty(),
            "nothing early"
        );
    }
    assert_eq!(pkts.len(), 5);
    for w in pkts.windows(2) {
        assert_eq!(w[1].0, w[0].0.wrapping_add(1));
        assert_eq!(w[1].1, w[0].1.wrapping_add(160));
    }
    assert!(pkts[0].2, "first packet of the stream is marked");
    assert!(pkts[1..].iter().all(|p| !p.2));
    assert!(pkts.iter().all(|p| p.3 == vec![0xFF; 160]));
}

#[test]
fn a_late_poll_catches_up_and_a_stalled_one_skips_without_a_burst() {
    let t0 = Instant::now();
    let mut s = MediaSession::new(&media(Codec::Pcma, None), SessionConfig::default(), t0);
    assert_eq!(drain(&mut s, t0).len(), 1);
    assert_eq!(
        drain(&mut s, ms(t0, 60)).len(),
        3,
        "two late frames are still sent"
    );
    let first = drain(&mut s, ms(t0, 80))[0].clone();
    // One second stall: one packet, sequence continuous, timestamp follows the clock.
    let after = drain(&mut s, ms(t0, 1080));
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].0, first.0.wrapping_add(1));
    assert_eq!(after[0].1, first.1.wrapping_add(160 * 50));
    assert_eq!(after[0].3, vec![0xD5; 160], "A-law silence");
    assert_eq!(drain(&mut s, ms(t0, 1100)).len(), 1);
}

#[test]
fn prompts_play_in_order_marked_once_then_silence_and_one_finished_event() {
    let t0 = Instant::now();
    let mut s = MediaSession::new(&media(Codec::Pcmu, None), SessionConfig::default(), t0);
    drain(&mut s, t0); // stream started with silence
    s.play(prompt(2, 1000));
    s.play(prompt(1, -1000));
    assert!(s.is_playing());
    let mut pkts = Vec::new();
    for i in 1..=5 {
        pkts.extend(drain(&mut s, ms(t0, 20 * i)));
    }
    let loud = crate::media::g711::ulaw_encode(1000);
    let neg = crate::media::g711::ulaw_encode(-1000);
    let kinds: Vec<(u8, bool)> = pkts.iter().map(|p| (p.3[0], p.2)).collect();
    assert_eq!(
        kinds,
        vec![
            (loud, true),
            (loud, false),
            (neg, false),
            (0xFF, false),
            (0xFF, false)
        ]
    );
    assert_eq!(events(&mut s), vec![MediaEvent::PlaybackFinished]);
    assert!(!s.is_playing());
}

#[test]
fn barge_in_stops_at_once_without_finished_event() {
    let t0 = Instant::now();
    let mut s = MediaSession::new(&media(Codec::Pcmu, None), SessionConfig::default(), t0);
    s.play(prompt(50, 2000));
    s.play(prompt(50, 2000));
    drain(&mut s, ms(t0, 40));
    s.stop_playback();
    let next = drain(&mut s, ms(t0, 60));
    assert_eq!(next[0].3, vec![0xFF; 160]);
    assert!(events(&mut s).is_empty());
    // A new prompt after barge-in starts a new talk-spurt.
    s.play(prompt(1, 2000));
    assert!(drain(&mut s, ms(t0, 80))[0].2);
}

#[test]
fn telephone_events_on_the_negotiated_type_give_digits_and_others_are_ignored() {
    let t0 = Instant::now();
    let mut s = MediaSession::new(&media(Codec::Pcmu, Some(96)), SessionConfig::default(), t0);
    // SIPp's fillers: PT 97 no-op packets.
    for i in 0..20 {
        s.handle_input(
            ms(t0, i),
            peer(),
            &rtp(97, i as u16, 0, false, &[0, 0, 0, 0]),
        );
    }
    // A telephone-event on PT 101 is not ours in this call.
    s.handle_input(
        ms(t0, 21),
        peer(),
        &rtp(101, 21, 500, true, &[5, 10, 0, 160]),
    );
    for (i, ts) in [(22u16, 800u32), (23, 800), (24, 800)] {
        s.handle_input(
            ms(t0, 30),
            peer(),
            &rtp(96, i, ts, i == 22, &[10, 0x8A, 1, 0]),
        );
    }
    assert_eq!(digits(&mut s), vec![('*', DigitSource::Rfc4733)]);
    assert_eq!(s.counters().unknown_payload_type, 21);
}

fn tone_frames(key_low: f32, key_high: f32, frames: usize, encode: fn(i16) -> u8) -> Vec<Vec<u8>> {
    (0..frames * 160)
        .map(|i| {
            let t = i as f32 / 8000.0;
            let v = 6000.0 * (2.0 * std::f32::consts::PI * key_low * t).sin()
                + 6000.0 * (2.0 * std::f32::consts::PI * key_high * t).sin();
            encode(v as i16)
        })
        .collect::<Vec<u8>>()
        .chunks(160)
        .map(<[u8]>::to_vec)
        .collect()
}

#[test]
fn in_band_tones_in_pcma_give_an_in_band_digit() {
    let t0 = Instant::now();
    let mut s = MediaSession::new(&media(Codec::Pcma, None), SessionConfig::default(), t0);
    let frames = tone_frames(770.0, 1336.0, 6, crate::media::g711::alaw_encode);
    for (i, f) in frames.iter().enumerate() {
        s.handle_input(
            ms(t0, 20 * i as u64),
            peer(),
            &rtp(8, i as u16, 160 * i as u32, false, f),
        );
    }
    assert_eq!(digits(&mut s), vec![('5', DigitSource::InBand)]);
}

#[test]
fn one_press_as_telephone_event_tones_and_sip_info_is_one_digit() {
    let t0 = Instant::now();
    let mut s = MediaSession::new(&media(Codec::Pcmu, Some(101)), SessionConfig::default(), t0);
    s.handle_input(t0, peer(), &rtp(101, 1, 160, true, &[9, 10, 0, 160]));
    let frames = tone_frames(852.0, 1477.0, 6, crate::media::g711::ulaw_encode);
    for (i, f) in frames.iter().enumerate() {
        let seq = 2 + i as u16;
        s.handle_input(
            ms(t0, 20 * i as u64),
            peer(),
            &rtp(0, seq, 160 * i as u32, false, f),
        );
    }
    s.sip_info_digit(ms(t0, 150), '9');
    assert_eq!(digits(&mut s), vec![('9', DigitSource::Rfc4733)]);
    s.sip_info_digit(ms(t0, 2000), '9');
    assert_eq!(digits(&mut s), vec![('9', DigitSource::SipInfo)]);
}

#[test]
fn no_rtp_for_the_timeout_raises_media_timeout_once() {
    let t0 = Instant::now();
    let cfg = SessionConfig {
        media_timeout: Duration::from_secs(30),
        ..SessionConfig::default()
    };
    let mut s = MediaSession::new(&media(Codec::Pcmu, None), cfg, t0);
    s.handle_input(ms(t0, 10_000), peer(), &rtp(0, 1, 0, false, &[0xFF; 160]));
    s.handle_timeout(ms(t0, 39_999));
    assert!(events(&mut s).is_empty(), "RTP at 10 s restarted the clock");
    assert_eq!(s.poll_timeout(), ms(t0, 0), "a packet is due first");
    s.handle_timeout(ms(t0, 40_000));
    s.handle_timeout(ms(t0, 50_000));
    assert_eq!(events(&mut s), vec![MediaEvent::MediaTimeout]);
}

#[test]
fn hold_suspends_the_media_timeout_and_resume_restarts_it() {
    let t0 = Instant::now();
    let mut s = MediaSession::new(&media(Codec::Pcmu, None), SessionConfig::default(), t0);
    s.set_on_hold(ms(t0, 5_000), true);
    s.handle_timeout(ms(t0, 600_000));
    assert!(events(&mut s).is_empty(), "ten silent minutes on hold");
    s.set_on_hold(ms(t0, 600_000), false);
    s.handle_timeout(ms(t0, 629_999));
    assert!(
        events(&mut s).is_empty(),
        "the timeout counts from the resume"
    );
    s.handle_timeout(ms(t0, 630_000));
    assert_eq!(events(&mut s), vec![MediaEvent::MediaTimeout]);
}

#[test]
fn bad_datagrams_do_not_refresh_the_media_timeout() {
    let t0 = Instant::now();
    let mut s = MediaSession::new(&media(Codec::Pcmu, None), SessionConfig::default(), t0);
    s.handle_input(ms(t0, 29_000), peer(), &[0x80, 0x00]);
    s.handle_input(ms(t0, 29_000), peer(), &[0x81, 200, 0, 1, 0, 0, 0, 0]); // RTCP
    s.handle_timeout(ms(t0, 30_000));
    assert_eq!(events(&mut s), vec![MediaEvent::MediaTimeout]);
    assert_eq!(s.counters().short, 1);
    assert_eq!(s.counters().rtcp, 1);
}

#[test]
fn symmetric_rtp_follows_a_nat_peer_after_probation_and_ignores_others() {
    let t0 = Instant::now();
    let mut s = MediaSession::new(&media(Codec::Pcmu, Some(101)), SessionConfig::default(), t0);
    let nat = SocketAddr::from(([127, 0, 0, 1], 41234));
    let mut buf = [0u8; MAX_PACKET];
    assert_eq!(s.poll_transmit(t0, &mut buf).unwrap().destination, peer());
    // The SDP address never sends; after the quiet time the NAT'd source is on probation.
    let t = ms(t0, 2_000);
    for seq in 1..=3 {
        assert!(!s.handle_input(t, nat, &rtp(0, seq, 0, false, &[0xFF; 160])));
    }
    assert_eq!(s.destination(), peer(), "not yet");
    assert!(s.handle_input(t, nat, &rtp(0, 4, 0, false, &[0xFF; 160])));
    assert_eq!(s.poll_transmit(t, &mut buf).unwrap().destination, nat);
    // A stranger's telephone-event is dropped, not a digit.
    let stranger = SocketAddr::from(([127, 0, 0, 2], 50000));
    assert!(!s.handle_input(t, stranger, &rtp_ssrc(9, 101, 2, 9, true, &[1, 0x8A, 1, 0])));
    assert!(digits(&mut s).is_empty());
    assert_eq!(s.counters().unexpected_source, 1);
    assert_eq!(s.counters().probation, 3);
    assert_eq!(s.destination(), nat);
}

#[test]
fn a_sprayer_gets_no_prompt_and_keys_nothing_while_the_caller_talks() {
    let t0 = Instant::now();
    let mut s = MediaSession::new(&media(Codec::Pcmu, Some(101)), SessionConfig::default(), t0);
    s.play(prompt(500, 1000));
    let stranger = SocketAddr::from(([127, 0, 0, 2], 50000));
    let mut buf = [0u8; MAX_PACKET];
    for i in 0..400u16 {
        let now = ms(t0, 20 * u64::from(i));
        s.handle_input(
            now,
            peer(),
            &rtp(0, i, 160 * u32::from(i), false, &[0xFF; 160]),
        );
        // Event 1, new every packet: would be keys if accepted.
        let ev = rtp_ssrc(
            77,
            101,
            i,
            160 * u32::from(i),
            true,
            &[(i % 10) as u8, 0x8A, 1, 0],
        );
        assert!(!s.handle_input(now, stranger, &ev));
        while let Some(tx) = s.poll_transmit(now, &mut buf) {
            assert_eq!(tx.destination, peer());
        }
    }
    assert!(digits(&mut s).is_empty());
    assert_eq!(s.counters().refused(), 400);
}

#[test]
fn before_the_ack_only_a_few_packets_of_silence_go_out_and_prompts_wait() {
    let t0 = Instant::now();
    let mut s = MediaSession::new(&media(Codec::Pcmu, None), SessionConfig::default(), t0);
    s.await_confirmation();
    s.play(prompt(10, 8000));
    // 32 s without an ACK (Timer H) would have been 1600 packets.
    let sent: Vec<_> = (0..1600u64)
        .flat_map(|i| drain(&mut s, ms(t0, 20 * i)))
        .collect();
    assert_eq!(sent.len() as u64, UNCONFIRMED_PACKETS);
    assert!(sent.iter().all(|p| p.3 == [g711::ULAW_SILENCE; 160]));
    // The ACK: the prompt starts from its first frame, timestamps kept running.
    s.confirm();
    let after = drain(&mut s, ms(t0, 20 * 1600));
    assert_eq!(after.len(), 1);
    assert_ne!(after[0].3, [g711::ULAW_SILENCE; 160]);
    assert!(after[0].2, "talk-spurt marker on the prompt's first frame");
    assert_eq!(after[0].1.wrapping_sub(sent[0].1), 160 * 1600);
    assert_eq!(after[0].0, sent[4].0.wrapping_add(1));
}

#[test]
fn the_callers_first_rtp_confirms_like_an_ack() {
    let t0 = Instant::now();
    let mut s = MediaSession::new(&media(Codec::Pcmu, None), SessionConfig::default(), t0);
    s.await_confirmation();
    // A stranger's RTP does not.
    let stranger = SocketAddr::from(([127, 0, 0, 2], 50000));
    s.handle_input(t0, stranger, &rtp_ssrc(5, 0, 1, 0, false, &[0xFF; 160]));
    assert!(!s.is_confirmed());
    s.handle_input(t0, peer(), &rtp(0, 1, 0, false, &[0xFF; 160]));
    assert!(s.is_confirmed());
}

#[test]
fn re_invite_moves_media_and_codec() {
    let t0 = Instant::now();
    let mut s = MediaSession::new(&media(Codec::Pcmu, Some(101)), SessionConfig::default(), t0);
    s.handle_input(t0, peer(), &rtp(0, 1, 0, false, &[0xFF; 160]));
    let moved = SocketAddr::from(([127, 0, 0, 1], 42000));
    s.update_media(
        t0,
        &NegotiatedMedia {
            codec: Codec::Pcma,
            telephone_event_pt: Some(96),
            remote_rtp: moved,
            ptime_ms: 20,
        },
    );
    let mut buf = [0u8; MAX_PACKET];
    let tx = s.poll_transmit(t0, &mut buf).unwrap();
    assert_eq!(tx.destination, moved);
    assert_eq!(RtpReader::new(&buf[..tx.len]).unwrap().payload_type(), 8);
    s.handle_input(t0, moved, &rtp(96, 7, 100, true, &[4, 0x8A, 1, 0]));
    assert_eq!(digits(&mut s), vec![('4', DigitSource::Rfc4733)]);
}

/// UDP payloads of a classic pcap (Ethernet, IPv4, UDP) as the peers' files have them.
fn pcap_payloads(name: &str) -> Vec<Vec<u8>> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    let bytes = std::fs::read(path).unwrap();
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let caplen = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        let frame = &bytes[at + 16..at + 16 + caplen];
        let ihl = usize::from(frame[14] & 0x0F) * 4;
        out.push(frame[14 + ihl + 8..].to_vec());
        at += 16 + caplen;
    }
    out
}

#[test]
fn peers_rfc4733_pcap_gives_star_365() {
    let t0 = Instant::now();
    let mut s = MediaSession::new(&media(Codec::Pcmu, Some(101)), SessionConfig::default(), t0);
    for (i, p) in pcap_payloads("dtmf4733_star365.pcap").iter().enumerate() {
        s.handle_input(ms(t0, 20 * i as u64), peer(), p);
    }
    let keys: String = digits(&mut s).iter().map(|d| d.0).collect();
    assert_eq!(keys, "*365");
}

#[test]
fn peers_in_band_pcmu_pcap_gives_star_365() {
    let t0 = Instant::now();
    let mut s = MediaSession::new(&media(Codec::Pcmu, Some(101)), SessionConfig::default(), t0);
    for (i, p) in pcap_payloads("inband_star365_pcmu.pcap").iter().enumerate() {
        s.handle_input(ms(t0, 20 * i as u64), peer(), p);
    }
    let got = digits(&mut s);
    assert_eq!(got.iter().map(|d| d.0).collect::<String>(), "*365");
    assert!(got.iter().all(|d| d.1 == DigitSource::InBand));
}

#[test]
fn peers_in_band_pcma_pcap_gives_star_365() {
    let t0 = Instant::now();
    let mut s = MediaSession::new(&media(Codec::Pcma, None), SessionConfig::default(), t0);
    for (i, p) in pcap_payloads("inband_star365_pcma.pcap").iter().enumerate() {
        s.handle_input(ms(t0, 20 * i as u64), peer(), p);
    }
    let got = digits(&mut s);
    assert_eq!(got.iter().map(|d| d.0).collect::<String>(), "*365");
    assert!(got.iter().all(|d| d.1 == DigitSource::InBand));
}
