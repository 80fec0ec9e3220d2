//! Loading the eBPF object into the running kernel and attaching its programs.
//!
//! The enforcing programs (exec tracepoint, LSM hook, cgroup sock_addr
//! hooks) are attached through links pinned under the pin directory, and the
//! enforcement maps are pinned too: enforcement outlives the agent, and the
//! next agent takes the pinned state over (see `pins`).

use aya::{
    Ebpf, EbpfError, EbpfLoader,
    maps::{Array, MapData, PerCpuArray, RingBuf, lpm_trie::LpmTrie},
    programs::{
        CgroupAttachMode, CgroupSkb, CgroupSkbAttachType, CgroupSockAddr, Lsm, ProgramError,
        RawTracePoint, TracePoint,
        links::{FdLink, PinnedLink},
    },
};
use aya_log::{EbpfLogger, Level};
use palisade_common::{CgroupMkdirFormat, KernelOffsets, enforce::mechanism, names};
use thiserror::Error;
use tracing::{info, warn};

use super::{
    btf::{Btf, BtfError},
    files::FileWatch,
    fs::{self, FsError},
    log::KernelLog,
    offsets,
    pins::{self, PinsError},
    probe::{self, Probe},
    rules::{EnforceMaps, RulesError},
};

/// The object built by build.rs from `ebpf/`, 8-byte aligned as the ELF
/// parser expects.
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/palisade-ebpf.o"));

const BTF_PATH: &str = "/sys/kernel/btf/vmlinux";
/// Lines of the verifier's log shown when the kernel refuses a program.
const VERIFIER_TAIL_LINES: usize = 25;

