//! The kernel side: places every registered cgroup on a profile and keeps
//! the enforcement maps in step with the bundle, the workloads and time
//! (an exception's expiry re-arms exactly the workloads it carved out).
//!
//! A profile is the set of kernel rules in force for one class of
//! workloads, each enforced or only reported; workloads with the same
//! answer share one. Profile 0 is the host's and profile 1 an unclassified
//! container's (the hooks' fallbacks, see `palisade_common::enforce`); the
//! others are numbered as met.

use std::{
    collections::{BTreeSet, HashMap},
    sync::Arc,
};

use palisade_common::enforce::{MAX_PROFILES, profile};
use tracing::{info, warn};

use super::WorkloadUpdate;
use crate::{
    errors::chain,
    kernel::{
        pin_guard::PinGuard,
        rules::{Applied, EnforceMaps, Placement, ProfileRules, RulesError, Tampering},
    },
    policy::{
        compiled::Policy,
        workloads::{KernelScopes, WorkloadFacts, WorkloadRules},
    },
    stats::Stats,
};

pub struct Keeper {
    maps: EnforceMaps,
    /// Holds every pinned object, to put back a pin removed or replaced.
    pins: PinGuard,
    policy: Arc<Policy>,
    scopes: KernelScopes,
    /// Every registered cgroup's facts.
    workloads: HashMap<u64, WorkloadFacts>,
    /// Answers of the bundle per facts, valid until `answers_until_ns`
    /// (the next exception expiry after they were computed).
    answers: HashMap<WorkloadFacts, WorkloadRules>,
    answers_until_ns: i128,
    /// The profiles in force, by id, and their ids.
    profiles: Vec<ProfileRules>,
    ids: HashMap<ProfileRules, u16>,
    placements: HashMap<u64, Placement>,
    /// (rule, exception) carve-outs in force for at least one workload.
    carve_outs: BTreeSet<(String, String)>,
    /// The carve-outs last logged.
    announced: BTreeSet<(String, String)>,
}

impl Keeper {
    /// A keeper of `policy`'s kernel rules for the `initial` workloads;
    /// the first [`refresh`](Self::refresh) puts them in force.
    pub fn new(
        maps: EnforceMaps,
        policy: Arc<Policy>,
        initial: HashMap<u64, WorkloadFacts>,
    ) -> Self {
        let scopes = policy.kernel_scopes();
        // The sensor has pinned everything by now.
        let pins = PinGuard::collect();
        Self {
            maps,
            pins,
            policy,
            scopes,
            workloads: initial,
            answers: HashMap::new(),
            answers_until_ns: i128::MIN,
            profiles: Vec::new(),
            ids: HashMap::new(),
            placements: HashMap::new(),
            carve_outs: BTreeSet::new(),
            announced: BTreeSet::new(),
        }
    }

    pub fn policy(&self) -> &Arc<Policy> {
        &self.policy
    }

    /// The enforcement maps, as written.
    pub fn maps(&self) -> &EnforceMaps {
        &self.maps
    }

    /// A new bundle: everything is placed again in one generation swap.
    pub fn set_policy(
        &mut self,
        policy: Arc<Policy>,
        now_ns: i128,
        stats: &Stats,
    ) -> Result<Option<Applied>, RulesError> {
        self.scopes = policy.kernel_scopes();
        self.policy = policy;
        // Its exceptions expire at other times: answer everything again.
        self.answers_until_ns = i128::MIN;
        self.rebuild(now_ns, stats)
    }

    /// Periodically: exceptions that expired re-arm their workloads, and
    /// binaries replaced on disk are followed (nothing is written when
    /// nothing changed).
    pub fn refresh(&mut self, now_ns: i128, stats: &Stats) -> Result<Option<Applied>, RulesError> {
        self.rebuild(now_ns, stats)
    }

    /// Checks the enforcement maps against what was written, and puts
    /// back what another process changed.
    pub fn verify(&mut self) -> Result<Tampering, RulesError> {
        let mut found = self.maps.verify()?;
        found.pins = self.pins.check();
        Ok(found)
    }

    /// One cgroup learned or changed, or gone.
    pub fn update(&mut self, update: WorkloadUpdate, now_ns: i128, stats: &Stats) {
        match update {
            WorkloadUpdate::Gone { cgroup } => {
                self.workloads.remove(&cgroup);
                self.placements.remove(&cgroup);
                if let Err(err) = self.maps.unplace(cgroup) {
                    let err = chain(&err);
                    warn!(err, cgroup, "cannot remove a gone cgroup from the kernel's workloads");
                }
            }
            WorkloadUpdate::Seen { cgroup, facts, created_ns } => {
                self.workloads.insert(cgroup, facts.clone());
                match self.place(cgroup, &facts, now_ns) {
                    Ok(()) => {
                        if let Some(created) = created_ns {
                            let now = crate::event::Clock::monotonic_now_ns();
                            stats.workload_classification.observe_ns(now.saturating_sub(created));
                        }
                    }
                    Err(err) => {
                        stats.workloads_unplaced.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let err = chain(&err);
                        warn!(
                            err,
                            cgroup,
                            ?facts,
                            "cannot place a workload in the kernel: it keeps the hooks' fallback (no exception's carve-out applies to it)"
                        );
                    }
                }
            }
        }
        self.announce();
        self.report(stats);
    }

