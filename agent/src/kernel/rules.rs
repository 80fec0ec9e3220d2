//! Writing the kernel-enforceable part of the policy into the pinned
//! enforcement maps, atomically: the rules of every profile (the classes of
//! workloads the agent found), and each registered cgroup's profile.
//!
//! A new rule set is written under the inactive generation, the active
//! generation is flipped with one array update, and only then are the old
//! entries deleted: every hook decision sees the old set or the new one. A
//! profile met between two such updates (a new workload unlike any other)
//! is added to the active generation under a fresh id before any cgroup
//! points at it.

use std::{
    collections::{BTreeMap, HashMap},
    net::IpAddr,
    path::{Path, PathBuf},
};

use aya::{
    Ebpf,
    maps::{Array, HashMap as BpfHashMap, MapData, MapError, lpm_trie::Key, lpm_trie::LpmTrie},
};
use palisade_common::{
    enforce::{
        EXEC_NAME_MAX, ExecInodeKey, ExecNameKey, FILE_INODE_KEY_LEN, FILE_KEY_FIXED_BITS,
        FILE_PRESENT_SLOTS, FILE_RULE_PATH_LEN, FileRuleData, GENERATION_ENTRIES, MAX_PROFILES,
        NET_KEY_FIXED_BITS, Net4Data, Net6Data, PROFILE_SLOTS, RULE_ID_LEN, SocketKey, Verdict,
        Workload, file_any_slot, net_present_bit, profile as enforce_profile, profile_slot,
        strongest_net_match, verdict_flags, workload_flags, write_file_inode_key,
    },
    file_watch, names,
};
use serde::Serialize;
use thiserror::Error;
use tracing::warn;

use super::{identity, pin_guard::PinTampering};
use crate::policy::kernel_plan::{KernelPlan, KernelRule, NetMatch, SYSTEM_BIN_DIRS};

#[derive(Debug, Error)]
pub enum RulesError {
    #[error("the eBPF object has no map `{0}`")]
    Missing(&'static str),
    #[error("enforcement map `{name}`")]
    Map {
        name: &'static str,
        #[source]
        source: MapError,
    },
    #[error("more than {MAX_PROFILES} distinct workload profiles")]
    TooManyProfiles,
    #[error(
        "the rule set needs {entries} entries in enforcement map `{map}`; a rule set may use {GENERATION_ENTRIES} (the other half holds the set it replaces)"
    )]
    Capacity { map: &'static str, entries: usize },
}

impl RulesError {
    /// A map refused an entry for want of room.
    fn is_map_full(&self) -> bool {
        let RulesError::Map { source: MapError::SyscallError(e), .. } = self else {
            return false;
        };
        matches!(e.io_error.raw_os_error(), Some(libc::E2BIG | libc::ENOSPC))
    }
}

/// The kernel rules of one class of workloads: rule id -> enforced (true)
/// or only reported (an exception carves the rule out for them).
pub type ProfileRules = BTreeMap<String, bool>;

/// A registered cgroup's profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    pub profile: u16,
    /// A host cgroup (see `workload_flags::HOST`).
    pub host: bool,
}

/// Handles on the pinned enforcement maps.
pub struct EnforceMaps {
    active: Array<MapData, u32>,
    net_present: Array<MapData, u32>,
    exec_drift: Array<MapData, Verdict>,
    exec_inode: BpfHashMap<MapData, ExecInodeKey, Verdict>,
    exec_name: BpfHashMap<MapData, ExecNameKey, Verdict>,
    net4: LpmTrie<MapData, Net4Data, Verdict>,
    net6: LpmTrie<MapData, Net6Data, Verdict>,
    file_rules: LpmTrie<MapData, FileRuleData, Verdict>,
    file_present: Array<MapData, u32>,
    socket_deny: BpfHashMap<MapData, SocketKey, Verdict>,
    workloads: BpfHashMap<MapData, u64, Workload>,
    /// The entries last written (generation 0 in every key), and the rules
    /// they were resolved from.
    in_force: Option<(Entries, RuleEntries)>,
    /// What `WORKLOADS` holds, as written.
    placed: HashMap<u64, Workload>,
    /// The generation `ENFORCE_ACTIVE` was last set to.
    generation: u32,
}

