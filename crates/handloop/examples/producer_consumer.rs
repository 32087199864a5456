//! Producers and consumers around a bounded queue, with random waits: every asyncio
//! tutorial's last example. Shutdown is clean: once the producers are done, the queue is
//! closed; consumers take what is left, then `get` fails with `Closed` and they stop.
//! Nothing is lost: every letter put is taken exactly once.
//!
//! ```python
//! async def producer(queue, n):
//!     for _ in range(n):
//!         await asyncio.sleep(random.random())
//!         await queue.put(random.choice(string.ascii_lowercase))
//!
//! async def consumer(queue):
//!     taken = []
//!     while True:
//!         try:
//!             letter = await queue.get()
//!         except asyncio.QueueShutDown:
//!             return taken
//!         await asyncio.sleep(random.random())   # "process" it
//!         taken.append(letter)
//!
//! async def main():
//!     queue = asyncio.Queue(maxsize=2)
//!     consumers = [asyncio.create_task(consumer(queue)) for _ in range(2)]
//!     await asyncio.gather(*(producer(queue, 4) for _ in range(3)))
//!     queue.shutdown()                            # Python 3.13
//!     taken = await asyncio.gather(*consumers)
//! ```

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use handloop::{Queue, Runtime, gather, sleep, spawn};

const PRODUCERS: u64 = 3;
const CONSUMERS: u64 = 2;
const ITEMS_EACH: usize = 4;
const CAPACITY: usize = 2;
/// The PRNG's seed: a constant, so every run prints the same thing.
const SEED: u64 = 0x9E37_79B9_7F4A_7C15;

/// A tiny xorshift64 pseudo-random generator (Marsaglia, 2003), seeded by a constant so
/// the output is the same on every run, with no `rand` dependency. Not for real use.
struct Rng(u64);

impl Rng {
    fn new(stream: u64) -> Rng {
        Rng((SEED ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03)) | 1) // never zero
    }

    fn below(&mut self, n: u64) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x % n
    }

    /// `random.random()` seconds, to the millisecond.
    fn wait(&mut self) -> Duration {
        Duration::from_millis(self.below(1000))
    }

    fn letter(&mut self) -> char {
        char::from(b'a' + self.below(26) as u8)
    }
}

/// Prints each line and keeps it, so the test can check exactly what was printed.
#[derive(Clone, Default)]
struct Log(Rc<RefCell<Vec<String>>>);

impl Log {
    fn say(&self, line: String) {
        println!("{line}");
        self.0.borrow_mut().push(line);
    }
}

/// The loop's clock since `start`, like `0.412s`.
fn since(start: Instant) -> String {
    format!("{:.3}s", (handloop::time::now() - start).as_secs_f64())
}

async fn producer(
    id: u64,
    queue: Queue<char>,
    max_len: Rc<Cell<usize>>,
    log: Log,
    start: Instant,
) -> Vec<char> {
    let mut rng = Rng::new(id);
    let mut put = Vec::new();
    for _ in 0..ITEMS_EACH {
        sleep(rng.wait()).await;
        let letter = rng.letter();
        // Waits while the queue is full: the producers can't run ahead of the consumers.
        queue
            .put(letter)
            .await
            .expect("the queue closes only after the producers end");
        // Never more than the capacity; 0 when a consumer was already waiting: the
        // letter was handed straight to it (fair hand-off: the longest waiter gets it).
        let len = queue.len();
        max_len.set(max_len.get().max(len));
        log.say(format!(
            "{}  producer {id} put '{letter}' ({len} in the queue)",
            since(start)
        ));
        put.push(letter);
    }
    put
}

async fn consumer(id: u64, queue: Queue<char>, log: Log, start: Instant) -> Vec<char> {
    let mut rng = Rng::new(100 + id);
    let mut taken = Vec::new();
    // `get` fails with `Closed` once the queue is closed *and* empty: the loop's end.
    while let Ok(letter) = queue.get().await {
        log.say(format!("{}  consumer {id} got '{letter}'", since(start)));
        sleep(rng.wait()).await; // "process" it
        taken.push(letter);
    }
    log.say(format!(
        "{}  consumer {id} sees the queue closed: done",
        since(start)
    ));
    taken
}

/// What went in, what came out, and what was printed.
#[derive(Debug)]
#[allow(dead_code)] // read by the tests
pub struct ProducerConsumerReport {
    /// The lines printed, in order.
    pub lines: Vec<String>,
    /// Letters put, per producer.
    pub produced: Vec<Vec<char>>,
    /// Letters taken, per consumer.
    pub consumed: Vec<Vec<char>>,
    /// The most items seen waiting in the queue right after a put.
    pub max_len: usize,
    /// The queue's capacity.
    pub capacity: usize,
    /// Virtual time taken.
    pub elapsed: Duration,
}

/// Runs the example, printing as it goes, and returns what `tests/examples.rs` checks.
pub fn demo() -> ProducerConsumerReport {
    let log = Log::default();
    let max_len = Rc::new(Cell::new(0));
    let runtime = Runtime::builder().virtual_time().build().expect("runtime");
    let (produced, consumed, elapsed) = runtime.block_on(async {
        let start = handloop::time::now();
        let queue = Queue::bounded(CAPACITY); // asyncio.Queue(maxsize=2)
        let consumers: Vec<_> = (1..=CONSUMERS)
            .map(|id| spawn(consumer(id, queue.clone(), log.clone(), start)))
            .collect();
        let producers = (1..=PRODUCERS)
            .map(|id| producer(id, queue.clone(), max_len.clone(), log.clone(), start));
        let produced = gather(producers).await;
        log.say(format!(
            "{}  producers done: closing the queue",
            since(start)
        ));
        queue.close(); // asyncio's queue.shutdown(): no more puts, getters drain the rest
        let consumed: Vec<Vec<char>> = gather(consumers)
            .await
            .into_iter()
            .map(|taken| taken.expect("a consumer failed"))
            .collect();
        (produced, consumed, handloop::time::now() - start)
    });
    let put: usize = produced.iter().map(Vec::len).sum();
    let taken: usize = consumed.iter().map(Vec::len).sum();
    log.say(format!(
        "{put} letters put, {taken} taken, in {:.3}s (virtual)",
        elapsed.as_secs_f64()
    ));
    let lines = log.0.borrow().clone();
    ProducerConsumerReport {
        lines,
        produced,
        consumed,
        max_len: max_len.get(),
        capacity: CAPACITY,
        elapsed,
    }
}

#[allow(dead_code)] // unused where tour.rs and the tests include this file as a module
fn main() {
    demo();
}
