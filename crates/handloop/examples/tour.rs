//! The tour: the asyncio tutorials' examples, run on handloop one after another, each
//! with a line saying what to look for. `cargo run --example tour`; each example also
//! runs alone (`cargo run --example fleet`), and its source starts with the Python it
//! mirrors.

// Each example is a file with a `demo()` and a `main()` that calls it; the tour (and
// tests/examples.rs) includes the files as modules and calls `demo()`.
#[allow(dead_code)]
#[path = "blocking.rs"]
mod blocking;
#[allow(dead_code)]
#[path = "echo_server.rs"]
mod echo_server;
#[allow(dead_code)]
#[path = "fleet.rs"]
mod fleet;
#[allow(dead_code)]
#[path = "fleet_moves.rs"]
mod fleet_moves;
#[allow(dead_code)]
#[path = "gather_workers.rs"]
mod gather_workers;
#[allow(dead_code)]
#[path = "in_order.rs"]
mod in_order;
#[allow(dead_code)]
#[path = "producer_consumer.rs"]
mod producer_consumer;
#[allow(dead_code)]
#[path = "say_after.rs"]
mod say_after;
#[allow(dead_code)]
#[path = "see_the_loop.rs"]
mod see_the_loop;
#[allow(dead_code)]
#[path = "threads.rs"]
mod threads;

/// One stop of the tour: its name, what to look for, and the example itself.
const STOPS: &[(&str, &str, fn())] = &[
    (
        "fleet",
        "100 tasks each wait 60 s three times; one loop overlaps all the waits, so it takes \
         3 minutes, not 5 hours (and on the virtual clock, no real time at all).",
        || {
            let _ = fleet::demo();
        },
    ),
    (
        "say_after",
        "Awaiting each task before creating the next takes 1 s + 2 s; creating both first \
         lets their sleeps overlap: 2 s.",
        || {
            let _ = say_after::demo();
        },
    ),
    (
        "gather_workers",
        "gather! runs three workers at once: every \"One\" comes before any \"Two\", and it \
         takes 1 s, not 3.",
        || {
            let _ = gather_workers::demo();
        },
    ),
    (
        "producer_consumer",
        "Three producers, two consumers, a queue of two: put waits while it is full, get \
         while it is empty, and a letter put while a consumer waits goes straight to it. \
         Closing the queue stops the consumers once it is drained.",
        || {
            let _ = producer_consumer::demo();
        },
    ),
    (
        "fleet_moves",
        "A Semaphore of 5 permits: 12 fleets move five at a time, each in the order it \
         asked, in waves of 5, 5 and 2: 3 s.",
        || {
            let _ = fleet_moves::demo();
        },
    ),
    (
        "in_order",
        "Separate tasks run in no particular order; steps awaited inside one task run in \
         the order written.",
        || {
            let _ = in_order::demo();
        },
    ),
    (
        "blocking",
        "std::thread::sleep blocks the loop's only thread: every other task waits for it. \
         Awaiting handloop::sleep lets them run, and so does handing the blocking call to \
         handloop::to_thread. (Real clock: about a second.)",
        || {
            let _ = blocking::demo();
        },
    ),
    (
        "threads",
        "Two threads, one loop each, handing values through a Queue and a reply through a \
         oneshot; then a thread with no loop reaching a third loop through its Handle \
         (call_soon_threadsafe, spawn_with).",
        || {
            let _ = threads::demo();
        },
    ),
    (
        "echo_server",
        "Beazley's last step: the loop waits on sockets. A task accepts connections, a task \
         per connection echoes; while nothing is ready the loop sleeps in the OS poller \
         (epoll), which wakes it when bytes arrive.",
        || {
            let _ = echo_server::demo();
        },
    ),
    (
        "see_the_loop",
        "The loop made visible: debug mode names a task that blocks the thread while it \
         blocks, a consumer nobody will ever feed ends in a deadlock report instead of a \
         hang, and a trace of the fixed program opens in Perfetto. (About two seconds.)",
        || {
            let _ = see_the_loop::demo();
        },
    ),
];

fn main() {
    for (i, (name, explanation, demo)) in STOPS.iter().enumerate() {
        println!("\n== {}. {name} (cargo run --example {name})", i + 1);
        println!("{explanation}\n");
        demo();
    }
}
