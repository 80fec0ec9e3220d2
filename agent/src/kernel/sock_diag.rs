//! `NETLINK_SOCK_DIAG`: the kernel's table of TCP and UDP sockets (what `ss`
//! reads, each with the cgroup that made it), and `SOCK_DESTROY`, which ends
//! one of them: the kernel resets a TCP connection (the peer gets a RST)
//! and a process using either kind of socket gets `ECONNABORTED`.
//!
//! The messages are the uapi structs of `linux/inet_diag.h`, written and
//! read here field by field (no crate covers `SOCK_DESTROY`).

use std::{
    io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
};

use thiserror::Error;

const SOCK_DIAG_BY_FAMILY: u16 = 20;
const SOCK_DESTROY: u16 = 21;
/// The reply attribute carrying the socket's cgroup id (Linux 5.7+).
const INET_DIAG_CGROUP_ID: u16 = 21;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_DUMP: u16 = 0x300;
const NLMSG_HDRLEN: usize = 16;
/// `struct inet_diag_req_v2`.
const REQ_LEN: usize = 56;
/// `struct inet_diag_msg`.
const MSG_LEN: usize = 72;
/// `struct inet_diag_sockid`, inside both.
const SOCKID_LEN: usize = 48;

#[derive(Debug, Error)]
pub enum SockDiagError {
    #[error("cannot open a NETLINK_SOCK_DIAG socket: {0}")]
    Open(#[source] io::Error),
    #[error("sock_diag {what}: {source}")]
    Io {
        what: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("sock_diag: malformed reply: {0}")]
    Malformed(&'static str),
    #[error("sock_diag: the kernel refused the {what}: {source}")]
    Refused {
        what: &'static str,
        #[source]
        source: io::Error,
    },
}

/// One TCP or UDP socket, as the kernel's table lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InetSocket {
    /// `IPPROTO_TCP` or `IPPROTO_UDP`.
    pub protocol: u8,
    /// The TCP state numbering (`palisade_common::tcp_state`); a connected
    /// UDP socket is ESTABLISHED.
    pub state: u8,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// The cgroup that made the socket, when the kernel says.
    pub cgroup: Option<u64>,
    family: u8,
    /// The rest of `inet_diag_sockid`, which names the socket to destroy.
    ifindex: u32,
    cookie: [u32; 2],
}

#[cfg(test)]
impl InetSocket {
    pub fn for_test(protocol: u8, state: u8, local: SocketAddr, remote: SocketAddr) -> Self {
        let family = if local.is_ipv4() { libc::AF_INET } else { libc::AF_INET6 } as u8;
        Self { protocol, state, local, remote, cgroup: None, family, ifindex: 0, cookie: [0; 2] }
    }
}

/// A netlink socket speaking sock_diag.
pub struct SockDiag {
    fd: OwnedFd,
    seq: u32,
}

impl SockDiag {
    pub fn open() -> Result<Self, SockDiagError> {
        // SAFETY: socket(2) with constant arguments.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_SOCK_DIAG,
            )
        };
        if fd < 0 {
            return Err(SockDiagError::Open(io::Error::last_os_error()));
        }
        // SAFETY: a descriptor just returned to us, owned from here.
        Ok(Self { fd: unsafe { OwnedFd::from_raw_fd(fd) }, seq: 0 })
    }

    /// Every socket of `protocol` (IPv4 and IPv6), in every state.
    pub fn sockets(&mut self, protocol: u8) -> Result<Vec<InetSocket>, SockDiagError> {
        let mut out = Vec::new();
        for family in [libc::AF_INET as u8, libc::AF_INET6 as u8] {
            let req = request(family, protocol, &[0; SOCKID_LEN]);
            let seq = self.send(SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, &req)?;
            self.receive(seq, "dump", |payload| {
                out.push(parse(protocol, payload)?);
                Ok(())
            })?;
        }
        Ok(out)
    }

    /// Ends `socket` (it may be gone already: that is not an error).
    pub fn destroy(&mut self, socket: &InetSocket) -> Result<(), SockDiagError> {
        let req = request(socket.family, socket.protocol, &sockid(socket));
        let seq = self.send(SOCK_DESTROY, NLM_F_REQUEST | NLM_F_ACK, &req)?;
        match self.receive(seq, "destroy", |_| Ok(())) {
            Err(SockDiagError::Refused { source, .. })
                if source.raw_os_error() == Some(libc::ENOENT) =>
            {
                Ok(())
            }
            other => other,
        }
    }

    fn send(&mut self, kind: u16, flags: u16, payload: &[u8]) -> Result<u32, SockDiagError> {
        self.seq = self.seq.wrapping_add(1);
        let mut msg = Vec::with_capacity(NLMSG_HDRLEN + payload.len());
        msg.extend(((NLMSG_HDRLEN + payload.len()) as u32).to_ne_bytes());
        msg.extend(kind.to_ne_bytes());
        msg.extend(flags.to_ne_bytes());
        msg.extend(self.seq.to_ne_bytes());
        msg.extend(0u32.to_ne_bytes());
        msg.extend(payload);
        // SAFETY: a valid descriptor and a buffer of the given length (to
        // the kernel: the socket is not bound, the address defaults to it).
        let sent = unsafe { libc::send(self.fd.as_raw_fd(), msg.as_ptr().cast(), msg.len(), 0) };
        if sent < 0 {
            return Err(SockDiagError::Io { what: "send", source: io::Error::last_os_error() });
        }
        Ok(self.seq)
    }

    /// Reads the replies to request `seq` until its end (a dump's DONE, or
    /// an acknowledgement), handing each message's payload to `each`.
    fn receive(
        &mut self,
        seq: u32,
        what: &'static str,
        mut each: impl FnMut(&[u8]) -> Result<(), SockDiagError>,
    ) -> Result<(), SockDiagError> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            // SAFETY: a valid descriptor and a buffer of the given length.
            let n =
                unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                return Err(SockDiagError::Io { what: "recv", source: io::Error::last_os_error() });
            }
            let mut rest = &buf[..n as usize];
            while rest.len() >= NLMSG_HDRLEN {
                let len = u32::from_ne_bytes(rest[0..4].try_into().unwrap()) as usize;
                if len < NLMSG_HDRLEN || len > rest.len() {
                    return Err(SockDiagError::Malformed("a message length past the datagram"));
                }
                let kind = u16::from_ne_bytes(rest[4..6].try_into().unwrap());
                let msg_seq = u32::from_ne_bytes(rest[8..12].try_into().unwrap());
                let payload = &rest[NLMSG_HDRLEN..len];
                rest = &rest[len.next_multiple_of(4).min(rest.len())..];
                if msg_seq != seq {
                    continue;
                }
                match kind {
                    NLMSG_DONE => return Ok(()),
                    NLMSG_ERROR => {
                        let code = payload
                            .get(0..4)
                            .map(|b| i32::from_ne_bytes(b.try_into().unwrap()))
                            .ok_or(SockDiagError::Malformed("a short error message"))?;
                        if code == 0 {
                            return Ok(());
                        }
                        let source = io::Error::from_raw_os_error(-code);
                        return Err(SockDiagError::Refused { what, source });
                    }
                    _ => each(payload)?,
                }
            }
        }
    }
}

