//! The native record as the OCSF mapping reads it: the fields it maps,
//! typed. Every record kind reads into it (`exception_used` records carry
//! a thin process and their own fields), so absent fields default.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::policy::decision::Suppressed;

#[derive(Debug, Default, Deserialize)]
pub struct Record {
    pub id: String,
    pub time: String,
    pub node: String,
    pub cluster: Option<String>,
    pub kind: String,
    #[serde(default)]
    pub process: Process,
    pub container: Option<Container>,
    /// Kept whole for `unmapped`; its uid also fills `container.pod_uuid`.
    pub pod: Option<Value>,
    #[serde(default)]
    pub host: bool,
    pub exit: Option<Exit>,
    pub network: Option<Network>,
    pub file: Option<FileActivity>,
    pub socket: Option<SocketRequest>,
    pub bundle: Option<String>,
    /// `exception_used`: the event the exception applied to.
    pub event_id: Option<String>,
    /// `exception_used`: the exception.
    pub exception: Option<Suppressed>,
    /// `connection_ended`: the kernel rule that denies the connection.
    pub rule: Option<String>,
    /// `connection_ended`: what became of it, and why it could not be
    /// ended.
    pub outcome: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Process {
    pub pid: Option<u32>,
    pub ppid: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub euid: Option<u32>,
    pub egid: Option<u32>,
    pub binary: Text,
    pub args: Vec<Text>,
    pub cwd: Text,
    pub comm: Option<Text>,
    pub exe: Option<Executable>,
    pub start_time: String,
    pub ancestors: Vec<Ancestor>,
    /// The captured environment variables (already redacted).
    pub env: std::collections::BTreeMap<String, Text>,
    pub env_truncated: bool,
}

/// File kinds: the operation's path(s) and outcome.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct FileActivity {
    pub path: Text,
    pub new_path: Option<Text>,
    pub access: Option<String>,
    pub mode: Option<String>,
    pub syscall: String,
    pub result: String,
    pub errno: Option<i32>,
}

/// `network_socket`: the socket asked for.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct SocketRequest {
    pub family: String,
    #[serde(rename = "type")]
    pub sock_type: String,
    pub protocol: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ethertype: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Executable {
    pub drift: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Ancestor {
    pub pid: u32,
    #[serde(default)]
    pub binary: Text,
}

#[derive(Debug, Deserialize)]
pub struct Container {
    pub id: String,
    pub runtime: String,
    pub name: Option<String>,
    pub image: Option<String>,
    pub cgroup: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Exit {
    pub code: Option<u32>,
    pub signal: Option<u32>,
    #[serde(default)]
    pub core_dumped: bool,
    pub duration_ns: Option<u64>,
}

#[derive(Debug, Deserialize)]
pub struct Network {
    pub family: String,
    pub protocol: String,
    pub direction: String,
    pub daddr: String,
    pub dport: u16,
    pub saddr: Option<String>,
    pub sport: Option<u16>,
    pub hook: Option<String>,
    pub result: Option<String>,
    pub repeats: Option<u64>,
}

/// A native byte string: a JSON string, or `{"base64", "text"}` for bytes
/// that are not UTF-8, read as its lossy `text`.
#[derive(Debug, Default, Clone)]
pub struct Text(pub String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Plain(String),
            Bytes { text: String },
        }
        Ok(Text(match Raw::deserialize(deserializer)? {
            Raw::Plain(s) | Raw::Bytes { text: s } => s,
        }))
    }
}

impl Text {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
