//! TCP semantics: what a server and a client can rely on.

mod common;

use std::cell::Cell;
use std::io::{Read, Write};
use std::net::Shutdown;
use std::rc::Rc;
use std::time::Duration;

use common::{CountPolls, pattern, run};
use handloop_executor::spawn;
use handloop_io::net::{TcpListener, TcpStream};

/// An echo server task on `listener`: every connection echoed until EOF.
fn spawn_echo(listener: TcpListener) {
    drop(spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            drop(spawn(async move {
                let mut buf = vec![0; 4096];
                loop {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if stream.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    }
                }
            }));
        }
    }));
}

#[test]
fn data_that_arrives_before_the_first_read_is_read() {
    run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // A blocking client on this thread: connected and written before the server
        // accepts or reads, so the edge-triggered event fired before registration.
        let mut client = std::net::TcpStream::connect(addr).unwrap();
        client.write_all(b"early bytes").unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let mut buf = [0; 11];
        server.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"early bytes");
        assert_eq!(server.read(&mut buf).await.unwrap(), 0, "then EOF");
    });
}

#[test]
fn a_16_mib_write_all_arrives_whole_through_partial_writes_and_reads() {
    const LEN: usize = 16 << 20;
    run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let data = pattern(LEN);
        let writer = spawn(async move {
            // Far more than the socket buffers hold: many partial writes, each waiting for
            // the reader to make room.
            client.write_all(&data).await.unwrap();
            client.shutdown(Shutdown::Write).unwrap();
            data
        });
        let mut received = Vec::with_capacity(LEN);
        let mut buf = vec![0; 10_000]; // odd size: reads end mid-chunk
        let mut reads = 0;
        loop {
            let n = server.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            reads += 1;
            received.extend_from_slice(&buf[..n]);
        }
        let data = writer.await.unwrap();
        assert!(reads > 1, "expected partial reads");
        assert_eq!(received.len(), LEN);
        assert!(received == data, "the bytes arrived changed");
    });
}

#[test]
fn one_reader_task_and_one_writer_task_share_a_socket() {
    const LEN: usize = 4 << 20; // more than both directions' buffers: both must progress
    run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        spawn_echo(listener);
        let client = Rc::new(TcpStream::connect(addr).await.unwrap());
        let writer = spawn({
            let client = client.clone();
            async move {
                client.write_all(&pattern(LEN)).await.unwrap();
            }
        });
        let reader = spawn({
            let client = client.clone();
            async move {
                let mut received = vec![0; LEN];
                client.read_exact(&mut received).await.unwrap();
                received
            }
        });
        writer.await.unwrap();
        assert!(reader.await.unwrap() == pattern(LEN));
    });
}

#[test]
fn half_close_the_client_still_receives_every_echoed_byte_then_eof() {
    const LEN: usize = 1 << 20;
    run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        spawn_echo(listener);
        let client = Rc::new(TcpStream::connect(addr).await.unwrap());
        let writer = spawn({
            let client = client.clone();
            async move {
                client.write_all(&pattern(LEN)).await.unwrap();
                // Done sending: the server reads EOF, but our read side stays open.
                client.shutdown(Shutdown::Write).unwrap();
            }
        });
        let mut received = Vec::new();
        let mut buf = [0; 8192];
        loop {
            match client.read(&mut buf).await.unwrap() {
                0 => break,
                n => received.extend_from_slice(&buf[..n]),
            }
        }
        writer.await.unwrap();
        assert_eq!(received.len(), LEN);
        assert!(received == pattern(LEN));
    });
}

