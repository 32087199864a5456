//! The echo rows: the client, and the two servers.
//!
//! The client is the same for every server: [`ECHO_CONNECTIONS`] connections, each on its
//! own task of a tokio current-thread runtime, each sending [`ECHO_ROUNDS`] messages of
//! [`ECHO_BYTES`] and reading each one back before sending the next. Connecting is part of
//! the iteration (about 3% of it on this machine kind), the same for every server.
//!
//! tokio's server runs on its multi-thread runtime with 1 or 2 worker threads, which
//! accept and echo. handloop's is the `echo_server` example's `--loops N`: a `LoopPool` of
//! 1 or 2 loops echoes, and one more loop, on a thread of its own, only accepts (once per
//! connection, so outside the round trips measured) and hands each `std::net::TcpStream`
//! to the pool.

use std::fmt;
use std::net::SocketAddr;
use std::pin::pin;
use std::thread;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;

use super::{ECHO_BYTES, ECHO_CONNECTIONS, ECHO_ROUNDS};

/// Runs the clients against `addr` on `client` (a current-thread runtime) until every
/// connection has done its round trips.
///
/// # Panics
/// If a connection fails or a message comes back different.
pub fn run_clients(client: &Runtime, addr: SocketAddr) {
    client.block_on(async move {
        let connections: Vec<_> = (0..ECHO_CONNECTIONS)
            .map(|c| {
                tokio::spawn(async move {
                    let mut stream = TcpStream::connect(addr).await.expect("connect");
                    stream.set_nodelay(true).expect("nodelay");
                    let mut sent = [0u8; ECHO_BYTES];
                    let mut back = [0u8; ECHO_BYTES];
                    for round in 0..ECHO_ROUNDS {
                        sent.fill((c + round) as u8);
                        stream.write_all(&sent).await.expect("write");
                        stream.read_exact(&mut back).await.expect("read");
                        assert_eq!(sent, back, "the echo differs");
                    }
                })
            })
            .collect();
        for connection in connections {
            connection.await.expect("client task");
        }
    });
}

/// An echo server on tokio's multi-thread runtime with a given number of worker threads,
/// running until dropped.
pub struct TokioEchoServer {
    /// Kept alive: dropping it stops the server.
    _runtime: Runtime,
    workers: usize,
    /// Where it listens (loopback, a port the OS chose).
    pub addr: SocketAddr,
}

impl TokioEchoServer {
    /// Binds `127.0.0.1:0` and starts accepting on a runtime with `workers` threads.
    ///
    /// # Panics
    /// If the runtime cannot be built or the port bound.
    pub fn start(workers: usize) -> TokioEchoServer {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
            .expect("tokio server runtime");
        let listener = runtime
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .expect("bind a loopback port");
        let addr = listener.local_addr().expect("local address");
        runtime.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(echo(stream));
            }
        });
        TokioEchoServer {
            _runtime: runtime,
            workers,
            addr,
        }
    }
}

/// Sends back whatever arrives, until the client closes.
async fn echo(mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if stream.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

impl fmt::Debug for TokioEchoServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokioEchoServer")
            .field("workers", &self.workers)
            .field("addr", &self.addr)
            .finish()
    }
}

/// handloop's echo server: a `LoopPool` of `loops` loops, fed by an accepting loop on a
/// thread of its own, running until dropped.
pub struct HandloopEchoServer {
    loops: usize,
    stop: Option<handloop::oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
    /// Where it listens (loopback, a port the OS chose).
    pub addr: SocketAddr,
}

impl HandloopEchoServer {
    /// Binds `127.0.0.1:0` and starts the pool and the accepting loop.
    ///
    /// # Panics
    /// If the port cannot be bound or a loop cannot be started.
    pub fn start(loops: usize) -> HandloopEchoServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener.local_addr().expect("local address");
        let (stop, stopped) = handloop::oneshot::channel::<()>();
        let thread = thread::Builder::new()
            .name("handloop-accept".into())
            .spawn(move || {
                let pool = handloop::LoopPool::new(loops).expect("a loop pool");
                handloop::run(async {
                    // Accept until the server is dropped (`stop` goes).
                    let accepting = pin!(accept(&pool, listener));
                    futures::future::select(accepting, stopped).await;
                });
                drop(pool);
            })
            .expect("the accepting thread");
        HandloopEchoServer {
            loops,
            stop: Some(stop),
            thread: Some(thread),
            addr,
        }
    }
}

/// Accepts forever, handing each connection to the pool's least busy loop.
async fn accept(pool: &handloop::LoopPool, listener: std::net::TcpListener) {
    let listener = handloop::io::Async::new(listener).expect("register the listener");
    loop {
        match listener.read_with(|listener| listener.accept()).await {
            Ok((stream, _)) => drop(pool.spawn_with(move || handloop_echo(stream))),
            Err(_) => handloop::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// Sends back whatever arrives, until the client closes; on the loop it was placed on.
async fn handloop_echo(stream: std::net::TcpStream) {
    let Ok(stream) = handloop::net::TcpStream::from_std(stream) else {
        return;
    };
    let _ = stream.set_nodelay(true);
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if stream.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

impl Drop for HandloopEchoServer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl fmt::Debug for HandloopEchoServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandloopEchoServer")
            .field("loops", &self.loops)
            .field("addr", &self.addr)
            .finish()
    }
}
