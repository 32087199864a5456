//! UDP: datagrams to and from any address, or to one connected peer.

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

use crate::Async;
use crate::net::tcp::{each_addr, no_addresses};

/// A UDP socket (asyncio's `create_datagram_endpoint`, as a socket you await on).
///
/// ```
/// # handloop_io::doc_loop(async {
/// use handloop_io::net::UdpSocket;
///
/// let a = UdpSocket::bind("127.0.0.1:0").await?;
/// let b = UdpSocket::bind("127.0.0.1:0").await?;
/// a.send_to(b"hi", b.local_addr()?).await?;
/// let mut buf = [0; 16];
/// let (n, from) = b.recv_from(&mut buf).await?;
/// assert_eq!((&buf[..n], from), (&b"hi"[..], a.local_addr()?));
/// # Ok(()) })
/// ```
pub struct UdpSocket {
    io: Async<mio::net::UdpSocket>,
}

impl UdpSocket {
    /// Binds to `addr` (each address it resolves to is tried in turn).
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        each_addr(addr, |addr| {
            Ok(UdpSocket {
                io: Async::new_nonblocking(mio::net::UdpSocket::bind(addr)?)?,
            })
        })
    }

    /// Takes a socket made elsewhere and registers it with the running loop.
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        socket.set_nonblocking(true)?;
        Ok(UdpSocket {
            io: Async::new_nonblocking(mio::net::UdpSocket::from_std(socket))?,
        })
    }

    /// Sends one datagram to `target` (its first address); returns the bytes sent.
    pub async fn send_to(&self, buf: &[u8], target: impl ToSocketAddrs) -> io::Result<usize> {
        let target = target.to_socket_addrs()?.next().ok_or_else(no_addresses)?;
        self.io
            .write_with(|socket| socket.send_to(buf, target))
            .await
    }

    /// Receives one datagram: its length (truncated to `buf.len()`) and sender.
    /// Cancel-safe: a datagram is taken from the OS only by a call that returns it.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io.read_with(|socket| socket.recv_from(buf)).await
    }

    /// Sets the default peer: [`send`](UdpSocket::send) goes there and
    /// [`recv`](UdpSocket::recv) accepts datagrams only from it.
    pub async fn connect(&self, addr: impl ToSocketAddrs) -> io::Result<()> {
        each_addr(addr, |addr| self.io.get_ref().connect(addr))
    }

    /// Sends one datagram to the connected peer.
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.write_with(|socket| socket.send(buf)).await
    }

    /// Receives one datagram from the connected peer.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.read_with(|socket| socket.recv(buf)).await
    }

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// The connected peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpSocket")
            .field("local_addr", &self.local_addr().ok())
            .finish()
    }
}
