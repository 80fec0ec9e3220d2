//! The map entries a rule set puts in force, built before anything is
//! written: each kernel rule resolved on this host once per update
//! ([`RuleEntries`]), then its keys for every profile it applies to
//! ([`Entries`]), generation 0 in every key.

use std::{
    collections::BTreeMap,
    net::IpAddr,
    path::{Path, PathBuf},
};

use palisade_common::{
    enforce::{
        EXEC_NAME_MAX, ExecInodeKey, ExecNameKey, FILE_INODE_KEY_LEN, FILE_KEY_FIXED_BITS,
        FILE_RULE_PATH_LEN, FileRuleData, GENERATION_ENTRIES, NET_KEY_FIXED_BITS, Net4Data,
        Net6Data, RULE_ID_LEN, SocketKey, Verdict, file_any_slot, net_present_bit, profile_slot,
        verdict_flags, write_file_inode_key,
    },
    file_watch, names,
};

use super::{
    ProfileRules, RulesError,
    generations::{HashEntries, LpmEntries},
};
use crate::{
    kernel::identity,
    policy::kernel_plan::{KernelPlan, KernelRule, NetMatch, SYSTEM_BIN_DIRS},
};

/// What each kernel rule denies, resolved on this host once per update
/// (paths to device and inode, names also to the system directories'
/// files): the part of the entries that does not depend on profiles.
#[derive(Debug, Default)]
pub(super) struct RuleEntries {
    pub(super) rules: BTreeMap<String, ResolvedRule>,
    pub(super) missing: Vec<PathBuf>,
}

#[derive(Debug)]
pub(super) struct ResolvedRule {
    pub(super) rule: KernelRule,
    pub(super) inodes: Vec<(u32, u64)>,
    /// The identity of each file prefix that names an existing file or
    /// directory, with its access (`file_watch` bit).
    pub(super) file_inodes: Vec<(u32, identity::Identity)>,
}

impl RuleEntries {
    pub(super) fn resolve(plan: &KernelPlan) -> Self {
        let mut out = Self::default();
        let ids = identity::Resolver::default();
        for rule in &plan.rules {
            let mut inodes = Vec::new();
            for path in &rule.exec_paths {
                match ids.of_path(path) {
                    Ok(id) => inodes.push(id),
                    Err(_) => out.missing.push(path.clone()),
                }
            }
            for name in &rule.exec_names {
                for dir in SYSTEM_BIN_DIRS {
                    inodes.extend(ids.of_path(&Path::new(dir).join(name)).ok());
                }
            }
            inodes.sort_unstable();
            inodes.dedup();
            // A prefix that names nothing (a byte prefix such as
            // `/etc/shadow-`, or a file not there yet) is matched by path
            // alone.
            let accesses =
                [(file_watch::READ, &rule.file_read), (file_watch::WRITE, &rule.file_write)];
            let mut file_inodes: Vec<(u32, identity::Identity)> = Vec::new();
            for (access, prefixes) in accesses {
                for prefix in prefixes {
                    if let Ok(id) = ids.of_path(Path::new(prefix)) {
                        file_inodes.push((access, id));
                    }
                }
            }
            file_inodes.sort_unstable();
            file_inodes.dedup();
            out.rules
                .insert(rule.id.clone(), ResolvedRule { rule: rule.clone(), inodes, file_inodes });
        }
        out.missing.sort();
        out.missing.dedup();
        out
    }
}

/// The map entries of every profile, built before anything is written,
/// with generation 0 in every key (the writer sets the real one).
#[derive(Default, Clone, PartialEq, Eq)]
pub(super) struct Entries {
    pub(super) exec_inode: HashEntries<ExecInodeKey>,
    pub(super) exec_name: HashEntries<ExecNameKey>,
    /// The drift rule of each profile.
    pub(super) drift: BTreeMap<u16, Verdict>,
    pub(super) net4: LpmEntries<Net4Data>,
    pub(super) net6: LpmEntries<Net6Data>,
    pub(super) file: LpmEntries<FileRuleData>,
    /// The socket families each profile denies.
    pub(super) socket: HashEntries<SocketKey>,
}

