//! A real HTTP bundle server, as OPA's bundle service API has it: GET of
//! one tarball with an `ETag`, `304 Not Modified` to a matching
//! `If-None-Match`. A test publishes new tarballs, makes it fail with a
//! status, and reads back what each request sent and got.

use std::{
    io::{BufRead, BufReader, Write},
    net::TcpListener,
    sync::{Arc, Mutex},
};

#[derive(Default)]
struct State {
    /// The tarball served and its ETag (a counter: one per publication).
    bundle: Vec<u8>,
    etag: String,
    published: u32,
    /// Answered to every request instead of the bundle, when set.
    failing: Option<u16>,
    /// Per request: its `If-None-Match`, and the status answered.
    log: Vec<(Option<String>, u16)>,
}

pub struct BundleServer {
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl BundleServer {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the bundle server");
        let url = format!("http://{}/bundles/palisade.tar.gz", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut if_none_match = None;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':')
                        && name.eq_ignore_ascii_case("if-none-match")
                    {
                        if_none_match = Some(value.trim().to_string());
                    }
                }
                let mut s = shared.lock().unwrap();
                let (status, body) = match s.failing {
                    Some(status) => (status, Vec::new()),
                    None if if_none_match.as_deref() == Some(s.etag.as_str()) => (304, Vec::new()),
                    None => (200, s.bundle.clone()),
                };
                s.log.push((if_none_match, status));
                let head = format!(
                    "HTTP/1.1 {status} X\r\nETag: {}\r\nContent-Type: application/gzip\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    s.etag,
                    body.len()
                );
                drop(s);
                let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(&body));
            }
        });
        Self { url, state }
    }

    /// Serves `tarball` from now on, under a new ETag.
    pub fn publish(&self, tarball: Vec<u8>) {
        let mut s = self.state.lock().unwrap();
        s.published += 1;
        s.etag = format!("\"bundle-{}\"", s.published);
        s.bundle = tarball;
    }

    /// Answers `status` to every request (`None`: serves again).
    pub fn fail_with(&self, status: Option<u16>) {
        self.state.lock().unwrap().failing = status;
    }

    /// The ETag of the tarball published last.
    pub fn etag(&self) -> String {
        self.state.lock().unwrap().etag.clone()
    }

    /// Every request so far: its `If-None-Match` and the status answered.
    pub fn requests(&self) -> Vec<(Option<String>, u16)> {
        self.state.lock().unwrap().log.clone()
    }
}
