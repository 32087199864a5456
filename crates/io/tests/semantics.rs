//! The reactor's promises: stale events, fairness both ways, ownership by one loop, what
//! dropping the loop does, and errors for what the poller cannot watch.

mod common;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Wake, Waker};
use std::time::Duration;

use common::{event_loop, panic_message, run};
use handloop_executor::{Driver, EventLoop, Unparker, spawn, yield_now};
use handloop_io::net::{TcpListener, TcpStream};
use handloop_io::{Async, IoDriver, stale_events_ignored};
use handloop_timer::{sleep, timeout};

type Readable = Pin<Box<dyn Future<Output = std::io::Result<()>>>>;

/// What the hook wakers below act on; thread-local because a `Waker` must be `Send` and
/// the sources are not.
struct Scene {
    sources: [Option<Rc<Async<UnixStream>>>; 2],
    futures: [Option<Readable>; 2],
    /// The replacement source made by the first hook, and its peer.
    reused: Option<(Rc<Async<UnixStream>>, UnixStream, i32)>,
    fired: Vec<usize>,
    /// Kept open: a closed peer would make the sources readable (EOF) again.
    _peers: Vec<UnixStream>,
}

thread_local! {
    static SCENE: RefCell<Option<Scene>> = const { RefCell::new(None) };
}

/// A waker that, when woken first, frees the *other* source (whose event is still in the
/// batch) and makes a new one, which reuses that fd number and slab slot.
struct Hook(usize);

impl Wake for Hook {
    fn wake(self: Arc<Self>) {
        let me = self.0;
        let other = 1 - me;
        SCENE.with(|scene| {
            let mut guard = scene.borrow_mut();
            let scene = guard.as_mut().unwrap();
            scene.fired.push(me);
            if scene.reused.is_some() {
                return;
            }
            // The other future first (it borrows its source), then the source: its fd is
            // deregistered, closed, and its slot freed.
            scene.futures[other] = None;
            let old = scene.sources[other].take().unwrap();
            let old_fd = old.get_ref().as_raw_fd();
            drop(old);
            let (fresh, fresh_peer) = UnixStream::pair().unwrap();
            let fresh_fd = fresh.as_raw_fd();
            assert_eq!(fresh_fd, old_fd, "the test needs the fd number reused");
            let fresh = Rc::new(Async::new(fresh).unwrap());
            scene.reused = Some((fresh, fresh_peer, old_fd));
        });
    }
}

#[test]
fn a_stale_event_for_a_reused_fd_in_the_same_batch_is_ignored() {
    run(async {
        let mut sources = Vec::new();
        let mut peers = Vec::new();
        for _ in 0..2 {
            let (a, b) = UnixStream::pair().unwrap();
            sources.push(Rc::new(Async::new(a).unwrap()));
            peers.push(b);
        }
        let mut futures: [Option<Readable>; 2] = [None, None];
        for (i, source) in sources.iter().enumerate() {
            let source = source.clone();
            let mut future: Readable = Box::pin(async move { source.readable().await });
            let waker = Waker::from(Arc::new(Hook(i)));
            assert!(
                future
                    .as_mut()
                    .poll(&mut Context::from_waker(&waker))
                    .is_pending()
            );
            futures[i] = Some(future);
        }
        // Both become readable before the loop next polls: one batch holds both events.
        for peer in &mut peers {
            peer.write_all(b"x").unwrap();
        }
        let stale_before = stale_events_ignored();
        SCENE.with(|scene| {
            *scene.borrow_mut() = Some(Scene {
                sources: [Some(sources[0].clone()), Some(sources[1].clone())],
                futures,
                reused: None,
                fired: Vec::new(),
                _peers: peers,
            })
        });
        drop(sources);
        sleep(Duration::from_millis(20)).await; // the loop sleeps in the poller

        let scene = SCENE.with(|scene| scene.borrow_mut().take()).unwrap();
        assert_eq!(scene.fired.len(), 1, "only the first hook may fire");
        assert_eq!(
            stale_events_ignored(),
            stale_before + 1,
            "the freed source's event was in the batch and was ignored"
        );
        // The new source on the reused fd and slot inherited nothing: no data, not ready.
        let (fresh, _peer, _) = scene.reused.unwrap();
        let mut readable = Box::pin(fresh.readable());
        assert!(
            readable
                .as_mut()
                .poll(&mut Context::from_waker(Waker::noop()))
                .is_pending()
        );
        drop(readable);
        drop(scene.futures);
    });
}

