//! The command line: `herald serve`, `herald worker`, `herald migrate`, users,
//! tokens, subscribers, issue sends and `herald dns`. Every command reads the
//! same configuration as `serve`.

mod bounces;
mod db;
mod dns;
mod issue;
mod segments;
pub mod subscribers;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use secrecy::SecretString;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

use crate::accounts::{AccountError, Accounts, NewPassword, Role};
use crate::audit::{Actor, AuditAction, AuditEntry, AuditLog};
use crate::config::{BaseUrl, Config, LogFormat};
use crate::startup::{Application, Sending, Worker};
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
    Serve {
        /// Serve the web pages only; `herald worker` processes on the same
        /// PostgreSQL database send the mail.
        #[arg(long)]
        no_worker: bool,
    },
    /// Send queued mail without serving web pages (a second sender on a
    /// shared PostgreSQL database, or a machine that only sends).
    Worker,
    /// Create or update the database tables, then exit.
    Migrate,
    /// Manage editor and admin accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Send an issue to the list, pause, resume or cancel the send, or follow it.
    Issue {
        #[command(subcommand)]
        command: issue::IssueCommand,
    },
    /// Import or export the subscriber list as CSV.
    Subscribers {
        #[command(subcommand)]
        command: subscribers::SubscribersCommand,
    },
    /// Print the DNS records to publish (DKIM keys, SPF, DMARC, the bounce
    /// domain), or check what DNS serves.
    Dns {
        /// Look the records up and say which are missing or wrong; the exit
        /// status is 1 unless all are right.
        #[arg(long)]
        check: bool,
        /// The DNS server to ask, as IP:PORT [default: the system's, from
        /// /etc/resolv.conf].
        #[arg(long, value_name = "IP:PORT", requires = "check")]
        resolver: Option<std::net::SocketAddr>,
    },
    /// Copy the whole database into another one (from SQLite up to PostgreSQL).
    Db {
        #[command(subcommand)]
        command: db::DbCommand,
    },
    /// Count the subscribers a segment matches.
    Segments {
        #[command(subcommand)]
        command: segments::SegmentsCommand,
    },
    /// Bounces, complaints and auto-replies that came back.
    Bounces {
        #[command(subcommand)]
        command: bounces::BouncesCommand,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Add an account. The password comes from HERALD_PASSWORD, or is asked for
    /// at the terminal without echo.
    Add {
        email: String,
        #[arg(long, value_parser = clap::value_parser!(Role))]
        role: Role,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create a bearer token for /api/v1 and print it once.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "admin", value_parser = clap::value_parser!(Role))]
        role: Role,
        /// The email address of the account that owns the token: an enabled
        /// admin (or an editor, for an editor token). Disabling or removing
        /// that account revokes the token. Required: no token is ownerless.
        #[arg(long, value_name = "EMAIL")]
        owner: String,
    },
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
    // `herald subscribers export > file.csv`: stdout carries data, logs go to stderr.
    init_tracing(
        config.log_format,
        matches!(
            cli.command,
            Command::Subscribers { .. }
                | Command::Db { .. }
                | Command::Dns { .. }
                | Command::Bounces { .. }
                | Command::Segments { .. }
        ),
    );
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
            Command::Serve { no_worker } => {
                let sending = if no_worker {
                    Sending::Elsewhere
                } else {
                    Sending::InThisProcess
                };
                serve(config, sending).await
            }
            Command::Worker => worker(config).await,
            Command::Issue { command } => issue::run(config, command).await,
            Command::Migrate => migrate(config).await,
            Command::User {
                command: UserCommand::Add { email, role },
            } => add_user(config, &email, role).await,
            Command::Token {
                command: TokenCommand::Create { name, role, owner },
            } => create_token(config, &name, role, &owner).await,
            Command::Subscribers { command } => subscribers::run(config, command).await,
            Command::Dns { check, resolver } => dns::run(&config, check, resolver).await,
            Command::Db { command } => db::run(&config.database_url, command).await,
            Command::Bounces { command } => bounces::run(config, command).await,
            Command::Segments { command } => segments::run(config, command).await,
        }
    })
}

fn init_tracing(format: LogFormat, logs_to_stderr: bool) {
    let mut filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(crate::telemetry::DEFAULT_LOG_FILTER)
    });
    if let Ok(silenced) = crate::telemetry::NEVER_LOGGED.parse() {
        filter = filter.add_directive(silenced);
    }
    let logs = tracing_subscriber::fmt().with_env_filter(filter);
    let writer = if logs_to_stderr {
        BoxMakeWriter::new(std::io::stderr)
    } else {
        BoxMakeWriter::new(std::io::stdout)
    };
    match format {
        LogFormat::Json => logs
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(writer)
            .init(),
        LogFormat::Text => {
            let ansi = if logs_to_stderr {
                std::io::IsTerminal::is_terminal(&std::io::stderr())
            } else {
                std::io::IsTerminal::is_terminal(&std::io::stdout())
            };
            logs.with_ansi(ansi).with_writer(writer).init()
        }
    }
}

