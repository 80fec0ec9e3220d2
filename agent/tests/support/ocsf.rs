//! An OCSF event validator over the official schema files
//! (`schema/ocsf-1.1.0`), following the rules of the OCSF server's own
//! validator (ocsf-server, `Schema.Validator2`) and of its schema compiler:
//!
//! - classes and objects are compiled from their files: `$include`d files
//!   merged under the item's own attributes (a profile's attributes tagged
//!   with the profile), `extends` resolved recursively (an attribute set to
//!   `null` is removed), every attribute completed by its dictionary entry,
//!   and a `<name>_dt` attribute of the `datetime` profile beside every
//!   timestamp; a class's `class_uid`, `category_uid` and `type_uid` take
//!   the values its category, uid and activities give them;
//! - an attribute of a profile exists only when the event lists the profile
//!   in `metadata.profiles` (otherwise it is unknown, and not required);
//! - required attributes must be present (a `null` is absent), at the top
//!   level and in every object, recursively; missing recommended ones warn
//!   when asked;
//! - no attribute outside the class or object, except under an object with
//!   no attributes of its own (`unmapped`, `xattributes`);
//! - values have the type the dictionary gives (`integer_t` a 64-bit signed
//!   integer, `long_t` any integer, `float_t` a float, `boolean_t`,
//!   `string_t` within `max_len`, subtypes with their own `range`,
//!   `max_len` and `regex` and then their super type's; a regex that does
//!   not match only warns, as in the server);
//! - enum values must be defined; a sibling caption (`activity_name` for
//!   `activity_id`, ...) that differs from the enum's caption warns (for an
//!   array, it is an error), and so does a caption that repeats `Other` for
//!   99; deprecated classes, objects, attributes and enum values warn;
//! - `type_uid` is `class_uid * 100 + activity_id`; `metadata.version` is
//!   the schema's (an earlier one warns, a later one is an error);
//! - object and class constraints: `at_least_one`, `just_one`.
//!
//! The code is this project's own; it reads no server code at run time.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    path::{Path, PathBuf},
};

use serde_json::{Map, Value};

/// The schema this project emits, as vendored.
pub fn schema_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../schema/ocsf-1.1.0")
}

/// What the validator found in one event.
#[derive(Debug, Default)]
pub struct Report {
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
}

impl Report {
    fn error(&mut self, message: String) {
        self.errors.push(message);
    }

    fn warn(&mut self, message: String) {
        self.warnings.push(message);
    }

