//! Dropping a `timeout(...)` around `accept`, `read` or `recv_from` loses nothing: a
//! connection, a byte or a datagram is taken from the OS only by a call that returns it.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::run;
use handloop_io::net::{TcpListener, UdpSocket};
use handloop_timer::timeout;

/// The deadline of the bounded loops below: far beyond what they need.
const BOUND: Duration = Duration::from_secs(20);

#[test]
fn timeouts_around_accept_lose_no_connection() {
    const CLIENTS: u8 = 40;
    run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // One accept cancelled for sure (no client exists yet), then more at random.
        assert!(
            timeout(Duration::from_millis(1), listener.accept())
                .await
                .is_err()
        );
        // Clients arrive at uneven moments, from another thread; each says its number.
        let clients = std::thread::spawn(move || {
            let mut streams = Vec::new();
            for i in 0..CLIENTS {
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                s.write_all(&[i]).unwrap();
                streams.push(s);
                std::thread::sleep(Duration::from_micros(300 * (i as u64 % 7)));
            }
            streams
        });
        let mut seen = Vec::new();
        let start = Instant::now();
        while seen.len() < CLIENTS as usize && start.elapsed() < BOUND {
            // On a timeout the pending accept is dropped; it must have taken nothing.
            if let Ok(accepted) = timeout(Duration::from_micros(500), listener.accept()).await {
                let (stream, _) = accepted.unwrap();
                let mut id = [0];
                stream.read_exact(&mut id).await.unwrap();
                seen.push(id[0]);
            }
        }
        let _clients = clients.join().unwrap();
        seen.sort();
        assert_eq!(seen, (0..CLIENTS).collect::<Vec<_>>());
    });
}

#[test]
fn timeouts_around_read_lose_no_byte() {
    const LEN: usize = 200_000;
    run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (go, wait_for_go) = std::sync::mpsc::channel::<()>();
        let writer = std::thread::spawn(move || {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            wait_for_go.recv().unwrap();
            for (i, chunk) in common::pattern(LEN).chunks(1000).enumerate() {
                s.write_all(chunk).unwrap();
                if i % 10 == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        });
        let (stream, _) = listener.accept().await.unwrap();
        let mut received = Vec::new();
        let mut buf = [0; 777];
        // One read cancelled for sure (nothing is written yet), then more at random.
        assert!(
            timeout(Duration::from_millis(1), stream.read(&mut buf))
                .await
                .is_err()
        );
        go.send(()).unwrap();
        let start = Instant::now();
        while start.elapsed() < BOUND {
            // On a timeout the pending read is dropped; it must have taken nothing.
            if let Ok(read) = timeout(Duration::from_micros(200), stream.read(&mut buf)).await {
                match read.unwrap() {
                    0 => break,
                    n => received.extend_from_slice(&buf[..n]),
                }
            }
        }
        writer.join().unwrap();
        assert!(received == common::pattern(LEN), "bytes lost or changed");
    });
}

#[test]
fn timeouts_around_recv_from_lose_no_datagram() {
    const DATAGRAMS: u16 = 300;
    run(async {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let mut buf = [0; 16];
        // One recv_from cancelled for sure (nothing is sent yet), then more at random.
        assert!(
            timeout(Duration::from_millis(1), socket.recv_from(&mut buf))
                .await
                .is_err()
        );
        let sender = std::thread::spawn(move || {
            let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            for i in 0..DATAGRAMS {
                s.send_to(&i.to_be_bytes(), addr).unwrap();
                if i % 10 == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        });
        let mut seen = Vec::new();
        let start = Instant::now();
        while seen.len() < DATAGRAMS as usize && start.elapsed() < BOUND {
            // On a timeout the pending recv_from is dropped; it must have taken nothing.
            if let Ok(received) =
                timeout(Duration::from_micros(200), socket.recv_from(&mut buf)).await
            {
                let (n, _) = received.unwrap();
                assert_eq!(n, 2);
                seen.push(u16::from_be_bytes([buf[0], buf[1]]));
            }
        }
        sender.join().unwrap();
        // Loopback UDP does not drop datagrams while the receive buffer has room.
        assert_eq!(seen, (0..DATAGRAMS).collect::<Vec<_>>());
    });
}
