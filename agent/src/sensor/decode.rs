//! Decoding ring-buffer records. The length and the kind are checked before
//! any payload is read; a short, oversized or inconsistent record is an error,
//! never a panic or an out-of-bounds read.

use std::{
    mem::size_of,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
};

use palisade_common::{
    CgroupRecord, ExecDeniedRecord, ExecRecord, ExitRecord, FileRecord, ForkRecord, NetRecord,
    RecordHeader, SocketRecord, Span,
    enforce::{Verdict, mechanism, verdict_flags},
    exec_flags, file_status, kind, net_hook,
};
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("record of {got} bytes is shorter than the {need} its kind needs")]
    Short { need: usize, got: usize },
    #[error("record header declares {declared} bytes but {got} arrived")]
    SizeMismatch { declared: usize, got: usize },
    #[error("unknown record kind {0}")]
    UnknownKind(u32),
    #[error("unknown address family {0} in a network record")]
    UnknownFamily(u16),
    #[error("{0} record without a matched rule")]
    NoVerdict(&'static str),
    #[error("{field} span {off}+{len} lies outside the record's {tail}-byte tail")]
    SpanOutOfBounds { field: &'static str, off: u32, len: u32, tail: usize },
}

/// One decoded kernel record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// Boxed: the largest record by far, it would size every batch's
    /// slots.
    Exec(Box<Exec>),
    Fork(Fork),
    Exit(Exit),
    ExecDenied(ExecDenied),
    Net(Net),
    Cgroup(CgroupMkdir),
    File(File),
    Socket(Socket),
}

impl Record {
    /// The record's kind (`palisade_common::kind`).
    pub fn kind(&self) -> u32 {
        match self {
            Record::Exec(r) => r.header.kind,
            Record::Fork(r) => r.header.kind,
            Record::Exit(r) => r.header.kind,
            Record::ExecDenied(r) => r.header.kind,
            Record::Net(r) => r.header.kind,
            Record::Cgroup(r) => r.header.kind,
            Record::File(r) => r.header.kind,
            Record::Socket(r) => r.header.kind,
        }
    }
}

/// A kernel rule that matched in a hook, and what the hook did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelVerdict {
    pub rule: String,
    /// The rule is enforced: the hook denied (or killed).
    pub enforced: bool,
    /// The rule's action is block or kill (in audit mode: would_block).
    pub blocking: bool,
    /// The mechanism that acted (`enforce::mechanism`); NONE when the
    /// match was only reported.
    pub mechanism: u32,
}

impl KernelVerdict {
    /// The verdict in a record, if a rule matched.
    fn from_record(v: &Verdict, mechanism: u32) -> Option<Self> {
        if v.flags & verdict_flags::MATCHED == 0 {
            return None;
        }
        Some(Self {
            rule: v.rule_id().to_string(),
            enforced: v.flags & verdict_flags::ENFORCE != 0 && mechanism != mechanism::NONE,
            blocking: v.flags & verdict_flags::BLOCKING != 0,
            mechanism,
        })
    }
}

/// BPF-LSM denied an exec; `header.pid` is the caller, which goes on
/// running its old image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecDenied {
    pub header: RecordHeader,
    pub verdict: KernelVerdict,
    pub exe_dev: u32,
    pub exe_ino: u64,
    /// Bits of `palisade_common::drift`.
    pub drift: u32,
    pub start_ns: u64,
    pub filename: Vec<u8>,
    /// The executable file's own name.
    pub name: Vec<u8>,
}

/// A network record (kinds `NET_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Net {
    pub header: RecordHeader,
    /// The kernel rule the destination matched, if any.
    pub verdict: Option<KernelVerdict>,
    /// Remote address and port.
    pub daddr: IpAddr,
    pub dport: u16,
    /// Local address and port; unspecified / 0 when not known yet.
    pub saddr: IpAddr,
    pub sport: u16,
    /// IPPROTO_* number.
    pub proto: u8,
    /// `connect`, `sendmsg` or `tcp_state`.
    pub hook: &'static str,
    /// The new TCP state, for TCP state records.
    pub tcp_state: u32,
    /// The kernel socket: pairs a connect with its result.
    pub sock: u64,
}

