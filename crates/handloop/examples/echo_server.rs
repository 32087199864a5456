//! Beazley's echo server, the last step of "Build Your Own Async": a task per connection,
//! each echoing until the client closes its side, all on one loop. `cargo run --example
//! echo_server [ADDR] [--loops N]` (default `127.0.0.1:8888`; port 0 lets the OS pick one);
//! the first line it prints is `listening on <addr>`; Ctrl-C stops it.
//!
//! With `--loops N` it uses N more cores: a `LoopPool` of N loops, one per thread, serves
//! the connections, and this thread's loop only accepts them. It takes each connection as
//! a plain `std::net::TcpStream` (which is `Send`), and hands it to the pool's least busy
//! loop, which registers it with its own poller and echoes there.
//!
//! ```python
//! async def handle(reader, writer):           # one task per connection
//!     while data := await reader.read(4096):
//!         writer.write(data)
//!         await writer.drain()
//!     writer.close()
//!
//! async def main():
//!     server = await asyncio.start_server(handle, "127.0.0.1", 8888)
//!     print("listening on", server.sockets[0].getsockname())
//!     async with server:
//!         await server.serve_forever()        # until Ctrl-C
//! ```

use std::io::{self, Write};
use std::net::Shutdown;
use std::pin::pin;
use std::time::Duration;

use futures::future::{self, Either};
use futures::io::AsyncReadExt;
use handloop::net::{TcpListener, TcpStream};

/// Echoes one connection until the client shuts its side: `futures::io::copy` from the
/// stream to itself (`&TcpStream` reads and writes, so one value does both).
pub async fn echo(stream: TcpStream) -> io::Result<u64> {
    futures::io::copy(&stream, &mut &stream).await
}

/// Accepts connections until dropped (or aborted), one task each.
pub async fn serve(listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((stream, _peer)) => {
                drop(handloop::spawn(async move {
                    let _ = echo(stream).await;
                }));
            }
            // Out of file descriptors, say: the connection waits in the backlog. Pause
            // rather than spin, and keep serving the others.
            Err(error) => {
                eprintln!("echo_server: accept failed: {error}");
                handloop::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// The tour's stop: a server on a free port, one client, one round trip.
pub fn demo() -> String {
    handloop::run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = handloop::spawn(serve(listener));
        let client = TcpStream::connect(addr).await?;
        client.write_all(b"hello, event loop").await?;
        client.shutdown(Shutdown::Write)?; // done sending: the server's copy ends
        let mut echoed = String::new();
        (&client).read_to_string(&mut echoed).await?;
        println!("sent \"hello, event loop\" to {addr}, got back \"{echoed}\"");
        server.abort();
        Ok::<_, io::Error>(echoed)
    })
    .expect("the echo round trip failed")
}

/// Accepts connections on this thread's loop as plain `std::net::TcpStream`s and hands
/// each one to the pool, where a loop takes it over and echoes it.
pub async fn serve_on(
    pool: &handloop::LoopPool,
    listener: std::net::TcpListener,
) -> io::Result<()> {
    let listener = handloop::io::Async::new(listener)?;
    loop {
        match listener.read_with(|listener| listener.accept()).await {
            Ok((stream, _peer)) => {
                drop(pool.spawn_with(move || async move {
                    // On the chosen loop's thread: register the socket with its poller.
                    if let Ok(stream) = TcpStream::from_std(stream) {
                        let _ = echo(stream).await;
                    }
                }));
            }
            Err(error) => {
                eprintln!("echo_server: accept failed: {error}");
                handloop::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// `[ADDR] [--loops N]`, in any order.
fn arguments() -> (String, Option<usize>) {
    let mut addr = "127.0.0.1:8888".to_string();
    let mut loops = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--loops" {
            let n = args.next().and_then(|n| n.parse().ok());
            loops = Some(n.unwrap_or_else(|| {
                eprintln!("echo_server: --loops needs a number of loops");
                std::process::exit(2)
            }));
        } else {
            addr = arg;
        }
    }
    (addr, loops)
}

fn main() -> io::Result<()> {
    let (addr, loops) = arguments();
    let pool = loops.map(handloop::LoopPool::new).transpose()?;
    handloop::run(async {
        // Listening for Ctrl-C before saying we are up: a Ctrl-C right after the line is
        // not missed.
        let stop = handloop::signal::ctrl_c();
        match &pool {
            // One loop: it accepts and echoes (a task per connection).
            None => {
                let listener = TcpListener::bind(addr.as_str()).await?;
                println!("listening on {}", listener.local_addr()?);
                io::stdout().flush()?;
                let server = handloop::spawn(serve(listener));
                stop.await?;
                // Stop accepting; returning drops the loop and with it every connection.
                server.abort();
            }
            // A pool: this loop accepts, the pool's loops echo.
            Some(pool) => {
                let listener = std::net::TcpListener::bind(addr.as_str())?;
                println!("listening on {}", listener.local_addr()?);
                io::stdout().flush()?;
                let accepting = pin!(serve_on(pool, listener));
                // Whichever ends first: Ctrl-C, or accepting (only on an error).
                match future::select(pin!(stop), accepting).await {
                    Either::Left((stopped, _)) => stopped?,
                    Either::Right((failed, _)) => failed?,
                }
            }
        }
        eprintln!("echo_server: stopping");
        Ok::<(), io::Error>(())
    })?;
    drop(pool); // stops the pool's loops, closing their connections, and joins them
    Ok(())
}
