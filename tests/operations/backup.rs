//! 22. A backup taken while an issue goes out, and restored.

use std::path::PathBuf;

use sqlx::Connection;

use crate::database::Backend;
use crate::herald_process::Setup;
use crate::{count, open_sqlite, sqlite_file, table_counts};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_mid_send_holds_every_row_and_restores() {
    const READERS: usize = 3_000;
    let setup = Setup::new(
        Backend::Sqlite,
        READERS,
        &[
            ("HERALD_SEND_RATE", "200"),
            ("HERALD_SEND_CONCURRENCY", "4"),
        ],
    )
    .await;
    let server = setup.serve().await;
    setup.send_issue().await;
    setup.wait_for_messages(200).await;

    let backup = setup.db.dir.path().join("backup.db");
    let backup_arg = backup.to_str().expect("a UTF-8 path");
    let sent_before = setup.smtp.messages().await.len() as i64;
    let output = setup.run(&["db", "backup", backup_arg]).await;
    let sent_after = setup.smtp.messages().await.len() as i64;
    assert!(
        output.status.success(),
        "herald db backup failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_ne!(
        setup.issue_status().await,
        "sent",
        "the backup was not mid-send"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&backup)
            .expect("the backup")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the backup has mode {mode:o}");
    }

    // Every row: the live database's counts, taken while the send goes on,
    // equal the backup's for every table (a send changes rows, not their number).
    let mut copy = open_sqlite(&backup).await;
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut copy)
        .await
        .expect("integrity_check");
    assert_eq!(integrity, "ok");
    let mut live = open_sqlite(&sqlite_file(&setup)).await;
    let (copied, now) = (table_counts(&mut copy).await, table_counts(&mut live).await);
    assert_eq!(copied, now, "row counts: backup vs live");
    assert_eq!(copied.get("subscribers").copied(), Some(READERS as i64));
    assert_eq!(copied.get("deliveries").copied(), Some(READERS as i64));
    // A consistent queue: each copy is sent or still to go, and no more are
    // marked sent than the relay had taken when the backup ended, nor fewer
    // than it had taken before, less those in flight (4 workers).
    let sent = count(
        &mut copy,
        "SELECT COUNT(*) FROM deliveries WHERE status = 'sent'",
    )
    .await;
    let queued = count(
        &mut copy,
        "SELECT COUNT(*) FROM deliveries WHERE status = 'queued'",
    )
    .await;
    assert_eq!(sent + queued, READERS as i64);
    assert!(
        (sent_before - 4..=sent_after).contains(&sent),
        "the backup says {sent} sent; the relay had {sent_before} before and {sent_after} after"
    );
    let status: String = sqlx::query_scalar("SELECT status FROM issues")
        .fetch_one(&mut copy)
        .await
        .expect("the issue");
    assert_eq!(status, "sending");
    let _ = copy.close().await;
    let _ = live.close().await;

    // Never overwritten; PostgreSQL is pointed at pg_dump.
    let size = std::fs::metadata(&backup).expect("the backup").len();
    let again = setup.run(&["db", "backup", backup_arg]).await;
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    assert_eq!(std::fs::metadata(&backup).expect("the backup").len(), size);
    let mut postgres = setup.command_with(
        &["db", "backup", "elsewhere.db"],
        &[("DATABASE_URL", "postgres://herald@127.0.0.1:1/herald")],
    );
    let refused = postgres.output().expect("run herald db backup");
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("pg_dump"));
    assert!(!setup.db.dir.path().join("elsewhere.db").exists());

    // Restoring as documented: stop, replace the file, remove the old
    // -wal and -shm, start. The send picks up where the backup left it.
    server.kill();
    let file = sqlite_file(&setup);
    std::fs::rename(&backup, &file).expect("put the backup in place");
    for suffix in ["-wal", "-shm"] {
        let mut name = file.clone().into_os_string();
        name.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(name));
    }
    let _server = setup.serve().await;
    setup.wait_until_sent().await;
    let copies = setup.copies().await;
    let missing = setup
        .readers
        .iter()
        .filter(|r| !copies.contains_key(*r))
        .count();
    assert_eq!(missing, 0, "readers without the issue after the restore");
}
