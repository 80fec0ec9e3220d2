//! Writing the kernel-enforceable part of the policy (the bundle's
//! `KernelPlan`) into the pinned enforcement maps, atomically.
//!
//! The new rule set is written under the inactive generation, the active
//! generation is flipped with one array update, and only then are the old
//! entries deleted: every hook decision sees the old set or the new one.

use std::{
    collections::BTreeMap,
    net::IpAddr,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
};

use aya::{
    Ebpf,
    maps::{Array, HashMap, MapData, MapError, lpm_trie::Key, lpm_trie::LpmTrie},
};
use palisade_common::{
    enforce::{
        EXEC_NAME_MAX, ExecInodeKey, ExecNameKey, NET_KEY_FIXED_BITS, Net4Data, Net6Data,
        RULE_ID_LEN, Verdict, drift_slot, net_present_bit, scope, verdict_flags,
    },
    names,
};
use serde::Serialize;
use thiserror::Error;

use crate::policy::kernel_plan::{KernelPlan, KernelRule, KernelScope, NetMatch};

/// Where a denied name is also looked up on the host, so that hard links
/// to it under other names are denied by identity.
const SYSTEM_BIN_DIRS: &[&str] =
    &["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

#[derive(Debug, Error)]
pub enum RulesError {
    #[error("the eBPF object has no map `{0}`")]
    Missing(&'static str),
    #[error("enforcement map `{name}`: {source}")]
    Map {
        name: &'static str,
        #[source]
        source: MapError,
    },
}

/// Handles on the pinned enforcement maps.
pub struct EnforceMaps {
    active: Array<MapData, u32>,
    net_present: Array<MapData, u32>,
    exec_drift: Array<MapData, Verdict>,
    exec_inode: HashMap<MapData, ExecInodeKey, Verdict>,
    exec_name: HashMap<MapData, ExecNameKey, Verdict>,
    net4: LpmTrie<MapData, Net4Data, Verdict>,
    net6: LpmTrie<MapData, Net6Data, Verdict>,
    /// The entries last written (with generation 0).
    in_force: Option<Entries>,
}

/// What one update put in force.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Applied {
    pub generation: u32,
    pub exec_inodes: usize,
    pub exec_names: usize,
    /// Scopes with a kernel drift rule.
    pub exec_drift: usize,
    pub net4: usize,
    pub net6: usize,
    /// Rules whose matches the kernel reports only while an exception to
    /// them is in force (the exception's scope cannot be judged in the hook).
    pub relaxed_by_exceptions: Vec<String>,
    /// Paths named by rules that do not exist on this host.
    pub missing_paths: Vec<PathBuf>,
}

impl EnforceMaps {
    pub fn take(ebpf: &mut Ebpf) -> Result<Self, RulesError> {
        fn map<T>(ebpf: &mut Ebpf, name: &'static str) -> Result<T, RulesError>
        where
            T: TryFrom<aya::maps::Map, Error = MapError>,
        {
            let m = ebpf.take_map(name).ok_or(RulesError::Missing(name))?;
            T::try_from(m).map_err(|source| RulesError::Map { name, source })
        }
        Ok(Self {
            active: map(ebpf, names::MAP_ENFORCE_ACTIVE)?,
            net_present: map(ebpf, names::MAP_NET_PRESENT)?,
            exec_drift: map(ebpf, names::MAP_EXEC_DRIFT)?,
            exec_inode: map(ebpf, names::MAP_EXEC_DENY_INODE)?,
            exec_name: map(ebpf, names::MAP_EXEC_DENY_NAME)?,
            net4: map(ebpf, names::MAP_NET4_RULES)?,
            net6: map(ebpf, names::MAP_NET6_RULES)?,
            in_force: None,
        })
    }

    /// Puts `plan` in force; `now_ns` (wall clock, ns since the epoch)
    /// decides which exceptions are still in force. Does nothing and
    /// returns None when the entries would be the ones already in force
    /// (called again periodically, it re-arms rules whose exceptions expired
    /// and follows binaries replaced on disk).
    pub fn apply(
        &mut self,
        plan: &KernelPlan,
        now_ns: i128,
    ) -> Result<Option<Applied>, RulesError> {
        let entries = Entries::build(plan, now_ns);
        if self.in_force.as_ref() == Some(&entries) {
            return Ok(None);
        }
        let err = |name| move |source| RulesError::Map { name, source };
        let current = self.active.get(&0, 0).map_err(err(names::MAP_ENFORCE_ACTIVE))? & 1;
        let next = 1 - current;
        let g = next as u8;

        // Leftovers of an update that died half-way.
        self.purge(g)?;
        for (k, v) in &entries.exec_inode {
            let key = ExecInodeKey { generation: g, ..k.0 };
            self.exec_inode.insert(key, *v, 0).map_err(err(names::MAP_EXEC_DENY_INODE))?;
        }
        for (k, v) in &entries.exec_name {
            let key = ExecNameKey { generation: g, ..k.0 };
            self.exec_name.insert(key, *v, 0).map_err(err(names::MAP_EXEC_DENY_NAME))?;
        }
        for ((len, data), v) in &entries.net4 {
            let key = Key::new(*len, Net4Data { generation: g, ..data.0 });
            self.net4.insert(&key, v, 0).map_err(err(names::MAP_NET4_RULES))?;
        }
        for ((len, data), v) in &entries.net6 {
            let key = Key::new(*len, Net6Data { generation: g, ..data.0 });
            self.net6.insert(&key, v, 0).map_err(err(names::MAP_NET6_RULES))?;
        }
        for (&s, v) in &entries.drift {
            let v = Verdict { flags: v.flags | verdict_flags::MATCHED, ..*v };
            self.exec_drift.set(drift_slot(g, s), v, 0).map_err(err(names::MAP_EXEC_DRIFT))?;
        }
        self.net_present
            .set(next, entries.net_present(), 0)
            .map_err(err(names::MAP_NET_PRESENT))?;
        self.active.set(0, next, 0).map_err(err(names::MAP_ENFORCE_ACTIVE))?;
        self.purge(current as u8)?;
        let applied = Applied {
            generation: next,
            exec_inodes: entries.exec_inode.len(),
            exec_names: entries.exec_name.len(),
            exec_drift: entries.drift.len(),
            net4: entries.net4.len(),
            net6: entries.net6.len(),
            relaxed_by_exceptions: entries.relaxed.clone(),
            missing_paths: entries.missing.clone(),
        };
        self.in_force = Some(entries);
        Ok(Some(applied))
    }

    /// Deletes every entry of `generation`.
    fn purge(&mut self, generation: u8) -> Result<(), RulesError> {
        let err = |name| move |source| RulesError::Map { name, source };
        for s in [scope::ALL, scope::CONTAINERS, scope::HOST] {
            self.exec_drift
                .set(drift_slot(generation, s), Verdict::default(), 0)
                .map_err(err(names::MAP_EXEC_DRIFT))?;
        }
        let stale: Vec<ExecInodeKey> = self
            .exec_inode
            .keys()
            .filter_map(Result::ok)
            .filter(|k| k.generation == generation)
            .collect();
        for k in stale {
            self.exec_inode.remove(&k).map_err(err(names::MAP_EXEC_DENY_INODE))?;
        }
        let stale: Vec<ExecNameKey> = self
            .exec_name
            .keys()
            .filter_map(Result::ok)
            .filter(|k| k.generation == generation)
            .collect();
        for k in stale {
            self.exec_name.remove(&k).map_err(err(names::MAP_EXEC_DENY_NAME))?;
        }
        let stale: Vec<Key<Net4Data>> = self
            .net4
            .keys()
            .filter_map(Result::ok)
            .filter(|k| k.data().generation == generation)
            .collect();
        for k in stale {
            self.net4.remove(&k).map_err(err(names::MAP_NET4_RULES))?;
        }
        let stale: Vec<Key<Net6Data>> = self
            .net6
            .keys()
            .filter_map(Result::ok)
            .filter(|k| k.data().generation == generation)
            .collect();
        for k in stale {
            self.net6.remove(&k).map_err(err(names::MAP_NET6_RULES))?;
        }
        Ok(())
    }
}

/// The map entries of a plan, built before anything is written, with
/// generation 0 in every key (the writer sets the real one).
#[derive(Default, PartialEq, Eq)]
struct Entries {
    exec_inode: BTreeMap<ExecInodeKeyOrd, Verdict>,
    exec_name: BTreeMap<ExecNameKeyOrd, Verdict>,
    /// The drift rule of each scope.
    drift: BTreeMap<u8, Verdict>,
    net4: BTreeMap<(u32, Net4Ord), Verdict>,
    net6: BTreeMap<(u32, Net6Ord), Verdict>,
    relaxed: Vec<String>,
    missing: Vec<PathBuf>,
}

// Ordered wrappers, so entries are deduplicated and written in a stable order.
type ExecInodeKeyOrd = OrdKey<ExecInodeKey>;
type ExecNameKeyOrd = OrdKey<ExecNameKey>;
type Net4Ord = OrdKey<Net4Data>;
type Net6Ord = OrdKey<Net6Data>;

/// A plain-bytes key ordered by its bytes.
#[derive(Clone, Copy, Debug)]
struct OrdKey<T>(T);

impl<T: aya::Pod> OrdKey<T> {
    fn bytes(&self) -> &[u8] {
        // SAFETY: `T: Pod` is plain bytes without padding.
        unsafe { std::slice::from_raw_parts((&self.0 as *const T).cast::<u8>(), size_of::<T>()) }
    }
}
impl<T: aya::Pod> PartialEq for OrdKey<T> {
    fn eq(&self, other: &Self) -> bool {
        self.bytes() == other.bytes()
    }
}
impl<T: aya::Pod> Eq for OrdKey<T> {}
impl<T: aya::Pod> PartialOrd for OrdKey<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<T: aya::Pod> Ord for OrdKey<T> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.bytes().cmp(other.bytes())
    }
}

