//! `palisade probe` and `palisade unload`.

use std::io::Write;

use super::{btf::Btf, loader, offsets, pins, probe};

/// Prints what the kernel offers and the mechanism each capability gets.
pub fn probe(json: bool) -> anyhow::Result<()> {
    loader::require_root()?;
    let vmlinux = Btf::from_sys().ok();
    let overlay = vmlinux.as_ref().and_then(offsets::overlay_btf);
    let probe = probe::probe(vmlinux.as_ref(), overlay.as_ref(), probe::Depth::Full);
    let text = if json { serde_json::to_string_pretty(&probe)? + "\n" } else { probe.table() };
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        // A closed pipe (`palisade probe | head`) is not an error.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// Removes every program link and map the agent pinned: enforcement stops.
pub fn unload() -> anyhow::Result<()> {
    loader::require_root()?;
    super::fs::ensure_mounted("bpf", super::fs::BPFFS)?;
    let done = pins::unload()?;
    if done.links.is_empty() && done.maps.is_empty() {
        println!("nothing pinned under {}: no enforcement was in force", pins::PIN_DIR);
    } else {
        let off = match done.released {
            pins::Released::Seen => "Palisade's kernel enforcement is off",
            pins::Released::NotSeen => {
                "Palisade's kernel enforcement is off once the kernel releases the links, a moment later (not seen: listing the kernel's programs needs CAP_SYS_ADMIN)"
            }
        };
        println!(
            "removed {} program link(s) [{}] and {} map(s) [{}] from {}: {off}",
            done.links.len(),
            done.links.join(", "),
            done.maps.len(),
            done.maps.join(", "),
            pins::PIN_DIR
        );
    }
    Ok(())
}
