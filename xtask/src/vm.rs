//! Runs the agent's tests inside a VM on a second kernel: Debian's 6.1, with
//! BPF-LSM on (see ../shared/ENVIRONMENT.md).
//!
//! The approach, all under `target/vm/`:
//! 1. The kernel is Debian's `linux-image-6.1.*-amd64` package, fetched with
//!    `apt-get download` and unpacked with `dpkg -x` once (cached afterwards).
//!    Everything the agent needs (BPF, BTF, tracefs, bpffs, cgroup2) is built
//!    into it; of the modules only `MODULES` are kept (loaded by `/init`):
//!    overlayfs (the drift tests mount overlays, and the agent reads its
//!    split BTF) and sock_diag's TCP and UDP tables.
//! 2. `cargo test --no-run` builds the agent's test binaries; its JSON
//!    messages name them and the `palisade` binary they start.
//! 3. The initramfs (a newc cpio written here, no root filesystem image) holds
//!    those binaries *at their host paths*, because the integration tests
//!    start the agent by the absolute path compiled into them
//!    (`CARGO_BIN_EXE_palisade`). Beside them: the real host programs the
//!    tests exec (`/bin/sh`, `/usr/bin/env`, ...), every shared library
//!    `ldd` names, and every symlink met on the way (`/bin -> usr/bin`,
//!    `/usr/bin/sh -> dash`, `/lib64 -> usr/lib64`), so the same paths resolve
//!    to the same files as on the host. Busybox (static) lives apart in
//!    `/usr/lib/palisade-vm/` and only serves `/init`.
//! 4. `/init` mounts what the agent needs, runs each test binary with
//!    `--test-threads=1` in its package's directory (as `cargo test` does),
//!    prints a `PALISADE-VM-RESULT <binary> rc=<N>` line per binary and
//!    `PALISADE-VM-DONE`, then powers off.
//! 5. qemu boots it under software emulation (KVM is not usable here); the
//!    serial console goes to the terminal and to `target/vm/console.log`, and
//!    the verdict is read from the marker lines.

