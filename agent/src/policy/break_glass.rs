//! Break-glass: a pre-authorised, scoped, time-boxed override of rules that
//! needs no bundle change. `palisade break-glass` writes an *order* (a JSON
//! file) into a directory every agent reads with its bundle (a hostPath, or
//! a ConfigMap mounted on every node); an agent that sees it adds it to the
//! bundle as an exception (`break-glass-<id>`, flagged `break_glass`), so
//! it relaxes exactly what an exception with that scope would, in the Rego
//! and in the kernel, and ends by itself when it expires.
//!
//! What may be broken, for whom and for how long is the bundle's to say
//! (`config.break_glass`: `max_ttl`, `rules`, `allow_unscoped`); a bundle
//! without it allows none. An order outside its limits is refused and
//! logged; it never makes the bundle invalid.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::bundle::Bundle;
use crate::model::time::{parse_rfc3339_ns, rfc3339_ns};

/// Where orders are written and read unless told otherwise.
pub const DEFAULT_DIR: &str = "/var/lib/palisade/break-glass";

/// Prefix of the exception ids orders become.
pub const ID_PREFIX: &str = "break-glass-";

/// One order, as `palisade break-glass` writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Order {
    pub id: String,
    pub rules: Vec<String>,
    /// Exception scope keys (namespace, pod_labels, image, binary, ...).
    pub scope: Map<String, Value>,
    pub reason: String,
    /// Who broke the glass.
    pub by: String,
    pub issued: String,
    pub expires: String,
}

/// What the bundle allows (`config.break_glass`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct Limits {
    /// Longest order, e.g. `30m`.
    max_ttl: String,
    /// Rule ids an order may name; `["*"]` for any.
    rules: Vec<String>,
    /// Whether an order may have an empty scope (every workload).
    #[serde(default)]
    allow_unscoped: bool,
}

impl Order {
    /// A new order from the command line's values, issued `now_ns`.
    pub fn new(
        rules: Vec<String>,
        scope: Map<String, Value>,
        ttl: Duration,
        reason: String,
        by: String,
        now_ns: i128,
    ) -> Self {
        let issued = rfc3339_ns(now_ns);
        let expires = rfc3339_ns(now_ns + ttl.as_nanos() as i128);
        let what =
            format!("{issued}{expires}{by}{reason}{rules:?}{}", Value::Object(scope.clone()));
        let digest = Sha256::digest(what.as_bytes());
        let id = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
        Self { id, rules, scope, reason, by, issued, expires }
    }

    /// The file it lives in, in `dir`.
    pub fn path(&self, dir: &Path) -> PathBuf {
        dir.join(format!("{}.json", self.id))
    }

    /// Why the bundle's `limits` refuse it, if they do.
    fn refused(&self, limits: Option<&Limits>) -> Option<String> {
        let Some(limits) = limits else {
            return Some("the bundle allows no break-glass (config.break_glass)".into());
        };
        let (issued, expires) = (parse_rfc3339_ns(&self.issued), parse_rfc3339_ns(&self.expires));
        let (Some(issued), Some(expires)) = (issued, expires) else {
            return Some("issued and expires must be RFC 3339 times".into());
        };
        let max = match parse_duration(&limits.max_ttl) {
            Ok(max) => max,
            Err(e) => return Some(format!("config.break_glass.max_ttl: {e}")),
        };
        if expires - issued > max.as_nanos() as i128 {
            return Some(format!(
                "lasts longer than config.break_glass.max_ttl ({})",
                limits.max_ttl
            ));
        }
        if self.rules.is_empty() {
            return Some("names no rule".into());
        }
        let any = limits.rules.iter().any(|r| r == "*");
        if let Some(rule) = self.rules.iter().find(|r| !any && !limits.rules.contains(r)) {
            return Some(format!("rule {rule} is not in config.break_glass.rules"));
        }
        if self.scope.is_empty() && !limits.allow_unscoped {
            return Some("has an empty scope, which config.break_glass does not allow".into());
        }
        if self.by.trim().is_empty() || self.reason.trim().is_empty() {
            return Some("must say who broke the glass and why".into());
        }
        None
    }

