//! What the running kernel offers, and the enforcement mechanism the agent
//! picks from it: `palisade probe` prints this, and `palisade run` picks the
//! same way at start-up.

use std::path::PathBuf;

use aya::{
    maps::MapType,
    programs::{LsmAttachType, ProgramType},
    sys::{BpfHelper, is_helper_supported, is_map_supported, is_program_supported},
};
use palisade_common::enforce::mechanism;
use serde::Serialize;

use super::{btf::Btf, fs};
use crate::errors::chain;

const LSM_LIST: &str = "/sys/kernel/security/lsm";
const SECURITYFS: &str = "/sys/kernel/security";

/// How file operations are judged, by mechanism.
const FILE_LSM_WHY: &str = "BPF-LSM file_open and path_* hooks deny, by the resolved path with EPERM, opens under kernel.file prefixes and, under write prefixes, unlinks, renames, links, creates, truncation, chmod and chown";
const FILE_NONE_WHY: &str = "no BPF-LSM: syscall tracepoints report opens, unlinks, renames and chmods of watched paths; kernel.file rules are not enforced";

/// How socket families a rule denies are held, by mechanism.
const SOCKET_LSM_WHY: &str =
    "BPF-LSM socket_create refuses a socket of a family under kernel.socket with EPERM";
const SOCKET_KILL_WHY: &str = "no BPF-LSM: the sys_enter_socket tracepoint kills the caller of a socket of a family under kernel.socket before the call returns (the socket exists for that moment; io_uring's socket op and 32-bit callers pass unseen)";
const SOCKET_NONE_WHY: &str =
    "no BPF-LSM and no bpf_send_signal: kernel.socket rules are reported only";

/// One capability: whether the kernel has it, and how we know.
#[derive(Debug, Clone, Serialize)]
pub struct Capability {
    pub name: &'static str,
    pub available: bool,
    pub detail: String,
}

/// Everything the probe found.
#[derive(Debug, Clone, Serialize)]
pub struct Probe {
    pub kernel: String,
    pub capabilities: Vec<Capability>,
    /// The cgroup v2 mount the network hooks attach to, if any.
    #[serde(skip)]
    pub cgroup2: Option<PathBuf>,
    pub mechanisms: Mechanisms,
    /// Palisade's programs loaded in the kernel now, by (kernel-truncated)
    /// name, and the links pinned under the pin directory: what is in force.
    pub loaded: Loaded,
}

/// What of Palisade is in the kernel right now.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Loaded {
    pub programs: std::collections::BTreeMap<String, usize>,
    pub pinned_links: Vec<String>,
}

impl Loaded {
    pub fn now() -> Self {
        let mut programs = std::collections::BTreeMap::new();
        for info in aya::programs::loaded_programs().filter_map(Result::ok) {
            if let Some(name) = info.name_as_str().filter(|n| n.starts_with("palisade")) {
                *programs.entry(name.to_string()).or_insert(0) += 1;
            }
        }
        let mut pinned_links: Vec<String> = std::fs::read_dir(super::pins::links_dir())
            .map(|dir| {
                dir.filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        pinned_links.sort();
        Self { programs, pinned_links }
    }
}

/// The mechanism chosen for each kind of enforcement, and why.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Mechanisms {
    #[serde(serialize_with = "mechanism_name")]
    pub exec: u32,
    pub exec_why: &'static str,
    #[serde(serialize_with = "mechanism_name")]
    pub network: u32,
    pub network_why: &'static str,
    /// Kernel file rules: BPF-LSM's `file_open`, where exec uses BPF-LSM.
    #[serde(serialize_with = "mechanism_name")]
    pub file: u32,
    pub file_why: &'static str,
    /// Socket families a rule denies (`kernel.socket`).
    #[serde(serialize_with = "mechanism_name")]
    pub socket: u32,
    pub socket_why: &'static str,
}

fn mechanism_name<S: serde::Serializer>(m: &u32, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(mechanism::name(*m))
}

impl Probe {
    fn has(&self, name: &str) -> bool {
        self.capabilities.iter().any(|c| c.name == name && c.available)
    }

    /// The exec mechanism after the real LSM program failed to load or
    /// attach although the probe said it would: the signal fallback.
    pub fn without_lsm(mut self, why: &'static str) -> Self {
        self.mechanisms.exec =
            if self.has("bpf_send_signal") { mechanism::SIGKILL_AT_EXEC } else { mechanism::NONE };
        self.mechanisms.exec_why = why;
        (self.mechanisms.file, self.mechanisms.file_why) = (mechanism::NONE, FILE_NONE_WHY);
        (self.mechanisms.socket, self.mechanisms.socket_why) =
            socket_mechanism(self.mechanisms.exec);
        self
    }

