//! Which of our addresses a message names (Via sent-by, Contact, SDP `o=`/`c=`), per peer.
//!
//! Listening on every interface (`0.0.0.0` or `::`) is the usual server setting, but
//! "every interface" is not an address a peer can send to: each message must name the
//! interface that reaches that peer, or, for peers outside `sip.local_nets`, the
//! `sip.public_address` a NAT maps to us. The decision is [`advertised_ip`], a pure
//! function; the one piece of I/O, asking the kernel which local address routes toward a
//! peer, sits behind [`RouteLookup`] so the core stays sans-IO in tests.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use super::core::{Peer, TransportKind};
use crate::cidr::Cidr;

/// The address to write in a message for `peer`.
///
/// - `listen`: the address we are bound to (SIP's listen address, or the RTP socket's);
/// - `route_local`: the local address the kernel picks toward `peer`, if known;
/// - `public`/`local_nets`: `sip.public_address` is named to peers outside `local_nets`.
///
/// Never returns an unspecified address, nor a loopback one to a peer that is not on
/// loopback, when `route_local` is known.
pub fn advertised_ip(
    listen: IpAddr,
    peer: IpAddr,
    route_local: Option<IpAddr>,
    public: Option<IpAddr>,
    local_nets: &[Cidr],
) -> IpAddr {
    let peer = peer.to_canonical();
    if let Some(public) = public
        && !Cidr::any_contains(local_nets, peer)
    {
        return public;
    }
    if !listen.is_unspecified() {
        return listen;
    }
    match route_local.map(|ip| ip.to_canonical()) {
        Some(ip) if !ip.is_unspecified() && (!ip.is_loopback() || peer.is_loopback()) => ip,
        // No route (the message cannot leave anyway) or a nonsensical one: the peer's own
        // family's loopback for a loopback peer, else the public address if any.
        _ if peer.is_loopback() => loopback_like(peer),
        _ => public.unwrap_or_else(|| loopback_like(peer)),
    }
}

fn loopback_like(peer: IpAddr) -> IpAddr {
    match peer {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
    }
}

/// What may go wrong with an address configuration, found at start-up (warnings, not
/// refusals: the operator may know better, e.g. a trunk reached through a VPN).
pub fn config_warnings(
    listen: IpAddr,
    public: Option<IpAddr>,
    local_nets: &[Cidr],
    trunk: Option<IpAddr>,
) -> Vec<String> {
    let mut out = Vec::new();
    let Some(trunk) = trunk.map(|t| t.to_canonical()) else {
        return out;
    };
    let trunk_is_local = Cidr::any_contains(local_nets, trunk);
    if listen.is_loopback() && !trunk.is_loopback() {
        out.push(format!(
            "sip.listen is on loopback ({listen}) but the trunk is at {trunk}: the trunk \
             cannot reach us; listen on 0.0.0.0 or on the interface toward the trunk"
        ));
    } else if public.is_none()
        && !trunk_is_local
        && (listen.is_unspecified() || Cidr::any_contains(local_nets, listen))
    {
        out.push(format!(
            "the trunk ({trunk}) is outside sip.local_nets and no sip.public_address is set: \
             if this host is behind NAT the trunk will see private addresses in Contact/SDP \
             and calls will have no audio; set sip.public_address to the NAT's public IP, \
             or add the trunk's network to sip.local_nets if it is reached without NAT"
        ));
    }
    out
}

/// The local address the kernel would send from toward a peer.
pub trait RouteLookup: Send {
    fn local_ip_toward(&self, peer: IpAddr) -> Option<IpAddr>;
}

/// Asks the kernel with a connected UDP socket (no packet is sent), cached per
/// destination for a minute; the cache is bounded so a flood of sources cannot grow it.
#[derive(Debug, Default)]
pub struct KernelRoutes {
    cache: RefCell<HashMap<IpAddr, (Option<IpAddr>, Instant)>>,
}