#[test]
fn a_peer_reset_wakes_the_blocked_reader_and_writer_with_the_error_and_never_spins() {
    run(async {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = Rc::new(
            TcpStream::connect(listener.local_addr().unwrap())
                .await
                .unwrap(),
        );
        let (mut peer, _) = listener.accept().unwrap();
        // The peer will close with our bytes unread: the kernel then sends a reset.
        stream.write_all(b"unread").await.unwrap();
        let mut byte = [0];
        peer.read_exact(&mut byte).unwrap();

        let (reader_polls, writer_polls) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
        let reader = spawn({
            let (stream, polls) = (stream.clone(), reader_polls.clone());
            async move {
                let mut buf = [0; 64];
                CountPolls {
                    inner: Box::pin(stream.read(&mut buf)),
                    polls: &polls,
                }
                .await
            }
        });
        let written = Rc::new(Cell::new(0));
        let writer = spawn({
            let (stream, polls, written) = (stream.clone(), writer_polls.clone(), written.clone());
            async move {
                // Fill the socket buffers until the writer has to wait.
                let chunk = vec![7; 1 << 16];
                CountPolls {
                    inner: Box::pin(async {
                        loop {
                            let n = stream.write(&chunk).await?;
                            written.set(written.get() + n);
                        }
                    }),
                    polls: &polls,
                }
                .await
            }
        });
        // Let both block: the reader on an empty socket, the writer on full buffers (the
        // count of bytes written stops growing; the buffers are finite, so this ends).
        loop {
            let before = written.get();
            handloop_timer::sleep(Duration::from_millis(5)).await;
            if reader_polls.get() >= 1 && before > 0 && written.get() == before {
                break;
            }
        }
        let (reader_before, writer_before) = (reader_polls.get(), writer_polls.get());
        drop(peer); // unread data: RST

        let read: std::io::Result<usize> = reader.await.unwrap();
        let write: std::io::Result<()> = writer.await.unwrap();
        assert_eq!(
            read.unwrap_err().kind(),
            std::io::ErrorKind::ConnectionReset
        );
        let kind = write.unwrap_err().kind();
        assert!(
            matches!(
                kind,
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
            ),
            "{kind:?}"
        );
        // One wake each for the reset, not a loop of them.
        assert_eq!(reader_polls.get(), reader_before + 1);
        assert_eq!(writer_polls.get(), writer_before + 1);
        // Afterwards the socket reports EOF at once, without waiting.
        let mut buf = [0; 8];
        assert_eq!(stream.read(&mut buf).await.unwrap(), 0);
    });
}

#[test]
fn connection_refused_and_address_in_use_are_the_os_errors() {
    run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let in_use = TcpListener::bind(addr).await.unwrap_err();
        assert_eq!(in_use.kind(), std::io::ErrorKind::AddrInUse);
        drop(listener);
        let refused = TcpStream::connect(addr).await.unwrap_err();
        assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    });
}

#[test]
fn streams_made_from_std_and_their_addresses() {
    run(async {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = std_listener.local_addr().unwrap();
        let listener = TcpListener::from_std(std_listener).unwrap();
        let std_client = std::net::TcpStream::connect(addr).unwrap();
        let client = TcpStream::from_std(std_client).unwrap();
        let (server, peer) = listener.accept().await.unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        assert_eq!(server.local_addr().unwrap(), addr);
        assert_eq!(client.peer_addr().unwrap(), addr);
        client.set_nodelay(true).unwrap();
        assert!(client.nodelay().unwrap());
        client.write_all(b"x").await.unwrap();
        let mut b = [0];
        server.read_exact(&mut b).await.unwrap();
        assert_eq!(&b, b"x");
        assert!(format!("{client:?}").contains("peer_addr"));
    });
}

#[test]
fn read_exact_reports_an_early_eof() {
    run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        client.write_all(b"abc").await.unwrap();
        drop(client);
        let mut buf = [0; 4];
        let error = server.read_exact(&mut buf).await.unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::UnexpectedEof);
    });
}

#[test]
fn several_tasks_accept_on_one_listener_and_none_is_forgotten() {
    run(async {
        let listener = Rc::new(TcpListener::bind("127.0.0.1:0").await.unwrap());
        let addr = listener.local_addr().unwrap();
        let acceptors: Vec<_> = (0..4)
            .map(|_| {
                let listener = listener.clone();
                spawn(async move { listener.accept().await.unwrap().0 })
            })
            .collect();
        handloop_executor::yield_now().await; // all four wait now
        let mut clients = Vec::new();
        for _ in 0..4 {
            clients.push(TcpStream::connect(addr).await.unwrap());
        }
        for acceptor in acceptors {
            acceptor.await.unwrap();
        }
    });
}