    /// The human table `palisade probe` prints.
    ///
    pub fn table(&self) -> String {
        let mut out = format!("kernel {}\n\n", self.kernel);
        let width = self.capabilities.iter().map(|c| c.name.len()).max().unwrap_or(0);
        for c in &self.capabilities {
            let mark = if c.available { "yes" } else { "no " };
            out.push_str(&format!("  {:width$}  {mark}  {}\n", c.name, c.detail));
        }
        let m = &self.mechanisms;
        out.push_str(&format!(
            "\nexec enforcement:    {:<18} {}\nnetwork enforcement: {:<18} {}\nfile enforcement:    {:<18} {}\nsocket enforcement:  {:<18} {}\n",
            mechanism::name(m.exec),
            m.exec_why,
            mechanism::name(m.network),
            m.network_why,
            mechanism::name(m.file),
            m.file_why,
            mechanism::name(m.socket),
            m.socket_why,
        ));
        if self.loaded.pinned_links.is_empty() {
            out.push_str(
                "\nin force: nothing pinned (no agent has run, or `palisade unload` ran)\n",
            );
        } else {
            out.push_str(&format!(
                "\nin force: pinned links {}\n",
                self.loaded.pinned_links.join(", ")
            ));
        }
        out
    }
}

/// Where overlayfs's `struct ovl_inode` is described, which the drift
/// check's upper-layer test needs.
fn overlay_btf(vmlinux: Option<&Btf>, overlay_module: Option<&Btf>) -> (bool, String) {
    match (vmlinux, overlay_module) {
        (None, _) => (false, "no vmlinux BTF".into()),
        (Some(v), _) if v.has_struct("ovl_inode") => {
            (true, "ovl_inode in vmlinux (overlayfs built in)".into())
        }
        (Some(_), Some(_)) => (true, "ovl_inode in /sys/kernel/btf/overlay (module)".into()),
        (Some(_), None) => (
            false,
            "no overlayfs BTF (not built in, module not loaded): drift by upper layer is off"
                .into(),
        ),
    }
}

/// How much [`probe`] tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// Every capability, for `palisade probe`.
    Full,
    /// What the loader needs to choose mechanisms, without aya's trial
    /// programs of the BTF-typed kinds (trampolines, LSM): each parses
    /// vmlinux's BTF again (0.3 s per agent start under emulation,
    /// measured in the 6.1 VM). The trampoline test decides nothing; where
    /// BPF-LSM is active, the real LSM program is the trial: the loader
    /// falls back to SIGKILL at exec if it fails to load or attach.
    ForLoad,
}

