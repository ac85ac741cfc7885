//! The SMTP sink both senders deliver to: it accepts every message, counts it
//! and its bytes, and throws it away.
//!
//! It runs as a child process (`herald-bench sink`, hidden) so that its CPU
//! time never counts against the sender being measured. The parent talks to
//! it over its stdin and stdout, one line each way: `stats` answers
//! `MESSAGES BYTES CONNECTIONS`, `reset` zeroes the counters and answers
//! `ok`; end of input stops the sink.

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context};
use memchr::memmem;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What ends a message in DATA (RFC 5321 §4.1.1.4). The CRLF ending the
/// DATA command counts as the first CRLF, so an empty message is just `.` CRLF.
const END_OF_DATA: &[u8] = b"\r\n.\r\n";
/// The largest message the sink says it takes; Herald's are about 50 KB.
const EHLO_REPLY: &[u8] =
    b"250-sink.herald-bench\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 52428800\r\n";
/// A message arrives in chunks of this size; larger reads cost fewer wake-ups.
const READ_BUFFER: usize = 64 * 1024;
/// A command line longer than this is refused and the session closed: SMTP
/// allows 512 octets, and an unbounded line would grow without limit.
const MAX_COMMAND_LINE: usize = 4096;

#[derive(Debug, Default)]
struct Counters {
    messages: AtomicU64,
    bytes: AtomicU64,
    connections: AtomicU64,
}

/// What the sink has taken since it started or was last reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SinkStats {
    pub messages: u64,
    /// Message bytes as sent in DATA, without the final `.` CRLF.
    pub bytes: u64,
    pub connections: u64,
}

/// The hidden `sink` subcommand: serves SMTP on `127.0.0.1` with `threads`
/// runtime threads until its stdin closes.
pub fn serve(threads: usize) -> anyhow::Result<()> {
    let runtime = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()?
    };
    let counters = Arc::new(Counters::default());
    let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0"))?;
    let address = listener.local_addr()?;
    runtime.spawn(accept_loop(listener, counters.clone()));

    // The runtime serves connections on its own threads (a current-thread
    // runtime on the one `block_on` below); this thread answers the parent.
    let control = std::thread::spawn(move || answer_parent(address, &counters));
    runtime.block_on(async {
        while !control.is_finished() {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    });
    match control.join() {
        Ok(result) => result,
        Err(_) => bail!("the sink's control thread panicked"),
    }
}

fn answer_parent(address: SocketAddr, counters: &Counters) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening {address}")?;
    out.flush()?;
    for line in std::io::stdin().lock().lines() {
        match line?.trim() {
            "stats" => {
                let messages = counters.messages.load(Ordering::Acquire);
                let bytes = counters.bytes.load(Ordering::Acquire);
                let connections = counters.connections.load(Ordering::Acquire);
                writeln!(out, "{messages} {bytes} {connections}")?;
            }
            "reset" => {
                counters.messages.store(0, Ordering::Release);
                counters.bytes.store(0, Ordering::Release);
                counters.connections.store(0, Ordering::Release);
                writeln!(out, "ok")?;
            }
            other => writeln!(out, "unknown command {other:?}")?,
        }
        out.flush()?;
    }
    Ok(())
}

async fn accept_loop(listener: TcpListener, counters: Arc<Counters>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                // Out of file descriptors and the like: wait, as the peer retries.
                eprintln!("sink: accept failed: {error}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        counters.connections.fetch_add(1, Ordering::Relaxed);
        let counters = counters.clone();
        tokio::spawn(async move {
            if let Err(error) = session(stream, &counters).await {
                if error.kind() != std::io::ErrorKind::ConnectionReset {
                    eprintln!("sink: session ended: {error}");
                }
            }
        });
    }
}

