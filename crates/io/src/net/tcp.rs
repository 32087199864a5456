//! TCP: a listener that accepts, and a stream that reads and writes.

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::Async;

/// A TCP socket that accepts connections (asyncio's `start_server` without the callback:
/// you accept in a loop and spawn a task per connection).
///
/// ```
/// # handloop_io::doc_loop(async {
/// use handloop_io::net::{TcpListener, TcpStream};
///
/// let listener = TcpListener::bind("127.0.0.1:0").await?; // port 0: the OS picks one
/// let addr = listener.local_addr()?;
/// let client = TcpStream::connect(addr).await?;
/// let (server_side, peer) = listener.accept().await?;
/// assert_eq!(peer, client.local_addr()?);
/// assert_eq!(server_side.peer_addr()?, client.local_addr()?);
/// # Ok(()) })
/// ```
pub struct TcpListener {
    io: Async<mio::net::TcpListener>,
}

impl TcpListener {
    /// Binds to `addr` (each address it resolves to is tried in turn) and listens, with
    /// `SO_REUSEADDR` set, as servers do. Host names are resolved by std's resolver,
    /// which blocks the loop while it asks DNS: give an IP address where that matters. A port in use fails with the OS's error,
    /// [`AddrInUse`](io::ErrorKind::AddrInUse).
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        each_addr(addr, |addr| {
            let listener = mio::net::TcpListener::bind(addr)?;
            Ok(TcpListener {
                io: Async::new_nonblocking(listener)?,
            })
        })
    }

    /// Takes a listener made elsewhere (by `std`, by another loop's thread, with socket
    /// options of your own) and registers it with the running loop.
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        listener.set_nonblocking(true)?;
        Ok(TcpListener {
            io: Async::new_nonblocking(mio::net::TcpListener::from_std(listener))?,
        })
    }

    /// Waits for the next connection. Cancel-safe: a connection is taken from the OS only
    /// by a call that returns it, so dropping a pending `accept` (a timeout around it)
    /// loses none.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (stream, addr) = self.io.read_with(|listener| listener.accept()).await?;
        Ok((TcpStream::from_mio(stream)?, addr))
    }

    /// The address the listener is bound to (with the port the OS picked for port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener")
            .field("local_addr", &self.local_addr().ok())
            .finish()
    }
}

/// A TCP connection (asyncio's `StreamReader` and `StreamWriter` in one).
///
/// Every method takes `&self`: one task can read while another writes the same socket
/// (share it in an `Rc`). `TcpStream` and `&TcpStream` implement `futures-io`'s
/// [`AsyncRead`](futures_io::AsyncRead) and [`AsyncWrite`](futures_io::AsyncWrite), so
/// the ecosystem's helpers (buffered readers, `lines()`, `copy`) work on them.
///
/// Each method tries the syscall first and waits only if the OS says `WouldBlock`. One
/// task completes at most 128 reads and writes in a row before it yields to the loop, so a
/// socket that always has data cannot starve the rest.
pub struct TcpStream {
    io: Async<mio::net::TcpStream>,
}

impl TcpStream {
    /// Connects to `addr` (each address it resolves to is tried in turn; host names are
    /// resolved by std's blocking resolver, as for [`TcpListener::bind`]). The connect is
    /// non-blocking: the task waits until the poller reports the socket writable, then
    /// reads the outcome. A refused connection fails with the OS's error,
    /// [`ConnectionRefused`](io::ErrorKind::ConnectionRefused).
    pub async fn connect(addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        let mut last_error = None;
        for addr in addr.to_socket_addrs()? {
            match TcpStream::connect_one(addr).await {
                Ok(stream) => return Ok(stream),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(no_addresses))
    }

    async fn connect_one(addr: SocketAddr) -> io::Result<TcpStream> {
        let stream = TcpStream::from_mio(mio::net::TcpStream::connect(addr)?)?;
        // Writable means the handshake finished, one way or the other. Until then the
        // socket has no peer (ENOTCONN), which we treat as `WouldBlock`.
        stream
            .io
            .write_with(|socket| {
                if let Some(error) = socket.take_error()? {
                    return Err(error);
                }
                match socket.peer_addr() {
                    Ok(_) => Ok(()),
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                        Err(io::ErrorKind::WouldBlock.into())
                    }
                    Err(e) => Err(e),
                }
            })
            .await?;
        Ok(stream)
    }

