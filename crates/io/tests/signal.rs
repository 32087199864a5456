//! `ctrl_c()` completes on SIGINT. In a file of its own: the test raises SIGINT in this
//! process, whose handler signal-hook then owns.

mod common;

use common::run;
use handloop_executor::{spawn, yield_now};

#[test]
fn ctrl_c_completes_on_sigint_and_the_process_lives() {
    run(async {
        for _ in 0..2 {
            let waiter = spawn(handloop_io::signal::ctrl_c());
            yield_now().await;
            assert!(!waiter.is_finished());
            signal_hook::low_level::raise(signal_hook::consts::SIGINT).unwrap();
            waiter.await.unwrap().unwrap();
        }
        // The listener is in place when ctrl_c() returns, before any await: a SIGINT
        // right after the call is not missed.
        let stop = handloop_io::signal::ctrl_c();
        signal_hook::low_level::raise(signal_hook::consts::SIGINT).unwrap();
        stop.await.unwrap();
    });
}
