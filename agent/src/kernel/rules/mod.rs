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
//!
//! `entries` builds what a rule set puts in the maps, `generations` writes,
//! purges and checks one generation of a map, and `judge` judges open
//! connections against the set in force.

mod entries;
mod generations;
mod judge;

pub use judge::ConnectionJudge;

use std::{
    collections::{BTreeMap, HashMap},
    path::PathBuf,
};

use aya::{
    Ebpf,
    maps::{Array, HashMap as BpfHashMap, MapData, MapError, lpm_trie::LpmTrie},
};
use palisade_common::{
    enforce::{
        ExecInodeKey, ExecNameKey, FILE_PRESENT_SLOTS, FileRuleData, GENERATION_ENTRIES,
        MAX_PROFILES, Net4Data, Net6Data, PROFILE_SLOTS, SocketKey, Verdict, Workload,
        file_any_slot, profile_slot, verdict_flags, workload_flags,
    },
    names,
};
use serde::Serialize;
use thiserror::Error;
use tracing::warn;

use self::{
    entries::{Entries, RuleEntries},
    generations::{
        Difference, purge_hash, purge_lpm, reconcile, reconcile_array, reconcile_hash,
        reconcile_lpm, write_hash, write_lpm,
    },
};
use super::pin_guard::PinTampering;
use crate::policy::kernel_plan::KernelPlan;

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
        Ok(ConnectionJudge::new(self, generation))
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
        let d = reconcile_array(&mut self.exec_drift, &drift, PROFILE_SLOTS)
            .map_err(err(names::MAP_EXEC_DRIFT))?;
        note(names::MAP_EXEC_DRIFT, d);
        let d = reconcile_array(&mut self.net_present, &present, PROFILE_SLOTS)
            .map_err(err(names::MAP_NET_PRESENT))?;
        note(names::MAP_NET_PRESENT, d);
        let d =
            reconcile_array(&mut self.file_present, &entries.file_present(g), FILE_PRESENT_SLOTS)
                .map_err(err(names::MAP_FILE_PRESENT))?;
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

/// `Workload::flags` for a placement.
fn host_flag(host: bool) -> u32 {
    if host { workload_flags::HOST } else { 0 }
}