    /// The exception it becomes.
    fn exception(&self) -> Value {
        json!({
            "id": format!("{ID_PREFIX}{}", self.id),
            "rules": self.rules,
            "scope": self.scope,
            "owner": self.by,
            "reason": format!("break-glass: {}", self.reason),
            "expires": self.expires,
            "break_glass": true,
            "everywhere": self.scope.is_empty(),
        })
    }
}

/// What reading the orders came to: each refused order's file and reason.
pub type Refusals = Vec<(PathBuf, String)>;

/// Adds the orders in `dir` that are in force at `now_ns` and within the
/// bundle's limits to `bundle` as exceptions, and folds them into its
/// digest (so a new order is a new bundle to the reloader). A missing
/// directory holds no orders. (The reloader reads the orders and adds them
/// in two steps, to leave a bundle no order changes uncopied.)
#[cfg(test)]
fn apply(bundle: &mut Bundle, dir: &Path, now_ns: i128) -> Refusals {
    let (in_force, refusals) = orders_in_force(bundle, dir, now_ns);
    add(bundle, &in_force);
    refusals
}

/// The orders in `dir` in force at `now_ns` that `bundle`'s limits allow,
/// and the refused ones; `bundle` is only read, so a caller that finds
/// none keeps it as it is.
pub fn orders_in_force(bundle: &Bundle, dir: &Path, now_ns: i128) -> (Vec<Order>, Refusals) {
    let limits: Option<Limits> = bundle.data["palisade"]["config"]
        .get("break_glass")
        .and_then(|v| serde_json::from_value(v.clone()).ok());
    let mut refusals = Vec::new();
    let mut applied = Vec::new();
    for (path, order) in read_orders(dir) {
        let order = match order {
            Ok(order) => order,
            Err(reason) => {
                refusals.push((path, reason));
                continue;
            }
        };
        let in_force = parse_rfc3339_ns(&order.expires).is_some_and(|e| e > now_ns);
        if !in_force {
            continue;
        }
        match order.refused(limits.as_ref()) {
            Some(reason) => refusals.push((path, reason)),
            None => applied.push(order),
        }
    }
    (applied, refusals)
}

/// Adds `orders` to `bundle` as exceptions, its digest changed with them.
pub fn add(bundle: &mut Bundle, orders: &[Order]) {
    if orders.is_empty() {
        return;
    }
    let exceptions = &mut bundle.data["palisade"]["exceptions"];
    if !exceptions.is_array() {
        *exceptions = Value::Array(Vec::new());
    }
    let list = exceptions.as_array_mut().expect("made an array");
    let mut hasher = Sha256::new();
    hasher.update(bundle.digest.as_bytes());
    for order in orders {
        list.push(order.exception());
        hasher.update(serde_json::to_vec(order).unwrap_or_default());
    }
    bundle.digest = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
}

/// Largest order file read.
const ORDER_MAX_BYTES: u64 = 64 << 10;

/// Every `*.json` file in `dir`, in name order, read as an order. An order
/// opens rules on the node, so only root may have written it, as sshd's
/// StrictModes asks of `authorized_keys`: the directory and the file must
/// be root's and writable by no one else, and the file a regular one (a
/// FIFO must not hang the reloader).
fn read_orders(dir: &Path) -> Vec<(PathBuf, Result<Order, String>)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    let dir_refused = std::fs::metadata(dir)
        .map_err(|e| e.to_string())
        .and_then(|meta| root_only(&meta, "its directory"))
        .err();
    paths
        .into_iter()
        .map(|path| {
            let order = match &dir_refused {
                Some(reason) => Err(reason.clone()),
                None => read_order(&path),
            };
            (path, order)
        })
        .collect()
}

fn read_order(path: &Path) -> Result<Order, String> {
    let (bytes, meta) = super::bundle::read_capped(path, ORDER_MAX_BYTES)?;
    root_only(&meta, "the order")?;
    if bytes.len() as u64 > ORDER_MAX_BYTES {
        return Err(format!("the order is over {ORDER_MAX_BYTES} bytes"));
    }
    serde_json::from_slice(&bytes).map_err(|e| e.to_string())
}

/// Refuses what someone other than root wrote or could write.
fn root_only(meta: &std::fs::Metadata, what: &str) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    if meta.uid() != 0 {
        return Err(format!("{what} is owned by uid {}, not root", meta.uid()));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "{what} is writable by group or others (mode {:o}); only root may write orders",
            meta.mode() & 0o7777
        ));
    }
    Ok(())
}

