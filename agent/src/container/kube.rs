//! The Kubernetes API client that keeps pod labels current: list this
//! node's pods (`GET /api/v1/pods?fieldSelector=spec.nodeName=<node>`),
//! then watch from the list's `resourceVersion`, applying each event as it
//! arrives; list again when the watch says 410 Gone; on any failure, retry
//! with backoff. Runs on its own thread: the API server being slow or down
//! only delays labels (events say `labels_available: false` meanwhile).
//!
//! In a pod, it finds the API server and its credentials the standard way:
//! `KUBERNETES_SERVICE_HOST`/`_PORT`, and the service account's token and CA
//! under `/var/run/secrets/kubernetes.io/serviceaccount/`.

use std::{
    io::{BufRead, BufReader, Read},
    path::{Path, PathBuf},
    sync::{Arc, RwLock},
    time::Duration,
};

use tracing::{info, warn};

use super::labels::PodLabels;

const SERVICE_ACCOUNT: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// The API server ends each watch after this long; the client resumes.
const WATCH_SECONDS: u64 = 300;
const BACKOFF_FIRST: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// Longest list body read (a node runs at most a few hundred pods).
const LIST_MAX: u64 = 64 << 20;

/// Where the API server is and how to authenticate.
#[derive(Debug, Clone)]
pub struct KubeConfig {
    /// `https://host:port` (or `http://` for a local proxy).
    pub url: String,
    /// The node whose pods are watched.
    pub node: String,
    pub token_file: Option<PathBuf>,
    pub ca_file: Option<PathBuf>,
}

impl KubeConfig {
    /// The in-cluster configuration, when the agent runs in a pod.
    pub fn in_cluster(node: &str) -> Option<Self> {
        let host = std::env::var("KUBERNETES_SERVICE_HOST").ok()?;
        let port = std::env::var("KUBERNETES_SERVICE_PORT").unwrap_or_else(|_| "443".into());
        let host = if host.contains(':') { format!("[{host}]") } else { host };
        let account = Path::new(SERVICE_ACCOUNT);
        Some(Self {
            url: format!("https://{host}:{port}"),
            node: node.to_string(),
            token_file: Some(account.join("token")),
            ca_file: Some(account.join("ca.crt")),
        })
    }
}

/// Pod labels shared with the resolver, kept current by the client.
pub type SharedLabels = Arc<RwLock<PodLabels>>;

/// Starts the client thread.
pub fn spawn(config: KubeConfig) -> std::io::Result<SharedLabels> {
    let labels = SharedLabels::default();
    let shared = Arc::clone(&labels);
    std::thread::Builder::new()
        .name("palisade-kube".into())
        .spawn(move || follow(&config, &shared))?;
    Ok(labels)
}

fn follow(config: &KubeConfig, labels: &SharedLabels) {
    let agent = match client(config) {
        Ok(agent) => agent,
        Err(err) => {
            warn!(%err, "no pod labels: cannot set up the API client");
            return;
        }
    };
    let pods = format!(
        "{}/api/v1/pods?fieldSelector=spec.nodeName%3D{}",
        config.url.trim_end_matches('/'),
        config.node
    );
    let mut backoff = BACKOFF_FIRST;
    let mut failing = false;
    loop {
        let result =
            list(&agent, config, &pods, labels).and_then(|()| watch(&agent, config, &pods, labels));
        match result {
            // The watch asked for a fresh list (410 Gone): at once.
            Ok(()) => backoff = BACKOFF_FIRST,
            Err(err) => {
                if !failing {
                    warn!(%err, url = config.url, "pod labels: the API server cannot be read; retrying");
                }
                failing = true;
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        }
        if failing {
            info!("pod labels: the API server answers again");
            failing = false;
        }
    }
}

fn list(
    agent: &ureq::Agent,
    config: &KubeConfig,
    url: &str,
    labels: &SharedLabels,
) -> Result<(), String> {
    let mut response = get(agent, config, url)?;
    let mut body = Vec::new();
    response
        .body_mut()
        .as_reader()
        .take(LIST_MAX)
        .read_to_end(&mut body)
        .map_err(|e| format!("reading the pod list: {e}"))?;
    let fresh = PodLabels::from_list(&body)
        .map_err(|e| format!("the pod list: {}", crate::errors::chain(&e)))?;
    let count = fresh.len();
    if let Some(first) = fresh.skipped.first() {
        warn!(skipped = fresh.skipped.len(), first = %first, "pods the list held that cannot be read are skipped; the others keep their labels");
    }
    *labels.write().unwrap_or_else(|e| e.into_inner()) = fresh;
    info!(pods = count, node = config.node, "pod labels listed");
    Ok(())
}

/// Follows the watch until it ends. `Ok` when a new list is needed (the
/// resource version expired); a watch that merely ends is resumed.
fn watch(
    agent: &ureq::Agent,
    config: &KubeConfig,
    pods: &str,
    labels: &SharedLabels,
) -> Result<(), String> {
    loop {
        let version =
            labels.read().unwrap_or_else(|e| e.into_inner()).resource_version().map(str::to_string);
        let Some(version) = version else { return Ok(()) };
        let url = format!(
            "{pods}&watch=1&allowWatchBookmarks=true&timeoutSeconds={WATCH_SECONDS}&resourceVersion={version}"
        );
        let mut response = get(agent, config, &url)?;
        let stream = BufReader::new(response.body_mut().as_reader());
        for line in stream.split(b'\n') {
            let line = line.map_err(|e| format!("reading the watch: {e}"))?;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let applied = labels.write().unwrap_or_else(|e| e.into_inner()).apply(&line);
            match applied {
                Ok(_) => {}
                Err(super::error::LabelsError::WatchError { code: 410, .. }) => {
                    info!("pod labels: the watch's resource version expired; listing again");
                    return Ok(());
                }
                Err(err) => return Err(format!("the watch: {}", crate::errors::chain(&err))),
            }
        }
    }
}

fn get(
    agent: &ureq::Agent,
    config: &KubeConfig,
    url: &str,
) -> Result<ureq::http::Response<ureq::Body>, String> {
    let request = agent.get(url).header("Accept", "application/json");
    let request = crate::http_client::with_bearer(request, config.token_file.as_deref())?;
    let response = request.call().map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    if status != 200 {
        return Err(format!("the API server answered {status} to {url}"));
    }
    Ok(response)
}

fn client(config: &KubeConfig) -> Result<ureq::Agent, String> {
    let builder = crate::http_client::config(config.ca_file.as_deref())?
        .timeout_connect(Some(Duration::from_secs(10)))
        .timeout_recv_response(Some(Duration::from_secs(30)))
        // A watch sends something (at least a bookmark) well within this.
        .timeout_recv_body(Some(Duration::from_secs(WATCH_SECONDS + 60)));
    Ok(builder.build().new_agent())
}
