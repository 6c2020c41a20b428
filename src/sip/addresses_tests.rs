use std::net::{IpAddr, Ipv4Addr};

use proptest::prelude::*;

use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn nets() -> Vec<Cidr> {
    Cidr::private_and_loopback()
}

#[test]
fn a_specific_listen_address_is_named_as_is() {
    let got = advertised_ip(ip("192.168.1.5"), ip("192.168.1.9"), None, None, &nets());
    assert_eq!(got, ip("192.168.1.5"));
}

#[test]
fn listening_everywhere_names_the_interface_toward_the_peer() {
    let any = ip("0.0.0.0");
    let got = advertised_ip(any, ip("10.1.2.3"), Some(ip("10.1.2.1")), None, &nets());
    assert_eq!(got, ip("10.1.2.1"));
    let lo = advertised_ip(any, ip("127.0.0.1"), Some(ip("127.0.0.1")), None, &nets());
    assert_eq!(lo, ip("127.0.0.1"));
}

#[test]
fn the_public_address_goes_only_to_peers_outside_local_nets() {
    let public = Some(ip("198.18.0.1"));
    let any = ip("0.0.0.0");
    let lan = Some(ip("192.168.77.2"));
    assert_eq!(
        advertised_ip(any, ip("198.18.0.2"), lan, public, &nets()),
        ip("198.18.0.1")
    );
    assert_eq!(
        advertised_ip(any, ip("192.168.77.9"), lan, public, &nets()),
        ip("192.168.77.2")
    );
    // A dual-stack socket reports IPv4 peers as mapped IPv6 addresses.
    assert_eq!(
        advertised_ip(ip("::"), ip("::ffff:192.168.77.9"), lan, public, &nets()),
        ip("192.168.77.2")
    );
}

#[test]
fn a_loopback_route_is_never_named_to_a_remote_peer() {
    let got = advertised_ip(
        ip("0.0.0.0"),
        ip("203.0.113.5"),
        Some(ip("127.0.0.1")),
        Some(ip("198.51.100.7")),
        &[],
    );
    assert_eq!(got, ip("198.51.100.7"));
}

#[test]
fn warns_when_behind_nat_without_a_public_address() {
    let any = ip("0.0.0.0");
    let w = config_warnings(any, None, &nets(), Some(ip("198.18.0.2")));
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("public_address"));
    assert!(
        config_warnings(any, Some(ip("198.18.0.1")), &nets(), Some(ip("198.18.0.2"))).is_empty()
    );
    assert!(config_warnings(any, None, &nets(), Some(ip("10.0.0.1"))).is_empty());
    let lo = config_warnings(ip("127.0.0.1"), None, &nets(), Some(ip("10.0.0.1")));
    assert!(lo[0].contains("loopback"), "{lo:?}");
    // A host with its own public address needs no NAT setting.
    assert!(config_warnings(ip("203.0.113.4"), None, &nets(), Some(ip("198.18.0.2"))).is_empty());
}

#[test]
fn the_kernel_names_loopback_toward_loopback() {
    let routes = KernelRoutes::default();
    assert_eq!(
        routes.local_ip_toward(ip("127.0.0.1")),
        Some(ip("127.0.0.1"))
    );
}

fn any_ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|o| IpAddr::V4(Ipv4Addr::from(o))),
        // Loopback and private addresses are rare at random; make them common.
        (0u8..=255).prop_map(|b| ip(&format!("127.0.0.{b}"))),
        (0u8..=255).prop_map(|b| ip(&format!("192.168.1.{b}"))),
        Just(ip("0.0.0.0")),
    ]
}

proptest! {
    /// Listening everywhere with a known route, the answer is never 0.0.0.0 and never a
    /// loopback address for a peer that is not on loopback.
    #[test]
    fn never_unspecified_nor_loopback_to_a_remote_peer(
        peer in any_ip(),
        route in proptest::option::of(any_ip()),
        public in proptest::option::of(any_ip()),
    ) {
        prop_assume!(!peer.is_unspecified());
        prop_assume!(public.is_none_or(|p| !p.is_unspecified() && !p.is_loopback()));
        let got = advertised_ip(ip("0.0.0.0"), peer, route, public, &nets());
        prop_assert!(!got.is_unspecified(), "{got}");
        if !peer.is_loopback() && route.is_some_and(|r| !r.is_unspecified() && !r.is_loopback()) {
            prop_assert!(!got.is_loopback(), "{got} for {peer}");
        }
        if let Some(p) = public && !Cidr::any_contains(&nets(), peer) {
            prop_assert_eq!(got, p);
        }
    }

    /// A specific listen address is named to every local peer, whatever the route says.
    #[test]
    fn a_bound_address_wins_for_local_peers(
        last in 1u8..=254,
        route in proptest::option::of(any_ip()),
        public in proptest::option::of(any_ip()),
    ) {
        let listen = ip("192.168.1.1");
        let peer = ip(&format!("192.168.1.{last}"));
        prop_assert_eq!(advertised_ip(listen, peer, route, public, &nets()), listen);
    }
}
