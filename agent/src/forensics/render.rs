//! The story as text: the process tree, each process with what it did,
//! then the timeline.

use std::fmt::Write;

use super::model::{Proc, Story};

pub fn text(story: &Story) -> String {
    let mut out = String::new();
    if story.processes.is_empty() {
        out.push_str("no process matches\n");
        return out;
    }
    out.push_str("PROCESSES\n");
    for root in &story.processes {
        tree(&mut out, root, "", "");
    }
    out.push_str("\nTIMELINE\n");
    for e in &story.timeline {
        let _ = writeln!(out, "{}  {:>7}  {:<9} {}", e.time, e.pid, e.what, e.detail);
    }
    out
}

/// One process and its children, drawn with box characters.
fn tree(out: &mut String, p: &Proc, lead: &str, rest: &str) {
    let command = if p.args.is_empty() { p.binary.clone() } else { p.args.join(" ") };
    let _ = write!(out, "{lead}{} {}", p.pid, p.binary);
    if command != p.binary {
        let _ = write!(out, "  [{command}]");
    }
    if let Some(name) = p.container["name"].as_str().or(p.container["id"].as_str()) {
        let _ = write!(out, "  container {name}");
    }
    if let (Some(ns), Some(name)) = (p.pod["namespace"].as_str(), p.pod["name"].as_str()) {
        let _ = write!(out, "  pod {ns}/{name}");
    }
    out.push('\n');
    let body = format!("{rest}{}", if p.children.is_empty() { "    " } else { "│   " });
    // A single exec is the header line already; several are listed.
    let execs = p.activity.iter().filter(|e| e.what == "exec").count();
    for e in p.activity.iter().filter(|e| e.what != "exec" || execs > 1) {
        let _ = writeln!(out, "{body}{} {} {}", e.time, e.what, e.detail);
    }
    for (i, child) in p.children.iter().enumerate() {
        let last = i + 1 == p.children.len();
        let (l, r) = if last { ("└── ", "    ") } else { ("├── ", "│   ") };
        tree(out, child, &format!("{rest}{l}"), &format!("{rest}{r}"));
    }
}
