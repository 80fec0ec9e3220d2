//! Connections that were open before a rule set denied their destination:
//! the connect and send hooks judge new connections and datagrams only, so
//! when a rule set comes into force, the TCP connections and connected UDP
//! sockets it denies are found in the kernel's socket table and ended
//! (`SOCK_DESTROY`). Each is judged as the hooks would judge it now: the
//! same profile (from the cgroup that made the socket) and the same
//! lookups in the same maps.
//!
//! Outbound only: a socket whose local port has a listener is an accepted
//! connection, which a connect rule does not govern. A rule in audit mode
//! ends nothing. Every connection found is returned, ended or not, and
//! recorded by the processing thread (`connection_ended`).

use std::{collections::HashMap, net::SocketAddr, path::Path};

use palisade_common::{enforce::verdict_flags, tcp_state};
use tracing::{info, warn};

use crate::{
    container::{CgroupIndex, cgroup_ancestors},
    kernel::{
        rules::{EnforceMaps, RulesError},
        sock_diag::{InetSocket, SockDiag, SockDiagError},
    },
};

const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;

#[derive(Debug, thiserror::Error)]
pub enum SeverError {
    #[error(transparent)]
    SockDiag(#[from] SockDiagError),
    #[error(transparent)]
    Rules(#[from] RulesError),
}

/// An open connection the rule set in force denies, and what became of it:
/// exported as a `connection_ended` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeniedConnection {
    /// `IPPROTO_TCP` or `IPPROTO_UDP`.
    pub protocol: u8,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// The cgroup that made the socket, when the kernel says.
    pub cgroup: Option<u64>,
    /// The kernel rule that denies it.
    pub rule: String,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Ended (`SOCK_DESTROY`).
    Ended,
    /// Its rule is in audit mode: left open.
    LeftOpen,
    /// Ending it failed (the socket may have closed on its own meanwhile).
    NotEnded { error: String },
}

impl DeniedConnection {
    pub fn protocol_name(&self) -> &'static str {
        if self.protocol == IPPROTO_TCP { "tcp" } else { "udp" }
    }
}

/// How many connections a pass ended.
pub fn ended(found: &[DeniedConnection]) -> usize {
    found.iter().filter(|c| c.outcome == Outcome::Ended).count()
}

/// Ends the open connections `maps` deny now, and returns every open
/// connection they deny; `cgroup_root` is the cgroup2 mount, where a
/// socket's cgroup's ancestors are found.
pub fn end_denied_connections(
    maps: &EnforceMaps,
    cgroup_root: &Path,
) -> Result<Vec<DeniedConnection>, SeverError> {
    if !maps.has_network_rules() {
        return Ok(Vec::new());
    }
    let mut diag = SockDiag::open()?;
    let mut sockets = diag.sockets(IPPROTO_TCP)?;
    sockets.extend(diag.sockets(IPPROTO_UDP)?);
    let listening: Vec<u16> = sockets
        .iter()
        .filter(|s| s.protocol == IPPROTO_TCP && u32::from(s.state) == tcp_state::LISTEN)
        .map(|s| s.local.port())
        .collect();
    let mut judge = maps.connection_judge()?;
    let ancestry = Ancestry::new(cgroup_root);
    let mut found = Vec::new();
    for socket in sockets.iter().filter(|s| outbound(s, &listening)) {
        let chain = socket.cgroup.map(|id| ancestry.chain(id)).unwrap_or_default();
        let remote = socket.remote;
        let Some(verdict) = judge.verdict(&chain, socket.protocol, remote.port(), remote.ip())?
        else {
            continue;
        };
        let outcome = if verdict.flags & verdict_flags::ENFORCE == 0 {
            Outcome::LeftOpen
        } else {
            match diag.destroy(socket) {
                Ok(()) => Outcome::Ended,
                Err(err) => Outcome::NotEnded { error: crate::errors::chain(&err).to_string() },
            }
        };
        let connection = DeniedConnection {
            protocol: socket.protocol,
            local: socket.local,
            remote,
            cgroup: socket.cgroup,
            rule: verdict.rule_id().to_string(),
            outcome,
        };
        log(&connection);
        found.push(connection);
    }
    Ok(found)
}

fn log(c: &DeniedConnection) {
    let (local, remote, proto, rule) = (c.local, c.remote, c.protocol_name(), c.rule.as_str());
    match &c.outcome {
        Outcome::Ended => {
            warn!(%local, %remote, proto, rule, "ended an open connection the rule set in force denies")
        }
        Outcome::LeftOpen => {
            info!(%local, %remote, proto, rule, "an open connection a rule in audit mode denies; left open")
        }
        Outcome::NotEnded { error } => {
            warn!(%local, %remote, proto, rule, error, "cannot end an open connection the rule set denies")
        }
    }
}

/// A connection the process made: a connected TCP socket on a local port
/// no listener holds, or a connected UDP socket.
fn outbound(s: &InetSocket, listening: &[u16]) -> bool {
    let state = u32::from(s.state);
    let connected = s.remote.port() != 0 && !s.remote.ip().is_unspecified();
    match s.protocol {
        IPPROTO_TCP => {
            matches!(state, tcp_state::ESTABLISHED | tcp_state::SYN_SENT)
                && connected
                && !listening.contains(&s.local.port())
        }
        IPPROTO_UDP => state == tcp_state::ESTABLISHED && connected,
        _ => false,
    }
}

/// Cgroup ids to their ancestors' ids, from one walk of the cgroup tree.
struct Ancestry {
    index: CgroupIndex,
    by_path: HashMap<String, u64>,
}

impl Ancestry {
    fn new(root: &Path) -> Self {
        let index = CgroupIndex::scan(root);
        let by_path = index.ids().filter_map(|id| Some((index.get(id)?.to_string(), id))).collect();
        Self { index, by_path }
    }

    /// `id`, then its ancestors' ids, nearest first.
    fn chain(&self, id: u64) -> Vec<u64> {
        let mut chain = vec![id];
        if let Some(path) = self.index.get(id) {
            chain.extend(cgroup_ancestors(path).filter_map(|p| self.by_path.get(p)));
        }
        chain
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn socket(protocol: u8, state: u32, local: &str, remote: &str) -> InetSocket {
        InetSocket::for_test(protocol, state as u8, local.parse().unwrap(), remote.parse().unwrap())
    }

    #[test]
    fn only_connections_the_process_made_are_judged() {
        let listening = [8080];
        let est = tcp_state::ESTABLISHED;
        assert!(outbound(&socket(IPPROTO_TCP, est, "10.0.0.1:40000", "10.0.0.2:443"), &listening));
        assert!(outbound(
            &socket(IPPROTO_TCP, tcp_state::SYN_SENT, "10.0.0.1:40000", "10.0.0.2:443"),
            &listening
        ));
        // Accepted on a listening port: not the process's own connection.
        assert!(!outbound(
            &socket(IPPROTO_TCP, est, "10.0.0.1:8080", "10.0.0.2:50000"),
            &listening
        ));
        assert!(!outbound(
            &socket(IPPROTO_TCP, tcp_state::LISTEN, "0.0.0.0:8080", "0.0.0.0:0"),
            &listening
        ));
        // UDP: connected only.
        assert!(outbound(&socket(IPPROTO_UDP, est, "10.0.0.1:5000", "10.0.0.2:53"), &listening));
        assert!(!outbound(
            &socket(IPPROTO_UDP, tcp_state::CLOSE, "10.0.0.1:5000", "0.0.0.0:0"),
            &listening
        ));
    }
}
