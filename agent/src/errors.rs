//! Rendering an error with its causes.
//!
//! Each error's own message says only its own level; its causes are reached
//! through `source()`. Whoever shows an error to a person (`main`, a log line)
//! renders the whole chain with [`chain`], so every cause is printed once.

use std::error::Error;

/// An error with its causes, on one line: `outer: cause: root cause`, as
/// `main` prints it.
pub fn chain(err: &dyn Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::chain;
    use crate::kernel::{btf::BtfError, fs::FsError, loader::LoadError};

    /// Each cause in `text` once, in order.
    fn assert_once(text: &str, causes: &[&str]) {
        let mut at = 0;
        for cause in causes {
            assert_eq!(text.matches(cause).count(), 1, "`{cause}` once in: {text}");
            let found = text.find(cause).unwrap();
            assert!(found >= at, "`{cause}` out of order in: {text}");
            at = found;
        }
    }

    fn nested() -> LoadError {
        LoadError::Btf(BtfError::Read {
            path: "/sys/kernel/btf/vmlinux".into(),
            source: io::Error::new(io::ErrorKind::PermissionDenied, "no entry for you"),
        })
    }

    #[test]
    fn main_prints_each_cause_once() {
        // `main` prints an error as anyhow's alternate form: the whole chain.
        let printed = format!("{:#}", anyhow::Error::from(nested()));
        assert_eq!(
            printed,
            "cannot read this kernel's struct layouts from /sys/kernel/btf/vmlinux: \
             cannot read /sys/kernel/btf/vmlinux: no entry for you"
        );
        assert_once(&printed, &["struct layouts", "cannot read /sys", "no entry for you"]);
        // A log line renders the same text.
        assert_eq!(chain(&nested()), printed);
    }

    #[test]
    fn transparent_levels_add_nothing() {
        let err = LoadError::Fs(FsError::Mount {
            fstype: "bpf",
            target: "/sys/fs/bpf",
            source: io::Error::new(io::ErrorKind::PermissionDenied, "not permitted"),
        });
        let printed = format!("{:#}", anyhow::Error::from(err));
        assert!(printed.ends_with("and mounting it failed: not permitted"), "{printed}");
        assert_once(&printed, &["bpf is not mounted at /sys/fs/bpf", "not permitted"]);
    }
}
