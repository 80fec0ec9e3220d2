//! The OTLP/HTTP logs sink: records go to a Collector's `/v1/logs` as
//! protobuf `ExportLogsServiceRequest`s (gzip unless `compression=none`),
//! through the same on-disk spool and delivery loop as the webhook.
//!
//! Each record is encoded as a LogRecord when exported (where its typed
//! form is at hand) and spooled as one base64 line (the spool is
//! line-framed). The sender wraps a batch of them in one resource
//! (`service.name=palisade`, `service.version`, `host.name`,
//! `k8s.cluster.name`) and one instrumentation scope.
//!
//! Answers, as the OTLP specification says: 2xx accepts the batch, and a
//! partial success's `rejected_log_records` are counted as rejected and not
//! sent again; 429, 502, 503 and 504 are retried after `Retry-After` when
//! given, else with backoff; any other status refuses the batch for good.

mod record;

use std::{io::Read, io::Write, path::PathBuf};

use base64::{Engine, engine::general_purpose::STANDARD};
use opentelemetry_proto::tonic::{
    collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse},
    common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value::Value},
    logs::v1::{LogRecord, ResourceLogs, ScopeLogs},
    resource::v1::Resource,
};
use prost::Message;

pub use record::{log_record, set_uid};

use super::{
    ExportError,
    delivery::{Sent, Transport},
    spec::RemoteSpec,
    spool::Batch,
};
use crate::{event::Origin, http_client};

/// A LogRecord as one spool line.
pub fn spool_line(record: &LogRecord) -> Vec<u8> {
    STANDARD.encode(record.encode_to_vec()).into_bytes()
}

pub struct Otlp {
    agent: ureq::Agent,
    url: String,
    headers_file: Option<PathBuf>,
    gzip: bool,
    resource: Resource,
    scope: InstrumentationScope,
}

impl Otlp {
    pub fn new(spec: &RemoteSpec, origin: &Origin) -> Result<Self, ExportError> {
        let start_error = |reason| ExportError::Start { sink: spec.url.clone(), reason };
        if let Some(path) = &spec.headers_file {
            // A malformed file fails the start, not every request later.
            let text = std::fs::read_to_string(path)
                .map_err(|e| start_error(format!("headers file {}: {e}", path.display())))?;
            http_client::parse_headers(&text)
                .map_err(|e| start_error(format!("headers file {}:{e}", path.display())))?;
        }
        let mut attributes = vec![
            string("service.name", "palisade"),
            string("service.version", env!("CARGO_PKG_VERSION")),
            string("host.name", &origin.node),
        ];
        if let Some(cluster) = origin.cluster {
            attributes.push(string("k8s.cluster.name", cluster));
        }
        Ok(Self {
            agent: http_client::agent(spec.ca_file.as_deref(), spec.timeout)
                .map_err(start_error)?,
            url: spec.url.clone(),
            headers_file: spec.headers_file.clone(),
            gzip: spec.gzip,
            resource: Resource { attributes, ..Resource::default() },
            scope: InstrumentationScope {
                name: "palisade".into(),
                version: env!("CARGO_PKG_VERSION").into(),
                ..InstrumentationScope::default()
            },
        })
    }

    /// The request body of a batch of spooled LogRecords. A line that does
    /// not decode (a spool written by something else) is left out and
    /// counted in the second value.
    fn request(&self, batch: &Batch) -> (Vec<u8>, u64) {
        let mut unreadable = 0;
        let log_records = batch
            .body
            .split(|b| *b == b'\n')
            .filter(|line| !line.is_empty())
            .filter_map(|line| {
                let record =
                    STANDARD.decode(line).ok().and_then(|b| LogRecord::decode(&b[..]).ok());
                unreadable += u64::from(record.is_none());
                record
            })
            .collect();
        let request = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(self.resource.clone()),
                scope_logs: vec![ScopeLogs {
                    scope: Some(self.scope.clone()),
                    log_records,
                    ..ScopeLogs::default()
                }],
                ..ResourceLogs::default()
            }],
        };
        (request.encode_to_vec(), unreadable)
    }
}

impl Transport for Otlp {
    fn send(&self, batch: &Batch) -> Sent {
        let (mut body, unreadable) = self.request(batch);
        let mut request =
            self.agent.post(&self.url).header("Content-Type", "application/x-protobuf");
        if self.gzip {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            body = match gz.write_all(&body).and_then(|()| gz.finish()) {
                Ok(compressed) => compressed,
                Err(e) => return Sent::Retry { reason: format!("gzip: {e}"), after: None },
            };
            request = request.header("Content-Encoding", "gzip");
        }
        let request = match http_client::with_headers_file(request, self.headers_file.as_deref()) {
            Ok(request) => request,
            Err(reason) => return Sent::Retry { reason, after: None },
        };
        let mut response = match request.send(&body[..]) {
            Ok(response) => response,
            Err(e) => return Sent::Retry { reason: e.to_string(), after: None },
        };
        let after = http_client::retry_after(&response);
        let mut answer = Vec::new();
        let _ = response.body_mut().as_reader().take(1 << 20).read_to_end(&mut answer);
        match response.status().as_u16() {
            200..=299 => {
                // An empty or unreadable answer is a full success.
                let partial = ExportLogsServiceResponse::decode(&answer[..])
                    .ok()
                    .and_then(|r| r.partial_success)
                    .filter(|p| p.rejected_log_records > 0 || !p.error_message.is_empty());
                let rejected = partial.as_ref().map_or(0, |p| p.rejected_log_records.max(0) as u64);
                let reason = partial.map(|p| p.error_message).filter(|m| !m.is_empty());
                Sent::Accepted { rejected: rejected + unreadable, reason }
            }
            status @ (429 | 502 | 503 | 504) => {
                Sent::Retry { reason: format!("the collector answered {status}"), after }
            }
            status => Sent::Refused(format!("the collector answered {status}")),
        }
    }
}

fn string(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(Value::StringValue(value.into())) }),
        ..KeyValue::default()
    }
}
