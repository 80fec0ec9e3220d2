//! A stand-in for the Kubernetes API server that answers with recorded
//! response bodies (`tests/fixtures/k8s/`, see its README: written to the
//! exact shape of the API server's answers; no API server runs here). It
//! serves the pod list, then the watch stream (held open afterwards, as a
//! real watch is), and records each request's target and Authorization.

use std::{
    io::{BufRead, BufReader, Write},
    net::TcpListener,
    sync::{Arc, Mutex},
    time::Duration,
};

pub struct KubeApi {
    pub port: u16,
    /// (request target, Authorization header) of every request.
    pub requests: Arc<Mutex<Vec<(String, String)>>>,
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/k8s/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

impl KubeApi {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let seen = Arc::clone(&seen);
                std::thread::spawn(move || {
                    let mut input = BufReader::new(stream.try_clone().unwrap());
                    let (mut target, mut auth) = (String::new(), String::new());
                    let mut line = String::new();
                    while input.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                        if target.is_empty() {
                            target = line.split_whitespace().nth(1).unwrap_or_default().to_string();
                        } else if let Some(v) = line
                            .strip_prefix("authorization: ")
                            .or(line.strip_prefix("Authorization: "))
                        {
                            auth = v.trim().to_string();
                        }
                        line.clear();
                    }
                    seen.lock().unwrap().push((target.clone(), auth));
                    let watch = target.contains("watch=1");
                    let body =
                        fixture(if watch { "watch-node-a.jsonl" } else { "podlist-node-a.json" });
                    let mut out = stream;
                    let head = if watch {
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".to_string()
                    } else {
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                            body.len()
                        )
                    };
                    let _ = out.write_all(head.as_bytes());
                    if watch {
                        let _ = write!(out, "{:x}\r\n", body.len());
                        let _ = out.write_all(&body);
                        let _ = out.write_all(b"\r\n");
                        let _ = out.flush();
                        // A watch stays open until the server's timeout.
                        std::thread::sleep(Duration::from_secs(120));
                    } else {
                        let _ = out.write_all(&body);
                    }
                });
            }
        });
        KubeApi { port, requests }
    }
}