/// `90s`, `15m`, `2h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let (digits, unit) =
        text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let n: u64 = digits.parse().map_err(|_| format!("`{text}` is not a duration like 15m"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("`{text}`: the unit must be s, m or h")),
    };
    Ok(Duration::from_secs(secs))
}

#[derive(Debug, clap::Args)]
pub struct BreakGlassArgs {
    /// A rule to override (repeat for several).
    #[arg(long = "rule", value_name = "ID", required_unless_present = "revoke")]
    rules: Vec<String>,
    /// Whom it covers: an exception scope as JSON, e.g.
    /// '{"namespace": "payments"}' (required; `{}` only where the bundle
    /// allows an unscoped order).
    #[arg(long, value_name = "JSON", required_unless_present = "revoke")]
    scope: Option<String>,
    /// How long, e.g. 15m (at most the bundle's config.break_glass.max_ttl).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, required_unless_present = "revoke")]
    ttl: Option<Duration>,
    /// Why, for the record.
    #[arg(long, required_unless_present = "revoke")]
    reason: Option<String>,
    /// Who, for the record.
    #[arg(long, value_name = "WHO", required_unless_present = "revoke")]
    by: Option<String>,
    /// End the order with this id now.
    #[arg(long, value_name = "ID", conflicts_with_all = ["rules", "scope", "ttl"])]
    revoke: Option<String>,
    /// Where orders are written: the directory the agents read
    /// (`palisade run --break-glass-dir`).
    #[arg(long, value_name = "DIR", default_value = DEFAULT_DIR)]
    dir: PathBuf,
}

