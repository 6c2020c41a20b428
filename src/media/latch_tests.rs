use super::*;
use proptest::prelude::*;

const MS: Duration = Duration::from_millis(1);

fn addr(ip: u8, port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, ip], port))
}

fn sdp() -> SocketAddr {
    addr(1, 4000)
}

fn stranger() -> SocketAddr {
    addr(2, 5000)
}

fn latch(t0: Instant) -> RtpLatch {
    RtpLatch::new(LatchConfig::default(), sdp(), t0)
}

#[test]
fn the_signalled_source_is_accepted_at_once_whatever_its_ssrc() {
    let t0 = Instant::now();
    let mut l = latch(t0);
    assert_eq!(l.check(t0, sdp(), 7, 100), Ok(()));
    assert_eq!(l.check(t0 + 20 * MS, sdp(), 8, 5), Ok(()));
    assert_eq!(l.source(), Some(sdp()));
}

#[test]
fn a_stranger_is_refused_while_the_signalled_source_talks() {
    let t0 = Instant::now();
    let mut l = latch(t0);
    let mut t = t0;
    for seq in 0..500u16 {
        t += 20 * MS;
        assert_eq!(l.check(t, sdp(), 7, seq), Ok(()));
        assert_eq!(
            l.check(t, stranger(), 9, seq),
            Err(Refusal::SourceActive),
            "packet {seq}"
        );
    }
    assert_eq!(l.source(), Some(sdp()));
}

#[test]
fn the_session_start_counts_as_activity_so_a_stranger_cannot_race_the_caller() {
    let t0 = Instant::now();
    let mut l = latch(t0);
    for seq in 0..50u16 {
        let t = t0 + MS * u32::from(seq) * 20;
        if t - t0 >= LatchConfig::default().quiet {
            break;
        }
        assert_eq!(l.check(t, stranger(), 9, seq), Err(Refusal::SourceActive));
    }
}

#[test]
fn a_nat_peer_latches_after_probation_once_the_signalled_address_stays_silent() {
    let t0 = Instant::now();
    let mut l = latch(t0);
    let t = t0 + LatchConfig::default().quiet;
    assert_eq!(l.check(t, stranger(), 9, 10), Err(Refusal::Probation));
    assert_eq!(l.check(t, stranger(), 9, 11), Err(Refusal::Probation));
    assert_eq!(l.check(t, stranger(), 9, 12), Err(Refusal::Probation));
    assert_eq!(l.check(t, stranger(), 9, 13), Ok(()));
    assert_eq!(l.source(), Some(stranger()));
    // Now it is the current source: a third party must wait for it to fall silent.
    assert_eq!(
        l.check(t + MS, addr(3, 6000), 1, 1),
        Err(Refusal::SourceActive)
    );
    // The signalled source is still trusted and takes the stream back at once.
    assert_eq!(l.check(t + 2 * MS, sdp(), 7, 1), Ok(()));
    assert_eq!(l.source(), Some(sdp()));
}

#[test]
fn probation_needs_consecutive_sequence_numbers_of_one_ssrc() {
    let t0 = Instant::now();
    let mut l = latch(t0);
    let t = t0 + Duration::from_secs(5);
    for (ssrc, seq) in [(9, 1), (9, 2), (9, 4), (9, 5), (10, 6), (9, 7), (9, 8)] {
        assert_eq!(l.check(t, stranger(), ssrc, seq), Err(Refusal::Probation));
    }
    assert_eq!(l.check(t, stranger(), 9, 9), Err(Refusal::Probation));
    assert_eq!(
        l.check(t, stranger(), 9, 10),
        Ok(()),
        "7, 8, 9, 10 in a row"
    );
}

#[test]
fn competing_sources_keep_each_other_on_probation() {
    let t0 = Instant::now();
    let mut l = latch(t0);
    let t = t0 + Duration::from_secs(5);
    for seq in 0..100u16 {
        assert!(l.check(t, stranger(), 9, seq).is_err());
        assert!(l.check(t, addr(3, 6000), 11, seq).is_err());
    }
    assert_eq!(l.source(), None);
}

#[test]
fn an_ssrc_change_on_the_latched_address_relatches_through_probation() {
    let t0 = Instant::now();
    let mut l = RtpLatch::new(LatchConfig::default(), addr(1, 1), t0); // SDP names nothing that sends
    let t = t0 + Duration::from_secs(3);
    for seq in 0..4 {
        let _ = l.check(t, stranger(), 9, seq);
    }
    assert_eq!(l.source(), Some(stranger()));
    // Same address, new SSRC (the phone restarted its stream): no quiet time needed.
    for seq in 0..3 {
        assert_eq!(
            l.check(t + MS, stranger(), 10, seq),
            Err(Refusal::Probation)
        );
    }
    assert_eq!(l.check(t + MS, stranger(), 10, 3), Ok(()));
    // The old SSRC is now a foreigner.
    assert_eq!(l.check(t + MS, stranger(), 9, 4), Err(Refusal::Probation));
}