use std::{
    collections::{BTreeMap, HashMap},
    fs::{self, File},
    io::{self, BufRead, BufReader, BufWriter, Read, Write},
    os::unix::fs::MetadataExt,
    path::{Component, Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use serde_json::Value;

use crate::{cmd, test::KERNEL_TEST_PREFIX};

/// Debian's 6.1 LTS kernel; if the mirror no longer has this ABI, the newest
/// `linux-image-6.1.*-amd64` it lists is used instead.
const KERNEL_PACKAGE: &str = "linux-image-6.1.0-56-amd64";
const KERNEL_CMDLINE: &str =
    "console=ttyS0 quiet panic=-1 lsm=lockdown,capability,landlock,yama,apparmor,bpf";
/// The whole VM run: boot, and every test under software emulation (about
/// 17 minutes on these 2-core machines; a backstop, not a target).
const TIMEOUT: Duration = Duration::from_secs(35 * 60);

/// Host programs the tests exec, put in the VM at the same paths.
const HOST_PROGRAMS: &[&str] = &[
    "/bin/sh",
    "/usr/bin/env",
    "/usr/bin/true",
    "/usr/bin/setpriv",
    "/usr/bin/sleep",
    "/usr/bin/cat",
    // A multi-call binary called by its own name (the process sensor's
    // environment test).
    "/bin/busybox",
    // The file sensor's test acts on files with these.
    "/usr/bin/tee",
    "/usr/bin/mv",
    "/usr/bin/chmod",
    "/usr/bin/rm",
    "/usr/bin/touch",
    // The drift tests' container without runc: a nested PID namespace
    // chrooted into an overlay mount.
    "/usr/bin/unshare",
    "/usr/sbin/chroot",
];
/// From Debian's `busybox-static`: `/init` uses a copy in `VM_TOOLS_DIR`.
const HOST_BUSYBOX: &str = "/bin/busybox";
const VM_TOOLS_DIR: &str = "/usr/lib/palisade-vm";
/// A tmpfs for the tests' scratch files (their TMPDIR).
const VM_SCRATCH: &str = "/scratch";
/// The busybox applets `/init` uses, linked in `VM_TOOLS_DIR`.
const INIT_APPLETS: &[&str] =
    &["sh", "mount", "uname", "cat", "env", "ifconfig", "poweroff", "insmod", "date", "grep"];
/// The modules kept from the kernel package (Debian builds these as
/// modules), at these names in the unpacked kernel and in the initramfs,
/// loaded by `/init` in this order: overlayfs (the drift tests mount
/// overlays) and the TCP and UDP socket tables of sock_diag (the agent
/// ends connections a new rule denies).
const MODULES: &[&str] = &["overlay.ko", "inet_diag.ko", "tcp_diag.ko", "udp_diag.ko"];

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
                      nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
const GROUP: &str = "root:x:0:\nnogroup:x:65534:\n";

const RESULT_MARKER: &str = "PALISADE-VM-RESULT ";
const KERNEL_MARKER: &str = "PALISADE-VM-KERNEL ";
const DONE_MARKER: &str = "PALISADE-VM-DONE";
/// `<label> <test> <seconds>s rc=<N>`, one line per test.
const TEST_MARKER: &str = "PALISADE-VM-TEST ";

pub fn run() -> anyhow::Result<()> {
    prepare()?.boot(Console::Terminal)
}

/// The running qemu's pid (0: none), for [`abort`].
static QEMU_PID: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Kills the VM if one is running (its boot then fails).
pub fn abort() {
    let pid = QEMU_PID.load(std::sync::atomic::Ordering::Acquire);
    if pid != 0 {
        // SAFETY: kill(2) on qemu's pid, our child.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    }
}

/// Where the VM's console goes besides `target/vm/console.log`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Console {
    Terminal,
    /// The log only: the run goes on beside other output.
    LogOnly,
}

/// A VM ready to boot: the kernel, and an initramfs holding the built tests.
pub struct Prepared {
    vmlinuz: PathBuf,
    initramfs: PathBuf,
    log: PathBuf,
    tests: Vec<TestBinary>,
}

/// Builds the tests (cargo's lock is taken here, not while the VM runs)
/// and writes the initramfs.
pub fn prepare() -> anyhow::Result<Prepared> {
    let dir = cmd::workspace_root().join("target/vm");
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let vmlinuz = kernel(&dir)?;
    let modules = dir.join("kernel");
    let build = build_tests()?;
    let initramfs = dir.join("initramfs.cpio");
    write_initramfs(&build, &modules, &initramfs)?;
    Ok(Prepared { vmlinuz, initramfs, log: dir.join("console.log"), tests: build.tests })
}

impl Prepared {
    /// Boots the VM, runs every test binary, and checks every one passed.
    pub fn boot(self, console: Console) -> anyhow::Result<()> {
        let lines = boot(&self.vmlinuz, &self.initramfs, &self.log, console)?;
        report_slowest(&lines);
        let release = verdict(&lines, &self.tests)
            .map_err(|e| anyhow::anyhow!("{e}; the console output is in {}", self.log.display()))?;
        println!("vm: {} test binaries passed on {release}", self.tests.len());
        Ok(())
    }
}

// ---------------------------------------------------------------- kernel

/// The path of the 6.1 kernel image, downloaded and unpacked on first use
/// (again if an earlier unpacking kept fewer modules).
fn kernel(dir: &Path) -> anyhow::Result<PathBuf> {
    let unpacked = dir.join("kernel");
    if let Some(vmlinuz) = find_vmlinuz(&unpacked)?
        && MODULES.iter().all(|m| unpacked.join(m).exists())
    {
        return Ok(vmlinuz);
    }
    let deb = download_kernel(dir)?;
    // Unpack beside, then rename: an interrupted run leaves no half kernel.
    let partial = dir.join("kernel.partial");
    let _ = fs::remove_dir_all(&partial);
    cmd::run(Command::new("dpkg").arg("-x").arg(&deb).arg(&partial))
        .with_context(|| format!("cannot unpack {}", deb.display()))?;
    // The modules (most of the package) are never loaded: what the agent
    // needs is built in, but for MODULES.
    for module in MODULES {
        let found = find_file(&partial.join("lib/modules"), module)?
            .with_context(|| format!("{} holds no {module}", deb.display()))?;
        fs::rename(&found, partial.join(module))
            .with_context(|| format!("cannot keep the module {module}"))?;
    }
    let _ = fs::remove_dir_all(partial.join("lib/modules"));
    let _ = fs::remove_dir_all(&unpacked);
    fs::rename(&partial, &unpacked).context("cannot move the unpacked kernel in place")?;
    let _ = fs::remove_file(&deb);
    find_vmlinuz(&unpacked)?.with_context(|| format!("{} holds no boot/vmlinuz-*", deb.display()))
}

/// The first file called `name` below `dir`.
fn find_file(dir: &Path, name: &str) -> anyhow::Result<Option<PathBuf>> {
    for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            if let Some(found) = find_file(&path, name)? {
                return Ok(Some(found));
            }
        } else if path.file_name().is_some_and(|n| n == name) {
            return Ok(Some(path));
        }
    }
    Ok(None)
}

fn find_vmlinuz(unpacked: &Path) -> anyhow::Result<Option<PathBuf>> {
    let Ok(entries) = fs::read_dir(unpacked.join("boot")) else {
        return Ok(None);
    };
    for entry in entries {
        let path = entry?.path();
        if path.file_name().is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-")) {
            return Ok(Some(path));
        }
    }
    Ok(None)
}