/// A socket of a family a kernel rule names was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Socket {
    pub header: RecordHeader,
    pub verdict: KernelVerdict,
    /// `AF_*`, as the kernel judged it.
    pub family: u32,
    /// `SOCK_*`, without its flags.
    pub sock_type: u32,
    /// The protocol argument (for a packet socket, an ethertype in network
    /// byte order).
    pub protocol: u32,
}

/// A cgroup was created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupMkdir {
    pub header: RecordHeader,
    pub id: u64,
    /// Hierarchy id: 0 is cgroup v2's.
    pub root: i32,
    pub path: Vec<u8>,
}

/// A file operation on a watched path (kinds `FILE_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    pub header: RecordHeader,
    /// `palisade_common::file_syscall`.
    pub syscall: u32,
    /// open: O_* flags; unlinkat: AT_REMOVEDIR; renameat2: RENAME_*.
    pub flags: u32,
    pub mode: u32,
    /// The system call's return value: >= 0 success, else -errno.
    pub ret: i64,
    /// The path as the caller passed it.
    pub path: Vec<u8>,
    pub path_truncated: bool,
    /// rename: the new name.
    pub new_path: Option<Vec<u8>>,
    pub new_path_truncated: bool,
    /// The kernel file rule the open matched (BPF-LSM `file_open`), if any.
    pub verdict: Option<KernelVerdict>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exec {
    pub header: RecordHeader,
    pub ppid: u32,
    pub uid: u32,
    pub gid: u32,
    pub euid: u32,
    pub egid: u32,
    pub flags: u32,
    /// Device in the kernel's internal encoding (major << 20 | minor).
    pub exe_dev: u32,
    pub exe_ino: u64,
    /// Bits of `palisade_common::drift`.
    pub drift: u32,
    /// The executable's last data and inode change, ns since the epoch.
    pub exe_mtime_ns: i64,
    pub exe_ctime_ns: i64,
    pub start_ns: u64,
    pub args_total: u32,
    pub comm: Vec<u8>,
    /// The filename passed to execve.
    pub filename: Vec<u8>,
    /// Absolute path of the executable, rebuilt from its components.
    pub binary: Vec<u8>,
    pub cwd: Vec<u8>,
    pub args: Vec<Vec<u8>>,
    /// The start of the environment block, as copied (`NAME=value\0`...;
    /// see `process::env` for what is taken from it).
    pub env: Vec<u8>,
    /// Total bytes of the environment in the process, copied or not.
    pub env_total: u32,
    /// The kernel rule the executable matched, if any.
    pub verdict: Option<KernelVerdict>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fork {
    pub header: RecordHeader,
    pub parent_pid: u32,
    pub start_ns: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    pub header: RecordHeader,
    pub exit_code: u32,
    pub start_ns: u64,
}

/// Reads a `T` from the front of `bytes`, which must be long enough.
fn read_struct<T: Copy>(bytes: &[u8]) -> Result<T, DecodeError> {
    if bytes.len() < size_of::<T>() {
        return Err(DecodeError::Short { need: size_of::<T>(), got: bytes.len() });
    }
    // SAFETY: the length is checked above; T is one of the repr(C) record
    // types, made only of integers, so every bit pattern is a valid value.
    Ok(unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<T>()) })
}

