//! The agents' webhook sink lands here: `POST` of NDJSON batches
//! (`application/x-ndjson`, gzip or not), each line a native record, as
//! export/webhook.rs sends them. A 200 takes the batch (lines that are not
//! native records are counted and ignored: the sink must not retry them);
//! 401 without the expected bearer token; 413 over the size bound.
//! `GET /healthz` answers 200. HTTP/1.1 with keep-alive, bodies sized by
//! `Content-Length` (what the sink sends); no chunked bodies.

use std::{
    io::Read,
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
};
use tracing::{debug, info, warn};

use super::findings::Findings;

/// Longest request head.
const HEAD_MAX: usize = 16 << 10;
/// Largest body taken, compressed or not (a batch of 500 records is a few
/// hundred KiB).
const BODY_MAX: usize = 64 << 20;
/// A connection with no request for this long is closed.
const IDLE: Duration = Duration::from_secs(120);

/// What the receiver took, for the logs.
#[derive(Debug, Default)]
pub struct Received {
    pub batches: AtomicU64,
    pub records: AtomicU64,
    /// Lines that were not native records.
    pub ignored: AtomicU64,
    pub refused: AtomicU64,
}

pub struct Receiver {
    pub findings: Arc<Mutex<Findings>>,
    /// When set, requests must carry `Authorization: Bearer <its content>`.
    pub token_file: Option<PathBuf>,
    pub received: Arc<Received>,
}

pub async fn serve(listener: TcpListener, receiver: Arc<Receiver>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(conn) => conn,
            Err(err) => {
                warn!(%err, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let receiver = Arc::clone(&receiver);
        tokio::spawn(async move {
            if let Err(err) = connection(stream, &receiver).await {
                debug!(%err, %peer, "connection ended");
            }
        });
    }
}

struct Request {
    method: String,
    path: String,
    length: usize,
    gzip: bool,
    authorization: Option<String>,
    close: bool,
    chunked: bool,
}

async fn connection(stream: TcpStream, receiver: &Receiver) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut input = BufReader::new(read);
    loop {
        let request = match tokio::time::timeout(IDLE, head(&mut input)).await {
            Ok(Ok(Some(request))) => request,
            Ok(Ok(None)) | Err(_) => return Ok(()),
            Ok(Err(err)) => {
                respond(&mut write, 400, &format!("{err}\n"), true).await?;
                return Ok(());
            }
        };
        if request.chunked {
            respond(&mut write, 411, "send Content-Length, not a chunked body\n", true).await?;
            return Ok(());
        }
        if request.length > BODY_MAX {
            receiver.received.refused.fetch_add(1, Ordering::Relaxed);
            let why = format!("a body of {} bytes is over {BODY_MAX}\n", request.length);
            respond(&mut write, 413, &why, true).await?;
            return Ok(());
        }
        let mut body = vec![0; request.length];
        input.read_exact(&mut body).await?;
        let (status, text) = match (request.method.as_str(), request.path.as_str()) {
            ("GET", "/healthz") => (200, "ok\n".to_string()),
            ("POST", _) => take(receiver, &request, &body),
            _ => (405, "POST records, or GET /healthz\n".to_string()),
        };
        respond(&mut write, status, &text, request.close).await?;
        if request.close {
            return Ok(());
        }
    }
}

/// Reads a request head; None at a clean end of the connection.
async fn head<R: AsyncBufReadExt + Unpin>(input: &mut R) -> std::io::Result<Option<Request>> {
    let bad = |why: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_string());
    let mut lines = Vec::new();
    let mut total = 0;
    loop {
        let mut line = String::new();
        let n = input.read_line(&mut line).await?;
        if n == 0 {
            return if lines.is_empty() { Ok(None) } else { Err(bad("the request ended early")) };
        }
        total += n;
        if total > HEAD_MAX {
            return Err(bad("request head too long"));
        }
        let line = line.trim_end_matches(['\r', '\n']).to_string();
        if line.is_empty() {
            if lines.is_empty() {
                continue;
            }
            break;
        }
        lines.push(line);
    }
    let mut first = lines[0].split_whitespace();
    let (method, path) = (first.next().unwrap_or_default(), first.next().unwrap_or_default());
    let mut request = Request {
        method: method.to_string(),
        path: path.split('?').next().unwrap_or_default().to_string(),
        length: 0,
        gzip: false,
        authorization: None,
        close: false,
        chunked: false,
    };
    for line in &lines[1..] {
        let Some((name, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => {
                request.length = value.parse().map_err(|_| bad("bad Content-Length"))?;
            }
            "content-encoding" => request.gzip = value.eq_ignore_ascii_case("gzip"),
            "authorization" => request.authorization = Some(value.to_string()),
            "connection" => request.close = value.eq_ignore_ascii_case("close"),
            "transfer-encoding" => request.chunked = !value.eq_ignore_ascii_case("identity"),
            _ => {}
        }
    }
    Ok(Some(request))
}

/// Takes a batch: each native record into the findings.
fn take(receiver: &Receiver, request: &Request, body: &[u8]) -> (u16, String) {
    if let Some(path) = &receiver.token_file {
        let expected = match std::fs::read_to_string(path) {
            Ok(token) => format!("Bearer {}", token.trim()),
            Err(err) => {
                warn!(%err, path = %path.display(), "cannot read the receiver's token file");
                return (503, "the receiver cannot read its token\n".into());
            }
        };
        if request.authorization.as_deref() != Some(expected.as_str()) {
            receiver.received.refused.fetch_add(1, Ordering::Relaxed);
            return (401, "a valid bearer token is required\n".into());
        }
    }
    let mut inflated = Vec::new();
    let body = if request.gzip {
        let decoder = flate2::read::GzDecoder::new(body);
        if let Err(err) = decoder.take(BODY_MAX as u64 * 8).read_to_end(&mut inflated) {
            return (400, format!("the gzip body does not inflate: {err}\n"));
        }
        &inflated[..]
    } else {
        body
    };
    let (mut records, mut ignored) = (0u64, 0u64);
    {
        let mut findings = receiver.findings.lock().unwrap_or_else(|e| e.into_inner());
        for line in body.split(|b| *b == b'\n') {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match crate::report::record::parse_line(line) {
                Some((ns, view)) => {
                    findings.add(&view, ns);
                    records += 1;
                }
                None => ignored += 1,
            }
        }
    }
    let r = &receiver.received;
    r.batches.fetch_add(1, Ordering::Relaxed);
    r.records.fetch_add(records, Ordering::Relaxed);
    r.ignored.fetch_add(ignored, Ordering::Relaxed);
    if ignored > 0 && r.ignored.load(Ordering::Relaxed) == ignored {
        info!(
            ignored,
            "lines that are not native Palisade records are ignored (is the sink's format native?)"
        );
    }
    (200, format!("{{\"records\":{records},\"ignored\":{ignored}}}\n"))
}

async fn respond<W: AsyncWriteExt + Unpin>(
    out: &mut W,
    status: u16,
    body: &str,
    close: bool,
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        405 => "Method Not Allowed",
        411 => "Length Required",
        413 => "Content Too Large",
        _ => "Service Unavailable",
    };
    let content_type = if body.starts_with('{') { "application/json" } else { "text/plain" };
    let connection = if close { "close" } else { "keep-alive" };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: {connection}\r\n\r\n",
        body.len()
    );
    out.write_all(head.as_bytes()).await?;
    out.write_all(body.as_bytes()).await?;
    out.flush().await
}