/// Downloads the kernel package into `dir`; refreshes apt's lists only if the
/// first try fails.
fn download_kernel(dir: &Path) -> anyhow::Result<PathBuf> {
    if let Ok(deb) = try_download_kernel(dir) {
        return Ok(deb);
    }
    eprintln!("vm: refreshing apt's package lists");
    cmd::run(Command::new("apt-get").args(["update", "-qq"]))?;
    try_download_kernel(dir).context(
        "no Debian 6.1 kernel package (linux-image-6.1.*-amd64) can be downloaded from the apt mirror",
    )
}

fn try_download_kernel(dir: &Path) -> anyhow::Result<PathBuf> {
    let package = kernel_package()?;
    eprintln!("vm: downloading {package} (about 70 MB, once)");
    cmd::run(Command::new("apt-get").args(["download", "-q", &package]).current_dir(dir))?;
    let prefix = format!("{package}_");
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if name.starts_with(&prefix) && name.ends_with(".deb") {
            return Ok(path);
        }
    }
    bail!("apt-get download {package} left no .deb in {}", dir.display())
}

/// `KERNEL_PACKAGE` if apt knows it, else the newest 6.1 kernel apt lists.
fn kernel_package() -> anyhow::Result<String> {
    let policy = output(Command::new("apt-cache").args(["policy", KERNEL_PACKAGE]))?;
    if policy.contains("Candidate:") && !policy.contains("Candidate: (none)") {
        return Ok(KERNEL_PACKAGE.to_string());
    }
    let search = output(Command::new("apt-cache").args([
        "search",
        "--names-only",
        r"^linux-image-6\.1\.[0-9]+-[0-9]+-amd64$",
    ]))?;
    search
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .max_by_key(|name| numbers_in(name))
        .map(str::to_string)
        .with_context(|| {
            format!("apt knows neither {KERNEL_PACKAGE} nor any linux-image-6.1.*-amd64")
        })
}

/// The numbers in `s`, in order: `linux-image-6.1.0-56-amd64` -> [6, 1, 0, 56, 64].
fn numbers_in(s: &str) -> Vec<u64> {
    s.split(|c: char| !c.is_ascii_digit()).filter_map(|n| n.parse().ok()).collect()
}

