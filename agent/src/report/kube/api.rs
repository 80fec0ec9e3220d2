//! Writing the reports to the API server: read the current object, then
//! create it (404) or replace it carrying the `resourceVersion` read
//! (optimistic concurrency). A 409 (someone wrote in between, or created it
//! first) reads again and retries; a report whose content is already there
//! is not written. Reports of scopes with no results left are deleted (a
//! 404 there is success).
//!
//! The API server and its credentials come from the pod (service account),
//! as for the agent's pod-label client (container/kube.rs), or
//! from `--api-server`, `--token-file` and `--ca-file`.

use std::{io::Read, path::PathBuf, time::Duration};

use serde::Serialize;
use thiserror::Error;

use super::model::{GROUP_VERSION, List, MANAGED_BY, PolicyReport, Scope};
use crate::http_client;

/// Attempts per report before giving up until the next round.
const ATTEMPTS: usize = 4;
/// Longest response body read (a list of every report Palisade wrote).
const BODY_MAX: u64 = 256 << 20;

#[derive(Debug, Error)]
pub enum ApiError {
    #[error("cannot set up the API client: {0}")]
    Setup(String),
    #[error("{method} {url}: {reason}")]
    Transport { method: &'static str, url: String, reason: String },
    #[error("{method} {url}: the API server answered {status}: {message}")]
    Status { method: &'static str, url: String, status: u16, message: String },
    #[error("{method} {url}: the answer is not a {what}: {reason}")]
    Body { method: &'static str, url: String, what: &'static str, reason: String },
    #[error("{scope}: still conflicting after {ATTEMPTS} attempts")]
    Conflicts { scope: String },
}

/// Where the API server is and how to authenticate.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub url: String,
    pub token_file: Option<PathBuf>,
    pub ca_file: Option<PathBuf>,
}

impl ApiConfig {
    /// The API server of the pod this runs in.
    pub fn in_cluster() -> Option<Self> {
        // The pod-label client's discovery; the node does not matter here.
        let kube = crate::container::KubeConfig::in_cluster("")?;
        Some(Self { url: kube.url, token_file: kube.token_file, ca_file: kube.ca_file })
    }
}

/// What writing one report did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Created,
    Updated,
    Unchanged,
}

pub struct Api {
    agent: ureq::Agent,
    config: ApiConfig,
}

/// A response: status and body.
struct Answer {
    status: u16,
    body: Vec<u8>,
}

impl Api {
    pub fn new(config: ApiConfig) -> Result<Self, ApiError> {
        let agent = http_client::config(config.ca_file.as_deref())
            .map_err(ApiError::Setup)?
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .new_agent();
        Ok(Self { agent, config })
    }

    fn collection(&self, scope: &Scope) -> String {
        let base = self.config.url.trim_end_matches('/');
        match scope {
            Scope::Namespace(ns) => {
                format!("{base}/apis/{GROUP_VERSION}/namespaces/{ns}/policyreports")
            }
            Scope::Cluster => format!("{base}/apis/{GROUP_VERSION}/clusterpolicyreports"),
        }
    }

    fn item(&self, scope: &Scope, name: &str) -> String {
        format!("{}/{name}", self.collection(scope))
    }

    /// Every report Palisade wrote (by its label), namespaced and cluster.
    pub fn list_managed(&self) -> Result<Vec<PolicyReport>, ApiError> {
        let base = self.config.url.trim_end_matches('/');
        let selector = format!("labelSelector={}%3D{}", MANAGED_BY.0, MANAGED_BY.1);
        let mut all = Vec::new();
        for plural in ["policyreports", "clusterpolicyreports"] {
            let url = format!("{base}/apis/{GROUP_VERSION}/{plural}?{selector}");
            let answer = self.call("GET", &url, None::<&()>)?;
            if answer.status != 200 {
                return Err(status_error("GET", &url, &answer));
            }
            let list: List = parse("GET", &url, "report list", &answer.body)?;
            // List items carry no kind (the list does): set it back.
            let kind =
                if plural == "policyreports" { "PolicyReport" } else { "ClusterPolicyReport" };
            all.extend(list.items.into_iter().map(|mut r| {
                r.kind = kind.into();
                r.api_version = GROUP_VERSION.into();
                r
            }));
        }
        Ok(all)
    }

