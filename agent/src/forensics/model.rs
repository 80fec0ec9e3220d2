//! What happened, rebuilt from records: the processes (one per pid and start
//! time, so a recycled pid is another process), each with its execs,
//! connections, alerts and exit, linked into a tree by parent; and the
//! timeline of those records.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::load::Record;
use crate::policy::decision::Decision;

/// A process: one pid from one start.
#[derive(Debug, Clone, Serialize)]
pub struct Proc {
    pub pid: u64,
    pub ppid: u64,
    pub start_time: String,
    /// The last program it executed.
    pub binary: String,
    pub args: Vec<String>,
    #[serde(skip_serializing_if = "Value::is_null")]
    pub container: Value,
    #[serde(skip_serializing_if = "Value::is_null")]
    pub pod: Value,
    /// Every record about it, in time order, as timeline entries.
    pub activity: Vec<Entry>,
    #[serde(skip_serializing_if = "Value::is_null")]
    pub exit: Value,
    pub children: Vec<Proc>,
    /// Ancestor pids, nearest first, as its exec recorded them.
    #[serde(skip)]
    ancestors: Vec<u64>,
}

/// One thing that happened to a process.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub time: String,
    pub pid: u64,
    /// `exec`, `exit`, `connect`, `accept`, `listen`, `alert`, `exception`.
    pub what: &'static str,
    pub detail: String,
    pub id: String,
}

/// Which processes to show.
#[derive(Debug, Clone)]
pub enum Selection {
    All,
    /// This pid and everything it started.
    Pid(u64),
    /// Container id (or a prefix of it of at least 6 characters), or name.
    Container(String),
    /// Pod name, `namespace/name`, or uid.
    Pod(String),
}

/// The selected processes as trees (roots: those whose parent is not
/// selected), and the merged timeline.
#[derive(Debug, Serialize)]
pub struct Story {
    pub processes: Vec<Proc>,
    pub timeline: Vec<Entry>,
}

pub fn rebuild(records: &[Record], selection: &Selection) -> Story {
    let mut procs: Vec<Proc> = Vec::new();
    // (pid) → indexes into procs, in start order.
    let mut by_pid: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for record in records {
        let v = &record.value;
        let p = &v["process"];
        let Some(pid) = p["pid"].as_u64() else { continue };
        let start = p["start_time"].as_str().unwrap_or_default();
        let index = find_or_add(&mut procs, &mut by_pid, pid, start, v);
        let proc = &mut procs[index];
        if v["kind"] == "process_exec" {
            proc.binary = p["binary"].as_str().unwrap_or_default().to_string();
            proc.args = strings(&p["args"]);
            proc.ppid = p["ppid"].as_u64().unwrap_or(proc.ppid);
            proc.ancestors = p["ancestors"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a["pid"].as_u64())
                .collect();
        }
        if proc.container.is_null() {
            proc.container = v["container"].clone();
        }
        if proc.pod.is_null() {
            proc.pod = v["pod"].clone();
        }
        if v["kind"] == "process_exit" {
            proc.exit = v["exit"].clone();
        }
        proc.activity.extend(entries(v, pid));
    }
    let selected: Vec<bool> =
        procs.iter().map(|p| selects(selection, p, &procs, &by_pid)).collect();
    let mut timeline: Vec<Entry> = procs
        .iter()
        .zip(&selected)
        .filter(|(_, s)| **s)
        .flat_map(|(p, _)| p.activity.iter().cloned())
        .collect();
    timeline.sort_by(|a, b| a.time.cmp(&b.time));
    Story { processes: trees(procs, &selected, &by_pid), timeline }
}

/// The process a record is about: the one with this pid and start time, or
/// (a record that lacks the start) the latest one with this pid.
fn find_or_add(
    procs: &mut Vec<Proc>,
    by_pid: &mut BTreeMap<u64, Vec<usize>>,
    pid: u64,
    start: &str,
    v: &Value,
) -> usize {
    let known = by_pid.entry(pid).or_default();
    let found = known.iter().rev().find(|i| start.is_empty() || procs[**i].start_time == start);
    if let Some(i) = found {
        return *i;
    }
    let p = &v["process"];
    procs.push(Proc {
        pid,
        ppid: p["ppid"].as_u64().unwrap_or(0),
        start_time: start.to_string(),
        binary: p["binary"].as_str().unwrap_or_default().to_string(),
        args: strings(&p["args"]),
        container: Value::Null,
        pod: Value::Null,
        activity: Vec::new(),
        exit: Value::Null,
        children: Vec::new(),
        ancestors: Vec::new(),
    });
    known.push(procs.len() - 1);
    procs.len() - 1
}