/// A plain-bytes key ordered by its bytes, so entries are deduplicated
/// and written in a stable order.
#[derive(Clone, Copy, Debug)]
pub(super) struct OrdKey<T>(pub(super) T);

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
    pub(super) fn build(rules: &RuleEntries, profiles: &[ProfileRules]) -> Self {
        let mut e = Self::default();
        for (id, profile) in profiles.iter().enumerate() {
            // `apply` refuses more than MAX_PROFILES.
            e.add_profile(rules, id as u16, profile);
        }
        e
    }

    pub(super) fn add_profile(
        &mut self,
        rules: &RuleEntries,
        profile: u16,
        in_profile: &ProfileRules,
    ) {
        for (id, &enforced) in in_profile {
            let Some(resolved) = rules.rules.get(id) else { continue };
            let rule = &resolved.rule;
            let verdict = verdict_of(rule, enforced && rule.enforce);
            for &(dev, ino) in &resolved.inodes {
                let key = ExecInodeKey { generation: 0, _pad: 0, profile, dev, ino };
                insert_stronger(&mut self.exec_inode, OrdKey(key), verdict);
            }
            for name in &rule.exec_names {
                if let Some(key) = name_key(profile, name) {
                    insert_stronger(&mut self.exec_name, OrdKey(key), verdict);
                }
            }
            for net in &rule.connect {
                self.put_net(profile, net, verdict);
            }
            let accesses =
                [(file_watch::READ, &rule.file_read), (file_watch::WRITE, &rule.file_write)];
            for (access, prefixes) in accesses {
                for prefix in prefixes {
                    if let Some(key) = file_key(profile, access, prefix) {
                        insert_stronger(&mut self.file, key, verdict);
                    }
                }
            }
            for &(access, (dev, ino)) in &resolved.file_inodes {
                insert_stronger(&mut self.file, file_inode_key(profile, access, dev, ino), verdict);
            }
            for family in &rule.socket_families {
                let key = SocketKey { generation: 0, _pad: 0, profile, family: family.0, _pad2: 0 };
                insert_stronger(&mut self.socket, OrdKey(key), verdict);
            }
            if rule.exec_drift {
                let slot = self.drift.entry(profile).or_default();
                let rank = |v: &Verdict| (v.rule[0] != 0, v.flags & verdict_flags::ENFORCE != 0);
                if rank(&verdict) > rank(slot) {
                    *slot = verdict;
                }
            }
        }
    }

    /// Refuses a rule set larger than a generation may be.
    pub(super) fn within_capacity(&self) -> Result<(), RulesError> {
        for (map, entries) in [
            (names::MAP_EXEC_DENY_INODE, self.exec_inode.len()),
            (names::MAP_EXEC_DENY_NAME, self.exec_name.len()),
            (names::MAP_NET4_RULES, self.net4.len()),
            (names::MAP_NET6_RULES, self.net6.len()),
            (names::MAP_FILE_RULES, self.file.len()),
            (names::MAP_SOCKET_DENY, self.socket.len()),
        ] {
            if entries > GENERATION_ENTRIES as usize {
                return Err(RulesError::Capacity { map, entries });
            }
        }
        Ok(())
    }

    pub(super) fn merge(&mut self, other: Entries) {
        self.exec_inode.extend(other.exec_inode);
        self.exec_name.extend(other.exec_name);
        self.drift.extend(other.drift);
        self.net4.extend(other.net4);
        self.net6.extend(other.net6);
        self.file.extend(other.file);
        self.socket.extend(other.socket);
    }

    /// `FILE_PRESENT` of generation `g`: the accesses each profile's file
    /// rules cover, and their union in the generation's own slot.
    pub(super) fn file_present(&self, g: u8) -> BTreeMap<u32, u32> {
        let mut present: BTreeMap<u32, u32> = BTreeMap::new();
        for (_, data) in self.file.keys() {
            let bit = u32::from(data.0.access);
            *present.entry(profile_slot(g, u16::from_le_bytes(data.0.profile))).or_default() |= bit;
            *present.entry(file_any_slot(g)).or_default() |= bit;
        }
        present
    }

    /// Which kinds of network entries each profile has (`net_present_bit`).
    pub(super) fn net_present(&self) -> BTreeMap<u16, u32> {
        let mut present: BTreeMap<u16, u32> = BTreeMap::new();
        let v4 = self.net4.keys().map(|(_, d)| (false, d.0.profile, d.0.proto, d.0.port));
        let v6 = self.net6.keys().map(|(_, d)| (true, d.0.profile, d.0.proto, d.0.port));
        for (v6, profile, proto, port) in v4.chain(v6) {
            *present.entry(u16::from_le_bytes(profile)).or_default() |=
                net_present_bit(v6, proto != 0, port != [0, 0]);
        }
        present
    }

    fn put_net(&mut self, profile: u16, net: &NetMatch, mut verdict: Verdict) {
        verdict.prefix_len = u32::from(net.prefix_len);
        if net.allow {
            verdict.flags = verdict_flags::ALLOW;
        }
        let len = NET_KEY_FIXED_BITS + u32::from(net.prefix_len);
        let profile = profile.to_le_bytes();
        for (proto, port) in net.keys() {
            let port = port.to_be_bytes();
            match net.addr {
                IpAddr::V4(a) => {
                    let data = Net4Data { generation: 0, profile, proto, port, addr: a.octets() };
                    insert_stronger(&mut self.net4, (len, OrdKey(data)), verdict);
                }
                IpAddr::V6(a) => {
                    let data = Net6Data { generation: 0, profile, proto, port, addr: a.octets() };
                    insert_stronger(&mut self.net6, (len, OrdKey(data)), verdict);
                }
            }
        }
    }
}