/// Enforcement state found changed behind the agent's back (another root
/// process writing the pinned maps: `bpftool map update`), and undone.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Tampering {
    /// `ENFORCE_ACTIVE` held this generation instead of the one in force.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active_generation: Option<u32>,
    /// Per map: entries the agent wrote that were gone, held another
    /// value, or that it never wrote.
    pub maps: Vec<MapTampering>,
    /// Pins under the pin directory that were removed or replaced.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pins: Vec<PinTampering>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MapTampering {
    pub map: &'static str,
    pub missing: usize,
    pub altered: usize,
    pub unexpected: usize,
}

impl Tampering {
    pub fn is_empty(&self) -> bool {
        self.active_generation.is_none() && self.maps.is_empty() && self.pins.is_empty()
    }

    /// Entries put back, the active generation counting as one.
    pub fn entries(&self) -> usize {
        let maps: usize = self.maps.iter().map(|m| m.missing + m.altered + m.unexpected).sum();
        maps + usize::from(self.active_generation.is_some()) + self.pins.len()
    }
}

/// What one update put in force.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Applied {
    pub generation: u32,
    pub profiles: usize,
    pub workloads: usize,
    pub exec_inodes: usize,
    pub exec_names: usize,
    /// Profiles with a kernel drift rule.
    pub exec_drift: usize,
    pub net4: usize,
    pub net6: usize,
    /// File rule entries (a prefix for one access, in one profile).
    pub file: usize,
    /// Socket family entries (a family, in one profile).
    pub socket_families: usize,
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
        let mut maps = Self {
            active: map(ebpf, names::MAP_ENFORCE_ACTIVE)?,
            net_present: map(ebpf, names::MAP_NET_PRESENT)?,
            exec_drift: map(ebpf, names::MAP_EXEC_DRIFT)?,
            exec_inode: map(ebpf, names::MAP_EXEC_DENY_INODE)?,
            exec_name: map(ebpf, names::MAP_EXEC_DENY_NAME)?,
            net4: map(ebpf, names::MAP_NET4_RULES)?,
            net6: map(ebpf, names::MAP_NET6_RULES)?,
            file_rules: map(ebpf, names::MAP_FILE_RULES)?,
            file_present: map(ebpf, names::MAP_FILE_PRESENT)?,
            socket_deny: map(ebpf, names::MAP_SOCKET_DENY)?,
            workloads: map(ebpf, names::MAP_WORKLOADS)?,
            in_force: None,
            placed: HashMap::new(),
            generation: 0,
        };
        // An earlier agent's registrations: kept (they hold until this
        // agent's first update replaces them), and known, so that update
        // removes the cgroups this agent does not register again.
        maps.placed = maps.workloads.iter().filter_map(Result::ok).collect();
        Ok(maps)
    }

    /// Puts `profiles` (indexed by profile id) of `plan` in force in the
    /// next generation, with every cgroup of `placements` on its profile;
    /// cgroups registered before and absent from `placements` are removed.
    /// Does nothing and returns None when all of it is what is already in
    /// force (called periodically, it follows binaries replaced on disk).
    pub fn apply(
        &mut self,
        plan: &KernelPlan,
        profiles: &[ProfileRules],
        placements: &HashMap<u64, Placement>,
    ) -> Result<Option<Applied>, RulesError> {
        if profiles.len() > usize::from(MAX_PROFILES) {
            return Err(RulesError::TooManyProfiles);
        }
        let rules = RuleEntries::resolve(plan);
        let entries = Entries::build(&rules, profiles);
        entries.within_capacity()?;
        let err = |name| move |source| RulesError::Map { name, source };
        let current = self.active.get(&0, 0).map_err(err(names::MAP_ENFORCE_ACTIVE))? & 1;
        let same_placements = placements.len() == self.placed.len()
            && placements.iter().all(|(id, p)| {
                self.placed.get(id).is_some_and(|w| {
                    w.profile[current as usize] == p.profile && host_flag(p.host) == w.flags
                })
            });
        if same_placements && self.in_force.as_ref().is_some_and(|(e, _)| *e == entries) {
            return Ok(None);
        }
        let next = 1 - current;
        let g = next as u8;

        // Leftovers of an update that died half-way.
        self.purge(g)?;
        if let Err(e) = self.write(&entries, g) {
            if !e.is_map_full() {
                return Err(e);
            }
            // The set in force holds more than its half (pinned by an
            // earlier agent, or written into by someone else): there is no
            // room for both, so it is replaced in place, not atomically.
            warn!(
                error = %e,
                "no room for the new kernel rule set beside the one in force: replacing it in place (for the moment of the write, neither set is complete)"
            );
            self.purge(g)?;
            self.purge(current as u8)?;
            self.write(&entries, g)?;
        }
        for (&cgroup, p) in placements {
            let mut w = self
                .placed
                .get(&cgroup)
                .copied()
                .unwrap_or(Workload { profile: [p.profile; 2], flags: 0 });
            w.profile[next as usize] = p.profile;
            w.flags = host_flag(p.host);
            self.workloads.insert(cgroup, w, 0).map_err(err(names::MAP_WORKLOADS))?;
            self.placed.insert(cgroup, w);
        }
        self.active.set(0, next, 0).map_err(err(names::MAP_ENFORCE_ACTIVE))?;
        self.generation = next;
        self.purge(current as u8)?;
        let gone: Vec<u64> =
            self.placed.keys().filter(|id| !placements.contains_key(id)).copied().collect();
        for cgroup in gone {
            self.unplace(cgroup)?;
        }
        let applied = Applied {
            generation: next,
            profiles: profiles.len(),
            workloads: placements.len(),
            exec_inodes: entries.exec_inode.len(),
            exec_names: entries.exec_name.len(),
            exec_drift: entries.drift.len(),
            net4: entries.net4.len(),
            net6: entries.net6.len(),
            file: entries.file.len(),
            socket_families: entries.socket.len(),
            missing_paths: rules.missing.clone(),
        };
        self.in_force = Some((entries, rules));
        Ok(Some(applied))
    }

    /// Adds profile `id` (not used by any cgroup yet) to the generation in
    /// force, with the rules resolved at the last [`apply`](Self::apply).
    pub fn add_profile(&mut self, id: u16, profile: &ProfileRules) -> Result<(), RulesError> {
        if id >= MAX_PROFILES {
            return Err(RulesError::TooManyProfiles);
        }
        let Some((in_force, rules)) = &mut self.in_force else { return Ok(()) };
        let mut added = Entries::default();
        added.add_profile(rules, id, profile);
        let mut after = in_force.clone();
        after.merge(added.clone());
        after.within_capacity()?;
        let err = |name| move |source| RulesError::Map { name, source };
        let g = (self.active.get(&0, 0).map_err(err(names::MAP_ENFORCE_ACTIVE))? & 1) as u8;
        let added_for_write = added.clone();
        in_force.merge(added);
        self.write(&added_for_write, g)
    }

    /// Whether the rule set in force has any network entry.
    pub fn has_network_rules(&self) -> bool {
        self.in_force.as_ref().is_some_and(|(e, _)| e.net4.len() + e.net6.len() > 0)
    }

    /// A judge of open connections against the rule set in force now
    /// (its generation read once).
    pub fn connection_judge(&self) -> Result<ConnectionJudge<'_>, RulesError> {
        let err = |source| RulesError::Map { name: names::MAP_ENFORCE_ACTIVE, source };
        let generation = (self.active.get(&0, 0).map_err(err)? & 1) as u8;
        Ok(ConnectionJudge { maps: self, generation, present: HashMap::new() })
    }

    /// Registers `cgroup` on `placement.profile` (in the generation in
    /// force; the next full update places it again).
    pub fn place(&mut self, cgroup: u64, placement: Placement) -> Result<(), RulesError> {
        let w = Workload { profile: [placement.profile; 2], flags: host_flag(placement.host) };
        if self.placed.get(&cgroup) == Some(&w) {
            return Ok(());
        }
        self.workloads
            .insert(cgroup, w, 0)
            .map_err(|source| RulesError::Map { name: names::MAP_WORKLOADS, source })?;
        self.placed.insert(cgroup, w);
        Ok(())
    }

    /// Forgets a cgroup (gone, or no longer registered).
    pub fn unplace(&mut self, cgroup: u64) -> Result<(), RulesError> {
        if self.placed.remove(&cgroup).is_none() {
            return Ok(());
        }
        match self.workloads.remove(&cgroup) {
            // Already gone is fine.
            Ok(()) | Err(MapError::KeyNotFound) => Ok(()),
            Err(source) => Err(RulesError::Map { name: names::MAP_WORKLOADS, source }),
        }
    }

    /// How many cgroups are registered.
    pub fn placed(&self) -> usize {
        self.placed.len()
    }

    /// Compares every enforcement map with what this agent wrote and puts
    /// back what differs: the active generation, each rule entry of it
    /// (restored when missing or altered, removed when unexpected, those of
    /// the other generation included) and each workload's registration.
    /// Nothing is checked before the first [`apply`](Self::apply).
    pub fn verify(&mut self) -> Result<Tampering, RulesError> {
        let Some((entries, _)) = &self.in_force else { return Ok(Tampering::default()) };
        let err = |name| move |source| RulesError::Map { name, source };
        let mut found = Tampering::default();
        let g = self.generation;
        let active = self.active.get(&0, 0).map_err(err(names::MAP_ENFORCE_ACTIVE))?;
        if active != g {
            self.active.set(0, g, 0).map_err(err(names::MAP_ENFORCE_ACTIVE))?;
            found.active_generation = Some(active);
        }
        let g = g as u8;
        let mut note = |map: &'static str, d: Difference| {
            if d != Difference::default() {
                let Difference { missing, altered, unexpected } = d;
                found.maps.push(MapTampering { map, missing, altered, unexpected });
            }
        };

        let d = reconcile_hash(&mut self.exec_inode, &entries.exec_inode, g)
            .map_err(err(names::MAP_EXEC_DENY_INODE))?;
        note(names::MAP_EXEC_DENY_INODE, d);

        let d = reconcile_hash(&mut self.exec_name, &entries.exec_name, g)
            .map_err(err(names::MAP_EXEC_DENY_NAME))?;
        note(names::MAP_EXEC_DENY_NAME, d);

        let d = reconcile_hash(&mut self.socket_deny, &entries.socket, g)
            .map_err(err(names::MAP_SOCKET_DENY))?;
        note(names::MAP_SOCKET_DENY, d);

        let d =
            reconcile_lpm(&mut self.net4, &entries.net4, g).map_err(err(names::MAP_NET4_RULES))?;
        note(names::MAP_NET4_RULES, d);

        let d =
            reconcile_lpm(&mut self.net6, &entries.net6, g).map_err(err(names::MAP_NET6_RULES))?;
        note(names::MAP_NET6_RULES, d);

        let d = reconcile_lpm(&mut self.file_rules, &entries.file, g)
            .map_err(err(names::MAP_FILE_RULES))?;
        note(names::MAP_FILE_RULES, d);

        // The per-profile arrays: every slot of both generations.
        let drift: BTreeMap<u32, Verdict> = (entries.drift.iter())
            .map(|(&p, v)| {
                (profile_slot(g, p), Verdict { flags: v.flags | verdict_flags::MATCHED, ..*v })
            })
            .collect();
        let present: BTreeMap<u32, u32> =
            entries.net_present().into_iter().map(|(p, bits)| (profile_slot(g, p), bits)).collect();
        let mut d = Difference::default();
        for slot in 0..PROFILE_SLOTS {
            let want = drift.get(&slot).copied().unwrap_or_default();
            let have = self.exec_drift.get(&slot, 0).map_err(err(names::MAP_EXEC_DRIFT))?;
            if have != want {
                self.exec_drift.set(slot, want, 0).map_err(err(names::MAP_EXEC_DRIFT))?;
                d.count(have == Verdict::default(), want == Verdict::default());
            }
        }
        note(names::MAP_EXEC_DRIFT, d);
        let mut d = Difference::default();
        for slot in 0..PROFILE_SLOTS {
            let want = present.get(&slot).copied().unwrap_or_default();
            let have = self.net_present.get(&slot, 0).map_err(err(names::MAP_NET_PRESENT))?;
            if have != want {
                self.net_present.set(slot, want, 0).map_err(err(names::MAP_NET_PRESENT))?;
                d.count(have == 0, want == 0);
            }
        }
        note(names::MAP_NET_PRESENT, d);
        let present = entries.file_present(g);
        let mut d = Difference::default();
        for slot in 0..FILE_PRESENT_SLOTS {
            let want = present.get(&slot).copied().unwrap_or_default();
            let have = self.file_present.get(&slot, 0).map_err(err(names::MAP_FILE_PRESENT))?;
            if have != want {
                self.file_present.set(slot, want, 0).map_err(err(names::MAP_FILE_PRESENT))?;
                d.count(have == 0, want == 0);
            }
        }
        note(names::MAP_FILE_PRESENT, d);

        let expected: BTreeMap<u64, Workload> = self.placed.iter().map(|(&c, &w)| (c, w)).collect();
        let kernel: Vec<_> = self.workloads.iter().filter_map(Result::ok).collect();
        let map = &mut self.workloads;
        let d = reconcile(
            &expected,
            kernel,
            0,
            |&cgroup| (0, cgroup),
            |cgroup, _| cgroup,
            |k, v| match v {
                Some(v) => map.insert(k, v, 0),
                None => map.remove(k),
            },
        )
        .map_err(err(names::MAP_WORKLOADS))?;
        note(names::MAP_WORKLOADS, d);
        Ok(found)
    }

    /// Writes `entries` under generation `g`.
    fn write(&mut self, entries: &Entries, g: u8) -> Result<(), RulesError> {
        let err = |name| move |source| RulesError::Map { name, source };
        write_hash(&mut self.exec_inode, &entries.exec_inode, g)
            .map_err(err(names::MAP_EXEC_DENY_INODE))?;
        write_hash(&mut self.exec_name, &entries.exec_name, g)
            .map_err(err(names::MAP_EXEC_DENY_NAME))?;
        write_hash(&mut self.socket_deny, &entries.socket, g)
            .map_err(err(names::MAP_SOCKET_DENY))?;
        write_lpm(&mut self.net4, &entries.net4, g).map_err(err(names::MAP_NET4_RULES))?;
        write_lpm(&mut self.net6, &entries.net6, g).map_err(err(names::MAP_NET6_RULES))?;
        for (&profile, v) in &entries.drift {
            let v = Verdict { flags: v.flags | verdict_flags::MATCHED, ..*v };
            let slot = profile_slot(g, profile);
            self.exec_drift.set(slot, v, 0).map_err(err(names::MAP_EXEC_DRIFT))?;
        }
        for (&profile, &bits) in &entries.net_present() {
            let slot = profile_slot(g, profile);
            self.net_present.set(slot, bits, 0).map_err(err(names::MAP_NET_PRESENT))?;
        }
        write_lpm(&mut self.file_rules, &entries.file, g).map_err(err(names::MAP_FILE_RULES))?;
        // The rules first, then what tells the hook to look for them; added
        // to what the slots hold (`add_profile` writes one profile's
        // entries into a generation that has others).
        for (slot, bits) in entries.file_present(g) {
            let had = self.file_present.get(&slot, 0).unwrap_or(0);
            self.file_present.set(slot, had | bits, 0).map_err(err(names::MAP_FILE_PRESENT))?;
        }
        Ok(())
    }

    /// Deletes every entry of `generation`.
    fn purge(&mut self, generation: u8) -> Result<(), RulesError> {
        let err = |name| move |source| RulesError::Map { name, source };
        for profile in 0..MAX_PROFILES {
            let slot = profile_slot(generation, profile);
            if self.exec_drift.get(&slot, 0).is_ok_and(|v| v.flags != 0) {
                self.exec_drift
                    .set(slot, Verdict::default(), 0)
                    .map_err(err(names::MAP_EXEC_DRIFT))?;
            }
            if self.net_present.get(&slot, 0).is_ok_and(|bits| bits != 0) {
                self.net_present.set(slot, 0, 0).map_err(err(names::MAP_NET_PRESENT))?;
            }
            if self.file_present.get(&slot, 0).is_ok_and(|bits| bits != 0) {
                self.file_present.set(slot, 0, 0).map_err(err(names::MAP_FILE_PRESENT))?;
            }
        }
        let any = file_any_slot(generation);
        if self.file_present.get(&any, 0).is_ok_and(|bits| bits != 0) {
            self.file_present.set(any, 0, 0).map_err(err(names::MAP_FILE_PRESENT))?;
        }
        purge_hash(&mut self.exec_inode, generation).map_err(err(names::MAP_EXEC_DENY_INODE))?;
        purge_hash(&mut self.exec_name, generation).map_err(err(names::MAP_EXEC_DENY_NAME))?;
        purge_hash(&mut self.socket_deny, generation).map_err(err(names::MAP_SOCKET_DENY))?;
        purge_lpm(&mut self.net4, generation).map_err(err(names::MAP_NET4_RULES))?;
        purge_lpm(&mut self.net6, generation).map_err(err(names::MAP_NET6_RULES))?;
        purge_lpm(&mut self.file_rules, generation).map_err(err(names::MAP_FILE_RULES))?;
        Ok(())
    }
}