#[test]
fn a_socket_that_is_always_readable_does_not_starve_timers() {
    run(async {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (mut peer, _) = listener.accept().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flood = std::thread::spawn({
            let stop = stop.clone();
            move || {
                let chunk = [1u8; 1 << 16];
                while !stop.load(Ordering::Relaxed) && peer.write_all(&chunk).is_ok() {}
            }
        });
        // One byte per read: the socket never runs dry, every read completes at once.
        let reads = Cell::new(0u64);
        let reader = async {
            let mut byte = [0];
            while reads.get() < 50_000_000 {
                stream.read_exact(&mut byte).await.unwrap();
                reads.set(reads.get() + 1);
            }
        };
        let elapsed = timeout(Duration::from_millis(20), reader).await;
        assert!(elapsed.is_err(), "the timer never fired");
        assert!(reads.get() > 0);
        stop.store(true, Ordering::Relaxed);
        drop(stream);
        flood.join().unwrap();
    });
}

#[test]
fn a_task_that_always_yields_does_not_starve_sockets() {
    run(async {
        let (a, mut b) = UnixStream::pair().unwrap();
        let a = Async::new(a).unwrap();
        let done = Rc::new(Cell::new(false));
        let reader = spawn({
            let done = done.clone();
            async move {
                let mut buf = [0; 4];
                let n = a.read_with(|mut s| s.read(&mut buf)).await.unwrap();
                done.set(true);
                n
            }
        });
        yield_now().await; // the reader has tried and waits now
        b.write_all(b"ping").unwrap();
        // Never idle, so the loop never sleeps in the poller: only the busy-turn rule
        // lets it see the socket.
        let mut turns = 0u64;
        while !done.get() {
            turns += 1;
            assert!(turns < 1_000_000, "the socket was never polled");
            yield_now().await;
        }
        assert_eq!(reader.await.unwrap(), 4);
        assert!(
            turns <= handloop_io::DEFAULT_EVENT_INTERVAL as u64 + 2,
            "{turns}"
        );
    });
}

#[test]
fn a_reader_that_never_waits_yields_every_128_operations_and_gets_128_more_each_turn() {
    run(reader_budget());
}

#[test]
fn the_budget_is_renewed_each_turn_inside_a_driver_that_does_not_attach() {
    // The trait's default `attach`: the poller is parked on every busy turn, and counts
    // the turns by its parks.
    struct Unattached(IoDriver);
    impl Driver for Unattached {
        fn park(&mut self, timeout: Option<Duration>) {
            self.0.park(timeout);
        }
        fn unparker(&self) -> Unparker {
            self.0.unparker()
        }
        fn enter(&self) {
            self.0.enter();
        }
        fn exit(&self) {
            self.0.exit();
        }
    }
    EventLoop::with_driver(Unattached(IoDriver::new().unwrap())).block_on(reader_budget());
}

/// 1000 one-byte reads, all ready at once, beside a task that counts the turns.
async fn reader_budget() {
    {
        let (a, mut b) = UnixStream::pair().unwrap();
        b.write_all(&[7; 1000]).unwrap();
        let a = Async::new(a).unwrap();
        let turns = Rc::new(Cell::new(0u32));
        let done = Rc::new(Cell::new(false));
        // Counts the loop's turns (one poll per turn) until the reader is done.
        let counter = spawn({
            let (turns, done) = (turns.clone(), done.clone());
            async move {
                while !done.get() {
                    turns.set(turns.get() + 1);
                    yield_now().await;
                }
            }
        });
        yield_now().await;
        let start = turns.get();
        // 1000 one-byte reads, all ready at once: the budget of 128 per turn makes the
        // reader yield after each 128 (7 times), and a new turn renews it. (Without the
        // budget this would take no turn; without its renewal, the reader would never
        // proceed again.)
        let mut byte = [0];
        for _ in 0..1000 {
            let n = a.read_with(|mut s| s.read(&mut byte)).await.unwrap();
            assert_eq!((n, byte[0]), (1, 7));
        }
        let used = turns.get() - start;
        done.set(true);
        counter.await.unwrap();
        assert_eq!(
            used, 7,
            "turns the reader spent: 7 budgets of 128, then 104 reads"
        );
        assert_eq!(handloop_io::polls(), 0, "never waited: no poller call");
    }
}

