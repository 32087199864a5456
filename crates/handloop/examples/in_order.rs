//! Order between tasks: turning on a TV, then setting its channel. Two separate tasks
//! run concurrently, so nothing makes the channel wait for the TV: the set arrives while
//! the TV is still warming up and is lost. Awaiting one step after the other, inside one
//! task, is what keeps the order.
//!
//! ```python
//! async def turn_on(tv):
//!     await asyncio.sleep(2)                # warming up
//!     tv.on = True
//!
//! async def set_channel(tv, n):
//!     await asyncio.sleep(1)                # walking to the remote
//!     if tv.on: tv.channel = n
//!     else: print("ignored: the TV is off")
//!
//! # two tasks: no order between them
//! asyncio.create_task(turn_on(tv)); asyncio.create_task(set_channel(tv, 7))
//!
//! # one task: await each step in turn
//! async def evening(tv):
//!     await turn_on(tv)
//!     await set_channel(tv, 7)
//! await asyncio.create_task(evening(tv))
//! ```

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use handloop::{Runtime, sleep, spawn};

/// Prints each line and keeps it, so the test can check exactly what was printed.
#[derive(Clone, Default)]
struct Log(Rc<RefCell<Vec<String>>>);

impl Log {
    fn say(&self, line: String) {
        println!("{line}");
        self.0.borrow_mut().push(line);
    }
}

#[derive(Default)]
struct Tv {
    on: bool,
    channel: Option<u32>,
}

/// The TV, the log and the start time, shared by the tasks of one run.
#[derive(Clone)]
struct Room {
    tv: Rc<RefCell<Tv>>,
    log: Log,
    start: Instant,
}

impl Room {
    fn say(&self, what: &str) {
        let at = (handloop::time::now() - self.start).as_secs_f64();
        self.log.say(format!("  {at:.3}s  {what}"));
    }
}

async fn turn_on(room: Room) {
    room.say("power button pressed");
    sleep(Duration::from_secs(2)).await; // warming up
    room.tv.borrow_mut().on = true;
    room.say("the TV is on");
}

async fn set_channel(room: Room, channel: u32) {
    sleep(Duration::from_secs(1)).await; // walking to the remote
    let mut tv = room.tv.borrow_mut();
    if tv.on {
        tv.channel = Some(channel);
        drop(tv);
        room.say(&format!("channel set to {channel}"));
    } else {
        drop(tv);
        room.say(&format!("channel {channel} ignored: the TV is off"));
    }
}

/// What each version printed, and the channel the TV ended on.
#[derive(Debug)]
#[allow(dead_code)] // read by the tests
pub struct InOrderReport {
    /// All the lines printed, in order.
    pub lines: Vec<String>,
    /// The lines of the one-task version alone.
    pub one_task: Vec<String>,
    /// The channel after two separate tasks.
    pub two_tasks_channel: Option<u32>,
    /// The channel after one task doing both steps in order.
    pub one_task_channel: Option<u32>,
}

fn evening(log: &Log, one_task: bool) -> Option<u32> {
    let runtime = Runtime::builder().virtual_time().build().expect("runtime");
    runtime.block_on(async {
        let room = Room {
            tv: Rc::default(),
            log: log.clone(),
            start: handloop::time::now(),
        };
        if one_task {
            let room2 = room.clone();
            // One task: the channel is set only after turn_on has finished.
            spawn(async move {
                turn_on(room2.clone()).await;
                set_channel(room2, 7).await;
            })
            .await
            .unwrap();
        } else {
            // Two tasks, running concurrently: nothing orders them.
            let on = spawn(turn_on(room.clone()));
            let set = spawn(set_channel(room.clone(), 7));
            on.await.unwrap();
            set.await.unwrap();
        }
        room.tv.borrow().channel
    })
}

/// Runs the example, printing as it goes, and returns what `tests/examples.rs` checks.
pub fn demo() -> InOrderReport {
    let log = Log::default();
    log.say("two tasks, spawned one after the other:".to_owned());
    let two_tasks_channel = evening(&log, false);
    log.say("one task that awaits each step in turn:".to_owned());
    let first = log.0.borrow().len();
    let one_task_channel = evening(&log, true);
    let lines = log.0.borrow().clone();
    InOrderReport {
        one_task: lines[first..].to_vec(),
        lines,
        two_tasks_channel,
        one_task_channel,
    }
}

#[allow(dead_code)] // unused where tour.rs and the tests include this file as a module
fn main() {
    demo();
}
