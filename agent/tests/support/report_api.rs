//! A stand-in for the Kubernetes API server's `wgpolicyk8s.io/v1alpha2`
//! endpoints, answering as the real one does (bodies from
//! `tests/fixtures/k8s/policyreport*.json`, see its README; no API server
//! runs here): it keeps the objects written, with the metadata the server
//! sets (resourceVersion, uid, generation, creationTimestamp), refuses a
//! create of an existing name (409 AlreadyExists) and an update carrying a
//! stale resourceVersion (409 Conflict), answers 404 NotFound for what is
//! not there, lists by label selector. A test can queue a concurrent write:
//! the next PUT to a path finds the object changed by someone else.
//! Every request is recorded (method, target, Authorization, body).

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader, Read, Write},
    net::{TcpListener, TcpStream},
    sync::{Arc, Mutex},
};

use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub target: String,
    pub authorization: String,
    pub body: Value,
}

#[derive(Default)]
struct State {
    /// path (no query) → stored object
    objects: BTreeMap<String, Value>,
    version: u64,
    requests: Vec<Request>,
    /// Paths whose next PUT meets a concurrent write first.
    race: Vec<String>,
}

#[derive(Clone)]
pub struct ReportApi {
    pub port: u16,
    state: Arc<Mutex<State>>,
}

pub const PREFIX: &str = "/apis/wgpolicyk8s.io/v1alpha2";

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/k8s/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
        .unwrap()
}

