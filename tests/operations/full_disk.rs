//! 27. The disk under the SQLite file fills up, then space returns.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use tokio::time::Instant;

use crate::database::Backend;
use crate::herald_process::{Setup, POLL};

/// A tmpfs of `size` mounted on a new directory; unmounted when dropped.
struct SmallFilesystem {
    dir: tempfile::TempDir,
}

impl SmallFilesystem {
    fn mount(size: &str) -> Option<SmallFilesystem> {
        let dir = tempfile::tempdir().expect("a mount point");
        let mounted = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        mounted.then_some(SmallFilesystem { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallFilesystem {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_answers_503_and_herald_recovers_once_space_returns() {
    let Some(disk) = SmallFilesystem::mount("6m") else {
        eprintln!("note: a_full_disk_answers_503… needs to mount a tmpfs (root); not run here");
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must be able to mount a tmpfs"
        );
        return;
    };
    let setup = Setup::new(Backend::Sqlite, 1, &[]).await;
    let database = disk.path().join("herald.db");
    let url = format!("sqlite://{}", database.display());
    let _server = setup
        .serve_with(
            &["serve"],
            &[
                ("DATABASE_URL", &url),
                ("HERALD_SIGNUP_RATE_PER_MINUTE", "1000000"),
            ],
        )
        .await;
    // Leave a few hundred kilobytes: the signups fill the rest.
    let filler = disk.path().join("filler");
    let free = fs_free_bytes(disk.path());
    std::fs::write(
        &filler,
        vec![0u8; (free.saturating_sub(400 * 1024)) as usize],
    )
    .expect("write the filler");

    let client = reqwest::Client::new();
    let base = setup.base_url();
    let sign_up = |n: usize| {
        let (client, base) = (client.clone(), base.clone());
        async move {
            client
                .post(format!("{base}/subscriptions"))
                .form(&[("email", format!("flood{n:06}@example.com"))])
                .send()
                .await
                .expect("POST /subscriptions")
                .status()
                .as_u16()
        }
    };
    let mut accepted = Vec::new();
    let mut refused = 0;
    let mut n = 0;
    while refused < 20 {
        n += 1;
        assert!(n < 50_000, "the disk never filled");
        match sign_up(n).await {
            200 => accepted.push(format!("flood{n:06}@example.com")),
            status => {
                // The database cannot take it now: try again later.
                assert_eq!(status, 503, "signup {n} on a full disk");
                refused += 1;
            }
        }
    }
    assert!(!accepted.is_empty(), "no signup fitted on the disk");
    let health = client
        .get(format!("{base}/health"))
        .send()
        .await
        .expect("GET /health");
    assert_eq!(health.status(), 503, "/health while writes fail");

    // Space returns; Herald recovers without a restart.
    std::fs::remove_file(&filler).expect("remove the filler");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let health = client
            .get(format!("{base}/health"))
            .send()
            .await
            .expect("GET /health");
        if health.status() == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "/health still answers {}",
            health.status()
        );
        tokio::time::sleep(POLL).await;
    }
    for m in 0..50 {
        let status = sign_up(100_000 + m).await;
        assert_eq!(status, 200, "signup after space returned");
        accepted.push(format!("flood{:06}@example.com", 100_000 + m));
    }

    // Every signup that was accepted gets its confirmation, once.
    let messages = setup
        .smtp
        .wait_for_messages(accepted.len(), Duration::from_secs(60))
        .await;
    let mut by_reader: HashMap<String, usize> = HashMap::new();
    for message in &messages {
        for rcpt in &message.rcpt_to {
            *by_reader.entry(rcpt.clone()).or_default() += 1;
        }
    }
    let missing: Vec<_> = accepted
        .iter()
        .filter(|a| !by_reader.contains_key(*a))
        .take(5)
        .collect();
    assert!(
        missing.is_empty(),
        "accepted signups without mail: {missing:?}"
    );
    let twice: Vec<_> = by_reader.iter().filter(|(_, n)| **n > 1).take(5).collect();
    assert!(twice.is_empty(), "confirmations sent twice: {twice:?}");
}

fn fs_free_bytes(path: &Path) -> u64 {
    let output = Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(path)
        .output()
        .expect("run df");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .expect("df's answer")
}
