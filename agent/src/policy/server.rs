//! A bundle server, as OPA's bundle service API has it: the bundle tarball
//! is fetched with GET from a URL, polled with `If-None-Match` so that an
//! unchanged bundle costs a `304 Not Modified`, within a bounded size and
//! time, backing off while the server fails. An OCI registry
//! (`oci://...`, see [`super::oci`]) is polled the same way, its
//! manifest's digest standing for the ETag.
//!
//! The last bundle that went live is kept on disk (the tarball and its
//! ETag): an agent that restarts while the server is down enforces it at
//! once instead of starting without the fleet's policy; one that restarts
//! while the server is up sends its ETag and downloads nothing new.

use std::{
    io::{Read, Write},
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use thiserror::Error;
use tracing::info;

use super::{oci, tarball::COMPRESSED_MAX_BYTES};

/// Longest a request may take, the download included: a server that hangs
/// fails the poll instead of stalling the reloader.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait between polls while the server fails.
const BACKOFF_MAX: Duration = Duration::from_secs(300);
/// The persisted bundle and its ETag, in the cache directory.
const CACHED_BUNDLE: &str = "bundle.tar.gz";
const CACHED_ETAG: &str = "etag";

#[derive(Debug, Error)]
pub enum ServerError {
    #[error("{url}: {reason}")]
    Fetch { url: String, reason: String },
    #[error("bundle cache {path}: {source}")]
    Cache {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// `palisade run`'s options for a bundle server (`--policy URL`).
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// Seconds between polls of a bundle server (less up to a fifth, at
    /// random; doubled after each failure, up to 5 minutes).
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub policy_poll_seconds: u64,
    /// CA certificates (PEM) to trust for an https bundle server. Default:
    /// the Mozilla roots built in.
    #[arg(long, value_name = "PEM")]
    pub policy_ca_file: Option<PathBuf>,
    /// Headers for the bundle server, one `Name: value` per line (e.g.
    /// `Authorization: Bearer ...` from a mounted Secret), re-read for
    /// every request.
    #[arg(long, value_name = "FILE")]
    pub policy_headers_file: Option<PathBuf>,
    /// Where the last bundle from the server that went live is kept, so a
    /// restart while the server is down enforces it at once (e.g. a
    /// hostPath). Default: not kept; such a restart fails.
    #[arg(long, value_name = "DIR")]
    pub policy_cache_dir: Option<PathBuf>,
}

impl ServerArgs {
    pub fn config(&self, url: String) -> ServerConfig {
        ServerConfig {
            url,
            poll: Duration::from_secs(self.policy_poll_seconds),
            ca_file: self.policy_ca_file.clone(),
            headers_file: self.policy_headers_file.clone(),
            cache_dir: self.policy_cache_dir.clone(),
        }
    }
}

/// Where and how the bundle is fetched (`palisade run --policy URL`).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub url: String,
    /// Time between polls (jittered by up to a fifth, so a fleet started
    /// together does not poll together).
    pub poll: Duration,
    /// CA certificates to trust for https (default: the Mozilla roots).
    pub ca_file: Option<PathBuf>,
    /// Request headers, one `Name: value` per line, re-read for every
    /// request (an `Authorization` from a mounted Secret).
    pub headers_file: Option<PathBuf>,
    /// Where the last live bundle is kept across restarts.
    pub cache_dir: Option<PathBuf>,
}

/// What one poll found.
#[derive(Debug)]
pub enum Fetched {
    /// Not time to poll yet, or the server answered 304.
    Unchanged,
    /// A tarball the server sent (its ETag kept for the next poll).
    Bundle(Vec<u8>),
}

/// How the bundle is fetched.
enum Protocol {
    /// OPA's bundle service API: a GET with ETags.
    Http,
    /// An OCI registry.
    Oci(oci::Reference),
}

/// A bundle server being polled.
pub struct BundleServer {
    config: ServerConfig,
    protocol: Protocol,
    client: ureq::Agent,
    /// The ETag of the bundle in force (sent as `If-None-Match`).
    etag: Option<String>,
    /// The ETag of the last bundle downloaded, until it goes live.
    pending_etag: Option<String>,
    next_poll: Instant,
    failures: u32,
}

impl BundleServer {
    pub fn new(config: ServerConfig) -> Result<Self, ServerError> {
        let fail = |reason| ServerError::Fetch { url: config.url.clone(), reason };
        let client =
            crate::http_client::agent(config.ca_file.as_deref(), REQUEST_TIMEOUT).map_err(fail)?;
        let protocol = if is_oci(&config.url) {
            Protocol::Oci(oci::Reference::parse(&config.url).map_err(fail)?)
        } else {
            Protocol::Http
        };
        Ok(Self {
            config,
            protocol,
            client,
            etag: None,
            pending_etag: None,
            next_poll: Instant::now(),
            failures: 0,
        })
    }

    pub fn url(&self) -> &str {
        &self.config.url
    }

    /// Polls the server if it is time to: a new tarball, or nothing new
    /// (not due, or 304). A failure postpones the next poll, doubling the
    /// wait each time up to [`BACKOFF_MAX`] (or as long as the server's
    /// `Retry-After` asks).
    pub fn poll(&mut self) -> Result<Fetched, ServerError> {
        if Instant::now() < self.next_poll {
            return Ok(Fetched::Unchanged);
        }
        match self.fetch() {
            Ok(fetched) => {
                self.failures = 0;
                self.next_poll = Instant::now() + jittered(self.config.poll);
                Ok(fetched)
            }
            Err((err, retry_after)) => {
                self.failures = self.failures.saturating_add(1);
                let backoff = self.config.poll.saturating_mul(1 << self.failures.min(8));
                let wait = retry_after.unwrap_or(backoff).min(BACKOFF_MAX);
                self.next_poll = Instant::now() + wait.max(self.config.poll);
                Err(err)
            }
        }
    }

    /// Polls now, whatever the schedule (the start).
    pub fn poll_now(&mut self) -> Result<Fetched, ServerError> {
        self.poll_at_once();
        self.poll()
    }

    /// Makes the next [`Self::poll`] ask the server (SIGHUP).
    pub fn poll_at_once(&mut self) {
        self.next_poll = Instant::now();
    }

    fn fetch(&mut self) -> Result<Fetched, (ServerError, Option<Duration>)> {
        let url = self.config.url.clone();
        let fail = |reason: String| ServerError::Fetch { url: url.clone(), reason };
        if let Protocol::Oci(reference) = &self.protocol {
            let headers = self.config.headers_file.as_deref();
            return match oci::pull(&self.client, reference, self.etag.as_deref(), headers) {
                Ok(oci::Pulled::Unchanged) => Ok(Fetched::Unchanged),
                Ok(oci::Pulled::Bundle { tarball, manifest_digest }) => {
                    self.pending_etag = Some(manifest_digest);
                    Ok(Fetched::Bundle(tarball))
                }
                Err((reason, retry_after)) => Err((fail(reason), retry_after)),
            };
        }
        let mut request = self.client.get(&url).header("Accept", "application/gzip");
        if let Some(etag) = &self.etag {
            request = request.header("If-None-Match", etag);
        }
        let request =
            crate::http_client::with_headers_file(request, self.config.headers_file.as_deref())
                .map_err(|reason| (fail(reason), None))?;
        let mut response = request.call().map_err(|e| (fail(e.to_string()), None))?;
        let status = response.status().as_u16();
        match status {
            304 => return Ok(Fetched::Unchanged),
            200 => {}
            _ => {
                let retry_after = crate::http_client::retry_after(&response);
                return Err((fail(format!("the server answered {status}")), retry_after));
            }
        }
        let etag = response.headers().get("etag").and_then(|v| v.to_str().ok()).map(str::to_string);
        let bytes =
            response.body_mut().with_config().limit(COMPRESSED_MAX_BYTES).read_to_vec().map_err(
                |e| {
                    let reason = match e {
                        ureq::Error::BodyExceedsLimit(_) => format!(
                            "the bundle is over the {COMPRESSED_MAX_BYTES}-byte limit for a bundle"
                        ),
                        e => format!("reading the bundle: {e}"),
                    };
                    (fail(reason), None)
                },
            )?;
        self.pending_etag = etag;
        Ok(Fetched::Bundle(bytes))
    }

    /// The bundle last downloaded went live: its ETag is sent from now on,
    /// and it is persisted (written aside, then renamed over the old one,
    /// so a crash leaves one whole bundle or the other).
    pub fn went_live(&mut self, tarball: &[u8]) -> Result<(), ServerError> {
        self.etag = self.pending_etag.take();
        let Some(dir) = &self.config.cache_dir else { return Ok(()) };
        let cache_err = |path: &Path| {
            let path = path.display().to_string();
            move |source| ServerError::Cache { path, source }
        };
        std::fs::create_dir_all(dir).map_err(cache_err(dir))?;
        for (name, bytes) in [
            (CACHED_BUNDLE, tarball),
            (CACHED_ETAG, self.etag.as_deref().unwrap_or_default().as_bytes()),
        ] {
            let path = dir.join(name);
            let partial = dir.join(format!(".{name}.partial"));
            let mut file = std::fs::File::create(&partial).map_err(cache_err(&partial))?;
            file.write_all(bytes).and_then(|()| file.sync_all()).map_err(cache_err(&partial))?;
            std::fs::rename(&partial, &path).map_err(cache_err(&path))?;
        }
        Ok(())
    }

    /// The persisted bundle, if there is one: its tarball, and its ETag
    /// taken as the one in force (so that the next poll can answer 304).
    pub fn cached(&mut self) -> Result<Option<Vec<u8>>, ServerError> {
        let Some(dir) = &self.config.cache_dir else { return Ok(None) };
        let path = dir.join(CACHED_BUNDLE);
        let mut bytes = Vec::new();
        match std::fs::File::open(&path) {
            Ok(file) => file.take(COMPRESSED_MAX_BYTES + 1).read_to_end(&mut bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => Err(e),
        }
        .map_err(|source| ServerError::Cache { path: path.display().to_string(), source })?;
        let etag = std::fs::read_to_string(dir.join(CACHED_ETAG)).unwrap_or_default();
        self.etag = Some(etag.trim().to_string()).filter(|e| !e.is_empty());
        info!(path = %path.display(), "read the bundle persisted from the bundle server");
        Ok(Some(bytes))
    }

    /// Forgets the ETag in force: the next poll downloads the bundle whole
    /// (when what was persisted turned out unusable).
    pub fn forget_etag(&mut self) {
        self.etag = None;
    }
}

/// `poll` less up to a fifth of it, so agents started together spread out.
fn jittered(poll: Duration) -> Duration {
    use std::hash::{BuildHasher, RandomState};
    let fraction = RandomState::new().hash_one(Instant::now()) % 1000;
    poll - poll / 5 * u32::try_from(fraction).unwrap_or(0) / 1000
}

/// Whether `--policy` names a bundle server rather than a path.
pub fn is_url(location: &str) -> bool {
    location.starts_with("https://") || location.starts_with("http://")
}

/// Whether `--policy` names a bundle in an OCI registry.
pub fn is_oci(location: &str) -> bool {
    location.starts_with("oci://")
}

#[cfg(test)]
mod tests {
    use std::{
        io::{BufRead, BufReader},
        net::TcpListener,
        sync::{Arc, Mutex},
    };

    use super::*;

    /// A real HTTP server on loopback that serves `body` with ETag `"v1"`,
    /// answers 304 to `If-None-Match: "v1"`, and records each request's
    /// `If-None-Match`. `status` other than 200 is answered to everything.
    fn serve(status: u16, body: Vec<u8>) -> (String, Arc<Mutex<Vec<Option<String>>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/bundles/b.tar.gz", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let mut stream = stream.unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut if_none_match = None;
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    if line.trim().is_empty() {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':')
                        && name.eq_ignore_ascii_case("if-none-match")
                    {
                        if_none_match = Some(value.trim().to_string());
                    }
                }
                let not_modified = if_none_match.as_deref() == Some("\"v1\"");
                log.lock().unwrap().push(if_none_match);
                let (code, payload): (u16, &[u8]) = match (status, not_modified) {
                    (200, true) => (304, b""),
                    (200, false) => (200, &body),
                    (other, _) => (other, b""),
                };
                let head = format!(
                    "HTTP/1.1 {code} X\r\nETag: \"v1\"\r\nContent-Length: {}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n",
                    payload.len()
                );
                // The client may hang up first (a refused oversized body).
                let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(payload));
            }
        });
        (url, seen)
    }

    fn config(url: String, cache_dir: Option<PathBuf>) -> ServerConfig {
        ServerConfig {
            url,
            poll: Duration::from_millis(1),
            ca_file: None,
            headers_file: None,
            cache_dir,
        }
    }

    #[test]
    fn polls_with_the_etag_of_the_live_bundle_and_persists_it() {
        let (url, seen) = serve(200, b"tarball bytes".to_vec());
        let cache = std::env::temp_dir().join(format!("palisade-server-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&cache);
        let mut server = BundleServer::new(config(url, Some(cache.clone()))).unwrap();
        let Fetched::Bundle(bytes) = server.poll_now().unwrap() else { panic!("a bundle") };
        assert_eq!(bytes, b"tarball bytes");
        // Not live yet: the next poll downloads it again.
        assert!(matches!(server.poll_now().unwrap(), Fetched::Bundle(_)));
        server.went_live(&bytes).unwrap();
        assert!(matches!(server.poll_now().unwrap(), Fetched::Unchanged));
        assert_eq!(*seen.lock().unwrap(), [None, None, Some("\"v1\"".into())]);

        // A restarted agent reads the persisted bundle and its ETag.
        let mut restarted =
            BundleServer::new(config("http://127.0.0.1:9/x".into(), Some(cache.clone()))).unwrap();
        assert_eq!(restarted.cached().unwrap().as_deref(), Some(&b"tarball bytes"[..]));
        assert_eq!(restarted.etag.as_deref(), Some("\"v1\""));
        let _ = std::fs::remove_dir_all(&cache);
    }

    #[test]
    fn a_failing_server_is_one_line_and_backs_off() {
        let (url, seen) = serve(503, Vec::new());
        let mut server = BundleServer::new(config(url.clone(), None)).unwrap();
        let err = server.poll().unwrap_err().to_string();
        assert_eq!(err, format!("{url}: the server answered 503"));
        // Retry-After: 1 s, so the next poll waits rather than asks again.
        assert!(matches!(server.poll().unwrap(), Fetched::Unchanged));
        assert_eq!(seen.lock().unwrap().len(), 1);

        let mut down =
            BundleServer::new(config("http://127.0.0.1:9/b.tar.gz".into(), None)).unwrap();
        let err = down.poll().unwrap_err().to_string();
        assert!(err.starts_with("http://127.0.0.1:9/b.tar.gz: "), "{err}");
        assert!(!err.contains('\n'), "{err}");
    }

    #[test]
    fn an_oversized_bundle_is_refused_while_downloading() {
        let (url, _) = serve(200, vec![0u8; COMPRESSED_MAX_BYTES as usize + 10]);
        let mut server = BundleServer::new(config(url, None)).unwrap();
        let err = server.poll().unwrap_err().to_string();
        assert!(err.ends_with("-byte limit for a bundle"), "{err}");
    }
}
