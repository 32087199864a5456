//! Runs every workload on every runtime, interleaved (handloop, tokio, async-executor,
//! LocalPool, handloop, tokio, ...), and prints one markdown table: the median ns per
//! operation for each runtime, the tokio/handloop ratio and the goals; then the rows that
//! cross threads (handloop beside tokio's multi-thread runtime, interleaved the same way);
//! then the memory table (bytes per pending task, peak heap of a million sleeping tasks).
//!
//! ```text
//! compare                         full run: 31 rounds of ~10 ms samples, then memory
//! compare --quick                 5 rounds of ~2 ms samples, memory with 100,000 sleeping tasks
//! compare --rounds N              N rounds
//! compare --only W[,W...]         only these workloads (either table)
//! compare --threads               only the table of rows that cross threads
//! compare --runtime R[,R...]      only these runtimes (handloop, tokio, smol, localpool)
//! compare --no-memory             skip the memory section
//! compare --memory                only the memory section
//! compare --million N             sleeping tasks in the memory section (default 1,000,000)
//! compare --iters N --only W --runtime R
//!                                 profiling mode: run W on R N times, print ns/op, no table
//!                                 (for `valgrind --tool=callgrind` or `perf record`)
//! ```
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use handloop_benches::alloc_count::{self, CountingAlloc};
use handloop_benches::threads::{THREAD_WORKLOADS, ThreadRuntimes, ThreadWorkload};
use handloop_benches::{RuntimeKind, Runtimes, WORKLOADS, Workload, memory};

#[global_allocator]
static ALLOCATOR: CountingAlloc = CountingAlloc;

#[derive(Debug)]
struct Options {
    rounds: usize,
    /// Target duration of one sample (a batch of iterations).
    sample: Duration,
    workloads: Vec<&'static Workload>,
    thread_workloads: Vec<&'static ThreadWorkload>,
    runtimes: Vec<RuntimeKind>,
    timing: bool,
    memory: bool,
    million: usize,
    iters: Option<usize>,
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: compare [--quick] [--rounds N] [--only W[,W..]] [--threads] \
         [--runtime R[,R..]] [--no-memory | --memory] [--million N] [--iters N]\n\
         workloads: {}\nacross threads: {}",
        WORKLOADS
            .iter()
            .map(|w| w.name)
            .collect::<Vec<_>>()
            .join(", "),
        THREAD_WORKLOADS
            .iter()
            .map(|w| w.name)
            .collect::<Vec<_>>()
            .join(", ")
    );
    ExitCode::from(2)
}

fn parse() -> Result<Options, String> {
    let mut options = Options {
        rounds: 31,
        sample: Duration::from_millis(10),
        workloads: WORKLOADS.iter().collect(),
        thread_workloads: THREAD_WORKLOADS.iter().collect(),
        runtimes: RuntimeKind::ALL.to_vec(),
        timing: true,
        memory: true,
        million: 1_000_000,
        iters: None,
    };
    let mut args = std::env::args().skip(1);
    let number = |value: Option<String>, flag: &str| -> Result<usize, String> {
        let value = value.ok_or(format!("{flag} needs a number"))?;
        value
            .replace('_', "")
            .parse()
            .map_err(|_| format!("{flag}: not a number: {value}"))
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => {
                options.rounds = 5;
                options.sample = Duration::from_millis(2);
                options.million = 100_000;
            }
            "--rounds" => options.rounds = number(args.next(), "--rounds")?.max(1),
            "--million" => options.million = number(args.next(), "--million")?,
            "--iters" => options.iters = Some(number(args.next(), "--iters")?),
            "--no-memory" => options.memory = false,
            "--memory" => options.timing = false,
            "--only" => {
                let list = args.next().ok_or("--only needs workload names")?;
                options.workloads.clear();
                options.thread_workloads.clear();
                for name in list.split(',') {
                    if let Some(workload) = Workload::by_name(name) {
                        options.workloads.push(workload);
                    } else if let Some(workload) = ThreadWorkload::by_name(name) {
                        options.thread_workloads.push(workload);
                    } else {
                        return Err(format!("no workload {name}"));
                    }
                }
                options.memory = false;
            }
            "--threads" => {
                options.workloads.clear();
                options.memory = false;
            }
            "--runtime" => {
                let list = args.next().ok_or("--runtime needs runtime names")?;
                options.runtimes = list
                    .split(',')
                    .map(|name| RuntimeKind::from_name(name).ok_or(format!("no runtime {name}")))
                    .collect::<Result<_, _>>()?;
                options.memory = false;
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(options)
}

fn main() -> ExitCode {
    let options = match parse() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("compare: {message}");
            return usage();
        }
    };
    let runtimes = Runtimes::new();
    let thread_runtimes = (!options.thread_workloads.is_empty()).then(ThreadRuntimes::new);
    if let Some(iters) = options.iters {
        profile(&runtimes, &options, iters);
        if let Some(thread_runtimes) = &thread_runtimes {
            profile_threads(thread_runtimes, &options, iters);
        }
        return ExitCode::SUCCESS;
    }
    println!("{}", header(&options));
    if options.timing && !options.workloads.is_empty() {
        let rows: Vec<Row> = options
            .workloads
            .iter()
            .map(|workload| {
                let row = measure(&runtimes, workload, &options);
                eprintln!("  {} done", workload.name);
                row
            })
            .collect();
        print_table(&rows);
    }
    if let (true, Some(thread_runtimes)) = (options.timing, &thread_runtimes) {
        let rows: Vec<ThreadRow> = options
            .thread_workloads
            .iter()
            .map(|workload| {
                let row = measure_threads(thread_runtimes, workload, &options);
                eprintln!("  {} done", workload.name);
                row
            })
            .collect();
        print_thread_table(&rows);
    }
    if options.memory {
        print_memory(options.million);
    }
    ExitCode::SUCCESS
}