/// How a map's entries differed from those written.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Difference {
    missing: usize,
    altered: usize,
    unexpected: usize,
}

impl Difference {
    /// One slot of an array that held `had_none` / should hold `wants_none`.
    fn count(&mut self, had_none: bool, wants_none: bool) {
        match (had_none, wants_none) {
            (true, _) => self.missing += 1,
            (_, true) => self.unexpected += 1,
            _ => self.altered += 1,
        }
    }
}

/// Makes a hash-like map hold exactly `expected` under generation `g`:
/// `kernel` is what it holds; `split` gives a kernel key's generation and
/// its generation-free form, `join` the kernel key of an expected one, and
/// `set` writes (`Some`) or deletes (`None`) one entry.
fn reconcile<E: Ord + Copy, K, V: PartialEq + Copy>(
    expected: &BTreeMap<E, V>,
    kernel: Vec<(K, V)>,
    g: u8,
    split: impl Fn(&K) -> (u8, E),
    join: impl Fn(E, u8) -> K,
    mut set: impl FnMut(&K, Option<V>) -> Result<(), MapError>,
) -> Result<Difference, MapError> {
    let mut d = Difference::default();
    let mut seen = std::collections::BTreeSet::new();
    for (key, value) in &kernel {
        let (generation, plain) = split(key);
        match expected.get(&plain) {
            Some(want) if generation == g => {
                seen.insert(plain);
                if want != value {
                    set(key, Some(*want))?;
                    d.altered += 1;
                }
            }
            _ => {
                set(key, None)?;
                d.unexpected += 1;
            }
        }
    }
    for (plain, want) in expected {
        if !seen.contains(plain) {
            set(&join(*plain, g), Some(*want))?;
            d.missing += 1;
        }
    }
    Ok(d)
}