#[derive(Debug, Error)]
pub enum LoadError {
    #[error(
        "palisade must run as root (it loads eBPF programs): run it with sudo or as a privileged DaemonSet"
    )]
    NotRoot,
    #[error(
        "{BTF_PATH} is missing: this kernel was built without CONFIG_DEBUG_INFO_BTF, which Palisade needs to read struct layouts; use a kernel with BTF (every major distribution kernel since 5.4 has it)"
    )]
    NoBtf,
    #[error("cannot read this kernel's struct layouts from {BTF_PATH}")]
    Btf(#[from] BtfError),
    /// Always [`offsets::OffsetsError::Layout`].
    #[error(transparent)]
    Layout(offsets::OffsetsError),
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error(
        "the kernel refused the eBPF object (check that the kernel has BPF ring buffers, 5.8 or newer)"
    )]
    Object(#[source] EbpfError),
    #[error(
        "the object has no {kind} `{name}`: the agent and its eBPF object are out of step; rebuild with `cargo build`"
    )]
    Missing { kind: &'static str, name: &'static str },
    #[error(
        "the kernel's verifier refused program `{name}` ({errno}); last lines of its log:\n{log_tail}\n{advice}"
    )]
    Verifier { name: &'static str, errno: std::io::Error, log_tail: String, advice: &'static str },
    #[error("cannot load or attach program `{name}`")]
    Program {
        name: &'static str,
        #[source]
        source: ProgramError,
    },
    #[error("program `{name}` is not attached through a pinnable BPF link")]
    Link {
        name: &'static str,
        #[source]
        source: aya::programs::links::LinkError,
    },
    #[error(transparent)]
    Pins(#[from] PinsError),
    #[error(transparent)]
    Rules(#[from] RulesError),
    #[error("cannot open the cgroup v2 root {path} to attach the network hooks")]
    Cgroup {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open the eBPF programs' log (map `{}`)", names::MAP_KERNEL_LOG)]
    KernelLog(#[source] aya_log::Error),
    #[error(
        "the syscall tracepoint {tracepoint} has `{field}` at byte {found}, not {expected}: its record layout is not the one the programs read"
    )]
    SyscallLayout { tracepoint: String, field: &'static str, found: u32, expected: u32 },
    #[error("map `{name}` has an unexpected type")]
    Map {
        name: &'static str,
        #[source]
        source: aya::maps::MapError,
    },
}

/// The loaded, attached sensor and enforcement hooks. Dropping it detaches
/// the sensor-only programs (fork, exit); the pinned ones stay in force.
pub struct Sensor {
    /// Keeps the programs loaded and the unpinned ones attached.
    _ebpf: Ebpf,
    /// The enforcing links, also pinned.
    _links: Vec<PinnedLink>,
    /// This agent owns the pinned state while it runs.
    _lock: pins::PinLock,
    pub events: EventRing,
    pub drops: PerCpuArray<MapData, u64>,
    pub rules: EnforceMaps,
    /// The watched file prefixes.
    pub files: FileWatch,
    /// The programs' own log, when it was asked for (see `log`).
    pub kernel_log: Option<EbpfLogger<KernelLog>>,
}

/// The ring every record comes through, and the flag its reader raises
/// while it sleeps until a record wakes it (`READER_ASLEEP`).
pub struct EventRing {
    pub ring: RingBuf<MapData>,
    pub asleep: Array<MapData, u32>,
}

/// Checks the prerequisites, probes the kernel, loads the programs with this
/// kernel's offsets and attaches them. Activity of the process `agent_tgid`
/// is not reported; the ring buffer gets `ring_bytes` (a power of two, page
/// multiple); the programs log at `kernel_log` (`None`: not at all).
pub fn load(
    agent_tgid: u32,
    ring_bytes: u32,
    kernel_log: Option<Level>,
) -> Result<Sensor, LoadError> {
    require_root()?;
    if !std::path::Path::new(BTF_PATH).exists() {
        return Err(LoadError::NoBtf);
    }
    fs::ensure_mounted("tracefs", fs::TRACEFS)?;
    fs::ensure_mounted("bpf", fs::BPFFS)?;
    let lock = pins::lock()?;
    // Read once: the probe and the offsets both need it, and parsing it
    // is most of an agent's start under emulation.
    let btf = Btf::from_sys()?;
    let overlay = offsets::overlay_btf(&btf);
    let probe = probe::probe(Some(&btf), overlay.as_ref(), probe::Depth::ForLoad);
    let offsets = offsets::resolve(&btf, overlay.as_ref()).map_err(|e| match e {
        offsets::OffsetsError::Btf(e) => LoadError::Btf(e),
        layout @ offsets::OffsetsError::Layout(_) => LoadError::Layout(layout),
    })?;
    if offsets.ovl_known == 0 {
        warn!(
            "no BTF for overlayfs (not built in, overlay module not loaded): drift by upper layer is not detected until the agent restarts with overlayfs loaded"
        );
    }
    // Gone before aya parses the BTF its own way, twice: the peak of the
    // agent's memory is its start.
    drop((btf, overlay));
    let adopted = pins::prepare(&lock)?;
    let object = Object { agent_tgid, ring_bytes, kernel_log, offsets };
    let (ebpf, links, events, drops, rules, files, kernel_log) = match object
        .try_load(&probe, adopted)
    {
        // The probe's trial program is not ours: if the real LSM program
        // fails, fall back to the signal, which needs no trampoline.
        Err(err) if probe.mechanisms.exec == mechanism::BPF_LSM => {
            warn!(err = %crate::errors::chain(&err), "the BPF-LSM exec hook failed to load; falling back to SIGKILL at exec");
            let probe = probe.without_lsm("the BPF-LSM program failed to load or attach here: sched_process_exec sends SIGKILL before the first instruction");
            object.try_load(&probe, adopted)
        }
        result => result,
    }?;
    Ok(Sensor { _ebpf: ebpf, _links: links, _lock: lock, events, drops, rules, files, kernel_log })
}

/// What a successful load hands back.
type Loaded = (
    Ebpf,
    Vec<PinnedLink>,
    EventRing,
    PerCpuArray<MapData, u64>,
    EnforceMaps,
    FileWatch,
    Option<EbpfLogger<KernelLog>>,
);

struct Object {
    agent_tgid: u32,
    ring_bytes: u32,
    kernel_log: Option<Level>,
    /// This kernel's field offsets, read from its BTF.
    offsets: KernelOffsets,
}

impl Object {
    /// Loads the object for the mechanisms `probe` chose and attaches every
    /// program.
    fn try_load(&self, probe: &Probe, adopted: bool) -> Result<Loaded, LoadError> {
        let started = std::time::Instant::now();
        let filename_loc = fs::tracepoint_field_offset("sched", "sched_process_exec", "filename")?;
        let cgroup_mkdir = cgroup_mkdir_format()?;
        // Wake the reader early once a quarter of the ring is waiting;
        // otherwise it collects records on its timed poll.
        let wakeup_bytes = u64::from(self.ring_bytes / 4);
        let exec_mechanism = probe.mechanisms.exec;
        // Off, the log's ring buffer is one page: nothing writes to it.
        let log_level = self.kernel_log.map_or(0, u8::from);
        // In a block: the loader's own parse of the BTF is freed before
        // the LSM programs need one.
        let mut ebpf = {
            let mut loader = EbpfLoader::new();
            // The programs read the kernel's structures at offsets the
            // agent resolved itself (`offsets`), with no CO-RE relocation
            // (a test holds the object to that), so aya's kernel BTF,
            // parsed by `new()` whatever is asked (aya issue #1172), is
            // dropped before the load rather than held through it: the
            // difference is the agent's peak memory.
            loader.btf(None);
            if self.kernel_log.is_none() {
                loader.map_max_entries(names::MAP_KERNEL_LOG, page_size());
            }
            loader
                .override_global(names::GLOBAL_OFFSETS, &self.offsets, true)
                .override_global(names::GLOBAL_AGENT_TGID, &self.agent_tgid, true)
                .override_global(names::GLOBAL_EXEC_FILENAME_LOC, &filename_loc, true)
                .override_global(names::GLOBAL_WAKEUP_BYTES, &wakeup_bytes, true)
                .override_global(names::GLOBAL_EXEC_MECHANISM, &exec_mechanism, true)
                .override_global(names::GLOBAL_CGROUP_MKDIR_FORMAT, &cgroup_mkdir, true)
                .override_global(names::GLOBAL_KERNEL_LOG_LEVEL, &log_level, true)
                .map_max_entries(names::MAP_EVENTS, self.ring_bytes)
                .default_map_pin_directory(pins::maps_dir())
                .load(OBJECT)
                .map_err(LoadError::Object)?
        };

        // Maps are taken before attaching. The ring is mapped into this
        // process only once every program is in (records that come before
        // wait in it): its mapping counts 16 MiB of resident memory from
        // the start, and the LSM programs parse the kernel's BTF again
        // meanwhile, the agent's peak when the two overlapped.
        let events = take_map(&mut ebpf, names::MAP_EVENTS)?;
        let asleep = take_map(&mut ebpf, names::MAP_READER_ASLEEP)?;
        let asleep = Array::try_from(asleep)
            .map_err(|source| LoadError::Map { name: names::MAP_READER_ASLEEP, source })?;
        let drops = take_map(&mut ebpf, names::MAP_DROPS)?;
        let drops = PerCpuArray::try_from(drops)
            .map_err(|source| LoadError::Map { name: names::MAP_DROPS, source })?;
        let rules = EnforceMaps::take(&mut ebpf)?;
        let files = take_map(&mut ebpf, names::MAP_FILE_WATCH)?;
        let files = FileWatch::new(
            LpmTrie::try_from(files)
                .map_err(|source| LoadError::Map { name: names::MAP_FILE_WATCH, source })?,
        );
        let kernel_log = match self.kernel_log {
            Some(_) => Some(
                EbpfLogger::init_with_logger(&mut ebpf, KernelLog).map_err(LoadError::KernelLog)?,
            ),
            None => None,
        };

        let mut links = Vec::new();
        let mut pinned = Vec::new();
        // The LSM programs go in before the exec hook's link is replaced:
        // where the BPF-LSM program fails (it is the trial, see
        // `probe::Depth::ForLoad`), an earlier agent's exec hook stays in
        // force through the fallback. Replaced first, the hook was held
        // until the retry by the failed try's exec program, which leaves
        // denial to the LSM program: nothing was denied meanwhile.
        if exec_mechanism == mechanism::BPF_LSM {
            let btf = aya_btf()?;
            for (name, hook) in [
                (names::PROG_BPRM_CHECK, "bprm_check_security"),
                (names::PROG_FILE_LSM, "file_open"),
                (names::PROG_SOCKET_LSM, "socket_create"),
            ] {
                links.push(attach_lsm(&mut ebpf, &btf, name, hook)?);
                pinned.push(name);
            }
            // The path hooks exist only with CONFIG_SECURITY_PATH: without
            // them, exec and open enforcement stand, and only the calls
            // that change names go unjudged.
            for &(name, hook) in names::PATH_LSM_PROGRAMS {
                match attach_lsm(&mut ebpf, &btf, name, hook) {
                    Ok(link) => {
                        links.push(link);
                        pinned.push(name);
                    }
                    Err(err) => warn!(
                        program = name,
                        err = %crate::errors::chain(&err),
                        "a BPF-LSM path hook did not load: kernel.file write prefixes do not deny this call"
                    ),
                }
            }
        }
        let exec: &mut TracePoint = program(&mut ebpf, names::PROG_EXEC)?;
        exec.load().map_err(|e| program_error(names::PROG_EXEC, e))?;
        let id = exec
            .attach("sched", "sched_process_exec")
            .map_err(|e| program_error(names::PROG_EXEC, e))?;
        let link = exec.take_link(id).map_err(|e| program_error(names::PROG_EXEC, e))?;
        links.push(pin(names::PROG_EXEC, FdLink::try_from(link))?);
        pinned.push(names::PROG_EXEC);

        attach_tracepoint(&mut ebpf, names::PROG_EXIT, "sched", "sched_process_exit")?;
        attach_tracepoint(&mut ebpf, names::PROG_CGROUP_MKDIR, "cgroup", "cgroup_mkdir")?;
        let file_syscalls = attach_file_programs(&mut ebpf)?;
        attach_raw_tracepoint(&mut ebpf, names::PROG_FORK, "sched_process_fork")?;
        attach_raw_tracepoint(&mut ebpf, names::PROG_SOCK_STATE, "inet_sock_set_state")?;

        if exec_mechanism != mechanism::BPF_LSM {
            // Without BPF-LSM, denied socket families are held by a kill at
            // the call's entry: pinned, so it holds when the agent is gone.
            let name = names::PROG_SOCKET_ENTER;
            check_syscall_layout("sys_enter_socket", "family", SYSCALL_ARG0)?;
            let prog: &mut TracePoint = program(&mut ebpf, name)?;
            prog.load().map_err(|e| program_error(name, e))?;
            let id =
                prog.attach("syscalls", "sys_enter_socket").map_err(|e| program_error(name, e))?;
            let link = prog.take_link(id).map_err(|e| program_error(name, e))?;
            links.push(pin(name, FdLink::try_from(link))?);
            pinned.push(name);
        }

        if let (mechanism::CGROUP_SOCK_ADDR, Some(root)) =
            (probe.mechanisms.network, probe.cgroup2.as_ref())
        {
            let cgroup = std::fs::File::open(root)
                .map_err(|source| LoadError::Cgroup { path: root.display().to_string(), source })?;
            for name in [
                names::PROG_CONNECT4,
                names::PROG_SENDMSG4,
                names::PROG_CONNECT6,
                names::PROG_SENDMSG6,
            ] {
                let prog: &mut CgroupSockAddr = program(&mut ebpf, name)?;
                prog.load().map_err(|e| program_error(name, e))?;
                let id = prog
                    .attach(&cgroup, CgroupAttachMode::Single)
                    .map_err(|e| program_error(name, e))?;
                let link = prog.take_link(id).map_err(|e| program_error(name, e))?;
                links.push(pin(name, FdLink::try_from(link))?);
                pinned.push(name);
            }
            let name = names::PROG_EGRESS;
            let prog: &mut CgroupSkb = program(&mut ebpf, name)?;
            prog.load().map_err(|e| program_error(name, e))?;
            let id = prog
                .attach(&cgroup, CgroupSkbAttachType::Egress, CgroupAttachMode::Single)
                .map_err(|e| program_error(name, e))?;
            let link = prog.take_link(id).map_err(|e| program_error(name, e))?;
            links.push(pin(name, FdLink::try_from(link))?);
            pinned.push(name);
        }
        pins::remove_links_except(&pinned)?;
        info!(
            exec = mechanism::name(probe.mechanisms.exec),
            network = mechanism::name(probe.mechanisms.network),
            adopted,
            programs = ?pinned,
            file_syscalls,
            kernel_log = ?self.kernel_log,
            // Attaching an LSM program waits for an RCU-tasks grace period,
            // which can take long on an idle or emulated machine.
            elapsed = ?started.elapsed(),
            "sensor and enforcement hooks attached"
        );
        let ring = RingBuf::try_from(events)
            .map_err(|source| LoadError::Map { name: names::MAP_EVENTS, source })?;
        Ok((ebpf, links, EventRing { ring, asleep }, drops, rules, files, kernel_log))
    }
}

/// The size of a memory page: the smallest ring buffer there is.
fn page_size() -> u32 {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u32::try_from(size).unwrap_or(4096)
}

/// Field offsets of `cgroup/cgroup_mkdir`, from its format file.
fn cgroup_mkdir_format() -> Result<CgroupMkdirFormat, LoadError> {
    let at = |field| fs::tracepoint_field_offset("cgroup", "cgroup_mkdir", field);
    Ok(CgroupMkdirFormat {
        root: at("root")?,
        level: at("level")?,
        id: at("id")?,
        path: at("path")?,
    })
}

/// aya's own view of the kernel's BTF, which LSM programs need at load
/// (parsed once for both).
fn aya_btf() -> Result<aya::Btf, LoadError> {
    aya::Btf::from_sys_fs().map_err(|source| LoadError::Program {
        name: names::PROG_BPRM_CHECK,
        source: ProgramError::Btf(source),
    })
}

/// Loads the BPF-LSM program `name` for `hook`, attaches it and pins its
/// link.
fn attach_lsm(
    ebpf: &mut Ebpf,
    btf: &aya::Btf,
    name: &'static str,
    hook: &str,
) -> Result<PinnedLink, LoadError> {
    let lsm: &mut Lsm = program(ebpf, name)?;
    lsm.load(hook, btf).map_err(|e| program_error(name, e))?;
    let id = lsm.attach().map_err(|e| program_error(name, e))?;
    let link = lsm.take_link(id).map_err(|e| program_error(name, e))?;
    pin(name, Ok(link.into()))
}

fn pin(
    name: &'static str,
    link: Result<FdLink, aya::programs::links::LinkError>,
) -> Result<PinnedLink, LoadError> {
    let link = link.map_err(|source| LoadError::Link { name, source })?;
    Ok(pins::pin_link(name, link)?)
}

/// Fails unless running as root: checked before anything else happens.
pub fn require_root() -> Result<(), LoadError> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(LoadError::NotRoot);
    }
    Ok(())
}

