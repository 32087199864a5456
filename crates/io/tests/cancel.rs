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
        let (mut timeouts, start) = (0, Instant::now());
        while seen.len() < CLIENTS as usize && start.elapsed() < BOUND {
            match timeout(Duration::from_micros(500), listener.accept()).await {
                Ok(accepted) => {
                    let (stream, _) = accepted.unwrap();
                    let mut id = [0];
                    stream.read_exact(&mut id).await.unwrap();
                    seen.push(id[0]);
                }
                Err(_) => timeouts += 1,
            }
        }
        let _clients = clients.join().unwrap();
        seen.sort();
        assert_eq!(seen, (0..CLIENTS).collect::<Vec<_>>());
        assert!(
            timeouts > 0,
            "no accept was ever cancelled: the test proved nothing"
        );
    });
}

#[test]
fn timeouts_around_read_lose_no_byte() {
    const LEN: usize = 200_000;
    run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let writer = std::thread::spawn(move || {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
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
        let (mut timeouts, start) = (0, Instant::now());
        while start.elapsed() < BOUND {
            match timeout(Duration::from_micros(200), stream.read(&mut buf)).await {
                Ok(read) => match read.unwrap() {
                    0 => break,
                    n => received.extend_from_slice(&buf[..n]),
                },
                Err(_) => timeouts += 1,
            }
        }
        writer.join().unwrap();
        assert!(received == common::pattern(LEN), "bytes lost or changed");
        assert!(
            timeouts > 0,
            "no read was ever cancelled: the test proved nothing"
        );
    });
}

#[test]
fn timeouts_around_recv_from_lose_no_datagram() {
    const DATAGRAMS: u16 = 300;
    run(async {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
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
        let mut buf = [0; 16];
        let (mut timeouts, start) = (0, Instant::now());
        while seen.len() < DATAGRAMS as usize && start.elapsed() < BOUND {
            match timeout(Duration::from_micros(200), socket.recv_from(&mut buf)).await {
                Ok(received) => {
                    let (n, _) = received.unwrap();
                    assert_eq!(n, 2);
                    seen.push(u16::from_be_bytes([buf[0], buf[1]]));
                }
                Err(_) => timeouts += 1,
            }
        }
        sender.join().unwrap();
        // Loopback UDP does not drop datagrams while the receive buffer has room.
        assert_eq!(seen, (0..DATAGRAMS).collect::<Vec<_>>());
        assert!(
            timeouts > 0,
            "no recv_from was ever cancelled: the test proved nothing"
        );
    });
}
