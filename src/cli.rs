//! The command line: `herald serve`, `herald migrate`. Every command reads the
//! same configuration as `serve`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::startup::Application;
use crate::store::Store;

#[derive(Debug, Parser)]
#[command(name = "herald", version, about = "Self-hosted newsletter service")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the web pages and send queued mail.
    Serve,
    /// Create or update the database tables, then exit.
    Migrate,
}

/// Runs the command line; the exit code is 2 for bad configuration.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("herald: {error}");
            return ExitCode::from(2);
        }
    };
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("herald: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        match cli.command {
            Command::Serve => serve(config).await,
            Command::Migrate => migrate(config).await,
        }
    })
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
}

async fn serve(config: Config) -> ExitCode {
    let base_url = config.base_url.clone();
    let bind = config.bind;
    let app = match Application::build(config).await {
        Ok(app) => app,
        Err(error) => {
            eprintln!("herald: {error}");
            return ExitCode::from(error.exit_code());
        }
    };
    println!(
        "Herald is listening on http://{bind} (public URL {})",
        base_url.as_str()
    );
    println!("Signup page: {}/", base_url.as_str());
    println!("Mail goes to {}", app.mailer_description());
    let handle = app.handle();
    tokio::spawn(async move {
        wait_for_stop_signal().await;
        tracing::info!("stop requested; finishing requests in flight");
        handle.stop(true).await;
    });
    match app.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("herald: server error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn wait_for_stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn migrate(config: Config) -> ExitCode {
    let store = match Store::connect(&config.database_url, 1).await {
        Ok(store) => store,
        Err(error) => {
            eprintln!("herald: DATABASE_URL: {error}");
            return ExitCode::from(2);
        }
    };
    match store.migrate().await {
        Ok(()) => {
            println!("The database is up to date.");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("herald: {error}");
            ExitCode::FAILURE
        }
    }
}