/// One SMTP session. Replies are buffered and written when the client has
/// nothing more in flight, so a pipelining client gets one write per batch
/// and a one-command-at-a-time client (lettre, smtp-source) one per command.
async fn session(mut stream: TcpStream, counters: &Counters) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let (reader, writer) = stream.split();
    let mut reader = tokio::io::BufReader::with_capacity(READ_BUFFER, reader);
    let mut writer = tokio::io::BufWriter::with_capacity(4096, writer);
    let end_of_data = memmem::Finder::new(END_OF_DATA);
    let mut line = Vec::with_capacity(MAX_COMMAND_LINE);

    writer.write_all(b"220 sink.herald-bench ESMTP\r\n").await?;
    writer.flush().await?;
    loop {
        line.clear();
        let read = (&mut reader)
            .take(MAX_COMMAND_LINE as u64)
            .read_until(b'\n', &mut line)
            .await?;
        if read == 0 {
            return Ok(());
        }
        if line.last() != Some(&b'\n') {
            writer.write_all(b"500 line too long\r\n").await?;
            writer.flush().await?;
            return Ok(());
        }
        let mut verb = [0u8; 4];
        for (to, from) in verb.iter_mut().zip(&line) {
            *to = from.to_ascii_uppercase();
        }
        match &verb {
            b"EHLO" => writer.write_all(EHLO_REPLY).await?,
            b"HELO" => writer.write_all(b"250 sink.herald-bench\r\n").await?,
            b"MAIL" | b"RCPT" | b"RSET" | b"NOOP" => writer.write_all(b"250 OK\r\n").await?,
            b"DATA" => {
                // The client waits for this before it sends the message.
                writer
                    .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                writer.flush().await?;
                let bytes = read_message(&mut reader, &end_of_data).await?;
                counters.bytes.fetch_add(bytes, Ordering::Relaxed);
                // Release: whoever sees the count also sees the bytes.
                counters.messages.fetch_add(1, Ordering::Release);
                writer.write_all(b"250 OK queued\r\n").await?;
            }
            b"QUIT" => {
                writer.write_all(b"221 Bye\r\n").await?;
                writer.flush().await?;
                return Ok(());
            }
            _ => writer.write_all(b"502 Command not implemented\r\n").await?,
        }
        if reader.buffer().is_empty() {
            writer.flush().await?;
        }
    }
}

/// Reads and discards one message up to and including its final `.` CRLF;
/// returns its size without that line. Whole buffers are searched at once:
/// no copy, no per-line work.
async fn read_message(
    reader: &mut (impl AsyncBufRead + Unpin),
    end_of_data: &memmem::Finder<'_>,
) -> std::io::Result<u64> {
    // The last bytes seen, so a terminator split across two reads is found;
    // it starts as the CRLF that ended the DATA command.
    let mut carry = Carry::after_command();
    let mut consumed: u64 = 0;
    loop {
        let chunk = reader.fill_buf().await?;
        if chunk.is_empty() {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if let Some(end) = find_end(&carry, chunk, end_of_data) {
            reader.consume(end);
            consumed += end as u64;
            // The message ends with the CRLF before the `.`; the `.` CRLF is not part of it.
            return Ok(consumed.saturating_sub(3));
        }
        carry.push(chunk);
        let length = chunk.len();
        reader.consume(length);
        consumed += length as u64;
    }
}

/// Up to the last four bytes read: one short of a terminator.
struct Carry {
    bytes: [u8; 4],
    length: usize,
}

impl Carry {
    fn after_command() -> Self {
        Self {
            bytes: [b'\r', b'\n', 0, 0],
            length: 2,
        }
    }

    fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.length]
    }

    fn push(&mut self, chunk: &[u8]) {
        let mut joined = [0u8; 8];
        let kept = self.length.min(4usize.saturating_sub(chunk.len()));
        let tail = &chunk[chunk.len().saturating_sub(4)..];
        joined[..kept].copy_from_slice(&self.bytes[self.length - kept..self.length]);
        joined[kept..kept + tail.len()].copy_from_slice(tail);
        self.length = kept + tail.len();
        self.bytes[..self.length].copy_from_slice(&joined[..self.length]);
    }
}

