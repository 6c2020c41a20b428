use super::*;

const INVITE: &str = "INVITE sip:05031980214@127.0.0.1:5060 SIP/2.0\r\n\
v: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-1\r\n\
f: \"Taro\" <sip:0901234@127.0.0.1>;tag=abc\r\n\
t: <sip:05031980214@127.0.0.1>\r\n\
i: call-1@127.0.0.1\r\n\
CSeq: 1 INVITE\r\n\
m: <sip:0901234@127.0.0.1:5061>\r\n\
c: application/sdp\r\n\
l: 5\r\n\r\nv=0\r\n";

#[test]
fn compact_headers_are_read_under_their_long_names() {
    let m = parse(INVITE.as_bytes()).unwrap();
    assert_eq!(m.method(), Some("INVITE"));
    assert_eq!(m.call_id(), Some("call-1@127.0.0.1"));
    assert_eq!(m.tag("From"), Some("abc"));
    assert_eq!(m.tag("To"), None);
    assert_eq!(m.branch(), Some("z9hG4bK-1"));
    assert_eq!(m.cseq(), Some((1, "INVITE")));
    assert_eq!(m.request_user().as_deref(), Some("05031980214"));
    assert_eq!(m.content_type().as_deref(), Some("application/sdp"));
    assert_eq!(m.body, b"v=0\r\n");
}

#[test]
fn missing_call_id_gets_400_reply() {
    let msg = INVITE.replace("i: call-1@127.0.0.1\r\n", "");
    let err = parse(msg.as_bytes()).unwrap_err();
    assert_eq!(err.reply.map(|(c, _)| c), Some(400), "{}", err.reason);
}

#[test]
fn missing_via_is_dropped_without_reply() {
    let msg = INVITE.replace("v: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-1\r\n", "");
    let err = parse(msg.as_bytes()).unwrap_err();
    assert!(err.reply.is_none());
}

#[test]
fn garbage_and_empty_input_are_dropped_not_panicking() {
    for junk in [
        &b""[..],
        b"\r\n\r\n",
        b"\xff\xfe\x00",
        b"INVITE",
        b"SIP/2.0 99999999999 x\r\n\r\n",
    ] {
        assert!(parse(junk).unwrap_err().reply.is_none());
    }
}

#[test]
fn negative_or_conflicting_content_length_gets_400() {
    for bad in ["l: -5", "l: five", "l: 400"] {
        let msg = INVITE.replace("l: 5", bad);
        assert_eq!(
            parse(msg.as_bytes()).unwrap_err().reply.map(|r| r.0),
            Some(400),
            "{bad}"
        );
    }
    let two = INVITE.replace("l: 5\r\n", "l: 5\r\nContent-Length: 2\r\n");
    assert_eq!(
        parse(two.as_bytes()).unwrap_err().reply.map(|r| r.0),
        Some(400)
    );
}

#[test]
fn cseq_method_mismatch_and_version_are_refused_with_their_codes() {
    let mismatch = INVITE.replace("CSeq: 1 INVITE", "CSeq: 1 OPTIONS");
    assert_eq!(
        parse(mismatch.as_bytes()).unwrap_err().reply.map(|r| r.0),
        Some(400)
    );
    let v3 = INVITE.replace("SIP/2.0\r\nv:", "SIP/3.0\r\nv:");
    assert_eq!(
        parse(v3.as_bytes()).unwrap_err().reply.map(|r| r.0),
        Some(505)
    );
}

#[test]
fn folded_header_lines_are_joined() {
    let msg = INVITE.replace("CSeq: 1 INVITE\r\n", "CSeq: 1\r\n   INVITE\r\n");
    assert_eq!(parse(msg.as_bytes()).unwrap().cseq(), Some((1, "INVITE")));
}

#[test]
fn name_addr_helpers_handle_quotes_and_addr_spec() {
    assert_eq!(name_addr_uri("\"a <b>\" <sip:x@y>;tag=1"), Some("sip:x@y"));
    assert_eq!(name_addr_tag("\"a;tag=no\" <sip:x@y>;tag=1"), Some("1"));
    assert_eq!(name_addr_uri("sip:x@y;tag=2"), Some("sip:x@y"));
    assert_eq!(name_addr_tag("sip:x@y;tag=2"), Some("2"));
    assert_eq!(name_addr_uri("\"open <sip:x@y>"), None);
    assert_eq!(
        split_list("<sip:a,b@x>, \"c,d\" <sip:e@f>"),
        vec!["<sip:a,b@x>", "\"c,d\" <sip:e@f>"]
    );
}

#[test]
fn uri_user_unescapes_once_and_reads_tel() {
    assert_eq!(uri_user("sip:%30%35@x").as_deref(), Some("05"));
    assert_eq!(
        uri_user("tel:+8150;phone-context=x").as_deref(),
        Some("+8150")
    );
    assert_eq!(uri_user("sip:host.only"), None);
}

#[test]
fn content_length_is_digits_that_fit_or_nothing() {
    assert_eq!(content_length(" 42 "), Some(42));
    assert_eq!(content_length("18446744073709551615"), Some(usize::MAX));
    for bad in [
        "",
        "+5",
        "-5",
        "5 5",
        "0x10",
        "18446744073709551616",
        "99999999999999999999999",
    ] {
        assert_eq!(content_length(bad), None, "{bad}");
    }
}

#[test]
fn overflowing_content_length_gets_400_not_a_panic() {
    for huge in ["18446744073709551615", "18446744073709551616", "4000000000"] {
        let msg = INVITE.replace("l: 5", &format!("l: {huge}"));
        assert_eq!(
            parse(msg.as_bytes()).unwrap_err().reply.map(|r| r.0),
            Some(400),
            "{huge}"
        );
    }
}

#[test]
fn refuse_head_answers_with_the_given_code_when_it_can() {
    let head = &INVITE.as_bytes()[..INVITE.find("\r\n\r\n").unwrap()];
    assert_eq!(refuse_head(head, 413, "big").reply.map(|r| r.0), Some(413));
    // A response, or a head without Via, cannot be answered.
    assert!(
        refuse_head(b"SIP/2.0 200 OK\r\nCSeq: 1 INVITE", 413, "big")
            .reply
            .is_none()
    );
    assert!(refuse_head(b"\xff\xfe", 413, "big").reply.is_none());
}
