//! 10,000 concurrent connections on one loop. The clients run in a child process (this
//! test binary, started again): both ends in one process would need twice the file
//! descriptors.

mod common;

use std::cell::Cell;
use std::process::Command;
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::run;
use handloop_executor::spawn;
use handloop_io::net::{TcpListener, TcpStream};

const CONNECTIONS: usize = 10_000;
/// Connects in flight at once, well under the listen backlog (1024), so no SYN is dropped
/// and retried a second later.
const WAVE: usize = 500;
const ADDR_VAR: &str = "HANDLOOP_IO_MANY_ADDR";

/// Raises the soft limit on open files to `needed` (the hard limit must allow it).
fn raise_fd_limit(needed: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct we pass, which outlives the call.
    let got = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    assert_eq!(got, 0);
    if limit.rlim_cur >= needed {
        return;
    }
    assert!(
        limit.rlim_max >= needed,
        "this test needs {needed} open files, the hard limit is {}",
        limit.rlim_max
    );
    limit.rlim_cur = needed;
    // SAFETY: setrlimit only reads the struct we pass, which outlives the call.
    let set = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
    assert_eq!(set, 0);
}

#[test]
fn ten_thousand_concurrent_connections_on_one_loop() {
    raise_fd_limit(CONNECTIONS as u64 + 500); // inherited by the child
    let (max_open, echoed, mut child) = run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "clients_of_ten_thousand", "--ignored", "--quiet"])
            .env(ADDR_VAR, listener.local_addr().unwrap().to_string())
            .spawn()
            .unwrap();
        let open = Rc::new(Cell::new(0usize));
        let max_open = Rc::new(Cell::new(0usize));
        let echoed = Rc::new(Cell::new(0usize));
        for _ in 0..CONNECTIONS {
            let (stream, _) = listener.accept().await.unwrap();
            open.set(open.get() + 1);
            max_open.set(max_open.get().max(open.get()));
            let (open, echoed) = (open.clone(), echoed.clone());
            drop(spawn(async move {
                let mut buf = [0; 16];
                loop {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            stream.write_all(&buf[..n]).await.unwrap();
                            echoed.set(echoed.get() + n);
                        }
                    }
                }
                open.set(open.get() - 1);
            }));
        }
        // The client closes every connection once all of them were echoed.
        let start = Instant::now();
        while open.get() > 0 && start.elapsed() < Duration::from_secs(60) {
            handloop_timer::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(open.get(), 0, "connections left open");
        (max_open.get(), echoed.get(), child)
    });
    assert!(child.wait().unwrap().success(), "the client process failed");
    assert_eq!(echoed, CONNECTIONS);
    assert_eq!(
        max_open, CONNECTIONS,
        "not all connections were open at once"
    );
}

/// The client side, run only by the test above (in a child process).
#[test]
#[ignore = "the client half of ten_thousand_concurrent_connections_on_one_loop"]
fn clients_of_ten_thousand() {
    let Ok(addr) = std::env::var(ADDR_VAR) else {
        return;
    };
    run(async move {
        let mut streams = Vec::with_capacity(CONNECTIONS);
        while streams.len() < CONNECTIONS {
            let wave: Vec<_> = (0..WAVE.min(CONNECTIONS - streams.len()))
                .map(|_| {
                    let addr = addr.clone();
                    spawn(async move {
                        let stream = TcpStream::connect(addr).await.unwrap();
                        stream.write_all(b"x").await.unwrap();
                        let mut echo = [0];
                        stream.read_exact(&mut echo).await.unwrap();
                        stream
                    })
                })
                .collect();
            for client in wave {
                streams.push(client.await.unwrap());
            }
        }
        // All 10,000 are open and echoed; closing them ends the server's test.
        drop(streams);
    });
}
