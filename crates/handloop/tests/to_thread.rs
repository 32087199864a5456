//! `to_thread`: blocking calls on the runtime's pool of threads. The cap, the order, the
//! panics, detaching, the virtual clock waiting for jobs, idle threads exiting, and what
//! a runtime's drop does to jobs already handed over.

use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::thread;
use std::time::Duration;

use handloop::{Runtime, sleep, spawn, time, timeout, to_thread};

fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn a_job_runs_on_a_pool_thread_and_its_result_comes_back() {
    let (result, job_thread) = handloop::run(async {
        to_thread(|| (6 * 7, thread::current().name().map(str::to_owned)))
            .await
            .unwrap()
    });
    assert_eq!(result, 42);
    assert_eq!(job_thread.as_deref(), Some("handloop-to-thread"));
}

#[test]
fn the_loop_runs_other_tasks_while_a_job_blocks() {
    // The job blocks until a task of the loop answers it: were the loop blocked too, this
    // would never finish.
    let got = handloop::run(async {
        let (tx, rx) = mpsc::channel::<u32>();
        let job = to_thread(move || rx.recv().unwrap() + 1);
        spawn(async move {
            sleep(Duration::from_millis(5)).await;
            tx.send(41).unwrap();
        });
        job.await.unwrap()
    });
    assert_eq!(got, 42);
}

/// Makes `n` jobs wait for each other: each `arrive` returns once `n` have arrived, or
/// `false` after 10 s (so a pool that runs fewer at once fails instead of hanging).
struct Rendezvous {
    arrived: Mutex<usize>,
    all_here: Condvar,
    n: usize,
}

impl Rendezvous {
    fn arrive(&self) -> bool {
        let mut arrived = self.arrived.lock().unwrap();
        *arrived += 1;
        self.all_here.notify_all();
        let (arrived, wait) = self
            .all_here
            .wait_timeout_while(arrived, Duration::from_secs(10), |a| *a < self.n)
            .unwrap();
        drop(arrived);
        !wait.timed_out()
    }
}

#[test]
fn a_hundred_jobs_with_a_cap_of_four_run_four_at_a_time_and_all_complete() {
    const CAP: usize = 4;
    let runtime = Runtime::builder()
        .max_blocking_threads(CAP)
        .build()
        .unwrap();
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let threads = Arc::new(Mutex::new(HashSet::new()));
    let first_four = Arc::new(Rendezvous {
        arrived: Mutex::new(0),
        all_here: Condvar::new(),
        n: CAP,
    });
    let outputs = runtime.block_on(async {
        let jobs: Vec<_> = (0..100)
            .map(|i| {
                let (running, most, threads) = (running.clone(), most.clone(), threads.clone());
                let first_four = first_four.clone();
                to_thread(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    threads.lock().unwrap().insert(thread::current().id());
                    // The first four meet: the pool does run four at once.
                    let met = i >= CAP || first_four.arrive();
                    thread::sleep(Duration::from_micros(200));
                    running.fetch_sub(1, Ordering::SeqCst);
                    (i, met)
                })
            })
            .collect();
        let mut outputs = Vec::new();
        for job in jobs {
            outputs.push(job.await.unwrap());
        }
        outputs
    });
    assert_eq!(outputs.len(), 100, "every job completed");
    for (i, (n, met)) in outputs.into_iter().enumerate() {
        assert_eq!(i, n);
        assert!(
            met,
            "job {n} waited 10 s for the first four to run together"
        );
    }
    assert_eq!(
        most.load(Ordering::SeqCst),
        CAP,
        "never more than the cap at once"
    );
    assert!(
        threads.lock().unwrap().len() <= CAP,
        "no more threads than the cap"
    );
}

#[test]
fn jobs_start_in_the_order_they_were_handed_over() {
    let runtime = Runtime::builder().max_blocking_threads(1).build().unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    runtime.block_on(async {
        let jobs: Vec<_> = (0..20)
            .map(|i| {
                let order = order.clone();
                to_thread(move || order.lock().unwrap().push(i))
            })
            .collect();
        for job in jobs {
            job.await.unwrap();
        }
    });
    assert_eq!(*order.lock().unwrap(), (0..20).collect::<Vec<_>>());
}

#[test]
fn a_panicking_job_becomes_a_join_error_and_the_pool_goes_on() {
    let runtime = Runtime::builder().max_blocking_threads(1).build().unwrap();
    let (error, after) = runtime.block_on(async {
        let error = to_thread(|| -> u32 { panic!("disk full") })
            .await
            .unwrap_err();
        // The one thread survived the panic: the next job runs.
        let after = to_thread(|| 7).await.unwrap();
        (error, after)
    });
    assert!(error.is_panic());
    assert!(!error.is_cancelled());
    assert_eq!(error.panic_message(), Some("disk full"));
    let shown = error.to_string();
    assert!(
        shown.starts_with("task 'to_thread(") && shown.ends_with("panicked: disk full"),
        "{shown}"
    );
    assert_eq!(panic_text(error.into_panic()), "disk full");
    assert_eq!(after, 7);
}

#[test]
fn dropping_the_future_detaches_the_job_which_still_runs() {
    let (tx, rx) = mpsc::channel();
    handloop::run(async move {
        let job = to_thread(move || {
            thread::sleep(Duration::from_millis(20));
            tx.send("ran").unwrap();
        });
        drop(job);
    });
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(10)),
        Ok("ran"),
        "a detached job runs to the end"
    );
}

