//! Imports flow one way (issue #16): commands → jobs → stages → foundations,
//! and along the stages as the data does (orats → lake → metrics/daily → sink).
//!
//! Every `crate::` path in the code of `src/**/*.rs` is an edge from the
//! file's top-level module to the path's (a submodule counts as its top-level
//! module; comment lines are skipped). The test fails naming the edge when a
//! module imports from a higher layer, and naming the circle when the edges
//! close one. `udfs/src` is checked for circles.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers of `src/`, lowest first: a module may import from its own layer
/// and the ones below. Each stage is a layer, in the order the data flows.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "foundations",
        &["store", "cluster", "ftp", "logging", "progress", "outcome"],
    ),
    ("stage orats", &["orats", "sample"]),
    ("stage lake", &["lake", "ingest"]),
    ("stage metrics", &["metrics", "daily"]),
    ("stage sink", &["sink"]),
    ("jobs", &["pipeline", "nightly", "analyst"]),
    ("commands", &["cli"]),
];

/// Module → module it imports → the first file that does.
type Graph = BTreeMap<String, BTreeMap<String, PathBuf>>;

#[test]
fn src_imports_flow_down_the_layers() {
    let graph = import_graph("src");
    let layer = |module: &str| LAYERS.iter().position(|(_, m)| m.contains(&module));
    let mut problems = Vec::new();
    let named = graph
        .iter()
        .flat_map(|(from, to)| [from].into_iter().chain(to.keys()));
    for module in named.collect::<BTreeSet<_>>() {
        if layer(module).is_none() {
            problems.push(format!("module `{module}` has no layer: add it to LAYERS"));
        }
    }
    for (from, imports) in &graph {
        for (to, file) in imports {
            if let (Some(low), Some(high)) = (layer(from), layer(to))
                && low < high
            {
                problems.push(format!(
                    "{}: `{from}` ({}) imports `{to}` ({}), a higher layer",
                    file.display(),
                    LAYERS[low].0,
                    LAYERS[high].0
                ));
            }
        }
    }
    if let Some(circle) = find_circle(&graph) {
        problems.push(format!("import circle: {}", show_circle(&graph, &circle)));
    }
    assert!(problems.is_empty(), "\n{}\n", problems.join("\n"));
}

#[test]
fn udfs_have_no_import_circle() {
    let graph = import_graph("udfs/src");
    if let Some(circle) = find_circle(&graph) {
        panic!("import circle in udfs: {}", show_circle(&graph, &circle));
    }
}

#[test]
fn the_checks_read_grouped_imports_and_find_circles() {
    let code = "use crate::{a::X, b::{Y, Z}};\n// crate::c\nlet x = $crate::d::f(crate::e::g);\npub(crate) fn h() {}";
    assert_eq!(references(code), ["a", "b", "e"].map(String::from).into());
    let mut graph = Graph::new();
    for (from, to) in [("a", "b"), ("b", "c"), ("c", "b"), ("c", "d")] {
        graph
            .entry(from.into())
            .or_default()
            .insert(to.into(), PathBuf::from(format!("{from}.rs")));
    }
    assert_eq!(find_circle(&graph).unwrap(), ["b", "c", "b"]);
    graph.get_mut("c").unwrap().remove("b");
    assert_eq!(find_circle(&graph), None);
}

/// The imports between the top-level modules of the crate whose sources are
/// in `src` (relative to this package's directory).
fn import_graph(src: &str) -> Graph {
    let root = common::manifest_dir();
    let src = root.join(src);
    let mut graph = Graph::new();
    for file in rust_files(&src) {
        let relative = file.strip_prefix(&src).unwrap();
        let top = relative.iter().next().unwrap().to_str().unwrap();
        let module = top.trim_end_matches(".rs").to_string();
        if module == "lib" || module == "main" {
            continue;
        }
        let imports = graph.entry(module.clone()).or_default();
        for target in references(&std::fs::read_to_string(&file).unwrap()) {
            if target != module {
                imports
                    .entry(target)
                    .or_insert_with(|| file.strip_prefix(&root).unwrap().into());
            }
        }
    }
    graph
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// The top-level modules that `crate::` paths in `source` name, outside comment lines.
fn references(source: &str) -> BTreeSet<String> {
    let code: Vec<&str> = source
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect();
    let code = code.join("\n");
    let mut found = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        // `$crate::` in a macro, or a longer name ending in `crate`, is not this crate.
        if code[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$')
        {
            continue;
        }
        let path = &code[at + "crate::".len()..];
        match path.strip_prefix('{') {
            Some(group) => found.extend(group_heads(group)),
            None => found.extend([identifier(path)]),
        }
    }
    found.remove("");
    found
}

/// The first name of each item in a `use crate::{…}` group: `a::X, b::{Y, Z}` → a, b.
fn group_heads(group: &str) -> Vec<String> {
    let mut heads = vec![identifier(group)];
    let mut depth = 0;
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => heads.push(identifier(&group[i + 1..])),
            _ => {}
        }
    }
    heads
}

fn identifier(text: &str) -> String {
    text.trim_start()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// An import circle, as the modules along it with the first one repeated at the end.
fn find_circle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        module: &str,
        graph: &Graph,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|m| m == module) {
            let mut circle = path[start..].to_vec();
            circle.push(module.to_string());
            return Some(circle);
        }
        if done.contains(module) {
            return None;
        }
        path.push(module.to_string());
        for next in graph.get(module).into_iter().flat_map(|m| m.keys()) {
            if let Some(circle) = visit(next, graph, path, done) {
                return Some(circle);
            }
        }
        path.pop();
        done.insert(module.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|m| visit(m, graph, &mut Vec::new(), &mut done))
}

/// `a → b (in src/a/x.rs) → a (in src/b.rs)`.
fn show_circle(graph: &Graph, circle: &[String]) -> String {
    let mut text = circle[0].clone();
    for hop in circle.windows(2) {
        let file = &graph[&hop[0]][&hop[1]];
        text += &format!(" → {} (in {})", hop[1], file.display());
    }
    text
}