/// An enforcement map's key (hash maps: `ExecInodeKey`, `ExecNameKey`,
/// `SocketKey`) or LPM-trie key data (`Net4Data`, `Net6Data`,
/// `FileRuleData`), which carries its generation.
trait GenerationKey: aya::Pod {
    fn generation(&self) -> u8;
    fn in_generation(self, generation: u8) -> Self;
}

macro_rules! generation_key {
    ($($t:ty),*) => {$(
        impl GenerationKey for $t {
            fn generation(&self) -> u8 {
                self.generation
            }
            fn in_generation(self, generation: u8) -> Self {
                Self { generation, ..self }
            }
        }
    )*};
}
generation_key!(ExecInodeKey, ExecNameKey, SocketKey, Net4Data, Net6Data, FileRuleData);

/// The entries of a hash enforcement map by key with generation 0, as
/// [`Entries`] holds them.
type HashEntries<K> = BTreeMap<OrdKey<K>, Verdict>;

/// Writes `entries` under generation `g`.
fn write_hash<K: GenerationKey>(
    map: &mut BpfHashMap<MapData, K, Verdict>,
    entries: &HashEntries<K>,
    g: u8,
) -> Result<(), MapError> {
    for (key, v) in entries {
        map.insert(key.0.in_generation(g), v, 0)?;
    }
    Ok(())
}

