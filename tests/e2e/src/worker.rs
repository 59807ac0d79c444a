//! The built worker, running in `wrangler dev` (workerd) on a loopback port.

use std::io::Read;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::workspace_root;

/// How long workerd may take to answer its first request.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a stopped server may take to exit before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Per-request timeout of the test client, in seconds.
pub const REQUEST_TIMEOUT_SECS: u64 = 30;

/// Builds the worker through the pipeline (`cargo xtask build ARGS`) into
/// `target/e2e/NAME`, with the test-only `diagnostics` routes compiled in.
pub fn build(name: &str, args: &[&str]) -> Result<PathBuf, String> {
    let root = workspace_root();
    let out_dir = root.join("target/e2e").join(name);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(&root)
        .args(["xtask", "build", "--features", "diagnostics", "--out-dir"])
        .arg(&out_dir)
        .args(args)
        .status()
        .map_err(|e| format!("cannot run `cargo xtask build`: {e}"))?;
    if !status.success() {
        return Err(format!("`cargo xtask build` failed ({status})"));
    }
    Ok(out_dir)
}

/// Builds the worker crate `package` through the pipeline (`cargo xtask
/// build -p PACKAGE`) into `target/e2e/NAME`.
pub fn build_package(package: &str, name: &str) -> Result<PathBuf, String> {
    let root = workspace_root();
    let out_dir = root.join("target/e2e").join(name);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(&root)
        .args(["xtask", "build", "-p", package, "--out-dir"])
        .arg(&out_dir)
        .status()
        .map_err(|e| format!("cannot run `cargo xtask build`: {e}"))?;
    if !status.success() {
        return Err(format!("`cargo xtask build -p {package}` failed ({status})"));
    }
    Ok(out_dir)
}

/// A running `wrangler dev`. Dropping it stops the whole process group.
pub struct Worker {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    /// The port of wrangler's inspector proxy (Chrome DevTools protocol, for
    /// workerd's V8).
    pub inspector_port: u16,
    log: PathBuf,
    _scratch: TempDir,
}

impl Worker {
    /// Starts the worker built in `build_dir` with the project's
    /// `wrangler.toml` (minus its `[build]` step) and `vars` overriding its
    /// `[vars]`, and waits until it answers.
    pub fn start(build_dir: &Path, vars: &[(&str, &str)]) -> Result<Worker, String> {
        Worker::start_persisted(build_dir, vars, None)
    }

    /// [`Worker::start`], keeping the runtime's state (the Cache API's
    /// contents among it) in `state` when given, so a later worker can
    /// start on it.
    pub fn start_persisted(build_dir: &Path, vars: &[(&str, &str)], state: Option<&Path>) -> Result<Worker, String> {
        let scratch = scratch_dir("worker-")?;
        let config = scratch.path().join("wrangler.json");
        write_config(&workspace_root().join("wrangler.toml"), build_dir, &config)?;
        let state = state.map_or_else(|| scratch.path().join("state"), Path::to_path_buf);
        Worker::start_config(&config, vars, scratch, state, &[])
    }

    /// Starts any worker described by the wrangler config file `config`
    /// (e.g. a peer's, for benchmarks), and waits until it answers.
    pub fn start_with_config(config: &Path, vars: &[(&str, &str)]) -> Result<Worker, String> {
        let scratch = scratch_dir("worker-")?;
        let state = scratch.path().join("state");
        Worker::start_config(config, vars, scratch, state, &[])
    }

    /// Starts the worker built in `build_dir` with the wrangler config
    /// `project_config` (minus its `[build]` step), passing `args` on to
    /// `wrangler dev` (e.g. `--test-scheduled`).
    pub fn start_project(project_config: &Path, build_dir: &Path, args: &[&str]) -> Result<Worker, String> {
        let scratch = scratch_dir("worker-")?;
        let config = scratch.path().join("wrangler.json");
        write_config(project_config, build_dir, &config)?;
        let state = scratch.path().join("state");
        Worker::start_config(&config, &[], scratch, state, args)
    }