/// Profiling mode: one workload, one runtime, `iters` iterations, no interleaving.
fn profile(runtimes: &Runtimes, options: &Options, iters: usize) {
    for workload in &options.workloads {
        for &kind in &options.runtimes {
            if !workload.supports(kind) {
                continue;
            }
            runtimes.run(workload, kind); // warm-up
            let start = Instant::now();
            for _ in 0..iters {
                runtimes.run(workload, kind);
            }
            let per_op = start.elapsed().as_nanos() as f64 / (iters as u64 * workload.ops) as f64;
            println!(
                "{} on {}: {iters} iterations, {per_op:.1} ns/{}",
                workload.name,
                kind.name(),
                workload.op
            );
        }
    }
}

/// Profiling mode for the rows that cross threads (`--runtime handloop` or `tokio`).
fn profile_threads(runtimes: &ThreadRuntimes, options: &Options, iters: usize) {
    for workload in &options.thread_workloads {
        for &kind in &options.runtimes {
            let run: fn(&ThreadRuntimes) = match kind {
                RuntimeKind::Handloop => match workload.handloop {
                    Some(run) => run,
                    None => continue,
                },
                RuntimeKind::Tokio => workload.tokio,
                _ => continue,
            };
            run(runtimes); // warm-up
            let start = Instant::now();
            for _ in 0..iters {
                run(runtimes);
            }
            let per_op = start.elapsed().as_nanos() as f64 / (iters as u64 * workload.ops) as f64;
            println!(
                "{} on {}: {iters} iterations, {per_op:.1} ns/{}",
                workload.name,
                kind.name(),
                workload.op
            );
        }
    }
}

/// One row of the table across threads: handloop and tokio's multi-thread runtime.
struct ThreadRow {
    workload: &'static ThreadWorkload,
    handloop: Option<f64>,
    tokio: f64,
    batch: usize,
}

fn measure_threads(
    runtimes: &ThreadRuntimes,
    workload: &'static ThreadWorkload,
    options: &Options,
) -> ThreadRow {
    // (is it handloop, one iteration)
    type Side = (bool, fn(&ThreadRuntimes));
    let mut sides: Vec<Side> = vec![(false, workload.tokio)];
    if let Some(handloop) = workload.handloop {
        sides.insert(0, (true, handloop));
    }
    let mut slowest = Duration::ZERO;
    for &(_, run) in &sides {
        run(runtimes);
        let start = Instant::now();
        run(runtimes);
        slowest = slowest.max(start.elapsed());
    }
    let batch = (options.sample.as_nanos() / slowest.as_nanos().max(1)).clamp(1, 1000) as usize;
    let (mut handloop, mut tokio) = (Vec::new(), Vec::new());
    for _ in 0..options.rounds {
        for &(is_handloop, run) in &sides {
            let start = Instant::now();
            for _ in 0..batch {
                run(runtimes);
            }
            let ns = start.elapsed().as_nanos() as f64 / (batch as u64 * workload.ops) as f64;
            if is_handloop {
                &mut handloop
            } else {
                &mut tokio
            }
            .push(ns);
        }
    }
    ThreadRow {
        workload,
        handloop: (!handloop.is_empty()).then(|| median(&mut handloop)),
        tokio: median(&mut tokio),
        batch,
    }
}

