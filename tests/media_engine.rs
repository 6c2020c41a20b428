//! The media engine on real loopback sockets: a played prompt arrives as continuous RTP,
//! digits come back as events, and every path frees its port.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use kenkocall::call::{Codec, DigitSource, NegotiatedMedia};
use kenkocall::media::{EngineConfig, MediaEngine, MediaEvent, Prompt};
use rtp_rs::{RtpPacketBuilder, RtpReader, Seq};

fn engine(range: &str) -> MediaEngine {
    MediaEngine::start(EngineConfig {
        port_range: range.into(),
        shards: 2,
        ..EngineConfig::default()
    })
    .unwrap()
}

fn peer_socket() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    s
}

fn media(remote: SocketAddr) -> NegotiatedMedia {
    NegotiatedMedia {
        codec: Codec::Pcmu,
        telephone_event_pt: Some(101),
        remote_rtp: remote,
        ptime_ms: 20,
    }
}

#[tokio::test]
async fn played_prompt_arrives_as_continuous_rtp_then_playback_finished() {
    let engine = engine("31000-31099");
    let peer = peer_socket();
    let (handle, mut events) = engine
        .create_session(&media(peer.local_addr().unwrap()))
        .unwrap();
    let samples: Vec<i16> = (0..8000).map(|i| ((i % 80) as i16 - 40) * 300).collect();
    let prompt = Prompt::from_samples(&samples); // one second: 50 frames
    handle.play(vec![prompt.clone()]).unwrap();
    let audio = prompt.audio(Codec::Pcmu);
    let mut buf = [0u8; 1500];
    let mut packets = Vec::new();
    let mut arrivals = Vec::new();
    // Collect until the whole prompt has been seen, plus a few silence frames after it.
    let mut audio_frames = 0;
    while audio_frames < 50 || packets.len() < audio_frames + 10 {
        let (len, from) = peer.recv_from(&mut buf).unwrap();
        assert_eq!(from, handle.local_addr());
        arrivals.push(Instant::now());
        let r = RtpReader::new(&buf[..len]).unwrap();
        let is_audio = r.payload() != [0xFF; 160];
        if is_audio {
            assert_eq!(
                r.payload(),
                &audio[audio_frames * 160..(audio_frames + 1) * 160]
            );
            audio_frames += 1;
        }
        packets.push((
            u16::from(r.sequence_number()),
            r.timestamp(),
            r.ssrc(),
            r.mark(),
            is_audio,
        ));
        assert!(packets.len() < 200, "prompt never completed");
    }
    for w in packets.windows(2) {
        assert_eq!(w[1].0, w[0].0.wrapping_add(1), "sequence continuous");
        assert_eq!(
            w[1].1,
            w[0].1.wrapping_add(160),
            "timestamp +160 per packet"
        );
        assert_eq!(w[1].2, w[0].2, "one SSRC");
    }
    let first_audio = packets.iter().position(|p| p.4).unwrap();
    assert!(
        packets[first_audio].3,
        "talk-spurt starts with the marker bit"
    );
    assert_eq!(
        packets.iter().filter(|p| p.3).count(),
        if first_audio == 0 { 1 } else { 2 }
    );
    // Loose: 50 frames of audio took about one second to arrive (not a pacing benchmark).
    let span = arrivals[first_audio + 49] - arrivals[first_audio];
    assert!(
        span > Duration::from_millis(700) && span < Duration::from_millis(1500),
        "{span:?}"
    );
    let ev = tokio::time::timeout(Duration::from_secs(2), events.recv())
        .await
        .unwrap();
    assert_eq!(ev, Some(MediaEvent::PlaybackFinished));
}

fn event_packet(seq: u16, ts: u32, code: u8, end: bool, marker: bool) -> Vec<u8> {
    RtpPacketBuilder::new()
        .payload_type(101)
        .ssrc(0xABCD)
        .sequence(Seq::from(seq))
        .timestamp(ts)
        .marked(marker)
        .payload(&[code, if end { 0x8A } else { 0x0A }, 0x03, 0x20])
        .build()
        .unwrap()
}

