//! What the kernel enforces itself: each rule module's optional `kernel`
//! object, checked and normalised when the bundle is compiled.
//!
//! A rule's `hits` see the whole event in userspace, after the fact. Its
//! `kernel` section names the part of the rule the kernel hooks can match on
//! their own, before the exec, the connection or the open happens:
//! executables by file name or by path, destinations by CIDR, port and
//! protocol, and opens by the resolved path's prefix (BPF-LSM only). The agent
//! writes the plan into the enforcement maps; the contract is documented in
//! `policies/README.md` ("Kernel enforcement").

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    path::PathBuf,
};

use serde::Serialize;
use serde_json::Value;

use palisade_common::enforce::{
    EXEC_NAME_MAX, FILE_RULE_PATH_LEN, GENERATION_ENTRIES, MAX_PROFILES, RULE_ID_LEN, socket_family,
};

use super::{
    PolicyError,
    meta::{ExceptionInfo, RuleMeta},
};

/// Longest path the agent resolves (PATH_MAX, with its NUL).
const PATH_MAX: usize = 4096;

const KERNEL_FIELDS: &[&str] = &["scope", "exec", "connect", "connect_allow", "file", "socket"];
const SOCKET_FIELDS: &[&str] = &["families"];
const FILE_FIELDS: &[&str] = &["read", "write"];
const EXEC_FIELDS: &[&str] = &["names", "paths", "drift"];
const NET_FIELDS: &[&str] = &["cidr", "ports", "protocols"];

/// Where a denied name is also looked up on the node, so that hard links
/// to it under other names are denied by identity.
pub const SYSTEM_BIN_DIRS: &[&str] =
    &["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

/// The kernel's share of the bundle: every rule, either enforced in the
/// kernel (too) or judged in userspace only. Both lists are sorted by id.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct KernelPlan {
    pub rules: Vec<KernelRule>,
    pub userspace_only: Vec<UserspaceOnly>,
    /// What one workload profile needs of the enforcement maps.
    pub capacity: Capacity,
}

/// The enforcement maps' room for a rule set, and the most one workload
/// profile (a distinct set of rules applying to workloads) needs of it:
/// every kernel rule, each of its names possibly found in every
/// [`SYSTEM_BIN_DIRS`]. A rule set holds `per_rule_set` entries per map,
/// over all its profiles.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Capacity {
    pub per_rule_set: usize,
    pub max_profiles: usize,
    pub exec_identities: usize,
    pub exec_names: usize,
    pub net4: usize,
    pub net6: usize,
    pub file: usize,
    /// Socket families denied (one entry per family and profile).
    pub socket_families: usize,
}

impl Capacity {
    fn of(rules: &[KernelRule]) -> Self {
        let mut c = Capacity {
            per_rule_set: GENERATION_ENTRIES as usize,
            max_profiles: usize::from(MAX_PROFILES),
            ..Capacity::default()
        };
        for rule in rules {
            c.exec_identities +=
                rule.exec_paths.len() + rule.exec_names.len() * SYSTEM_BIN_DIRS.len();
            c.exec_names += rule.exec_names.len();
            for net in &rule.connect {
                let n = net.keys().count();
                if net.addr.is_ipv4() { c.net4 += n } else { c.net6 += n }
            }
            c.file += rule.file_read.len() + rule.file_write.len();
            c.socket_families += rule.socket_families.len();
        }
        // A profile holds one entry per family, whichever rules name it.
        c.socket_families = c.socket_families.min(socket_family::DENIABLE.len());
        c
    }

    /// The largest need of any one map.
    pub fn largest(&self) -> usize {
        (self.exec_identities.max(self.exec_names).max(self.net4).max(self.net6))
            .max(self.file)
            .max(self.socket_families)
    }

    /// How many workload profiles carrying every kernel rule fit in one
    /// rule set.
    pub fn profiles_that_fit(&self) -> usize {
        match self.largest() {
            0 => self.max_profiles,
            n => (self.per_rule_set / n).min(self.max_profiles),
        }
    }
}

/// A rule the kernel does not match, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserspaceOnly {
    pub id: String,
    pub why: String,
}

/// Which workloads a kernel rule applies to. The agent decides, per
/// workload (cgroup), which rules it falls under by evaluating the bundle's
/// own `data.palisade.main.kernel_rules_for_workload`; this typed form is
/// what `policy check` validates and prints.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KernelScope {
    /// Every process.
    #[default]
    All,
    /// Any of these.
    Any(Vec<ScopeTerm>),
}

/// One alternative of a kernel scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScopeTerm {
    /// Processes in no container and no pod.
    Host,
    /// Processes in any container (or pod).
    Containers,
    /// Containers every key of the selector matches.
    Selector(Selector),
}

/// Workloads selected by what the agent knows of them: every key given
/// must match; a key with several values matches any of them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Selector {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub namespace: Vec<String>,
    /// matchLabels: every label must have its value.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub pod_labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub image: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub image_prefix: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub container_id: Vec<String>,
}

/// The keys of a selector object: the workload keys of exception scopes,
/// `data.palisade.lib.workload.keys` (policies/lib/workload.rego), which the
/// bundle's Rego matches; each has its field in [`Selector`], and a test
/// holds the two lists equal.
const SELECTOR_KEYS: &[&str] =
    &["namespace", "pod_labels", "image", "image_prefix", "container_id"];

impl KernelScope {
    /// Parses `scope`: "all", "host", "containers", a selector object, or
    /// an array of those (any of them). The error names the field.
    fn parse(value: &Value) -> Result<Self, String> {
        match value {
            Value::String(s) if s == "all" => Ok(KernelScope::All),
            Value::Array(list) => {
                if list.is_empty() {
                    return Err("kernel.scope: an empty list selects nothing; remove the `kernel` section or name a scope".into());
                }
                let terms = list
                    .iter()
                    .enumerate()
                    .map(|(i, v)| ScopeTerm::parse(&format!("kernel.scope[{i}]"), v))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(KernelScope::Any(terms))
            }
            v => Ok(KernelScope::Any(vec![ScopeTerm::parse("kernel.scope", v)?])),
        }
    }
}

impl ScopeTerm {
    fn parse(at: &str, value: &Value) -> Result<Self, String> {
        match value {
            Value::String(s) if s == "host" => Ok(ScopeTerm::Host),
            Value::String(s) if s == "containers" => Ok(ScopeTerm::Containers),
            Value::Object(fields) => Selector::parse(at, fields).map(ScopeTerm::Selector),
            v => Err(format!(
                "{at}: {} is not \"all\", \"containers\", \"host\", a selector object ({}) or a list of them",
                short(v),
                SELECTOR_KEYS.join(", ")
            )),
        }
    }
}

