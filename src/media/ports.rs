//! RTP ports from the configured range: one even port per call (RTP convention; the odd one
//! above is left for RTCP), bound at allocation and released when the lease drops, so every
//! path, failures included, gives the port back.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex, PoisonError};

#[derive(Debug, thiserror::Error)]
pub enum PortError {
    #[error("RTP port range {0:?} is not LOW-HIGH with LOW <= HIGH")]
    BadRange(String),
    #[error("no free RTP port in {low}-{high}")]
    Exhausted { low: u16, high: u16 },
}

#[derive(Debug)]
struct PoolState {
    low: u16,
    high: u16,
    /// Where the next search starts, so freed ports rest before reuse.
    next: u16,
    in_use: Vec<bool>,
}

/// Shared allocator of even UDP ports in `low..=high`.
#[derive(Debug, Clone)]
pub struct RtpPortPool {
    state: Arc<Mutex<PoolState>>,
}

/// A bound port; dropping it returns the port to the pool.
#[derive(Debug)]
pub struct PortLease {
    port: u16,
    state: Arc<Mutex<PoolState>>,
}

impl PortLease {
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for PortLease {
    fn drop(&mut self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let index = usize::from((self.port - state.low) / 2);
        if let Some(slot) = state.in_use.get_mut(index) {
            *slot = false;
        }
    }
}

impl RtpPortPool {
    pub fn new(low: u16, high: u16) -> Result<Self, PortError> {
        let low = low + low % 2;
        if low > high {
            return Err(PortError::BadRange(format!("{low}-{high}")));
        }
        let count = usize::from((high - low) / 2) + 1;
        Ok(Self {
            state: Arc::new(Mutex::new(PoolState {
                low,
                high,
                next: low,
                in_use: vec![false; count],
            })),
        })
    }

    /// Parses the config form `LOW-HIGH` (inclusive), e.g. `20000-29999`.
    pub fn parse(range: &str) -> Result<Self, PortError> {
        let bad = || PortError::BadRange(range.to_owned());
        let (low, high) = range.split_once('-').ok_or_else(bad)?;
        let low = low.trim().parse::<u16>().map_err(|_| bad())?;
        let high = high.trim().parse::<u16>().map_err(|_| bad())?;
        Self::new(low, high).map_err(|_| bad())
    }

    /// Binds a non-blocking UDP socket on `ip` at a free even port of the range. Ports another
    /// process holds are skipped.
    pub fn bind(&self, ip: IpAddr) -> Result<(UdpSocket, PortLease), PortError> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let count = state.in_use.len();
        let start = usize::from((state.next - state.low) / 2);
        for step in 0..count {
            let index = (start + step) % count;
            if state.in_use[index] {
                continue;
            }
            let port = state.low + (index as u16) * 2;
            let Ok(socket) = UdpSocket::bind(SocketAddr::new(ip, port)) else {
                continue;
            };
            if socket.set_nonblocking(true).is_err() {
                continue;
            }
            state.in_use[index] = true;
            state.next = state.low + (((index + 1) % count) as u16) * 2;
            let lease = PortLease {
                port,
                state: Arc::clone(&self.state),
            };
            return Ok((socket, lease));
        }
        Err(PortError::Exhausted {
            low: state.low,
            high: state.high,
        })
    }

    /// Ports currently leased.
    pub fn in_use(&self) -> usize {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.in_use.iter().filter(|u| **u).count()
    }
}

/// Raises the open-file limit to its hard maximum, since every call holds one RTP socket;
/// returns the limit now in force.
pub fn raise_open_file_limit() -> Option<u64> {
    // SAFETY: get/setrlimit on a struct we own.
    unsafe {
        let mut rl: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) != 0 {
            return None;
        }
        if rl.rlim_cur < rl.rlim_max {
            rl.rlim_cur = rl.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &rl) != 0 {
                return None;
            }
        }
        Some(rl.rlim_cur)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn ranges_parse_and_bad_ones_are_refused() {
        assert!(RtpPortPool::parse("20000-29999").is_ok());
        for bad in ["", "20000", "30000-20000", "a-b", "20000-70000"] {
            let err = RtpPortPool::parse(bad).unwrap_err();
            assert!(err.to_string().contains(bad), "{err}");
        }
    }

    #[test]
    fn leases_are_even_distinct_and_come_back_on_drop() {
        let pool = RtpPortPool::new(47101, 47110).unwrap(); // even ports 47102..=47110: five
        let mut leases = Vec::new();
        while let Ok((socket, lease)) = pool.bind(LOCAL) {
            assert_eq!(socket.local_addr().unwrap().port(), lease.port());
            assert_eq!(lease.port() % 2, 0);
            leases.push((socket, lease));
        }
        let busy = pool.in_use();
        assert!(
            (3..=5).contains(&busy),
            "some ports may be taken by others: {busy}"
        );
        assert!(matches!(pool.bind(LOCAL), Err(PortError::Exhausted { .. })));
        let freed = leases.pop().unwrap().1.port();
        assert_eq!(pool.in_use(), busy - 1);
        let (_s, again) = pool.bind(LOCAL).unwrap();
        assert_eq!(again.port(), freed);
    }

    #[test]
    fn a_port_held_elsewhere_is_skipped() {
        let holder = UdpSocket::bind((LOCAL, 47120)).unwrap();
        let pool = RtpPortPool::new(47120, 47122).unwrap();
        let (_s, lease) = pool.bind(LOCAL).unwrap();
        assert_eq!(lease.port(), 47122);
        drop(holder);
    }
}
