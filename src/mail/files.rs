//! Mail written as `.eml` files when no SMTP server is configured. A
//! confirmation mail carries a live link, so the folder is created 0700 and
//! each file 0600 whatever the umask; a file appears under its final name only
//! once complete (written under a dot name, then renamed).

use std::io::Write;
use std::path::{Path, PathBuf};

use super::SendError;

pub(super) struct OutboxDir {
    dir: PathBuf,
}

impl OutboxDir {
    /// Creates the folder (and missing parents) private to its owner; an
    /// existing folder keeps its mode.
    pub(super) fn create(dir: &Path) -> std::io::Result<Self> {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder.create(dir)?;
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    pub(super) fn path(&self) -> &Path {
        &self.dir
    }

    /// Writes `message` as `<random id>.eml`; returns the id.
    pub(super) async fn write(&self, message: &[u8]) -> Result<String, SendError> {
        let id = format!("{:032x}", rand::random::<u128>());
        let partial = self.dir.join(format!(".{id}.eml.partial"));
        let done = self.dir.join(format!("{id}.eml"));
        let message = message.to_vec();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            let mut file = crate::store::create_new_private(&partial)?;
            file.write_all(&message)?;
            file.sync_all()?;
            std::fs::rename(&partial, &done)
        })
        .await
        .map_err(|e| SendError::Transient(format!("cannot write the .eml file: {e}")))?
        .map_err(|e| SendError::Transient(format!("cannot write the .eml file: {e}")))?;
        Ok(id)
    }
}
