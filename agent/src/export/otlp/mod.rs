//! The OTLP/HTTP logs sink: records go to a Collector's `/v1/logs` as
//! protobuf `ExportLogsServiceRequest`s (gzip unless `compression=none`),
//! through the same on-disk spool and delivery loop as the webhook.
//!
//! Each record is encoded as a LogRecord when exported (where its typed
//! form is at hand) and spooled as it is, framed by its length. The sender
//! wraps a batch of them in one resource
//! (`service.name=palisade`, `service.version`, `host.name`,
//! `k8s.cluster.name`) and one instrumentation scope, splicing the records'
//! bytes into the request as protobuf's repeated fields allow, rather than
//! decoding and encoding each again. Agents before this one spooled each
//! LogRecord as a base64 line: a spool they left is read and sent alike.
//!
//! Answers, as the OTLP specification says: 2xx accepts the batch, and a
//! partial success's `rejected_log_records` are counted as rejected and not
//! sent again; 429, 502, 503 and 504 are retried after `Retry-After` when
//! given, else with backoff; any other status refuses the batch for good.

mod record;
mod wire;

use std::{io::Read, path::PathBuf};

use base64::{Engine, engine::general_purpose::STANDARD};
#[cfg(test)]
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::{
    collector::logs::v1::ExportLogsServiceResponse,
    common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value::Value},
    resource::v1::Resource,
};
use prost::Message;

use wire::{
    REQUEST_RESOURCE_LOGS, RESOURCE_LOGS_RESOURCE, RESOURCE_LOGS_SCOPE_LOGS,
    SCOPE_LOGS_LOG_RECORDS, SCOPE_LOGS_SCOPE, bytes_field, field_len, header,
};

use super::Outgoing;
use super::{
    ExportError,
    delivery::{Gzip, Sent, Transport},
    spec::RemoteSpec,
    spool::{Batch, Framing},
};
use crate::{event::Origin, http_client};

/// How the OTLP sink's records are framed in its spool.
pub const SPOOL_FRAMING: Framing = Framing::Lengths;

/// Encodes records for the spool, in a buffer kept from one to the next.
#[derive(Default)]
pub struct Spooler {
    record: Vec<u8>,
}

impl Spooler {
    /// The LogRecord of `record`, whose exported form is `body`, encoded.
    /// Its `log.record.uid` is `uid` when given, else the record's id.
    pub fn record(
        &mut self,
        record: Outgoing<'_>,
        body: &[u8],
        uid: Option<&str>,
        observed_ns: u64,
    ) -> &[u8] {
        self.record.clear();
        record::encode(record, body, uid, observed_ns, &mut self.record);
        &self.record
    }
}

pub struct Otlp {
    agent: ureq::Agent,
    url: String,
    headers_file: Option<PathBuf>,
    gzip: Option<Gzip>,
    /// The last request's body, its buffer kept for the next.
    body: Vec<u8>,
    /// The resource and the scope, encoded once.
    resource: Vec<u8>,
    scope: Vec<u8>,
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
            gzip: spec.gzip.then(Gzip::default),
            body: Vec::new(),
            resource: Resource { attributes, ..Resource::default() }.encode_to_vec(),
            scope: InstrumentationScope {
                name: "palisade".into(),
                version: env!("CARGO_PKG_VERSION").into(),
                ..InstrumentationScope::default()
            }
            .encode_to_vec(),
        })
    }

    /// The request body of a batch of spooled LogRecords, written to
    /// `request`: an `ExportLogsServiceRequest` of one `ResourceLogs`
    /// holding one `ScopeLogs`. What is not a record (in a spool an earlier
    /// agent left, a line that is not base64) is left out and counted in
    /// the value returned.
    fn request(&self, batch: &Batch, request: &mut Vec<u8>) -> u64 {
        let mut decoded = Vec::new();
        let framed = match batch.framing {
            Framing::Lengths => &batch.body[..],
            // An earlier agent's spool: base64 lines, decoded and framed
            // by their lengths first.
            Framing::Lines => {
                let mut record = Vec::new();
                for line in batch.records() {
                    record.clear();
                    if STANDARD.decode_vec(line, &mut record).is_ok() && !record.is_empty() {
                        // Writing to a Vec cannot fail.
                        let _ = Framing::Lengths.write(&mut decoded, &record);
                    }
                }
                &decoded[..]
            }
        };
        // Lengths first, so every byte is written once, in place.
        let mut spliced = 0;
        let mut scope_logs = field_len(SCOPE_LOGS_SCOPE, self.scope.len());
        for record in Framing::Lengths.records(framed) {
            scope_logs += field_len(SCOPE_LOGS_LOG_RECORDS, record.len());
            spliced += 1;
        }
        let resource_logs = field_len(RESOURCE_LOGS_RESOURCE, self.resource.len())
            + field_len(RESOURCE_LOGS_SCOPE_LOGS, scope_logs);
        request.clear();
        request.reserve(field_len(REQUEST_RESOURCE_LOGS, resource_logs));
        header(request, REQUEST_RESOURCE_LOGS, resource_logs);
        bytes_field(request, RESOURCE_LOGS_RESOURCE, &self.resource);
        header(request, RESOURCE_LOGS_SCOPE_LOGS, scope_logs);
        bytes_field(request, SCOPE_LOGS_SCOPE, &self.scope);
        for record in Framing::Lengths.records(framed) {
            bytes_field(request, SCOPE_LOGS_LOG_RECORDS, record);
        }
        batch.records.saturating_sub(spliced)
    }
}

