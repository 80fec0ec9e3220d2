//! What the agent keeps of each rule's `meta` and each exception, shared by
//! the validation that reads them ([`super::validate`]), the compiled
//! policy ([`super::compiled`]) and the kernel plan ([`super::kernel_plan`]),
//! so the plan does not depend on the compiler.

use super::triggers::Triggers;

/// One rule's metadata, from its module's `meta`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RuleMeta {
    pub id: String,
    pub title: String,
    pub severity: String,
    pub mitre: String,
    pub action: String,
    pub kinds: Vec<String>,
    /// `data.palisade.rules.<name>`
    pub package: String,
    pub file: String,
    /// When the rule is considered at all (`meta.triggers`).
    #[serde(skip)]
    pub triggers: Triggers,
    /// `meta` as the module defines it, for the kernel policy
    /// (policies/kernel.rego reads it).
    #[serde(skip)]
    pub as_written: serde_json::Value,
}

/// One exception, as far as the agent needs it (expiry reporting).
#[derive(Debug, Clone)]
pub struct ExceptionInfo {
    pub id: String,
    pub owner: String,
    pub expires: String,
    pub expires_ns: i128,
    /// The ids of the rules it covers.
    pub rules: Vec<String>,
    /// Its `scope` object, as written.
    pub scope: serde_json::Value,
    pub reason: String,
    /// Added by a break-glass order (`policy::break_glass`), not written in
    /// the bundle.
    pub break_glass: bool,
}
