//! `palisade events`: what happened, rebuilt from exported files alone.
//! The process tree and timeline of a pid, a container or a pod, each
//! process with its execs, connections, alerts and exit; as text or JSON.

pub mod load;
mod model;
mod render;

use std::path::{Path, PathBuf};

use model::Selection;

#[derive(Debug, thiserror::Error)]
pub enum ForensicsError {
    #[error("cannot read {path}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("give at most one of --pid, --container and --pod")]
    Selection,
}

impl ForensicsError {
    fn read(path: &Path, source: std::io::Error) -> Self {
        Self::Read { path: path.to_path_buf(), source }
    }
}

#[derive(Debug, clap::Args)]
pub struct EventsArgs {
    /// Exported files (native JSON lines), or directories of them (rotated
    /// files included).
    #[arg(required = true, value_name = "FILE|DIR")]
    paths: Vec<PathBuf>,
    /// This process and everything it started.
    #[arg(long)]
    pid: Option<u64>,
    /// Everything in this container: its id (or a prefix of at least 6
    /// characters) or its name.
    #[arg(long)]
    container: Option<String>,
    /// Everything in this pod: its name, `namespace/name`, or uid.
    #[arg(long)]
    pod: Option<String>,
    /// Print JSON (`processes` as trees, and `timeline`) instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: EventsArgs) -> anyhow::Result<()> {
    let selection = match (args.pid, args.container, args.pod) {
        (None, None, None) => Selection::All,
        (Some(pid), None, None) => Selection::Pid(pid),
        (None, Some(c), None) => Selection::Container(c),
        (None, None, Some(p)) => Selection::Pod(p),
        _ => return Err(ForensicsError::Selection.into()),
    };
    let loaded = load::load(&args.paths)?;
    if loaded.skipped > 0 {
        eprintln!("palisade: skipped {} lines that are not Palisade records", loaded.skipped);
    }
    if loaded.duplicates > 0 {
        eprintln!(
            "palisade: {} records were present more than once; kept one of each",
            loaded.duplicates
        );
    }
    let story = model::rebuild(&loaded.records, &selection);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&story)?);
    } else {
        print!("{}", render::text(&story));
    }
    Ok(())
}