impl Selector {
    fn parse(at: &str, fields: &serde_json::Map<String, Value>) -> Result<Self, String> {
        if fields.is_empty() {
            return Err(format!(
                "{at}: an empty selector selects every container; say \"containers\" (or \"all\") if that is meant"
            ));
        }
        known_fields(at, fields, SELECTOR_KEYS)?;
        let mut selector = Selector::default();
        for (key, value) in fields {
            let at = format!("{at}.{key}");
            let list = match key.as_str() {
                "namespace" => &mut selector.namespace,
                "image" => &mut selector.image,
                "image_prefix" => &mut selector.image_prefix,
                "container_id" => &mut selector.container_id,
                _ => {
                    selector.pod_labels = labels(&at, value)?;
                    continue;
                }
            };
            *list = one_or_more(&at, value)?;
        }
        Ok(selector)
    }
}

/// A non-empty string, or a non-empty array of them.
fn one_or_more(at: &str, value: &Value) -> Result<Vec<String>, String> {
    let values: Vec<&Value> = match value {
        Value::Array(list) if !list.is_empty() => list.iter().collect(),
        Value::String(_) => vec![value],
        v => {
            return Err(format!(
                "{at}: must be a string or a non-empty array of strings, not {}",
                short(v)
            ));
        }
    };
    let mut out = Vec::new();
    for v in values {
        match v.as_str() {
            Some(s) if !s.is_empty() => out.push(s.to_string()),
            _ => return Err(format!("{at}: {} is not a non-empty string", short(v))),
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// matchLabels: an object of label -> value strings, not empty.
fn labels(at: &str, value: &Value) -> Result<BTreeMap<String, String>, String> {
    let Some(fields) = value.as_object().filter(|f| !f.is_empty()) else {
        return Err(format!(
            "{at}: must be a non-empty object of label -> value (matchLabels), not {}",
            short(value)
        ));
    };
    fields
        .iter()
        .map(|(label, v)| match v.as_str() {
            Some(s) => Ok((label.clone(), s.to_string())),
            None => Err(format!("{at}.{label}: {} is not a string", short(v))),
        })
        .collect()
}

/// `all`, `host`, `containers`, `namespace=payments,pod_labels{app=web}`;
/// alternatives joined by ` or `.
impl fmt::Display for KernelScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let KernelScope::Any(terms) = self else { return f.pad("all") };
        let shown: Vec<String> = terms.iter().map(ScopeTerm::to_string).collect();
        f.pad(&shown.join(" or "))
    }
}

impl fmt::Display for ScopeTerm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            ScopeTerm::Host => return f.write_str("host"),
            ScopeTerm::Containers => return f.write_str("containers"),
            ScopeTerm::Selector(s) => s,
        };
        let mut parts = Vec::new();
        for (key, values) in [
            ("namespace", &s.namespace),
            ("image", &s.image),
            ("image_prefix", &s.image_prefix),
            ("container_id", &s.container_id),
        ] {
            if !values.is_empty() {
                parts.push(format!("{key}={}", values.join("|")));
            }
        }
        if !s.pod_labels.is_empty() {
            let labels: Vec<String> =
                s.pod_labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            parts.push(format!("pod_labels{{{}}}", labels.join(",")));
        }
        f.write_str(&parts.join(","))
    }
}

/// One rule's kernel section, normalised, with the modes that decide what
/// the kernel does on a match.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KernelRule {
    pub id: String,
    pub scope: KernelScope,
    /// The rule's effective mode (config `rule_modes[id]`, else `mode`) is
    /// `enforce` and its action is `block` or `kill`: the kernel denies.
    pub enforce: bool,
    /// The rule's action is `block` or `kill`: in audit mode a match is
    /// reported as `would_block`.
    pub blocking: bool,
    /// The bundle's exceptions covering this rule, expired or not: each
    /// relaxes the rule in the kernel (reported, not denied) for the
    /// workloads its scope selects, until it expires.
    pub carve_outs: Vec<CarveOut>,
    /// File names (last component of the real path), sorted, unique.
    pub exec_names: Vec<String>,
    /// Absolute paths, sorted, unique; resolved to (device, inode) by the agent.
    pub exec_paths: Vec<PathBuf>,
    /// Executables that show drift in the hook (upper layer, memfd,
    /// deleted): `kernel.exec.drift: true`.
    pub exec_drift: bool,
    /// Deny entries, then allow entries, each sorted, unique.
    pub connect: Vec<NetMatch>,
    /// Path prefixes whose opens for reading (`file_read`) or writing
    /// (`file_write`) are denied, by the file's resolved path; sorted, unique.
    pub file_read: Vec<String>,
    pub file_write: Vec<String>,
    /// Socket families refused at creation (`kernel.socket.families`);
    /// sorted, unique.
    pub socket_families: Vec<SocketFamily>,
}

/// A socket family a rule denies, one of `socket_family::DENIABLE`;
/// printed and serialized by the name rules use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SocketFamily(pub u16);

impl SocketFamily {
    fn parse(name: &str) -> Result<Self, String> {
        socket_family::by_name(name).map(Self).ok_or_else(|| {
            let known: Vec<&str> = socket_family::DENIABLE.iter().map(|(n, _)| *n).collect();
            format!("{name:?} is not a socket family a rule may deny (known: {})", known.join(", "))
        })
    }

    pub fn name(self) -> &'static str {
        socket_family::name(u32::from(self.0)).unwrap_or("unknown")
    }
}

impl Serialize for SocketFamily {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// An exception as it relaxes a kernel rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CarveOut {
    pub exception: String,
    /// The exception's scope as written. Its workload keys (namespace,
    /// pod_labels, image, image_prefix, container_id) select the workloads
    /// the kernel relaxes the rule for; its process keys (binary,
    /// binary_prefix, actor) cannot be judged per workload and are left to
    /// userspace; a scope without workload keys relaxes it node-wide.
    pub scope: Value,
    pub expires: String,
    #[serde(skip)]
    pub expires_ns: i128,
}

impl CarveOut {
    /// True when the scope names no workload key: the kernel relaxes the
    /// rule for every workload until the exception expires.
    pub fn node_wide(&self) -> bool {
        self.scope
            .as_object()
            .is_none_or(|s| !s.keys().any(|k| SELECTOR_KEYS.contains(&k.as_str())))
    }
}

/// A destination: an address block, with ports and protocols (empty = any).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct NetMatch {
    /// A carve-out from deny entries (`connect_allow`), not a deny.
    pub allow: bool,
    /// The network address: host bits zero. An IPv4-mapped IPv6 block
    /// (`::ffff:a.b.c.d/n`, n >= 96) is given as its IPv4 block.
    pub addr: IpAddr,
    pub prefix_len: u8,
    /// Sorted, unique; empty for any port.
    pub ports: Vec<u16>,
    /// Sorted, unique; empty for any protocol.
    pub protocols: Vec<Protocol>,
}

