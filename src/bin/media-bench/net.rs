//! Batched UDP for the load generator (Linux): `sendmmsg` to many destinations from one socket,
//! `recvmmsg` with kernel receive timestamps (`SO_TIMESTAMPNS`), so the generator's own
//! scheduling does not distort the pacing it measures.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;

pub const BATCH: usize = 256;
const PKT: usize = 256;
const CTRL: usize = 64;

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

fn setsockopt_int(
    fd: libc::c_int,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: passes a valid pointer to a c_int and its size.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as u32,
        )
    };
    check(rc).map(|_| ())
}

/// Large buffers (root may exceed the sysctl limits) and kernel receive timestamps.
pub fn prepare(socket: &UdpSocket) -> io::Result<()> {
    let fd = socket.as_raw_fd();
    let big = 64 << 20;
    if setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, big).is_err() {
        setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, big)?;
    }
    if setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, big).is_err() {
        setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_SNDBUF, big)?;
    }
    setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1)?;
    socket.set_nonblocking(true)
}

fn sockaddr(addr: SocketAddrV4) -> libc::sockaddr_in {
    // SAFETY: sockaddr_in is plain old data; all-zero is valid.
    let mut sa: libc::sockaddr_in = unsafe { zeroed() };
    sa.sin_family = libc::AF_INET as libc::sa_family_t;
    sa.sin_port = addr.port().to_be();
    sa.sin_addr.s_addr = u32::from(*addr.ip()).to_be();
    sa
}

/// Sends `packets` (payload, destination) in batches; returns how many the kernel took.
pub fn send_batch(socket: &UdpSocket, packets: &[(&[u8], SocketAddrV4)]) -> usize {
    let fd = socket.as_raw_fd();
    let mut sent = 0;
    for chunk in packets.chunks(BATCH) {
        let mut names: Vec<libc::sockaddr_in> = chunk.iter().map(|(_, a)| sockaddr(*a)).collect();
        let mut iovs: Vec<libc::iovec> = chunk
            .iter()
            .map(|(p, _)| libc::iovec {
                iov_base: p.as_ptr() as *mut _,
                iov_len: p.len(),
            })
            .collect();
        // SAFETY: mmsghdr is plain old data; every pointer set below outlives the call.
        let mut msgs: Vec<libc::mmsghdr> = (0..chunk.len()).map(|_| unsafe { zeroed() }).collect();
        for (i, m) in msgs.iter_mut().enumerate() {
            m.msg_hdr.msg_name = (&mut names[i] as *mut libc::sockaddr_in).cast();
            m.msg_hdr.msg_namelen = size_of::<libc::sockaddr_in>() as u32;
            m.msg_hdr.msg_iov = &mut iovs[i];
            m.msg_hdr.msg_iovlen = 1;
        }
        let mut off = 0;
        while off < msgs.len() {
            // SAFETY: msgs[off..] are initialised headers pointing at live buffers.
            let rc = unsafe {
                libc::sendmmsg(fd, msgs[off..].as_mut_ptr(), (msgs.len() - off) as u32, 0)
            };
            if rc <= 0 {
                break;
            }
            off += rc as usize;
        }
        sent += off;
    }
    sent
}

/// One received datagram: source port, kernel arrival time in ns, payload.
pub struct Received<'a> {
    pub from_port: u16,
    pub arrival_ns: i64,
    pub data: &'a [u8],
}

/// Reusable buffers for `recvmmsg`.
pub struct Receiver {
    bufs: Vec<[u8; PKT]>,
    ctrl: Vec<[u8; CTRL]>,
    names: Vec<libc::sockaddr_in>,
    iovs: Vec<libc::iovec>,
    msgs: Vec<libc::mmsghdr>,
}

impl Receiver {
    pub fn new() -> Self {
        Self {
            bufs: vec![[0; PKT]; BATCH],
            ctrl: vec![[0; CTRL]; BATCH],
            // SAFETY: plain old data, zero is valid.
            names: (0..BATCH).map(|_| unsafe { zeroed() }).collect(),
            iovs: Vec::with_capacity(BATCH),
            msgs: (0..BATCH).map(|_| unsafe { zeroed() }).collect(),
        }
    }

    /// Reads up to a batch without blocking and calls `on` for each datagram; returns the count.
    pub fn recv_batch(&mut self, socket: &UdpSocket, mut on: impl FnMut(Received<'_>)) -> usize {
        self.iovs.clear();
        for b in &mut self.bufs {
            self.iovs.push(libc::iovec {
                iov_base: b.as_mut_ptr().cast(),
                iov_len: PKT,
            });
        }
        for i in 0..BATCH {
            let m = &mut self.msgs[i].msg_hdr;
            m.msg_name = (&mut self.names[i] as *mut libc::sockaddr_in).cast();
            m.msg_namelen = size_of::<libc::sockaddr_in>() as u32;
            m.msg_iov = &mut self.iovs[i];
            m.msg_iovlen = 1;
            m.msg_control = self.ctrl[i].as_mut_ptr().cast();
            m.msg_controllen = CTRL;
            m.msg_flags = 0;
        }
        // SAFETY: every header points at buffers owned by self that live through the call.
        let rc = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                self.msgs.as_mut_ptr(),
                BATCH as u32,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if rc <= 0 {
            return 0;
        }
        for i in 0..rc as usize {
            let hdr = &self.msgs[i].msg_hdr;
            let mut arrival_ns = 0i64;
            // SAFETY: walking the control buffer the kernel filled, with libc's CMSG macros.
            unsafe {
                let mut c = libc::CMSG_FIRSTHDR(hdr);
                while !c.is_null() {
                    if (*c).cmsg_level == libc::SOL_SOCKET
                        && (*c).cmsg_type == libc::SCM_TIMESTAMPNS
                    {
                        let ts: libc::timespec =
                            std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                        arrival_ns = ts.tv_sec * 1_000_000_000 + ts.tv_nsec;
                    }
                    c = libc::CMSG_NXTHDR(hdr, c);
                }
            }
            let len = (self.msgs[i].msg_len as usize).min(PKT);
            on(Received {
                from_port: u16::from_be(self.names[i].sin_port),
                arrival_ns,
                data: &self.bufs[i][..len],
            });
        }
        rc as usize
    }
}

/// CPU time (user + system) of this process so far, in seconds.
pub fn cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the struct we pass.
    let mut ru: libc::rusage = unsafe { zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(ru.ru_utime) + t(ru.ru_stime)
}

/// Resident set size of this process in KiB (from /proc).
pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Raises the open-file limit to its hard maximum (one socket per call).
pub fn raise_fd_limit() {
    kenkocall::media::ports::raise_open_file_limit();
}

/// SCHED_FIFO at `priority` for the calling thread if permitted (so the generator keeps its
/// schedule while the machine is busy); returns whether it worked.
pub fn realtime(priority: i32) -> bool {
    let param = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: plain syscall wrapper on the calling thread.
    unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &param) == 0 }
}