impl Entries {
    fn build(plan: &KernelPlan, now_ns: i128) -> Self {
        let mut e = Self::default();
        for rule in &plan.rules {
            let relaxed = rule.exceptions_until.is_some_and(|until| now_ns < until);
            if relaxed && rule.enforce {
                e.relaxed.push(rule.id.clone());
            }
            let verdict = verdict_of(rule, rule.enforce && !relaxed);
            let s = scope_of(rule.scope);
            for path in &rule.exec_paths {
                match identity(path) {
                    Some((dev, ino)) => e.put_inode(s, dev, ino, verdict),
                    None => e.missing.push(path.clone()),
                }
            }
            for name in &rule.exec_names {
                if let Some(key) = name_key(s, name) {
                    insert_stronger(&mut e.exec_name, OrdKey(key), verdict);
                }
                for dir in SYSTEM_BIN_DIRS {
                    if let Some((dev, ino)) = identity(&Path::new(dir).join(name)) {
                        e.put_inode(s, dev, ino, verdict);
                    }
                }
            }
            for net in &rule.connect {
                e.put_net(s, net, verdict);
            }
            if rule.exec_drift {
                let slot = e.drift.entry(s).or_default();
                let rank = |v: &Verdict| (v.rule[0] != 0, v.flags & verdict_flags::ENFORCE != 0);
                if rank(&verdict) > rank(slot) {
                    *slot = verdict;
                }
            }
        }
        e.missing.sort();
        e.missing.dedup();
        e
    }