impl Transport for Otlp {
    fn send(&mut self, batch: &Batch) -> Sent {
        let mut body = std::mem::take(&mut self.body);
        let unreadable = self.request(batch, &mut body);
        self.body = body;
        let mut request =
            self.agent.post(&self.url).header("Content-Type", "application/x-protobuf");
        let body = match &mut self.gzip {
            Some(gzip) => {
                request = request.header("Content-Encoding", "gzip");
                match gzip.compress(&self.body) {
                    Ok(compressed) => compressed,
                    Err(sent) => return sent,
                }
            }
            None => &self.body[..],
        };
        let request = match http_client::with_headers_file(request, self.headers_file.as_deref()) {
            Ok(request) => request,
            Err(reason) => return Sent::Retry { reason, after: None },
        };
        let mut response = match request.send(body) {
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

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::logs::v1::LogRecord;

    use super::*;
    use crate::export::spec;

    #[test]
    fn a_spliced_request_decodes_as_the_generated_types() {
        let spec::SinkKind::Otlp(remote) = spec::parse("otlp,endpoint=http://c:4318").unwrap().kind
        else {
            panic!()
        };
        let origin = crate::test_support::origin();
        let otlp = Otlp::new(&remote, &origin).unwrap();
        let records: Vec<LogRecord> = (0..3)
            .map(|i| LogRecord { event_name: format!("e{i}"), ..LogRecord::default() })
            .collect();
        // As spooled now, and as earlier agents did (base64 lines).
        let mut framed = Vec::new();
        let mut lines = Vec::new();
        for r in &records {
            Framing::Lengths.write(&mut framed, &r.encode_to_vec()).unwrap();
            lines.extend(STANDARD.encode(r.encode_to_vec()).into_bytes());
            lines.push(b'\n');
        }
        lines.extend(b"not base64 at all!\n");
        let mut bytes = Vec::new();
        let unreadable = otlp.request(&Batch::for_test(framed, 3, Framing::Lengths), &mut bytes);
        assert_eq!(unreadable, 0);
        let mut old = b"the buffer's earlier request".to_vec();
        let unreadable = otlp.request(&Batch::for_test(lines, 4, Framing::Lines), &mut old);
        assert_eq!(unreadable, 1);
        assert_eq!(old, bytes, "the same request from either spool");
        let request = ExportLogsServiceRequest::decode(&bytes[..]).unwrap();
        let resource = &request.resource_logs[0];
        let names: Vec<&str> = resource
            .resource
            .as_ref()
            .unwrap()
            .attributes
            .iter()
            .map(|kv| kv.key.as_str())
            .collect();
        assert_eq!(names, ["service.name", "service.version", "host.name", "k8s.cluster.name"]);
        assert_eq!(resource.scope_logs[0].scope.as_ref().unwrap().name, "palisade");
        assert_eq!(resource.scope_logs[0].log_records, records);
    }
}