fn output(command: &mut Command) -> anyhow::Result<String> {
    let out = command.output().with_context(|| format!("cannot start {command:?}"))?;
    if !out.status.success() {
        bail!("{command:?} failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

// ---------------------------------------------------------------- build

struct TestBinary {
    /// `<kind>:<name>`, e.g. `test:kernel_process_sensor`; one word, for
    /// the marker lines.
    label: String,
    executable: PathBuf,
    /// The package's directory, where `cargo test` runs the binary.
    cwd: PathBuf,
    /// The tests the VM runs, one process each (all but [`HOST_ONLY`]'s).
    names: Vec<String>,
}

struct Build {
    tests: Vec<TestBinary>,
    /// What the tests may start: the `palisade` binary.
    programs: Vec<PathBuf>,
}

/// Builds the agent and its tests, and names the executables.
fn build_tests() -> anyhow::Result<Build> {
    let mut build = Build { tests: Vec::new(), programs: Vec::new() };
    for artifact in cmd::test_build_artifacts()? {
        let Some(executable) = artifact["executable"].as_str().map(PathBuf::from) else {
            continue;
        };
        let agent =
            artifact["package_id"].as_str().is_some_and(|id| id.contains("#palisade-agent@"));
        if !agent {
            continue;
        }
        if artifact["profile"]["test"].as_bool() == Some(true) {
            let name = artifact["target"]["name"].as_str().unwrap_or_default();
            // The VM runs the kernel tests and nothing else: unit, policy-CLI and
            // OPA-parity tests involve no kernel and only cost emulated minutes.
            if name.starts_with(KERNEL_TEST_PREFIX) {
                build.tests.push(test_binary(&artifact, executable)?);
            }
        } else if !build.programs.contains(&executable) {
            build.programs.push(executable);
        }
    }
    // For development: `PALISADE_VM_TESTS=process_sensor,enforcement` runs
    // only the test binaries whose label contains one of the words.
    if let Ok(only) = std::env::var("PALISADE_VM_TESTS") {
        let words: Vec<&str> = only.split(',').filter(|w| !w.is_empty()).collect();
        build.tests.retain(|t| words.iter().any(|w| t.label.contains(w)));
    }
    let mut unmatched: Vec<&(&str, &str, &str)> = HOST_ONLY.iter().collect();
    for test in &mut build.tests {
        let binary = test.label.split_once(':').map_or(test.label.as_str(), |(_, n)| n);
        test.names.retain(|name| {
            let host_only =
                |&&(b, t, _): &&(&str, &str, &str)| b == binary && (t == "*" || t == name);
            let matched = HOST_ONLY.iter().any(|entry| host_only(&entry));
            unmatched.retain(|entry| !host_only(entry));
            !matched
        });
    }
    build.tests.retain(|t| !t.names.is_empty());
    // A renamed test must not silently come back into (or fall out of) the VM.
    if std::env::var_os("PALISADE_VM_TESTS").is_none()
        && let Some((binary, test, _)) = unmatched.first()
    {
        bail!("vm: HOST_ONLY names {binary}::{test}, which no kernel test has (renamed?)");
    }
    if build.tests.is_empty() {
        bail!(
            "cargo test --no-run built no test binary for palisade-agent (or PALISADE_VM_TESTS matched none)"
        );
    }
    Ok(build)
}

/// Kernel tests that run on the host only, with why: (binary, test or `*`
/// for all of it, reason). The VM is there for what the host cannot show:
/// BPF-LSM, and a second kernel whose struct layouts, BTF (overlayfs as a
/// module) and verifier differ. What a test checks of the agent's userspace
/// around a running sensor, the host's run shows as well, and under the
/// VM's software emulation an agent start costs seconds.
const HOST_ONLY: &[(&str, &str, &str)] = &[
    ("kernel_export", "*", "delivery to sinks is userspace, and it restarts agents"),
    (
        "kernel_process_sensor",
        "a_path_with_a_newline_and_non_utf8_bytes_is_kept_exactly",
        "the hooks copy names and arguments as bytes alike on both kernels (the VM's exec tests read them); keeping odd bytes exact is the agent's decoding and JSON",
    ),
    (
        "kernel_containers",
        "a_host_process_is_marked_as_the_hosts",
        "marking an event as the host's is userspace; in the VM, kernel_drift and kernel_workloads assert host events",
    ),
    (
        "kernel_enforcement",
        "an_agent_starts_on_pinned_rules_that_leave_no_room_for_its_own",
        "replacing a rule set in place is userspace; the maps and their limits are the same on both kernels",
    ),
    (
        "kernel_enforcement",
        "a_path_rule_holds_on_every_file_system",
        "mkfs.xfs and mkfs.btrfs are not in the VM's image; the identity it checks is computed in userspace, and the overlay case of the hook's lookup runs in the VM in the bypass test",
    ),
    (
        "kernel_policy_report",
        "*",
        "counts a real run's exported records; the judging it relies on runs in the VM in kernel_enforcement and kernel_drift",
    ),
    (
        "kernel_policy_run",
        "*",
        "modes, userspace kills, exceptions, break-glass orders, the policy workers' ordering and fetching bundles (reloads, a bundle server, an OCI registry the VM's image lacks) are userspace; the kernel's own verdicts, judged with the bundle, and a swap of the kernel's rules run in the VM in kernel_enforcement, kernel_drift and kernel_files",
    ),
    (
        "kernel_enforcement",
        "connections_open_before_a_rule_that_denies_them_are_ended",
        "reading the socket table and ending sockets (sock_diag) are userspace and netlink, which BPF-LSM does not change; the maps it judges with are the ones the VM's connect tests fill and check",
    ),
    (
        "kernel_enforcement",
        "tampered_enforcement_maps_are_put_back_and_recorded",
        "comparing and restoring the maps and pins is userspace, on maps alike on both kernels; that pinned rules outlive the agent runs in the VM in enforcement_survives_a_killed_agent_and_the_next_one_takes_over_without_stacking",
    ),
    (
        "kernel_process_sensor",
        "kernel_drops_are_counted_and_reported_within_a_second",
        "the drop counters are the same per-CPU array on both kernels, read and reported in userspace",
    ),
    (
        "kernel_process_sensor",
        "huge_argv_is_truncated_and_flagged_and_the_agent_carries_on",
        "the bounded copy is the exec program every VM test loads and verifies, and the VM's exec test reads arguments through it; flagging and carrying on are userspace",
    ),
    (
        "kernel_observability",
        "metrics_move_with_real_events_and_readiness_follows_enforcement",
        "metrics and readiness are userspace; the mechanism they report is checked in the VM by kernel_enforcement's probe test",
    ),
    ("kernel_containers", "a_running_containers_execs_name_the_container_and_its_pod", RUNC),
    ("kernel_containers", "pod_labels_come_from_the_api_servers_list_and_watch", RUNC),
    (
        "kernel_containers",
        "a_container_that_runs_one_command_and_exits_at_once_is_attributed",
        RUNC,
    ),
    (
        "kernel_workloads",
        "a_rule_scoped_to_a_namespace_is_enforced_there_and_on_the_host_only",
        RUNC,
    ),
    (
        "kernel_workloads",
        "an_exception_for_one_namespace_opens_that_workload_only_until_it_expires",
        RUNC,
    ),
    ("kernel_workloads", "pod_labels_from_the_api_server_put_a_workload_in_a_rules_scope", RUNC),
];

const RUNC: &str = "needs runc, which the VM's image does not carry";

/// The tests `executable` has, as `--list` names them.
fn list_tests(executable: &Path, cwd: &Path) -> anyhow::Result<Vec<String>> {
    let out = Command::new(executable)
        .args(["--list", "--format", "terse"])
        .current_dir(cwd)
        .output()
        .with_context(|| format!("cannot list the tests of {}", executable.display()))?;
    if !out.status.success() {
        bail!("{} --list failed: {}", executable.display(), out.status);
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| line.strip_suffix(": test"))
        .map(str::to_string)
        .collect())
}

fn test_binary(artifact: &Value, executable: PathBuf) -> anyhow::Result<TestBinary> {
    let target = &artifact["target"];
    let kind = target["kind"][0].as_str().unwrap_or("test");
    let name = target["name"].as_str().context("cargo named an artifact without a name")?;
    let manifest = artifact["manifest_path"].as_str().context("cargo gave no manifest path")?;
    let cwd: PathBuf = Path::new(manifest).parent().context("manifest path has no parent")?.into();
    let names = list_tests(&executable, &cwd)?;
    Ok(TestBinary { label: format!("{kind}:{name}"), executable, cwd, names })
}

// ---------------------------------------------------------------- initramfs

fn write_initramfs(build: &Build, modules: &Path, path: &Path) -> anyhow::Result<()> {
    let mut image = Image::default();
    for dir in ["/proc", "/sys", "/dev", "/tmp", "/root", VM_SCRATCH] {
        image.insert(dir, Node::Dir)?;
    }
    // So that /init has a console from its first instruction.
    image.insert("/dev/console", Node::CharDevice { major: 5, minor: 1 })?;
    image.insert("/etc/passwd", Node::Data { bytes: PASSWD.into(), mode: 0o644 })?;
    image.insert("/etc/group", Node::Data { bytes: GROUP.into(), mode: 0o644 })?;
    image.add_busybox()?;
    for module in MODULES {
        let source = modules.join(module);
        image.insert(Path::new(VM_TOOLS_DIR).join(module), Node::File { source, mode: 0o644 })?;
    }
    for program in HOST_PROGRAMS.iter().map(PathBuf::from).chain(build.programs.iter().cloned()) {
        image.add_program(&program)?;
    }
    for test in &build.tests {
        image.add_program(&test.executable)?;
        image.add_host(&test.cwd)?;
    }
    // Files tests read from the tree: the baseline bundle (`policy check`),
    // the event schema and recorded responses (`agent/tests/fixtures`).
    let root = crate::cmd::workspace_root();
    image.add_tree(&root.join("policies"))?;
    image.add_tree(&root.join("schema"))?;
    image.add_tree(&root.join("agent/tests/fixtures"))?;
    for test in &build.tests {
        let list = test.names.iter().map(|n| format!("{n}\n")).collect::<String>();
        let at = Path::new(VM_TOOLS_DIR).join("tests").join(&test.label);
        image.insert(at, Node::Data { bytes: list.into_bytes(), mode: 0o644 })?;
    }
    let init = init_script(&build.tests);
    image.insert("/init", Node::Data { bytes: init.into_bytes(), mode: 0o755 })?;
    image.write(path)
}

/// The initramfs's files, by absolute path; sorted, so parents come first.
#[derive(Default)]
struct Image {
    nodes: BTreeMap<PathBuf, Node>,
}

#[derive(PartialEq)]
enum Node {
    Dir,
    /// A host file, copied when the archive is written.
    File {
        source: PathBuf,
        mode: u32,
    },
    Data {
        bytes: Vec<u8>,
        mode: u32,
    },
    Symlink(PathBuf),
    CharDevice {
        major: u32,
        minor: u32,
    },
}

impl Image {
    /// Adds `node` at `path`, and the directories above it.
    fn insert(&mut self, path: impl Into<PathBuf>, node: Node) -> anyhow::Result<()> {
        let path = path.into();
        for parent in path.ancestors().skip(1).filter(|p| *p != Path::new("/")) {
            let existing = self.nodes.entry(parent.to_path_buf()).or_insert(Node::Dir);
            if *existing != Node::Dir {
                bail!(
                    "initramfs: {} is not a directory, cannot hold {}",
                    parent.display(),
                    path.display()
                );
            }
        }
        self.nodes.insert(path, node);
        Ok(())
    }

    /// Adds the host's `path` at the same path, with every symlink met on the
    /// way (e.g. `/bin -> usr/bin`, `/usr/bin/sh -> dash`) and what it points
    /// to, so that the same names resolve to the same files in the VM.
    fn add_host(&mut self, path: &Path) -> anyhow::Result<()> {
        // `real` stays free of symlinks, so `..` can simply pop.
        let mut real = PathBuf::from("/");
        for component in path.components() {
            match component {
                Component::Normal(name) => real.push(name),
                Component::ParentDir => {
                    real.pop();
                    continue;
                }
                Component::RootDir | Component::CurDir | Component::Prefix(_) => continue,
            }
            let meta = fs::symlink_metadata(&real)
                .with_context(|| format!("cannot put {} in the initramfs", real.display()))?;
            if meta.is_symlink() {
                if !self.nodes.contains_key(&real) {
                    let target = fs::read_link(&real)?;
                    self.insert(real.clone(), Node::Symlink(target.clone()))?;
                    self.add_host(&real.parent().unwrap_or(Path::new("/")).join(target))?;
                }
                real = fs::canonicalize(&real)?;
            } else if meta.is_dir() {
                self.insert(real.clone(), Node::Dir)?;
            } else if !self.nodes.contains_key(&real) {
                let node = Node::File { source: real.clone(), mode: meta.mode() & 0o7777 };
                self.insert(real.clone(), node)?;
            }
        }
        Ok(())
    }

    /// Adds a host directory and every file below it.
    fn add_tree(&mut self, dir: &Path) -> anyhow::Result<()> {
        self.add_host(dir)?;
        for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
            let path = entry?.path();
            if path.is_dir() { self.add_tree(&path)? } else { self.add_host(&path)? }
        }
        Ok(())
    }

    /// Adds a host executable and the shared libraries it loads.
    fn add_program(&mut self, program: &Path) -> anyhow::Result<()> {
        self.add_host(program)?;
        for library in shared_libraries(program)? {
            self.add_host(&library)?;
        }
        Ok(())
    }

    /// Busybox in `VM_TOOLS_DIR`, away from the host programs, with links
    /// for the applets `/init` uses.
    fn add_busybox(&mut self) -> anyhow::Result<()> {
        let host = fs::canonicalize(HOST_BUSYBOX).with_context(|| {
            format!(
                "{HOST_BUSYBOX} is missing; run `cargo xtask setup` (it installs busybox-static)"
            )
        })?;
        let dir = Path::new(VM_TOOLS_DIR);
        self.insert(dir.join("busybox"), Node::File { source: host.clone(), mode: 0o755 })?;
        for library in shared_libraries(&host)? {
            self.add_host(&library)?;
        }
        for applet in INIT_APPLETS {
            self.insert(dir.join(applet), Node::Symlink("busybox".into()))?;
        }
        Ok(())
    }

    /// Writes the image as an uncompressed newc cpio archive (the kernel
    /// unpacks it faster than a compressed one under emulation).
    fn write(&self, path: &Path) -> anyhow::Result<()> {
        let file =
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        let mut archive = Newc::new(BufWriter::new(file));
        for (path, node) in &self.nodes {
            archive
                .node(path, node)
                .with_context(|| format!("cannot write {} into the initramfs", path.display()))?;
        }
        archive.finish().with_context(|| format!("cannot write {}", path.display()))
    }
}

/// The absolute paths `ldd` lists for `program` (none if it is static).
fn shared_libraries(program: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let out = Command::new("ldd").arg(program).output().context("cannot start ldd")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        // ldd fails on static executables ("not a dynamic executable").
        return Ok(Vec::new());
    }
    let mut libraries = Vec::new();
    for line in text.lines() {
        // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)",
        // "/lib64/ld-linux-x86-64.so.2 (0x...)", "linux-vdso.so.1 (0x...)".
        let resolved = line.split_once("=>").map_or(line, |(_, right)| right).trim();
        if resolved.starts_with("not found") {
            bail!("{} needs {}, which is not found", program.display(), line.trim());
        }
        if let Some(path) = resolved.split_whitespace().next().filter(|p| p.starts_with('/')) {
            libraries.push(PathBuf::from(path));
        }
    }
    Ok(libraries)
}

