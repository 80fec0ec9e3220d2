//! The webhook transport: a batch of JSON lines POSTed as
//! `application/x-ndjson`, or, for OPA decision logs, as one JSON array
//! (`application/json`), gzipped when asked. A 2xx accepts the batch; a
//! connection failure, a timeout, a 5xx, 408 or 429 is retried (after
//! `Retry-After` when given); any other status refuses the batch for good.

use std::{io::Read, path::PathBuf};

use crate::http_client;

use super::{
    ExportError,
    delivery::{Gzip, Sent, Transport},
    spec::RemoteSpec,
    spool::Batch,
};

pub struct Webhook {
    agent: ureq::Agent,
    url: String,
    token_file: Option<PathBuf>,
    headers_file: Option<PathBuf>,
    framing: Framing,
    gzip: Option<Gzip>,
}

/// How a batch's lines make a request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// As they are: newline-delimited JSON.
    Lines,
    /// One JSON array (OPA's decision-log API).
    JsonArray,
}

impl Webhook {
    pub fn new(spec: &RemoteSpec, framing: Framing) -> Result<Self, ExportError> {
        Ok(Self {
            agent: http_client::agent(spec.ca_file.as_deref(), spec.timeout)
                .map_err(|reason| ExportError::Start { sink: spec.url.clone(), reason })?,
            url: spec.url.clone(),
            token_file: spec.token_file.clone(),
            headers_file: spec.headers_file.clone(),
            framing,
            gzip: spec.gzip.then(Gzip::default),
        })
    }
}

impl Transport for Webhook {
    fn send(&mut self, batch: &Batch) -> Sent {
        let array;
        let (content_type, body) = match self.framing {
            Framing::Lines => ("application/x-ndjson", &batch.body[..]),
            Framing::JsonArray => {
                array = super::decision_log::json_array(&batch.body);
                ("application/json", &array[..])
            }
        };
        let mut request = self.agent.post(&self.url).header("Content-Type", content_type);
        let body = match &mut self.gzip {
            Some(gzip) => {
                request = request.header("Content-Encoding", "gzip");
                match gzip.compress(body) {
                    Ok(compressed) => compressed,
                    Err(sent) => return sent,
                }
            }
            None => body,
        };
        let request = http_client::with_bearer(request, self.token_file.as_deref())
            .and_then(|r| http_client::with_headers_file(r, self.headers_file.as_deref()));
        let request = match request {
            Ok(request) => request,
            Err(reason) => return Sent::Retry { reason, after: None },
        };
        let mut response = match request.send(body) {
            Ok(response) => response,
            Err(e) => return Sent::Retry { reason: e.to_string(), after: None },
        };
        let after = http_client::retry_after(&response);
        // Read the body so the connection can be reused.
        let _ = response.body_mut().as_reader().take(64 << 10).read_to_end(&mut Vec::new());
        match response.status().as_u16() {
            200..=299 => Sent::Accepted { rejected: 0, reason: None },
            status @ (408 | 429 | 500..=599) => {
                Sent::Retry { reason: format!("the receiver answered {status}"), after }
            }
            status => Sent::Refused(format!("the receiver answered {status}")),
        }
    }
}