#[test]
fn a_move_relatches_after_the_old_source_falls_silent() {
    let t0 = Instant::now();
    let mut l = latch(t0);
    assert_eq!(l.check(t0, sdp(), 7, 1), Ok(()));
    let moved = addr(1, 4100);
    assert_eq!(l.check(t0 + MS, moved, 7, 2), Err(Refusal::SourceActive));
    let later = t0 + LatchConfig::default().quiet;
    for seq in 3..6 {
        assert_eq!(l.check(later, moved, 7, seq), Err(Refusal::Probation));
    }
    assert_eq!(l.check(later, moved, 7, 6), Ok(()));
    assert_eq!(l.source(), Some(moved));
}

#[test]
fn new_sdp_trusts_the_new_address_and_forgets_what_was_learnt() {
    let t0 = Instant::now();
    let mut l = latch(t0);
    assert_eq!(l.check(t0, sdp(), 7, 1), Ok(()));
    let new = addr(1, 4200);
    l.resignal(new, t0 + MS);
    assert_eq!(l.check(t0 + MS, new, 8, 1), Ok(()));
    assert_eq!(
        l.check(t0 + 2 * MS, sdp(), 7, 2),
        Err(Refusal::SourceActive)
    );
}

#[test]
fn hold_addresses_name_no_trusted_source() {
    let t0 = Instant::now();
    let mut l = RtpLatch::new(
        LatchConfig::default(),
        SocketAddr::from(([0, 0, 0, 0], 4000)),
        t0,
    );
    let zero = SocketAddr::from(([0, 0, 0, 0], 4000));
    assert_eq!(l.check(t0, zero, 1, 1), Err(Refusal::SourceActive));
}

#[test]
fn probation_of_one_accepts_the_first_packet_of_a_quiet_call() {
    let t0 = Instant::now();
    let config = LatchConfig {
        probation: 1,
        ..LatchConfig::default()
    };
    let mut l = RtpLatch::new(config, sdp(), t0);
    assert_eq!(l.check(t0 + config.quiet, stranger(), 1, 1), Ok(()));
}

/// One packet of an arbitrary interleaving: who sends, after how long, with what header.
#[derive(Debug, Clone)]
struct Packet {
    sender: u8, // 0 = the signalled address, 1..=3 strangers
    gap_ms: u16,
    ssrc: u32,
    seq: u16,
}

fn packets() -> impl Strategy<Value = Vec<Packet>> {
    prop::collection::vec(
        (0u8..4, 0u16..3000, 0u32..3, any::<u16>()).prop_map(|(sender, gap_ms, ssrc, seq)| {
            Packet {
                sender,
                gap_ms,
                ssrc,
                seq,
            }
        }),
        0..200,
    )
}

fn source_of(sender: u8) -> SocketAddr {
    if sender == 0 {
        sdp()
    } else {
        addr(1 + sender, 5000)
    }
}

proptest! {
    /// Whatever arrives, in whatever order: the signalled source is never refused; another
    /// source is accepted only if the current one was quiet for `quiet` before its probation
    /// began (or it is the current address), and only after `probation` consecutive packets.
    #[test]
    fn invariants_hold_for_any_interleaving(stream in packets(), probation in 1u16..6) {
        let config = LatchConfig { probation, quiet: Duration::from_secs(2) };
        let t0 = Instant::now();
        let mut l = RtpLatch::new(config, sdp(), t0);
        let mut t = t0;
        // Per stranger: the run of consecutive packets of one SSRC it has sent so far.
        let mut last_signalled = t0;
        let mut run: Option<(SocketAddr, u32, u16, u16)> = None;
        for p in stream {
            t += MS * u32::from(p.gap_ms);
            let from = source_of(p.sender);
            let before = l.source();
            let verdict = l.check(t, from, p.ssrc, p.seq);
            if p.sender == 0 {
                prop_assert_eq!(verdict, Ok(()));
                last_signalled = t;
                run = None;
                continue;
            }
            let continues = matches!(run, Some((f, s, next, _)) if f == from && s == p.ssrc && next == p.seq);
            run = match (verdict, continues) {
                (Err(Refusal::SourceActive), _) => run,
                (_, true) => run.map(|(f, s, _, n)| (f, s, p.seq.wrapping_add(1), n + 1)),
                _ => Some((from, p.ssrc, p.seq.wrapping_add(1), 1)),
            };
            if verdict.is_ok() && before != Some(from) {
                // A takeover: never while the signalled source was heard within `quiet`,
                // and only at the end of a full run.
                prop_assert!(t - last_signalled >= config.quiet);
                let n = run.map_or(0, |r| r.3);
                prop_assert!(n >= probation, "accepted after {} packets", n);
            }
            if verdict.is_ok() {
                prop_assert_eq!(l.source(), Some(from));
                run = None;
            }
        }
    }
}