    /// Which kinds of network entries there are (`net_present_bit`).
    fn net_present(&self) -> u32 {
        let bit = |v6, scope, proto: u8, port: [u8; 2]| {
            net_present_bit(v6, scope, proto != 0, port != [0, 0])
        };
        let v4 = self.net4.keys().map(|(_, d)| bit(false, d.0.scope, d.0.proto, d.0.port));
        let v6 = self.net6.keys().map(|(_, d)| bit(true, d.0.scope, d.0.proto, d.0.port));
        v4.chain(v6).fold(0, |mask, b| mask | b)
    }

    fn put_inode(&mut self, scope: u8, dev: u32, ino: u64, verdict: Verdict) {
        let key = ExecInodeKey { generation: 0, scope, _pad: [0; 2], dev, ino };
        insert_stronger(&mut self.exec_inode, OrdKey(key), verdict);
    }

    fn put_net(&mut self, scope: u8, net: &NetMatch, mut verdict: Verdict) {
        verdict.prefix_len = u32::from(net.prefix_len);
        if net.allow {
            verdict.flags = verdict_flags::ALLOW;
        }
        let protos: Vec<u8> = if net.protocols.is_empty() {
            vec![0]
        } else {
            net.protocols.iter().map(|p| p.number()).collect()
        };
        let ports: &[u16] = if net.ports.is_empty() { &[0] } else { &net.ports };
        let len = NET_KEY_FIXED_BITS + u32::from(net.prefix_len);
        for &proto in &protos {
            for &port in ports {
                let port = port.to_be_bytes();
                match net.addr {
                    IpAddr::V4(a) => {
                        let data = Net4Data { generation: 0, scope, proto, port, addr: a.octets() };
                        insert_stronger(&mut self.net4, (len, OrdKey(data)), verdict);
                    }
                    IpAddr::V6(a) => {
                        let data = Net6Data { generation: 0, scope, proto, port, addr: a.octets() };
                        insert_stronger(&mut self.net6, (len, OrdKey(data)), verdict);
                    }
                }
            }
        }
    }
}