/// `struct inet_diag_req_v2` for every state, naming `id`.
fn request(family: u8, protocol: u8, id: &[u8; SOCKID_LEN]) -> [u8; REQ_LEN] {
    let mut req = [0u8; REQ_LEN];
    req[0] = family;
    req[1] = protocol;
    req[4..8].copy_from_slice(&u32::MAX.to_ne_bytes());
    req[8..].copy_from_slice(id);
    req
}

/// `struct inet_diag_sockid` of a socket read from the table.
fn sockid(s: &InetSocket) -> [u8; SOCKID_LEN] {
    let mut id = [0u8; SOCKID_LEN];
    id[0..2].copy_from_slice(&s.local.port().to_be_bytes());
    id[2..4].copy_from_slice(&s.remote.port().to_be_bytes());
    let put = |slot: &mut [u8], ip: IpAddr| match ip {
        IpAddr::V4(v4) => slot[..4].copy_from_slice(&v4.octets()),
        IpAddr::V6(v6) => slot.copy_from_slice(&v6.octets()),
    };
    put(&mut id[4..20], s.local.ip());
    put(&mut id[20..36], s.remote.ip());
    id[36..40].copy_from_slice(&s.ifindex.to_ne_bytes());
    id[40..44].copy_from_slice(&s.cookie[0].to_ne_bytes());
    id[44..48].copy_from_slice(&s.cookie[1].to_ne_bytes());
    id
}

/// One `struct inet_diag_msg` and its attributes.
fn parse(protocol: u8, msg: &[u8]) -> Result<InetSocket, SockDiagError> {
    if msg.len() < MSG_LEN {
        return Err(SockDiagError::Malformed("a socket message shorter than inet_diag_msg"));
    }
    let (family, state) = (msg[0], msg[1]);
    let id = &msg[4..4 + SOCKID_LEN];
    let ip = |bytes: &[u8]| -> IpAddr {
        if family == libc::AF_INET as u8 {
            IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]))
        } else {
            IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(bytes).unwrap()))
        }
    };
    let port = |bytes: &[u8]| u16::from_be_bytes([bytes[0], bytes[1]]);
    let word = |at: usize| u32::from_ne_bytes(id[at..at + 4].try_into().unwrap());
    let mut cgroup = None;
    let mut attrs = &msg[MSG_LEN..];
    while attrs.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([attrs[0], attrs[1]]));
        let kind = u16::from_ne_bytes([attrs[2], attrs[3]]);
        if len < 4 || len > attrs.len() {
            break;
        }
        if kind == INET_DIAG_CGROUP_ID && len >= 12 {
            cgroup = Some(u64::from_ne_bytes(attrs[4..12].try_into().unwrap()));
        }
        attrs = &attrs[len.next_multiple_of(4).min(attrs.len())..];
    }
    Ok(InetSocket {
        protocol,
        state,
        local: SocketAddr::new(ip(&id[4..20]), port(&id[0..2])),
        remote: SocketAddr::new(ip(&id[20..36]), port(&id[2..4])),
        cgroup,
        family,
        ifindex: word(36),
        cookie: [word(40), word(44)],
    })
}
