//! An HTTP/1.1 load generator for the benchmark's web modes: a number of
//! kept-alive connections sending requests built by the caller, closed loop
//! (each connection sends its next request when the answer arrives, as wrk
//! does) or open loop at a fixed rate.
//!
//! Written here rather than driving wrk: the benchmark must make a unique
//! request each time (a new address per signup, a session cookie), check what
//! came back, and run on a fresh machine with nothing installed by hand. Open
//! loop timings count from when a request was due, not from when it went out,
//! so a server that stalls is charged for the requests it held up
//! ("coordinated omission").

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How the load is applied.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub connections: usize,
    pub duration: Duration,
    /// Requests per second over all connections (open loop); `None` sends as
    /// fast as the server answers (closed loop).
    pub rate_per_second: Option<f64>,
}

/// The raw bytes of request number `n` (unique over the whole run).
pub type RequestMaker = dyn Fn(u64) -> Vec<u8> + Send + Sync;

/// What a run measured.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub elapsed: Duration,
    /// Answers by status code.
    pub by_status: BTreeMap<u16, u64>,
    /// Requests that got no parseable answer (connection refused or reset).
    pub failures: u64,
    /// Every answered request's latency, sorted.
    latencies: Vec<Duration>,
    /// The numbers (as given to the request maker) of the requests answered
    /// with a 2xx status: what the server acknowledged.
    pub acknowledged: Vec<u64>,
}

impl LoadReport {
    pub fn answered(&self) -> u64 {
        self.by_status.values().sum()
    }

    /// Answers with this status.
    pub fn count(&self, status: u16) -> u64 {
        self.by_status.get(&status).copied().unwrap_or(0)
    }

