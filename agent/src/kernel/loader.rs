//! Loading the eBPF object into the running kernel and attaching its programs.

use aya::{
    Ebpf, EbpfError, EbpfLoader,
    maps::{MapData, PerCpuArray, RingBuf},
    programs::{ProgramError, RawTracePoint, TracePoint},
};
use palisade_common::names;
use thiserror::Error;
use tracing::info;

use super::{
    btf::{Btf, BtfError},
    fs::{self, FsError},
    offsets,
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
    #[error("cannot read this kernel's struct layouts from {BTF_PATH}: {0}")]
    Btf(#[from] BtfError),
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error(
        "the kernel refused the eBPF object: {0}; check that the kernel has BPF ring buffers (5.8 or newer)"
    )]
    Object(#[source] EbpfError),
    #[error(
        "the object has no {kind} `{name}`: the agent and its eBPF object are out of step; rebuild with `cargo build`"
    )]
    Missing { kind: &'static str, name: &'static str },
    #[error(
        "the kernel's verifier refused program `{name}` ({errno}); last lines of its log:\n{log_tail}\nThe program does not fit this kernel; report it with the output of `uname -r`"
    )]
    Verifier { name: &'static str, errno: std::io::Error, log_tail: String },
    #[error("cannot load or attach program `{name}`: {source}")]
    Program {
        name: &'static str,
        #[source]
        source: ProgramError,
    },
    #[error("map `{name}` has an unexpected type: {source}")]
    Map {
        name: &'static str,
        #[source]
        source: aya::maps::MapError,
    },
}

/// The loaded, attached process sensor. Dropping it detaches the programs.
pub struct Sensor {
    /// Keeps the programs loaded and attached.
    _ebpf: Ebpf,
    pub events: RingBuf<MapData>,
    pub drops: PerCpuArray<MapData, u64>,
}

/// Checks the prerequisites, loads the programs with this kernel's offsets
/// and attaches them. Activity of the process `agent_tgid` is not reported;
/// the ring buffer gets `ring_bytes` (a power of two, page multiple).
pub fn load(agent_tgid: u32, ring_bytes: u32) -> Result<Sensor, LoadError> {
    require_root()?;
    if !std::path::Path::new(BTF_PATH).exists() {
        return Err(LoadError::NoBtf);
    }
    fs::ensure_mounted("tracefs", fs::TRACEFS)?;
    fs::ensure_mounted("bpf", fs::BPFFS)?;

    let offsets = offsets::resolve(&Btf::from_sys()?)?;
    let filename_loc = fs::tracepoint_field_offset("sched", "sched_process_exec", "filename")?;

    // Wake the reader early once a quarter of the ring is waiting; otherwise
    // it collects records on its timed poll.
    let wakeup_bytes = u64::from(ring_bytes / 4);
    let mut ebpf = EbpfLoader::new()
        .override_global(names::GLOBAL_OFFSETS, &offsets, true)
        .override_global(names::GLOBAL_AGENT_TGID, &agent_tgid, true)
        .override_global(names::GLOBAL_EXEC_FILENAME_LOC, &filename_loc, true)
        .override_global(names::GLOBAL_WAKEUP_BYTES, &wakeup_bytes, true)
        .map_max_entries(names::MAP_EVENTS, ring_bytes)
        .load(OBJECT)
        .map_err(LoadError::Object)?;

    // Maps are taken before attaching so the reader exists when events flow.
    let events = take_map(&mut ebpf, names::MAP_EVENTS)?;
    let events = RingBuf::try_from(events)
        .map_err(|source| LoadError::Map { name: names::MAP_EVENTS, source })?;
    let drops = take_map(&mut ebpf, names::MAP_DROPS)?;
    let drops = PerCpuArray::try_from(drops)
        .map_err(|source| LoadError::Map { name: names::MAP_DROPS, source })?;

    attach_tracepoint(&mut ebpf, names::PROG_EXEC, "sched", "sched_process_exec")?;
    attach_tracepoint(&mut ebpf, names::PROG_EXIT, "sched", "sched_process_exit")?;
    let fork: &mut RawTracePoint = program(&mut ebpf, names::PROG_FORK)?;
    fork.load().map_err(|e| program_error(names::PROG_FORK, e))?;
    fork.attach("sched_process_fork").map_err(|e| program_error(names::PROG_FORK, e))?;
    info!(
        exec = names::PROG_EXEC,
        fork = names::PROG_FORK,
        exit = names::PROG_EXIT,
        "process sensor attached"
    );
    Ok(Sensor { _ebpf: ebpf, events, drops })
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

/// Turns a verifier rejection into an error carrying the tail of its log.
fn program_error(name: &'static str, err: ProgramError) -> LoadError {
    match err {
        ProgramError::LoadError { io_error, verifier_log } => {
            let log = format!("{verifier_log:?}");
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(VERIFIER_TAIL_LINES)..].join("\n");
            LoadError::Verifier { name, errno: io_error, log_tail: tail }
        }
        source => LoadError::Program { name, source },
    }
}
