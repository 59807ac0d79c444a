//! A check of edge-fn's layout: its modules import one way, from the
//! service down to memory (`edge-fn/src/lib.rs` names the layers), and no
//! module imports one that imports it back. Read from the sources' `use
//! crate::…` and `super::…` paths, tests left out.

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;

    /// edge-fn's layers, top first: each may use those after it.
    const LAYERS: [&str; 8] = ["service", "transform", "plan", "codecs", "pixels", "memory", "error", "limits"];

    /// Module path (`codecs::decode`) → the modules its non-test code names.
    fn imports(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
        let mut modules = BTreeMap::new();
        let mut stack = vec![src.to_path_buf()];
        let mut files = Vec::new();
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    files.push(path);
                }
            }
        }
        let exists = |module: &str| {
            let base = src.join(module.replace("::", "/"));
            base.with_extension("rs").is_file() || base.join("mod.rs").is_file()
        };
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or_default();
            let code = code.split("#[cfg(test)]\npub(crate) mod tests").next().unwrap_or_default();
            let relative = file.strip_prefix(src).unwrap().with_extension("");
            let module = relative.to_string_lossy().trim_end_matches("/mod").replace('/', "::");
            let parent = module.rsplit_once("::").map_or("", |(p, _)| p).to_owned();
            let mut deps = BTreeSet::new();
            for (prefix, base) in [("crate::", String::new()), ("super::", parent.clone())] {
                for at in code.match_indices(prefix).map(|(i, _)| i + prefix.len()) {
                    let path: String =
                        code[at..].chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':').collect();
                    let parts: Vec<&str> = path.split("::").filter(|p| !p.is_empty()).collect();
                    let full: Vec<String> = if base.is_empty() {
                        parts.iter().map(|p| p.to_string()).collect()
                    } else {
                        base.split("::").map(str::to_owned).chain(parts.iter().map(|p| p.to_string())).collect()
                    };
                    let found = (1..=full.len()).rev().map(|k| full[..k].join("::")).find(|m| exists(m));
                    if let Some(found) = found.filter(|found| *found != module) {
                        deps.insert(found);
                    }
                }
            }
            modules.insert(module, deps);
        }
        modules
    }

    fn layer(module: &str) -> Option<usize> {
        LAYERS.iter().position(|l| module.split("::").next() == Some(*l))
    }

    #[test]
    fn edge_fn_imports_one_way() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("edge-fn/src");
        let modules = imports(&src);
        assert!(modules.len() > 20, "the sources were not read: {modules:?}");
        let mut upward = Vec::new();
        let mut mutual = Vec::new();
        for (module, deps) in &modules {
            for dep in deps {
                if let (Some(from), Some(to)) = (layer(module), layer(dep))
                    && to < from
                {
                    upward.push(format!("{module} -> {dep}"));
                }
                if modules.get(dep).is_some_and(|back| back.contains(module)) && module < dep {
                    mutual.push(format!("{module} <-> {dep}"));
                }
            }
        }
        assert!(upward.is_empty(), "imports against the layers (see edge-fn/src/lib.rs): {upward:?}");
        assert!(mutual.is_empty(), "modules that import each other: {mutual:?}");
    }

    #[test]
    fn the_check_sees_a_cycle_and_an_upward_import() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("plan")).unwrap();
        std::fs::write(dir.path().join("plan/mod.rs"), "use crate::service::x;\n").unwrap();
        std::fs::create_dir_all(dir.path().join("service")).unwrap();
        std::fs::write(dir.path().join("service/mod.rs"), "use crate::plan::Plan;\n").unwrap();
        let modules = imports(dir.path());
        assert!(modules["plan"].contains("service") && modules["service"].contains("plan"), "{modules:?}");
        assert!(layer("service") < layer("plan"));
    }
}
