//! A TCP relay between the app and PostgreSQL, so a test can take the
//! database away (every connection cut, new ones refused) and bring it back.

use std::sync::Mutex;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub struct TcpRelay {
    pub port: u16,
    target: String,
    accept_task: Mutex<Option<JoinHandle<()>>>,
}

/// The relayed connections of one accept loop; dropping it (when the loop is
/// aborted) cuts them all.
struct Connections(Vec<JoinHandle<()>>);

impl Drop for Connections {
    fn drop(&mut self) {
        for connection in &self.0 {
            connection.abort();
        }
    }
}

impl TcpRelay {
    pub async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
        let port = listener.local_addr().expect("relay address").port();
        let relay = Self {
            port,
            target,
            accept_task: Mutex::new(None),
        };
        relay.serve(listener);
        relay
    }

    fn serve(&self, listener: TcpListener) {
        let target = self.target.clone();
        let task = tokio::spawn(async move {
            let mut connections = Connections(Vec::new());
            while let Ok((mut client, _)) = listener.accept().await {
                let target = target.clone();
                connections.0.push(tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                }));
            }
        });
        *self.accept_task.lock().expect("relay lock") = Some(task);
    }

    /// Cuts every connection and refuses new ones.
    pub fn cut(&self) {
        if let Some(task) = self.accept_task.lock().expect("relay lock").take() {
            task.abort();
        }
    }

    /// Accepts connections again on the same port.
    pub async fn restore(&self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("rebind relay");
        self.serve(listener);
    }
}