async fn serve(config: Config, sending: Sending) -> ExitCode {
    let base_url = config.base_url.clone();
    let bind = config.bind;
    let app = match Application::build(config, sending).await {
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
    match sending {
        Sending::InThisProcess => println!("Mail goes to {}", app.mailer_description()),
        Sending::Elsewhere => println!("Not sending mail here (--no-worker): run `herald worker`"),
    }
    if let Err(error) = print_setup_link(&app, &base_url).await {
        eprintln!("herald: cannot make the first-run setup link: {error}");
        return ExitCode::FAILURE;
    }
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

async fn worker(config: Config) -> ExitCode {
    let worker = match Worker::build(config).await {
        Ok(worker) => worker,
        Err(error) => {
            eprintln!("herald: {error}");
            return ExitCode::from(error.exit_code());
        }
    };
    println!(
        "Herald worker started; mail goes to {}",
        worker.mailer_description()
    );
    wait_for_stop_signal().await;
    tracing::info!("stop requested; finishing mail in flight");
    worker.stop().await;
    ExitCode::SUCCESS
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

/// While no admin exists, a one-time link (1 hour) that creates the first one.
async fn print_setup_link(app: &Application, base_url: &BaseUrl) -> Result<(), sqlx::Error> {
    let accounts = Accounts::new(app.store().clone());
    if accounts.admin_exists().await? {
        return Ok(());
    }
    let token = accounts.create_setup_token().await?;
    println!();
    println!("No admin account yet. Create the first one within an hour at:");
    println!(
        "  {}",
        base_url.join(&format!("/admin/setup?token={token}"))
    );
    println!("(or run `herald user add EMAIL --role admin`)");
    Ok(())
}

/// Opens and migrates the database for a one-off command; the error is printed.
async fn open_store(config: &Config) -> Result<Store, ExitCode> {
    let store = Store::connect(&config.database_url, 2)
        .await
        .map_err(|error| {
            eprintln!("herald: DATABASE_URL: {error}");
            ExitCode::from(2)
        })?;
    store.migrate().await.map_err(|error| {
        eprintln!("herald: {error}");
        ExitCode::FAILURE
    })?;
    Ok(store)
}

async fn migrate(config: Config) -> ExitCode {
    match open_store(&config).await {
        Ok(_) => {
            println!("The database is up to date.");
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

async fn add_user(config: Config, email: &str, role: Role) -> ExitCode {
    let password = match std::env::var("HERALD_PASSWORD") {
        Ok(password) if !password.is_empty() => password,
        _ => match rpassword::prompt_password(format!("Password for {email}: ")) {
            Ok(password) => password,
            Err(error) => {
                eprintln!(
                    "herald: cannot read the password (set HERALD_PASSWORD instead): {error}"
                );
                return ExitCode::from(2);
            }
        },
    };
    let password = match NewPassword::parse(SecretString::from(password)) {
        Ok(password) => password,
        Err(error) => {
            eprintln!("herald: {error}");
            return ExitCode::from(2);
        }
    };
    let store = match open_store(&config).await {
        Ok(store) => store,
        Err(code) => return code,
    };
    match Accounts::new(store.clone())
        .create_user(email, role, password)
        .await
    {
        Ok(user) => {
            AuditLog::new(store)
                .record(
                    AuditEntry::new(Actor::CommandLine, AuditAction::UserAdded)
                        .target(user.email.clone())
                        .detail(format!("role {}", user.role)),
                )
                .await;
            println!("Added {} as {}.", user.email, user.role);
            ExitCode::SUCCESS
        }
        Err(error @ (AccountError::EmailTaken | AccountError::InvalidEmail(_))) => {
            eprintln!("herald: {error}");
            ExitCode::from(2)
        }
        Err(error) => {
            eprintln!("herald: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn create_token(config: Config, name: &str, role: Role, owner: &str) -> ExitCode {
    if name.trim().is_empty() || name.chars().any(char::is_control) {
        eprintln!("herald: --name must be a non-empty single line");
        return ExitCode::from(2);
    }
    let store = match open_store(&config).await {
        Ok(store) => store,
        Err(code) => return code,
    };
    let accounts = Accounts::new(store.clone());
    let owner_account = match accounts.user_by_email(owner).await {
        Ok(Some(account)) if !account.disabled => account,
        Ok(_) => {
            eprintln!(
                "herald: {}",
                AccountError::OwnerUnknown(format!(
                    "no enabled account has the address {owner:?} (add one with `herald user add`)"
                ))
            );
            return ExitCode::from(2);
        }
        Err(error) => {
            eprintln!("herald: {error}");
            return ExitCode::FAILURE;
        }
    };
    match accounts
        .create_api_token(name, role, owner_account.id)
        .await
    {
        Ok((id, token)) => {
            AuditLog::new(store)
                .record(
                    AuditEntry::new(Actor::CommandLine, AuditAction::TokenCreated)
                        .target(format!("API token #{id} “{name}”"))
                        .detail(format!("role {role}, owned by {}", owner_account.email)),
                )
                .await;
            // The token alone on stdout, so scripts can capture it.
            println!("{token}");
            eprintln!(
                "API token {name:?} ({role}, owned by {}) created. It is shown only this once.",
                owner_account.email
            );
            ExitCode::SUCCESS
        }
        Err(error @ (AccountError::OwnerUnknown(_) | AccountError::RoleAboveOwner)) => {
            eprintln!("herald: {error}");
            ExitCode::from(2)
        }
        Err(error) => {
            eprintln!("herald: {error}");
            ExitCode::FAILURE
        }
    }
}
