//! The pseudo file systems the agent needs: tracefs (tracepoint ids and
//! formats) and bpffs (pinned objects). Mounted when missing.

use std::{ffi::CString, path::Path};

use thiserror::Error;

pub const TRACEFS: &str = "/sys/kernel/tracing";
pub const BPFFS: &str = "/sys/fs/bpf";

#[derive(Debug, Error)]
pub enum FsError {
    #[error(
        "{fstype} is not mounted at {target} (mount it yourself, `mount -t {fstype} {fstype} {target}`, or run with CAP_SYS_ADMIN) and mounting it failed"
    )]
    Mount {
        fstype: &'static str,
        target: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the tracepoint format {path}")]
    Format {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the tracepoint format {path} has no field `{field}`; this kernel's tracepoint is not one Palisade knows"
    )]
    FormatField { path: String, field: String },
}

/// Mounts `fstype` at `target` unless a file system of that type is there.
pub fn ensure_mounted(fstype: &'static str, target: &'static str) -> Result<(), FsError> {
    if is_mounted(fstype, target) {
        return Ok(());
    }
    let err = |source| FsError::Mount { fstype, target, source };
    std::fs::create_dir_all(target).map_err(err)?;
    let c = |s: &str| CString::new(s).expect("no NUL in constant");
    let (src, dst, ty) = (c(fstype), c(target), c(fstype));
    // SAFETY: valid NUL-terminated strings; no data argument.
    let rc = unsafe { libc::mount(src.as_ptr(), dst.as_ptr(), ty.as_ptr(), 0, std::ptr::null()) };
    if rc != 0 {
        return Err(err(std::io::Error::last_os_error()));
    }
    Ok(())
}

fn is_mounted(fstype: &str, target: &str) -> bool {
    std::fs::read_to_string("/proc/self/mounts").is_ok_and(|mounts| {
        mounts.lines().any(|line| {
            let mut fields = line.split_whitespace().skip(1);
            fields.next() == Some(target) && fields.next() == Some(fstype)
        })
    })
}

/// The byte offset of `field` in the record of tracepoint `category/name`,
/// from its format file.
pub fn tracepoint_field_offset(category: &str, name: &str, field: &str) -> Result<u32, FsError> {
    let path = Path::new(TRACEFS).join("events").join(category).join(name).join("format");
    let path_str = path.display().to_string();
    let format = std::fs::read_to_string(&path)
        .map_err(|source| FsError::Format { path: path_str.clone(), source })?;
    parse_field_offset(&format, field)
        .ok_or_else(|| FsError::FormatField { path: path_str, field: field.to_string() })
}

/// Finds `field:<type> <field>;\toffset:N;` in a tracepoint format.
fn parse_field_offset(format: &str, field: &str) -> Option<u32> {
    format.lines().find_map(|line| {
        let decl = line.trim().strip_prefix("field:")?;
        let (decl, rest) = decl.split_once(';')?;
        let name = decl.rsplit([' ', '*']).next()?;
        let name = name.split('[').next()?;
        if name != field {
            return None;
        }
        rest.trim().strip_prefix("offset:")?.split(';').next()?.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXEC_FORMAT: &str = "name: sched_process_exec\nID: 311\nformat:\n\
        \tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\
        \tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\n\
        \tfield:__data_loc char[] filename;\toffset:8;\tsize:4;\tsigned:0;\n\
        \tfield:pid_t pid;\toffset:12;\tsize:4;\tsigned:1;\n";

    #[test]
    fn finds_field_offsets_in_a_format() {
        assert_eq!(parse_field_offset(EXEC_FORMAT, "filename"), Some(8));
        assert_eq!(parse_field_offset(EXEC_FORMAT, "pid"), Some(12));
        assert_eq!(parse_field_offset(EXEC_FORMAT, "common_pid"), Some(4));
        assert_eq!(parse_field_offset(EXEC_FORMAT, "old_pid"), None);
    }
}