/// A writer of the kernel's initramfs format: "newc" cpio.
struct Newc<W: Write> {
    out: W,
    written: u64,
    next_inode: u32,
}

impl<W: Write> Newc<W> {
    const S_IFDIR: u32 = 0o040000;
    const S_IFREG: u32 = 0o100000;
    const S_IFLNK: u32 = 0o120000;
    const S_IFCHR: u32 = 0o020000;

    fn new(out: W) -> Self {
        Newc { out, written: 0, next_inode: 1 }
    }

    fn node(&mut self, path: &Path, node: &Node) -> io::Result<()> {
        let name = path.strip_prefix("/").unwrap_or(path).as_os_str().as_encoded_bytes();
        match node {
            Node::Dir => self.entry(name, Self::S_IFDIR | 0o755, (0, 0), &[]),
            Node::Data { bytes, mode } => self.entry(name, Self::S_IFREG | mode, (0, 0), bytes),
            Node::Symlink(target) => {
                let target = target.as_os_str().as_encoded_bytes();
                self.entry(name, Self::S_IFLNK | 0o777, (0, 0), target)
            }
            Node::CharDevice { major, minor } => {
                self.entry(name, Self::S_IFCHR | 0o600, (*major, *minor), &[])
            }
            Node::File { source, mode } => {
                // Read whole: test binaries are tens of MB, and the size in
                // the header must match the bytes that follow.
                let bytes = fs::read(source)?;
                self.entry(name, Self::S_IFREG | mode, (0, 0), &bytes)
            }
        }
    }