/// `palisade break-glass`: writes (or removes) one order, atomically.
pub fn cli(args: BreakGlassArgs) -> anyhow::Result<()> {
    if let Some(id) = args.revoke {
        let id = id.strip_prefix(ID_PREFIX).unwrap_or(&id);
        let path = args.dir.join(format!("{id}.json"));
        std::fs::remove_file(&path)
            .map_err(|e| anyhow::anyhow!("--revoke {id}: {}: {e}", path.display()))?;
        println!("revoked break-glass {id}: the agents re-arm within a second or two");
        return Ok(());
    }
    let scope_text = args.scope.unwrap_or_default();
    let scope: Map<String, Value> = serde_json::from_str(&scope_text)
        .map_err(|e| anyhow::anyhow!("--scope `{scope_text}`: not a JSON object: {e}"))?;
    let ttl = args.ttl.unwrap_or_default();
    let now = i128::from(crate::model::time::now_ns());
    let order = Order::new(
        args.rules,
        scope,
        ttl,
        args.reason.unwrap_or_default(),
        args.by.unwrap_or_default(),
        now,
    );
    // Modes the agents accept whatever the umask: root's, written by no
    // one else (see `read_orders`).
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(&args.dir)
        .map_err(|e| anyhow::anyhow!("--dir {}: {e}", args.dir.display()))?;
    let path = order.path(&args.dir);
    let partial = path.with_extension("json.partial");
    let write = |bytes: &[u8]| {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .open(&partial)?;
        file.write_all(bytes)?;
        std::fs::rename(&partial, &path)
    };
    write(&serde_json::to_vec_pretty(&order)?)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    println!(
        "break-glass {}{} written to {}: rules {} for {} until {} (revoke: palisade break-glass --revoke {})",
        ID_PREFIX,
        order.id,
        path.display(),
        order.rules.join(","),
        Value::Object(order.scope.clone()),
        order.expires,
        order.id
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle(limits: Value) -> Bundle {
        let mut b = Bundle::embedded();
        b.data["palisade"]["config"]["break_glass"] = limits;
        b
    }

    fn order(dir: &Path, rules: &[&str], scope: Value, ttl: u64) -> Order {
        let scope = scope.as_object().unwrap().clone();
        let rules = rules.iter().map(|r| r.to_string()).collect();
        let o = Order::new(rules, scope, Duration::from_secs(ttl), "r".into(), "sre@x".into(), 0);
        std::fs::write(o.path(dir), serde_json::to_string(&o).unwrap()).unwrap();
        o
    }

    #[test]
    fn orders_within_the_limits_become_exceptions_and_change_the_digest() {
        let dir = crate::test_support::scratch("break-glass-ok");
        let limits = json!({"max_ttl": "30m", "rules": ["PAL-010"]});
        let mut b = bundle(limits);
        let before = (b.digest.clone(), b.data["palisade"]["exceptions"].as_array().unwrap().len());
        let o = order(&dir, &["PAL-010"], json!({"namespace": "shop"}), 600);
        assert!(apply(&mut b, &dir, 1).is_empty());
        let list = b.data["palisade"]["exceptions"].as_array().unwrap();
        assert_eq!(list.len(), before.1 + 1);
        let added = list.last().unwrap();
        assert_eq!(added["id"], format!("break-glass-{}", o.id));
        assert_eq!(added["scope"]["namespace"], "shop");
        assert_eq!(added["break_glass"], true);
        assert_ne!(b.digest, before.0);
        // Past its expiry it is not applied at all.
        let mut later = bundle(json!({"max_ttl": "30m", "rules": ["*"]}));
        assert!(apply(&mut later, &dir, 601 * 1_000_000_000).is_empty());
        assert_eq!(later.data["palisade"]["exceptions"].as_array().unwrap().len(), before.1);
    }

    #[test]
    fn orders_outside_the_limits_are_refused_with_their_reason() {
        let dir = crate::test_support::scratch("break-glass-refused");
        order(&dir, &["PAL-010"], json!({"namespace": "shop"}), 7200);
        order(&dir, &["PAL-001"], json!({"namespace": "shop"}), 60);
        order(&dir, &["PAL-010"], json!({}), 60);
        std::fs::write(dir.join("garbage.json"), "{").unwrap();
        let mut b = bundle(json!({"max_ttl": "1h", "rules": ["PAL-010"]}));
        let digest = b.digest.clone();
        let reasons: Vec<String> = apply(&mut b, &dir, 1).into_iter().map(|r| r.1).collect();
        assert_eq!(reasons.len(), 4, "{reasons:?}");
        for needle in ["longer than", "PAL-001 is not in", "empty scope", "EOF"] {
            assert!(reasons.iter().any(|r| r.contains(needle)), "{needle}: {reasons:?}");
        }
        assert_eq!(b.digest, digest);
        let mut none = Bundle::embedded();
        let reasons = apply(&mut none, &dir, 1);
        assert!(reasons.iter().any(|r| r.1.contains("allows no break-glass")), "{reasons:?}");
    }

    /// Orders someone other than root wrote or could rewrite are refused,
    /// and so is a FIFO (which must not hang the reloader).
    #[test]
    fn only_root_may_write_orders() {
        use std::os::unix::fs::PermissionsExt;
        let limits = json!({"max_ttl": "1h", "rules": ["PAL-010"]});
        let refusals = |dir: &Path| -> Vec<String> {
            apply(&mut bundle(limits.clone()), dir, 1).into_iter().map(|r| r.1).collect()
        };
        let dir = crate::test_support::scratch("break-glass-owner");
        let o = order(&dir, &["PAL-010"], json!({"namespace": "shop"}), 60);
        assert!(refusals(&dir).is_empty());

        std::fs::set_permissions(o.path(&dir), std::fs::Permissions::from_mode(0o666)).unwrap();
        assert!(refusals(&dir)[0].contains("the order is writable by group or others (mode 666)"));
        std::fs::set_permissions(o.path(&dir), std::fs::Permissions::from_mode(0o644)).unwrap();
        std::os::unix::fs::chown(o.path(&dir), Some(65534), None).unwrap();
        assert_eq!(refusals(&dir), ["the order is owned by uid 65534, not root"]);
        std::fs::remove_file(o.path(&dir)).unwrap();

        let fifo = std::ffi::CString::new(dir.join("fifo.json").to_str().unwrap()).unwrap();
        // SAFETY: a valid path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        assert!(refusals(&dir)[0].contains("not a regular file"), "{:?}", refusals(&dir));
        std::fs::remove_file(dir.join("fifo.json")).unwrap();

        order(&dir, &["PAL-010"], json!({"namespace": "shop"}), 60);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(refusals(&dir)[0].contains("its directory is writable by group or others"));
    }
}
