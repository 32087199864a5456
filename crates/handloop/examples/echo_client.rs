//! The echo server's client: `cargo run --example echo_client ADDR` sends each line you
//! type (or pipe in) and prints what comes back; at the end of input it shuts its side
//! down and prints the rest of the echo.
//!
//! ```python
//! async def main(host, port):
//!     reader, writer = await asyncio.open_connection(host, port)
//!     for line in sys.stdin:                  # (blocking, for brevity)
//!         writer.write(line.encode())
//!         print((await reader.readline()).decode(), end="")
//!     writer.write_eof()
//!     print((await reader.read()).decode(), end="")
//! ```
//!
//! Reading stdin blocks, so a thread does it and hands the lines to the loop through a
//! `Queue` (which works across threads); the loop's task writes and reads the socket.

use std::io::{self, BufRead};
use std::net::Shutdown;

use futures::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use handloop::Queue;
use handloop::net::TcpStream;

fn main() -> io::Result<()> {
    let Some(addr) = std::env::args().nth(1) else {
        eprintln!("usage: echo_client ADDR   (for example 127.0.0.1:8888)");
        std::process::exit(2);
    };
    let lines: Queue<String> = Queue::bounded(16);
    let from_stdin = lines.clone();
    std::thread::spawn(move || {
        handloop::run(async move {
            for line in io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if from_stdin.put(line).await.is_err() {
                    break;
                }
            }
            from_stdin.close();
        });
    });
    handloop::run(async move {
        let stream = TcpStream::connect(addr.as_str()).await?;
        stream.set_nodelay(true)?;
        let mut replies = BufReader::new(&stream);
        while let Ok(line) = lines.get().await {
            stream.write_all(format!("{line}\n").as_bytes()).await?;
            let mut reply = String::new();
            replies.read_line(&mut reply).await?;
            print!("{reply}");
        }
        stream.shutdown(Shutdown::Write)?;
        let mut rest = String::new();
        replies.read_to_string(&mut rest).await?;
        print!("{rest}");
        Ok(())
    })
}