#[test]
fn on_the_virtual_clock_a_timeout_around_a_job_waits_for_it() {
    // tokio#5115: under paused time, a timeout around spawn_blocking fired at once.
    let runtime = Runtime::builder().virtual_time().build().unwrap();
    let (result, at_result, slept) = runtime.block_on(async {
        let start = time::now();
        let sleeper = spawn(async move {
            sleep(Duration::from_secs(10)).await;
            time::now() - start
        });
        let result = timeout(
            Duration::from_secs(1),
            to_thread(|| {
                thread::sleep(Duration::from_millis(50));
                "done"
            }),
        )
        .await;
        let at_result = time::now() - start;
        (result, at_result, sleeper.await.unwrap())
    });
    assert_eq!(result.expect("the timeout must not fire").unwrap(), "done");
    assert_eq!(
        at_result,
        Duration::ZERO,
        "no virtual time passed during the job"
    );
    assert_eq!(
        slept,
        Duration::from_secs(10),
        "and the sleep still took exactly 10 s"
    );
}

#[test]
fn on_the_virtual_clock_a_detached_job_still_holds_the_clock_until_it_ends() {
    let runtime = Runtime::builder().virtual_time().build().unwrap();
    let ended = Arc::new(AtomicUsize::new(0));
    let seen = runtime.block_on({
        let ended = ended.clone();
        async move {
            let job_ended = ended.clone();
            drop(to_thread(move || {
                thread::sleep(Duration::from_millis(30));
                job_ended.fetch_add(1, Ordering::SeqCst);
            }));
            sleep(Duration::from_secs(60)).await;
            ended.load(Ordering::SeqCst)
        }
    });
    assert_eq!(seen, 1, "the minute passed before the detached job ended");
}

#[test]
fn an_idle_thread_is_reused_and_exits_after_the_keep_alive_time() {
    let runtime = Runtime::builder()
        .max_blocking_threads(1)
        .blocking_keep_alive(Duration::from_millis(50))
        .build()
        .unwrap();
    let job_thread = || to_thread(|| thread::current().id());
    let (first, second, third) = runtime.block_on(async {
        let first = job_thread().await.unwrap();
        let second = job_thread().await.unwrap();
        // Real time: idle for far longer than the keep-alive.
        thread::sleep(Duration::from_millis(500));
        let third = job_thread().await.unwrap();
        (first, second, third)
    });
    assert_eq!(first, second, "an idle thread takes the next job");
    assert_ne!(
        second, third,
        "the idle thread exited; a new one ran the job"
    );
}

#[test]
fn jobs_handed_over_still_run_after_the_runtime_is_dropped() {
    let runtime = Runtime::builder().max_blocking_threads(1).build().unwrap();
    let (release, gate) = mpsc::channel::<()>();
    let (done, finished) = mpsc::channel();
    runtime.block_on(async {
        // The first job holds the only thread; the others wait in the queue.
        let done0 = done.clone();
        drop(to_thread(move || {
            gate.recv().unwrap();
            done0.send(0).unwrap();
        }));
        for i in 1..=3 {
            let done = done.clone();
            drop(to_thread(move || done.send(i).unwrap()));
        }
    });
    drop(runtime);
    release.send(()).unwrap();
    let ran: Vec<u32> = (0..4)
        .map(|_| finished.recv_timeout(Duration::from_secs(10)).unwrap())
        .collect();
    assert_eq!(ran, [0, 1, 2, 3], "every queued job ran, in order");
}

#[test]
fn to_thread_with_no_runtime_panics_saying_where_to_call_it() {
    let message = panic_text(catch_unwind(|| drop(to_thread(|| 1))).unwrap_err());
    assert!(
        message.contains("to_thread() called with no handloop runtime running on this thread"),
        "{message}"
    );
}

#[test]
fn a_cap_of_zero_is_refused_with_a_clear_message() {
    let message = panic_text(
        catch_unwind(AssertUnwindSafe(|| {
            Runtime::builder().max_blocking_threads(0)
        }))
        .unwrap_err(),
    );
    assert!(message.contains("max_blocking_threads(0)"), "{message}");
}

#[test]
fn the_runtime_debug_shows_the_pool() {
    let runtime = Runtime::builder().max_blocking_threads(3).build().unwrap();
    runtime.block_on(async { to_thread(|| ()).await.unwrap() });
    let shown = format!("{runtime:?}");
    assert!(shown.contains("max_threads: 3"), "{shown}");
    assert!(shown.contains("keep_alive: 10s"), "the default: {shown}");
    // asyncio's default cap: min(32, cores + 4).
    let cores = thread::available_parallelism().unwrap().get();
    let default = format!("{:?}", Runtime::new().unwrap());
    assert!(
        default.contains(&format!("max_threads: {}", (cores + 4).min(32))),
        "{default}"
    );
    assert!(shown.contains("queued: 0"), "{shown}");
}

#[test]
fn jobs_in_flight_are_counted_on_the_loop_until_their_results_are_handed_over() {
    let runtime = Runtime::builder().max_blocking_threads(1).build().unwrap();
    let (release, gate) = mpsc::channel::<()>();
    let (in_flight, after) = runtime.block_on(async move {
        assert_eq!(time::outstanding_holds(), 0);
        let running = to_thread(move || gate.recv().unwrap());
        let queued = to_thread(|| 2); // waits for the only thread
        let in_flight = time::outstanding_holds();
        release.send(()).unwrap();
        running.await.unwrap();
        assert_eq!(queued.await.unwrap(), 2);
        // A job's thread lets go of its hold just *after* handing over the result (see
        // `hold_clock`), so it may still be letting go now: give it up to five seconds.
        for _ in 0..5000 {
            if time::outstanding_holds() == 0 {
                break;
            }
            sleep(Duration::from_millis(1)).await;
        }
        (in_flight, time::outstanding_holds())
    });
    assert_eq!((in_flight, after), (2, 0));
}
