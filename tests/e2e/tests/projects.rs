//! The installed `cargo edge` on projects it has never seen. `cargo install
//! --locked --path cargo-edge` puts the tool in a folder of its own; each
//! project of `tests/projects` (workers-rs template shapes, set up for
//! worker-build) is copied into a temporary folder outside this workspace
//! and switched over with `cargo edge init` (run as cargo runs a
//! subcommand, found on the PATH). Then wrangler itself builds it through
//! the rewritten config: `wrangler deploy --dry-run`, and `wrangler dev`,
//! whose answers are checked.
//!
//! The install is a `--debug` one into this workspace's target folder, so
//! it reuses the pipeline crates the other tests compiled (binaryen among
//! them); the projects share a target folder of their own.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Output};
use std::time::Duration;

use edge_fn_e2e::runner::{self, Case};
use edge_fn_e2e::worker::{REQUEST_TIMEOUT_SECS, Worker};
use edge_fn_e2e::{cases, ensure, workspace_root};
use serde_json::{Value, json};

/// How long wrangler may take to build (cargo up to date) and start.
const READY_TIMEOUT: Duration = Duration::from_secs(300);

struct Ctx {
    /// Holds the installed tool and the projects' copies; removed at the end.
    scratch: tempfile::TempDir,
    /// `PATH` with the installed tool first.
    path: OsString,
    /// The projects' shared cargo target folder.
    target_dir: PathBuf,
}

const CASES: &[Case<Ctx>] = cases![
    a_template_worker_is_switched_built_and_served,
    an_axum_router_named_axum_builds_from_its_members_folder,
    streamed_bodies_pass_through_with_the_crates_wasm_opt_settings,
    a_durable_object_keeps_its_count_with_a_jsonc_config,
    wasm_pack_settings_change_the_build_as_documented,
    bad_settings_fail_and_keep_the_previous_build,
];

fn main() -> ExitCode {
    runner::main("projects", CASES, setup, |_| String::new())
}

fn setup() -> Result<Ctx, String> {
    let root = workspace_root();
    let scratch = tempfile::Builder::new().prefix("edge-projects-").tempdir().map_err(|e| e.to_string())?;
    let install = scratch.path().join("install");
    let output = Command::new(cargo())
        .current_dir(&root)
        .args(["install", "--locked", "--debug", "--quiet", "--path", "cargo-edge", "--root"])
        .arg(&install)
        .env("CARGO_TARGET_DIR", root.join("target"))
        .output()
        .map_err(|e| format!("cannot run cargo install: {e}"))?;
    ensure!(output.status.success(), "cargo install failed: {}", String::from_utf8_lossy(&output.stderr));
    ensure!(install.join("bin/cargo-edge").is_file(), "cargo install put no cargo-edge in {}", install.display());
    let path = std::env::join_paths(
        std::iter::once(install.join("bin"))
            .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )
    .map_err(|e| e.to_string())?;
    Ok(Ctx { scratch, path, target_dir: root.join("target/e2e/projects-target") })
}

fn cargo() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// Copies `tests/projects/NAME` to a fresh folder outside the workspace.
fn copy_project(ctx: &Ctx, name: &str) -> Result<PathBuf, String> {
    fn copy(from: &Path, to: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(to)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            let name = entry.file_name();
            if name == "target" || name == "build" {
                continue;
            }
            if entry.file_type()?.is_dir() {
                copy(&entry.path(), &to.join(&name))?;
            } else {
                std::fs::copy(entry.path(), to.join(&name))?;
            }
        }
        Ok(())
    }
    let to = ctx.scratch.path().join("projects").join(name);
    let _ = std::fs::remove_dir_all(&to);
    copy(&workspace_root().join("tests/projects").join(name), &to).map_err(|e| format!("copying {name}: {e}"))?;
    Ok(to)
}