/// The timeline entries one record makes: what happened, and an alert if
/// a rule matched.
fn entries(v: &Value, pid: u64) -> Vec<Entry> {
    let time = v["time"].as_str().unwrap_or_default().to_string();
    let id = v["id"].as_str().unwrap_or_default().to_string();
    let entry =
        |what, detail: String| Entry { time: time.clone(), pid, what, detail, id: id.clone() };
    let mut out = Vec::new();
    let net = &v["network"];
    match v["kind"].as_str().unwrap_or_default() {
        "process_exec" => out.push(entry("exec", strings(&v["process"]["args"]).join(" "))),
        "process_exit" => {
            let e = &v["exit"];
            let how = match (e["code"].as_u64(), e["signal"].as_u64()) {
                (Some(code), _) => format!("code {code}"),
                (_, Some(signal)) => format!("signal {signal}"),
                _ => "unknown status".into(),
            };
            out.push(entry("exit", how));
        }
        kind @ ("network_connect" | "network_accept" | "network_listen") => {
            let peer = format!(
                "{} {}:{}",
                net["protocol"].as_str().unwrap_or("?"),
                bracketed(&net["daddr"]),
                net["dport"]
            );
            let mut detail = match kind {
                "network_accept" => format!("{peer} → local port {}", net["sport"]),
                "network_listen" => {
                    format!("{} port {}", net["protocol"].as_str().unwrap_or("?"), net["sport"])
                }
                _ => peer,
            };
            if let Some(result) = net["result"].as_str() {
                detail += &format!(" {result}");
            }
            if let Some(n) = net["repeats"].as_u64() {
                detail += &format!(" (+{n} repeats)");
            }
            let what = match kind {
                "network_connect" => "connect",
                "network_accept" => "accept",
                _ => "listen",
            };
            out.push(entry(what, detail));
        }
        kind @ ("file_open" | "file_unlink" | "file_rename" | "file_chmod") => {
            let f = &v["file"];
            let path = |p: &Value| p.as_str().or(p["text"].as_str()).unwrap_or("?").to_string();
            let mut detail = match kind {
                "file_open" => {
                    format!("{} {}", f["access"].as_str().unwrap_or("?"), path(&f["path"]))
                }
                "file_rename" => format!("{} → {}", path(&f["path"]), path(&f["new_path"])),
                "file_chmod" => {
                    format!("{} {}", f["mode"].as_str().unwrap_or("?"), path(&f["path"]))
                }
                _ => path(&f["path"]),
            };
            if let Some(errno) = f["errno"].as_i64() {
                detail += &format!(" failed (errno {errno})");
            }
            let what = match kind {
                "file_open" => "open",
                "file_unlink" => "unlink",
                "file_rename" => "rename",
                _ => "chmod",
            };
            out.push(entry(what, detail));
        }
        "network_socket" => {
            let s = &v["socket"];
            let mut detail = format!(
                "{} {}",
                s["family"].as_str().unwrap_or("?"),
                s["type"].as_str().unwrap_or("?")
            );
            if let Some(ethertype) = s["ethertype"].as_str() {
                detail += &format!(" ethertype {ethertype}");
            }
            out.push(entry("socket", detail));
        }
        crate::event::EXCEPTION_USED => {
            let e = &v["exception"];
            out.push(entry(
                "exception",
                format!(
                    "{} suppressed {} (owner {})",
                    e["exception"].as_str().unwrap_or("?"),
                    e["rule"].as_str().unwrap_or("?"),
                    e["owner"].as_str().unwrap_or("?")
                ),
            ));
        }
        _ => {}
    }
    // A decision the agent did not write (it does not parse) has no
    // alerts to show.
    if let Ok(Some(decision)) = Option::<Decision>::deserialize(&v["decision"]) {
        for m in &decision.matched {
            let mut detail = format!(
                "{} {} ({}, {}) action {}",
                m.rule,
                m.title.as_deref().unwrap_or(""),
                m.severity.as_deref().unwrap_or("?"),
                m.mitre.as_deref().unwrap_or("?"),
                decision.action.as_str(),
            );
            if decision.would_block() {
                detail += ", would block";
            }
            if let Some(e) = &decision.enforcement {
                detail += &format!(", {} by {}", e.result.as_str(), e.mechanism);
            }
            out.push(entry("alert", detail));
        }
    }
    out
}

