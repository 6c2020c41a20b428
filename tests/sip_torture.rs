//! RFC 4475 torture messages fed, byte for byte, through the same path the UDP transport
//! uses (`SipCore::handle_datagram`): none may panic, each valid one must parse, and each
//! gets the answer the manifest (tests/data/sip-torture/MANIFEST.md) allows.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use kenkocall::sip::SipCounters;
use kenkocall::sip::core::{CoreConfig, Output, Peer, SipCore, TransportKind};
use kenkocall::sip::wire;

/// What the manifest lets a UA answer; `Silent` = no message at all (responses, drops).
enum Expect {
    /// Must parse; any of these answers (empty = anything, even silence).
    Parses(&'static [u16]),
    /// May be refused by the reader; must get one of these answers.
    Answer(&'static [u16]),
    Silent,
    /// Not an RFC case (`test.dat`): only "does not panic".
    NoPanicOnly,
}

use Expect::*;

const CASES: &[(&str, Expect)] = &[
    // 3.1.1 valid
    // Its To carries a tag: a re-INVITE for a dialog we do not have.
    ("wsinv", Parses(&[481])),
    ("intmeth", Parses(&[501])),
    ("esc01", Parses(&[100])),
    ("escnull", Parses(&[405])),
    ("esc02", Parses(&[501])),
    ("lwsdisp", Parses(&[200])),
    ("longreq", Parses(&[100])),
    ("dblreq", Parses(&[405])),
    ("semiuri", Parses(&[200])),
    ("transports", Parses(&[200])),
    ("mpart01", Parses(&[405])),
    ("unreason", Parses(&[])),
    ("noreason", Parses(&[])),
    // 3.1.2 invalid
    ("badinv01", Answer(&[400])),
    ("clerr", Answer(&[400])),
    ("ncl", Answer(&[400])),
    ("scalar02", Answer(&[400])),
    ("scalarlg", Silent),
    ("quotbal", Answer(&[400])),
    ("ltgtruri", Answer(&[400])),
    ("lwsruri", Answer(&[400])),
    ("lwsstart", Answer(&[400])),
    ("trws", Answer(&[400])),
    ("escruri", Answer(&[400, 100])),
    ("baddate", Answer(&[400, 100])),
    ("regbadct", Answer(&[400, 405])),
    ("badaspec", Answer(&[400, 200])),
    ("baddn", Answer(&[400, 200])),
    ("badvers", Answer(&[505])),
    ("mismatch01", Answer(&[400])),
    ("mismatch02", Answer(&[400, 501])),
    ("bigcode", Silent),
    // 3.2 / 3.3 / 3.4
    ("badbranch", Parses(&[200, 400])),
    ("insuf", Answer(&[400])),
    ("unkscm", Parses(&[416])),
    ("novelsc", Parses(&[416])),
    ("unksm2", Parses(&[405])),
    ("bext01", Parses(&[420])),
    ("invut", Parses(&[415])),
    ("regaut01", Parses(&[405])),
    ("multi01", Answer(&[400])),
    ("mcl01", Answer(&[400])),
    ("bcast", Parses(&[])),
    ("zeromf", Parses(&[200])),
    ("cparam01", Parses(&[405])),
    ("cparam02", Parses(&[405])),
    ("regescrt", Parses(&[405])),
    ("sdp01", Parses(&[406])),
    ("inv2543", Parses(&[100])),
    ("test", NoPanicOnly),
];

fn data(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("tests/data/sip-torture/{name}.dat"));
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn core() -> SipCore {
    SipCore::new(
        CoreConfig {
            local: "127.0.0.1:5060".parse().unwrap(),
            // The users the torture INVITEs call, so their content is judged too.
            inbound_numbers: vec![
                "user".into(),
                "vivekg".into(),
                "UserB".into(),
                "sips:user@example.com".into(),
            ],
            max_calls: 100,
            max_unconfirmed_per_source: 100,
            ring_timeout: Duration::from_secs(45),
            trunk: None,
        },
        SipCounters::new(),
    )
}

/// Status codes of everything the core sent in reply.
fn answers(core: &mut SipCore) -> Vec<u16> {
    let mut codes = vec![];
    while let Some(out) = core.poll_output() {
        if let Output::Send { bytes, .. } = out {
            // Read only the status line: a 400 copies the request's (possibly broken) CSeq.
            let text = String::from_utf8_lossy(&bytes);
            let line = text.lines().next().unwrap_or_default().to_string();
            let code = line
                .strip_prefix("SIP/2.0 ")
                .and_then(|r| r.get(..3))
                .and_then(|c| c.parse().ok())
                .unwrap_or_else(|| panic!("torture input made us send a request: {line}"));
            codes.push(code);
        }
    }
    codes
}

#[test]
fn every_rfc4475_message_is_handled_as_the_manifest_says() {
    let peer = Peer {
        transport: TransportKind::Udp,
        addr: "192.0.2.1:5060".parse().unwrap(),
    };
    let mut failures = vec![];
    for (name, expect) in CASES {
        let bytes = data(name);
        let mut ua = core();
        ua.handle_datagram(Instant::now(), peer, &bytes);
        let got = answers(&mut ua);
        let first = got.first().copied();
        let parsed = wire::parse(&bytes);
        let ok = match expect {
            Parses(allowed) => {
                parsed.is_ok()
                    && (allowed.is_empty() || first.is_some_and(|c| allowed.contains(&c)))
            }
            Answer(allowed) => first.is_some_and(|c| allowed.contains(&c)),
            Silent => got.is_empty(),
            NoPanicOnly => true,
        };
        // One datagram, one transaction: never two final answers (dblreq's trailing INVITE).
        let finals = got.iter().filter(|c| **c >= 200).count();
        if !ok || finals > 1 {
            failures.push(format!(
                "{name}: parsed={:?} answers={got:?}",
                parsed.map(|_| ()).map_err(|e| e.reason)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_torture_message_is_also_survived_over_tcp_framing() {
    // The stream framer must not panic on them either, whatever it decides.
    for (name, _) in CASES {
        let bytes = data(name);
        let _ = wire::stream_frame(&bytes);
        for cut in [1, bytes.len() / 2, bytes.len().saturating_sub(1)] {
            let _ = wire::parse(&bytes[..cut]);
            let _ = wire::stream_frame(&bytes[..cut]);
        }
    }
}

#[test]
fn manifest_lists_every_copied_file() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/sip-torture");
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            e.ok()?
                .file_name()
                .into_string()
                .ok()?
                .strip_suffix(".dat")
                .map(str::to_string)
        })
        .collect();
    files.sort();
    let mut listed: Vec<String> = CASES.iter().map(|(n, _)| n.to_string()).collect();
    listed.sort();
    assert_eq!(files, listed);
}
