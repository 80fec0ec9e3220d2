//! `palisade policy test`: runs every `test_*` rule of the bundle's
//! `*_test.rego` files, as `opa test` does.

use regorus::Value;

use super::{
    PolicyError,
    bundle::Bundle,
    engine::{add_module, limited_engine},
    one_line, parallel,
};

/// Budget of one test rule, against runaway recursion rather than for
/// speed: the heaviest tests run every sample event through every rule
/// (about 1.5 s alone), and the test run shares two cores with the VM's
/// emulation, where 5 s was exceeded.
const TEST_TIME_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(Debug)]
pub struct TestResult {
    /// `data.<package>.<rule>`
    pub name: String,
    /// None when passed; the reason otherwise.
    pub failure: Option<String>,
}

/// Every test rule in `bundle`, evaluated against the whole bundle.
pub fn run(bundle: &Bundle) -> Result<Vec<TestResult>, PolicyError> {
    let mut engine = limited_engine(TEST_TIME_LIMIT);
    for file in bundle.modules.iter().chain(&bundle.tests) {
        add_module(&mut engine, &file.path, &file.text)?;
    }
    engine
        .add_data(Value::from(bundle.data.clone()))
        .map_err(|e| PolicyError::invalid(&bundle.origin, one_line(&e)))?;
    let mut names = Vec::new();
    for file in &bundle.tests {
        let Some(package) = package_of(&file.text) else {
            return Err(PolicyError::invalid(format!("{}:1", file.path), "no package declaration"));
        };
        names
            .extend(test_rule_names(&file.text).into_iter().map(|n| format!("data.{package}.{n}")));
    }
    // Tests are independent: they run on a copy of the engine per thread
    // (at most 4), and come back in the bundle's order.
    Ok(parallel::map_in_order(&names, 4, || engine.clone(), |engine, name| evaluate(engine, name)))
}

fn evaluate(engine: &mut regorus::Engine, name: &str) -> TestResult {
    let failure = match engine.eval_rule(name.to_string()) {
        Ok(Value::Bool(true)) => None,
        Ok(Value::Undefined) => Some("undefined (a condition did not hold)".to_string()),
        Ok(other) => Some(format!("gave {other} instead of true")),
        Err(e) => Some(one_line(&e)),
    };
    TestResult { name: name.to_string(), failure }
}

fn package_of(text: &str) -> Option<String> {
    text.lines().find_map(|l| l.trim().strip_prefix("package ").map(|p| p.trim().to_string()))
}

/// Names of rules defined at the start of a line as `test_<name>`, once each.
fn test_rule_names(text: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for line in text.lines() {
        if !line.starts_with("test_") {
            continue;
        }
        let name: String =
            line.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::bundle::SourceFile;

    fn bundle(files: &[(&str, &str)]) -> Bundle {
        let files = files
            .iter()
            .map(|(p, t)| SourceFile { path: p.to_string(), text: t.to_string() })
            .collect();
        Bundle::from_files("t".into(), files).unwrap()
    }

    #[test]
    fn passes_and_fails_tests_and_names_them() {
        let b = bundle(&[
            ("m.rego", "package m\nimport rego.v1\nbig if input.n > 10\n"),
            (
                "m_test.rego",
                "package m_test\nimport rego.v1\ntest_big if data.m.big with input as {\"n\": 11}\n\
                 test_small_is_big if data.m.big with input as {\"n\": 1}\n",
            ),
        ]);
        let results = run(&b).unwrap();
        assert_eq!(results.len(), 2);
        assert_eq!(results[0].name, "data.m_test.test_big");
        assert!(results[0].failure.is_none());
        assert!(results[1].failure.is_some());
    }

    #[test]
    fn a_syntax_error_names_the_file_and_line() {
        let b = bundle(&[("m.rego", "package m\nimport rego.v1\nbig if {{ input.n >\n")]);
        let err = run(&b).unwrap_err().to_string();
        // The rule is cut off at the end of the file: the error points there.
        assert!(err.starts_with("m.rego:4:1: expecting expression"), "{err}");
    }
}