fn take_map(ebpf: &mut Ebpf, name: &'static str) -> Result<aya::maps::Map, LoadError> {
    ebpf.take_map(name).ok_or(LoadError::Missing { kind: "map", name })
}

fn program<'a, P>(ebpf: &'a mut Ebpf, name: &'static str) -> Result<&'a mut P, LoadError>
where
    &'a mut P: TryFrom<&'a mut aya::programs::Program, Error = ProgramError>,
{
    let prog = ebpf.program_mut(name).ok_or(LoadError::Missing { kind: "program", name })?;
    prog.try_into().map_err(|source| LoadError::Program { name, source })
}

fn attach_tracepoint(
    ebpf: &mut Ebpf,
    name: &'static str,
    category: &str,
    tracepoint: &str,
) -> Result<(), LoadError> {
    let prog: &mut TracePoint = program(ebpf, name)?;
    prog.load().map_err(|e| program_error(name, e))?;
    prog.attach(category, tracepoint).map_err(|e| program_error(name, e))?;
    Ok(())
}

fn attach_raw_tracepoint(
    ebpf: &mut Ebpf,
    name: &'static str,
    tracepoint: &str,
) -> Result<(), LoadError> {
    let prog: &mut RawTracePoint = program(ebpf, name)?;
    prog.load().map_err(|e| program_error(name, e))?;
    prog.attach(tracepoint).map_err(|e| program_error(name, e))?;
    Ok(())
}

