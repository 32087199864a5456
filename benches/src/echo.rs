//! The echo workloads: a server on the runtime under test, and one client for both
//! runtimes, on its own thread (mio, hand-driven: the same syscalls whatever the server).
//!
//! - `echo_1conn`: one connection, 1000 round trips of 64 bytes (latency);
//! - `echo_50conn`: 50 connections, each 100 round trips of 512 bytes, all at once
//!   (throughput).
//!
//! One iteration binds a listener on a free loopback port, starts the client thread,
//! accepts its connections and echoes each until the client closes it. The server is a
//! task per connection reading into a 4 KiB buffer and writing back what it read, written
//! the same way on both runtimes; `TCP_NODELAY` on both ends.
#![forbid(unsafe_code)]

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::thread;

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

/// `echo_1conn`: round trips on one connection.
pub const ECHO_1_TRIPS: usize = 1000;
/// `echo_1conn`: message size.
pub const ECHO_1_BYTES: usize = 64;
/// `echo_50conn`: connections.
pub const ECHO_50_CONNS: usize = 50;
/// `echo_50conn`: round trips per connection.
pub const ECHO_50_TRIPS: usize = 100;
/// `echo_50conn`: message size.
pub const ECHO_50_BYTES: usize = 512;

/// One client connection's progress through its round trips.
struct Conn {
    stream: TcpStream,
    written: usize,
    read: usize,
    trips_left: usize,
}

/// The client: `conns` connections to `addr`, each sending a `len`-byte message and
/// reading its echo back, `trips` times; then it closes them all.
///
/// # Panics
/// On any I/O error or a wrong echo.
pub fn client(addr: SocketAddr, conns: usize, len: usize, trips: usize) {
    let mut poll = Poll::new().expect("client poller");
    let mut events = Events::with_capacity(256);
    let message: Vec<u8> = (0..len).map(|i| i as u8).collect();
    let mut echo = vec![0; len];
    let mut conns: Vec<Conn> = (0..conns)
        .map(|i| {
            let mut stream = TcpStream::connect(addr).expect("connect");
            stream.set_nodelay(true).expect("TCP_NODELAY");
            poll.registry()
                .register(
                    &mut stream,
                    Token(i),
                    Interest::READABLE | Interest::WRITABLE,
                )
                .expect("register");
            Conn {
                stream,
                written: 0,
                read: 0,
                trips_left: trips,
            }
        })
        .collect();
    let mut unfinished = conns.len();
    while unfinished > 0 {
        poll.poll(&mut events, None).expect("client poll");
        for event in &events {
            let conn = &mut conns[event.token().0];
            if conn.trips_left > 0 && drive(conn, &message, &mut echo) {
                unfinished -= 1;
            }
        }
    }
}

/// Writes and reads as far as the socket allows (edge-triggered: until `WouldBlock`);
/// `true` when the connection's last round trip completed.
fn drive(conn: &mut Conn, message: &[u8], echo: &mut [u8]) -> bool {
    let len = message.len();
    loop {
        if conn.written < len {
            match conn.stream.write(&message[conn.written..]) {
                Ok(n) => conn.written += n,
                Err(e) if would_block(&e) => return false,
                Err(e) => panic!("client write: {e}"),
            }
        } else {
            match conn.stream.read(&mut echo[conn.read..]) {
                Ok(0) => panic!("the server closed the connection"),
                Ok(n) => conn.read += n,
                Err(e) if would_block(&e) => return false,
                Err(e) => panic!("client read: {e}"),
            }
            if conn.read == len {
                assert_eq!(echo, message, "wrong echo");
                (conn.written, conn.read) = (0, 0);
                conn.trips_left -= 1;
                if conn.trips_left == 0 {
                    let _ = conn.stream.shutdown(std::net::Shutdown::Both);
                    return true;
                }
            }
        }
    }
}

fn would_block(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::NotConnected | io::ErrorKind::Interrupted
    )
}

/// Starts the client thread against `addr`.
pub fn start_client(
    addr: SocketAddr,
    conns: usize,
    len: usize,
    trips: usize,
) -> thread::JoinHandle<()> {
    thread::spawn(move || client(addr, conns, len, trips))
}

/// The servers, on handloop.
pub mod on_handloop {
    use handloop::net::{TcpListener, TcpStream};

    use super::*;

    async fn echo(stream: TcpStream) {
        let mut buf = [0; 4096];
        loop {
            let n = stream.read(&mut buf).await.expect("server read");
            if n == 0 {
                return;
            }
            stream.write_all(&buf[..n]).await.expect("server write");
        }
    }

    fn serve(rt: &handloop::Runtime, conns: usize, len: usize, trips: usize) {
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let client = start_client(listener.local_addr().unwrap(), conns, len, trips);
            let mut handles = Vec::with_capacity(conns);
            for _ in 0..conns {
                let (stream, _) = listener.accept().await.expect("accept");
                stream.set_nodelay(true).unwrap();
                handles.push(handloop::spawn(echo(stream)));
            }
            for handle in handles {
                handle.await.unwrap();
            }
            client.join().unwrap();
        });
    }

    /// One connection, 64-byte round trips.
    pub fn echo_1conn(rt: &handloop::Runtime) {
        serve(rt, 1, ECHO_1_BYTES, ECHO_1_TRIPS);
    }

    /// 50 connections, 512-byte round trips.
    pub fn echo_50conn(rt: &handloop::Runtime) {
        serve(rt, ECHO_50_CONNS, ECHO_50_BYTES, ECHO_50_TRIPS);
    }
}

/// The same servers on tokio's current-thread runtime, with I/O enabled. The runtime
/// passed in has only time enabled (as for the other workloads), so these use one of
/// their own per thread, built on first use: `new_current_thread().enable_all()`.
pub mod on_tokio {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;

    thread_local! {
        static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime with I/O");
    }

    async fn echo(mut stream: TcpStream) {
        let mut buf = [0; 4096];
        loop {
            let n = stream.read(&mut buf).await.expect("server read");
            if n == 0 {
                return;
            }
            stream.write_all(&buf[..n]).await.expect("server write");
        }
    }

    fn serve(conns: usize, len: usize, trips: usize) {
        RUNTIME.with(|rt| {
            rt.block_on(async {
                let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
                let client = start_client(listener.local_addr().unwrap(), conns, len, trips);
                let mut handles = Vec::with_capacity(conns);
                for _ in 0..conns {
                    let (stream, _) = listener.accept().await.expect("accept");
                    stream.set_nodelay(true).unwrap();
                    handles.push(tokio::spawn(echo(stream)));
                }
                for handle in handles {
                    handle.await.unwrap();
                }
                client.join().unwrap();
            })
        });
    }

    /// One connection, 64-byte round trips.
    pub fn echo_1conn(_: &tokio::runtime::Runtime) {
        serve(1, ECHO_1_BYTES, ECHO_1_TRIPS);
    }

    /// 50 connections, 512-byte round trips.
    pub fn echo_50conn(_: &tokio::runtime::Runtime) {
        serve(ECHO_50_CONNS, ECHO_50_BYTES, ECHO_50_TRIPS);
    }
}
