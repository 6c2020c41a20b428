//! The client's address, for throttling logins per source: the socket's peer, or, when the
//! peer is a configured trusted reverse proxy, the address its `X-Forwarded-For` names.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;

use super::AdminState;

/// Where a request came from; `None` when the server was started without peer addresses
/// (the router used in-process, as tests do).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub Option<IpAddr>);

impl FromRequestParts<AdminState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AdminState,
    ) -> Result<ClientAddr, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        Ok(ClientAddr(peer.map(|p| {
            client_ip(p, &parts.headers, &state.trusted_proxies)
        })))
    }
}

/// The client behind `peer`. `X-Forwarded-For` is read only when `peer` is a trusted proxy,
/// from the right (each proxy appends the address it saw): the first hop that is not itself
/// a trusted proxy is the client. A hop that does not parse ends the walk at the proxy
/// before it, so a forged or garbled header can never name an address of its choosing
/// beyond what a trusted proxy vouched for.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.contains(&canonical(*ip));
    if !is_trusted(&peer) {
        return canonical(peer);
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = canonical(peer);
    for hop in hops.iter().rev() {
        let Ok(ip) = hop.parse::<IpAddr>() else {
            break;
        };
        client = canonical(ip);
        if !is_trusted(&client) {
            break;
        }
    }
    client
}

/// IPv4-mapped IPv6 (`::ffff:a.b.c.d`, as a dual-stack socket reports IPv4 peers) as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let h = xff(&["203.0.113.9"]);
        assert_eq!(client_ip(ip("198.51.100.7"), &h, &[]), ip("198.51.100.7"));
        assert_eq!(
            client_ip(ip("198.51.100.7"), &h, &[ip("10.0.0.1")]),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn a_trusted_proxy_names_the_client_rightmost_untrusted_hop_wins() {
        let proxies = [ip("10.0.0.1"), ip("10.0.0.2")];
        // The client forged a first entry; the proxies appended what they saw.
        let h = xff(&["1.2.3.4, 203.0.113.9", "10.0.0.2"]);
        assert_eq!(client_ip(ip("10.0.0.1"), &h, &proxies), ip("203.0.113.9"));
        // No header: the proxy itself.
        assert_eq!(
            client_ip(ip("10.0.0.1"), &HeaderMap::new(), &proxies),
            ip("10.0.0.1")
        );
        // Garbage stops the walk at the last trusted hop.
        let h = xff(&["203.0.113.9, not-an-ip"]);
        assert_eq!(client_ip(ip("10.0.0.1"), &h, &proxies), ip("10.0.0.1"));
    }

    #[test]
    fn ipv4_mapped_peers_are_ipv4() {
        assert_eq!(
            client_ip(
                ip("::ffff:10.0.0.1"),
                &xff(&["203.0.113.9"]),
                &[ip("10.0.0.1")]
            ),
            ip("203.0.113.9")
        );
    }
}
