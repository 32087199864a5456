//! Criterion: one group per workload, one function per runtime, so the report shows
//! handloop, tokio (current-thread), async-executor's `LocalExecutor` and futures'
//! `LocalPool` side by side, per operation (`Throughput::Elements`); then the rows that
//! cross threads, handloop beside tokio's multi-thread runtime.
//!
//! ```sh
//! cargo bench -p handloop-benches --bench runtimes                    # everything
//! cargo bench -p handloop-benches --bench runtimes -- ping_pong      # one group
//! cargo test  -p handloop-benches --benches                           # each once (CI)
//! ```
#![forbid(unsafe_code)]

use std::time::Duration;

use criterion::{Criterion, Throughput};
use handloop_benches::threads::{THREAD_WORKLOADS, ThreadRuntimes};
use handloop_benches::{RuntimeKind, Runtimes, WORKLOADS};

fn runtimes(c: &mut Criterion) {
    let runtimes = Runtimes::new();
    for workload in &WORKLOADS {
        let mut group = c.benchmark_group(workload.name);
        group.throughput(Throughput::Elements(workload.ops));
        if workload.name == "timers_fired" {
            // ~10 ms per iteration: fewer, longer samples.
            group.sample_size(20);
            group.measurement_time(Duration::from_secs(4));
        }
        for kind in RuntimeKind::ALL {
            if workload.supports(kind) {
                group.bench_function(kind.name(), |b| {
                    b.iter(|| runtimes.run(workload, kind));
                });
            }
        }
        group.finish();
    }
}

/// The rows that cross threads: handloop beside tokio's multi-thread runtime.
fn threads(c: &mut Criterion) {
    let runtimes = ThreadRuntimes::new();
    for workload in &THREAD_WORKLOADS {
        let mut group = c.benchmark_group(workload.name);
        group.throughput(Throughput::Elements(workload.ops));
        if let Some(handloop) = workload.handloop {
            group.bench_function("handloop", |b| b.iter(|| handloop(&runtimes)));
        }
        group.bench_function("tokio-multi-thread", |b| {
            b.iter(|| (workload.tokio)(&runtimes))
        });
        group.finish();
    }
}

/// What `criterion_group!` + `criterion_main!` expand to, written out so the workspace's
/// `missing_docs` lint has nothing undocumented to flag.
fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    runtimes(&mut criterion);
    threads(&mut criterion);
    criterion.final_summary();
}