impl NetMatch {
    /// `addr/prefix_len`.
    pub fn cidr(&self) -> String {
        format!("{}/{}", self.addr, self.prefix_len)
    }

    /// The (protocol number, port) pairs its map entries are keyed by, one
    /// entry each; 0 stands for any.
    pub fn keys(&self) -> impl Iterator<Item = (u8, u16)> + '_ {
        let protocols: Vec<u8> = if self.protocols.is_empty() {
            vec![0]
        } else {
            self.protocols.iter().map(|p| p.number()).collect()
        };
        let ports: &[u16] = if self.ports.is_empty() { &[0] } else { &self.ports };
        protocols.into_iter().flat_map(move |proto| ports.iter().map(move |&port| (proto, port)))
    }
}

/// `10.0.0.0/8`, `0.0.0.0/0 port 53,443 udp`: the CIDR, then the ports and
/// protocols when not any.
impl fmt::Display for NetMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.cidr())?;
        if !self.ports.is_empty() {
            let ports: Vec<String> = self.ports.iter().map(u16::to_string).collect();
            write!(f, " port {}", ports.join(","))?;
        }
        if !self.protocols.is_empty() {
            let protocols: Vec<&str> = self.protocols.iter().map(|p| p.name()).collect();
            write!(f, " {}", protocols.join(","))?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    /// The IP protocol number (IPPROTO_TCP, IPPROTO_UDP).
    pub fn number(self) -> u8 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

/// One rule module's `kernel` value as the bundle evaluates it.
#[derive(Debug, Clone)]
pub struct Section<'a> {
    pub meta: &'a RuleMeta,
    /// The evaluated `kernel`; None when the module defines none.
    pub kernel: Option<Value>,
    /// The module defines `kernel`, but it is undefined (its conditions do
    /// not hold).
    pub undefined: bool,
    /// `file:line` of the `kernel` definition, for errors.
    pub at: String,
}

/// The plan for a bundle: `config` is `data.palisade.config` (modes already
/// checked), `exceptions` the bundle's exceptions (already checked). An
/// invalid section fails with its `file:line` and the field at fault.
pub fn plan(
    sections: &[Section<'_>],
    config: &Value,
    exceptions: &[ExceptionInfo],
) -> Result<KernelPlan, PolicyError> {
    let mut plan = KernelPlan::default();
    for section in sections {
        let id = &section.meta.id;
        // Checked even when the rule is off: turning it on must not turn
        // up an error.
        let parsed = match &section.kernel {
            Some(kernel) => Some(
                parse(section.meta, kernel)
                    .map_err(|reason| PolicyError::invalid(&section.at, reason))?,
            ),
            None => None,
        };
        let mode = rule_mode(config, id);
        let why = if mode == "off" {
            Some("rule is off (config rule_modes)")
        } else if section.undefined {
            Some("`kernel` is undefined (its conditions do not hold)")
        } else if parsed.is_none() {
            Some("no `kernel` section: matched in userspace only, on the whole event")
        } else {
            None
        };
        let (None, Some(parsed)) = (why, parsed) else {
            let why = why.unwrap_or_default().to_string();
            plan.userspace_only.push(UserspaceOnly { id: id.clone(), why });
            continue;
        };
        let blocking = matches!(section.meta.action.as_str(), "block" | "kill");
        let carve_outs = exceptions
            .iter()
            .filter(|e| e.rules.iter().any(|r| r == id))
            .map(|e| CarveOut {
                exception: e.id.clone(),
                scope: e.scope.clone(),
                expires: e.expires.clone(),
                expires_ns: e.expires_ns,
            })
            .collect();
        plan.rules.push(KernelRule {
            id: id.clone(),
            scope: parsed.scope,
            enforce: blocking && mode == "enforce",
            blocking,
            carve_outs,
            exec_names: parsed.exec_names,
            exec_paths: parsed.exec_paths,
            exec_drift: parsed.exec_drift,
            connect: parsed.connect,
            file_read: parsed.file_read,
            file_write: parsed.file_write,
            socket_families: parsed.socket_families,
        });
    }
    plan.rules.sort_by(|a, b| a.id.cmp(&b.id));
    plan.userspace_only.sort_by(|a, b| a.id.cmp(&b.id));
    plan.capacity = Capacity::of(&plan.rules);
    if plan.capacity.largest() > plan.capacity.per_rule_set {
        return Err(PolicyError::invalid(
            "kernel",
            format!(
                "the kernel rules need up to {} entries of one enforcement map for a single workload profile; a rule set holds {} per map (exec identities {}, exec names {}, IPv4 {}, IPv6 {}, file prefixes {}, socket families {}): fewer names, paths, ports, destinations or prefixes",
                plan.capacity.largest(),
                plan.capacity.per_rule_set,
                plan.capacity.exec_identities,
                plan.capacity.exec_names,
                plan.capacity.net4,
                plan.capacity.net6,
                plan.capacity.file,
                plan.capacity.socket_families
            ),
        ));
    }
    Ok(plan)
}

/// A rule's mode: config `rule_modes[id]`, else `mode`.
fn rule_mode<'a>(config: &'a Value, id: &str) -> &'a str {
    config["rule_modes"][id].as_str().or_else(|| config["mode"].as_str()).unwrap_or("audit")
}

/// A kernel section without the modes.
#[derive(Debug, PartialEq)]
struct Parsed {
    scope: KernelScope,
    exec_names: Vec<String>,
    exec_paths: Vec<PathBuf>,
    exec_drift: bool,
    connect: Vec<NetMatch>,
    file_read: Vec<String>,
    file_write: Vec<String>,
    socket_families: Vec<SocketFamily>,
}