fn print_thread_table(rows: &[ThreadRow]) {
    println!("Across threads, beside tokio's multi-thread runtime (one worker per core):");
    println!();
    println!("| workload | per | handloop ns | tokio multi-thread ns | tokio/handloop | goal |");
    println!("|---|---|--:|--:|--:|---|");
    let mut missed = Vec::new();
    for row in rows {
        let ratio = row.handloop.map(|h| row.tokio / h);
        let goal = match (row.workload.goal, ratio) {
            (Some(goal), Some(r)) => {
                let met = r >= goal;
                if !met {
                    missed.push(format!(
                        "{} (tokio/handloop {r:.2} < {goal})",
                        row.workload.name
                    ));
                }
                format!("≥ {goal} {}", if met { "✓" } else { "✗" })
            }
            (Some(goal), None) => format!("≥ {goal}"),
            (None, _) => "—".to_string(),
        };
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            row.workload.name,
            row.workload.op,
            fmt_ns(row.handloop.as_ref()),
            fmt_ns(Some(&row.tokio)),
            ratio.map_or("—".to_string(), |r| format!("{r:.2}")),
            goal,
        );
    }
    println!();
    println!(
        "ns = median ns per operation over the rounds ({}).",
        rows.iter()
            .map(|r| format!("{} ×{}", r.workload.name, r.batch))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if missed.is_empty() {
        println!("All timing goals met.");
    } else {
        println!("Missed: {}.", missed.join("; "));
    }
    println!();
}

struct Row {
    workload: &'static Workload,
    /// Median ns per op, per runtime that ran.
    ns_per_op: HashMap<RuntimeKind, f64>,
    batch: usize,
}

fn median(samples: &mut [f64]) -> f64 {
    samples.sort_by(f64::total_cmp);
    let n = samples.len();
    if n % 2 == 1 {
        samples[n / 2]
    } else {
        (samples[n / 2 - 1] + samples[n / 2]) / 2.0
    }
}

fn measure(runtimes: &Runtimes, workload: &'static Workload, options: &Options) -> Row {
    let kinds: Vec<RuntimeKind> = options
        .runtimes
        .iter()
        .copied()
        .filter(|&kind| workload.supports(kind))
        .collect();
    // Warm-up, and a batch size that makes the slowest runtime's sample about
    // `options.sample` long (the same batch for every runtime).
    let mut slowest = Duration::ZERO;
    for &kind in &kinds {
        runtimes.run(workload, kind);
        let start = Instant::now();
        runtimes.run(workload, kind);
        slowest = slowest.max(start.elapsed());
    }
    let batch = (options.sample.as_nanos() / slowest.as_nanos().max(1)).clamp(1, 1000) as usize;
    let mut samples: HashMap<RuntimeKind, Vec<f64>> = HashMap::new();
    for _ in 0..options.rounds {
        for &kind in &kinds {
            let start = Instant::now();
            for _ in 0..batch {
                runtimes.run(workload, kind);
            }
            let ns = start.elapsed().as_nanos() as f64 / (batch as u64 * workload.ops) as f64;
            samples.entry(kind).or_default().push(ns);
        }
    }
    Row {
        workload,
        ns_per_op: samples
            .into_iter()
            .map(|(kind, mut s)| (kind, median(&mut s)))
            .collect(),
        batch,
    }
}

fn fmt_ns(ns: Option<&f64>) -> String {
    match ns {
        None => "—".to_string(),
        Some(&ns) if ns >= 100.0 => format!("{ns:.0}"),
        Some(&ns) => format!("{ns:.1}"),
    }
}

fn print_table(rows: &[Row]) {
    println!(
        "| workload | per | handloop ns | tokio ns | async-executor ns | LocalPool ns \
         | tokio/handloop | goal | beats AE / LP |"
    );
    println!("|---|---|--:|--:|--:|--:|--:|---|---|");
    let mut missed = Vec::new();
    for row in rows {
        let get = |kind| row.ns_per_op.get(&kind);
        let handloop = get(RuntimeKind::Handloop);
        let ratio = |kind| Some(get(kind)? / handloop?);
        let tokio_ratio = ratio(RuntimeKind::Tokio);
        let goal = match (row.workload.goal, tokio_ratio) {
            (Some(goal), Some(r)) => {
                let met = r >= goal;
                if !met {
                    missed.push(format!(
                        "{} (tokio/handloop {r:.2} < {goal})",
                        row.workload.name
                    ));
                }
                format!("≥ {goal} {}", if met { "✓" } else { "✗" })
            }
            (Some(goal), None) => format!("≥ {goal}"),
            (None, _) => "—".to_string(),
        };
        // At least as fast as each, or the row's own goal (the sync rows: 3x async-lock).
        let others_goal = row.workload.others_goal.unwrap_or(1.0);
        let others: Vec<String> = [RuntimeKind::AsyncExecutor, RuntimeKind::LocalPool]
            .into_iter()
            .filter_map(|kind| {
                let r = ratio(kind)?;
                if r < others_goal {
                    missed.push(format!(
                        "{} ({}/handloop {r:.2} < {others_goal})",
                        row.workload.name,
                        kind.name()
                    ));
                }
                Some(format!(
                    "{} {r:.1}×",
                    if r >= others_goal { "✓" } else { "✗" }
                ))
            })
            .collect();
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            row.workload.name,
            row.workload.op,
            fmt_ns(handloop),
            fmt_ns(get(RuntimeKind::Tokio)),
            fmt_ns(get(RuntimeKind::AsyncExecutor)),
            fmt_ns(get(RuntimeKind::LocalPool)),
            tokio_ratio.map_or("—".to_string(), |r| format!("{r:.2}")),
            goal,
            if others.is_empty() {
                "—".to_string()
            } else {
                others.join(" / ")
            },
        );
    }
    println!();
    println!(
        "ns = median ns per operation over the rounds; each sample times a batch of whole \
         iterations ({}).",
        rows.iter()
            .map(|r| format!("{} ×{}", r.workload.name, r.batch))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if missed.is_empty() {
        println!("All timing goals met.");
    } else {
        println!("Missed: {}.", missed.join("; "));
    }
    println!();
}