    /// Creates or replaces `report` (its metadata names it).
    pub fn write(&self, scope: &Scope, report: &PolicyReport) -> Result<Written, ApiError> {
        let url = self.item(scope, &report.metadata.name);
        for _ in 0..ATTEMPTS {
            let current = self.call("GET", &url, None::<&()>)?;
            match current.status {
                404 => {
                    let mut fresh = report.clone();
                    fresh.metadata.resource_version = None;
                    let collection = self.collection(scope);
                    let created = self.call("POST", &collection, Some(&fresh))?;
                    match created.status {
                        200..=202 => return Ok(Written::Created),
                        // Created by someone else meanwhile: read it.
                        409 => continue,
                        _ => return Err(status_error("POST", &collection, &created)),
                    }
                }
                200 => {
                    let held: PolicyReport = parse("GET", &url, "PolicyReport", &current.body)?;
                    if held.results == report.results && held.summary == report.summary {
                        return Ok(Written::Unchanged);
                    }
                    let mut next = report.clone();
                    next.metadata.resource_version = held.metadata.resource_version;
                    // Keep what others put on the object's labels and
                    // annotations; ours win.
                    let mut labels = held.metadata.labels;
                    labels.extend(next.metadata.labels);
                    next.metadata.labels = labels;
                    let mut annotations = held.metadata.annotations;
                    annotations.extend(next.metadata.annotations);
                    next.metadata.annotations = annotations;
                    let replaced = self.call("PUT", &url, Some(&next))?;
                    match replaced.status {
                        200 | 201 => return Ok(Written::Updated),
                        // Stale resourceVersion, or deleted in between.
                        409 | 404 => continue,
                        _ => return Err(status_error("PUT", &url, &replaced)),
                    }
                }
                _ => return Err(status_error("GET", &url, &current)),
            }
        }
        Err(ApiError::Conflicts { scope: scope.to_string() })
    }

    /// Deletes the report `name` in `scope`; gone already is fine.
    pub fn delete(&self, scope: &Scope, name: &str) -> Result<(), ApiError> {
        let url = self.item(scope, name);
        let answer = self.call("DELETE", &url, None::<&()>)?;
        match answer.status {
            200 | 202 | 404 => Ok(()),
            _ => Err(status_error("DELETE", &url, &answer)),
        }
    }

    fn call<T: Serialize>(
        &self,
        method: &'static str,
        url: &str,
        body: Option<&T>,
    ) -> Result<Answer, ApiError> {
        let transport = |reason: String| ApiError::Transport { method, url: url.into(), reason };
        let token = self.config.token_file.as_deref();
        let response = match method {
            "GET" | "DELETE" => {
                let request =
                    if method == "GET" { self.agent.get(url) } else { self.agent.delete(url) };
                let request = request.header("Accept", "application/json");
                http_client::with_bearer(request, token).map_err(transport)?.call()
            }
            _ => {
                let request =
                    if method == "POST" { self.agent.post(url) } else { self.agent.put(url) };
                let request = request
                    .header("Accept", "application/json")
                    .header("Content-Type", "application/json");
                let body = serde_json::to_vec(&body).map_err(|e| transport(e.to_string()))?;
                http_client::with_bearer(request, token).map_err(transport)?.send(&body[..])
            }
        };
        let mut response = response.map_err(|e| transport(e.to_string()))?;
        let mut body = Vec::new();
        response
            .body_mut()
            .as_reader()
            .take(BODY_MAX)
            .read_to_end(&mut body)
            .map_err(|e| transport(format!("reading the answer: {e}")))?;
        Ok(Answer { status: response.status().as_u16(), body })
    }
}

fn parse<T: serde::de::DeserializeOwned>(
    method: &'static str,
    url: &str,
    what: &'static str,
    body: &[u8],
) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::Body {
        method,
        url: url.into(),
        what,
        reason: e.to_string(),
    })
}

/// The API server's `Status` message when it sent one, with a hint for
/// the 404 of a cluster without the CRD.
fn status_error(method: &'static str, url: &str, answer: &Answer) -> ApiError {
    #[derive(serde::Deserialize)]
    struct Status {
        #[serde(default)]
        message: String,
    }
    let mut message =
        serde_json::from_slice::<Status>(&answer.body).map(|s| s.message).unwrap_or_else(|_| {
            String::from_utf8_lossy(&answer.body).trim().chars().take(200).collect()
        });
    if answer.status == 404 && method != "GET" {
        message +=
            " (is the wgpolicyk8s.io PolicyReport CRD installed, and does the namespace exist?)";
    }
    if answer.status == 403 {
        message += " (the service account needs the RBAC in deploy/components/policy-reports)";
    }
    ApiError::Status { method, url: url.into(), status: answer.status, message }
}