/// Checks and normalises one `kernel` value; the error is one line naming
/// the field.
fn parse(meta: &RuleMeta, kernel: &Value) -> Result<Parsed, String> {
    let Some(fields) = kernel.as_object() else {
        return Err(format!(
            "kernel: must be an object with `exec`, `connect`, `file` and/or `socket`, not {}",
            short(kernel)
        ));
    };
    known_fields("kernel", fields, KERNEL_FIELDS)?;
    let scope = match fields.get("scope") {
        None => KernelScope::All,
        Some(s) => KernelScope::parse(s)?,
    };

    let (mut exec_names, mut exec_paths, mut exec_drift) = (Vec::new(), Vec::new(), false);
    if let Some(exec) = fields.get("exec") {
        let Some(exec) = exec.as_object() else {
            return Err(format!(
                "kernel.exec: must be an object with `names`, `paths` and/or `drift`, not {}",
                short(exec)
            ));
        };
        known_fields("kernel.exec", exec, EXEC_FIELDS)?;
        for (i, name) in strings("kernel.exec.names", exec.get("names"))?.into_iter().enumerate() {
            check_name(name).map_err(|why| format!("kernel.exec.names[{i}]: {why}"))?;
            exec_names.push(name.to_string());
        }
        for (i, path) in strings("kernel.exec.paths", exec.get("paths"))?.into_iter().enumerate() {
            check_path(path).map_err(|why| format!("kernel.exec.paths[{i}]: {why}"))?;
            exec_paths.push(PathBuf::from(path));
        }
        exec_drift = match exec.get("drift") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(v) => return Err(format!("kernel.exec.drift: {} is not true or false", short(v))),
        };
    }
    exec_names.sort();
    exec_names.dedup();
    exec_paths.sort();
    exec_paths.dedup();

    let deny = net_entries("kernel.connect", fields.get("connect"), false)?;
    let allow = net_entries("kernel.connect_allow", fields.get("connect_allow"), true)?;
    if !allow.is_empty() && deny.is_empty() {
        return Err("kernel.connect_allow: allow entries carve destinations out of denied ones, but kernel.connect denies nothing; add the deny entries or drop the allows".into());
    }
    check_no_contradiction(&deny, &allow)?;
    let mut connect: Vec<NetMatch> = deny.into_iter().chain(allow).map(|(_, m)| m).collect();
    connect.sort();
    connect.dedup();

    let (file_read, file_write) = file_prefixes(fields.get("file"))?;
    let has_file = !file_read.is_empty() || !file_write.is_empty();

    let socket_families = socket_families(fields.get("socket"))?;

    let has_exec = !exec_names.is_empty() || !exec_paths.is_empty() || exec_drift;
    if !has_exec && connect.is_empty() && !has_file && socket_families.is_empty() {
        return Err("kernel: none of kernel.exec, kernel.connect, kernel.file and kernel.socket names anything to deny; fill one or remove the `kernel` section".into());
    }
    let kind = |k: &str| meta.kinds.iter().any(|x| x == k);
    if has_exec && !kind("process_exec") {
        return Err(
            "kernel.exec: the rule's meta.kinds must include \"process_exec\" for the kernel to match execs"
                .into(),
        );
    }
    if !connect.is_empty() && !kind("network_connect") {
        return Err(
            "kernel.connect: the rule's meta.kinds must include \"network_connect\" for the kernel to match connections"
                .into(),
        );
    }
    if has_file && !kind("file_open") {
        return Err(
            "kernel.file: the rule's meta.kinds must include \"file_open\" for the kernel to match opens"
                .into(),
        );
    }
    if !socket_families.is_empty() && !kind("network_socket") {
        return Err(
            "kernel.socket: the rule's meta.kinds must include \"network_socket\" for the kernel to match sockets"
                .into(),
        );
    }
    if meta.id.len() >= RULE_ID_LEN || meta.id.contains('\0') {
        return Err(format!(
            "kernel: rule id `{}` is {} bytes; the id of a rule with a kernel section must be under {RULE_ID_LEN}",
            meta.id,
            meta.id.len()
        ));
    }
    Ok(Parsed {
        scope,
        exec_names,
        exec_paths,
        exec_drift,
        connect,
        file_read,
        file_write,
        socket_families,
    })
}

/// `kernel.socket`: `families`, the socket families refused at creation.
fn socket_families(value: Option<&Value>) -> Result<Vec<SocketFamily>, String> {
    let Some(value) = value else { return Ok(Vec::new()) };
    let Some(socket) = value.as_object() else {
        return Err(format!(
            "kernel.socket: must be an object with `families`, not {}",
            short(value)
        ));
    };
    known_fields("kernel.socket", socket, SOCKET_FIELDS)?;
    let mut families = Vec::new();
    for (i, name) in
        strings("kernel.socket.families", socket.get("families"))?.into_iter().enumerate()
    {
        families.push(
            SocketFamily::parse(name)
                .map_err(|why| format!("kernel.socket.families[{i}]: {why}"))?,
        );
    }
    families.sort();
    families.dedup();
    Ok(families)
}

/// `kernel.file`: `read` and/or `write`, each a list of absolute path
/// prefixes the kernel matches against the opened file's resolved path.
fn file_prefixes(value: Option<&Value>) -> Result<(Vec<String>, Vec<String>), String> {
    let Some(value) = value else { return Ok((Vec::new(), Vec::new())) };
    let Some(file) = value.as_object() else {
        return Err(format!(
            "kernel.file: must be an object with `read` and/or `write`, not {}",
            short(value)
        ));
    };
    known_fields("kernel.file", file, FILE_FIELDS)?;
    let mut lists = [Vec::new(), Vec::new()];
    for (list, access) in lists.iter_mut().zip(FILE_FIELDS) {
        let at = format!("kernel.file.{access}");
        for (i, prefix) in strings(&at, file.get(*access))?.into_iter().enumerate() {
            check_file_prefix(prefix).map_err(|why| format!("{at}[{i}]: {prefix:?} {why}"))?;
            list.push(prefix.to_string());
        }
        list.sort();
        list.dedup();
    }
    let [read, write] = lists;
    Ok((read, write))
}

/// A prefix the kernel's file rule map can hold and match: absolute, as
/// the resolved path is, and within its key.
fn check_file_prefix(prefix: &str) -> Result<(), String> {
    if !prefix.starts_with('/') {
        return Err("is not absolute: the kernel matches the file's resolved path".into());
    }
    if prefix.len() > FILE_RULE_PATH_LEN {
        return Err(format!(
            "is {} bytes; the kernel matches prefixes of up to {FILE_RULE_PATH_LEN} bytes",
            prefix.len()
        ));
    }
    if prefix.contains('\0') {
        return Err("holds a NUL byte".into());
    }
    Ok(())
}

/// A value for an error message, cut short.
fn short(v: &Value) -> String {
    let text = v.to_string();
    match text.char_indices().nth(60) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text,
    }
}

fn known_fields(
    at: &str,
    fields: &serde_json::Map<String, Value>,
    known: &[&str],
) -> Result<(), String> {
    match fields.keys().find(|k| !known.contains(&k.as_str())) {
        Some(key) => Err(format!("{at}.{key}: unknown field (known: {})", known.join(", "))),
        None => Ok(()),
    }
}

/// An optional array of strings (a Rego set arrives as an array).
fn strings<'a>(at: &str, value: Option<&'a Value>) -> Result<Vec<&'a str>, String> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    let list = value
        .as_array()
        .ok_or_else(|| format!("{at}: must be an array of strings, not {}", short(value)))?;
    list.iter()
        .enumerate()
        .map(|(i, v)| v.as_str().ok_or_else(|| format!("{at}[{i}]: {} is not a string", short(v))))
        .collect()
}