/// Probes the running kernel, given its BTF as read once by the caller
/// (`vmlinux`, and overlayfs's module BTF when it has one). Needs root (it
/// loads tiny test programs).
pub fn probe(vmlinux: Option<&Btf>, overlay_module: Option<&Btf>, depth: Depth) -> Probe {
    let mut caps = Vec::new();
    let mut add =
        |name, available, detail: String| caps.push(Capability { name, available, detail });

    let btf = vmlinux.is_some();
    add("btf", btf, "/sys/kernel/btf/vmlinux".into());

    let (overlay, overlay_where) = overlay_btf(vmlinux, overlay_module);
    add("overlayfs_btf", overlay, overlay_where);

    let bpffs = fs::ensure_mounted("bpf", fs::BPFFS);
    add("bpffs", bpffs.is_ok(), bpffs.map_or_else(|e| chain(&e), |()| fs::BPFFS.into()));

    let ringbuf = is_map_supported(MapType::RingBuf);
    add("ring_buffer", matches!(ringbuf, Ok(true)), outcome(&ringbuf.map_err(|e| chain(&e))));

    let signal = is_helper_supported(ProgramType::TracePoint, BpfHelper::BPF_FUNC_send_signal);
    let signal_ok = matches!(signal, Ok(true));
    add("bpf_send_signal", signal_ok, outcome(&signal.map_err(|e| chain(&e))));

    let lsms = lsm_list();
    let lsm_active = lsms.as_ref().is_ok_and(|l| l.iter().any(|m| m == "bpf"));
    add(
        "bpf_lsm_active",
        lsm_active,
        match &lsms {
            Ok(l) => format!("{LSM_LIST}: {}", l.join(",")),
            Err(e) => e.clone(),
        },
    );

    if depth == Depth::Full {
        let trampolines = is_program_supported(ProgramType::Tracing);
        let trampolines_ok = matches!(trampolines, Ok(true));
        add("bpf_trampolines", trampolines_ok, outcome(&trampolines.map_err(|e| chain(&e))));
    }
    let lsm_prog_ok = match depth {
        Depth::Full => {
            let lsm_prog = is_program_supported(ProgramType::Lsm(LsmAttachType::Mac));
            let lsm_prog_ok = matches!(lsm_prog, Ok(true));
            add("lsm_programs", lsm_prog_ok, outcome(&lsm_prog.map_err(|e| chain(&e))));
            lsm_prog_ok
        }
        // Tried by loading the real program (see `Depth::ForLoad`).
        Depth::ForLoad => lsm_active,
    };

    let cgroup2 = cgroup2_mount();
    add(
        "cgroup_v2",
        cgroup2.is_some(),
        cgroup2.as_ref().map_or("no cgroup2 mount".into(), |p| p.display().to_string()),
    );

    let sock_addr = is_program_supported(ProgramType::CgroupSockAddr);
    let sock_addr_ok = matches!(sock_addr, Ok(true));
    add("cgroup_sock_addr", sock_addr_ok, outcome(&sock_addr.map_err(|e| chain(&e))));

    // Kernel rules scoped to workloads: each hook reads its caller's cgroup
    // (and, for a cgroup not registered yet, its ancestors').
    let ancestors = [ProgramType::TracePoint, ProgramType::CgroupSockAddr].map(|p| {
        is_helper_supported(p, BpfHelper::BPF_FUNC_get_current_ancestor_cgroup_id)
            .map_err(|e| chain(&e))
    });
    let ancestors_ok = ancestors.iter().all(|r| matches!(r, Ok(true)));
    add(
        "workload_scopes",
        ancestors_ok && cgroup2.is_some(),
        if cgroup2.is_none() {
            "no cgroup v2 mount: kernel rules cannot tell workloads apart".into()
        } else if ancestors_ok {
            "bpf_get_current_cgroup_id and bpf_get_current_ancestor_cgroup_id in the exec and sock_addr hooks: kernel rules and exceptions per namespace, labels, image, container".into()
        } else {
            format!(
                "bpf_get_current_ancestor_cgroup_id: tracepoint {}, cgroup sock_addr {}",
                outcome(&ancestors[0]),
                outcome(&ancestors[1])
            )
        },
    );

    let (exec, exec_why) = if lsm_active && lsm_prog_ok && btf {
        (mechanism::BPF_LSM, "BPF-LSM is active: bprm_check_security fails the exec with EPERM")
    } else if signal_ok {
        (
            mechanism::SIGKILL_AT_EXEC,
            if lsm_active {
                "BPF-LSM is active but LSM programs cannot load here: sched_process_exec sends SIGKILL before the first instruction"
            } else {
                "BPF-LSM is not active (add `bpf` to the lsm= boot parameter to use it): sched_process_exec sends SIGKILL before the first instruction"
            },
        )
    } else {
        (mechanism::NONE, "neither BPF-LSM nor bpf_send_signal: exec denials are reported only")
    };
    let (network, network_why) = if cgroup2.is_some() && sock_addr_ok {
        (
            mechanism::CGROUP_SOCK_ADDR,
            "cgroup connect4/6 and sendmsg4/6 on the cgroup v2 root return EPERM",
        )
    } else {
        (
            mechanism::NONE,
            "no cgroup v2 mount or no cgroup sock_addr programs: network denials are reported only",
        )
    };

    let (file, file_why) = if exec == mechanism::BPF_LSM {
        (mechanism::BPF_LSM, FILE_LSM_WHY)
    } else {
        (mechanism::NONE, FILE_NONE_WHY)
    };
    let (socket, socket_why) = socket_mechanism(exec);
    Probe {
        kernel: kernel_release(),
        capabilities: caps,
        cgroup2,
        mechanisms: Mechanisms {
            exec,
            exec_why,
            network,
            network_why,
            file,
            file_why,
            socket,
            socket_why,
        },
        loaded: Loaded::now(),
    }
}

/// Socket families follow exec: the LSM hook where exec has BPF-LSM, else
/// a kill at the syscall's entry where exec can kill.
fn socket_mechanism(exec: u32) -> (u32, &'static str) {
    match exec {
        mechanism::BPF_LSM => (mechanism::BPF_LSM, SOCKET_LSM_WHY),
        mechanism::SIGKILL_AT_EXEC => (mechanism::SIGKILL_AT_SYSCALL, SOCKET_KILL_WHY),
        _ => (mechanism::NONE, SOCKET_NONE_WHY),
    }
}

fn outcome(result: &Result<bool, String>) -> String {
    match result {
        Ok(true) => "probe program loaded".into(),
        Ok(false) => "not supported by this kernel".into(),
        Err(e) => format!("refused: {e}"),
    }
}

fn lsm_list() -> Result<Vec<String>, String> {
    fs::ensure_mounted("securityfs", SECURITYFS).map_err(|e| chain(&e))?;
    let text = std::fs::read_to_string(LSM_LIST).map_err(|e| format!("{LSM_LIST}: {e}"))?;
    Ok(text.trim().split(',').map(str::to_string).collect())
}

/// Where cgroup v2 is mounted (`/sys/fs/cgroup`, or
/// `/sys/fs/cgroup/unified` on a hybrid layout).
pub fn cgroup2_mount() -> Option<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
    mounts.lines().find_map(|line| {
        let mut fields = line.split_whitespace();
        let (_, target, fstype) = (fields.next()?, fields.next()?, fields.next()?);
        (fstype == "cgroup2").then(|| PathBuf::from(target))
    })
}

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or_else(|_| "?".into(), |s| s.trim().into())
}
