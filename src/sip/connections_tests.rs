use proptest::prelude::*;

use super::*;

const T: StreamTimeouts = StreamTimeouts {
    message: Duration::from_secs(10),
    idle: Duration::from_secs(600),
};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn caps_apply_per_source_and_in_total() {
    let mut t = ConnectionTable::new(ConnectionLimits {
        max_total: 3,
        max_per_source: 2,
    });
    let a = t.admit(ip("10.0.0.1")).unwrap();
    let b = t.admit(ip("10.0.0.1")).unwrap();
    assert_eq!(t.admit(ip("10.0.0.1")), Err(Refusal::PerSource));
    let c = t.admit(ip("10.0.0.2")).unwrap();
    for x in [a, b, c] {
        assert_eq!(x.evicted, None);
        t.spoke(x.id);
    }
    // Full of connections that have spoken: a newcomer is refused.
    assert_eq!(t.admit(ip("10.0.0.3")), Err(Refusal::Total));
    t.release(a.id);
    t.release(a.id); // released twice (evicted, then its task ended): counted once
    assert_eq!(t.from_source(ip("10.0.0.1")), 1);
    assert!(t.admit(ip("10.0.0.3")).is_ok());
    assert_eq!(t.total(), 3);
}

#[test]
fn at_the_total_cap_a_newcomer_displaces_the_oldest_silent_connection() {
    let mut t = ConnectionTable::new(ConnectionLimits {
        max_total: 3,
        max_per_source: 3,
    });
    let peer = t.admit(ip("10.0.0.1")).unwrap();
    t.spoke(peer.id);
    let s1 = t.admit(ip("10.0.0.9")).unwrap();
    let s2 = t.admit(ip("10.0.0.9")).unwrap();
    // The peer that spoke keeps its place; the oldest silent one goes.
    let n = t.admit(ip("10.0.0.2")).unwrap();
    assert_eq!(n.evicted, Some(s1.id));
    assert_eq!(t.from_source(ip("10.0.0.9")), 1);
    let m = t.admit(ip("10.0.0.3")).unwrap();
    assert_eq!(m.evicted, Some(s2.id));
    assert_eq!(t.total(), 3);
    // A source at its own cap is refused before anyone is displaced.
    t.spoke(n.id);
    t.spoke(m.id);
    let mut u = ConnectionTable::new(ConnectionLimits {
        max_total: 2,
        max_per_source: 1,
    });
    let only = u.admit(ip("10.0.0.5")).unwrap();
    assert_eq!(u.admit(ip("10.0.0.5")), Err(Refusal::PerSource));
    assert!(u.admit(ip("10.0.0.6")).is_ok());
    assert_eq!(
        u.admit(ip("10.0.0.7")).map(|a| a.evicted),
        Ok(Some(only.id))
    );
}

