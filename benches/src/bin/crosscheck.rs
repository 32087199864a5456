//! A second opinion on the `compare` rows `request_reply` and `ping_pong`: the same shapes
//! (a bounded(10) queue of requests, each answered through a oneshot; a ping of two spawns
//! and two oneshots), written independently of `src/lib.rs` and its sides, with another
//! task structure, and timed by its own loop. If `compare` flattered handloop by the way its
//! workloads happen to be written, the ratios here would say so.
//!
//! What differs from `compare`:
//!
//! * `rr_one_client`: the server *and* the client are spawned tasks (in `compare` the
//!   client is `block_on`'s own future); `block_on` only awaits their handles.
//! * `rr_four_clients`: four client tasks share the queue, each awaiting its own answers,
//!   so the server often finds several requests waiting and the queue fills up.
//! * `ping_waves`: pings are spawned in waves of 50 and awaited through their
//!   `JoinHandle`s (no shared countdown); each ping spawns its pong, sends it a oneshot,
//!   and awaits the pong's oneshot back.
//!
//! Each sample times a batch of whole iterations on one runtime; the rounds alternate the
//! order (handloop first, then tokio first), and the ratio printed is the median of the
//! per-round ratios (tokio's sample over handloop's), next to the median ns per operation.
//!
//! ```text
//! crosscheck                    21 rounds, tokio current-thread with `enable_all`
//! crosscheck --rounds N         N rounds
//! crosscheck --tokio-bare       tokio current-thread with no driver at all
//! crosscheck --profile SHAPE R N
//!                               run SHAPE on R (handloop or tokio) N times, untimed
//!                               (for `valgrind --tool=callgrind`)
//! ```
#![forbid(unsafe_code)]

use std::hint::black_box;
use std::time::{Duration, Instant};

/// Round trips per iteration of the request/reply shapes.
const ROUND_TRIPS: usize = 2000;
/// Requests the queue holds.
const CAPACITY: usize = 10;
/// Client tasks of `rr_four_clients`.
const CLIENTS: usize = 4;
/// Pings per iteration of `ping_waves`.
const PINGS: usize = 2000;
/// Pings spawned (and awaited) together.
const WAVE: usize = 50;

mod on_handloop {
    use super::*;
    use handloop::{JoinHandle, Queue, Runtime, oneshot, spawn};

    type Request = (u64, oneshot::Sender<u64>);

    fn server(queue: Queue<Request>) -> JoinHandle<u64> {
        spawn(async move {
            let mut served = 0;
            while let Ok((x, reply)) = queue.get().await {
                served += 1;
                let _ = reply.send(x.wrapping_mul(3));
            }
            served
        })
    }

    fn client(queue: Queue<Request>, requests: usize) -> JoinHandle<u64> {
        spawn(async move {
            let mut sum = 0u64;
            for i in 0..requests as u64 {
                let (tx, rx) = oneshot::channel();
                if queue.put((i, tx)).await.is_err() {
                    break;
                }
                sum = sum.wrapping_add(rx.await.expect("the server answers"));
            }
            sum
        })
    }

    pub fn rr(rt: &Runtime, clients: usize) {
        rt.block_on(async {
            let queue = Queue::bounded(CAPACITY);
            let server = server(queue.clone());
            let handles: Vec<_> = (0..clients)
                .map(|_| client(queue.clone(), ROUND_TRIPS / clients))
                .collect();
            for handle in handles {
                black_box(handle.await.unwrap());
            }
            queue.close();
            assert_eq!(server.await.unwrap(), ROUND_TRIPS as u64);
        });
    }

    pub fn ping_waves(rt: &Runtime) {
        rt.block_on(async {
            let mut wave = Vec::with_capacity(WAVE);
            for _ in 0..PINGS / WAVE {
                for n in 0..WAVE as u32 {
                    wave.push(spawn(async move {
                        let (ping_tx, ping_rx) = oneshot::channel::<u32>();
                        let (pong_tx, pong_rx) = oneshot::channel::<u32>();
                        drop(spawn(async move {
                            let n = ping_rx.await.unwrap();
                            pong_tx.send(n + 1).unwrap();
                        }));
                        ping_tx.send(n).unwrap();
                        pong_rx.await.unwrap()
                    }));
                }
                for (n, ping) in wave.drain(..).enumerate() {
                    assert_eq!(ping.await.unwrap(), n as u32 + 1);
                }
            }
        });
    }
}

mod on_tokio {
    use super::*;
    use tokio::runtime::Runtime;
    use tokio::sync::{mpsc, oneshot};
    use tokio::task::{JoinHandle, spawn};

    type Request = (u64, oneshot::Sender<u64>);

    fn server(mut queue: mpsc::Receiver<Request>) -> JoinHandle<u64> {
        spawn(async move {
            let mut served = 0;
            while let Some((x, reply)) = queue.recv().await {
                served += 1;
                let _ = reply.send(x.wrapping_mul(3));
            }
            served
        })
    }

