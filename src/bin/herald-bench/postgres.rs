//! `--database postgres://…`: each run gets a schema of its own on that
//! server, seeded like the SQLite template, and dropped afterwards.

use sqlx::{AnyConnection, Connection, Executor};

pub struct RunSchema {
    server: String,
    schema: String,
    /// The server's URL with the schema as the search path, for Herald.
    pub url: String,
}

impl RunSchema {
    pub async fn create(server: &str, run: usize) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let schema = format!("herald_bench_{}_{run}", std::process::id());
        let mut conn = AnyConnection::connect(server).await?;
        conn.execute(format!("DROP SCHEMA IF EXISTS {schema} CASCADE").as_str())
            .await?;
        conn.execute(format!("CREATE SCHEMA {schema}").as_str())
            .await?;
        conn.close().await?;
        let separator = if server.contains('?') { '&' } else { '?' };
        Ok(Self {
            server: server.to_owned(),
            url: format!("{server}{separator}options=-c%20search_path%3D{schema}"),
            schema,
        })
    }

    pub async fn drop_schema(self) -> anyhow::Result<()> {
        let mut conn = AnyConnection::connect(&self.server).await?;
        conn.execute(format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema).as_str())
            .await?;
        conn.close().await?;
        Ok(())
    }
}

/// The database one run of a web mode uses: a schema of its own on the
/// PostgreSQL `server` when one is given, else an SQLite file in `dir`.
/// Returns the schema (to drop afterwards) and Herald's database URL.
pub async fn run_database(
    server: Option<&str>,
    dir: &std::path::Path,
) -> anyhow::Result<(Option<RunSchema>, String)> {
    Ok(match server {
        Some(server) => {
            let schema = RunSchema::create(server, 1).await?;
            let url = schema.url.clone();
            (Some(schema), url)
        }
        None => (
            None,
            format!("sqlite://{}", dir.join("herald.db").display()),
        ),
    })
}
