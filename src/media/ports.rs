//! RTP ports from the configured range: one even port per call (RTP convention; the odd one
//! above is left for RTCP), picked at random so the next call's port cannot be guessed from
//! this one's, bound at allocation and released when the lease drops, so every path,
//! failures included, gives the port back. The random source is injected (tests seed it).

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex, PoisonError};

use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};

#[derive(Debug, thiserror::Error)]
pub enum PortError {
    #[error("RTP port range {0:?} is not LOW-HIGH with LOW <= HIGH")]
    BadRange(String),
    #[error("no free RTP port in {low}-{high}")]
    Exhausted { low: u16, high: u16 },
}

/// Random picks tried before a scan from a random start (when the range is nearly full).
const RANDOM_TRIES: usize = 8;

struct PoolState {
    low: u16,
    high: u16,
    in_use: Vec<bool>,
    rng: Box<dyn RngCore + Send>,
}

impl std::fmt::Debug for PoolState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolState")
            .field("low", &self.low)
            .field("high", &self.high)
            .finish_non_exhaustive()
    }
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
    /// A pool drawing ports with an OS-seeded random generator.
    pub fn new(low: u16, high: u16) -> Result<Self, PortError> {
        Self::with_rng(low, high, Box::new(StdRng::from_os_rng()))
    }

    /// A pool drawing ports from `rng` (seeded in tests, for reproducible order).
    pub fn with_rng(low: u16, high: u16, rng: Box<dyn RngCore + Send>) -> Result<Self, PortError> {
        let low = low.saturating_add(low % 2);
        if low > high {
            return Err(PortError::BadRange(format!("{low}-{high}")));
        }
        let count = usize::from((high - low) / 2) + 1;
        Ok(Self {
            state: Arc::new(Mutex::new(PoolState {
                low,
                high,
                in_use: vec![false; count],
                rng,
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

    /// Binds a non-blocking UDP socket on `ip` at a random free even port of the range.
    /// Ports another process holds are skipped.
    pub fn bind(&self, ip: IpAddr) -> Result<(UdpSocket, PortLease), PortError> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let count = state.in_use.len();
        let picks: [usize; RANDOM_TRIES] =
            std::array::from_fn(|_| state.rng.random_range(0..count));
        let start = state.rng.random_range(0..count);
        let scan = (0..count).map(|step| (start + step) % count);
        for index in picks.into_iter().chain(scan) {
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

    fn seeded(low: u16, high: u16, seed: u64) -> RtpPortPool {
        RtpPortPool::with_rng(low, high, Box::new(StdRng::seed_from_u64(seed))).unwrap()
    }

    fn draw(pool: &RtpPortPool, n: usize) -> Vec<u16> {
        let leases: Vec<_> = (0..n).map(|_| pool.bind(LOCAL).unwrap()).collect();
        leases.iter().map(|(_, l)| l.port()).collect()
    }

    #[test]
    fn ports_are_drawn_at_random_and_a_seed_reproduces_the_order() {
        let a = draw(&seeded(47200, 47399, 7), 10);
        assert_eq!(
            a,
            draw(&seeded(47200, 47399, 7), 10),
            "same seed, same order"
        );
        assert_ne!(a, draw(&seeded(47200, 47399, 8), 10));
        let steps_of_two = a.windows(2).filter(|w| w[1] == w[0] + 2).count();
        assert!(steps_of_two < 3, "not handed out in order: {a:?}");
        assert!(a.iter().all(|p| (47200..=47399).contains(p) && p % 2 == 0));
    }

    proptest::proptest! {
        /// Whatever the seed and the order of allocations and releases: leases are distinct
        /// even ports of the range, every free port can be had, and `in_use` counts leases.
        #[test]
        fn leases_stay_distinct_and_every_release_returns_its_port(
            seed in proptest::prelude::any::<u64>(),
            ops in proptest::collection::vec(proptest::prelude::any::<(bool, u8)>(), 0..60),
        ) {
            let pool = seeded(47400, 47440, seed); // 21 even ports
            let mut live: Vec<(UdpSocket, PortLease)> = Vec::new();
            for (take, pick) in ops {
                if take {
                    match pool.bind(LOCAL) {
                        Ok(lease) => live.push(lease),
                        // Only when every port is leased (or held by another process).
                        Err(_) => proptest::prop_assert!(live.len() + 3 >= 21),
                    }
                } else if !live.is_empty() {
                    live.swap_remove(usize::from(pick) % live.len());
                }
                let mut ports: Vec<u16> = live.iter().map(|(_, l)| l.port()).collect();
                proptest::prop_assert!(ports.iter().all(|p| p % 2 == 0 && (47400..=47440).contains(p)));
                ports.sort_unstable();
                ports.dedup();
                proptest::prop_assert_eq!(ports.len(), live.len());
                proptest::prop_assert_eq!(pool.in_use(), live.len());
            }
        }
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