    fn entry(&mut self, name: &[u8], mode: u32, rdev: (u32, u32), data: &[u8]) -> io::Result<()> {
        let size = u32::try_from(data.len())
            .map_err(|_| io::Error::other("a file of 4 GiB or more does not fit in newc"))?;
        let inode = self.next_inode;
        self.next_inode += 1;
        let name_size = name.len() + 1;
        // magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor,
        // devminor, rdevmajor, rdevminor, namesize, check.
        let header = format!(
            "070701{inode:08x}{mode:08x}{:08x}{:08x}{:08x}{:08x}{size:08x}{:08x}{:08x}{:08x}{:08x}{name_size:08x}{:08x}",
            0, 0, 1, 0, 0, 0, rdev.0, rdev.1, 0
        );
        self.put(header.as_bytes())?;
        self.put(name)?;
        self.put(&[0])?;
        self.pad()?;
        self.put(data)?;
        self.pad()
    }

    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// Zeros up to the next multiple of 4 bytes.
    fn pad(&mut self) -> io::Result<()> {
        let padding = (4 - self.written % 4) % 4;
        self.put(&[0; 3][..padding as usize])
    }

    fn finish(mut self) -> io::Result<()> {
        self.entry(b"TRAILER!!!", 0, (0, 0), &[])?;
        self.out.flush()
    }
}

