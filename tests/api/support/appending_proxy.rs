//! A reverse proxy as nginx's `proxy_add_x_forwarded_for` behaves: each
//! request goes on to the app with the client's address appended to whatever
//! `X-Forwarded-For` the client sent. The client here stands for someone on
//! the Internet: the proxy appends `client_address` (a documentation address)
//! for everyone who connects through it.

use std::net::IpAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The end of a request head.
const HEAD_END: &[u8] = b"\r\n\r\n";
const MAX_HEAD: usize = 64 * 1024;

pub struct AppendingProxy {
    /// `http://127.0.0.1:PORT`
    pub address: String,
    task: JoinHandle<()>,
}

impl AppendingProxy {
    /// Relays to `upstream` (`127.0.0.1:PORT`), appending `client_address`.
    pub async fn start(upstream: &str, client_address: IpAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let upstream = upstream.to_owned();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let _ = relay(client, &upstream, client_address).await;
                });
            }
        });
        Self {
            address: format!("http://127.0.0.1:{port}"),
            task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }
}

impl Drop for AppendingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One request per connection (`Connection: close` upstream), as simple
/// proxies do: the head is rewritten, the body and the answer pass as they are.
async fn relay(
    mut client: TcpStream,
    upstream: &str,
    client_address: IpAddr,
) -> std::io::Result<()> {
    let mut buffer = Vec::new();
    let head_end = loop {
        let mut chunk = [0u8; 4096];
        let read = client.read(&mut chunk).await?;
        if read == 0 {
            return Ok(());
        }
        buffer.extend_from_slice(&chunk[..read]);
        if let Some(at) = buffer.windows(HEAD_END.len()).position(|w| w == HEAD_END) {
            break at;
        }
        if buffer.len() > MAX_HEAD {
            return Ok(());
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_owned();
    let mut headers: Vec<String> = Vec::new();
    let mut forwarded = false;
    for line in lines {
        let name = line.split(':').next().unwrap_or_default().trim();
        if name.eq_ignore_ascii_case("connection") {
            continue;
        }
        if name.eq_ignore_ascii_case("x-forwarded-for") {
            forwarded = true;
            headers.push(format!("{line}, {client_address}"));
        } else {
            headers.push(line.to_owned());
        }
    }
    if !forwarded {
        headers.push(format!("X-Forwarded-For: {client_address}"));
    }
    headers.push("Connection: close".to_owned());
    let mut rewritten = format!("{request_line}\r\n{}\r\n\r\n", headers.join("\r\n")).into_bytes();
    rewritten.extend_from_slice(&buffer[head_end + HEAD_END.len()..]);

    let mut server = TcpStream::connect(upstream).await?;
    server.write_all(&rewritten).await?;
    tokio::io::copy_bidirectional(&mut client, &mut server).await?;
    Ok(())
}
