//! The SQLite database as a file: created private, watched for replacement,
//! and guarded by a lock file while a process changes its shape.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

/// A database file and the identity it had when opened; a file deleted or
/// replaced under the running process is no longer the database it writes to.
#[derive(Debug, Clone)]
pub(super) struct DatabaseFile {
    pub(super) path: PathBuf,
    identity: Option<(u64, u64)>,
}

impl DatabaseFile {
    pub(super) fn opened(path: PathBuf) -> Self {
        Self {
            identity: identity_of(&path),
            path,
        }
    }

    pub(super) fn is_intact(&self) -> bool {
        let now = identity_of(&self.path);
        now.is_some() && now == self.identity
    }
}

fn identity_of(path: &Path) -> Option<(u64, u64)> {
    let metadata = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some((metadata.dev(), metadata.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = metadata;
        Some((0, 0))
    }
}

/// Opens `path` for writing, creating it readable by its owner alone
/// (0600 whatever the umask) when it does not exist; an existing file keeps
/// its mode. Subscriber addresses and password hashes live in the database,
/// and SQLite gives the `-wal` and `-shm` files the mode of the main file, so
/// creating the main file private before SQLite opens it covers all three.
pub(crate) fn create_private(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// Creates `path`, which must not exist yet, readable by its owner alone.
pub(crate) fn create_new_private(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// An exclusive lock on `<database>.lock`, held while a process switches the
/// file to WAL and while it migrates, so that two processes started together
/// on a fresh database (`herald serve` and `herald user add`) take turns
/// instead of both creating the tables. The lock is `flock(2)` on a sibling
/// file, not on the database itself: SQLite's own locks are POSIX record
/// locks, which closing any other handle on the same file would drop.
/// Released when dropped, and by the system if the process dies.
pub(super) struct SchemaLock {
    file: File,
}

impl SchemaLock {
    /// Waits (off the async runtime) until no other process holds the lock.
    pub(super) async fn acquire(database: &Path) -> io::Result<Self> {
        let mut name = database.as_os_str().to_owned();
        name.push(".lock");
        let path = PathBuf::from(name);
        tokio::task::spawn_blocking(move || {
            let file = create_private(&path)?;
            file.lock()?;
            Ok(Self { file })
        })
        .await
        .map_err(io::Error::other)?
    }
}

impl Drop for SchemaLock {
    fn drop(&mut self) {
        // Closing the file releases the lock too; unlocking first says so.
        let _ = self.file.unlock();
    }
}
