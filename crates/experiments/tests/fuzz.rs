//! Deterministic fuzzing of spec validation: mutations of every shipped spec are either refused
//! with a message naming the file, or valid; never a panic. (Issue 21: at least 500 mutated specs.)

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

/// Every leaf key of a TOML table as a path of keys (array elements are leaves).
fn leaves(t: &toml::Table, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    for (k, v) in t {
        prefix.push(k.clone());
        match v {
            toml::Value::Table(sub) => leaves(sub, prefix, out),
            _ => out.push(prefix.clone()),
        }
        prefix.pop();
    }
}

/// The table at `path` without its last key, and that key.
fn parent_mut<'a>(t: &'a mut toml::Table, path: &[String]) -> (&'a mut toml::Table, String) {
    let mut cur = t;
    for k in &path[..path.len() - 1] {
        cur = cur.get_mut(k).and_then(|v| v.as_table_mut()).unwrap();
    }
    (cur, path[path.len() - 1].clone())
}

/// The replacement values tried at every key (None: delete the key).
fn replacements() -> Vec<(&'static str, Option<toml::Value>)> {
    use toml::Value as V;
    vec![
        ("deleted", None),
        ("a string", Some(V::String("abc".into()))),
        ("negative", Some(V::Integer(-1))),
        ("zero", Some(V::Integer(0))),
        ("huge", Some(V::Integer(i64::MAX))),
        ("NaN", Some(V::Float(f64::NAN))),
        ("infinite", Some(V::Float(f64::INFINITY))),
        ("an empty array", Some(V::Array(vec![]))),
        ("a table", Some(V::Table(toml::Table::new()))),
        ("a tiny float", Some(V::Float(1e-300))),
        ("a boolean", Some(V::Boolean(true))),
    ]
}

fn shipped_specs() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../experiments");
    experiments::spec::files_in(&dir).unwrap()
}

/// Validates `text` (as `name.toml`) in both modes with a memory budget; returns the number of
/// refusals, and fails the test on a panic or a refusal that does not name the file.
fn check(name: &str, text: &str, what: &str) -> usize {
    let path = PathBuf::from(format!("fuzz/{name}.toml"));
    let mut refused = 0;
    for quick in [false, true] {
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            experiments::parse_spec(&path, text, quick, Some(8 << 30))
        }));
        match outcome {
            Err(_) => panic!("{name} ({what}, quick = {quick}): validation panicked"),
            Ok(Err(e)) => {
                let msg = e.to_string();
                assert!(msg.contains(&format!("{name}.toml")), "{what}: {msg}");
                assert!(
                    msg.len() > name.len() + 20,
                    "{what}: an empty message: {msg}"
                );
                refused += 1;
            }
            Ok(Ok(config)) => {
                // A valid spec expands without surprises.
                let points = experiments::sweep::expand(&config);
                assert!(!points.is_empty(), "{what}");
            }
        }
    }
    refused
}

#[test]
fn mutated_specs_are_refused_with_messages_or_valid_never_a_panic() {
    let mut cases = 0;
    let mut refused = 0;
    for spec in shipped_specs() {
        let text = std::fs::read_to_string(&spec).unwrap();
        let name = spec.file_stem().unwrap().to_str().unwrap().to_string();
        let table: toml::Table = toml::from_str(&text).unwrap();
        let mut keys = Vec::new();
        leaves(&table, &mut Vec::new(), &mut keys);
        for key in &keys {
            for (what, value) in replacements() {
                let mut t = table.clone();
                let (parent, last) = parent_mut(&mut t, key);
                match value {
                    None => {
                        parent.remove(&last);
                    }
                    Some(v) => {
                        parent.insert(last, v);
                    }
                }
                let mutated = toml::to_string(&t).unwrap();
                refused += check(&name, &mutated, &format!("{} {what}", key.join(".")));
                cases += 1;
            }
        }
        // Whole-file mutations.
        let deep = format!("{}{}", "a = [".repeat(200), "]".repeat(200));
        let whole: Vec<(&str, String)> = vec![
            ("empty file", String::new()),
            (
                "binary",
                String::from_utf8_lossy(&[0xff, 0x00, 0xfe, 0x80, 0x7f]).into_owned(),
            ),
            (
                "duplicate key",
                text.replacen("[problem]\n", "[problem]\nn = 3\nn = 4\n", 1),
            ),
            ("deep nesting", deep),
            (
                "a datetime title",
                text.replacen("title = ", "title = 1979-05-27T07:32:00Z\nold_title = ", 1),
            ),
            (
                "truncated",
                text.chars().take(text.chars().count() / 2).collect(),
            ),
        ];
        for (what, mutated) in whole {
            refused += check(&name, &mutated, what);
            cases += 1;
        }
    }
    eprintln!("{cases} mutated specs, {refused} refusals over both modes");
    assert!(cases >= 500, "only {cases} mutated specs");
    // Most mutations break something; a good share are still valid (e.g. a deleted optional key).
    assert!(
        refused > cases / 2 && refused < 2 * cases,
        "{refused} refusals of {cases} specs (two modes each)"
    );
}
