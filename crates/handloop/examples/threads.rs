//! One event loop per thread. Each thread runs its own `handloop::run`; the loops share
//! nothing but a `Queue` (which is `Send + Sync` when its items are `Send`) and a
//! `oneshot` for the reply. A put on one thread wakes the getter waiting on the other
//! thread's loop, and the other way round.
//!
//! Then a plain thread (this one, with no loop) reaches a running loop through its
//! `Handle`: `call_soon_threadsafe` runs a closure there, and `spawn_with` runs a future
//! that sleeps there (built on that loop's thread, since timers stay on their loop),
//! whose result this thread waits for. Once that loop is gone, the handle says so.
//!
//! ```python
//! # asyncio also runs one loop per thread, but its Queue and Future are not
//! # thread-safe: crossing threads takes loop.call_soon_threadsafe, or
//! # asyncio.run_coroutine_threadsafe. handloop's Queue and oneshot work across threads.
//! def thread_a(queue, reply):
//!     async def main():
//!         for n in range(1, 11):
//!             await queue.put(n)
//!         queue.shutdown()
//!         print("the sum is", await reply)
//!     asyncio.run(main())
//!
//! # From a thread without a loop:
//! loop_c.call_soon_threadsafe(print, "hello from loop C")
//! future = asyncio.run_coroutine_threadsafe(asyncio.sleep(0.01, "slept"), loop_c)
//! print(future.result())
//! ```

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use handloop::{Handle, LoopClosed, Queue, Runtime, oneshot};

/// What crossed between the threads.
#[derive(Debug)]
#[allow(dead_code)] // read by the tests
pub struct ThreadsReport {
    /// What loop A put in the queue.
    pub sent: Vec<u32>,
    /// What loop B took from it, in order.
    pub received: Vec<u32>,
    /// The sum loop B sent back to loop A through the oneshot.
    pub reply: u32,
    /// The thread a `call_soon_threadsafe` callback ran on.
    pub callback_ran_on: String,
    /// What the future sent with `spawn_with` returned, and the thread it ran on.
    pub spawned: (String, String),
    /// What `call_soon_threadsafe` said once loop C was gone.
    pub after_close: Result<(), LoopClosed>,
}

/// Runs the example, printing as it goes, and returns what `tests/examples.rs` checks.
pub fn demo() -> ThreadsReport {
    // A bounded queue: loop A waits for loop B whenever the queue is full.
    let queue: Queue<u32> = Queue::bounded(2);
    let (reply_tx, reply_rx) = oneshot::channel::<u32>();

    let loop_b = {
        let queue = queue.clone();
        thread::Builder::new()
            .name("loop-b".into())
            .spawn(move || {
                handloop::run(async move {
                    let mut received = Vec::new();
                    while let Ok(n) = queue.get().await {
                        received.push(n);
                    }
                    let sum = received.iter().sum();
                    println!("  loop B (thread loop-b): took {received:?}, sends back {sum}");
                    reply_tx.send(sum).expect("loop A waits for the reply");
                    received
                })
            })
            .expect("spawning a thread")
    };

    let loop_a = thread::Builder::new()
        .name("loop-a".into())
        .spawn(move || {
            handloop::run(async move {
                let sent: Vec<u32> = (1..=10).collect();
                for &n in &sent {
                    queue.put(n).await.expect("the queue is open");
                }
                println!("  loop A (thread loop-a): put 1 to 10 in the queue, closing it");
                queue.close();
                let reply = reply_rx.await.expect("loop B sends a reply");
                println!("  loop A (thread loop-a): received {reply} from loop B");
                (sent, reply)
            })
        })
        .expect("spawning a thread");

    let (sent, reply) = loop_a.join().expect("loop A panicked");
    let received = loop_b.join().expect("loop B panicked");
    let (callback_ran_on, spawned, after_close) = through_a_handle();
    ThreadsReport {
        sent,
        received,
        reply,
        callback_ran_on,
        spawned,
        after_close,
    }
}

/// This thread has no loop: it reaches loop C through loop C's `Handle`.
fn through_a_handle() -> (String, (String, String), Result<(), LoopClosed>) {
    let (handle_tx, handle_rx) = mpsc::channel::<Handle>();
    let (stop, stopped) = oneshot::channel::<()>();
    let loop_c = thread::Builder::new()
        .name("loop-c".into())
        .spawn(move || {
            let runtime = Runtime::new().expect("a runtime");
            handle_tx
                .send(runtime.handle())
                .expect("the main thread waits");
            // Runs whatever is sent to it, until told to stop.
            runtime.block_on(async move {
                let _ = stopped.await;
            });
        })
        .expect("spawning a thread");
    let handle = handle_rx.recv().expect("loop C sends its handle");

    // asyncio's loop.call_soon_threadsafe(f): f runs on loop C's thread.
    let (ran_tx, ran_rx) = mpsc::channel();
    handle
        .call_soon_threadsafe(move || {
            let name = thread::current().name().unwrap_or("?").to_owned();
            println!("  a callback sent from the main thread runs on {name}");
            ran_tx.send(name).unwrap();
        })
        .expect("loop C is running");
    let callback_ran_on = ran_rx.recv().expect("the callback ran");

    // asyncio's run_coroutine_threadsafe: a future that sleeps is built on loop C (its
    // timer is loop C's), and this thread blocks on the `Send` handle for the result.
    let task = handle.spawn_with(|| async {
        handloop::sleep(Duration::from_millis(10)).await;
        let name = thread::current().name().unwrap_or("?").to_owned();
        ("slept 10 ms".to_owned(), name)
    });
    let spawned = handloop_waker::block_on(task).expect("the task finished");
    println!(
        "  a future sent with spawn_with: {:?} on {}",
        spawned.0, spawned.1
    );

    drop(stop); // loop C's block_on returns, and its runtime is dropped
    loop_c.join().expect("loop C panicked");
    let after_close = handle.call_soon_threadsafe(|| ());
    println!("  after loop C is gone: {after_close:?}");
    (callback_ran_on, spawned, after_close)
}

#[allow(dead_code)] // unused where tour.rs and the tests include this file as a module
fn main() {
    demo();
}