/// As the programs read it ([`palisade_common::offsets::SYSCALL_ARG0`]).
const SYSCALL_ARG0: u32 = palisade_common::offsets::SYSCALL_ARG0 as u32;

/// Checks that `field` of `syscalls/<tracepoint>` is at byte `expected`,
/// where the programs read it.
fn check_syscall_layout(
    tracepoint: &str,
    field: &'static str,
    expected: u32,
) -> Result<(), LoadError> {
    let found = fs::tracepoint_field_offset("syscalls", tracepoint, field)?;
    if found != expected {
        return Err(LoadError::SyscallLayout {
            tracepoint: format!("syscalls/{tracepoint}"),
            field,
            found,
            expected,
        });
    }
    Ok(())
}

/// Attaches the file programs to the entry and exit tracepoints of every
/// watched system call this kernel has (an architecture may lack the old
/// ones, `open` or `rename`); returns how many. The programs read the
/// arguments at fixed offsets, checked here against the format files.
fn attach_file_programs(ebpf: &mut Ebpf) -> Result<usize, LoadError> {
    check_syscall_layout("sys_enter_openat", "filename", SYSCALL_ARG0 + 8)?;
    check_syscall_layout("sys_enter_renameat2", "newname", SYSCALL_ARG0 + 3 * 8)?;
    check_syscall_layout("sys_exit_openat", "ret", SYSCALL_ARG0)?;

    let events = std::path::Path::new(fs::TRACEFS).join("events/syscalls");
    let present: Vec<(&'static str, &'static str)> = (names::FILE_ENTER_PROGRAMS.iter().copied())
        .filter(|(_, tracepoint)| events.join(tracepoint).exists())
        .collect();
    for &(name, tracepoint) in &present {
        attach_tracepoint(ebpf, name, "syscalls", tracepoint)?;
    }
    let exit: &mut TracePoint = program(ebpf, names::PROG_FILE_EXIT)?;
    exit.load().map_err(|e| program_error(names::PROG_FILE_EXIT, e))?;
    for &(_, tracepoint) in &present {
        let exit_tracepoint = tracepoint.replacen("sys_enter_", "sys_exit_", 1);
        exit.attach("syscalls", &exit_tracepoint)
            .map_err(|e| program_error(names::PROG_FILE_EXIT, e))?;
    }
    Ok(present.len())
}

