use super::*;

const SIPP_OFFER: &str = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\n\
c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\n";

fn local() -> SocketAddr {
    "127.0.0.1:20000".parse().unwrap()
}

#[test]
fn sipp_offer_negotiates_pcmu_and_event_101() {
    let m = parse(SIPP_OFFER.as_bytes()).unwrap().negotiate().unwrap();
    assert_eq!(m.codec, Codec::Pcmu);
    assert_eq!(m.telephone_event_pt, Some(101));
    assert_eq!(m.remote_rtp, "127.0.0.1:6000".parse().unwrap());
    assert_eq!(m.ptime_ms, 20);
}

#[test]
fn peer_preference_order_wins() {
    let offer = SIPP_OFFER.replace("RTP/AVP 0 8 101", "RTP/AVP 8 0 101");
    let m = parse(offer.as_bytes()).unwrap().negotiate().unwrap();
    assert_eq!(m.codec, Codec::Pcma);
}

#[test]
fn telephone_event_on_dynamic_pt_96_and_lowercase_names() {
    let offer = "v=0\r\nc=IN IP4 10.0.0.9\r\nm=audio 4000 RTP/AVP 18 8 96\r\n\
a=rtpmap:18 G729/8000\r\na=rtpmap:8 pcma/8000\r\na=rtpmap:96 Telephone-Event/8000\r\n";
    let m = parse(offer.as_bytes()).unwrap().negotiate().unwrap();
    assert_eq!(m.codec, Codec::Pcma);
    assert_eq!(m.telephone_event_pt, Some(96));
    assert_eq!(m.remote_rtp, "10.0.0.9:4000".parse().unwrap());
}

#[test]
fn static_payload_types_need_no_rtpmap() {
    let offer = "v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 7000 RTP/AVP 8\r\n";
    let m = parse(offer.as_bytes()).unwrap().negotiate().unwrap();
    assert_eq!(m.codec, Codec::Pcma);
    assert_eq!(m.telephone_event_pt, None);
}

#[test]
fn nothing_in_common_is_no_common_codec() {
    let offer = "v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 7000 RTP/AVP 18 9\r\n\
a=rtpmap:18 G729/8000\r\na=rtpmap:9 G722/8000\r\n";
    assert_eq!(
        parse(offer.as_bytes()).unwrap().negotiate(),
        Err(SdpError::NoCommonCodec)
    );
}

#[test]
fn media_level_connection_overrides_session_level() {
    let offer = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 7000 RTP/AVP 0\r\nc=IN IP4 10.0.0.2\r\n";
    let d = parse(offer.as_bytes()).unwrap();
    assert_eq!(d.remote_rtp, "10.0.0.2:7000".parse().unwrap());
}

#[test]
fn video_stream_before_audio_is_skipped() {
    let offer = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=video 9000 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n\
m=audio 7000 RTP/AVP 0\r\na=sendonly\r\n";
    let d = parse(offer.as_bytes()).unwrap();
    assert_eq!(d.remote_rtp.port(), 7000);
    assert_eq!(d.rtpmaps.len(), 0);
    assert!(d.is_hold());
}

#[test]
fn missing_audio_or_connection_is_an_error_not_a_panic() {
    assert_eq!(
        parse(b"v=0\r\nc=IN IP4 1.2.3.4\r\n"),
        Err(SdpError::NoAudio)
    );
    assert_eq!(
        parse(b"v=0\r\nm=audio 5 RTP/AVP 0\r\n"),
        Err(SdpError::NoConnection)
    );
    assert!(matches!(
        parse(b"v=0\r\nc=IN IP4 nonsense\r\nm=audio 5 RTP/AVP 0\r\n"),
        Err(SdpError::Malformed(_))
    ));
    assert!(matches!(
        parse(b"m=audio 99999 RTP/AVP 0\r\n"),
        Err(SdpError::Malformed(_))
    ));
    assert_eq!(parse(&[0xff, 0xfe]), Err(SdpError::NotText));
}