/// A file name the kernel's name map can hold.
fn check_name(name: &str) -> Result<(), String> {
    if name.contains('/') {
        return Err(format!(
            "{name:?} contains '/': give the file name alone, or the path in kernel.exec.paths"
        ));
    }
    if name.is_empty() || name.len() > EXEC_NAME_MAX {
        return Err(format!(
            "{name:?} is {} bytes; the kernel matches names of 1 to {EXEC_NAME_MAX} bytes",
            name.len(),
        ));
    }
    if name == "." || name == ".." || name.contains('\0') {
        return Err(format!("{name:?} is not a file name"));
    }
    Ok(())
}

fn check_path(path: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err(format!("{path:?} is not an absolute path"));
    }
    if path.len() >= PATH_MAX || path.contains('\0') {
        return Err(format!("{path:?} is not a usable path (over {PATH_MAX} bytes, or a NUL)"));
    }
    Ok(())
}

/// `connect` or `connect_allow`: each entry with its field name for errors.
fn net_entries(
    at: &str,
    value: Option<&Value>,
    allow: bool,
) -> Result<Vec<(String, NetMatch)>, String> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    let list = value.as_array().ok_or_else(|| {
        format!(
            "{at}: must be an array of {{cidr, ports, protocols}} objects, not {}",
            short(value)
        )
    })?;
    let mut out = Vec::new();
    for (i, entry) in list.iter().enumerate() {
        let at = format!("{at}[{i}]");
        let Some(fields) = entry.as_object() else {
            return Err(format!(
                "{at}: must be an object {{cidr, ports, protocols}}, not {}",
                short(entry)
            ));
        };
        known_fields(&at, fields, NET_FIELDS)?;
        let cidr = fields.get("cidr").ok_or_else(|| {
            format!("{at}.cidr: missing (an IP address or CIDR, e.g. \"10.0.0.0/8\")")
        })?;
        let (addr, prefix_len) = cidr
            .as_str()
            .and_then(parse_cidr)
            .ok_or_else(|| format!("{at}.cidr: {} is not an IP address or CIDR", short(cidr)))?;
        let mut ports = Vec::new();
        if let Some(list) = fields.get("ports") {
            let list = list.as_array().ok_or_else(|| {
                format!("{at}.ports: must be an array of port numbers, not {}", short(list))
            })?;
            for (j, p) in list.iter().enumerate() {
                ports.push(port(p).ok_or_else(|| {
                    format!("{at}.ports[{j}]: {} is not a port (1 to 65535)", short(p))
                })?);
            }
        }
        let mut protocols = Vec::new();
        for (j, p) in
            strings(&format!("{at}.protocols"), fields.get("protocols"))?.into_iter().enumerate()
        {
            protocols.push(match p {
                "tcp" => Protocol::Tcp,
                "udp" => Protocol::Udp,
                _ => {
                    return Err(format!("{at}.protocols[{j}]: {p:?} is not \"tcp\" or \"udp\""));
                }
            });
        }
        ports.sort_unstable();
        ports.dedup();
        protocols.sort_unstable();
        protocols.dedup();
        out.push((at, NetMatch { allow, addr, prefix_len, ports, protocols }));
    }
    Ok(out)
}

fn port(v: &Value) -> Option<u16> {
    let n = v
        .as_u64()
        .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0).map(|f| f as u64))?;
    u16::try_from(n).ok().filter(|&p| p != 0)
}

/// An allow entry that exactly covers a denied destination (same block,
/// some same port and protocol) cancels it: one of the two is a mistake.
fn check_no_contradiction(
    deny: &[(String, NetMatch)],
    allow: &[(String, NetMatch)],
) -> Result<(), String> {
    type Key = (IpAddr, u8, Option<Protocol>, Option<u16>);
    let keys = |m: &NetMatch| -> BTreeSet<Key> {
        let protocols: Vec<Option<Protocol>> = if m.protocols.is_empty() {
            vec![None]
        } else {
            m.protocols.iter().copied().map(Some).collect()
        };
        let ports: Vec<Option<u16>> = if m.ports.is_empty() {
            vec![None]
        } else {
            m.ports.iter().copied().map(Some).collect()
        };
        protocols
            .iter()
            .flat_map(|&proto| ports.iter().map(move |&port| (m.addr, m.prefix_len, proto, port)))
            .collect()
    };
    for (allow_at, a) in allow {
        let allowed = keys(a);
        if let Some((deny_at, d)) = deny.iter().find(|(_, d)| !keys(d).is_disjoint(&allowed)) {
            return Err(format!(
                "{allow_at}: allows {a}, which {deny_at} denies ({d}) with the same prefix, port and protocol; the two cancel out"
            ));
        }
    }
    Ok(())
}

/// `a.b.c.d/n`, `x::y/n`, or a bare address (/32, /128); the address with
/// its host bits cleared, and an IPv4-mapped IPv6 block as IPv4.
pub fn parse_cidr(text: &str) -> Option<(IpAddr, u8)> {
    let (addr, len) = match text.split_once('/') {
        Some((addr, len)) => (addr, Some(len)),
        None => (text, None),
    };
    let addr: IpAddr = addr.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = match len {
        None => max,
        Some(len) if (1..=3).contains(&len.len()) && len.bytes().all(|b| b.is_ascii_digit()) => {
            len.parse::<u8>().ok().filter(|&l| l <= max)?
        }
        Some(_) => return None,
    };
    Some(network(addr, len))
}