#[tokio::test]
async fn digits_from_rtp_and_sip_info_come_back_as_events_once_each() {
    let engine = engine("31100-31199");
    let peer = peer_socket();
    let (handle, mut events) = engine
        .create_session(&media(peer.local_addr().unwrap()))
        .unwrap();
    let mut seq = 1;
    for (i, code) in [10u8, 3, 6, 5].into_iter().enumerate() {
        let ts = 1000 + 2000 * i as u32;
        for n in 0..6 {
            let pkt = event_packet(seq, ts, code, n >= 3, n == 0);
            peer.send_to(&pkt, handle.local_addr()).unwrap();
            seq += 1;
        }
    }
    let mut got = Vec::new();
    while got.len() < 4 {
        match tokio::time::timeout(Duration::from_secs(2), events.recv()).await {
            Ok(Some(MediaEvent::Digit(d))) => got.push((d.key, d.source)),
            other => panic!("expected a digit, got {other:?}"),
        }
    }
    assert!(got.iter().all(|d| d.1 == DigitSource::Rfc4733));
    assert_eq!(got.iter().map(|d| d.0).collect::<String>(), "*365");
    handle.sip_info_digit('#').unwrap();
    let ev = tokio::time::timeout(Duration::from_secs(2), events.recv())
        .await
        .unwrap();
    assert!(
        matches!(ev, Some(MediaEvent::Digit(d)) if d.key == '#' && d.source == DigitSource::SipInfo)
    );
    // Symmetric RTP: the engine now sends to the peer's real source.
    let mut buf = [0u8; 1500];
    let (_, from) = peer.recv_from(&mut buf).unwrap();
    assert_eq!(from, handle.local_addr());
}

#[tokio::test]
async fn closing_dropping_and_never_starting_all_free_the_port() {
    let engine = engine("31200-31299");
    let peer = peer_socket();
    let m = media(peer.local_addr().unwrap());
    let (a, _ea) = engine.create_session(&m).unwrap();
    let (b, eb) = engine.create_session(&m).unwrap();
    let reserved = engine.reserve().unwrap();
    assert_eq!(engine.ports_in_use(), 3);
    a.close();
    drop(b);
    drop(eb);
    drop(reserved); // an offer that never got an answer
    let deadline = Instant::now() + Duration::from_secs(2);
    while engine.ports_in_use() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(engine.ports_in_use(), 0);
}

#[tokio::test]
async fn silent_peer_gives_media_timeout() {
    let engine = MediaEngine::start(EngineConfig {
        port_range: "31300-31399".into(),
        shards: 1,
        session: kenkocall::media::SessionConfig {
            media_timeout: Duration::from_millis(300),
            ..Default::default()
        },
        ..EngineConfig::default()
    })
    .unwrap();
    let peer = peer_socket();
    let (_h, mut events) = engine
        .create_session(&media(peer.local_addr().unwrap()))
        .unwrap();
    let ev = tokio::time::timeout(Duration::from_secs(3), events.recv())
        .await
        .unwrap();
    assert_eq!(ev, Some(MediaEvent::MediaTimeout));
}

#[test]
fn engine_config_follows_the_config_file() {
    let mut config = kenkocall::config::Config::default();
    config.sip.rtp_ports = "40000-40999".into();
    config.media.timeout_secs = 12;
    let engine = EngineConfig::from_config(&config);
    assert_eq!(engine.port_range, "40000-40999");
    assert_eq!(engine.local_ip, config.sip.listen.ip());
    assert_eq!(engine.session.media_timeout, Duration::from_secs(12));
}

#[tokio::test]
async fn re_invite_moves_the_stream_to_the_new_address() {
    let engine = engine("31400-31499");
    let old_peer = peer_socket();
    let new_peer = peer_socket();
    let (handle, _events) = engine
        .create_session(&media(old_peer.local_addr().unwrap()))
        .unwrap();
    let mut buf = [0u8; 1500];
    old_peer.recv_from(&mut buf).unwrap();
    handle
        .update_media(NegotiatedMedia {
            codec: Codec::Pcma,
            ..media(new_peer.local_addr().unwrap())
        })
        .unwrap();
    let (len, from) = new_peer.recv_from(&mut buf).unwrap();
    assert_eq!(from, handle.local_addr());
    assert_eq!(RtpReader::new(&buf[..len]).unwrap().payload_type(), 8);
}

#[tokio::test]
async fn a_full_port_range_is_an_error_not_a_hang() {
    let engine = engine("31500-31500");
    let peer = peer_socket();
    let (_first, _e) = engine
        .create_session(&media(peer.local_addr().unwrap()))
        .unwrap();
    let err = engine
        .create_session(&media(peer.local_addr().unwrap()))
        .unwrap_err();
    assert!(err.to_string().contains("no free RTP port"), "{err}");
}