pub fn decode(bytes: &[u8]) -> Result<Record, DecodeError> {
    let header: RecordHeader = read_struct(bytes)?;
    if header.size as usize != bytes.len() {
        return Err(DecodeError::SizeMismatch { declared: header.size as usize, got: bytes.len() });
    }
    match header.kind {
        kind::EXEC => decode_exec(bytes).map(|exec| Record::Exec(Box::new(exec))),
        kind::FORK => {
            let r: ForkRecord = read_struct(bytes)?;
            Ok(Record::Fork(Fork { header, parent_pid: r.parent_pid, start_ns: r.start_ns }))
        }
        kind::EXIT => {
            let r: ExitRecord = read_struct(bytes)?;
            Ok(Record::Exit(Exit { header, exit_code: r.exit_code, start_ns: r.start_ns }))
        }
        kind::EXEC_DENIED => {
            let r: ExecDeniedRecord = read_struct(bytes)?;
            Ok(Record::ExecDenied(ExecDenied {
                header,
                verdict: KernelVerdict::from_record(&r.verdict, mechanism::BPF_LSM)
                    .ok_or(DecodeError::NoVerdict("exec_denied"))?,
                exe_dev: r.exe_dev,
                exe_ino: r.exe_ino,
                drift: r.drift,
                start_ns: r.start_ns,
                filename: until_nul(&r.filename).to_vec(),
                name: until_nul(&r.name).to_vec(),
            }))
        }
        kind::NET_CONNECT | kind::NET_RESULT | kind::NET_LISTEN | kind::NET_ACCEPT => {
            let r: NetRecord = read_struct(bytes)?;
            let addr = |a: [u8; 16]| match r.family {
                AF_INET => Ok(IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3]))),
                AF_INET6 => Ok(IpAddr::V6(Ipv6Addr::from(a))),
                other => Err(DecodeError::UnknownFamily(other)),
            };
            Ok(Record::Net(Net {
                header,
                verdict: KernelVerdict::from_record(&r.verdict, r.mechanism),
                daddr: addr(r.daddr)?,
                dport: r.dport,
                saddr: addr(r.saddr)?,
                sport: r.sport,
                proto: r.proto,
                hook: match r.hook {
                    net_hook::CONNECT => "connect",
                    net_hook::SENDMSG => "sendmsg",
                    net_hook::EGRESS => "egress",
                    _ => "tcp_state",
                },
                tcp_state: r.tcp_state,
                sock: r.sock,
            }))
        }
        kind::CGROUP_MKDIR => {
            let r: CgroupRecord = read_struct(bytes)?;
            Ok(Record::Cgroup(CgroupMkdir {
                header,
                id: r.id,
                root: r.root,
                path: until_nul(&r.path).to_vec(),
            }))
        }
        kind::FILE_OPEN | kind::FILE_UNLINK | kind::FILE_RENAME | kind::FILE_CHMOD => {
            let r: FileRecord = read_struct(bytes)?;
            Ok(Record::File(File {
                header,
                syscall: r.syscall,
                flags: r.flags,
                mode: r.mode,
                ret: r.ret,
                path: until_nul(&r.path).to_vec(),
                path_truncated: r.status & file_status::PATH_TRUNCATED != 0,
                new_path: (header.kind == kind::FILE_RENAME)
                    .then(|| until_nul(&r.new_path).to_vec()),
                new_path_truncated: r.status & file_status::NEW_PATH_TRUNCATED != 0,
                verdict: KernelVerdict::from_record(&r.verdict, mechanism::BPF_LSM),
            }))
        }
        kind::NET_SOCKET => {
            let r: SocketRecord = read_struct(bytes)?;
            Ok(Record::Socket(Socket {
                header,
                verdict: KernelVerdict::from_record(&r.verdict, r.mechanism)
                    .ok_or(DecodeError::NoVerdict("network_socket"))?,
                family: r.family,
                sock_type: r.sock_type,
                protocol: r.protocol,
            }))
        }
        other => Err(DecodeError::UnknownKind(other)),
    }
}

const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;

fn until_nul(bytes: &[u8]) -> &[u8] {
    &bytes[..bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len())]
}

fn decode_exec(bytes: &[u8]) -> Result<Exec, DecodeError> {
    let r: ExecRecord = read_struct(bytes)?;
    let tail = &bytes[size_of::<ExecRecord>()..];
    let span = |field: &'static str, s: Span| -> Result<&[u8], DecodeError> {
        let (start, len) = (s.off as usize, s.len as usize);
        tail.get(start..start.saturating_add(len)).ok_or(DecodeError::SpanOutOfBounds {
            field,
            off: s.off,
            len: s.len,
            tail: tail.len(),
        })
    };
    let comm_len = r.comm.iter().position(|&b| b == 0).unwrap_or(r.comm.len());
    let binary = if r.flags & exec_flags::NO_EXE_FILE != 0 {
        Vec::new()
    } else {
        join_components(span("binary", r.binary)?)
    };
    Ok(Exec {
        header: r.header,
        ppid: r.ppid,
        uid: r.uid,
        gid: r.gid,
        euid: r.euid,
        egid: r.egid,
        flags: r.flags,
        exe_dev: r.exe_dev,
        exe_ino: r.exe_ino,
        drift: r.drift,
        exe_mtime_ns: r.exe_mtime_ns,
        exe_ctime_ns: r.exe_ctime_ns,
        start_ns: r.start_ns,
        args_total: r.args_total,
        comm: r.comm[..comm_len].to_vec(),
        filename: span("filename", r.filename)?.to_vec(),
        binary,
        cwd: join_components(span("cwd", r.cwd)?),
        args: split_args(span("args", r.args)?),
        env: span("env", r.env)?.to_vec(),
        env_total: r.env_total,
        verdict: KernelVerdict::from_record(&r.verdict, r.mechanism),
    })
}