const ROUTE_TTL: Duration = Duration::from_secs(60);
const ROUTE_CACHE_MAX: usize = 4096;

impl RouteLookup for KernelRoutes {
    fn local_ip_toward(&self, peer: IpAddr) -> Option<IpAddr> {
        let now = Instant::now();
        let mut cache = self.cache.borrow_mut();
        if let Some((ip, at)) = cache.get(&peer)
            && now.duration_since(*at) < ROUTE_TTL
        {
            return *ip;
        }
        if cache.len() >= ROUTE_CACHE_MAX {
            cache.retain(|_, (_, at)| now.duration_since(*at) < ROUTE_TTL);
            if cache.len() >= ROUTE_CACHE_MAX {
                cache.clear();
            }
        }
        let ip = ask_kernel(peer);
        cache.insert(peer, (ip, now));
        ip
    }
}

fn ask_kernel(peer: IpAddr) -> Option<IpAddr> {
    let any: IpAddr = match peer {
        IpAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        IpAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let socket = UdpSocket::bind(SocketAddr::new(any, 0)).ok()?;
    // The port is irrelevant: connect() on UDP only picks a route.
    socket.connect(SocketAddr::new(peer, 9)).ok()?;
    Some(socket.local_addr().ok()?.ip())
}

/// How we name ourselves: the bound SIP address, the NAT settings and the route lookup.
/// Owned by the core.
pub struct Advertiser {
    listen: SocketAddr,
    public: Option<IpAddr>,
    local_nets: Vec<Cidr>,
    routes: Box<dyn RouteLookup>,
}

impl Advertiser {
    pub fn new(
        listen: SocketAddr,
        public: Option<IpAddr>,
        local_nets: Vec<Cidr>,
        routes: Box<dyn RouteLookup>,
    ) -> Self {
        Self {
            listen,
            public,
            local_nets,
            routes,
        }
    }

    /// No NAT settings: the bound address, or the route's, as it is.
    pub fn plain(listen: SocketAddr) -> Self {
        Self::new(
            listen,
            None,
            Cidr::private_and_loopback(),
            Box::new(KernelRoutes::default()),
        )
    }

    /// SIP's `host:port` for messages to `peer` (Via sent-by, Contact).
    pub fn sip_addr(&self, peer: IpAddr) -> SocketAddr {
        SocketAddr::new(self.ip_for(self.listen.ip(), peer), self.listen.port())
    }

    /// The RTP address to put in SDP for `peer`, given where the media socket is bound.
    pub fn rtp_addr(&self, bound: SocketAddr, peer: IpAddr) -> SocketAddr {
        SocketAddr::new(self.ip_for(bound.ip(), peer), bound.port())
    }

    /// `SIP/2.0/UDP host:port;branch=...;rport` for a request we send to `peer`.
    pub(crate) fn via(&self, peer: Peer, branch: &str) -> String {
        format!(
            "SIP/2.0/{} {};branch={branch};rport",
            peer.transport.via_name(),
            self.sip_addr(peer.addr.ip())
        )
    }

    /// Our Contact for `user`, as `peer` should reach us.
    pub(crate) fn contact(&self, user: &str, peer: Peer) -> String {
        let at = self.sip_addr(peer.addr.ip());
        match peer.transport {
            TransportKind::Udp => format!("<sip:{user}@{at}>"),
            TransportKind::Tcp => format!("<sip:{user}@{at};transport=tcp>"),
        }
    }

    fn ip_for(&self, bound: IpAddr, peer: IpAddr) -> IpAddr {
        let peer = peer.to_canonical();
        let route = if bound.is_unspecified() {
            self.routes.local_ip_toward(peer)
        } else {
            None
        };
        advertised_ip(bound, peer, route, self.public, &self.local_nets)
    }
}

#[cfg(test)]
#[path = "addresses_tests.rs"]
mod tests;