// ---------------------------------------------------------------- init

/// `/init`: mounts what the agent needs, runs every test binary, prints the
/// marker lines and powers off.
fn init_script(tests: &[TestBinary]) -> String {
    // For development: `PALISADE_VM_NOCAPTURE=1` shows every test's output
    // (the agent's log lines with their times) on the console.
    let nocapture =
        if std::env::var_os("PALISADE_VM_NOCAPTURE").is_some() { " --nocapture" } else { "" };
    let modules = MODULES.join(" ");
    let mut script = format!(
        r#"#!{VM_TOOLS_DIR}/sh
# Written by `cargo xtask vm-test` (xtask/src/vm.rs).
export PATH={VM_TOOLS_DIR}
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t securityfs securityfs /sys/kernel/security
mount -t tracefs tracefs /sys/kernel/tracing
mount -t bpf bpf /sys/fs/bpf
mount -t cgroup2 cgroup2 /sys/fs/cgroup
# The tests' scratch space: a tmpfs of its own, not over /tmp, where the
# workspace (and so the test binaries) may live.
mount -t tmpfs tmpfs {VM_SCRATCH}
for module in {modules}; do
    insmod {VM_TOOLS_DIR}/$module || echo "PALISADE-VM: cannot load the module $module"
done
ifconfig lo 127.0.0.1 up
echo "{KERNEL_MARKER}$(uname -r)"
echo "PALISADE-VM: active LSMs: $(cat /sys/kernel/security/lsm)"
[ -e /sys/kernel/btf/vmlinux ] || echo "PALISADE-VM: /sys/kernel/btf/vmlinux is missing: this kernel has no BTF, so the agent cannot load"

run_tests() {{
    label=$1 dir=$2
    shift 2
    echo "PALISADE-VM-RUN $label"
    started=$(date +%s)
    failed=0
    # One test per process, each timed: the budget report names the slow
    # ones. The names (xtask listed them, less the host-only ones) are in
    # {VM_TOOLS_DIR}/tests/<label>.
    while IFS= read -r name; do
        t0=$(date +%s)
        (cd "$dir" && exec env -i PATH=/usr/bin:/bin HOME=/root TMPDIR={VM_SCRATCH} RUST_BACKTRACE=1 PALISADE_EXPECT_EXEC_MECHANISM=bpf-lsm "$@" --exact "$name" --test-threads=1{nocapture})
        rc=$?
        echo "{TEST_MARKER}$label $name $(( $(date +%s) - t0 ))s rc=$rc"
        [ "$rc" -eq 0 ] || failed=1
    done < "{VM_TOOLS_DIR}/tests/$label"
    echo "PALISADE-VM-TIME $label $(( $(date +%s) - started ))s"
    echo "{RESULT_MARKER}$label rc=$failed"
}}
"#
    );
    for test in tests {
        script += &format!(
            "run_tests {} {} {}\n",
            test.label,
            sh_quote(&test.cwd),
            sh_quote(&test.executable)
        );
    }
    script += &format!("echo {DONE_MARKER}\npoweroff -f\n");
    script
}

/// `path` as one single-quoted shell word.
fn sh_quote(path: &Path) -> String {
    format!("'{}'", path.to_string_lossy().replace('\'', r"'\''"))
}

// ---------------------------------------------------------------- boot