/// Turns a verifier rejection into an error carrying the tail of its log.
fn program_error(name: &'static str, err: ProgramError) -> LoadError {
    match err {
        ProgramError::LoadError { io_error, verifier_log } => {
            let log = format!("{verifier_log:?}");
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(VERIFIER_TAIL_LINES)..].join("\n");
            // EPERM/EACCES from the verifier is what a process without
            // CAP_PERFMON gets for pointer arithmetic and other tracing
            // idioms: a missing capability, not a kernel that does not fit.
            let advice = match io_error.raw_os_error() {
                Some(libc::EPERM | libc::EACCES) => {
                    "The verifier allows this only with CAP_PERFMON (or CAP_SYS_ADMIN): run the agent with CAP_BPF and CAP_PERFMON (see deploy/README.md, \"Capabilities\")"
                }
                _ => {
                    "The program does not fit this kernel; report it with the output of `uname -r`"
                }
            };
            LoadError::Verifier { name, errno: io_error, log_tail: tail, advice }
        }
        source => LoadError::Program { name, source },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The loader gives aya no kernel BTF (see `try_load`): a CO-RE
    /// relocation in the object would then be left unapplied, its field
    /// offsets the build machine's. None may appear; offsets go through
    /// `KernelOffsets`.
    #[test]
    fn the_ebpf_object_needs_no_co_re_relocation() {
        let object = aya_obj::Object::parse(OBJECT).unwrap();
        assert!(!object.has_btf_relocations());
    }
}
