//! A bundle's data, laid out as OPA's bundle loader lays it out: only files
//! named `data.json`, `data.yaml` or `data.yml` hold data, each mounted at
//! its directory's path (`palisade/config/data.json` is
//! `data.palisade.config`) and merged; two files setting the same value is
//! an error naming both. A data file at the bundle root must hold an
//! object; below it, any value (`palisade/config/mode/data.json` may hold
//! `"audit"`). The manifest's roots bound the data as they bound the
//! packages.
//!
//! OPA ignores every other JSON and YAML file. Palisade refuses them: it
//! used to merge them at the data root, and a bundle written for that must
//! not lose its config silently.

use serde_json::{Map, Value};

use super::{
    PolicyError,
    bundle::{SourceFile, under},
};

const DATA_FILES: &[&str] = &["data.json", "data.yaml", "data.yml"];

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Whether OPA reads `path` (relative to the bundle root) as data.
pub fn is_data_file(path: &str) -> bool {
    DATA_FILES.contains(&file_name(path))
}

/// The data path where the data file `path` is mounted: its directory's
/// components (none at the bundle root).
pub fn mount_of(path: &str) -> Vec<&str> {
    let dir = path.rsplit_once('/').map_or("", |(dir, _)| dir);
    dir.split('/').filter(|c| !c.is_empty() && *c != ".").collect()
}

/// Every data file's value mounted at its path, merged.
pub fn mount_all(files: &[SourceFile]) -> Result<Value, PolicyError> {
    let mut data = Value::Object(Map::new());
    for (i, file) in files.iter().enumerate() {
        let tree = mounted(file)?;
        if let Some(conflict) = conflict(&data, &tree, &mut Vec::new()) {
            let other = files[..i]
                .iter()
                .find(|f| mounted(f).is_ok_and(|t| lookup(&t, &conflict).is_some()))
                .map_or("another file", |f| f.path.as_str());
            return Err(PolicyError::Bundle {
                location: file.path.clone(),
                reason: format!("data `{}` is also set by {other}", conflict.join(".")),
            });
        }
        merge(&mut data, tree);
    }
    Ok(data)
}

/// The file's value as a tree from the data root.
fn mounted(file: &SourceFile) -> Result<Value, PolicyError> {
    let mut value = parse(file)?;
    let at = mount_of(&file.path);
    if at.is_empty() && !value.is_object() {
        return Err(PolicyError::Bundle {
            location: file.path.clone(),
            reason: "a data file at the bundle root must hold an object".into(),
        });
    }
    for key in at.iter().rev() {
        value = Value::Object(Map::from_iter([(key.to_string(), value)]));
    }
    Ok(value)
}

/// The first path both trees set, unless both hold objects there (which
/// merge), as OPA's merge checks before it merges.
fn conflict(into: &Value, tree: &Value, at: &mut Vec<String>) -> Option<Vec<String>> {
    let (Value::Object(into), Value::Object(tree)) = (into, tree) else {
        return Some(at.clone());
    };
    for (key, value) in tree {
        if let Some(existing) = into.get(key) {
            at.push(key.clone());
            if let Some(path) = conflict(existing, value, at) {
                return Some(path);
            }
            at.pop();
        }
    }
    None
}

fn merge(into: &mut Value, tree: Value) {
    let (Value::Object(into), Value::Object(tree)) = (into, tree) else { return };
    for (key, value) in tree {
        match into.get_mut(&key) {
            Some(existing) => merge(existing, value),
            None => {
                into.insert(key, value);
            }
        }
    }
}

fn lookup<'a>(value: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(value, |v, key| v.get(key))
}

fn parse(file: &SourceFile) -> Result<Value, PolicyError> {
    if file.path.ends_with(".json") {
        return serde_json::from_str(&file.text).map_err(|e| PolicyError::Bundle {
            location: format!("{}:{}", file.path, e.line()),
            reason: format!("invalid JSON: {e}"),
        });
    }
    let value = regorus::Value::from_yaml_str(&file.text).map_err(|e| PolicyError::Bundle {
        location: file.path.clone(),
        reason: format!("invalid YAML: {e}"),
    })?;
    serde_json::to_value(&value).map_err(|e| PolicyError::Bundle {
        location: file.path.clone(),
        reason: format!("YAML that JSON cannot hold: {e}"),
    })
}

/// The error for a JSON or YAML file OPA does not read as data (which
/// Palisade once merged at the data root): where its data must go now.
pub fn refuse_stray(file: &SourceFile) -> PolicyError {
    let dir = file.path.rsplit_once('/').map_or(String::new(), |(dir, _)| format!("{dir}/"));
    let value = parse(file).unwrap_or_default();
    let keys = single_key_chain(&value);
    let hint = match keys.is_empty() {
        true => format!("its data goes in {dir}data.json"),
        false => format!("move its data.{} to {dir}{}/data.json", keys.join("."), keys.join("/")),
    };
    PolicyError::Bundle {
        location: file.path.clone(),
        reason: format!(
            "not read: an OPA bundle takes data only from files named data.json or data.yaml, \
             each mounted at its directory's path; {hint}"
        ),
    }
}

