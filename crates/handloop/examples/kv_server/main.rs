//! A Redis-speaking key-value server on one loop, in the spirit of tokio's mini-redis
//! tutorial: real clients (`redis-cli`, `redis-benchmark`, any Redis library) talk to it.
//! `cargo run --release --example kv_server [ADDR]` (default `127.0.0.1:6379`; port 0
//! lets the OS pick one); the first line it prints is `listening on <addr>`; Ctrl-C stops
//! it.
//!
//! Commands: `PING [msg]`, `ECHO`, `SET key value [EX s | PX ms]`, `GET`, `DEL key...`,
//! `EXISTS key...`, `INCR`, `DBSIZE`, `FLUSHALL`, `CONFIG GET` and `COMMAND` (empty
//! answers, so the Redis tools start), `QUIT`. Keys expire on the loop's timer.
//!
//! ```python
//! # The same server in asyncio (the protocol parsing elided):
//! async def handle(reader, writer):
//!     while data := await reader.read(65536):
//!         replies = b"".join(execute(cmd) for cmd in parse(data))
//!         writer.write(replies)               # one write for a pipelined batch
//!         await writer.drain()
//!
//! asyncio.run(asyncio.start_server(handle, "127.0.0.1", 6379)) ...
//! ```
//!
//! Each connection is a task: read what arrived, run every whole command in it, answer
//! them all in one write, read again. Bytes that are not RESP get an error reply and the
//! connection closed; the server lives on.

mod db;
mod resp;

use std::io::{self, Write};
use std::rc::Rc;
use std::time::Duration;

use db::{Db, Flow};
use handloop::net::{TcpListener, TcpStream};
use resp::Parsed;

/// The read buffer's starting size; it grows for larger commands.
const READ_BUFFER: usize = 16 << 10;

/// Serves one connection until the client closes it, sends QUIT or sends garbage.
async fn serve_connection(stream: TcpStream, db: Rc<Db>) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buf = vec![0; READ_BUFFER];
    let mut filled = 0; // bytes read, not yet parsed
    let mut out = Vec::with_capacity(READ_BUFFER);
    let mut ranges = Vec::new();
    loop {
        if filled == buf.len() {
            // A command larger than the buffer: grow it (the parser caps bulk lengths).
            buf.resize(buf.len() * 2, 0);
        }
        let n = stream.read(&mut buf[filled..]).await?;
        if n == 0 {
            return Ok(()); // the client closed the connection
        }
        filled += n;
        // Run every whole command in the buffer; the replies go out in one write.
        let mut parsed = 0;
        let mut flow = Flow::Continue;
        while flow == Flow::Continue {
            match resp::parse(&buf[parsed..filled], &mut ranges) {
                Parsed::Command(used) => {
                    let args = resp::Args {
                        buf: &buf[parsed..],
                        ranges: &ranges,
                    };
                    if args.len() > 0 {
                        flow = db.execute(args, &mut out);
                    }
                    parsed += used;
                }
                Parsed::Incomplete => break,
                Parsed::Malformed(message) => {
                    resp::error(&mut out, &format!("ERR {message}"));
                    flow = Flow::Close;
                }
            }
        }
        if !out.is_empty() {
            stream.write_all(&out).await?;
            out.clear();
        }
        if flow == Flow::Close {
            return Ok(());
        }
        buf.copy_within(parsed..filled, 0);
        filled -= parsed;
    }
}

/// Accepts connections until aborted, one task each.
async fn serve(listener: TcpListener, db: Rc<Db>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let db = db.clone();
                drop(handloop::spawn(async move {
                    let _ = serve_connection(stream, db).await;
                }));
            }
            Err(error) => {
                eprintln!("kv_server: accept failed: {error}");
                handloop::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

fn main() -> io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:6379".to_string());
    handloop::run(async {
        let listener = TcpListener::bind(addr.as_str()).await?;
        let stop = handloop::signal::ctrl_c();
        println!("listening on {}", listener.local_addr()?);
        io::stdout().flush()?;
        let server = handloop::spawn(serve(listener, Db::new()));
        stop.await?;
        server.abort();
        eprintln!("kv_server: stopping");
        Ok(())
    })
}