fn selects(
    selection: &Selection,
    p: &Proc,
    procs: &[Proc],
    by_pid: &BTreeMap<u64, Vec<usize>>,
) -> bool {
    match selection {
        Selection::All => true,
        Selection::Pid(pid) => p.pid == *pid || descends_from(p, *pid, procs, by_pid),
        Selection::Container(c) => {
            let id = p.container["id"].as_str().unwrap_or_default();
            (c.len() >= 6 && id.starts_with(c.as_str())) || p.container["name"] == c.as_str()
        }
        Selection::Pod(pod) => {
            let (ns, name) = (p.pod["namespace"].as_str(), p.pod["name"].as_str());
            p.pod["uid"] == pod.as_str()
                || name == Some(pod.as_str())
                || matches!((ns, name), (Some(ns), Some(name)) if *pod == format!("{ns}/{name}"))
        }
    }
}

/// Whether `pid` is an ancestor of `p`: by the ancestry its exec recorded,
/// else by following known parents.
fn descends_from(p: &Proc, pid: u64, procs: &[Proc], by_pid: &BTreeMap<u64, Vec<usize>>) -> bool {
    if p.ancestors.contains(&pid) {
        return true;
    }
    let mut current = p;
    for _ in 0..64 {
        if current.ppid == pid {
            return true;
        }
        match parent_of(current, procs, by_pid) {
            Some(i) => current = &procs[i],
            None => return false,
        }
    }
    false
}

/// The parent: the latest process with the parent's pid that started no
/// later than this one.
fn parent_of(p: &Proc, procs: &[Proc], by_pid: &BTreeMap<u64, Vec<usize>>) -> Option<usize> {
    by_pid.get(&p.ppid)?.iter().rev().copied().find(|i| {
        let parent = &procs[*i];
        parent.start_time.is_empty() || p.start_time.is_empty() || parent.start_time <= p.start_time
    })
}

/// Nests the selected processes under their selected parents.
fn trees(procs: Vec<Proc>, selected: &[bool], by_pid: &BTreeMap<u64, Vec<usize>>) -> Vec<Proc> {
    let parents: Vec<Option<usize>> = procs
        .iter()
        .map(|p| parent_of(p, &procs, by_pid).filter(|i| selected[*i] && procs[*i].pid != p.pid))
        .collect();
    let mut slots: Vec<Option<Proc>> = procs.into_iter().map(Some).collect();
    // Children before parents: attach in reverse start order.
    let mut order: Vec<usize> = (0..slots.len()).filter(|i| selected[*i]).collect();
    order.sort_by(|a, b| {
        let (a, b) = (slots[*a].as_ref().unwrap(), slots[*b].as_ref().unwrap());
        b.start_time.cmp(&a.start_time)
    });
    let mut roots = Vec::new();
    for i in order {
        let proc = slots[i].take().expect("each process is placed once");
        match parents[i].and_then(|p| slots[p].as_mut()) {
            Some(parent) => parent.children.insert(0, proc),
            None => roots.push(proc),
        }
    }
    roots.reverse();
    roots
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().into_iter().flatten().map(|a| a.as_str().unwrap_or_default().to_string()).collect()
}

/// IPv6 addresses in brackets, so the port stays readable.
fn bracketed(addr: &Value) -> String {
    let a = addr.as_str().unwrap_or("?");
    if a.contains(':') { format!("[{a}]") } else { a.to_string() }
}