    /// Starts `wrangler dev` in a project's own folder with its own config,
    /// as its developers run it: wrangler runs the config's build command
    /// first (with `env` added to the environment), so readiness may take
    /// up to `ready_timeout`.
    pub fn start_in(dir: &Path, env: &[(&str, &std::ffi::OsStr)], ready_timeout: Duration) -> Result<Worker, String> {
        let scratch = scratch_dir("project-")?;
        let state = scratch.path().join("state");
        let launch = Launch { config: None, cwd: dir, env, vars: &[], args: &[], ready_timeout };
        Worker::launch(launch, scratch, state)
    }

    fn start_config(
        config: &Path,
        vars: &[(&str, &str)],
        scratch: TempDir,
        state: PathBuf,
        args: &[&str],
    ) -> Result<Worker, String> {
        let root = workspace_root();
        let launch = Launch { config: Some(config), cwd: &root, env: &[], vars, args, ready_timeout: READY_TIMEOUT };
        Worker::launch(launch, scratch, state)
    }

    fn launch(launch: Launch, scratch: TempDir, state: PathBuf) -> Result<Worker, String> {
        let root = workspace_root();
        let wrangler = root.join("node_modules/wrangler/bin/wrangler.js");
        let node = crate::node();
        if !wrangler.exists() || !node.exists() {
            return Err("wrangler or its Node.js is not installed; run `cargo xtask test` (it runs `npm ci`)".into());
        }
        let port = free_port()?;
        let inspector_port = free_port()?;
        let log = scratch.path().join("wrangler.log");
        let log_file = std::fs::File::create(&log).map_err(|e| e.to_string())?;
        let mut command = Command::new(&node);
        command.arg(&wrangler).arg("dev");
        if let Some(config) = launch.config {
            command.arg("--config").arg(config);
        }
        let child = command
            .args(["--ip", "127.0.0.1", "--port", &port.to_string()])
            .args(["--inspector-port", &inspector_port.to_string()])
            .arg("--persist-to")
            .arg(&state)
            .args(["--show-interactive-dev-session=false", "--log-level", "info"])
            .args(launch.vars.iter().flat_map(|(name, value)| ["--var".to_owned(), format!("{name}:{value}")]))
            .args(launch.args)
            .current_dir(launch.cwd)
            .envs(launch.env.iter().copied())
            .env("WRANGLER_SEND_METRICS", "false")
            .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
            .env("WRANGLER_LOG_PATH", scratch.path().join("logs"))
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().map_err(|e| e.to_string())?)
            .stderr(log_file)
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start wrangler with node: {e}"))?;
        let base_url = format!("http://127.0.0.1:{port}");
        let mut worker = Worker { child, base_url, inspector_port, log, _scratch: scratch };
        worker.wait_ready(launch.ready_timeout)?;
        Ok(worker)
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("wrangler exited before it was ready ({status}):\n{}", self.log_text()));
            }
            if minreq::get(&self.base_url).with_timeout(2).send().is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!("wrangler did not answer within {timeout:?}:\n{}", self.log_text()))
    }

    /// What wrangler and the worker printed so far.
    pub fn log_text(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut text);
        }
        text
    }

    /// Waits (up to 10 s) until the log contains `needle` at least `count`
    /// times; returns how many times it does.
    pub fn wait_for_log(&self, needle: &str, count: usize) -> usize {
        let start = Instant::now();
        loop {
            let seen = self.log_text().matches(needle).count();
            if seen >= count || start.elapsed() > Duration::from_secs(10) {
                return seen;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `base_url` + `path_and_query`.
    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.base_url)
    }
}

/// How `wrangler dev` is started.
struct Launch<'a> {
    /// `--config`; else wrangler finds the config in `cwd`.
    config: Option<&'a Path>,
    cwd: &'a Path,
    env: &'a [(&'a str, &'a std::ffi::OsStr)],
    vars: &'a [(&'a str, &'a str)],
    args: &'a [&'a str],
    ready_timeout: Duration,
}

