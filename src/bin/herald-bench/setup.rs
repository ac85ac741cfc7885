//! Before the first run: the executables, the scratch directory, and a
//! line about the machine for whoever reads the figures.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use crate::smtp_source;

/// The executables the benchmark runs.
pub struct Tools {
    pub bench: PathBuf,
    /// Absent with `--smtp-source-only`.
    pub herald: Option<PathBuf>,
    pub smtp_source: PathBuf,
}

impl Tools {
    /// Herald is `chosen_herald` (`--herald`), or the one next to this
    /// executable; none when only smtp-source is measured.
    pub fn find(chosen_herald: Option<&Path>, smtp_source_only: bool) -> anyhow::Result<Self> {
        let smtp_source = smtp_source::find()?;
        let (bench, herald) = if smtp_source_only {
            let bench = std::env::current_exe().context("cannot find this executable")?;
            (bench, None)
        } else {
            let (bench, herald) = executables(chosen_herald)?;
            (bench, Some(herald))
        };
        Ok(Self {
            bench,
            herald,
            smtp_source,
        })
    }
}

/// This executable and Herald's: `chosen_herald` (`--herald`), or the one
/// next to this executable, refused when older than the sources. For the
/// modes that need no `smtp-source`.
pub fn executables(chosen_herald: Option<&Path>) -> anyhow::Result<(PathBuf, PathBuf)> {
    let bench = std::env::current_exe().context("cannot find this executable")?;
    if cfg!(debug_assertions) {
        eprintln!("herald-bench: this is a debug build; only --release figures mean anything");
    }
    let exe = match chosen_herald {
        Some(path) => path.to_owned(),
        None => bench.with_file_name("herald"),
    };
    if !exe.is_file() {
        bail!(
            "{} does not exist; build it with `cargo build --release --bins`",
            exe.display()
        );
    }
    if chosen_herald.is_none() {
        check_herald_is_fresh(&exe)?;
    }
    // `herald serve` runs in the scratch directory: a relative --herald must still name it.
    let exe =
        std::fs::canonicalize(&exe).with_context(|| format!("cannot find {}", exe.display()))?;
    Ok((bench, exe))
}

/// `cargo run --release --bin herald-bench` builds only this binary, so the
/// `herald` next to it may predate the sources: refuse to measure that one.
/// (Building it from here would run cargo with `cargo run`'s environment,
/// which invalidates half the build cache.)
fn check_herald_is_fresh(herald: &Path) -> anyhow::Result<()> {
    let sources = Path::new(env!("CARGO_MANIFEST_DIR"));
    let built = std::fs::metadata(herald)?.modified()?;
    let newer = ["src", "migrations", "templates", "Cargo.toml", "Cargo.lock"]
        .iter()
        .filter_map(|part| newest_change(&sources.join(part)))
        .find(|(_, changed)| *changed > built);
    if let Some((path, _)) = newer {
        bail!(
            "{} is older than {}; build it with `cargo build --release --bins`",
            herald.display(),
            path.display()
        );
    }
    Ok(())
}

/// The most recently changed file under `path` (this benchmark's own sources
/// aside), if the source tree is there at all.
fn newest_change(path: &Path) -> Option<(PathBuf, std::time::SystemTime)> {
    if path.ends_with("src/bin") {
        return None;
    }
    let metadata = std::fs::metadata(path).ok()?;
    if metadata.is_file() {
        return Some((path.to_owned(), metadata.modified().ok()?));
    }
    std::fs::read_dir(path)
        .ok()?
        .filter_map(|entry| newest_change(&entry.ok()?.path()))
        .max_by_key(|(_, changed)| *changed)
}

/// "2 CPUs (AMD EPYC 7B13)", for the reader of the figures.
pub fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!("{cpus} CPUs ({model})")
}

/// A directory of our own under the system's temporary directory, removed
/// on drop unless kept.
pub struct TempDir {
    pub path: PathBuf,
    keep: bool,
}

impl TempDir {
    pub fn create() -> anyhow::Result<Self> {
        let unique = format!(
            "herald-bench-{}-{}",
            std::process::id(),
            herald::store::now_millis()
        );
        let path = std::env::temp_dir().join(unique);
        std::fs::create_dir(&path).with_context(|| format!("cannot create {}", path.display()))?;
        Ok(Self { path, keep: false })
    }

    pub fn keep(mut self) -> PathBuf {
        self.keep = true;
        self.path.clone()
    }
}

/// Runs `command` (`herald ARGS`) to completion with no input; its standard
/// output, or an error with both outputs when it failed.
pub fn run_herald(
    mut command: std::process::Command,
    herald_exe: &Path,
    args: &[&str],
) -> anyhow::Result<String> {
    let output = command
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("cannot run {} {args:?}", herald_exe.display()))?;
    if !output.status.success() {
        bail!(
            "`herald {}` failed ({}):\n{}{}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Runs `bench` on a two-thread runtime with a fresh scratch directory,
/// which stays afterwards when `keep` is set or the run failed (its logs and
/// database tell why) and is removed otherwise.
pub fn in_scratch_dir<T, Bench>(
    keep: bool,
    bench: impl FnOnce(PathBuf) -> Bench,
) -> anyhow::Result<T>
where
    Bench: std::future::Future<Output = anyhow::Result<T>>,
{
    let dir = TempDir::create()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let result = runtime.block_on(bench(dir.path.clone()));
    match &result {
        Ok(_) if keep => println!("files kept in {}", dir.keep().display()),
        Ok(_) => {}
        Err(_) => eprintln!("files kept in {}", dir.keep().display()),
    }
    result
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}