#[test]
fn ipv6_sources_are_counted_per_64_and_mapped_v4_as_v4() {
    assert_eq!(source_of(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
    assert_eq!(source_of(ip("2001:db8:1:2:ffff::9")), ip("2001:db8:1:2::"));
    assert_eq!(source_of(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
}

#[test]
fn accepted_connection_must_deliver_its_first_message_in_time() {
    let t0 = Instant::now();
    let mut c = ConnectionClock::new(t0, T, true);
    assert_eq!(c.deadline(), t0 + T.message);
    // Keep-alives alone do not count as a message.
    c.on_bytes(t0 + Duration::from_secs(5), false, 0);
    assert_eq!(
        c.expired(t0 + Duration::from_secs(10)),
        Some("message not complete in time")
    );
    // A connection we opened (to the trunk) only idles out.
    let ours = ConnectionClock::new(t0, T, false);
    assert_eq!(ours.deadline(), t0 + T.idle);
}

#[test]
fn trickled_header_closes_at_the_message_deadline_whatever_arrives() {
    let t0 = Instant::now();
    let mut c = ConnectionClock::new(t0, T, true);
    c.on_bytes(t0, false, 1); // one message delivered: idle rules now
    assert_eq!(c.deadline(), t0 + T.idle);
    let begun = t0 + Duration::from_secs(60);
    c.on_bytes(begun, true, 0);
    for s in 1..10 {
        c.on_bytes(begun + Duration::from_secs(s), true, 0);
        assert_eq!(c.expired(begun + Duration::from_secs(s)), None);
    }
    assert_eq!(c.deadline(), begun + T.message);
    assert!(c.expired(begun + T.message).is_some());
}

#[test]
fn idle_connection_closes_after_the_idle_timeout() {
    let t0 = Instant::now();
    let mut c = ConnectionClock::new(t0, T, true);
    c.on_bytes(t0, false, 1);
    assert_eq!(c.expired(t0 + T.idle - Duration::from_millis(1)), None);
    assert_eq!(c.expired(t0 + T.idle), Some("idle"));
}

#[test]
fn accept_backs_off_only_on_resource_errors_and_resets() {
    let mut b = AcceptBackoff::default();
    let emfile = std::io::Error::from_raw_os_error(libc::EMFILE);
    let aborted = std::io::Error::from_raw_os_error(libc::ECONNABORTED);
    assert_eq!(b.on_error(&aborted), Duration::ZERO);
    let waits: Vec<Duration> = (0..10).map(|_| b.on_error(&emfile)).collect();
    assert_eq!(waits[0], BACKOFF_MIN);
    assert!(waits.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(*waits.last().unwrap(), BACKOFF_MAX);
    b.on_success();
    assert_eq!(b.on_error(&emfile), BACKOFF_MIN);
}

proptest! {
    /// Whatever order connections come, speak and go in, the table's counts match what
    /// is open, neither cap is ever exceeded, and only the oldest silent connection is
    /// ever displaced, only when the table is full.
    #[test]
    fn table_counts_match_open_connections(
        ops in prop::collection::vec((0u8..3, 0u8..6, any::<prop::sample::Index>()), 0..300),
        max_total in 1usize..20,
        max_per_source in 1usize..8,
    ) {
        let mut t = ConnectionTable::new(ConnectionLimits { max_total, max_per_source });
        // (id, source, spoke), oldest first.
        let mut open: Vec<(ConnectionId, IpAddr, bool)> = Vec::new();
        for (op, host, pick) in ops {
            let addr = IpAddr::from([10, 0, 0, host]);
            match op {
                0 => {
                    let full = open.len() >= max_total;
                    let oldest_silent = open.iter().find(|c| !c.2).map(|c| c.0);
                    match t.admit(addr) {
                        Ok(a) => {
                            prop_assert_eq!(a.evicted, if full { oldest_silent } else { None });
                            open.retain(|c| Some(c.0) != a.evicted);
                            open.push((a.id, addr, false));
                        }
                        Err(Refusal::Total) => {
                            prop_assert!(full && oldest_silent.is_none());
                        }
                        Err(Refusal::PerSource) => {
                            let held = open.iter().filter(|c| c.1 == addr).count();
                            prop_assert!(held >= max_per_source);
                        }
                    }
                }
                1 if !open.is_empty() => {
                    let (id, ..) = open.remove(pick.index(open.len()));
                    t.release(id);
                }
                2 if !open.is_empty() => {
                    let i = pick.index(open.len());
                    open[i].2 = true;
                    t.spoke(open[i].0);
                }
                _ => {}
            }
            prop_assert_eq!(t.total(), open.len());
            prop_assert!(t.total() <= max_total);
            for (_, a, _) in &open {
                let n = open.iter().filter(|c| c.1 == *a).count();
                prop_assert_eq!(t.from_source(*a), n);
                prop_assert!(n <= max_per_source);
            }
        }
    }

    /// The deadline is never later than the message deadline of a message in progress,
    /// nor than the idle deadline, and `expired` agrees with it.
    #[test]
    fn clock_deadline_bounds_every_wait(
        steps in prop::collection::vec((0u64..20_000, any::<bool>(), 0usize..3), 0..50),
        accepted in any::<bool>(),
    ) {
        let t0 = Instant::now();
        let mut c = ConnectionClock::new(t0, T, accepted);
        let mut now = t0;
        let mut begun: Option<Instant> = accepted.then_some(t0);
        let mut delivered_any = !accepted;
        for (ms, in_message, delivered) in steps {
            now += Duration::from_millis(ms);
            if c.expired(now).is_some() {
                prop_assert!(now >= c.deadline());
                break;
            }
            prop_assert!(now < c.deadline());
            c.on_bytes(now, in_message, delivered);
            delivered_any |= delivered > 0;
            if delivered > 0 { begun = None; }
            if in_message { begun.get_or_insert(now); } else if delivered_any { begun = None; }
            prop_assert!(c.deadline() <= now + T.idle);
            if let Some(b) = begun {
                prop_assert!(c.deadline() <= b + T.message);
            }
        }
    }
}
