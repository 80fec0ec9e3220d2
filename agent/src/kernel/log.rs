//! The eBPF programs' own log (aya-log), forwarded into the agent's: a
//! failed kernel read's site, a bound the verifier needs that cut something
//! short (see ebpf/src/diag.rs).
//!
//! Off unless asked: the programs log only when the agent's log filter
//! enables this module at debug (`--log info,palisade::kernel::log=debug`,
//! or `--log debug`). The level is a read-only global set at load, so when
//! it is off the verifier drops every log statement as dead code, and the
//! log's ring buffer shrinks to one page; on, it is aya-log's 128 KiB, read
//! by one task.

use std::io;

use aya_log::{EbpfLogger, Level};
use tokio::io::{Interest, unix::AsyncFd};
use tracing::{debug, error, info, trace, warn};

/// The level the programs log at, from the agent's log filter: `None`
/// (off) unless this module is enabled at debug or trace.
pub fn level_asked() -> Option<Level> {
    if tracing::enabled!(tracing::Level::TRACE) {
        Some(Level::Trace)
    } else if tracing::enabled!(tracing::Level::DEBUG) {
        Some(Level::Debug)
    } else {
        None
    }
}

/// Receives aya-log's records and logs them here, at their own level, with
/// the eBPF source line that logged them.
pub struct KernelLog;

impl log::Log for KernelLog {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let site = format!("{}:{}", record.file().unwrap_or("?"), record.line().unwrap_or(0));
        let message = record.args();
        match record.level() {
            log::Level::Error => error!(site, "{message}"),
            log::Level::Warn => warn!(site, "{message}"),
            log::Level::Info => info!(site, "{message}"),
            log::Level::Debug => debug!(site, "{message}"),
            log::Level::Trace => trace!(site, "{message}"),
        }
    }

    fn flush(&self) {}
}

/// Forwards the programs' records as they come, until reading fails.
pub async fn forward(logger: EbpfLogger<KernelLog>) -> io::Result<()> {
    // SAFETY: the AsyncFd owns the logger, so its ring buffer's fd stays
    // open for as long as it is registered.
    let mut fd = unsafe { AsyncFd::register_with_interest(logger, Interest::READABLE) }?;
    loop {
        let mut guard = fd.readable_mut().await?;
        guard.get_inner_mut().flush();
        guard.clear_ready();
    }
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::EnvFilter;

    use super::*;

    fn asked(filter: &str) -> Option<Level> {
        let subscriber = tracing_subscriber::fmt().with_env_filter(EnvFilter::new(filter)).finish();
        tracing::subscriber::with_default(subscriber, level_asked)
    }

    /// Off by default (`--log info`), on when this module, or everything,
    /// is asked for at debug or trace.
    #[test]
    fn the_kernel_log_is_off_unless_the_filter_asks_for_it() {
        assert_eq!(asked("info"), None);
        assert_eq!(asked("warn,palisade=info"), None);
        assert_eq!(asked("info,palisade::kernel::log=debug"), Some(Level::Debug));
        assert_eq!(asked("palisade=trace"), Some(Level::Trace));
        assert_eq!(asked("debug"), Some(Level::Debug));
    }
}