    fn place(
        &mut self,
        cgroup: u64,
        facts: &WorkloadFacts,
        now_ns: i128,
    ) -> Result<(), PlaceError> {
        let rules = self.profile_of(facts, now_ns)?;
        let id = match self.ids.get(&rules) {
            Some(&id) => id,
            None => {
                let id = u16::try_from(self.profiles.len())
                    .ok()
                    .filter(|&id| id < MAX_PROFILES)
                    .ok_or(RulesError::TooManyProfiles)?;
                self.maps.add_profile(id, &rules)?;
                self.ids.insert(rules.clone(), id);
                self.profiles.push(rules);
                id
            }
        };
        let placement = Placement { profile: id, host: facts.host };
        self.maps.place(cgroup, placement)?;
        self.placements.insert(cgroup, placement);
        Ok(())
    }

    /// The profile of `facts`: each kernel rule that applies, enforced
    /// unless an exception carves it out for them.
    fn profile_of(
        &mut self,
        facts: &WorkloadFacts,
        now_ns: i128,
    ) -> Result<ProfileRules, PlaceError> {
        if now_ns >= self.answers_until_ns {
            self.answers.clear();
            self.answers_until_ns = self
                .policy
                .exceptions
                .iter()
                .map(|e| e.expires_ns)
                .filter(|&t| t > now_ns)
                .min()
                .unwrap_or(i128::MAX);
        }
        let answer = match self.answers.get(facts) {
            Some(answer) => answer.clone(),
            None => {
                let answer = self.scopes.rules_for(facts, now_ns).map_err(PlaceError::Policy)?;
                self.answers.insert(facts.clone(), answer.clone());
                answer
            }
        };
        for (rule, exceptions) in &answer {
            for exception in exceptions {
                self.carve_outs.insert((rule.clone(), exception.clone()));
            }
        }
        Ok(answer.into_iter().map(|(rule, carved)| (rule, carved.is_empty())).collect())
    }

    /// Places every workload again, in a new generation when anything
    /// differs from what is in force.
    fn rebuild(&mut self, now_ns: i128, stats: &Stats) -> Result<Option<Applied>, RulesError> {
        self.carve_outs.clear();
        self.profiles.clear();
        self.ids.clear();
        let mut placements = HashMap::new();
        let fixed = [
            (profile::HOST, WorkloadFacts::host()),
            (profile::UNCLASSIFIED, WorkloadFacts::unclassified()),
        ];
        for (id, facts) in fixed {
            // Fail closed: a bundle whose kernel scopes cannot be evaluated
            // still gets its rules enforced everywhere, with no carve-out.
            let rules = self.profile_of(&facts, now_ns).unwrap_or_else(|err| {
                warn!(%err, "cannot evaluate the kernel scopes: every kernel rule applies everywhere, without carve-outs");
                self.policy.kernel.rules.iter().map(|r| (r.id.clone(), true)).collect()
            });
            debug_assert_eq!(usize::from(id), self.profiles.len());
            self.ids.entry(rules.clone()).or_insert(id);
            self.profiles.push(rules);
        }
        // In cgroup order: the same workloads get the same profile ids, so
        // a refresh that changes nothing writes nothing.
        let mut workloads: Vec<(u64, WorkloadFacts)> =
            self.workloads.iter().map(|(id, f)| (*id, f.clone())).collect();
        workloads.sort_unstable_by_key(|(id, _)| *id);
        for (cgroup, facts) in workloads {
            let rules = match self.profile_of(&facts, now_ns) {
                Ok(rules) => rules,
                Err(err) => {
                    warn!(%err, cgroup, "cannot evaluate a workload's kernel scope: it keeps the hooks' fallback");
                    continue;
                }
            };
            let id = match self.ids.get(&rules) {
                Some(&id) => id,
                None if self.profiles.len() < usize::from(MAX_PROFILES) => {
                    let id = self.profiles.len() as u16;
                    self.ids.insert(rules.clone(), id);
                    self.profiles.push(rules);
                    id
                }
                None => {
                    stats.workloads_unplaced.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    warn!(
                        cgroup,
                        "more than {MAX_PROFILES} workload profiles: this workload keeps the hooks' fallback"
                    );
                    continue;
                }
            };
            placements.insert(cgroup, Placement { profile: id, host: facts.host });
        }
        let applied = self.maps.apply(&self.policy.kernel, &self.profiles, &placements)?;
        self.placements = placements;
        self.announce();
        self.report(stats);
        Ok(applied)
    }

    /// Logs the carve-outs that started or ended since the last call.
    fn announce(&mut self) {
        for (rule, exception) in self.carve_outs.difference(&self.announced) {
            let workloads = self.workloads_carved(rule);
            warn!(
                rule,
                exception,
                workloads,
                "an exception carves this kernel rule out: the kernel only reports its matches for the workloads the exception names, and denies them everywhere else"
            );
        }
        for (rule, exception) in self.announced.difference(&self.carve_outs) {
            info!(
                rule,
                exception,
                "the exception no longer carves this kernel rule out: the kernel enforces it again for those workloads"
            );
        }
        self.announced.clone_from(&self.carve_outs);
    }

    /// How many registered workloads have `rule` reported only.
    fn workloads_carved(&self, rule: &str) -> usize {
        self.placements
            .values()
            .filter(|p| {
                self.profiles
                    .get(usize::from(p.profile))
                    .is_some_and(|r| r.get(rule) == Some(&false))
            })
            .count()
    }

    fn report(&self, stats: &Stats) {
        use std::sync::atomic::Ordering::Relaxed;
        stats.workloads_tracked.store(self.maps.placed() as u64, Relaxed);
        stats.workload_profiles.store(self.profiles.len() as u64, Relaxed);
    }
}

#[derive(Debug, thiserror::Error)]
enum PlaceError {
    #[error(transparent)]
    Policy(crate::policy::PolicyError),
    #[error(transparent)]
    Rules(#[from] RulesError),
}
