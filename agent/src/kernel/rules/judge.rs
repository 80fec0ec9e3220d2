//! Judging open connections against the rules in force, as the connect
//! and send hooks would judge them now (the agent ends those a new rule
//! denies).

use std::{collections::HashMap, net::IpAddr};

use aya::maps::lpm_trie::Key;
use palisade_common::{
    enforce::{
        NET_KEY_FIXED_BITS, Net4Data, Net6Data, Verdict, Workload, profile as enforce_profile,
        profile_slot, strongest_net_match, workload_flags,
    },
    names,
};

use super::{EnforceMaps, RulesError};

/// Judges open connections as the connect and send hooks would judge them
/// now, in one generation; each profile's `NET_PRESENT` bits read once.
pub struct ConnectionJudge<'m> {
    maps: &'m EnforceMaps,
    generation: u8,
    present: HashMap<u16, u32>,
}

impl<'m> ConnectionJudge<'m> {
    pub(super) fn new(maps: &'m EnforceMaps, generation: u8) -> Self {
        Self { maps, generation, present: HashMap::new() }
    }

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
pub(super) fn socket_profile(placed: &HashMap<u64, Workload>, chain: &[u64], slot: usize) -> u16 {
    let Some((own, ancestors)) = chain.split_first() else { return enforce_profile::HOST };
    if let Some(w) = placed.get(own) {
        return w.profile[slot];
    }
    match ancestors.iter().find_map(|id| placed.get(id)) {
        Some(w) if w.flags & workload_flags::HOST == 0 => w.profile[slot],
        _ => enforce_profile::HOST,
    }
}

#[cfg(test)]
mod tests {
    use palisade_common::enforce::workload_flags;

    use super::*;

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
}