    /// No error and no warning.
    pub fn is_clean(&self) -> bool {
        self.errors.is_empty() && self.warnings.is_empty()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Requirement {
    Required,
    Recommended,
    Optional,
}

#[derive(Debug, Clone)]
struct EnumValue {
    caption: Option<String>,
    deprecated: Option<String>,
}

/// One attribute of a compiled class or object.
#[derive(Debug, Clone)]
struct Attribute {
    /// A dictionary type (`string_t`, ...) or, for an object, its name.
    type_name: String,
    is_object: bool,
    is_array: bool,
    requirement: Requirement,
    enumeration: Option<BTreeMap<String, EnumValue>>,
    sibling: Option<String>,
    /// The profiles that bring it; empty: always there.
    profiles: Vec<String>,
    deprecated: Option<String>,
}

/// A compiled class or object.
#[derive(Debug, Clone)]
struct Item {
    name: String,
    /// A class's uid (`category * 1000 + class`); `None` for objects.
    uid: Option<i64>,
    attributes: BTreeMap<String, Attribute>,
    constraints: Vec<(String, Vec<String>)>,
    deprecated: Option<String>,
}

pub struct Schema {
    version: String,
    types: Map<String, Value>,
    profiles: BTreeSet<String>,
    classes: HashMap<i64, Item>,
    objects: HashMap<String, Item>,
}

fn read(root: &Path, relative: &str) -> Value {
    let path = root.join(relative);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            json_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

/// Merges `right` over `left`: maps key by key, recursively (an empty map
/// on either side yields the other); anything else, `right` wins. Two
/// `profiles` lists are joined (an attribute brought by two profiles
/// belongs to both).
fn deep_merge(left: &Value, right: &Value) -> Value {
    match (left, right) {
        (Value::Object(l), Value::Object(r)) => {
            if l.is_empty() {
                return right.clone();
            }
            if r.is_empty() {
                return left.clone();
            }
            let mut out = l.clone();
            for (key, rv) in r {
                let merged = match (out.get(key), rv) {
                    (Some(Value::Array(a)), Value::Array(b)) if key == "profiles" => {
                        let mut joined = a.clone();
                        joined.extend(b.iter().filter(|p| !a.contains(p)).cloned());
                        Value::Array(joined)
                    }
                    (Some(lv), _) => deep_merge(lv, rv),
                    (None, _) => rv.clone(),
                };
                out.insert(key.clone(), merged);
            }
            Value::Object(out)
        }
        _ => right.clone(),
    }
}

fn deprecation(v: &Value) -> Option<String> {
    v.get("@deprecated").map(|d| d["message"].as_str().unwrap_or("deprecated").to_string())
}

/// Resolves `$include` in an item's attributes (and in each attribute).
fn resolve_includes(root: &Path, item: &mut Value) {
    let Some(attributes) = item.get_mut("attributes").and_then(Value::as_object_mut) else {
        return;
    };
    let files: Vec<String> = match attributes.remove("$include") {
        Some(Value::String(f)) => vec![f],
        Some(Value::Array(fs)) => fs.iter().filter_map(|f| f.as_str().map(String::from)).collect(),
        _ => Vec::new(),
    };
    let mut merged = Value::Object(attributes.clone());
    for file in &files {
        let included = read(root, file);
        let profile = (included["meta"] == "profile").then(|| included["name"].clone());
        let annotations = included.get("annotations").cloned().unwrap_or(Value::Null);
        let mut tagged = Map::new();
        for (name, attribute) in included["attributes"].as_object().into_iter().flatten() {
            let mut attribute = attribute.clone();
            if let Some(profile) = &profile {
                attribute["profiles"] = Value::Array(vec![profile.clone()]);
            }
            if annotations.is_object() {
                attribute = deep_merge(&annotations, &attribute);
            }
            tagged.insert(name.clone(), attribute);
        }
        merged = deep_merge(&Value::Object(tagged), &merged);
    }
    // An attribute's own `$include` (an enum kept in another file).
    if let Value::Object(attributes) = &mut merged {
        for attribute in attributes.values_mut() {
            if let Some(file) = attribute.get("$include").and_then(Value::as_str) {
                let included = read(root, file);
                let mut own = attribute.clone();
                own.as_object_mut().map(|o| o.remove("$include"));
                *attribute = deep_merge(&included, &own);
            }
        }
    }
    item["attributes"] = merged;
}

/// Resolves `extends` against `items` (by name), recursively.
fn resolve_extends(items: &HashMap<String, Value>, name: &str) -> Value {
    let item = items.get(name).unwrap_or_else(|| panic!("schema bug: no item `{name}`"));
    let Some(parent) = item.get("extends").and_then(Value::as_str) else {
        return item.clone();
    };
    let base = resolve_extends(items, parent);
    let attributes = deep_merge(&base["attributes"], &item["attributes"]);
    let mut out = base.as_object().cloned().unwrap_or_default();
    for (key, value) in item.as_object().into_iter().flatten() {
        let value = match (key.as_str(), out.get(key)) {
            ("profiles", Some(base)) => deep_merge(
                &Value::Object(Map::from_iter([("profiles".into(), base.clone())])),
                &Value::Object(Map::from_iter([("profiles".into(), value.clone())])),
            )["profiles"]
                .clone(),
            _ => value.clone(),
        };
        out.insert(key.clone(), value);
    }
    let attributes: Map<String, Value> = attributes
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, a)| !a.is_null())
        .map(|(k, a)| (k.clone(), a.clone()))
        .collect();
    out.insert("attributes".into(), Value::Object(attributes));
    Value::Object(out)
}

impl Schema {
    /// Reads and compiles the schema in `root`.
    pub fn load(root: &Path) -> Self {
        let version = read(root, "version.json")["version"].as_str().expect("a version").into();
        let dictionary = read(root, "dictionary.json");
        let types = dictionary["types"]["attributes"].as_object().cloned().expect("types");
        let dict = dictionary["attributes"].as_object().cloned().expect("attributes");
        let categories = read(root, "categories.json")["attributes"].clone();

        let load_dir = |dir: &str| {
            let mut files = Vec::new();
            json_files(&root.join(dir), &mut files);
            files.sort();
            let mut items = HashMap::new();
            for file in files {
                let relative = file.strip_prefix(root).unwrap().to_str().unwrap().to_string();
                let mut item = read(root, &relative);
                resolve_includes(root, &mut item);
                let name = item["name"].as_str().expect("an item has a name").to_string();
                items.insert(name, item);
            }
            items
        };
        let raw_objects = load_dir("objects");
        let raw_classes = load_dir("events");
        let profiles = load_dir("profiles").into_keys().collect();

        let compile = |raw: &Value, object_names: &HashMap<String, Value>| -> Item {
            let mut attributes = BTreeMap::new();
            for (name, own) in raw["attributes"].as_object().into_iter().flatten() {
                let base = dict.get(name).unwrap_or_else(|| {
                    panic!("schema bug: {} uses `{name}`, not in the dictionary", raw["name"])
                });
                let full = deep_merge(base, own);
                let type_name = full["type"].as_str().unwrap_or("string_t").to_string();
                let is_object = !types.contains_key(&type_name);
                assert!(
                    !is_object || object_names.contains_key(&type_name),
                    "schema bug: {}.{name} has type `{type_name}`, neither a type nor an object",
                    raw["name"]
                );
                let strings = |v: &Value| -> Vec<String> {
                    v.as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|p| p.as_str().map(String::from))
                        .collect()
                };
                let attribute = Attribute {
                    is_object,
                    is_array: full["is_array"] == true,
                    requirement: match full["requirement"].as_str() {
                        Some("required") => Requirement::Required,
                        Some("recommended") => Requirement::Recommended,
                        _ => Requirement::Optional,
                    },
                    enumeration: full.get("enum").and_then(Value::as_object).map(|e| {
                        e.iter()
                            .map(|(k, v)| {
                                let caption = v["caption"].as_str().map(String::from);
                                (k.clone(), EnumValue { caption, deprecated: deprecation(v) })
                            })
                            .collect()
                    }),
                    sibling: full["sibling"].as_str().map(String::from),
                    profiles: strings(&full["profiles"]),
                    deprecated: deprecation(&full),
                    type_name,
                };
                // The synthetic `datetime` profile: an RFC 3339 string
                // beside every timestamp.
                if base["type"] == "timestamp_t" {
                    let dt = Attribute {
                        type_name: "datetime_t".into(),
                        is_object: false,
                        is_array: false,
                        requirement: Requirement::Optional,
                        enumeration: None,
                        sibling: None,
                        profiles: vec!["datetime".into()],
                        deprecated: None,
                    };
                    attributes.insert(format!("{name}_dt"), dt);
                }
                attributes.insert(name.clone(), attribute);
            }
            let constraints = raw["constraints"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| {
                    let keys = v.as_array().into_iter().flatten();
                    (k.clone(), keys.filter_map(|x| x.as_str().map(String::from)).collect())
                })
                .collect();
            Item {
                name: raw["name"].as_str().unwrap_or("?").to_string(),
                uid: None,
                attributes,
                constraints,
                deprecated: deprecation(raw),
            }
        };