fn network(addr: IpAddr, len: u8) -> (IpAddr, u8) {
    match addr {
        IpAddr::V4(a) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            (IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask)), len)
        }
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) if len >= 96 => network(IpAddr::V4(v4), len - 96),
            _ => {
                let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
                (IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask)), len)
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn selector_keys_are_the_workload_keys_of_the_rego() {
        use crate::policy::engine::{TIME_LIMIT, add_module, limited_engine};
        let mut engine = limited_engine(TIME_LIMIT);
        let workload = include_str!("../../../policies/lib/workload.rego");
        add_module(&mut engine, "lib/workload.rego", workload).unwrap();
        let keys = engine.eval_rule("data.palisade.lib.workload.keys".to_string()).unwrap();
        let mut ours = SELECTOR_KEYS.to_vec();
        ours.sort_unstable();
        assert_eq!(serde_json::to_value(&keys).unwrap(), json!(ours));
    }

    fn meta(id: &str, action: &str, kinds: &[&str]) -> RuleMeta {
        RuleMeta {
            id: id.into(),
            title: "t".into(),
            severity: "high".into(),
            mitre: "T1095".into(),
            action: action.into(),
            kinds: kinds.iter().map(|k| k.to_string()).collect(),
            package: "data.palisade.rules.t".into(),
            file: "rules/t.rego".into(),
            triggers: Default::default(),
            as_written: serde_json::Value::Null,
        }
    }

    fn both() -> RuleMeta {
        meta("PAL-001", "block", &["process_exec", "network_connect"])
    }

    fn cidr(text: &str) -> String {
        let (addr, len) = parse_cidr(text).unwrap_or_else(|| panic!("{text} should parse"));
        format!("{addr}/{len}")
    }

    fn err(kernel: Value) -> String {
        parse(&both(), &kernel).expect_err("should be rejected")
    }

    #[test]
    fn file_prefixes_are_checked_sorted_and_need_the_file_open_kind() {
        let file = |read: Value, write: Value| json!({"file": {"read": read, "write": write}});
        let m = meta("PAL-070", "block", &["file_open"]);
        let parsed = parse(
            &m,
            &file(json!(["/etc/shadow", "/etc/gshadow", "/etc/shadow"]), json!(["/etc/"])),
        )
        .expect("a valid section");
        assert_eq!(parsed.file_read, ["/etc/gshadow", "/etc/shadow"]);
        assert_eq!(parsed.file_write, ["/etc/"]);
        let e = parse(&m, &file(json!(["etc/shadow"]), json!([]))).unwrap_err();
        assert_eq!(
            e,
            "kernel.file.read[0]: \"etc/shadow\" is not absolute: the kernel matches the file's resolved path"
        );
        let long = format!("/{}", "x".repeat(FILE_RULE_PATH_LEN));
        let e = parse(&m, &file(json!([]), json!([long]))).unwrap_err();
        assert!(e.starts_with("kernel.file.write[0]: ") && e.contains("up to 252 bytes"), "{e}");
        let e = parse(&m, &json!({"file": {"exec": ["/x"]}})).unwrap_err();
        assert_eq!(e, "kernel.file.exec: unknown field (known: read, write)");
        let e = parse(&both(), &file(json!(["/etc/shadow"]), json!([]))).unwrap_err();
        assert!(
            e.starts_with("kernel.file: the rule's meta.kinds must include \"file_open\""),
            "{e}"
        );
    }

    #[test]
    fn cidrs_are_normalised() {
        assert_eq!(cidr("10.1.2.3/8"), "10.0.0.0/8");
        assert_eq!(cidr("169.254.169.254"), "169.254.169.254/32");
        assert_eq!(cidr("0.0.0.0/0"), "0.0.0.0/0");
        assert_eq!(cidr("192.168.7.7/0"), "0.0.0.0/0");
        assert_eq!(cidr("fd00:ec2::254"), "fd00:ec2::254/128");
        assert_eq!(cidr("fe80::1/10"), "fe80::/10");
        assert_eq!(cidr("::/0"), "::/0");
        assert_eq!(cidr("2001:db8::1/127"), "2001:db8::/127");
        // IPv4-mapped: as the IPv4 block, so it meets IPv4 entries.
        assert_eq!(cidr("::ffff:169.254.169.254"), "169.254.169.254/32");
        assert_eq!(cidr("::ffff:10.9.9.9/104"), "10.0.0.0/8");
        assert_eq!(cidr("::ffff:0:0/96"), "0.0.0.0/0");
        assert_eq!(cidr("::ffff:0:0/80"), "::/80");
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "10.0.0.0/0008",
            "10.0.0/8",
            "010.0.0.1",
            "host.example",
            "",
            "/8",
            "10.0.0.0/8/8",
            " 10.0.0.1",
        ] {
            assert_eq!(parse_cidr(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_full_section_is_normalised() {
        let parsed = parse(
            &both(),
            &json!({
                "scope": "containers",
                "exec": {"names": ["ncat", "nc", "nc"], "paths": ["/usr/bin/socat", "/usr/bin/socat"]},
                "connect": [
                    {"cidr": "169.254.169.254"},
                    {"cidr": "0.0.0.0/0", "ports": [4444, 22, 4444], "protocols": ["udp", "tcp", "tcp"]},
                ],
                "connect_allow": [{"cidr": "10.1.0.0/8", "ports": [443]}],
            }),
        )
        .unwrap();
        assert_eq!(parsed.scope, KernelScope::Any(vec![ScopeTerm::Containers]));
        assert_eq!(parsed.exec_names, ["nc", "ncat"]);
        assert_eq!(parsed.exec_paths, [PathBuf::from("/usr/bin/socat")]);
        let shown: Vec<String> = parsed
            .connect
            .iter()
            .map(|m| format!("{} {m}", if m.allow { "allow" } else { "deny" }))
            .collect();
        assert_eq!(
            shown,
            [
                "deny 0.0.0.0/0 port 22,4444 tcp,udp",
                "deny 169.254.169.254/32",
                "allow 10.0.0.0/8 port 443"
            ]
        );
        assert_eq!(Protocol::Tcp.number(), 6);
        assert_eq!(Protocol::Udp.number(), 17);
    }

    #[test]
    fn scope_defaults_to_all_and_must_be_known() {
        let parsed = parse(&both(), &json!({"exec": {"names": ["nc"]}})).unwrap();
        assert_eq!(parsed.scope, KernelScope::All);
        assert_eq!(
            parse(&both(), &json!({"scope": "host", "exec": {"names": ["nc"]}})).unwrap().scope,
            KernelScope::Any(vec![ScopeTerm::Host])
        );
        let e = err(json!({"scope": "pods", "exec": {"names": ["nc"]}}));
        assert!(
            e.starts_with(
                "kernel.scope: \"pods\" is not \"all\", \"containers\", \"host\", a selector object"
            ),
            "{e}"
        );
    }

    #[test]
    fn workload_selectors_are_checked_and_shown() {
        let scope = |s: Value| parse(&both(), &json!({"scope": s, "exec": {"names": ["nc"]}}));
        let parsed = scope(json!([
            {"namespace": ["payments", "billing"], "pod_labels": {"app": "web"}},
            {"image_prefix": "registry.example/ci/"},
            "host",
        ]))
        .unwrap();
        assert_eq!(
            parsed.scope.to_string(),
            "namespace=billing|payments,pod_labels{app=web} or image_prefix=registry.example/ci/ or host"
        );
        let one = scope(json!({"container_id": "abc", "image": "r/x:1"})).unwrap();
        assert_eq!(one.scope.to_string(), "image=r/x:1,container_id=abc");
        for (bad, why) in [
            (json!([]), "kernel.scope: an empty list selects nothing"),
            (json!({}), "kernel.scope: an empty selector selects every container"),
            (json!({"nmespace": "a"}), "kernel.scope.nmespace: unknown field"),
            (
                json!([{"namespace": 7}]),
                "kernel.scope[0].namespace: must be a string or a non-empty array",
            ),
            (json!({"namespace": [""]}), "kernel.scope.namespace: \"\" is not a non-empty string"),
            (json!({"pod_labels": {"app": 1}}), "kernel.scope.pod_labels.app: 1 is not a string"),
            (json!({"pod_labels": ["app"]}), "kernel.scope.pod_labels: must be a non-empty object"),
            (json!(["host", 3]), "kernel.scope[1]: 3 is not"),
        ] {
            let e = scope(bad.clone()).expect_err("rejected");
            assert!(e.starts_with(why), "{bad}: {e}");
        }
    }

    #[test]
    fn ports_and_protocols_are_checked() {
        let entry = |e: Value| err(json!({"connect": [{"cidr": "10.0.0.0/8"}, e]}));
        assert_eq!(
            entry(json!({"cidr": "10.0.0.0/33"})),
            "kernel.connect[1].cidr: \"10.0.0.0/33\" is not an IP address or CIDR"
        );
        assert_eq!(
            entry(json!({"cidr": "1.2.3.4", "ports": [80, 0]})),
            "kernel.connect[1].ports[1]: 0 is not a port (1 to 65535)"
        );
        assert_eq!(
            entry(json!({"cidr": "1.2.3.4", "ports": [65536]})),
            "kernel.connect[1].ports[0]: 65536 is not a port (1 to 65535)"
        );
        assert!(entry(json!({"cidr": "1.2.3.4", "ports": ["80"]})).contains("is not a port"));
        assert!(entry(json!({"cidr": "1.2.3.4", "ports": [-1]})).contains("is not a port"));
        assert!(
            entry(json!({"cidr": "1.2.3.4", "ports": 80}))
                .starts_with("kernel.connect[1].ports: must be an array")
        );
        assert_eq!(
            entry(json!({"cidr": "1.2.3.4", "protocols": ["icmp"]})),
            "kernel.connect[1].protocols[0]: \"icmp\" is not \"tcp\" or \"udp\""
        );
        assert!(entry(json!({"ports": [80]})).starts_with("kernel.connect[1].cidr: missing"));
        assert!(
            entry(json!({"cidr": "1.2.3.4", "port": 80}))
                .starts_with("kernel.connect[1].port: unknown field")
        );
        let ok = parse(
            &both(),
            &json!({"connect": [{"cidr": "1.2.3.4", "ports": [1, 65535.0], "protocols": []}]}),
        )
        .unwrap();
        assert_eq!(ok.connect[0].ports, [1, 65535]);
        assert!(ok.connect[0].protocols.is_empty());
    }

    #[test]
    fn exec_names_and_paths_are_checked() {
        let names = |n: Value| err(json!({"exec": {"names": n}}));
        assert!(
            names(json!(["nc", "bin/nc"]))
                .starts_with("kernel.exec.names[1]: \"bin/nc\" contains '/'")
        );
        assert!(names(json!([""])).contains("1 to 54 bytes"));
        assert!(names(json!(["x".repeat(55)])).contains("is 55 bytes"));
        assert!(parse(&both(), &json!({"exec": {"names": ["x".repeat(54)]}})).is_ok());
        assert!(names(json!([".."])).contains("not a file name"));
        assert!(names(json!("nc")).starts_with("kernel.exec.names: must be an array"));
        assert!(names(json!([1])).starts_with("kernel.exec.names[0]: 1 is not a string"));
        let e = err(json!({"exec": {"paths": ["usr/bin/nc"]}}));
        assert_eq!(e, "kernel.exec.paths[0]: \"usr/bin/nc\" is not an absolute path");
        assert!(
            err(json!({"exec": {"name": ["nc"]}})).starts_with("kernel.exec.name: unknown field")
        );
        assert!(err(json!({"exec": ["nc"]})).starts_with("kernel.exec: must be an object"));
    }

    #[test]
    fn socket_families_are_named_checked_and_need_the_network_socket_kind() {
        let m = meta("PAL-080", "block", &["network_socket"]);
        let socket =
            |families: Value| json!({"scope": "containers", "socket": {"families": families}});
        let parsed = parse(&m, &socket(json!(["xdp", "packet", "packet"]))).expect("valid");
        assert_eq!(parsed.socket_families, [SocketFamily(17), SocketFamily(44)]);
        assert_eq!(
            serde_json::to_value(&parsed.socket_families).unwrap(),
            json!(["packet", "xdp"])
        );
        let e = parse(&m, &socket(json!(["packet", "inet"]))).unwrap_err();
        assert!(
            e.starts_with("kernel.socket.families[1]: \"inet\" is not a socket family a rule may deny (known: packet, xdp,"),
            "{e}"
        );
        let e = parse(&m, &json!({"socket": {"family": ["packet"]}})).unwrap_err();
        assert_eq!(e, "kernel.socket.family: unknown field (known: families)");
        let e = parse(&m, &json!({"socket": ["packet"]})).unwrap_err();
        assert!(e.starts_with("kernel.socket: must be an object with `families`"), "{e}");
        let e = parse(&both(), &socket(json!(["packet"]))).unwrap_err();
        assert!(
            e.starts_with("kernel.socket: the rule's meta.kinds must include \"network_socket\""),
            "{e}"
        );
        // An empty list names nothing to deny.
        assert!(parse(&m, &socket(json!([]))).unwrap_err().starts_with("kernel: none of"));
        // Every family a rule may name is one the hooks look up, and back.
        for &(name, family) in socket_family::DENIABLE {
            assert!(socket_family::deniable(u32::from(family)), "{name}");
            assert_eq!(SocketFamily::parse(name).unwrap().name(), name);
        }
        for family in [1, 2, 10, 16, 64, 1000] {
            assert!(!socket_family::deniable(family), "{family}");
        }
        // The schema names the same families, in the same order.
        let schema: Value =
            serde_json::from_str(include_str!("../../../schema/event.schema.json")).unwrap();
        let names: Vec<&str> = socket_family::DENIABLE.iter().map(|(n, _)| *n).collect();
        assert_eq!(schema["$defs"]["socket"]["properties"]["family"]["enum"], json!(names));
        // The old spelling of a packet socket is one.
        assert_eq!(socket_family::effective(2, 10 | 0o4000), socket_family::AF_PACKET);
        assert_eq!(socket_family::effective(2, 2), 2);
    }

    #[test]
    fn exec_drift_is_a_boolean_that_counts_as_something_to_deny() {
        let parsed = parse(&both(), &json!({"scope": "containers", "exec": {"drift": true}}));
        let parsed = parsed.unwrap();
        assert!(parsed.exec_drift && parsed.exec_names.is_empty());
        let e = err(json!({"exec": {"drift": "yes"}}));
        assert_eq!(e, "kernel.exec.drift: \"yes\" is not true or false");
        assert!(err(json!({"exec": {"drift": false}})).starts_with("kernel: none of"));
        let net_only = meta("PAL-001", "block", &["network_connect"]);
        let e = parse(&net_only, &json!({"exec": {"drift": true}})).unwrap_err();
        assert!(e.starts_with("kernel.exec: the rule's meta.kinds must include"), "{e}");
    }

    #[test]
    fn the_section_must_fit_the_rule() {
        let exec_only = meta("PAL-001", "block", &["process_exec"]);
        let e = parse(&exec_only, &json!({"connect": [{"cidr": "1.2.3.4"}]})).unwrap_err();
        assert!(
            e.starts_with("kernel.connect: the rule's meta.kinds must include \"network_connect\""),
            "{e}"
        );
        let net_only = meta("PAL-001", "block", &["network_connect"]);
        let e = parse(&net_only, &json!({"exec": {"names": ["nc"]}})).unwrap_err();
        assert!(
            e.starts_with("kernel.exec: the rule's meta.kinds must include \"process_exec\""),
            "{e}"
        );
        let long = meta(&"R".repeat(32), "block", &["process_exec"]);
        let e = parse(&long, &json!({"exec": {"names": ["nc"]}})).unwrap_err();
        assert!(e.contains("must be under 32"), "{e}");
        assert!(
            parse(
                &meta(&"R".repeat(31), "block", &["process_exec"]),
                &json!({"exec": {"names": ["nc"]}})
            )
            .is_ok()
        );

        assert!(err(json!({})).starts_with(
            "kernel: none of kernel.exec, kernel.connect, kernel.file and kernel.socket"
        ));
        assert!(err(json!({"exec": {"names": []}, "connect": []})).starts_with("kernel: none of"));
        assert!(err(json!(["nc"])).starts_with("kernel: must be an object"));
        assert!(
            err(json!({"exec": {"names": ["nc"]}, "connnect": []}))
                .starts_with("kernel.connnect: unknown field")
        );
        let e = err(json!({"connect_allow": [{"cidr": "10.0.0.0/8"}]}));
        assert!(e.starts_with("kernel.connect_allow: allow entries carve"), "{e}");
        let e = err(json!({
            "connect": [{"cidr": "0.0.0.0/0"}, {"cidr": "10.0.0.0/8", "ports": [80, 443], "protocols": ["tcp"]}],
            "connect_allow": [{"cidr": "10.0.0.0/8", "ports": [443]}, {"cidr": "10.1.1.1/8", "ports": [22, 443], "protocols": ["tcp"]}],
        }));
        assert!(e.starts_with("kernel.connect_allow[1]: allows 10.0.0.0/8 port 22,443 tcp, which kernel.connect[1] denies"), "{e}");
    }

    fn exception(id: &str, rules: &[&str], expires_ns: i128) -> ExceptionInfo {
        ExceptionInfo {
            id: id.into(),
            owner: "o".into(),
            expires: "x".into(),
            expires_ns,
            rules: rules.iter().map(|r| r.to_string()).collect(),
            scope: json!({"namespace": "ns"}),
            reason: String::new(),
            break_glass: false,
        }
    }

    #[test]
    fn modes_actions_and_exceptions_decide_what_the_kernel_does() {
        let rules = [
            meta("R-1", "block", &["process_exec"]),
            meta("R-2", "alert", &["process_exec"]),
            meta("R-3", "kill", &["process_exec"]),
            meta("R-4", "block", &["process_exec"]),
            meta("R-5", "block", &["process_exec"]),
        ];
        let kernel = json!({"exec": {"names": ["nc"]}});
        let sections: Vec<Section<'_>> = rules
            .iter()
            .map(|m| Section {
                meta: m,
                kernel: (m.id != "R-5").then(|| kernel.clone()),
                undefined: false,
                at: "rules/t.rego:9".into(),
            })
            .collect();
        let config = json!({"mode": "enforce", "rule_modes": {"R-3": "audit", "R-4": "off"}});
        let exceptions = [
            exception("E-1", &["R-1"], 10),
            exception("E-2", &["R-2", "R-1"], 20),
            exception("E-3", &["R-3"], 5),
        ];
        let plan = plan(&sections, &config, &exceptions).unwrap();
        let got: Vec<(&str, bool, bool, Option<i128>)> = plan
            .rules
            .iter()
            .map(|r| {
                let until = r.carve_outs.iter().map(|c| c.expires_ns).max();
                (r.id.as_str(), r.enforce, r.blocking, until)
            })
            .collect();
        assert_eq!(
            got,
            [
                ("R-1", true, true, Some(20)),
                ("R-2", false, false, Some(20)),
                ("R-3", false, true, Some(5)),
            ]
        );
        let why: Vec<(&str, &str)> =
            plan.userspace_only.iter().map(|u| (u.id.as_str(), u.why.as_str())).collect();
        assert_eq!(why[0], ("R-4", "rule is off (config rule_modes)"));
        assert_eq!(why[1].0, "R-5");
        assert!(why[1].1.starts_with("no `kernel` section"), "{}", why[1].1);

        // The global mode when the rule has no entry.
        let plan2 = super::plan(&sections[..1], &json!({"mode": "audit"}), &[]).unwrap();
        assert_eq!((plan2.rules[0].enforce, plan2.rules[0].carve_outs.is_empty()), (false, true));

        // An off rule's section is still checked.
        let bad =
            [Section { kernel: Some(json!({"exec": {"names": ["a/b"]}})), ..sections[3].clone() }];
        let e = super::plan(&bad, &config, &[]).unwrap_err().to_string();
        assert!(e.starts_with("rules/t.rego:9: kernel.exec.names[0]: \"a/b\" contains '/'"), "{e}");
    }

    #[test]
    fn a_rule_set_that_cannot_fit_the_kernel_maps_is_refused_and_capacity_is_counted() {
        let m = meta("R-1", "block", &["process_exec", "network_connect"]);
        let section = |kernel: Value| Section {
            meta: &m,
            kernel: Some(kernel),
            undefined: false,
            at: "rules/t.rego:3".into(),
        };
        let config = json!({"mode": "enforce"});
        // Two protocols, three ports: six entries; names count in each of
        // the system binary directories.
        let fits = section(json!({
            "exec": {"names": ["nc", "ncat"], "paths": ["/usr/bin/socat"]},
            "connect": [{"cidr": "10.0.0.0/8", "ports": [1, 2, 3], "protocols": ["tcp", "udp"]}, {"cidr": "::1"}],
        }));
        let c = plan(&[fits], &config, &[]).unwrap().capacity;
        assert_eq!((c.exec_names, c.exec_identities), (2, 1 + 2 * SYSTEM_BIN_DIRS.len()));
        assert_eq!((c.net4, c.net6), (6, 1));
        assert_eq!(c.profiles_that_fit(), (GENERATION_ENTRIES as usize / 13).min(1024));

        let ports: Vec<u32> = (1..=9000).collect();
        let huge = section(
            json!({"connect": [{"cidr": "10.0.0.0/8", "ports": ports, "protocols": ["tcp", "udp"]}]}),
        );
        let e = plan(&[huge], &config, &[]).unwrap_err().to_string();
        assert!(e.starts_with("kernel: the kernel rules need up to 18000 entries"), "{e}");
        assert!(e.contains(&format!("a rule set holds {GENERATION_ENTRIES} per map")), "{e}");
    }
}
