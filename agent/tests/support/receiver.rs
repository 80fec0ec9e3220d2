//! A real HTTP receiver for the webhook and decision-log sinks: HTTP/1.1
//! with keep-alive, `Content-Length` bodies of JSON lines or (for OPA's
//! decision-log API) one JSON array, gzipped or not, answering a chosen
//! status. It can be stopped (the listener and every open connection
//! closed) and started again on the same port.

use std::{
    collections::HashSet,
    io::{BufRead, BufReader, Read, Write},
    net::{Shutdown, TcpListener, TcpStream},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering::Relaxed},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use serde_json::Value;

pub struct Receiver {
    pub port: u16,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    /// Status answered to every request.
    status: AtomicU16,
    requests: AtomicU64,
    records: Mutex<Vec<Value>>,
    /// Each accepted request's `Content-Type` and `Content-Encoding`.
    headers: Mutex<Vec<(String, String)>>,
    connections: Mutex<Vec<TcpStream>>,
}

impl Receiver {
    /// Listens on `port` (0: any free one).
    pub fn start(port: u16) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the receiver");
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared { status: AtomicU16::new(200), ..Shared::default() });
        let thread = {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || accept(&listener, &shared))
        };
        Receiver { port, shared, thread: Some(thread) }
    }

    pub fn answer(&self, status: u16) {
        self.shared.status.store(status, Relaxed);
    }

    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Relaxed)
    }

    /// Every record received so far.
    pub fn records(&self) -> Vec<Value> {
        self.shared.records.lock().unwrap().clone()
    }

    /// Each accepted request's `Content-Type` and `Content-Encoding`.
    pub fn headers(&self) -> Vec<(String, String)> {
        self.shared.headers.lock().unwrap().clone()
    }

    pub fn ids(&self) -> HashSet<String> {
        self.ids_in("id")
    }

    /// The values of the string field `field` of the records so far.
    fn ids_in(&self, field: &str) -> HashSet<String> {
        self.records().iter().filter_map(|r| r[field].as_str().map(str::to_string)).collect()
    }

    /// Waits until every id in `ids` has arrived; panics naming how many did
    /// not within `wait`.
    pub fn wait_for_ids(&self, ids: &[String], wait: Duration) {
        self.wait_for_ids_in("id", ids, wait);
    }

    /// As [`Self::wait_for_ids`], the ids being the records' `field`.
    pub fn wait_for_ids_in(&self, field: &str, ids: &[String], wait: Duration) {
        let deadline = Instant::now() + wait;
        loop {
            let got = self.ids_in(field);
            let missing = ids.iter().filter(|id| !got.contains(*id)).count();
            if missing == 0 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{missing} of {} records never reached the receiver ({} records, {} requests)",
                ids.len(),
                got.len(),
                self.requests()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Closes the listener and every connection: the port refuses.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.shared.stop.store(true, Relaxed);
        for conn in self.shared.connections.lock().unwrap().drain(..) {
            let _ = conn.shutdown(Shutdown::Both);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.halt();
    }
}

fn accept(listener: &TcpListener, shared: &Arc<Shared>) {
    while !shared.stop.load(Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).unwrap();
                shared.connections.lock().unwrap().push(stream.try_clone().unwrap());
                let shared = Arc::clone(shared);
                std::thread::spawn(move || serve(stream, &shared));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// Requests on one connection until it closes.
fn serve(stream: TcpStream, shared: &Shared) {
    let mut out = stream.try_clone().unwrap();
    let mut input = BufReader::new(stream);
    loop {
        let mut length = 0;
        let (mut content_type, mut encoding) = (String::new(), String::new());
        let mut line = String::new();
        // Request line, then headers up to the blank line.
        loop {
            line.clear();
            match input.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                let value = value.trim();
                match name.to_ascii_lowercase().as_str() {
                    "content-length" => length = value.parse().unwrap_or(0),
                    "content-type" => content_type = value.to_string(),
                    "content-encoding" => encoding = value.to_string(),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; length];
        if input.read_exact(&mut body).is_err() || shared.stop.load(Relaxed) {
            return;
        }
        let status = shared.status.load(Relaxed);
        if status / 100 == 2 {
            if encoding == "gzip" {
                let mut plain = Vec::new();
                flate2::read::GzDecoder::new(&body[..])
                    .read_to_end(&mut plain)
                    .expect("a gzip body that inflates");
                body = plain;
            }
            let mut records = shared.records.lock().unwrap();
            if content_type == "application/json" {
                let array: Vec<Value> =
                    serde_json::from_slice(&body).expect("a JSON array body (OPA's decision logs)");
                records.extend(array);
            } else {
                for l in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                    records.push(
                        serde_json::from_slice(l)
                            .expect("the webhook sent a line that is not JSON"),
                    );
                }
            }
            shared.headers.lock().unwrap().push((content_type, encoding));
        }
        shared.requests.fetch_add(1, Relaxed);
        let response = format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n");
        if out.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}
