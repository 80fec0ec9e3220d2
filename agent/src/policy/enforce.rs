//! Userspace enforcement of a `kill` decision: SIGKILL through a pidfd, after
//! checking that the pid still names the process the event was about.
//!
//! This acts after the fact (the process has already started running); the
//! decision says so. Blocking before the first instruction is the kernel's
//! job: when a kernel hook acted, [`Enforcement::kernel`] describes it.

use std::borrow::Cow;

use palisade_common::enforce::mechanism;
use serde::{Deserialize, Serialize};

use crate::sensor::decode::KernelVerdict;

/// What happened when the agent acted on a decision. (Fields in
/// alphabetical order: the decision's JSON has always listed them so.)
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Enforcement {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// How it was enforced: a kernel mechanism (`bpf-lsm`,
    /// `sigkill-at-exec`, `sigkill-at-syscall`, `cgroup-sock-addr`,
    /// `cgroup-skb`), `pidfd-sigkill` from
    /// userspace, or `none` when nothing acted.
    pub mechanism: Cow<'static, str>,
    pub result: Effect,
    /// The kernel rule that acted, for kernel mechanisms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
}

/// What enforcing did.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    /// The syscall failed with EPERM.
    Denied,
    Killed,
    /// Gone before the signal.
    Exited,
    /// Nothing acted; the match is reported.
    Reported,
    Failed,
}

impl Effect {
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Denied => "denied",
            Effect::Killed => "killed",
            Effect::Exited => "exited",
            Effect::Reported => "reported",
            Effect::Failed => "failed",
        }
    }
}

impl Enforcement {
    /// A `block` decision no kernel hook acted on (the rule has no kernel
    /// part, or the kernel lacks the mechanism): reported only, and it says
    /// so.
    pub fn block_not_enforced() -> Self {
        Self {
            mechanism: Cow::Borrowed("none"),
            result: Effect::Reported,
            rule: None,
            detail: Some("no kernel hook enforces this rule here (see `palisade policy check` and `palisade probe`); the event is reported only".into()),
        }
    }

    /// What a kernel hook did with a matched kernel rule.
    pub fn kernel(verdict: &KernelVerdict) -> Self {
        let result = match verdict.mechanism {
            _ if !verdict.enforced => Effect::Reported,
            mechanism::SIGKILL_AT_EXEC | mechanism::SIGKILL_AT_SYSCALL => Effect::Killed,
            _ => Effect::Denied,
        };
        Self {
            mechanism: Cow::Borrowed(mechanism::name(verdict.mechanism)),
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
        mechanism: Cow::Borrowed("pidfd-sigkill"),
        result,
        rule: None,
        detail,
    };
    // SAFETY: pidfd_open takes a pid and flags; it returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) } as i32;
    if fd < 0 {
        let err = std::io::Error::last_os_error();
        return if err.raw_os_error() == Some(libc::ESRCH) {
            result(Effect::Exited, None)
        } else {
            result(Effect::Failed, Some(format!("pidfd_open: {err}")))
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
        result(Effect::Exited, Some("the pid now names another process".into()))
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
            result(Effect::Killed, None)
        } else {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::ESRCH) {
                result(Effect::Exited, None)
            } else {
                result(Effect::Failed, Some(format!("pidfd_send_signal: {err}")))
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
        assert_eq!(outcome.result, Effect::Killed, "{outcome:?}");
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
    }

    #[test]
    fn spares_a_pid_whose_start_time_differs() {
        let mut child = Command::new("/usr/bin/sleep").arg("30").spawn().unwrap();
        let outcome = kill(child.id(), start_ns_of(child.id()) + 60_000_000_000);
        assert_eq!(outcome.result, Effect::Exited);
        assert!(child.try_wait().unwrap().is_none(), "still running");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    #[test]
    fn a_gone_process_is_reported_as_exited() {
        let mut child = Command::new("/usr/bin/true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert_eq!(kill(pid, 0).result, Effect::Exited);
    }
}
