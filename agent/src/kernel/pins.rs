//! What the agent leaves in the kernel on purpose: the enforcement maps and
//! the links of its programs, pinned under [`PIN_DIR`] so that enforcement
//! stays in force when the agent dies, and so that a new agent takes over the
//! same state instead of stacking a second copy of every program.
//!
//! Layout: `PIN_DIR/maps/<MAP>` and `PIN_DIR/links/<program>`; while an
//! agent of another map layout takes over, `PIN_DIR/earlier/` too (see
//! [`release_earlier_links`]).

use std::{
    collections::HashSet,
    io,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use aya::{
    maps::MapInfo,
    pin::PinError,
    programs::links::{FdLink, PinnedLink},
};
use palisade_common::{
    enforce::{
        ENFORCE_MAP_ENTRIES, ExecInodeKey, ExecNameKey, FILE_PRESENT_SLOTS, FileRuleData, Net4Data,
        Net6Data, PROFILE_SLOTS, SocketKey, Verdict, WORKLOAD_MAP_ENTRIES, Workload,
    },
    names,
};
use thiserror::Error;
use tracing::{info, warn};

pub const PIN_DIR: &str = names::PIN_DIR;

#[derive(Debug, Error)]
pub enum PinsError {
    #[error("cannot prepare the pin directory {path}")]
    Dir {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot pin the link of program `{name}` at {path}")]
    Pin {
        name: &'static str,
        path: String,
        #[source]
        source: PinError,
    },
    #[error(
        "another palisade agent is running on this node (it holds the lock on {PIN_DIR}); stop it first: one agent owns the kernel state"
    )]
    Busy,
    #[error("cannot remove {path}")]
    Remove {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot move {from} to {to}")]
    Move {
        from: String,
        to: String,
        #[source]
        source: io::Error,
    },
    #[error(
        "the pins are removed, but after {waited:?} the kernel still runs {programs}: another process holds them (bpftool prog show id <id>)"
    )]
    StillLoaded { waited: Duration, programs: String },
    #[error("cannot list the kernel's programs")]
    Programs(#[source] aya::programs::ProgramError),
}

pub fn maps_dir() -> PathBuf {
    Path::new(PIN_DIR).join("maps")
}

pub fn links_dir() -> PathBuf {
    Path::new(PIN_DIR).join("links")
}

/// The key and value sizes each pinned map must have. A map pinned by an
/// agent with another layout cannot be shared: it is replaced.
fn expected_layout(name: &str) -> Option<(u32, u32)> {
    let verdict = size_of::<Verdict>() as u32;
    // An LPM-trie key is the kernel's u32 prefix length, then the data.
    let lpm = |data: usize| 4 + data as u32;
    Some(match name {
        names::MAP_ENFORCE_ACTIVE | names::MAP_NET_PRESENT | names::MAP_FILE_PRESENT => (4, 4),
        names::MAP_EXEC_DENY_INODE => (size_of::<ExecInodeKey>() as u32, verdict),
        names::MAP_EXEC_DENY_NAME => (size_of::<ExecNameKey>() as u32, verdict),
        names::MAP_SOCKET_DENY => (size_of::<SocketKey>() as u32, verdict),
        names::MAP_EXEC_DRIFT => (4, verdict),
        names::MAP_WORKLOADS => (8, size_of::<Workload>() as u32),
        names::MAP_NET4_RULES => (lpm(size_of::<Net4Data>()), verdict),
        names::MAP_NET6_RULES => (lpm(size_of::<Net6Data>()), verdict),
        names::MAP_FILE_RULES => (lpm(size_of::<FileRuleData>()), verdict),
        _ => return None,
    })
}

/// The exclusive lock on the pin directory: one agent (or `unload`) at a
/// time owns the kernel state. Released when the process exits, however it
/// exits.
pub struct PinLock(#[allow(dead_code, reason = "held for its lifetime")] std::fs::File);

/// Creates the pin directory and takes its lock.
pub fn lock() -> Result<PinLock, PinsError> {
    let dir = Path::new(PIN_DIR);
    std::fs::create_dir_all(dir)
        .map_err(|source| PinsError::Dir { path: PIN_DIR.into(), source })?;
    let file = std::fs::File::open(dir)
        .map_err(|source| PinsError::Dir { path: PIN_DIR.into(), source })?;
    // SAFETY: flock on a file descriptor we own.
    if unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&file), libc::LOCK_EX | libc::LOCK_NB) }
        != 0
    {
        let err = io::Error::last_os_error();
        return Err(if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
            PinsError::Busy
        } else {
            PinsError::Dir { path: PIN_DIR.into(), source: err }
        });
    }
    Ok(PinLock(file))
}

