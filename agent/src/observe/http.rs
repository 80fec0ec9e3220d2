//! A deliberately small HTTP/1.1 responder for `/metrics`, `/healthz` and
//! `/readyz`: one request per connection, GET only, no dependencies.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};
use tracing::{info, warn};

use super::{metrics, ready};
use crate::stats::Stats;

/// Longest request head read; anything longer is refused.
const REQUEST_MAX: usize = 8192;
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves until the task is dropped.
pub async fn serve(listener: TcpListener, stats: Arc<Stats>) {
    if let Ok(addr) = listener.local_addr() {
        info!(%addr, "serving /metrics, /healthz and /readyz");
    }
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(conn) => conn,
            Err(err) => {
                warn!(%err, "cannot accept a metrics connection");
                continue;
            }
        };
        let stats = Arc::clone(&stats);
        tokio::spawn(async move {
            if let Err(err) = respond(stream, &stats).await {
                warn!(%err, %peer, "metrics request failed");
            }
        });
    }
}

/// Binds `addr`, with a clear error naming it.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen for metrics on {addr}: {e}"))
}

async fn respond(mut stream: TcpStream, stats: &Stats) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(READ_TIMEOUT, stream.read(&mut buf)).await??;
        if n == 0 || head.len() + n > REQUEST_MAX {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, content_type, body) = match (method, path) {
        ("GET", "/metrics") => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            metrics::render(stats, ready::enforcement_in_force()),
        ),
        ("GET", "/healthz") => ("200 OK", "text/plain", "ok\n".to_string()),
        ("GET", "/readyz") => {
            let problems = ready::problems(stats);
            let status = if problems.is_empty() { "200 OK" } else { "503 Service Unavailable" };
            let mut lines = if problems.is_empty() { vec!["ready".to_string()] } else { problems };
            lines.extend(ready::policy_lines(stats));
            (status, "text/plain", lines.join("\n") + "\n")
        }
        ("GET", _) => ("404 Not Found", "text/plain", "not found\n".to_string()),
        _ => ("405 Method Not Allowed", "text/plain", "GET only\n".to_string()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}
