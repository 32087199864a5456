//! One event loop per thread. Each thread runs its own `handloop::run`; the loops share
//! nothing but a `Queue` (which is `Send + Sync` when its items are `Send`) and a
//! `oneshot` for the reply. A put on one thread wakes the getter waiting on the other
//! thread's loop, and the other way round.
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
//! ```

use std::thread;

use handloop::{Queue, oneshot};

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
    ThreadsReport {
        sent,
        received,
        reply,
    }
}

#[allow(dead_code)] // unused where tour.rs and the tests include this file as a module
fn main() {
    demo();
}