#[test]
fn busy_turns_ask_the_poller_only_every_61_turns_and_only_while_a_task_waits_on_io() {
    run(async {
        let (a, _b) = UnixStream::pair().unwrap();
        let a = Rc::new(Async::new(a).unwrap());
        // A socket is registered, but no task waits on it: busy turns make no syscall.
        let before = handloop_io::polls();
        for _ in 0..1000 {
            yield_now().await;
        }
        assert_eq!(handloop_io::polls(), before);
        // Now a task waits: one zero-timeout poll every 61 busy turns.
        let reader = spawn({
            let a = a.clone();
            async move { a.readable().await }
        });
        yield_now().await;
        let before = handloop_io::polls();
        for _ in 0..61 * 10 {
            yield_now().await;
        }
        let polls = handloop_io::polls() - before;
        assert!((9..=11).contains(&polls), "{polls} polls in 610 busy turns");
        reader.abort();
    });
}

#[test]
fn dropping_the_loop_closes_its_sockets() {
    let peer_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let peer_addr = peer_listener.local_addr().unwrap();
    let event_loop = event_loop();
    let listen_addr = event_loop.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stream = TcpStream::connect(peer_addr).await.unwrap();
        // Tasks that hold a listener and a connection, waiting forever.
        drop(spawn(async move {
            let _ = listener.accept().await;
        }));
        drop(spawn(async move {
            let mut buf = [0; 8];
            let _ = stream.read(&mut buf).await;
        }));
        yield_now().await;
        addr
    });
    let (mut peer, _) = peer_listener.accept().unwrap();
    drop(event_loop);
    peer.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0; 8];
    assert_eq!(peer.read(&mut buf).unwrap(), 0, "the connection was closed");
    let refused = std::net::TcpStream::connect(listen_addr).unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
}

#[test]
fn a_socket_used_on_another_loop_panics_with_a_clear_message() {
    let first = event_loop();
    let listener = first.block_on(async { TcpListener::bind("127.0.0.1:0").await.unwrap() });
    let second = event_loop();
    let message = panic_message(|| {
        second.block_on(async {
            let _ = listener.accept().await;
        });
    });
    assert!(
        message.contains("belongs to another event loop"),
        "{message}"
    );

    let (a, _b) = UnixStream::pair().unwrap();
    let a = first.block_on(async { Async::new(a).unwrap() });
    let message = panic_message(|| {
        handloop_waker::block_on(async {
            let _ = a.readable().await;
        });
    });
    assert!(
        message.contains("no event loop with I/O is running"),
        "{message}"
    );
}

#[test]
fn making_a_socket_outside_a_loop_panics_with_a_clear_message() {
    let (a, _b) = UnixStream::pair().unwrap();
    let message = panic_message(|| drop(Async::new(a)));
    assert!(
        message.contains("needs an event loop with I/O"),
        "{message}"
    );
}

#[test]
fn async_on_a_regular_file_is_a_clear_error() {
    let path = std::env::temp_dir().join(format!("handloop-io-{}", std::process::id()));
    let file = std::fs::File::create(&path).unwrap();
    let error = run(async { Async::new(file).unwrap_err() });
    std::fs::remove_file(&path).unwrap();
    assert_eq!(error.kind(), std::io::ErrorKind::Unsupported);
    assert!(error.to_string().contains("regular files"), "{error}");
}

#[test]
fn async_sets_non_blocking_and_into_inner_gives_the_fd_back() {
    run(async {
        let (a, mut b) = UnixStream::pair().unwrap();
        let a = Async::new(a).unwrap();
        // Non-blocking now: with nothing to read, the raw read says WouldBlock.
        let mut buf = [0; 4];
        let error = a.get_ref().read(&mut buf).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::WouldBlock);
        b.write_all(b"hey").unwrap();
        a.readable().await.unwrap();
        let mut raw = a.into_inner().unwrap();
        assert_eq!(raw.read(&mut buf).unwrap(), 3);
        // Registered again, on the same loop: no leftover registration is in the way.
        let again = Async::new(raw).unwrap();
        b.write_all(b"!").unwrap();
        let n = again.read_with(|mut s| s.read(&mut buf)).await.unwrap();
        assert_eq!(&buf[..n], b"!");
    });
}

#[test]
fn a_wait_abandoned_by_a_timeout_leaves_other_waiters_on_that_direction_woken() {
    run(async {
        let (a, mut b) = UnixStream::pair().unwrap();
        let a = Rc::new(Async::new(a).unwrap());
        let mut buf = [0; 4];
        // Two waits on one direction, one abandoned by a timeout: the other still wakes.
        let waiting = spawn({
            let a = a.clone();
            async move { a.readable().await }
        });
        let abandoned = timeout(
            Duration::from_millis(1),
            a.read_with(|mut s| s.read(&mut buf)),
        );
        assert!(abandoned.await.is_err());
        b.write_all(b"x").unwrap();
        waiting.await.unwrap().unwrap();
    });
}