impl ReportApi {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State { version: 190_245, ..State::default() }));
        let api = ReportApi { port, state };
        let server = api.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let server = server.clone();
                std::thread::spawn(move || server.connection(stream));
            }
        });
        api
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.state.lock().unwrap().requests.clone()
    }

    pub fn clear_requests(&self) {
        self.state.lock().unwrap().requests.clear();
    }

    /// The stored objects, by path.
    pub fn objects(&self) -> BTreeMap<String, Value> {
        self.state.lock().unwrap().objects.clone()
    }

    /// The next PUT to `path` finds that someone else updated the object
    /// after it was read: its resourceVersion moved on.
    pub fn race_next_update(&self, path: &str) {
        self.state.lock().unwrap().race.push(path.to_string());
    }

    fn connection(&self, stream: TcpStream) {
        let mut input = BufReader::new(stream.try_clone().unwrap());
        let mut out = stream;
        loop {
            let (mut head, mut auth, mut length) = (String::new(), String::new(), 0usize);
            let mut line = String::new();
            loop {
                line.clear();
                if input.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                if line == "\r\n" {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if head.is_empty() {
                    head = line.trim().to_string();
                } else if let Some(v) = lower.strip_prefix("authorization:") {
                    auth = line[line.len() - v.len()..].trim().to_string();
                } else if let Some(v) = lower.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            input.read_exact(&mut body).unwrap();
            let mut parts = head.split_whitespace();
            let method = parts.next().unwrap_or_default().to_string();
            let target = parts.next().unwrap_or_default().to_string();
            let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let (status, answer) = self.answer(&method, &target, &body);
            self.state.lock().unwrap().requests.push(Request {
                method,
                target,
                authorization: auth,
                body,
            });
            let text = answer.to_string();
            let reason = match status {
                200 => "OK",
                201 => "Created",
                404 => "Not Found",
                409 => "Conflict",
                _ => "Bad Request",
            };
            let response = format!(
                "HTTP/1.1 {status} {reason}\r\nAudit-Id: 0f6c5e2e-8d1b-4a8e-9d7a-2b1c3d4e5f60\r\nCache-Control: no-cache, private\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{text}",
                text.len()
            );
            if out.write_all(response.as_bytes()).is_err() {
                return;
            }
        }
    }

    fn answer(&self, method: &str, target: &str, body: &Value) -> (u16, Value) {
        let mut state = self.state.lock().unwrap();
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        match method {
            "GET"
                if path == format!("{PREFIX}/policyreports")
                    || path == format!("{PREFIX}/clusterpolicyreports") =>
            {
                let cluster = path.ends_with("/clusterpolicyreports");
                let selector = query.strip_prefix("labelSelector=").unwrap_or_default();
                let (key, value) = selector.split_once("%3D").unwrap_or((selector, ""));
                let mut list = fixture("policyreportlist.json");
                if cluster {
                    list["kind"] = "ClusterPolicyReportList".into();
                }
                list["metadata"]["resourceVersion"] = state.version.to_string().into();
                list["items"] = state
                    .objects
                    .iter()
                    .filter(|(p, _)| p.contains("/clusterpolicyreports/") == cluster)
                    .filter(|(_, o)| selector.is_empty() || o["metadata"]["labels"][key] == value)
                    .map(|(_, o)| o.clone())
                    .collect();
                (200, list)
            }
            "GET" => match state.objects.get(path) {
                Some(o) => (200, o.clone()),
                None => (404, fixture("policyreport-notfound.json")),
            },
            "POST" => {
                let item = format!("{path}/{}", body["metadata"]["name"].as_str().unwrap());
                if state.objects.contains_key(&item) {
                    return (409, fixture("policyreport-exists.json"));
                }
                state.version += 1;
                let mut stored = body.clone();
                let server_set = fixture("policyreport-stored.json")["metadata"].clone();
                let meta = stored["metadata"].as_object_mut().unwrap();
                for (k, v) in server_set.as_object().unwrap() {
                    meta.insert(k.clone(), v.clone());
                }
                meta.insert("resourceVersion".into(), state.version.to_string().into());
                meta.insert("uid".into(), format!("uid-{}", state.version).into());
                state.objects.insert(item, stored.clone());
                (201, stored)
            }
            "PUT" => {
                if let Some(i) = state.race.iter().position(|p| p == path) {
                    state.race.remove(i);
                    state.version += 1;
                    let v = state.version.to_string();
                    if let Some(o) = state.objects.get_mut(path) {
                        o["metadata"]["resourceVersion"] = v.into();
                    }
                }
                let Some(current) = state.objects.get(path).cloned() else {
                    return (404, fixture("policyreport-notfound.json"));
                };
                if body["metadata"]["resourceVersion"] != current["metadata"]["resourceVersion"] {
                    return (409, fixture("policyreport-conflict.json"));
                }
                state.version += 1;
                let mut stored = body.clone();
                let meta = stored["metadata"].as_object_mut().unwrap();
                for key in ["creationTimestamp", "managedFields", "uid"] {
                    meta.insert(key.into(), current["metadata"][key].clone());
                }
                let generation = current["metadata"]["generation"].as_u64().unwrap_or(1) + 1;
                meta.insert("generation".into(), generation.into());
                meta.insert("resourceVersion".into(), state.version.to_string().into());
                state.objects.insert(path.to_string(), stored.clone());
                (200, stored)
            }
            "DELETE" => match state.objects.remove(path) {
                Some(_) => (200, fixture("policyreport-deleted.json")),
                None => (404, fixture("policyreport-notfound.json")),
            },
            _ => (400, json!({"kind": "Status", "code": 400})),
        }
    }
}

/// The `v1alpha2` openAPIV3Schema of a vendored CRD
/// (deploy/crds/wgpolicyk8s.io/), as a JSON Schema that also refuses what
/// the API server would prune: an object that lists its `properties` (and
/// does not preserve unknown fields) gets `additionalProperties: false`, so
/// a field the CRD does not know fails instead of vanishing silently.
pub fn crd_schema(file: &str) -> Value {
    let path = format!("{}/../deploy/crds/wgpolicyk8s.io/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let crd: Value = yaml_serde::from_str(&text).unwrap();
    let version = crd["spec"]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "v1alpha2")
        .expect("the CRD serves v1alpha2");
    let mut schema = version["schema"]["openAPIV3Schema"].clone();
    fn close(schema: &mut Value) {
        let Some(obj) = schema.as_object_mut() else { return };
        let preserves = obj.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
        if obj.contains_key("properties") && !obj.contains_key("additionalProperties") && !preserves
        {
            obj.insert("additionalProperties".into(), Value::Bool(false));
        }
        if let Some(Value::Object(properties)) = obj.get_mut("properties") {
            properties.values_mut().for_each(close);
        }
        for key in ["items", "additionalProperties"] {
            if let Some(sub) = obj.get_mut(key) {
                close(sub);
            }
        }
    }
    close(&mut schema);
    schema
}