/// Two rules naming the same key: deny beats allow, enforce beats report.
fn insert_stronger<K: Ord>(map: &mut BTreeMap<K, Verdict>, key: K, verdict: Verdict) {
    let rank =
        |v: &Verdict| (v.flags & verdict_flags::ALLOW == 0, v.flags & verdict_flags::ENFORCE != 0);
    match map.get(&key) {
        Some(old) if rank(old) >= rank(&verdict) => {}
        _ => {
            map.insert(key, verdict);
        }
    }
}

fn verdict_of(rule: &KernelRule, enforce: bool) -> Verdict {
    let mut id = [0u8; RULE_ID_LEN];
    let bytes = rule.id.as_bytes();
    let n = bytes.len().min(RULE_ID_LEN - 1);
    id[..n].copy_from_slice(&bytes[..n]);
    let mut flags = 0;
    if enforce {
        flags |= verdict_flags::ENFORCE;
    }
    if rule.blocking {
        flags |= verdict_flags::BLOCKING;
    }
    Verdict { rule: id, flags, prefix_len: 0 }
}

fn scope_of(s: KernelScope) -> u8 {
    match s {
        KernelScope::All => scope::ALL,
        KernelScope::Containers => scope::CONTAINERS,
        KernelScope::Host => scope::HOST,
    }
}

/// The name key for `name`, or None when it cannot be matched exactly (see
/// `EXEC_NAME_MAX`; `policy check` rejects such names).
fn name_key(scope: u8, name: &str) -> Option<ExecNameKey> {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() > EXEC_NAME_MAX {
        return None;
    }
    let mut key = ExecNameKey { scope, ..ExecNameKey::default() };
    key.name[..bytes.len()].copy_from_slice(bytes);
    Some(key)
}

/// A file's identity as the kernel records it: (dev in the kernel's
/// encoding, inode), following symlinks, on the node (see `host_root`).
fn identity(path: &Path) -> Option<(u32, u64)> {
    let meta = super::host_root::metadata(path).ok()?;
    let dev = meta.dev();
    let (major, minor) = (libc::major(dev), libc::minor(dev));
    Some(((major << 20) | minor, meta.ino()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_matches_the_kernel_encoding_of_a_known_file() {
        let (dev, ino) = identity(Path::new("/proc/self/exe")).expect("exists");
        assert!(ino > 0);
        // The same file through its real path has the same identity.
        let real = std::fs::read_link("/proc/self/exe").unwrap();
        assert_eq!(identity(&real), Some((dev, ino)));
    }

    #[test]
    fn names_too_long_to_match_exactly_are_refused() {
        assert!(name_key(0, "nc").is_some());
        assert!(name_key(0, &"x".repeat(EXEC_NAME_MAX)).is_some());
        assert!(name_key(0, &"x".repeat(EXEC_NAME_MAX + 1)).is_none());
        assert!(name_key(0, "").is_none());
    }

    #[test]
    fn a_drift_rule_fills_its_scope_and_an_exception_relaxes_it() {
        let rule = KernelRule {
            id: "PAL-022".into(),
            scope: KernelScope::Containers,
            enforce: true,
            blocking: true,
            exceptions_until: None,
            exec_names: Vec::new(),
            exec_paths: Vec::new(),
            exec_drift: true,
            connect: Vec::new(),
        };
        let plan = KernelPlan { rules: vec![rule.clone()], userspace_only: Vec::new() };
        let e = Entries::build(&plan, 0);
        let v = e.drift[&scope::CONTAINERS];
        assert_eq!(&v.rule[..7], b"PAL-022");
        assert_ne!(v.flags & verdict_flags::ENFORCE, 0);
        assert!(!e.drift.contains_key(&scope::ALL) && e.exec_name.is_empty());
        let excepted = KernelRule { exceptions_until: Some(10), ..rule };
        let plan = KernelPlan { rules: vec![excepted], userspace_only: Vec::new() };
        let e = Entries::build(&plan, 5);
        assert_eq!(e.drift[&scope::CONTAINERS].flags & verdict_flags::ENFORCE, 0, "reported only");
        assert_eq!(e.relaxed, ["PAL-022"]);
    }

    #[test]
    fn deny_beats_allow_and_enforce_beats_report() {
        let mut map = BTreeMap::new();
        let allow = Verdict { flags: verdict_flags::ALLOW, ..Verdict::default() };
        let report = Verdict::default();
        let enforce = Verdict { flags: verdict_flags::ENFORCE, ..Verdict::default() };
        insert_stronger(&mut map, 1, allow);
        insert_stronger(&mut map, 1, report);
        assert_eq!(map[&1], report);
        insert_stronger(&mut map, 1, enforce);
        insert_stronger(&mut map, 1, report);
        insert_stronger(&mut map, 1, allow);
        assert_eq!(map[&1], enforce);
    }
}