/// Creates the pin directories and looks at the pinned maps; returns
/// whether pinned state from an earlier agent is being taken over. When a
/// map does not fit this agent (an unknown name, another layout), every
/// pinned map is replaced, and the earlier agent's links are moved aside:
/// see [`release_earlier_links`]. Needs the [`PinLock`].
pub fn prepare(_lock: &PinLock) -> Result<bool, PinsError> {
    for dir in [maps_dir(), links_dir()] {
        std::fs::create_dir_all(&dir)
            .map_err(|source| PinsError::Dir { path: dir.display().to_string(), source })?;
    }
    let pinned: Vec<(String, PathBuf)> = read_dir(&maps_dir())?
        .map(|entry| (entry.file_name().to_string_lossy().into_owned(), entry.path()))
        .collect();
    let misfits: Vec<&str> =
        (pinned.iter()).filter(|(name, path)| !fits(name, path)).map(|(name, _)| &**name).collect();
    let mut kept_links = false;
    if !misfits.is_empty() {
        // Every map, not only the misfits: a map this agent shared would
        // be written by it (its generation numbering is its own) while the
        // earlier agent's programs, kept below, still read it.
        warn!(
            misfits = ?misfits,
            "pinned maps do not fit this agent's layout (left by another version): replacing every pinned map"
        );
        for (_, path) in &pinned {
            remove(path)?;
        }
        kept_links = keep_earlier_links()?;
    }
    // Taken over: maps this agent shares, or an earlier agent's links (in
    // force until this agent's replace them, or kept beside them).
    Ok((misfits.is_empty() && !pinned.is_empty())
        || kept_links
        || read_dir(&links_dir())?.next().is_some())
}

/// Whether the map pinned at `path` as `name` has this agent's layout.
fn fits(name: &str, path: &Path) -> bool {
    expected_layout(name).is_some_and(|(key, value)| {
        MapInfo::from_pin(path).is_ok_and(|info| {
            info.key_size() == key
                && info.value_size() == value
                && match name {
                    names::MAP_ENFORCE_ACTIVE => info.max_entries() == 1,
                    names::MAP_NET_PRESENT | names::MAP_EXEC_DRIFT => {
                        info.max_entries() == PROFILE_SLOTS
                    }
                    names::MAP_FILE_PRESENT => info.max_entries() == FILE_PRESENT_SLOTS,
                    names::MAP_WORKLOADS => info.max_entries() == WORKLOAD_MAP_ENTRIES,
                    _ => info.max_entries() == ENFORCE_MAP_ENTRIES,
                }
        })
    })
}

/// Where an earlier agent's links wait while this agent starts on maps of
/// a new layout: `PIN_DIR/earlier/<pid>-<program>`.
pub fn earlier_dir() -> PathBuf {
    Path::new(PIN_DIR).join("earlier")
}

/// Moves the earlier agent's link pins to [`earlier_dir`], where this
/// agent's pins do not replace them: they stay attached, and its programs
/// hold its maps and rules, so they keep denying until this agent's rules
/// are in force. Replaced at once, as the links of an agent of the same
/// layout are, the hooks would run on empty maps in between. Two programs
/// on a hook both run, and either denies. Pinned rather than held, they
/// outlive this agent if it dies first; the next start releases them.
/// Returns whether there were any.
fn keep_earlier_links() -> Result<bool, PinsError> {
    let dir = earlier_dir();
    std::fs::create_dir_all(&dir)
        .map_err(|source| PinsError::Dir { path: dir.display().to_string(), source })?;
    let mut kept = Vec::new();
    for entry in read_dir(&links_dir())? {
        let name = entry.file_name().to_string_lossy().into_owned();
        let to = dir.join(format!("{}-{name}", std::process::id()));
        std::fs::rename(entry.path(), &to).map_err(|source| PinsError::Move {
            from: entry.path().display().to_string(),
            to: to.display().to_string(),
            source,
        })?;
        kept.push(name);
    }
    if !kept.is_empty() {
        info!(
            programs = ?kept,
            "the earlier agent's links stay attached until this agent's rules are in force"
        );
    }
    Ok(!kept.is_empty())
}

/// Detaches the links kept in [`earlier_dir`] (this agent's rules are in
/// force), by this start or by one that died before this point.
pub fn release_earlier_links() -> Result<(), PinsError> {
    let dir = earlier_dir();
    if !dir.exists() {
        return Ok(());
    }
    let mut released = Vec::new();
    for entry in read_dir(&dir)? {
        remove(&entry.path())?;
        released.push(entry.file_name().to_string_lossy().into_owned());
    }
    remove_dir(&dir)?;
    info!(links = ?released, "released the earlier agent's links");
    Ok(())
}

/// Pins a freshly attached link as `links/<name>`, replacing the link an
/// earlier agent pinned there. The new link is attached before the old one
/// goes, so the hook is never left without a program.
pub fn pin_link(name: &'static str, link: FdLink) -> Result<PinnedLink, PinsError> {
    let path = links_dir().join(name);
    let replaced = path.exists();
    if replaced {
        remove(&path)?;
    }
    let pinned = link.pin(&path).map_err(|source| PinsError::Pin {
        name,
        path: path.display().to_string(),
        source,
    })?;
    if replaced {
        info!(program = name, "took over the pinned link of an earlier agent");
    }
    Ok(pinned)
}

