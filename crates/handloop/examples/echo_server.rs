//! Beazley's echo server, the last step of "Build Your Own Async": a task per connection,
//! each echoing until the client closes its side, all on one loop. `cargo run --example
//! echo_server [ADDR]` (default `127.0.0.1:8888`; port 0 lets the OS pick one); the first
//! line it prints is `listening on <addr>`; Ctrl-C stops it.
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
use std::time::Duration;

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

fn main() -> io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8888".to_string());
    handloop::run(async {
        let listener = TcpListener::bind(addr.as_str()).await?;
        // Listening for Ctrl-C before saying we are up: a Ctrl-C right after the line is
        // not missed.
        let stop = handloop::signal::ctrl_c();
        println!("listening on {}", listener.local_addr()?);
        io::stdout().flush()?;
        let server = handloop::spawn(serve(listener));
        stop.await?;
        // Stop accepting; returning drops the loop and with it every connection.
        server.abort();
        eprintln!("echo_server: stopping");
        Ok(())
    })
}