/// Turns NUL-terminated components, leaf first, into an absolute path.
/// Components cannot hold '/' or NUL, so the result is exact.
pub fn join_components(raw: &[u8]) -> Vec<u8> {
    let mut parts: Vec<&[u8]> = raw.split(|&b| b == 0).filter(|p| !p.is_empty()).collect();
    parts.reverse();
    let mut path = Vec::with_capacity(raw.len() + 1);
    for part in &parts {
        path.push(b'/');
        path.extend_from_slice(part);
    }
    if path.is_empty() {
        path.push(b'/');
    }
    path
}

/// Splits argv as it sits in process memory: strings each ended by a NUL. An
/// unterminated last piece (a truncated copy) is kept as it is.
pub fn split_args(raw: &[u8]) -> Vec<Vec<u8>> {
    let raw = raw.strip_suffix(&[0]).unwrap_or(raw);
    if raw.is_empty() {
        return Vec::new();
    }
    raw.split(|&b| b == 0).map(<[u8]>::to_vec).collect()
}

/// The kernel's internal `dev_t` (major << 20 | minor) as userspace sees it
/// in `stat(2)`'s `st_dev` (glibc's makedev encoding).
pub fn kernel_dev_to_user(dev: u32) -> u64 {
    let (major, minor) = (u64::from(dev >> 20), u64::from(dev & 0xf_ffff));
    ((major & 0xfff) << 8) | ((major & !0xfff) << 32) | (minor & 0xff) | ((minor & !0xff) << 12)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes_of<T>(value: &T) -> Vec<u8> {
        // SAFETY: the record types are plain integers without padding.
        unsafe { std::slice::from_raw_parts((value as *const T).cast::<u8>(), size_of::<T>()) }
            .to_vec()
    }

    /// A record's header: its kind, its whole size and the process.
    fn header(kind: u32, size: usize, pid: u32) -> RecordHeader {
        RecordHeader { kind, size: size as u32, pid, ..Default::default() }
    }

    fn exec_record(tail: &[u8], spans: [Span; 4]) -> Vec<u8> {
        exec_record_with_env(tail, spans, Span::default())
    }

    fn exec_record_with_env(tail: &[u8], spans: [Span; 4], env: Span) -> Vec<u8> {
        let size = size_of::<ExecRecord>() + tail.len();
        let rec = ExecRecord {
            header: header(kind::EXEC, size, 42),
            ppid: 1,
            filename: spans[0],
            binary: spans[1],
            cwd: spans[2],
            args: spans[3],
            env,
            comm: *b"env\0\0\0\0\0\0\0\0\0\0\0\0\0",
            ..Default::default()
        };
        let mut out = bytes_of(&rec);
        out.extend_from_slice(tail);
        out
    }

    #[test]
    fn decodes_an_exec_record() {
        let tail = b"/usr/bin/env\0env\0bin\0usr\0tmp\0/usr/bin/env\0true\0two words\0";
        let spans = [
            Span { off: 0, len: 12 },
            Span { off: 13, len: 12 },
            Span { off: 25, len: 4 },
            Span { off: 29, len: 28 },
        ];
        let Record::Exec(exec) = decode(&exec_record(tail, spans)).unwrap() else { panic!() };
        assert_eq!(exec.filename, b"/usr/bin/env");
        assert_eq!(exec.binary, b"/usr/bin/env");
        assert_eq!(exec.cwd, b"/tmp");
        assert_eq!(
            exec.args,
            vec![b"/usr/bin/env".to_vec(), b"true".to_vec(), b"two words".to_vec()]
        );
        assert_eq!(exec.comm, b"env");
        assert_eq!(exec.header.pid, 42);
    }

    #[test]
    fn decodes_the_environment_window_and_checks_its_span() {
        let tail = b"x\0LD_PRELOAD=/a.so\0HOME=/\0";
        let spans = [Span { off: 0, len: 1 }, Span::default(), Span::default(), Span::default()];
        let raw = exec_record_with_env(tail, spans, Span { off: 2, len: 24 });
        let Record::Exec(exec) = decode(&raw).unwrap() else { panic!() };
        assert_eq!(exec.env, b"LD_PRELOAD=/a.so\0HOME=/\0");
        let bad = exec_record_with_env(tail, spans, Span { off: 2, len: 25 });
        assert!(matches!(decode(&bad), Err(DecodeError::SpanOutOfBounds { field: "env", .. })));
    }

    fn verdict(rule: &str, flags: u32) -> Verdict {
        let mut v = Verdict { flags, ..Verdict::default() };
        v.rule[..rule.len()].copy_from_slice(rule.as_bytes());
        v
    }

    #[test]
    fn decodes_a_socket_record_and_requires_its_verdict() {
        let rec = SocketRecord {
            header: header(kind::NET_SOCKET, size_of::<SocketRecord>(), 9),
            verdict: verdict("PAL-080", verdict_flags::MATCHED | verdict_flags::ENFORCE),
            family: 17,
            sock_type: 3,
            protocol: 0x0300,
            mechanism: mechanism::SIGKILL_AT_SYSCALL,
        };
        let Ok(Record::Socket(s)) = decode(&bytes_of(&rec)) else { panic!("decodes") };
        assert_eq!((s.family, s.sock_type, s.protocol), (17, 3, 0x0300));
        assert_eq!(s.verdict.rule, "PAL-080");
        assert!(s.verdict.enforced);
        let none = SocketRecord { verdict: Verdict::default(), ..rec };
        assert_eq!(decode(&bytes_of(&none)), Err(DecodeError::NoVerdict("network_socket")));
    }

    #[test]
    fn decodes_a_network_record() {
        let mut daddr = [0u8; 16];
        daddr[..4].copy_from_slice(&[169, 254, 169, 254]);
        let rec = NetRecord {
            header: header(kind::NET_CONNECT, size_of::<NetRecord>(), 7),
            verdict: verdict("PAL-011", verdict_flags::MATCHED | verdict_flags::ENFORCE),
            family: AF_INET,
            dport: 80,
            proto: 6,
            hook: net_hook::CONNECT,
            mechanism: mechanism::CGROUP_SOCK_ADDR,
            daddr,
            ..Default::default()
        };
        let Ok(Record::Net(net)) = decode(&bytes_of(&rec)) else { panic!("decodes") };
        assert_eq!(net.daddr, "169.254.169.254".parse::<IpAddr>().unwrap());
        assert_eq!((net.dport, net.proto, net.hook), (80, 6, "connect"));
        let v = net.verdict.expect("a verdict");
        assert_eq!(v.rule, "PAL-011");
        assert!(v.enforced);

        // A record from a hook that only reported is not called enforced,
        // whatever its flags say.
        let reported = NetRecord { mechanism: mechanism::NONE, ..rec };
        let Ok(Record::Net(net)) = decode(&bytes_of(&reported)) else { panic!() };
        assert!(!net.verdict.unwrap().enforced);

        let plain = NetRecord { verdict: Verdict::default(), ..rec };
        let Ok(Record::Net(net)) = decode(&bytes_of(&plain)) else { panic!() };
        assert!(net.verdict.is_none());

        let corrupt = NetRecord { family: 99, ..rec };
        assert_eq!(decode(&bytes_of(&corrupt)), Err(DecodeError::UnknownFamily(99)));
    }

    #[test]
    fn rejects_short_and_inconsistent_records() {
        assert!(matches!(decode(&[]), Err(DecodeError::Short { .. })));
        assert!(matches!(decode(&[1, 0, 0]), Err(DecodeError::Short { .. })));
        // Header says exec, but the record is only a header long.
        let header = RecordHeader { kind: kind::EXEC, size: 32, ..Default::default() };
        assert!(matches!(
            decode(&bytes_of(&header)),
            Err(DecodeError::Short { need, got: 32 }) if need == size_of::<ExecRecord>()
        ));
        // Declared size differs from what arrived.
        let mut rec = exec_record(b"", [Span::default(); 4]);
        rec.push(0);
        assert!(matches!(decode(&rec), Err(DecodeError::SizeMismatch { .. })));
        // Unknown kind.
        let header = RecordHeader { kind: 99, size: 32, ..Default::default() };
        assert_eq!(decode(&bytes_of(&header)), Err(DecodeError::UnknownKind(99)));
    }

    #[test]
    fn rejects_spans_outside_the_tail() {
        for bad in [
            Span { off: 0, len: 5 },
            Span { off: 4, len: 1 },
            Span { off: u32::MAX, len: u32::MAX },
        ] {
            let rec =
                exec_record(b"abcd", [bad, Span::default(), Span::default(), Span::default()]);
            assert!(matches!(
                decode(&rec),
                Err(DecodeError::SpanOutOfBounds { field: "filename", .. })
            ));
        }
    }

    #[test]
    fn survives_arbitrary_bytes() {
        // A cheap deterministic fuzz: every prefix of a valid record, and the
        // record with each byte flipped, decodes or errs without panicking.
        let tail = b"x\0bin\0\0a\0b\0";
        let spans = [
            Span { off: 0, len: 1 },
            Span { off: 2, len: 4 },
            Span { off: 6, len: 1 },
            Span { off: 7, len: 4 },
        ];
        let good = exec_record(tail, spans);
        for n in 0..good.len() {
            let _ = decode(&good[..n]);
        }
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0xff;
            let _ = decode(&bad);
        }
    }

    #[test]
    fn joins_path_components() {
        assert_eq!(join_components(b""), b"/");
        assert_eq!(join_components(b"sh\0bin\0"), b"/bin/sh");
        assert_eq!(join_components(b"memfd:x\0"), b"/memfd:x");
        assert_eq!(join_components(b"a\nb\xff\0tmp\0"), b"/tmp/a\nb\xff");
    }

    #[test]
    fn decodes_a_file_rename_record() {
        let mut rec = FileRecord {
            header: header(kind::FILE_RENAME, size_of::<FileRecord>(), 7),
            syscall: palisade_common::file_syscall::RENAMEAT2,
            status: file_status::NEW_PATH_TRUNCATED,
            flags: 0,
            mode: 0,
            ret: -13,
            verdict: Verdict::default(),
            path: [0; palisade_common::FILE_PATH_MAX],
            new_path: [b'x'; palisade_common::FILE_PATH_MAX],
        };
        rec.path[..9].copy_from_slice(b"/etc/a.tm");
        let Record::File(file) = decode(&bytes_of(&rec)).unwrap() else { panic!() };
        assert_eq!(file.path, b"/etc/a.tm");
        assert!(!file.path_truncated);
        // A full array has no NUL: all of it is the (truncated) name.
        assert_eq!(file.new_path.as_deref().map(<[u8]>::len), Some(palisade_common::FILE_PATH_MAX));
        assert!(file.new_path_truncated);
        assert_eq!(file.ret, -13);
        // Cut short: refused, not read past the end.
        let bytes = bytes_of(&rec);
        assert!(decode(&bytes[..100]).is_err());
    }

    #[test]
    fn splits_args() {
        assert_eq!(split_args(b""), Vec::<Vec<u8>>::new());
        assert_eq!(split_args(b"a\0\0b\0"), vec![b"a".to_vec(), b"".to_vec(), b"b".to_vec()]);
        assert_eq!(split_args(b"a\0trunc"), vec![b"a".to_vec(), b"trunc".to_vec()]);
    }

    #[test]
    fn converts_device_numbers_like_stat() {
        // 8:1 (sda1) and 259:65536 (a large minor)
        assert_eq!(kernel_dev_to_user((8 << 20) | 1), libc::makedev(8, 1));
        assert_eq!(kernel_dev_to_user((259 << 20) | 65536), libc::makedev(259, 65536));
    }
}
