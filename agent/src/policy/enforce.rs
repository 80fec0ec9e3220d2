//! Userspace enforcement of a `kill` decision: SIGKILL through a pidfd, after
//! checking that the pid still names the process the event was about.
//!
//! This acts after the fact (the process has already started running); the
//! decision says so. Blocking before the first instruction is the kernel's
//! job: when a kernel hook acted, [`Enforcement::kernel`] describes it.

use palisade_common::enforce::mechanism;
use serde::Serialize;

use crate::sensor::decode::KernelVerdict;

/// What happened when the agent acted on a decision.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Enforcement {
    /// How it was enforced: a kernel mechanism (`bpf-lsm`,
    /// `sigkill-at-exec`, `cgroup-sock-addr`), `pidfd-sigkill` from
    /// userspace, or `none` when nothing acted.
    pub mechanism: &'static str,
    /// `denied` (the syscall failed with EPERM), `killed`, `exited` (gone
    /// before the signal), `reported` or `failed`.
    pub result: &'static str,
    /// The kernel rule that acted, for kernel mechanisms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Enforcement {
    /// A `block` decision no kernel hook acted on (the rule has no kernel
    /// part, or the kernel lacks the mechanism): reported only, and it says
    /// so.
    pub fn block_not_enforced() -> Self {
        Self {
            mechanism: "none",
            result: "reported",
            rule: None,
            detail: Some("no kernel hook enforces this rule here (see `palisade policy check` and `palisade probe`); the event is reported only".into()),
        }
    }

    /// What a kernel hook did with a matched kernel rule.
    pub fn kernel(verdict: &KernelVerdict) -> Self {
        let result = match verdict.mechanism {
            _ if !verdict.enforced => "reported",
            mechanism::SIGKILL_AT_EXEC => "killed",
            _ => "denied",
        };
        Self {
            mechanism: mechanism::name(verdict.mechanism),
            result,
            rule: Some(verdict.rule.clone()),
            detail: None,
        }
    }
}

/// Clock ticks of tolerance when matching a process's start time: the kernel
/// record has ns, /proc has ticks since boot.
const START_TOLERANCE_TICKS: u64 = 2;

/// SIGKILLs `pid` if it is still the process that started at `start_ns`
/// (monotonic ns since boot).
pub fn kill(pid: u32, start_ns: u64) -> Enforcement {
    let result = |result, detail: Option<String>| Enforcement {
        mechanism: "pidfd-sigkill",
        result,
        rule: None,
        detail,
    };
    // SAFETY: pidfd_open takes a pid and flags; it returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) } as i32;
    if fd < 0 {
        let err = std::io::Error::last_os_error();
        return if err.raw_os_error() == Some(libc::ESRCH) {
            result("exited", None)
        } else {
            result("failed", Some(format!("pidfd_open: {err}")))
        };
    }
    // The pidfd pins the process: if /proc still shows the same start time
    // now, the signal cannot reach a recycled pid.
    let same = procfs::process::Process::new(pid as i32)
        .and_then(|p| p.stat())
        .map(|stat| {
            let ticks = procfs::ticks_per_second().max(1);
            let expected = start_ns / (1_000_000_000 / ticks);
            stat.starttime.abs_diff(expected) <= START_TOLERANCE_TICKS
        })
        .unwrap_or(false);
    let outcome = if !same {
        result("exited", Some("the pid now names another process".into()))
    } else {
        // SAFETY: a valid pidfd, a signal number, no siginfo, no flags.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                fd,
                libc::SIGKILL,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        if rc == 0 {
            result("killed", None)
        } else {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::ESRCH) {
                result("exited", None)
            } else {
                result("failed", Some(format!("pidfd_send_signal: {err}")))
            }
        }
    };
    // SAFETY: closing the fd we opened.
    unsafe { libc::close(fd) };
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn start_ns_of(pid: u32) -> u64 {
        let stat = procfs::process::Process::new(pid as i32).unwrap().stat().unwrap();
        stat.starttime * (1_000_000_000 / procfs::ticks_per_second())
    }

    #[test]
    fn kills_the_process_it_was_asked_about() {
        let mut child = Command::new("/usr/bin/sleep").arg("30").spawn().unwrap();
        let outcome = kill(child.id(), start_ns_of(child.id()));
        assert_eq!(outcome.result, "killed", "{outcome:?}");
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
    }

    #[test]
    fn spares_a_pid_whose_start_time_differs() {
        let mut child = Command::new("/usr/bin/sleep").arg("30").spawn().unwrap();
        let outcome = kill(child.id(), start_ns_of(child.id()) + 60_000_000_000);
        assert_eq!(outcome.result, "exited");
        assert!(child.try_wait().unwrap().is_none(), "still running");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    #[test]
    fn a_gone_process_is_reported_as_exited() {
        let mut child = Command::new("/usr/bin/true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert_eq!(kill(pid, 0).result, "exited");
    }
}
