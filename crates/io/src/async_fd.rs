//! `Async<T>`: any file descriptor, registered with the loop's poller. The step's core:
//! try the syscall, and wait for readiness only when it says `WouldBlock`.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::task::{Context, Poll};

use mio::Interest;
use mio::unix::SourceFd;

use crate::reactor::{Dir, Registration, WaitSlot, Waiter};

/// An I/O object `T` (anything with a file descriptor: a socket, a pipe, a tty) registered
/// with the running loop's poller, in non-blocking mode.
///
/// This is asyncio's `loop.add_reader` / `add_writer` turned inside out: instead of a
/// callback the poller calls when the fd is ready, a task *tries* the operation, and only
/// if the OS answers `WouldBlock` does it wait, until the poller reports the fd ready and
/// wakes it; then it tries again. [`read_with`](Async::read_with) and
/// [`write_with`](Async::write_with) are that loop; the socket types in
/// [`net`](crate::net) are built on them.
///
/// The fd is registered once, for reading and writing, edge-triggered, and deregistered
/// before it closes (when the `Async` is dropped, or by [`into_inner`](Async::into_inner)).
/// An `Async` belongs to the loop that made it: using it while another loop runs panics.
///
/// ```
/// use std::io::{Read, Write};
/// use std::os::unix::net::UnixStream;
/// use handloop_executor::EventLoop;
/// use handloop_io::{Async, IoDriver};
///
/// let event_loop = EventLoop::with_driver(IoDriver::new()?);
/// event_loop.block_on(async {
///     let (a, b) = UnixStream::pair()?;
///     let (a, b) = (Async::new(a)?, Async::new(b)?);
///     handloop_executor::spawn(async move {
///         b.write_with(|mut s| s.write(b"hello")).await.unwrap();
///     });
///     let mut buf = [0; 5];
///     // Nothing to read yet: `read` says WouldBlock, the task waits until the poller
///     // reports `a` readable, then tries again.
///     let n = a.read_with(|mut s| s.read(&mut buf)).await?;
///     assert_eq!(&buf[..n], b"hello");
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Async<T: AsFd> {
    /// `None` only inside `drop` and `into_inner`.
    io: Option<T>,
    registration: Registration,
}

impl<T: AsFd> Async<T> {
    /// Puts `io` in non-blocking mode and registers it with the running loop's poller.
    ///
    /// Fails with an error of kind [`Unsupported`](io::ErrorKind::Unsupported) for fds
    /// the poller cannot watch: epoll refuses regular files and directories (they are
    /// always "ready"; read them with blocking calls on another thread).
    ///
    /// # Panics
    /// Outside an event loop whose driver has I/O.
    pub fn new(io: T) -> io::Result<Async<T>> {
        let async_io = Async::new_nonblocking(io)?;
        set_nonblocking(async_io.get_ref().as_fd())?;
        Ok(async_io)
    }

    /// Registers `io`, which is already non-blocking (mio's sockets are born so).
    pub(crate) fn new_nonblocking(io: T) -> io::Result<Async<T>> {
        let fd = io.as_fd().as_raw_fd();
        let registration = Registration::new(
            &mut SourceFd(&fd),
            Interest::READABLE | Interest::WRITABLE,
            "handloop_io::Async::new",
        )
        .map_err(|e| match e.raw_os_error() {
            // EPERM: epoll_ctl refuses regular files and directories.
            Some(1) => io::Error::new(
                io::ErrorKind::Unsupported,
                format!(
                    "handloop_io::Async::new: the poller cannot watch fd {fd} (epoll refuses \
                     regular files and directories, which are always ready: {e}); read \
                     files with blocking calls, on another thread"
                ),
            ),
            _ => e,
        })?;
        Ok(Async {
            io: Some(io),
            registration,
        })
    }

    /// The I/O object.
    pub fn get_ref(&self) -> &T {
        self.io
            .as_ref()
            .expect("Async holds its I/O object until dropped")
    }