        let objects = (raw_objects.keys())
            .map(|name| (name.clone(), compile(&resolve_extends(&raw_objects, name), &raw_objects)))
            .collect();
        let mut classes = HashMap::new();
        for name in raw_classes.keys() {
            let raw = resolve_extends(&raw_classes, name);
            // Only concrete classes (with a uid) and the base event.
            if raw.get("uid").is_none() && name != "base_event" {
                continue;
            }
            let category = raw["category"].as_str().unwrap_or("");
            let category_uid = categories[category]["uid"].as_i64().unwrap_or(0);
            let uid = category_uid * 1000 + raw["uid"].as_i64().unwrap_or(0);
            let mut class = compile(&raw, &raw_objects);
            class.uid = Some(uid);
            let caption = raw["caption"].as_str().unwrap_or("").to_string();
            let only = |id: i64, caption: Option<String>| {
                Some(BTreeMap::from([(id.to_string(), EnumValue { caption, deprecated: None })]))
            };
            if let Some(a) = class.attributes.get_mut("class_uid") {
                a.enumeration = only(uid, Some(caption.clone()));
            }
            if categories.get(category).is_some()
                && let Some(a) = class.attributes.get_mut("category_uid")
            {
                let caption = categories[category]["caption"].as_str().map(String::from);
                a.enumeration = only(category_uid, caption);
            }
            let activities =
                class.attributes["activity_id"].enumeration.clone().unwrap_or_default();
            let mut type_uids = BTreeMap::new();
            type_uids.insert(
                (uid * 100).to_string(),
                EnumValue { caption: Some(format!("{caption}: Unknown")), deprecated: None },
            );
            for (id, value) in activities {
                let id: i64 = id.parse().expect("a numeric activity id");
                let caption = value.caption.as_deref().map(|c| format!("{caption}: {c}"));
                type_uids.insert((uid * 100 + id).to_string(), EnumValue { caption, ..value });
            }
            if let Some(a) = class.attributes.get_mut("type_uid") {
                a.enumeration = Some(type_uids);
            }
            classes.insert(uid, class);
        }
        Schema { version, types, profiles, classes, objects }
    }

