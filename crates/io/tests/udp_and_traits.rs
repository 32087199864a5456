//! UDP, and the ecosystem's `futures-io` helpers working on `TcpStream`.

mod common;

use std::rc::Rc;

use common::run;
use futures::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use futures::stream::StreamExt;
use handloop_executor::spawn;
use handloop_io::net::{TcpListener, TcpStream, UdpSocket};

#[test]
fn udp_send_to_recv_from_and_a_connected_pair() {
    run(async {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        // b waits before anything is sent.
        let receiver = spawn(async move {
            let mut buf = [0; 64];
            let (n, from) = b.recv_from(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"first");
            b.connect(from).await.unwrap();
            assert_eq!(b.peer_addr().unwrap(), from);
            let n = b.recv(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"second");
            b.send(b"reply").await.unwrap();
            from
        });
        assert_eq!(a.send_to(b"first", b_addr).await.unwrap(), 5);
        a.connect(b_addr).await.unwrap();
        a.send(b"second").await.unwrap();
        let mut buf = [0; 64];
        let n = a.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"reply");
        assert_eq!(receiver.await.unwrap(), a_addr);
    });
}

#[test]
fn udp_from_std() {
    run(async {
        let std_socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let socket = UdpSocket::from_std(std_socket).unwrap();
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        sender
            .send_to(b"hello", socket.local_addr().unwrap())
            .unwrap();
        let mut buf = [0; 8];
        let (n, from) = socket.recv_from(&mut buf).await.unwrap();
        assert_eq!(
            (&buf[..n], from),
            (&b"hello"[..], sender.local_addr().unwrap())
        );
    });
}

#[test]
fn buffered_lines_and_copy_from_the_futures_crate_work_on_tcp_streams() {
    run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // An echo server written with `futures::io::copy` from the stream to itself.
        drop(spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut writer = &stream;
            futures::io::copy(&stream, &mut writer).await.unwrap();
        }));
        let stream = Rc::new(TcpStream::connect(addr).await.unwrap());
        let mut writer = &*stream;
        writer.write_all(b"one\ntwo\nthree\n").await.unwrap();
        writer.close().await.unwrap(); // shutdown(Write): the server's copy ends
        let lines: Vec<String> = BufReader::new(&*stream)
            .lines()
            .map(|line| line.unwrap())
            .collect()
            .await;
        assert_eq!(lines, ["one", "two", "three"]);
        let mut rest = Vec::new();
        (&*stream).read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());
    });
}

#[test]
fn owned_streams_implement_the_traits_too() {
    run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        // Called through the traits (the inherent `&self` methods would win otherwise).
        AsyncWriteExt::write_all(&mut client, b"owned")
            .await
            .unwrap();
        client.flush().await.unwrap();
        let mut buf = [0; 5];
        AsyncReadExt::read_exact(&mut server, &mut buf)
            .await
            .unwrap();
        assert_eq!(&buf, b"owned");
    });
}
