//! What can go wrong while learning a container's or a pod's identity.
//! None of it stops the agent: an event whose container cannot be resolved
//! is reported without one.

use std::path::PathBuf;

use thiserror::Error;

/// Reading a runtime's state directory or a bundle.
#[derive(Debug, Error)]
pub enum StateError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not the JSON the runtime writes")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{dir} holds neither a runc `state.json` nor a crun `status` file")]
    NoState { dir: PathBuf },
    #[error(
        "{dir}: neither the state directory nor the bundle ({bundle:?}) holds a readable config.json"
    )]
    NoConfig { dir: PathBuf, bundle: Option<PathBuf> },
}

/// Parsing the API server's pod lists and watch events.
#[derive(Debug, Error)]
pub enum LabelsError {
    #[error("not a pod list or pod watch event")]
    Json {
        #[source]
        source: serde_json::Error,
    },
    #[error("expected a `PodList`, got `{kind}`")]
    NotAPodList { kind: String },
    #[error("unknown watch event type `{kind}`")]
    UnknownEventType { kind: String },
    #[error("the watch ended with an error (HTTP {code} {reason}): {message}; list again")]
    WatchError { code: u32, reason: String, message: String },
}

/// Starting the state-directory watcher.
#[derive(Debug, Error)]
pub enum WatchError {
    #[error("inotify_init1 failed")]
    Init {
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the runtime state watcher thread")]
    Thread {
        #[source]
        source: std::io::Error,
    },
}