fn print_memory(million: usize) {
    if !alloc_count::is_installed() {
        println!("(memory: counting allocator not installed)");
        return;
    }
    const PENDING: usize = 10_000;
    let handloop = memory::pending_tasks(RuntimeKind::Handloop, PENDING);
    let tokio = memory::pending_tasks(RuntimeKind::Tokio, PENDING);
    let handloop_sleep = memory::sleeping_tasks(RuntimeKind::Handloop, million);
    let tokio_sleep = memory::sleeping_tasks(RuntimeKind::Tokio, million);
    let check = |h: f64, t: f64| {
        if h <= t {
            "≤ tokio ✓"
        } else {
            "≤ tokio ✗"
        }
    };
    println!("| memory | handloop | tokio | tokio/handloop | goal |");
    println!("|---|--:|--:|--:|---|");
    println!(
        "| bytes per pending task ({PENDING} tasks, fresh runtime) | {:.0} | {:.0} | {:.2} | {} |",
        handloop.cold_bytes,
        tokio.cold_bytes,
        tokio.cold_bytes / handloop.cold_bytes,
        check(handloop.cold_bytes, tokio.cold_bytes)
    );
    println!(
        "| bytes per pending task (same, second time) | {:.0} | {:.0} | {:.2} | {} |",
        handloop.warm_bytes,
        tokio.warm_bytes,
        tokio.warm_bytes / handloop.warm_bytes,
        check(handloop.warm_bytes, tokio.warm_bytes)
    );
    println!(
        "| allocations per pending task | {:.2} | {:.2} | | |",
        handloop.cold_allocations, tokio.cold_allocations
    );
    let mb = |bytes: isize| bytes as f64 / 1e6;
    println!(
        "| peak heap, {} tasks each sleeping 1 ms once | {:.1} MB | {:.1} MB | {:.2} | |",
        group_digits(million),
        mb(handloop_sleep.peak_bytes),
        mb(tokio_sleep.peak_bytes),
        tokio_sleep.peak_bytes as f64 / handloop_sleep.peak_bytes as f64
    );
    println!(
        "| wall time for those (spawn to last wake) | {} ms | {} ms | {:.2} | |",
        handloop_sleep.elapsed.as_millis(),
        tokio_sleep.elapsed.as_millis(),
        tokio_sleep.elapsed.as_secs_f64() / handloop_sleep.elapsed.as_secs_f64()
    );
    println!();
    println!(
        "Bytes are heap growth counted by a global allocator (live bytes after spawning and \
         polling every task once, minus before, divided by the tasks; JoinHandles kept in a \
         pre-allocated Vec). The task is `async {{ counter += 1; pending().await }}`."
    );
}

fn group_digits(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Date, machine and settings, for the README to quote.
fn header(options: &Options) -> String {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let cpu = read("/proc/cpuinfo")
        .lines()
        .find(|line| line.starts_with("model name"))
        .and_then(|line| line.split(':').nth(1))
        .map_or("unknown CPU".to_string(), |s| s.trim().to_string());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = read("/proc/sys/kernel/osrelease").trim().to_string();
    let load = read("/proc/loadavg")
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    let rustc = std::process::Command::new("rustc")
        .arg("-V")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    format!(
        "compare: {} UTC; {cpu}, {cores} cores; Linux {kernel}; load average {load}; {rustc}; \
         {}{} rounds, samples of ~{} ms{}\n",
        utc_now(),
        if cfg!(debug_assertions) {
            "DEBUG BUILD (numbers meaningless); "
        } else {
            ""
        },
        options.rounds,
        options.sample.as_millis(),
        if options.timing { "" } else { " (memory only)" },
    )
}

/// `YYYY-MM-DD HH:MM`, UTC (days to civil date: Howard Hinnant's algorithm).
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60
    )
}