#[test]
fn hold_by_inactive_or_zero_address() {
    let held = SIPP_OFFER.replace("a=ptime:20\r\n", "a=ptime:20\r\na=inactive\r\n");
    assert!(parse(held.as_bytes()).unwrap().is_hold());
    let old_style = SIPP_OFFER.replace("c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0");
    assert!(parse(old_style.as_bytes()).unwrap().is_hold());
    assert!(!parse(SIPP_OFFER.as_bytes()).unwrap().is_hold());
}

#[test]
fn answer_carries_our_address_codec_event_pt_and_ptime_20() {
    let offer = SIPP_OFFER.replace("101", "96");
    let m = parse(offer.as_bytes()).unwrap().negotiate().unwrap();
    let sdp = answer(None, &m, local(), SdpOrigin::new(42), Direction::SendRecv);
    assert!(sdp.contains("c=IN IP4 127.0.0.1\r\n"), "{sdp}");
    assert!(sdp.contains("m=audio 20000 RTP/AVP 0 96\r\n"), "{sdp}");
    assert!(
        sdp.contains("a=rtpmap:96 telephone-event/8000\r\n"),
        "{sdp}"
    );
    assert!(sdp.contains("a=ptime:20\r\n"), "{sdp}");
    assert!(sdp.contains("o=kenkocall 42 1 IN IP4"), "{sdp}");
    // Our answer read back as an answer gives the same negotiation.
    let back = read_answer(sdp.as_bytes()).unwrap();
    assert_eq!(back.codec, Codec::Pcmu);
    assert_eq!(back.telephone_event_pt, Some(96));
    assert_eq!(back.remote_rtp, local());
}

#[test]
fn hold_answer_mirrors_direction_and_bumps_version() {
    assert_eq!(Direction::SendOnly.answer(), Direction::RecvOnly);
    assert_eq!(Direction::Inactive.answer(), Direction::Inactive);
    let m = parse(SIPP_OFFER.as_bytes()).unwrap().negotiate().unwrap();
    let o = SdpOrigin::new(7).next();
    let sdp = answer(None, &m, local(), o, Direction::RecvOnly);
    assert!(sdp.contains("o=kenkocall 7 2 "), "{sdp}");
    assert!(sdp.contains("a=recvonly\r\n"), "{sdp}");
}

#[test]
fn outbound_offer_lists_both_codecs_and_event_101() {
    let sdp = offer(local(), SdpOrigin::new(1));
    assert!(sdp.contains("m=audio 20000 RTP/AVP 0 8 101\r\n"), "{sdp}");
    let d = parse(sdp.as_bytes()).unwrap();
    assert_eq!(d.payload_types, vec![0, 8, 101]);
    assert_eq!(d.ptime_ms, Some(20));
}

#[test]
fn peer_answer_with_pcma_is_read() {
    let ans = "v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 6100 RTP/AVP 8 101\r\n\
a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n";
    let m = read_answer(ans.as_bytes()).unwrap();
    assert_eq!(m.codec, Codec::Pcma);
    assert_eq!(m.remote_rtp.port(), 6100);
}

#[test]
fn answer_keeps_every_offered_stream_refusing_all_but_audio() {
    let offer = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=video 9000 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n\
m=audio 7000 RTP/AVP 0\r\nm=application 9 UDP/BFCP *\r\n";
    let d = parse(offer.as_bytes()).unwrap();
    assert_eq!((d.streams.len(), d.audio_index), (3, 1));
    let m = d.negotiate().unwrap();
    let sdp = answer(
        Some(&d),
        &m,
        local(),
        SdpOrigin::new(1),
        Direction::SendRecv,
    );
    let lines: Vec<&str> = sdp.lines().filter(|l| l.starts_with("m=")).collect();
    assert_eq!(
        lines,
        vec![
            "m=video 0 RTP/AVP 96",
            "m=audio 20000 RTP/AVP 0",
            "m=application 0 UDP/BFCP *"
        ]
    );
}

#[test]
fn disabled_audio_stream_is_not_negotiated() {
    let offer = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 0 RTP/AVP 0\r\n";
    assert_eq!(
        parse(offer.as_bytes()).unwrap().negotiate(),
        Err(SdpError::AudioDisabled)
    );
}
