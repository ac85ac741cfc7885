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