impl Worker {
    /// CPU time the runtime has used so far: user and system time of every
    /// process in the worker's process group but its leader (wrangler's
    /// Node, which only proxies), read from `/proc` (Linux; `None` elsewhere).
    pub fn runtime_cpu(&self) -> Option<Duration> {
        let leader = self.child.id();
        // SAFETY: sysconf has no preconditions.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        if ticks <= 0 {
            return None;
        }
        let mut total = 0u64;
        for entry in std::fs::read_dir("/proc").ok()?.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
            if pid == leader {
                continue;
            }
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
            if let Some((group, cpu)) = group_and_cpu_ticks(&stat)
                && group == leader
            {
                total += cpu;
            }
        }
        Some(Duration::from_secs_f64(total as f64 / ticks as f64))
    }
}

/// The process group and the user + system clock ticks in a `/proc/PID/stat`
/// line (fields 5, 14 and 15; the command name, field 2, may hold spaces).
fn group_and_cpu_ticks(stat: &str) -> Option<(u32, u64)> {
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 2..)?.split(' ').collect();
    // `fields[0]` is field 3 (the state).
    let field = |n: usize| fields.get(n - 3).copied();
    let group = field(5)?.parse().ok()?;
    let cpu = field(14)?.parse::<u64>().ok()? + field(15)?.parse::<u64>().ok()?;
    Some((group, cpu))
}

impl Drop for Worker {
    fn drop(&mut self) {
        // wrangler runs workerd as a child: signal the whole group, by its id.
        let group = -(self.child.id() as i32);
        // SAFETY: kill(2) with a negative pid signals that process group.
        unsafe { libc::kill(group, libc::SIGTERM) };
        let start = Instant::now();
        while start.elapsed() < STOP_TIMEOUT {
            if let Ok(Some(_)) = self.child.try_wait() {
                // The leader is gone; make sure no child of it lingers.
                unsafe { libc::kill(group, libc::SIGKILL) };
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        unsafe { libc::kill(group, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

/// Writes a wrangler config for the test: the project's `wrangler.toml`
/// without its `[build]` step (the test has built already), pointing at `build_dir`.
pub fn write_config(project_config: &Path, build_dir: &Path, out: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(project_config).map_err(|e| format!("cannot read wrangler.toml: {e}"))?;
    let mut config: toml::Table = toml::from_str(&text).map_err(|e| format!("wrangler.toml: {e}"))?;
    config.remove("build");
    config.insert("main".into(), toml::Value::String(build_dir.join("worker.mjs").display().to_string()));
    config.insert("base_dir".into(), toml::Value::String(build_dir.display().to_string()));
    let json = serde_json::to_string_pretty(&config).map_err(|e| e.to_string())?;
    std::fs::write(out, json).map_err(|e| format!("cannot write {}: {e}", out.display()))
}

/// The `wasm-memory` figure of a `Server-Timing` header, in bytes.
pub fn wasm_memory(server_timing: &str) -> Option<u64> {
    timing_desc(server_timing, "wasm-memory")
}

/// The number in the `desc` of the `name` metric of a `Server-Timing` header.
pub fn timing_desc(server_timing: &str, name: &str) -> Option<u64> {
    server_timing.split(&format!("{name};desc=\"")).nth(1)?.split('"').next()?.parse().ok()
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free loopback port: {e}"))?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

fn scratch_dir(prefix: &str) -> Result<TempDir, String> {
    let parent = workspace_root().join("target/e2e/tmp");
    std::fs::create_dir_all(&parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(&parent)
        .map_err(|e| format!("cannot create a directory in {}: {e}", parent.display()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn memory_is_read_from_server_timing() {
        assert_eq!(super::wasm_memory("decode;dur=1.0, wasm-memory;desc=\"1310720\""), Some(1_310_720));
        assert_eq!(super::wasm_memory("decode;dur=1.0"), None);
    }

    #[test]
    fn cpu_ticks_are_read_past_a_command_name_with_spaces() {
        let stat = "4242 (work erd) S 4200 4100 4100 0 -1 4194560 900 0 0 0 250 37 0 0 20 0 9 0 77 0 0";
        assert_eq!(super::group_and_cpu_ticks(stat), Some((4100, 287)));
        assert_eq!(super::group_and_cpu_ticks("4242 (x) S 1"), None);
        // This very process: its own group, some ticks or none.
        if cfg!(target_os = "linux") {
            let own = std::fs::read_to_string("/proc/self/stat").unwrap();
            assert!(super::group_and_cpu_ticks(&own).is_some());
        }
    }
}