/// Where in `chunk` the message ends (just past the terminator), if it does.
fn find_end(carry: &Carry, chunk: &[u8], end_of_data: &memmem::Finder<'_>) -> Option<usize> {
    let carried = carry.as_slice();
    // A terminator that started in the previous read ends in the first four bytes of this one.
    let head = &chunk[..chunk.len().min(END_OF_DATA.len() - 1)];
    let mut seam = [0u8; 8];
    seam[..carried.len()].copy_from_slice(carried);
    seam[carried.len()..carried.len() + head.len()].copy_from_slice(head);
    if let Some(at) = end_of_data.find(&seam[..carried.len() + head.len()]) {
        return Some(at + END_OF_DATA.len() - carried.len());
    }
    end_of_data.find(chunk).map(|at| at + END_OF_DATA.len())
}

/// The sink as the parent sees it. Dropping it stops the sink.
pub struct SinkProcess {
    child: Child,
    commands: BufWriter<ChildStdin>,
    answers: BufReader<ChildStdout>,
    pub address: SocketAddr,
}

impl SinkProcess {
    /// Starts `bench_exe sink`.
    pub fn start(bench_exe: &Path, threads: usize) -> anyhow::Result<Self> {
        let mut child = Command::new(bench_exe)
            .args(["sink", "--threads", &threads.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot start the sink ({})", bench_exe.display()))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            bail!("the sink's stdin and stdout are not piped");
        };
        let mut answers = BufReader::new(stdout);
        let mut first = String::new();
        answers.read_line(&mut first)?;
        let address = first
            .trim()
            .strip_prefix("listening ")
            .and_then(|a| a.parse().ok())
            .with_context(|| format!("the sink did not say where it listens: {first:?}"))?;
        Ok(Self {
            child,
            commands: BufWriter::new(stdin),
            answers,
            address,
        })
    }

    fn ask(&mut self, command: &str) -> anyhow::Result<String> {
        writeln!(self.commands, "{command}")?;
        self.commands.flush()?;
        let mut answer = String::new();
        if self.answers.read_line(&mut answer)? == 0 {
            bail!("the sink stopped");
        }
        Ok(answer.trim().to_owned())
    }

    pub fn stats(&mut self) -> anyhow::Result<SinkStats> {
        let answer = self.ask("stats")?;
        let numbers: Vec<u64> = answer
            .split(' ')
            .map(str::parse)
            .collect::<Result<_, _>>()
            .with_context(|| format!("the sink answered {answer:?}"))?;
        let [messages, bytes, connections] = numbers[..] else {
            bail!("the sink answered {answer:?}");
        };
        Ok(SinkStats {
            messages,
            bytes,
            connections,
        })
    }

    pub fn reset(&mut self) -> anyhow::Result<()> {
        match self.ask("reset")?.as_str() {
            "ok" => Ok(()),
            other => bail!("the sink answered {other:?} to reset"),
        }
    }
}

impl Drop for SinkProcess {
    fn drop(&mut self) {
        // Closing stdin is the polite stop; kill in case it hangs.
        let _ = self.commands.flush();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `message` in pieces of `piece` bytes and returns where it ended.
    fn end_in_pieces(message: &[u8], piece: usize) -> Option<usize> {
        let finder = memmem::Finder::new(END_OF_DATA);
        let mut carry = Carry::after_command();
        let mut offset = 0;
        for chunk in message.chunks(piece) {
            if let Some(end) = find_end(&carry, chunk, &finder) {
                return Some(offset + end);
            }
            carry.push(chunk);
            offset += chunk.len();
        }
        None
    }

    #[test]
    fn the_end_of_data_is_found_however_the_reads_split_it() {
        let message = b"Subject: x\r\n\r\nline\r\n..stuffed\r\n.\r\nQUIT\r\n";
        let expected = message.len() - b"QUIT\r\n".len();
        for piece in 1..=message.len() {
            assert_eq!(end_in_pieces(message, piece), Some(expected), "{piece}");
        }
    }

    #[test]
    fn an_empty_message_ends_at_once() {
        for piece in 1..=3 {
            assert_eq!(end_in_pieces(b".\r\nQUIT\r\n", piece), Some(3));
        }
    }

    #[test]
    fn a_dot_inside_a_line_does_not_end_the_message() {
        assert_eq!(end_in_pieces(b"a.\r\nb\r\n.x\r\n", 2), None);
    }
}