/// Boots the VM and returns its console lines; streams them to the terminal
/// and to `log` meanwhile.
fn boot(
    vmlinuz: &Path,
    initramfs: &Path,
    log: &Path,
    console: Console,
) -> anyhow::Result<Vec<String>> {
    eprintln!(
        "vm: booting {} under software emulation; console in {}",
        vmlinuz.display(),
        log.display()
    );
    let log_file = File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
    let mut qemu = Command::new("qemu-system-x86_64")
        .args(["-machine", "q35", "-accel", "tcg", "-cpu", "max", "-m", "2048", "-smp", "2"])
        // Like -nographic (serial console on stdio), but the firmware writes
        // to the unseen display: its terminal resets and screen clears stay
        // off the user's terminal. No network, so no iPXE either.
        .args(["-display", "none", "-serial", "stdio", "-monitor", "none", "-nic", "none"])
        .args(["-no-reboot", "-kernel"])
        .arg(vmlinuz)
        .arg("-initrd")
        .arg(initramfs)
        .args(["-append", KERNEL_CMDLINE])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => {
                anyhow::anyhow!("qemu-system-x86_64 is not installed; run `cargo xtask setup`")
            }
            _ => anyhow::Error::new(e).context("cannot start qemu-system-x86_64"),
        })?;
    QEMU_PID.store(qemu.id(), std::sync::atomic::Ordering::Release);
    let stdout = qemu.stdout.take().expect("stdout is piped");
    let reader = std::thread::spawn(move || tee_lines(stdout, log_file, console));
    let status = wait_or_kill(&mut qemu, TIMEOUT);
    QEMU_PID.store(0, std::sync::atomic::Ordering::Release);
    let lines = reader.join().expect("console reader panicked")?;
    let status = status?;
    if !status.success() {
        bail!("qemu failed ({status})");
    }
    Ok(lines)
}

/// Copies the console to the terminal and `log`, returning its lines.
fn tee_lines(console: impl Read, log: File, to: Console) -> anyhow::Result<Vec<String>> {
    let mut console = BufReader::new(console);
    let mut log = BufWriter::new(log);
    let mut terminal = io::stdout();
    let mut lines = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if console.read_until(b'\n', &mut line).context("cannot read the VM's console")? == 0 {
            break;
        }
        // Best effort on the terminal (it may be gone); the log must work.
        if to == Console::Terminal {
            let _ = terminal.write_all(&line).and_then(|()| terminal.flush());
        }
        log.write_all(&line).context("cannot write the console log")?;
        log.flush().context("cannot write the console log")?;
        lines.push(String::from_utf8_lossy(&line).trim_end().to_string());
    }
    log.flush().context("cannot write the console log")?;
    Ok(lines)
}

fn wait_or_kill(child: &mut Child, timeout: Duration) -> anyhow::Result<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().context("cannot wait for qemu")? {
            return Ok(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "the VM did not finish within {} minutes; qemu was killed",
                timeout.as_secs() / 60
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

// ---------------------------------------------------------------- verdict

/// Checks that every test binary reported rc=0 and the run finished; returns
/// the kernel release the VM reported.
fn verdict(console: &[String], tests: &[TestBinary]) -> anyhow::Result<String> {
    let release = after_marker(console, KERNEL_MARKER)
        .next()
        .map_or("an unknown kernel", str::trim)
        .to_string();
    let results: HashMap<&str, &str> =
        after_marker(console, RESULT_MARKER).filter_map(|rest| rest.rsplit_once(" rc=")).collect();
    let ran: std::collections::HashSet<&str> = after_marker(console, TEST_MARKER)
        .filter_map(|rest| Some(rest.rsplit_once(' ')?.0.rsplit_once(' ')?.0))
        .collect();
    for test in tests {
        match results.get(test.label.as_str()) {
            Some(&"0") => {}
            Some(rc) => bail!("vm: the tests in {} failed (rc={rc}) on {release}", test.label),
            None => bail!("vm: the VM stopped before {} finished (on {release})", test.label),
        }
        if let Some(name) =
            test.names.iter().find(|n| !ran.contains(format!("{} {n}", test.label).as_str()))
        {
            bail!("vm: {} {name} did not run (on {release})", test.label);
        }
    }
    if after_marker(console, DONE_MARKER).next().is_none() {
        bail!("vm: the VM stopped before its init script finished (on {release})");
    }
    Ok(release)
}

/// Prints the slowest tests of the run, for the time budget.
fn report_slowest(console: &[String]) {
    let mut times: Vec<(u64, &str)> = after_marker(console, TEST_MARKER)
        .filter_map(|rest| {
            let (test, tail) = rest.rsplit_once(' ')?.0.rsplit_once(' ')?;
            Some((tail.strip_suffix('s')?.parse().ok()?, test))
        })
        .collect();
    times.sort_unstable_by(|a, b| b.cmp(a));
    eprintln!("vm: slowest tests under emulation:");
    for (secs, test) in times.iter().take(8) {
        eprintln!("  {secs:>4} s  {test}");
    }
}

/// What follows `marker` on each console line holding it.
fn after_marker<'a>(console: &'a [String], marker: &'a str) -> impl Iterator<Item = &'a str> {
    console.iter().filter_map(move |line| line.find(marker).map(|at| &line[at + marker.len()..]))
}