    fn from_mio(stream: mio::net::TcpStream) -> io::Result<TcpStream> {
        Ok(TcpStream {
            io: Async::new_nonblocking(stream)?,
        })
    }

    /// Takes a connected stream made elsewhere and registers it with the running loop.
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        stream.set_nonblocking(true)?;
        TcpStream::from_mio(mio::net::TcpStream::from_std(stream))
    }

    /// Reads what is there, up to `buf.len()` bytes, waiting until at least one byte (or
    /// the end of the stream: `Ok(0)`) arrives. Cancel-safe: bytes are taken from the OS
    /// only by a call that returns them.
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.read_with(|mut socket| socket.read(buf)).await
    }

    /// Reads exactly `buf.len()` bytes; the stream ending first is an
    /// [`UnexpectedEof`](io::ErrorKind::UnexpectedEof) error. Not cancel-safe: the bytes
    /// read before a cancellation are in `buf`, but how many is lost.
    pub async fn read_exact(&self, mut buf: &mut [u8]) -> io::Result<()> {
        while !buf.is_empty() {
            match self.read(buf).await? {
                0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                n => buf = &mut buf[n..],
            }
        }
        Ok(())
    }

    /// Writes what the OS takes now, up to all of `buf`, waiting until it takes at least
    /// one byte.
    pub async fn write(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.write_with(|mut socket| socket.write(buf)).await
    }

    /// Writes all of `buf`, in as many writes as the OS needs.
    pub async fn write_all(&self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            match self.write(buf).await? {
                0 => return Err(io::ErrorKind::WriteZero.into()),
                n => buf = &buf[n..],
            }
        }
        Ok(())
    }

    /// Shuts down the read side, the write side (the peer reads EOF after what was
    /// written: a half-close), or both.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get_ref().shutdown(how)
    }

    /// The address of the peer.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// The local address of this end.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// Sets `TCP_NODELAY`: small writes go out at once instead of waiting to be merged
    /// (Nagle's algorithm). Request-reply protocols want it.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.io.get_ref().set_nodelay(nodelay)
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.io.get_ref().nodelay()
    }
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream")
            .field("local_addr", &self.local_addr().ok())
            .field("peer_addr", &self.peer_addr().ok())
            .finish()
    }
}

impl futures_io::AsyncRead for &TcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.io.poll_read_with(cx, |mut socket| socket.read(buf))
    }

    fn poll_read_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        self.io
            .poll_read_with(cx, |mut socket| socket.read_vectored(bufs))
    }
}

impl futures_io::AsyncWrite for &TcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.io.poll_write_with(cx, |mut socket| socket.write(buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.io
            .poll_write_with(cx, |mut socket| socket.write_vectored(bufs))
    }

    /// Nothing to flush: writes go straight to the OS.
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Shuts the write side down (the peer reads EOF).
    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.shutdown(Shutdown::Write))
    }
}

impl futures_io::AsyncRead for TcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &*self).poll_read(cx, buf)
    }

    fn poll_read_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &*self).poll_read_vectored(cx, bufs)
    }
}

impl futures_io::AsyncWrite for TcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &*self).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &*self).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut &*self).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut &*self).poll_close(cx)
    }
}

/// Tries `f` on each address `addr` resolves to; the last error if none works.
pub(crate) fn each_addr<R>(
    addr: impl ToSocketAddrs,
    mut f: impl FnMut(SocketAddr) -> io::Result<R>,
) -> io::Result<R> {
    let mut last_error = None;
    for addr in addr.to_socket_addrs()? {
        match f(addr) {
            Ok(value) => return Ok(value),
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error.unwrap_or_else(no_addresses))
}

pub(crate) fn no_addresses() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "could not resolve to any address",
    )
}