/// The keys down to the first value that is not an object with one key
/// (`{"palisade": {"config": {..}}}` gives `palisade`, `config`); stops at a
/// key that cannot be a directory name.
fn single_key_chain(mut value: &Value) -> Vec<&str> {
    let mut keys = Vec::new();
    while let Some((key, inner)) =
        value.as_object().filter(|m| m.len() == 1).and_then(|m| m.iter().next())
    {
        if key.is_empty() || key.contains('/') || key.starts_with('.') {
            break;
        }
        keys.push(key.as_str());
        value = inner;
    }
    keys
}

/// Every data path lies under one of `roots` (`/`-separated; none, or an
/// empty one, allows all), as OPA checks: a value outside them, or a
/// non-object on the way to one, is an error naming the file that set it.
pub fn check_roots(
    data: &Value,
    roots: &[String],
    files: &[SourceFile],
) -> Result<(), PolicyError> {
    if roots.is_empty() || roots.iter().any(String::is_empty) {
        return Ok(());
    }
    let Err(path) = walk_roots(data, "", roots) else { return Ok(()) };
    let file = files.iter().find(|f| {
        let mount = mount_of(&f.path).join("/");
        under(&path, &mount) || under(&mount, &path)
    });
    Err(PolicyError::Bundle {
        location: file.map_or_else(|| path.clone(), |f| f.path.clone()),
        reason: format!(
            "data `{}` is outside the manifest's roots [{}]",
            path.replace('/', "."),
            roots.join(", ")
        ),
    })
}

/// Like OPA's check: a path within a root is fine; an object on the way
/// to one is walked; anything else is outside. The offending path.
fn walk_roots(value: &Value, at: &str, roots: &[String]) -> Result<(), String> {
    if roots.iter().any(|r| under(at, r)) {
        return Ok(());
    }
    let on_the_way = roots.iter().any(|r| under(r, at));
    let Value::Object(map) = value else { return Err(at.to_string()) };
    if !on_the_way {
        return Err(at.to_string());
    }
    for (key, v) in map {
        let path = if at.is_empty() { key.clone() } else { format!("{at}/{key}") };
        walk_roots(v, &path, roots)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn file(path: &str, text: &str) -> SourceFile {
        SourceFile { path: path.into(), text: text.into() }
    }

    #[test]
    fn data_files_mount_at_their_directory() {
        let data = mount_all(&[
            file("data.json", r#"{"top": 1}"#),
            file("palisade/config/data.json", r#"{"shells": {"sh": true}}"#),
            file("palisade/config/mode/data.json", r#""audit""#),
            file("palisade/exceptions/data.yaml", "- id: E-1\n"),
        ])
        .unwrap();
        assert_eq!(
            data,
            json!({"top": 1, "palisade": {
                "config": {"shells": {"sh": true}, "mode": "audit"},
                "exceptions": [{"id": "E-1"}],
            }})
        );
        assert!(is_data_file("a/data.yml") && !is_data_file("a/config.json"));
    }

    #[test]
    fn conflicts_name_both_files() {
        let err = mount_all(&[
            file("palisade/data.json", r#"{"config": {"mode": "audit"}}"#),
            file("palisade/config/mode/data.json", r#""enforce""#),
        ])
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "palisade/config/mode/data.json: data `palisade.config.mode` is also set by palisade/data.json"
        );
        let err = mount_all(&[file("data.json", "[1]")]).unwrap_err().to_string();
        assert_eq!(err, "data.json: a data file at the bundle root must hold an object");
    }

    #[test]
    fn a_stray_data_file_says_where_its_data_goes() {
        let config = file("config.json", r#"{"palisade": {"config": {"a": 1, "b": 2}}}"#);
        let err = refuse_stray(&config).to_string();
        assert!(err.starts_with("config.json: not read: an OPA bundle takes data only"), "{err}");
        assert!(
            err.ends_with("move its data.palisade.config to palisade/config/data.json"),
            "{err}"
        );
        let err = refuse_stray(&file("lib/x.yaml", "a: 1\nb: 2\n")).to_string();
        assert!(err.ends_with("its data goes in lib/data.json"), "{err}");
    }

    #[test]
    fn roots_bound_the_data_as_in_opa() {
        let files = [file("palisade/config/data.json", "{}"), file("other/data.json", "1")];
        let data = mount_all(&files).unwrap();
        let roots = ["palisade".to_string()];
        let err = check_roots(&data, &roots, &files).unwrap_err().to_string();
        assert_eq!(err, "other/data.json: data `other` is outside the manifest's roots [palisade]");
        assert!(check_roots(&data, &["palisade".into(), "other".into()], &files).is_ok());
        // A value on the way to a root that is not an object is outside.
        let files = [file("palisade/data.json", "1")];
        let data = mount_all(&files).unwrap();
        let err = check_roots(&data, &["palisade/config".into()], &files).unwrap_err();
        assert!(err.to_string().contains("data `palisade` is outside"), "{err}");
    }
}