    /// Deregisters the I/O object from the poller and gives it back (still in non-blocking
    /// mode).
    pub fn into_inner(mut self) -> io::Result<T> {
        let io = self
            .io
            .take()
            .expect("Async holds its I/O object until dropped");
        self.registration
            .deregister(&mut SourceFd(&io.as_fd().as_raw_fd()))?;
        Ok(io)
    }

    /// Waits until the poller reports the fd readable (a hint: the next read may still say
    /// `WouldBlock` if another task took the data first).
    pub async fn readable(&self) -> io::Result<()> {
        let waiter = Waiter::new(&self.registration, Dir::Read);
        poll_fn(|cx| waiter.poll_ready(cx, "Async::readable")).await
    }

    /// Waits until the poller reports the fd writable.
    pub async fn writable(&self) -> io::Result<()> {
        let waiter = Waiter::new(&self.registration, Dir::Write);
        poll_fn(|cx| waiter.poll_ready(cx, "Async::writable")).await
    }

    /// Runs the read operation `op` until it stops saying `WouldBlock`: tries it at once,
    /// and after each `WouldBlock` waits for the poller to report the fd readable.
    ///
    /// `op` must be a non-blocking read-side operation (`read`, `recv_from`, `accept`):
    /// its `WouldBlock` is what clears the readiness this loop remembers.
    pub async fn read_with<R>(&self, mut op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        let io = self.get_ref();
        let waiter = Waiter::new(&self.registration, Dir::Read);
        poll_fn(|cx| waiter.poll_io(cx, "Async::read_with", || op(io))).await
    }

    /// Runs the write operation `op` until it stops saying `WouldBlock` (see
    /// [`read_with`](Async::read_with)).
    pub async fn write_with<R>(&self, mut op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        let io = self.get_ref();
        let waiter = Waiter::new(&self.registration, Dir::Write);
        poll_fn(|cx| waiter.poll_io(cx, "Async::write_with", || op(io))).await
    }

    /// [`read_with`](Async::read_with) for `poll_*` methods (`AsyncRead`): the waker of the
    /// last caller is the one woken.
    pub fn poll_read_with<R>(
        &self,
        cx: &mut Context<'_>,
        op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.poll_with(Dir::Read, cx, "Async::poll_read_with", op)
    }

    /// [`write_with`](Async::write_with) for `poll_*` methods (`AsyncWrite`).
    pub fn poll_write_with<R>(
        &self,
        cx: &mut Context<'_>,
        op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.poll_with(Dir::Write, cx, "Async::poll_write_with", op)
    }

    fn poll_with<R>(
        &self,
        dir: Dir,
        cx: &mut Context<'_>,
        what: &str,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        let io = self.get_ref();
        self.registration
            .poll_io(dir, WaitSlot::Poller, cx, what, || op(io))
    }
}

impl<T: AsFd> Drop for Async<T> {
    fn drop(&mut self) {
        if let Some(io) = self.io.take() {
            // Deregister first, then close: the poller never watches a closed (and perhaps
            // reused) fd number. An error here means the fd was closed under us already.
            let _ = self
                .registration
                .deregister(&mut SourceFd(&io.as_fd().as_raw_fd()));
            drop(io);
        }
    }
}

impl<T: AsFd + fmt::Debug> fmt::Debug for Async<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Async")
            .field("io", &self.io)
            .field("registration", &self.registration)
            .finish()
    }
}

/// Sets `O_NONBLOCK` on any fd, without `unsafe`: std sets it only through its socket
/// types (an `ioctl(FIONBIO)`, which works on any fd), and a duplicate of the fd shares the
/// open file description that holds the flag. Three syscalls, once per `Async::new` on a
/// foreign fd; the socket types never need it.
fn set_nonblocking(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<()> {
    let duplicate = fd.try_clone_to_owned()?;
    std::os::unix::net::UnixStream::from(duplicate).set_nonblocking(true)
}