/// Removes the link pins of programs this agent did not attach (e.g. the LSM
/// hook after a reboot without BPF-LSM), so nothing stale stays attached.
pub fn remove_links_except(keep: &[&str]) -> Result<(), PinsError> {
    for entry in read_dir(&links_dir())? {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !keep.contains(&name.as_str()) {
            info!(program = name, "detaching a pinned program this agent does not use");
            remove(&entry.path())?;
        }
    }
    Ok(())
}

/// What `palisade unload` removed.
#[derive(Debug, Default, serde::Serialize)]
pub struct Unloaded {
    pub links: Vec<String>,
    pub maps: Vec<String>,
    pub released: Released,
}

/// Whether `unload` saw the kernel let go of the programs.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Released {
    /// Nothing was pinned, or every program is out of the kernel.
    #[default]
    Seen,
    /// Without CAP_SYS_ADMIN the kernel's programs cannot be listed: they
    /// go a moment after the pins.
    NotSeen,
}

/// Removes everything the agent pinned: the links (which detaches the
/// programs) and the maps. The kernel frees each object once nothing else
/// holds it (a running agent still does, until it exits).
pub fn unload() -> Result<Unloaded, PinsError> {
    let mut done = Unloaded::default();
    if !Path::new(PIN_DIR).exists() {
        return Ok(done);
    }
    let _lock = lock()?;
    let programs = linked_programs()?;
    let mut earlier = Vec::new();
    for (dir, list) in [
        (links_dir(), &mut done.links),
        (earlier_dir(), &mut earlier),
        (maps_dir(), &mut done.maps),
    ] {
        if dir.exists() {
            for entry in read_dir(&dir)? {
                remove(&entry.path())?;
                list.push(entry.file_name().to_string_lossy().into_owned());
            }
            remove_dir(&dir)?;
        }
    }
    remove_dir(Path::new(PIN_DIR))?;
    done.released = wait_until_unloaded(programs, UNLOAD_WAIT)?;
    done.links.extend(earlier);
    done.links.sort();
    done.maps.sort();
    Ok(done)
}

/// How long `unload` waits for the kernel to let go of the programs.
const UNLOAD_WAIT: Duration = Duration::from_secs(10);

/// The programs the pinned links hold (an earlier agent's kept ones
/// included), by id and link name.
fn linked_programs() -> Result<Vec<(u32, String)>, PinsError> {
    let mut programs = Vec::new();
    for dir in [links_dir(), earlier_dir()] {
        if !dir.exists() {
            continue;
        }
        programs.extend(read_dir(&dir)?.filter_map(|entry| {
            let link = FdLink::from(PinnedLink::from_pin(entry.path()).ok()?);
            let info = link.info().ok()?;
            Some((info.program_id(), entry.file_name().to_string_lossy().into_owned()))
        }));
    }
    Ok(programs)
}

/// Waits until none of `programs` is loaded; returns whether that could be
/// seen. A link whose pin is removed is released later (after an RCU grace
/// period, then on a kernel worker since Linux 6.5), so the hook runs for a
/// moment after `unlink` returns; `unload` returns once its programs are
/// gone, which is after each link's detach: enforcement is then off, not
/// about to be. Listing the kernel's programs needs CAP_SYS_ADMIN, which an
/// `unload` given only CAP_BPF (deploy/README.md) lacks: it cannot wait.
fn wait_until_unloaded(
    mut programs: Vec<(u32, String)>,
    limit: Duration,
) -> Result<Released, PinsError> {
    let started = Instant::now();
    loop {
        let loaded: Result<HashSet<u32>, _> =
            aya::programs::loaded_programs().map(|info| info.map(|info| info.id())).collect();
        let loaded = match loaded {
            Ok(loaded) => loaded,
            Err(aya::programs::ProgramError::SyscallError(e))
                if e.io_error.raw_os_error() == Some(libc::EPERM) =>
            {
                return Ok(Released::NotSeen);
            }
            Err(e) => return Err(PinsError::Programs(e)),
        };
        programs.retain(|(id, _)| loaded.contains(id));
        if programs.is_empty() {
            return Ok(Released::Seen);
        }
        if started.elapsed() >= limit {
            let programs = (programs.iter())
                .map(|(id, name)| format!("{name} (id {id})"))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(PinsError::StillLoaded { waited: limit, programs });
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn read_dir(dir: &Path) -> Result<impl Iterator<Item = std::fs::DirEntry>, PinsError> {
    Ok(std::fs::read_dir(dir)
        .map_err(|source| PinsError::Dir { path: dir.display().to_string(), source })?
        .filter_map(Result::ok))
}

fn remove(path: &Path) -> Result<(), PinsError> {
    std::fs::remove_file(path)
        .map_err(|source| PinsError::Remove { path: path.display().to_string(), source })
}

fn remove_dir(path: &Path) -> Result<(), PinsError> {
    std::fs::remove_dir(path)
        .map_err(|source| PinsError::Remove { path: path.display().to_string(), source })
}