/// Deletes every entry of `generation`.
fn purge_hash<K: GenerationKey>(
    map: &mut BpfHashMap<MapData, K, Verdict>,
    generation: u8,
) -> Result<(), MapError> {
    let stale: Vec<K> =
        (map.keys().filter_map(Result::ok)).filter(|k| k.generation() == generation).collect();
    for k in stale {
        map.remove(&k)?;
    }
    Ok(())
}

/// [`reconcile`] for a hash map.
fn reconcile_hash<K: GenerationKey>(
    map: &mut BpfHashMap<MapData, K, Verdict>,
    expected: &HashEntries<K>,
    g: u8,
) -> Result<Difference, MapError> {
    let kernel: Vec<_> = map.iter().filter_map(Result::ok).collect();
    reconcile(
        expected,
        kernel,
        g,
        |k| (k.generation(), OrdKey(k.in_generation(0))),
        |k, g| k.0.in_generation(g),
        |k, v| match v {
            Some(v) => map.insert(k, v, 0),
            None => map.remove(k),
        },
    )
}

/// The entries of an LPM-trie map by (prefix length, key data with
/// generation 0), as [`Entries`] holds them.
type LpmEntries<K> = BTreeMap<(u32, OrdKey<K>), Verdict>;

/// Writes `entries` under generation `g`.
fn write_lpm<K: GenerationKey>(
    map: &mut LpmTrie<MapData, K, Verdict>,
    entries: &LpmEntries<K>,
    g: u8,
) -> Result<(), MapError> {
    for ((len, data), v) in entries {
        map.insert(&Key::new(*len, data.0.in_generation(g)), v, 0)?;
    }
    Ok(())
}