    /// The vendored schema, read once per test binary.
    pub fn vendored() -> &'static Schema {
        static SCHEMA: std::sync::OnceLock<Schema> = std::sync::OnceLock::new();
        SCHEMA.get_or_init(|| Schema::load(&schema_dir()))
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    /// Validates one event. With `recommended`, missing recommended
    /// attributes warn.
    pub fn validate(&self, event: &Value, recommended: bool) -> Report {
        let mut report = Report::default();
        let Some(object) = event.as_object() else {
            report.error(format!("an event is an object, not {event}"));
            return report;
        };
        let class = match object.get("class_uid") {
            None | Some(Value::Null) => {
                report.error("required attribute `class_uid` is missing".into());
                return report;
            }
            Some(uid) => match uid.as_i64() {
                Some(uid) => match self.classes.get(&uid) {
                    Some(class) => class,
                    None => {
                        report.error(format!("unknown class_uid {uid}"));
                        return report;
                    }
                },
                None => {
                    report.error(format!("`class_uid` has the wrong type: {uid}"));
                    return report;
                }
            },
        };
        let mut profiles = BTreeSet::new();
        if let Some(listed) = event.pointer("/metadata/profiles").and_then(Value::as_array) {
            for (i, p) in listed.iter().enumerate() {
                if let Some(p) = p.as_str() {
                    if self.profiles.contains(p) {
                        profiles.insert(p.to_string());
                    } else {
                        report.error(format!("unknown profile `{p}` at metadata.profiles[{i}]"));
                    }
                }
            }
        }
        let mut check =
            Check { schema: self, profiles: &profiles, recommended, report: &mut report };
        if let Some(message) = &class.deprecated {
            check.report.warn(format!("class {} is deprecated: {message}", class.name));
        }
        check.attributes(object, "", class);
        check.version(event);
        check.type_uid(event);
        check.constraints(object, "", class);
        report
    }
}

struct Check<'a> {
    schema: &'a Schema,
    profiles: &'a BTreeSet<String>,
    recommended: bool,
    report: &'a mut Report,
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() { name.to_string() } else { format!("{parent}.{name}") }
}

