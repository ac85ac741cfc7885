//! The web modes' anchor: a bare actix-web server, in a process of its own,
//! with the same worker count as `herald serve` and the two routes the
//! benchmark loads (`GET /health` answering a small JSON body, `POST
//! /subscriptions` parsing the form and answering a short page). It does no
//! database or mail work, so it is the ceiling of the framework on this
//! machine, measured in the same run and with the same load generator as
//! Herald.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use actix_web::{web, App, HttpResponse, HttpServer};
use anyhow::{bail, Context};

/// `herald-bench anchor-http`: serves until its standard input closes.
pub fn serve(workers: usize) -> anyhow::Result<()> {
    let system = actix_web::rt::System::new();
    system.block_on(async move {
        let server = HttpServer::new(|| {
            App::new()
                .route(
                    "/health",
                    web::get().to(|| async {
                        HttpResponse::Ok()
                            .content_type("application/json")
                            .body(r#"{"status":"ok","database":"ok","relay":"reachable"}"#)
                    }),
                )
                .route(
                    "/subscriptions",
                    web::post().to(|form: web::Form<HashMap<String, String>>| async move {
                        let email = form.get("email").map_or("", String::as_str);
                        HttpResponse::Ok()
                            .content_type("text/html; charset=utf-8")
                            .body(format!(
                                "<!doctype html><title>Check your inbox</title>\
                                 <p>We sent a link to {}.</p>",
                                email.len()
                            ))
                    }),
                )
        })
        .workers(workers)
        .disable_signals()
        .bind("127.0.0.1:0")?;
        let address = server
            .addrs()
            .first()
            .copied()
            .context("the anchor is bound to no address")?;
        println!("listening {address}");
        let running = server.run();
        let handle = running.handle();
        // The parent closing our stdin (or dying) stops the anchor.
        std::thread::spawn(move || {
            let mut line = String::new();
            while std::io::stdin()
                .read_line(&mut line)
                .is_ok_and(|read| read > 0)
            {
                line.clear();
            }
            actix_web::rt::System::new().block_on(handle.stop(false));
        });
        running.await?;
        Ok(())
    })
}

/// The anchor server running as a child of the benchmark.
pub struct AnchorProcess {
    child: Child,
    pub address: SocketAddr,
}

impl AnchorProcess {
    pub fn start(bench_exe: &Path, workers: usize) -> anyhow::Result<Self> {
        let mut child = Command::new(bench_exe)
            .args(["anchor-http", "--workers", &workers.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot start the anchor ({})", bench_exe.display()))?;
        let Some(stdout) = child.stdout.take() else {
            bail!("the anchor's stdout is not piped");
        };
        let mut first = String::new();
        BufReader::new(stdout).read_line(&mut first)?;
        let address = first
            .trim()
            .strip_prefix("listening ")
            .and_then(|a| a.parse().ok())
            .with_context(|| format!("the anchor did not say where it listens: {first:?}"))?;
        Ok(Self { child, address })
    }
}

impl Drop for AnchorProcess {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}