/// Deletes every entry of `generation`.
fn purge_lpm<K: GenerationKey>(
    map: &mut LpmTrie<MapData, K, Verdict>,
    generation: u8,
) -> Result<(), MapError> {
    let stale: Vec<Key<K>> = (map.keys().filter_map(Result::ok))
        .filter(|k| k.data().generation() == generation)
        .collect();
    for k in stale {
        map.remove(&k)?;
    }
    Ok(())
}

/// [`reconcile`] for an LPM-trie map.
fn reconcile_lpm<K: GenerationKey>(
    map: &mut LpmTrie<MapData, K, Verdict>,
    expected: &LpmEntries<K>,
    g: u8,
) -> Result<Difference, MapError> {
    let kernel: Vec<_> = map.iter().filter_map(Result::ok).collect();
    reconcile(
        expected,
        kernel,
        g,
        |k| (k.data().generation(), (k.prefix_len(), OrdKey(k.data().in_generation(0)))),
        |(len, k), g| Key::new(len, k.0.in_generation(g)),
        |k, v| match v {
            Some(v) => map.insert(k, v, 0),
            None => map.remove(k),
        },
    )
}

fn host_flag(host: bool) -> u32 {
    if host { workload_flags::HOST } else { 0 }
}

/// What each kernel rule denies, resolved on this host once per update
/// (paths to device and inode, names also to the system directories'
/// files): the part of the entries that does not depend on profiles.
#[derive(Debug, Default)]
struct RuleEntries {
    rules: BTreeMap<String, ResolvedRule>,
    missing: Vec<PathBuf>,
}