/// The environment the tool runs in: the install first on the PATH, and
/// the projects' target folder.
fn env(ctx: &Ctx) -> [(&'static str, OsString); 3] {
    [
        ("PATH", ctx.path.clone()),
        ("CARGO_TARGET_DIR", ctx.target_dir.clone().into()),
        ("WRANGLER_SEND_METRICS", "false".into()),
    ]
}

/// `cargo edge ARGS` in `dir`, as a user runs it.
fn edge(ctx: &Ctx, dir: &Path, args: &[&str]) -> Result<Output, String> {
    Command::new(cargo())
        .arg("edge")
        .args(args)
        .current_dir(dir)
        .envs(env(ctx))
        .env_remove("CARGO")
        .output()
        .map_err(|e| format!("cannot run cargo edge: {e}"))
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// Every file under `dir` but build output, by relative path.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    edge_fn_e2e::snapshot(dir, &["target", "build"])
}

/// `cargo edge init --dry-run` changes nothing; `init` makes the changes the
/// dry run listed; a second `init` finds nothing to change. Returns the
/// changes printed.
fn switch(ctx: &Ctx, dir: &Path, project: &Path) -> Result<String, String> {
    let before = snapshot(project);
    let dry = edge(ctx, dir, &["init", "--dry-run"])?;
    ensure!(dry.status.success(), "init --dry-run failed: {}", text(&dry));
    ensure!(snapshot(project) == before, "--dry-run wrote: {}", text(&dry));
    // The changes, without the verb ("Would change" or "Changing").
    let changes = |out: &[u8]| -> Vec<String> {
        let text = String::from_utf8_lossy(out);
        text.lines()
            .map(|l| l.trim_start().trim_start_matches("Would change").trim_start_matches("Changing").to_owned())
            .collect()
    };
    let planned = changes(&dry.stdout);
    let init = edge(ctx, dir, &["init"])?;
    ensure!(init.status.success(), "init failed: {}", text(&init));
    let made = String::from_utf8_lossy(&init.stdout).into_owned();
    ensure!(changes(&init.stdout) == planned, "init did other than its dry run listed:\n{made}\nagainst:\n{planned:?}");
    let after = snapshot(project);
    let again = edge(ctx, dir, &["init"])?;
    ensure!(again.status.success() && text(&again).contains("already builds"), "second init: {}", text(&again));
    ensure!(snapshot(project) == after, "the second init changed files: {}", text(&again));
    Ok(made)
}

/// `wrangler deploy --dry-run` in `dir`, which runs the config's build
/// command first; returns wrangler's output.
fn deploy_dry_run(ctx: &Ctx, dir: &Path) -> Result<String, String> {
    let root = workspace_root();
    let output = Command::new(edge_fn_e2e::node())
        .arg(root.join("node_modules/wrangler/bin/wrangler.js"))
        .args(["deploy", "--dry-run", "--outdir"])
        .arg(ctx.scratch.path().join("dry-run"))
        .current_dir(dir)
        .envs(env(ctx))
        .output()
        .map_err(|e| format!("cannot run wrangler: {e}"))?;
    let out = text(&output);
    ensure!(output.status.success() && out.contains("Total Upload"), "wrangler deploy --dry-run failed:\n{out}");
    ensure!(out.contains("cargo edge build"), "wrangler did not run the new build command:\n{out}");
    Ok(out)
}

/// `wrangler dev` in `dir`, building through the config first.
fn serve(ctx: &Ctx, dir: &Path) -> Result<Worker, String> {
    let env = env(ctx);
    let env: Vec<(&str, &std::ffi::OsStr)> = env.iter().map(|(k, v)| (*k, v.as_os_str())).collect();
    Worker::start_in(dir, &env, READY_TIMEOUT)
}

fn get(worker: &Worker, path: &str) -> Result<(u16, String), String> {
    let res = minreq::get(worker.url(path))
        .with_timeout(REQUEST_TIMEOUT_SECS)
        .send()
        .map_err(|e| format!("GET {path}: {e}"))?;
    Ok((res.status_code, String::from_utf8_lossy(res.as_bytes()).into_owned()))
}

fn post(worker: &Worker, path: &str, body: impl Into<Vec<u8>>) -> Result<(u16, Vec<u8>), String> {
    let res = minreq::post(worker.url(path))
        .with_body(body.into())
        .with_timeout(REQUEST_TIMEOUT_SECS)
        .send()
        .map_err(|e| format!("POST {path}: {e}"))?;
    Ok((res.status_code, res.into_bytes()))
}

fn expect(worker: &Worker, path: &str, status: u16, body: &str) -> Result<(), String> {
    let got = get(worker, path)?;
    ensure!(
        got == (status, body.to_owned()),
        "GET {path}: {got:?}, expected ({status}, {body:?})\n{}",
        worker.log_text()
    );
    Ok(())
}

/// A TOML or JSON wrangler config, as JSON.
fn read_config(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if path.extension().is_some_and(|e| e == "toml") {
        let table: toml::Table = text.parse().map_err(|e| format!("{}: {e}", path.display()))?;
        serde_json::to_value(table).map_err(|e| e.to_string())
    } else {
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

fn locked_wasm_bindgen(project: &Path) -> Option<String> {
    let lock = std::fs::read_to_string(project.join("Cargo.lock")).ok()?;
    let at = lock.find("name = \"wasm-bindgen\"\nversion = \"")? + "name = \"wasm-bindgen\"\nversion = \"".len();
    Some(lock[at..].split('"').next()?.to_owned())
}

fn a_template_worker_is_switched_built_and_served(ctx: &Ctx) -> Result<(), String> {
    let project = copy_project(ctx, "hello")?;
    ensure!(locked_wasm_bindgen(&project).as_deref() == Some("0.2.129"), "the fixture's lock moved");
    let changes = switch(ctx, &project, &project)?;
    for key in
        ["wasm-bindgen: 0.2.129 → 0.2.130", "build.command", "main: `build/index.js` → `build/worker.mjs`", "rules"]
    {
        ensure!(changes.contains(key), "init did not print `{key}`:\n{changes}");
    }
    ensure!(locked_wasm_bindgen(&project).as_deref() == Some("0.2.130"), "the lock file was not moved");
    let config = read_config(&project.join("wrangler.toml"))?;
    ensure!(config["build"]["command"] == "cargo edge build --release", "{config}");
    ensure!(config["no_bundle"] == true && config["base_dir"] == "build", "{config}");
    deploy_dry_run(ctx, &project)?;
    let worker = serve(ctx, &project)?;
    expect(&worker, "/", 200, "Hello, World!")?;
    expect(&worker, "/greet?name=edge", 200, "Hello, edge!")?;
    expect(&worker, "/nowhere", 404, "Not Found")?;
    // A panic: the runtime's own failure, as under worker-build (workers-rs'
    // own test checks this text), then a fresh instance answers.
    let (status, body) = get(&worker, "/panic")?;
    ensure!(status == 500 && body.contains("Workers runtime canceled"), "GET /panic: {status} {body}");
    expect(&worker, "/", 200, "Hello, World!")?;
    Ok(())
}

fn an_axum_router_named_axum_builds_from_its_members_folder(ctx: &Ctx) -> Result<(), String> {
    let project = copy_project(ctx, "router")?;
    let member = project.join("axum");
    let changes = switch(ctx, &member, &project)?;
    ensure!(changes.contains("axum/wrangler.json"), "{changes}");
    let config = read_config(&member.join("wrangler.json"))?;
    ensure!(
        config["main"] == "build/worker.mjs" && config["build"]["command"] == "cargo edge build --release",
        "{config}"
    );
    // From the workspace root, by the name its dependency shares.
    let by_name = edge(ctx, &project, &["build", "-p", "axum", "--quiet", "--out-dir", "by-name"])?;
    ensure!(by_name.status.success(), "cargo edge build -p axum: {}", text(&by_name));
    ensure!(project.join("by-name/index_bg.wasm").is_file(), "no module from -p axum");
    deploy_dry_run(ctx, &member)?;
    let worker = serve(ctx, &member)?;
    expect(&worker, "/", 200, "axum on workers-rs")?;
    expect(&worker, "/hello/edge", 200, "hello, edge")?;
    let (status, sum) = get(&worker, "/sum?terms=1,2,39")?;
    let sum: Value = serde_json::from_str(&sum).map_err(|e| format!("/sum: {e}: {sum}"))?;
    ensure!(status == 200 && sum == json!({ "terms": [1, 2, 39], "total": 42 }), "/sum: {status} {sum}");
    expect(&worker, "/sum?terms=1,x", 400, "`x` is not a whole number")?;
    let echo = post(&worker, "/echo", "stressed")?;
    ensure!(echo == (200, b"desserts".to_vec()), "POST /echo: {echo:?}");
    Ok(())
}

fn streamed_bodies_pass_through_with_the_crates_wasm_opt_settings(ctx: &Ctx) -> Result<(), String> {
    let project = copy_project(ctx, "streaming")?;
    switch(ctx, &project, &project)?;
    let build = edge(ctx, &project, &["build", "--release", "--json"])?;
    ensure!(build.status.success(), "cargo edge build: {}", text(&build));
    let notes = String::from_utf8_lossy(&build.stderr);
    ensure!(notes.contains("`--enable-bulk-memory` ignored"), "the ignored flag is not noted:\n{notes}");
    let report: Value = serde_json::from_slice(&build.stdout).map_err(|e| format!("--json: {e}"))?;
    ensure!(report["optimizer"] == "-O3 --enable-bulk-memory", "the crate's wasm-opt list was not used: {report}");
    let worker = serve(ctx, &project)?;
    let body: Vec<u8> = (0..(1 << 20)).map(|i| b"abcdefghijklmnopqrstuvwxyz \n"[i % 28]).collect();
    let (status, shouted) = post(&worker, "/shout", body.clone())?;
    ensure!(status == 200 && shouted == body.to_ascii_uppercase(), "POST /shout: {status}, {} bytes", shouted.len());
    let (status, lines) = get(&worker, "/lines?n=5000")?;
    ensure!(status == 200 && lines.lines().count() == 5000 && lines.ends_with("line 4999\n"), "GET /lines: {status}");
    Ok(())
}

fn a_durable_object_keeps_its_count_with_a_jsonc_config(ctx: &Ctx) -> Result<(), String> {
    let project = copy_project(ctx, "objects")?;
    switch(ctx, &project, &project)?;
    let text = std::fs::read_to_string(project.join("wrangler.jsonc")).map_err(|e| e.to_string())?;
    ensure!(
        text.contains("// A Durable Object per counter name.")
            && text.contains("// worker-build, as the template has it"),
        "comments lost:\n{text}"
    );
    ensure!(text.contains("\"main\": \"build/worker.mjs\""), "{text}");
    deploy_dry_run(ctx, &project)?;
    let worker = serve(ctx, &project)?;
    let count = |path: &str, body: Option<&str>| -> Result<Value, String> {
        let (status, bytes) = match body {
            Some(body) => post(&worker, path, body)?,
            None => get(&worker, path).map(|(s, b)| (s, b.into_bytes()))?,
        };
        ensure!(status == 200, "{path}: {status} {}\n{}", String::from_utf8_lossy(&bytes), worker.log_text());
        serde_json::from_slice(&bytes).map_err(|e| format!("{path}: {e}"))
    };
    ensure!(count("/apples", Some(""))? == json!({ "name": "apples", "value": 1 }), "first count");
    ensure!(count("/apples", Some("41"))? == json!({ "name": "apples", "value": 42 }), "added");
    ensure!(count("/apples", None)? == json!({ "name": "apples", "value": 42 }), "kept");
    ensure!(count("/pears", None)? == json!({ "name": "pears", "value": 0 }), "another object");
    expect(&worker, "/", 400, "name a counter: /<name>")?;
    Ok(())
}

/// A build of hello with `extra` appended to its Cargo.toml; the report.
fn build_with(ctx: &Ctx, name: &str, extra: &str) -> Result<(PathBuf, Value), String> {
    let project = copy_project(ctx, "hello")?;
    let dir = ctx.scratch.path().join("settings").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.parent().unwrap()).map_err(|e| e.to_string())?;
    std::fs::rename(&project, &dir).map_err(|e| e.to_string())?;
    let manifest = dir.join("Cargo.toml");
    let original = std::fs::read_to_string(&manifest).map_err(|e| e.to_string())?;
    std::fs::write(&manifest, format!("{original}\n{extra}")).map_err(|e| e.to_string())?;
    let init = edge(ctx, &dir, &["init", "--quiet"])?;
    ensure!(init.status.success(), "init: {}", text(&init));
    let build = edge(ctx, &dir, &["build", "--json"])?;
    ensure!(build.status.success(), "build with `{extra}`: {}", text(&build));
    let report = serde_json::from_slice(&build.stdout).map_err(|e| format!("--json: {e}"))?;
    Ok((dir, report))
}

fn module(dir: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(dir.join("build/index_bg.wasm")).map_err(|e| format!("no module: {e}"))
}

fn custom_sections(wasm: &[u8]) -> Vec<String> {
    let mut names = Vec::new();
    let mut at = 8;
    while at < wasm.len() {
        let id = wasm[at];
        let (size, read) = leb(&wasm[at + 1..]);
        let start = at + 1 + read;
        if id == 0 {
            let (len, read) = leb(&wasm[start..]);
            names.push(String::from_utf8_lossy(&wasm[start + read..start + read + len]).into_owned());
        }
        at = start + size;
    }
    names
}

fn leb(bytes: &[u8]) -> (usize, usize) {
    let (mut value, mut shift) = (0usize, 0);
    for (i, b) in bytes.iter().enumerate() {
        value |= usize::from(b & 0x7f) << shift;
        shift += 7;
        if b & 0x80 == 0 {
            return (value, i + 1);
        }
    }
    (value, bytes.len())
}

fn stages(report: &Value) -> Vec<String> {
    report["stages"].as_array().into_iter().flatten().filter_map(|s| s["stage"].as_str().map(String::from)).collect()
}

fn wasm_pack_settings_change_the_build_as_documented(ctx: &Ctx) -> Result<(), String> {
    let (default_dir, default) = build_with(ctx, "default", "")?;
    ensure!(stages(&default).contains(&"optimize".to_owned()), "{default}");
    let default_size = module(&default_dir)?.len();

    let (off_dir, off) =
        build_with(ctx, "no-wasm-opt", "[package.metadata.wasm-pack.profile.release]\nwasm-opt = false\n")?;
    ensure!(!stages(&off).contains(&"optimize".to_owned()), "wasm-opt = false still optimized: {off}");
    let off_size = module(&off_dir)?.len();
    ensure!(off_size > default_size, "unoptimized {off_size} bytes, not more than optimized {default_size}");

    let (_, o3) = build_with(ctx, "o3", "[package.metadata.wasm-pack.profile.release]\nwasm-opt = [\"-O3\"]\n")?;
    ensure!(o3["optimizer"] == "-O3", "{o3}");

    let glue = |dir: &Path| std::fs::read_to_string(dir.join("build/index.js")).unwrap_or_default();
    let (debug_dir, _) = build_with(
        ctx,
        "debug-glue",
        "[package.metadata.wasm-pack.profile.release.wasm-bindgen]\ndebug-js-glue = true\n",
    )?;
    ensure!(glue(&debug_dir).len() > glue(&default_dir).len(), "debug-js-glue did not add wasm-bindgen's checks");

    // DWARF: the crate keeps debug info (no `strip`), and asks for it kept.
    let dwarf = "[package.metadata.wasm-pack.profile.release.wasm-bindgen]\ndwarf-debug-info = true\n";
    let hello = std::fs::read_to_string(workspace_root().join("tests/projects/hello/Cargo.toml")).unwrap_or_default();
    ensure!(hello.contains("strip = true"), "the fixture changed");
    let (dwarf_dir, dwarf_report) = build_with(ctx, "dwarf", dwarf)?;
    // `strip = true` removed the DWARF before wasm-bindgen saw it: nothing to keep.
    ensure!(!custom_sections(&module(&dwarf_dir)?).iter().any(|s| s.starts_with(".debug")), "{dwarf_report}");
    let manifest = dwarf_dir.join("Cargo.toml");
    let original = std::fs::read_to_string(&manifest).map_err(|e| e.to_string())?;
    let kept = original.replace("strip = true", "strip = false\ndebug = true");
    std::fs::write(&manifest, &kept).map_err(|e| e.to_string())?;
    let build = edge(ctx, &dwarf_dir, &["build", "--quiet"])?;
    ensure!(build.status.success(), "build with DWARF: {}", text(&build));
    let sections = custom_sections(&module(&dwarf_dir)?);
    ensure!(sections.iter().any(|s| s == ".debug_info"), "dwarf-debug-info: no .debug_info in {sections:?}");

    // The name section (kept by --profiling, built on the same cargo output):
    // demangled by default, as rustc wrote it with demangle-name-section = false.
    let names = |manifest_extra: &str| -> Result<String, String> {
        std::fs::write(&manifest, format!("{kept}\n{manifest_extra}")).map_err(|e| e.to_string())?;
        let build = edge(ctx, &dwarf_dir, &["build", "--profiling", "--quiet"])?;
        ensure!(build.status.success(), "profiling build: {}", text(&build));
        Ok(String::from_utf8_lossy(&module(&dwarf_dir)?).into_owned())
    };
    let demangled = names("")?;
    ensure!(demangled.contains("worker::"), "no demangled `worker::` path in the name section");
    let mangled =
        names("[package.metadata.wasm-pack.profile.profiling.wasm-bindgen]\ndemangle-name-section = false\n")?;
    ensure!(
        !mangled.contains("worker::") && (mangled.contains("_ZN") || mangled.contains("_RN")),
        "names were demangled"
    );
    Ok(())
}

fn bad_settings_fail_and_keep_the_previous_build(ctx: &Ctx) -> Result<(), String> {
    let (dir, _) = build_with(ctx, "bad", "")?;
    let before = snapshot(&dir.join("build"));
    let manifest = dir.join("Cargo.toml");
    let original = std::fs::read_to_string(&manifest).map_err(|e| e.to_string())?;
    for (extra, expected) in [
        ("[package.metadata.wasm-pack.profile.release]\nwasm-opt = [\"--frobnicate\"]\n", "accepted: -O, -O0"),
        ("[package.metadata.wasm-pack.profile.release.wasm-bindgen]\ndebug = true\n", "known keys: debug-js-glue"),
        ("[package.metadata.edge]\ntrap_response = \"html\"\n", "\"runtime\" or \"json\""),
    ] {
        std::fs::write(&manifest, format!("{original}\n{extra}")).map_err(|e| e.to_string())?;
        let build = edge(ctx, &dir, &["build"])?;
        let out = text(&build);
        ensure!(!build.status.success() && out.contains(expected), "with `{extra}`: {out}");
        ensure!(!out.contains("panicked"), "{out}");
        ensure!(snapshot(&dir.join("build")) == before, "the previous build changed");
    }
    Ok(())
}