/// Two rules naming the same key: deny beats allow, enforce beats report.
pub(super) fn insert_stronger<K: Ord>(map: &mut BTreeMap<K, Verdict>, key: K, verdict: Verdict) {
    let rank =
        |v: &Verdict| (v.flags & verdict_flags::ALLOW == 0, v.flags & verdict_flags::ENFORCE != 0);
    match map.get(&key) {
        Some(old) if rank(old) >= rank(&verdict) => {}
        _ => {
            map.insert(key, verdict);
        }
    }
}

pub(super) fn verdict_of(rule: &KernelRule, enforce: bool) -> Verdict {
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

/// The file rule key of `prefix` for `access` in `profile` (generation
/// 0), or None when it cannot be held (`policy check` refuses such
/// prefixes).
pub(super) fn file_key(
    profile: u16,
    access: u32,
    prefix: &str,
) -> Option<(u32, OrdKey<FileRuleData>)> {
    let bytes = prefix.as_bytes();
    if bytes.len() > FILE_RULE_PATH_LEN {
        return None;
    }
    let mut data = FileRuleData {
        profile: profile.to_le_bytes(),
        access: access as u8,
        ..FileRuleData::default()
    };
    data.path[..bytes.len()].copy_from_slice(bytes);
    Some((FILE_KEY_FIXED_BITS + 8 * bytes.len() as u32, OrdKey(data)))
}

/// The key of a file rule by identity (see `FILE_INODE_KEY_LEN`).
pub(super) fn file_inode_key(
    profile: u16,
    access: u32,
    dev: u32,
    ino: u64,
) -> (u32, OrdKey<FileRuleData>) {
    let mut data = FileRuleData {
        profile: profile.to_le_bytes(),
        access: access as u8,
        ..FileRuleData::default()
    };
    write_file_inode_key(&mut data.path, dev, ino);
    (FILE_KEY_FIXED_BITS + 8 * FILE_INODE_KEY_LEN as u32, OrdKey(data))
}

/// The name key for `name`, or None when it cannot be matched exactly (see
/// `EXEC_NAME_MAX`; `policy check` rejects such names).
pub(super) fn name_key(profile: u16, name: &str) -> Option<ExecNameKey> {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() > EXEC_NAME_MAX {
        return None;
    }
    let mut key = ExecNameKey { profile, ..ExecNameKey::default() };
    key.name[..bytes.len()].copy_from_slice(bytes);
    Some(key)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::policy::kernel_plan::SocketFamily;

    #[test]
    fn names_too_long_to_match_exactly_are_refused() {
        assert!(name_key(0, "nc").is_some());
        assert!(name_key(0, &"x".repeat(EXEC_NAME_MAX)).is_some());
        assert!(name_key(0, &"x".repeat(EXEC_NAME_MAX + 1)).is_none());
        assert!(name_key(0, "").is_none());
    }

    fn rule(id: &str, enforce: bool) -> KernelRule {
        KernelRule {
            id: id.into(),
            scope: Default::default(),
            enforce,
            blocking: true,
            carve_outs: Vec::new(),
            exec_names: vec!["nc".into()],
            exec_paths: Vec::new(),
            exec_drift: true,
            connect: Vec::new(),
            file_read: vec!["/etc/shadow".into()],
            file_write: vec!["/etc/".into()],
            socket_families: vec![SocketFamily(17)],
        }
    }

    #[test]
    fn socket_families_are_keyed_per_profile_and_the_stronger_rule_wins() {
        let plan = KernelPlan {
            rules: vec![rule("PAL-080", false), rule("PAL-081", true)],
            ..KernelPlan::default()
        };
        let rules = RuleEntries::resolve(&plan);
        let profiles = vec![
            ProfileRules::from([("PAL-080".to_string(), true), ("PAL-081".to_string(), true)]),
            ProfileRules::new(),
            // An exception carves PAL-081 out here: reported, not denied.
            ProfileRules::from([("PAL-081".to_string(), false)]),
        ];
        let entries = Entries::build(&rules, &profiles);
        let keys: Vec<(u16, u16, &str, bool)> = (entries.socket.iter())
            .map(|(k, v)| {
                (k.0.profile, k.0.family, v.rule_id(), v.flags & verdict_flags::ENFORCE != 0)
            })
            .collect();
        assert_eq!(keys, [(0, 17, "PAL-081", true), (2, 17, "PAL-081", false)]);
        assert!(entries.within_capacity().is_ok());
    }

    #[test]
    fn file_rules_are_keyed_by_access_and_prefix_and_announced_per_profile() {
        let plan = KernelPlan { rules: vec![rule("PAL-070", true)], ..KernelPlan::default() };
        let rules = RuleEntries::resolve(&plan);
        let profiles =
            vec![ProfileRules::from([("PAL-070".to_string(), true)]), ProfileRules::new()];
        let entries = Entries::build(&rules, &profiles);
        let (by_path, by_identity): (Vec<_>, Vec<_>) =
            entries.file.keys().partition(|(_, k)| k.0.path[0] == b'/');
        let keys: Vec<(u32, u8, u16, String)> = by_path
            .iter()
            .map(|(len, k)| {
                let path = k.0.path.iter().take_while(|&&b| b != 0).map(|&b| b as char).collect();
                (*len, k.0.access, u16::from_le_bytes(k.0.profile), path)
            })
            .collect();
        assert_eq!(
            keys,
            [
                (FILE_KEY_FIXED_BITS + 8 * 5, file_watch::WRITE as u8, 0, "/etc/".into()),
                (FILE_KEY_FIXED_BITS + 8 * 11, file_watch::READ as u8, 0, "/etc/shadow".into()),
            ]
        );
        // The prefixes name a directory and a file that exist: each is
        // denied by its identity too, the one the exec hook reads.
        let ids = identity::Resolver::default();
        let key_of = |p: &str| {
            let (dev, ino) = ids.of_path(Path::new(p)).unwrap();
            let mut path = [0; FILE_RULE_PATH_LEN];
            write_file_inode_key(&mut path, dev, ino);
            path[..FILE_INODE_KEY_LEN].to_vec()
        };
        let identities: BTreeSet<(u32, u8, Vec<u8>)> = by_identity
            .iter()
            .map(|(len, k)| (*len, k.0.access, k.0.path[..FILE_INODE_KEY_LEN].to_vec()))
            .collect();
        let full = FILE_KEY_FIXED_BITS + 8 * FILE_INODE_KEY_LEN as u32;
        assert_eq!(
            identities,
            BTreeSet::from([
                (full, file_watch::READ as u8, key_of("/etc/shadow")),
                (full, file_watch::WRITE as u8, key_of("/etc/")),
            ])
        );
        assert!(entries.file.values().all(|v| v.flags & verdict_flags::ENFORCE != 0));
        // Profile 0 covers both accesses; profile 1 nothing; the generation's
        // own slot sums them up.
        let present = entries.file_present(1);
        let both = file_watch::READ | file_watch::WRITE;
        assert_eq!(present.get(&profile_slot(1, 0)), Some(&both));
        assert_eq!(present.get(&profile_slot(1, 1)), None);
        assert_eq!(present.get(&file_any_slot(1)), Some(&both));
        assert_eq!(present.get(&file_any_slot(0)), None);
        assert!(file_key(0, file_watch::READ, &"/x".repeat(FILE_RULE_PATH_LEN)).is_none());
    }

    #[test]
    fn each_profile_gets_its_rules_enforced_or_reported() {
        let plan = KernelPlan {
            rules: vec![rule("PAL-022", true), rule("PAL-023", false)],
            ..KernelPlan::default()
        };
        let rules = RuleEntries::resolve(&plan);
        let profiles = [
            ProfileRules::new(),
            ProfileRules::from([("PAL-022".to_string(), true)]),
            // Carved out: reported only.
            ProfileRules::from([("PAL-022".to_string(), false)]),
            // An audit rule is never enforced, whatever the profile says.
            ProfileRules::from([("PAL-023".to_string(), true)]),
        ];
        let e = Entries::build(&rules, &profiles);
        assert!(!e.drift.contains_key(&0), "an empty profile has no drift rule");
        let enforced = |p: u16| e.drift[&p].flags & verdict_flags::ENFORCE != 0;
        assert!(enforced(1));
        assert!(!enforced(2));
        assert!(!enforced(3));
        assert_eq!(&e.drift[&3].rule[..7], b"PAL-023");
        let names: Vec<u16> = e.exec_name.keys().map(|k| k.0.profile).collect();
        assert_eq!(names, [1, 2, 3]);
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