#[derive(Debug)]
struct ResolvedRule {
    rule: KernelRule,
    inodes: Vec<(u32, u64)>,
    /// The identity of each file prefix that names an existing file or
    /// directory, with its access (`file_watch` bit).
    file_inodes: Vec<(u32, identity::Identity)>,
}

impl RuleEntries {
    fn resolve(plan: &KernelPlan) -> Self {
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
struct Entries {
    exec_inode: HashEntries<ExecInodeKey>,
    exec_name: HashEntries<ExecNameKey>,
    /// The drift rule of each profile.
    drift: BTreeMap<u16, Verdict>,
    net4: LpmEntries<Net4Data>,
    net6: LpmEntries<Net6Data>,
    file: LpmEntries<FileRuleData>,
    /// The socket families each profile denies.
    socket: HashEntries<SocketKey>,
}

/// A plain-bytes key ordered by its bytes, so entries are deduplicated
/// and written in a stable order.
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
    fn build(rules: &RuleEntries, profiles: &[ProfileRules]) -> Self {
        let mut e = Self::default();
        for (id, profile) in profiles.iter().enumerate() {
            // `apply` refuses more than MAX_PROFILES.
            e.add_profile(rules, id as u16, profile);
        }
        e
    }

    fn add_profile(&mut self, rules: &RuleEntries, profile: u16, in_profile: &ProfileRules) {
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
    fn within_capacity(&self) -> Result<(), RulesError> {
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

    fn merge(&mut self, other: Entries) {
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
    fn file_present(&self, g: u8) -> BTreeMap<u32, u32> {
        let mut present: BTreeMap<u32, u32> = BTreeMap::new();
        for (_, data) in self.file.keys() {
            let bit = u32::from(data.0.access);
            *present.entry(profile_slot(g, u16::from_le_bytes(data.0.profile))).or_default() |= bit;
            *present.entry(file_any_slot(g)).or_default() |= bit;
        }
        present
    }

    /// Which kinds of network entries each profile has (`net_present_bit`).
    fn net_present(&self) -> BTreeMap<u16, u32> {
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

/// The file rule key of `prefix` for `access` in `profile` (generation
/// 0), or None when it cannot be held (`policy check` refuses such
/// prefixes).
fn file_key(profile: u16, access: u32, prefix: &str) -> Option<(u32, OrdKey<FileRuleData>)> {
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

/// Judges open connections as the connect and send hooks would judge them
/// now, in one generation; each profile's `NET_PRESENT` bits read once.
pub struct ConnectionJudge<'m> {
    maps: &'m EnforceMaps,
    generation: u8,
    present: HashMap<u16, u32>,
}

impl ConnectionJudge<'_> {
    /// The verdict for a socket of the cgroup `chain[0]` (its ancestors
    /// after it, nearest first) towards `addr`, port `port`, protocol
    /// `proto`: the same profile (`socket_profile`) and the same lookups
    /// (`strongest_net_match`).
    pub fn verdict(
        &mut self,
        chain: &[u64],
        proto: u8,
        port: u16,
        addr: IpAddr,
    ) -> Result<Option<Verdict>, RulesError> {
        let (maps, g) = (self.maps, self.generation);
        let profile = socket_profile(&maps.placed, chain, usize::from(g));
        let present = match self.present.get(&profile) {
            Some(&bits) => bits,
            None => {
                let bits = maps
                    .net_present
                    .get(&profile_slot(g, profile), 0)
                    .map_err(|source| RulesError::Map { name: names::MAP_NET_PRESENT, source })?;
                *self.present.entry(profile).or_insert(bits)
            }
        };
        let port = port.to_be_bytes();
        let addr = match addr {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        let verdict = match addr {
            IpAddr::V4(v4) => strongest_net_match(present, false, proto, port, |proto, port| {
                let data = Net4Data {
                    generation: g,
                    profile: profile.to_le_bytes(),
                    proto,
                    port,
                    addr: v4.octets(),
                };
                maps.net4.get(&Key::new(NET_KEY_FIXED_BITS + 32, data), 0).ok()
            }),
            IpAddr::V6(v6) => strongest_net_match(present, true, proto, port, |proto, port| {
                let data = Net6Data {
                    generation: g,
                    profile: profile.to_le_bytes(),
                    proto,
                    port,
                    addr: v6.octets(),
                };
                maps.net6.get(&Key::new(NET_KEY_FIXED_BITS + 128, data), 0).ok()
            }),
        };
        Ok(verdict)
    }
}

/// The profile of a socket made in the cgroup `chain[0]` (its ancestors
/// after it, nearest first), in generation slot `slot`, as the hooks'
/// `registered_profile` finds a caller's: its cgroup's if registered, else
/// its nearest registered ancestor's unless that one is the host's; else
/// the host's (where the hooks would look at the caller's PID namespace,
/// which a socket does not carry).
fn socket_profile(placed: &HashMap<u64, Workload>, chain: &[u64], slot: usize) -> u16 {
    let Some((own, ancestors)) = chain.split_first() else { return enforce_profile::HOST };
    if let Some(w) = placed.get(own) {
        return w.profile[slot];
    }
    match ancestors.iter().find_map(|id| placed.get(id)) {
        Some(w) if w.flags & workload_flags::HOST == 0 => w.profile[slot],
        _ => enforce_profile::HOST,
    }
}

/// The key of a file rule by identity (see `FILE_INODE_KEY_LEN`).
fn file_inode_key(profile: u16, access: u32, dev: u32, ino: u64) -> (u32, OrdKey<FileRuleData>) {
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
fn name_key(profile: u16, name: &str) -> Option<ExecNameKey> {
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
    fn a_sockets_profile_is_found_as_the_hooks_find_a_callers() {
        let host = Workload { profile: [7, 8], flags: workload_flags::HOST };
        let pod = Workload { profile: [3, 4], flags: 0 };
        let placed = HashMap::from([(10, host), (20, pod)]);
        // Its own cgroup's, a host one's too; in the slot asked.
        assert_eq!(socket_profile(&placed, &[10, 1], 1), 8);
        assert_eq!(socket_profile(&placed, &[20, 10, 1], 0), 3);
        // The nearest registered ancestor's, unless it is the host's.
        assert_eq!(socket_profile(&placed, &[21, 20, 10, 1], 0), 3);
        assert_eq!(socket_profile(&placed, &[11, 10, 1], 0), enforce_profile::HOST);
        // Nothing registered, or no cgroup known.
        assert_eq!(socket_profile(&placed, &[99, 1], 0), enforce_profile::HOST);
        assert_eq!(socket_profile(&placed, &[], 0), enforce_profile::HOST);
    }

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