    fn client(queue: mpsc::Sender<Request>, requests: usize) -> JoinHandle<u64> {
        spawn(async move {
            let mut sum = 0u64;
            for i in 0..requests as u64 {
                let (tx, rx) = oneshot::channel();
                if queue.send((i, tx)).await.is_err() {
                    break;
                }
                sum = sum.wrapping_add(rx.await.expect("the server answers"));
            }
            sum
        })
    }

    pub fn rr(rt: &Runtime, clients: usize) {
        rt.block_on(async {
            let (queue, requests) = mpsc::channel(CAPACITY);
            let server = server(requests);
            let handles: Vec<_> = (0..clients)
                .map(|_| client(queue.clone(), ROUND_TRIPS / clients))
                .collect();
            drop(queue);
            for handle in handles {
                black_box(handle.await.unwrap());
            }
            assert_eq!(server.await.unwrap(), ROUND_TRIPS as u64);
        });
    }

    pub fn ping_waves(rt: &Runtime) {
        rt.block_on(async {
            let mut wave = Vec::with_capacity(WAVE);
            for _ in 0..PINGS / WAVE {
                for n in 0..WAVE as u32 {
                    wave.push(spawn(async move {
                        let (ping_tx, ping_rx) = oneshot::channel::<u32>();
                        let (pong_tx, pong_rx) = oneshot::channel::<u32>();
                        drop(spawn(async move {
                            let n = ping_rx.await.unwrap();
                            pong_tx.send(n + 1).unwrap();
                        }));
                        ping_tx.send(n).unwrap();
                        pong_rx.await.unwrap()
                    }));
                }
                for (n, ping) in wave.drain(..).enumerate() {
                    assert_eq!(ping.await.unwrap(), n as u32 + 1);
                }
            }
        });
    }
}

/// Times `iters` iterations of `f`.
fn time(iters: usize, mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    start.elapsed()
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let mut rounds = 21;
    let mut bare = false;
    let mut profile = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--rounds" => {
                rounds = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("--rounds N")
            }
            "--tokio-bare" => bare = true,
            "--profile" => {
                let mut next = || args.next().expect("--profile SHAPE RUNTIME ITERS");
                let (shape, runtime, iters) = (next(), next(), next());
                profile = Some((shape, runtime, iters.parse::<usize>().expect("ITERS")));
            }
            _ => {
                eprintln!(
                    "usage: crosscheck [--rounds N] [--tokio-bare] [--profile SHAPE RUNTIME N]"
                );
                std::process::exit(2);
            }
        }
    }
    let handloop = handloop::Runtime::builder()
        .build()
        .expect("handloop runtime");
    let mut tokio = tokio::runtime::Builder::new_current_thread();
    if !bare {
        tokio.enable_all();
    }
    let tokio = tokio.build().expect("tokio runtime");

    type Shape<'a> = (&'a str, usize, Box<dyn Fn() + 'a>, Box<dyn Fn() + 'a>);
    let shapes: Vec<Shape> = vec![
        (
            "rr_one_client",
            ROUND_TRIPS,
            Box::new(|| on_handloop::rr(&handloop, 1)),
            Box::new(|| on_tokio::rr(&tokio, 1)),
        ),
        (
            "rr_four_clients",
            ROUND_TRIPS,
            Box::new(|| on_handloop::rr(&handloop, CLIENTS)),
            Box::new(|| on_tokio::rr(&tokio, CLIENTS)),
        ),
        (
            "ping_waves",
            PINGS,
            Box::new(|| on_handloop::ping_waves(&handloop)),
            Box::new(|| on_tokio::ping_waves(&tokio)),
        ),
    ];
    if let Some((shape, runtime, iters)) = profile {
        let (_, _, on_handloop, on_tokio) = shapes
            .iter()
            .find(|s| s.0 == shape)
            .expect("a shape: rr_one_client, rr_four_clients, ping_waves");
        let run = if runtime == "tokio" {
            on_tokio
        } else {
            on_handloop
        };
        for _ in 0..iters {
            run();
        }
        return;
    }
    println!(
        "| shape | handloop ns/op | tokio ns/op | tokio/handloop (median of {rounds} rounds) |"
    );
    println!("|---|--:|--:|--:|");
    for (name, ops, on_handloop, on_tokio) in &shapes {
        // Warm up, and size a sample to about 5 ms of the slower runtime.
        on_handloop();
        on_tokio();
        let one = time(3, on_tokio).max(time(3, on_handloop)) / 3;
        let iters = (Duration::from_millis(5).as_nanos() / one.as_nanos().max(1)).max(1) as usize;
        let per_op = |d: Duration| d.as_nanos() as f64 / (iters * ops) as f64;
        let (mut h, mut t, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..rounds {
            let (a, b) = if round % 2 == 0 {
                let a = time(iters, on_handloop);
                (a, time(iters, on_tokio))
            } else {
                let b = time(iters, on_tokio);
                (time(iters, on_handloop), b)
            };
            h.push(per_op(a));
            t.push(per_op(b));
            ratios.push(per_op(b) / per_op(a));
        }
        println!(
            "| {name} | {:.1} | {:.1} | {:.2} |",
            median(&mut h),
            median(&mut t),
            median(&mut ratios)
        );
    }
}