    /// Answered requests per second.
    pub fn rate(&self) -> f64 {
        self.answered() as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    /// The latency below which `fraction` (0–1) of the answers came.
    pub fn percentile(&self, fraction: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((self.latencies.len() as f64 * fraction).ceil() as usize).max(1);
        self.latencies[rank.min(self.latencies.len()) - 1]
    }

    /// `by_status` as `200: 1234, 429: 5`.
    pub fn statuses(&self) -> String {
        let mut parts: Vec<String> = self
            .by_status
            .iter()
            .map(|(status, count)| format!("{status}: {count}"))
            .collect();
        if self.failures > 0 {
            parts.push(format!("no answer: {}", self.failures));
        }
        parts.join(", ")
    }
}

/// Drives `load` against `address`, each request built by `make`.
pub async fn drive(
    address: SocketAddr,
    load: Load,
    make: Arc<RequestMaker>,
) -> anyhow::Result<LoadReport> {
    drive_until(address, load, make, Arc::new(AtomicBool::new(false))).await
}

/// [`drive`], ending early once `stop` is set: no request goes out after,
/// and those under way are waited for.
pub async fn drive_until(
    address: SocketAddr,
    load: Load,
    make: Arc<RequestMaker>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<LoadReport> {
    if load.connections == 0 {
        bail!("the load needs at least one connection");
    }
    let next_number = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + load.duration;
    // Open loop: connection i sends at started + (i + k·connections) / rate.
    let interval = load
        .rate_per_second
        .map(|rate| Duration::from_secs_f64(load.connections as f64 / rate));
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..load.connections {
        let make = Arc::clone(&make);
        let next_number = Arc::clone(&next_number);
        let stop = Arc::clone(&stop);
        let first_due = interval
            .map(|interval| started + interval.mul_f64(index as f64 / load.connections as f64));
        tasks.spawn(async move {
            connection_loop(
                address,
                deadline,
                first_due,
                interval,
                &*make,
                &next_number,
                &stop,
            )
            .await
        });
    }
    let mut report = LoadReport::default();
    while let Some(joined) = tasks.join_next().await {
        let part = joined.context("a load connection panicked")??;
        for (status, count) in part.by_status {
            *report.by_status.entry(status).or_default() += count;
        }
        report.failures += part.failures;
        report.latencies.extend(part.latencies);
        report.acknowledged.extend(part.acknowledged);
    }
    report.elapsed = started.elapsed();
    report.latencies.sort_unstable();
    Ok(report)
}

async fn connection_loop(
    address: SocketAddr,
    deadline: Instant,
    first_due: Option<Instant>,
    interval: Option<Duration>,
    make: &RequestMaker,
    next_number: &AtomicU64,
    stop: &AtomicBool,
) -> anyhow::Result<LoadReport> {
    let mut report = LoadReport::default();
    let mut connection: Option<Connection> = None;
    let mut due = first_due;
    loop {
        let sent_at = match due {
            Some(at) => {
                if at >= deadline {
                    break;
                }
                tokio::time::sleep_until(at.into()).await;
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                at
            }
            None => {
                let now = Instant::now();
                if now >= deadline || stop.load(Ordering::Relaxed) {
                    break;
                }
                now
            }
        };
        if let (Some(at), Some(interval)) = (due, interval) {
            due = Some(at + interval);
        }
        let number = next_number.fetch_add(1, Ordering::Relaxed);
        let request = make(number);
        let live = match connection.take() {
            Some(live) => live,
            None => match Connection::open(address).await {
                Ok(opened) => opened,
                Err(_) => {
                    report.failures += 1;
                    // A refused connection must not spin the loop.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let mut live = live;
        match live.exchange(&request).await {
            Ok(answer) => {
                report.latencies.push(sent_at.elapsed());
                *report.by_status.entry(answer.status).or_default() += 1;
                if (200..300).contains(&answer.status) {
                    report.acknowledged.push(number);
                }
                if answer.keep_alive {
                    connection = Some(live);
                }
            }
            Err(_) => report.failures += 1,
        }
    }
    Ok(report)
}

/// One kept-alive connection and the bytes read past the last answer.
struct Connection {
    stream: TcpStream,
    buffer: Vec<u8>,
}

/// The parts of an answer the benchmark looks at.
struct Answer {
    status: u16,
    keep_alive: bool,
}

impl Connection {
    async fn open(address: SocketAddr) -> std::io::Result<Self> {
        let stream = TcpStream::connect(address).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buffer: Vec::with_capacity(16 * 1024),
        })
    }

    /// Sends one request and reads its whole answer (the body is discarded).
    async fn exchange(&mut self, request: &[u8]) -> anyhow::Result<Answer> {
        self.stream.write_all(request).await?;
        let head_end = loop {
            if let Some(at) = memchr::memmem::find(&self.buffer, b"\r\n\r\n") {
                break at + 4;
            }
            self.fill().await?;
        };
        let head = std::str::from_utf8(&self.buffer[..head_end]).context("a non-UTF-8 head")?;
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status: u16 = status_line
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .with_context(|| format!("a bad status line: {status_line:?}"))?;
        let mut length: Option<usize> = None;
        let mut chunked = false;
        let mut keep_alive = !status_line.starts_with("HTTP/1.0");
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse().ok();
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.eq_ignore_ascii_case("chunked");
            } else if name.eq_ignore_ascii_case("connection") {
                keep_alive = !value.eq_ignore_ascii_case("close");
            }
        }
        self.buffer.drain(..head_end);
        if chunked {
            self.skip_chunked_body().await?;
        } else {
            let length = length.unwrap_or(0);
            while self.buffer.len() < length {
                self.fill().await?;
            }
            self.buffer.drain(..length);
        }
        Ok(Answer { status, keep_alive })
    }

    async fn skip_chunked_body(&mut self) -> anyhow::Result<()> {
        loop {
            let line_end = loop {
                if let Some(at) = memchr::memmem::find(&self.buffer, b"\r\n") {
                    break at;
                }
                self.fill().await?;
            };
            let size_text = std::str::from_utf8(&self.buffer[..line_end])?;
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .with_context(|| format!("a bad chunk size: {size_text:?}"))?;
            // The chunk, then its CRLF (after the last chunk: the final CRLF).
            let needed = line_end + 2 + size + 2;
            while self.buffer.len() < needed {
                self.fill().await?;
            }
            self.buffer.drain(..needed);
            if size == 0 {
                return Ok(());
            }
        }
    }

    async fn fill(&mut self) -> anyhow::Result<()> {
        let mut chunk = [0u8; 16 * 1024];
        let read = self.stream.read(&mut chunk).await?;
        if read == 0 {
            bail!("the server closed the connection");
        }
        self.buffer.extend_from_slice(&chunk[..read]);
        Ok(())
    }
}

/// A `GET` with optional extra header lines (each ending in CRLF).
pub fn get(path: &str, host: &str, extra_headers: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra_headers}\r\n").into_bytes()
}

/// A form `POST` of `body` (already URL-encoded).
pub fn form_post(path: &str, host: &str, extra_headers: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\n{extra_headers}\r\n{body}",
        body.len()
    )
    .into_bytes()
}