/// An enum key as the server compares it: the value as text.
fn enum_key(value: &Value) -> Option<String> {
    match value {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl Check<'_> {
    /// The item's attributes the event's profiles let exist.
    fn visible<'i>(&self, item: &'i Item) -> BTreeMap<&'i str, &'i Attribute> {
        (item.attributes.iter())
            .filter(|(_, a)| {
                a.profiles.is_empty() || a.profiles.iter().any(|p| self.profiles.contains(p))
            })
            .map(|(n, a)| (n.as_str(), a))
            .collect()
    }

    fn attributes(&mut self, object: &Map<String, Value>, path: &str, item: &Item) {
        let visible = self.visible(item);
        for (name, attribute) in &visible {
            let at = join(path, name);
            match object.get(*name) {
                None | Some(Value::Null) => match attribute.requirement {
                    Requirement::Required => {
                        self.report.error(format!("required attribute `{at}` is missing"))
                    }
                    Requirement::Recommended if self.recommended => {
                        self.report.warn(format!("recommended attribute `{at}` is missing"))
                    }
                    _ => {}
                },
                Some(value) => {
                    if let Some(message) = &attribute.deprecated {
                        self.report.warn(format!("`{at}` is deprecated: {message}"));
                    }
                    if attribute.is_array {
                        match value.as_array() {
                            Some(elements) => {
                                for (i, element) in elements.iter().enumerate() {
                                    self.value(element, &format!("{at}[{i}]"), attribute);
                                }
                            }
                            None => self.report.error(format!(
                                "`{at}` has the wrong type: expected an array of {}, got {value}",
                                attribute.type_name
                            )),
                        }
                    } else {
                        self.value(value, &at, attribute);
                    }
                }
            }
        }
        // An object with no attributes of its own takes any (`unmapped`).
        if !item.attributes.is_empty() {
            for key in object.keys() {
                if !visible.contains_key(key.as_str()) {
                    let why = match item.attributes.get(key) {
                        Some(a) => {
                            format!("its profile {:?} is not in metadata.profiles", a.profiles)
                        }
                        None => format!("`{}` has no such attribute", item.name),
                    };
                    self.report.error(format!("unknown attribute `{}`: {why}", join(path, key)));
                }
            }
        }
        for (name, attribute) in &visible {
            if let (Some(enumeration), Some(value)) = (&attribute.enumeration, object.get(*name)) {
                self.enumeration(object, path, name, attribute, enumeration, value);
            }
        }
    }

    fn enumeration(
        &mut self,
        object: &Map<String, Value>,
        path: &str,
        name: &str,
        attribute: &Attribute,
        enumeration: &BTreeMap<String, EnumValue>,
        value: &Value,
    ) {
        let at = join(path, name);
        let sibling = attribute.sibling.as_deref().and_then(|s| Some((s, object.get(s)?)));
        let elements: Vec<(Option<usize>, &Value)> = if attribute.is_array {
            value.as_array().into_iter().flatten().enumerate().map(|(i, v)| (Some(i), v)).collect()
        } else {
            vec![(None, value)]
        };
        for (index, element) in elements {
            let at = index.map_or(at.clone(), |i| format!("{at}[{i}]"));
            let Some(defined) = enum_key(element).and_then(|k| enumeration.get(&k)) else {
                self.report.error(format!("`{at}`: {element} is not a value of its enum"));
                continue;
            };
            if let Some(message) = &defined.deprecated {
                self.report.warn(format!("`{at}`: {element} is deprecated: {message}"));
            }
            let Some((sibling_name, sibling_value)) = sibling else { continue };
            let caption = defined.caption.as_deref();
            let other = element.as_i64() == Some(99);
            match index {
                None if other => {
                    if sibling_value.as_str() == caption {
                        self.report.warn(format!(
                            "`{}` repeats the caption of 99 ({caption:?}) instead of the source's own value",
                            join(path, sibling_name)
                        ));
                    }
                }
                None => {
                    if sibling_value.as_str() != caption {
                        self.report.warn(format!(
                            "`{}` is {sibling_value}, but the caption of `{at}` {element} is {caption:?}",
                            join(path, sibling_name)
                        ));
                    }
                }
                Some(_) if other => {}
                Some(i) => {
                    let got = sibling_value.get(i);
                    if got.and_then(Value::as_str) != caption {
                        self.report.error(format!(
                            "`{}[{i}]` is {got:?}, but the caption of `{at}` {element} is {caption:?}",
                            join(path, sibling_name)
                        ));
                    }
                }
            }
        }
    }

    /// One value (or one element of an array).
    fn value(&mut self, value: &Value, at: &str, attribute: &Attribute) {
        if attribute.is_object {
            let object = &self.schema.objects[&attribute.type_name];
            match value.as_object() {
                Some(map) => {
                    if let Some(message) = &object.deprecated {
                        self.report.warn(format!(
                            "`{at}`: object {} is deprecated: {message}",
                            object.name
                        ));
                    }
                    self.attributes(map, at, object);
                    self.constraints(map, at, object);
                }
                None => self.report.error(format!(
                    "`{at}` has the wrong type: expected a {} object, got {value}",
                    attribute.type_name
                )),
            }
        } else {
            self.scalar(value, at, &attribute.type_name);
        }
    }

    fn scalar(&mut self, value: &Value, at: &str, type_name: &str) {
        let types = &self.schema.types;
        let own = &types[type_name];
        let super_name = own["type"].as_str();
        let primitive = super_name.unwrap_or(type_name);
        let ok = match primitive {
            "boolean_t" => value.is_boolean(),
            "float_t" => value.is_f64(),
            "integer_t" => value.is_i64(),
            "long_t" => value.is_i64() || value.is_u64(),
            "json_t" => true,
            "string_t" => value.is_string(),
            other => {
                self.report.error(format!("schema bug: `{at}` has primitive type {other}"));
                return;
            }
        };
        if !ok {
            let wanted = super_name.map_or(type_name.to_string(), |s| format!("{type_name} ({s})"));
            self.report.error(format!("`{at}` has the wrong type: expected {wanted}, got {value}"));
            return;
        }
        // The subtype's own constraint, else its super type's.
        let rule = |key: &str| own.get(key).or_else(|| super_name.and_then(|s| types[s].get(key)));
        if let Some(values) = rule("values").and_then(Value::as_array)
            && !values.contains(value)
        {
            self.report.error(format!("`{at}`: {value} is not one of {type_name}'s values"));
        }
        if let (Some(range), Some(n)) = (rule("range").and_then(Value::as_array), value.as_f64()) {
            let (low, high) =
                (range[0].as_f64().unwrap_or(f64::MIN), range[1].as_f64().unwrap_or(f64::MAX));
            if n < low || n > high {
                self.report.error(format!(
                    "`{at}`: {value} is outside {type_name}'s range {low}..={high}"
                ));
            }
        }
        if let Some(text) = value.as_str() {
            if let Some(max) = rule("max_len").and_then(Value::as_u64)
                && text.chars().count() as u64 > max
            {
                self.report.error(format!("`{at}` is longer than {type_name}'s {max} characters"));
            }
            if let Some(pattern) = rule("regex").and_then(Value::as_str) {
                match regex::Regex::new(pattern) {
                    Ok(re) if re.is_match(text) => {}
                    Ok(_) => self
                        .report
                        .warn(format!("`{at}`: {value} does not match {type_name}'s regex")),
                    Err(e) => self.report.error(format!("schema bug: {type_name}'s regex: {e}")),
                }
            }
        }
    }

    fn constraints(&mut self, object: &Map<String, Value>, at: &str, item: &Item) {
        for (kind, keys) in &item.constraints {
            let present = keys.iter().filter(|k| object.contains_key(k.as_str())).count();
            let place = if at.is_empty() {
                format!("class {}", item.name)
            } else {
                format!("`{at}` ({})", item.name)
            };
            match kind.as_str() {
                "at_least_one" if present == 0 => {
                    self.report.error(format!("{place} needs at least one of {keys:?}"))
                }
                "just_one" if present != 1 => self
                    .report
                    .error(format!("{place} needs exactly one of {keys:?}, has {present}")),
                "at_least_one" | "just_one" => {}
                other => self.report.error(format!("schema bug: unknown constraint {other}")),
            }
        }
    }

    fn version(&mut self, event: &Value) {
        let Some(version) = event.pointer("/metadata/version").and_then(Value::as_str) else {
            return;
        };
        let parse = |v: &str| -> Vec<u64> {
            v.split(['-', '+'])
                .next()
                .unwrap_or("")
                .split('.')
                .map(|n| n.parse().unwrap_or(0))
                .collect()
        };
        let (got, schema) = (parse(version), parse(&self.schema.version));
        if got > schema || (got == schema && version != self.schema.version) {
            self.report.error(format!(
                "metadata.version {version} is not compatible with the schema's {}",
                self.schema.version
            ));
        } else if got < schema {
            self.report.warn(format!(
                "metadata.version {version} is earlier than the schema's {}",
                self.schema.version
            ));
        }
    }

    fn type_uid(&mut self, event: &Value) {
        let (Some(class), Some(activity), Some(type_uid)) = (
            event["class_uid"].as_i64(),
            event["activity_id"].as_i64(),
            event["type_uid"].as_i64(),
        ) else {
            return;
        };
        if type_uid != class * 100 + activity {
            self.report.error(format!(
                "type_uid {type_uid} is not class_uid * 100 + activity_id = {}",
                class * 100 + activity
            ));
        }
    }
}

/// Reads the OCSF records of a JSON-lines file (an agent's `format=ocsf`
/// sink) and asserts every one validates against the vendored schema with
/// neither error nor warning; returns them.
pub fn assert_valid_file(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let schema = Schema::vendored();
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            let record: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{}:{}: not JSON: {e}", path.display(), i + 1));
            let report = schema.validate(&record, false);
            assert!(
                report.is_clean(),
                "{}:{}: not valid OCSF {}: {report:#?}\n{record:#}",
                path.display(),
                i + 1,
                schema.version()
            );
            record
        })
        .collect()
}
