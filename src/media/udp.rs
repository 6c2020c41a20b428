//! Batched receive for the pacing threads: on Linux one `recvmmsg` per call per frame reads
//! every queued datagram (usually one), instead of a read plus a final would-block read.

use std::net::{SocketAddr, UdpSocket};

/// Datagrams read per call in one go; more wait for the next frame.
pub const RX_BATCH: usize = 4;
/// Largest datagram read; longer ones arrive truncated and fail validation.
pub const RX_BUF: usize = 2048;

/// Reusable receive buffers for one pacing thread.
pub struct RxBatch {
    bufs: Box<[[u8; RX_BUF]; RX_BATCH]>,
    got: [(usize, Option<SocketAddr>); RX_BATCH],
}

impl Default for RxBatch {
    fn default() -> Self {
        Self {
            bufs: Box::new([[0; RX_BUF]; RX_BATCH]),
            got: [(0, None); RX_BATCH],
        }
    }
}

impl RxBatch {
    /// The `i`th datagram of the last `recv`.
    pub fn get(&self, i: usize) -> Option<(SocketAddr, &[u8])> {
        let (len, from) = self.got.get(i)?;
        Some(((*from)?, &self.bufs[i][..*len]))
    }

    /// Reads what is queued on a non-blocking socket, up to `RX_BATCH`; returns the count.
    #[cfg(target_os = "linux")]
    pub fn recv(&mut self, socket: &UdpSocket) -> usize {
        use std::mem::{size_of, zeroed};
        use std::os::fd::AsRawFd;
        // SAFETY: plain old data; all-zero is a valid value for these C structs.
        let mut names: [libc::sockaddr_storage; RX_BATCH] = unsafe { zeroed() };
        let mut iovs: [libc::iovec; RX_BATCH] = unsafe { zeroed() };
        let mut msgs: [libc::mmsghdr; RX_BATCH] = unsafe { zeroed() };
        for i in 0..RX_BATCH {
            iovs[i].iov_base = self.bufs[i].as_mut_ptr().cast();
            iovs[i].iov_len = RX_BUF;
            let hdr = &mut msgs[i].msg_hdr;
            hdr.msg_name = (&mut names[i] as *mut libc::sockaddr_storage).cast();
            hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as u32;
            hdr.msg_iov = &mut iovs[i];
            hdr.msg_iovlen = 1;
        }
        // SAFETY: every header points at buffers that outlive the call; MSG_DONTWAIT never blocks.
        let rc = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                msgs.as_mut_ptr(),
                RX_BATCH as u32,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        let count = usize::try_from(rc).unwrap_or(0);
        for i in 0..count {
            let len = (msgs[i].msg_len as usize).min(RX_BUF);
            self.got[i] = (len, sockaddr_to_std(&names[i]));
        }
        count
    }

    #[cfg(not(target_os = "linux"))]
    pub fn recv(&mut self, socket: &UdpSocket) -> usize {
        let mut count = 0;
        while count < RX_BATCH {
            match socket.recv_from(&mut self.bufs[count]) {
                Ok((len, from)) => {
                    self.got[count] = (len, Some(from));
                    count += 1;
                }
                Err(_) => break,
            }
        }
        count
    }
}

#[cfg(target_os = "linux")]
fn sockaddr_to_std(ss: &libc::sockaddr_storage) -> Option<SocketAddr> {
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
    match i32::from(ss.ss_family) {
        libc::AF_INET => {
            // SAFETY: the kernel wrote a sockaddr_in for AF_INET; storage is large and aligned.
            let sa = unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(u32::from_be(sa.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(sa.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let sa =
                unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            let ip = Ipv6Addr::from(sa.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                u16::from_be(sa.sin6_port),
                sa.sin6_flowinfo,
                sa.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_queued_datagrams_with_their_sources_and_nothing_when_empty() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_nonblocking(true).unwrap();
        let mut batch = RxBatch::default();
        assert_eq!(batch.recv(&rx), 0);
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        a.send_to(b"one", rx.local_addr().unwrap()).unwrap();
        a.send_to(&[7u8; 3000], rx.local_addr().unwrap()).unwrap();
        // Loopback delivery is synchronous with the send.
        let n = batch.recv(&rx);
        assert_eq!(n, 2);
        assert_eq!(batch.get(0), Some((a.local_addr().unwrap(), &b"one"[..])));
        let (_, long) = batch.get(1).unwrap();
        assert_eq!(long.len(), RX_BUF, "truncated, not overflowing");
        assert_eq!(batch.recv(&rx), 0);
    }
}
