//! The task dump: a table of every live task (Python 3.14's `python -m asyncio ps`), then
//! the tree of who awaits whom (`python -m asyncio pstree`), with its cycles named.
//!
//! The loop fills a [`TaskDump`] from its task headers; this module only holds the data
//! and prints it, so it is tested on hand-built dumps.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::fmt::{self, Write as _};
use std::time::{Duration, Instant};

use crate::waiting::{WaitingOn, seconds};

/// Every live task of one loop at one moment, as `handloop::dump()` returns it.
///
/// Its `Display` is the table and the tree:
///
/// ```
/// use std::time::{Duration, Instant};
/// use handloop_debug::{TaskDump, TaskRow, TaskStatus, WaitingOn};
///
/// let now = Instant::now();
/// let row = |id, name: &str, waiting_on| TaskRow {
///     id,
///     name: name.into(),
///     state: TaskStatus::Waiting,
///     polls: 1,
///     age: Some(Duration::from_secs(2)),
///     waiting_on,
///     more_waits: 0,
///     awaits: Vec::new(),
/// };
/// let mut main = row(0, "main", Some(WaitingOn::Join { task: 1 }));
/// main.awaits = vec![1];
/// let fetch = row(1, "fetch", Some(WaitingOn::Sleep { until: now + Duration::from_millis(1200) }));
/// let dump = TaskDump {
///     loop_name: "the loop on thread 'main'".into(),
///     now,
///     tasks: vec![main, fetch],
///     unanswered: None,
/// };
/// assert_eq!(
///     dump.to_string(),
///     "\
/// 2 tasks on the loop on thread 'main':
///   id  name   state    polls  age     waiting on
///    0  main   waiting      1  2.000s  join #1 'fetch'
///    1  fetch  waiting      1  2.000s  sleep until +1.200s
///
/// who awaits whom:
/// #0 main
/// └── #1 fetch
/// "
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskDump {
    /// Which loop this is, for the first line (`the loop on thread 'main'`).
    pub loop_name: String,
    /// The loop's clock when the dump was taken: sleep deadlines are shown relative to it.
    pub now: Instant,
    /// The live tasks, `block_on`'s own future first, then in spawn order.
    pub tasks: Vec<TaskRow>,
    /// `Some` when the loop could not be asked (a dump requested from another thread):
    /// why, and then `tasks` is empty. `None` for every dump the loop made itself.
    pub unanswered: Option<Unanswered>,
}

/// Why a dump requested from another thread holds no tasks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unanswered {
    /// The loop has been dropped: it has no tasks any more (asyncio says "Event loop is
    /// closed").
    Closed,
    /// The loop did not take the request within `waited`: a poll holds its thread, or
    /// nothing is running the loop (no `block_on` in progress).
    NoReply {
        /// How long the requesting thread waited.
        waited: Duration,
        /// Whether a poll is running, and which, as far as debug mode can tell (`None`
        /// without debug mode).
        poll: Option<PollNow>,
    },
}

/// Whether a loop that did not answer is in the middle of a poll, as debug mode's heartbeat
/// and watchdog see it from another thread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PollNow {
    /// No poll is running: the loop is between polls, or nothing is running it.
    None,
    /// Task `id` is being polled; `name` and `running_for` are known once the watchdog
    /// has seen the same poll at two of its samples.
    Task {
        /// The task's id.
        id: u64,
        /// Its name, if the watchdog has seen the poll.
        name: Option<String>,
        /// How long the poll has run, if the watchdog has seen it.
        running_for: Option<Duration>,
    },
}

impl fmt::Display for Unanswered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unanswered::Closed => f.write_str("the loop is closed (it was dropped)"),
            Unanswered::NoReply { waited, poll } => {
                write!(f, "no answer within {}: ", seconds(*waited))?;
                match poll {
                    None => f.write_str(
                        "a poll holds the loop's thread, or nothing is running the loop \
                         (debug mode names a task that holds it)",
                    ),
                    Some(PollNow::None) => f.write_str(
                        "no poll is running: nothing is running the loop (no block_on in \
                         progress), or it is stuck outside a poll",
                    ),
                    Some(PollNow::Task {
                        id,
                        name,
                        running_for,
                    }) => {
                        match name {
                            Some(name) => write!(f, "task '{name}' (id {id})")?,
                            None => write!(f, "task #{id}")?,
                        }
                        match running_for {
                            Some(time) => write!(
                                f,
                                " has been running for {} without yielding to the loop",
                                seconds(*time)
                            ),
                            None => f.write_str(" is being polled and has not yielded"),
                        }
                    }
                }
            }
        }
    }
}

/// One live task in a [`TaskDump`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskRow {
    /// The task's id (`block_on`'s own future is 0).
    pub id: u64,
    /// The task's name.
    pub name: String,
    /// Running, ready, or waiting.
    pub state: TaskStatus,
    /// How many times it has been polled.
    pub polls: u32,
    /// How long ago it was spawned, when the loop keeps that (debug mode).
    pub age: Option<Duration>,
    /// What its last poll waited on; `None` when that was not one of handloop's own
    /// futures (shown as `unknown`).
    pub waiting_on: Option<WaitingOn>,
    /// How many more of handloop's waits the same poll recorded (a `timeout` around a
    /// `Queue.get` records two).
    pub more_waits: u8,
    /// The tasks whose `JoinHandle` this task awaits (every one of them, where
    /// `waiting_on` keeps only the first).
    pub awaits: Vec<u64>,
}

/// Where a live task is, as the dump sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TaskStatus {
    /// Being polled right now (the task that called `dump()`).
    Running,
    /// Woken: in the ready queue, to be polled on a coming turn.
    Ready,
    /// Waiting for a wake.
    Waiting,
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TaskStatus::Running => "running",
            TaskStatus::Ready => "ready",
            TaskStatus::Waiting => "waiting",
        })
    }
}

/// Why one task depends on another, in the tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Edge {
    /// The task awaits the other's `JoinHandle`.
    Join,
    /// The task waits for a `Lock` the other holds.
    LockHolder,
}

/// How deep the tree is drawn before it says it stops.
const MAX_DEPTH: usize = 32;

impl TaskDump {
    /// The row of task `id`.
    pub fn task(&self, id: u64) -> Option<&TaskRow> {
        self.tasks.iter().find(|row| row.id == id)
    }

    /// What the task waits on, in words, as the table prints it (`sleep until +1.200s`,
    /// `unknown`, `-` for a task that is running or ready).
    pub fn waiting_on_text(&self, row: &TaskRow) -> String {
        self.waiting_text(row, &self.name_map())
    }

    fn waiting_text(&self, row: &TaskRow, names: &HashMap<u64, &str>) -> String {
        if row.state != TaskStatus::Waiting {
            return "-".to_owned();
        }
        let Some(what) = row.waiting_on else {
            return "unknown".to_owned();
        };
        let mut text = what.describe(self.now, |id| names.get(&id).map(|n| n.to_string()));
        if row.more_waits > 0 {
            let _ = write!(text, ", +{} more", row.more_waits);
        }
        text
    }

    /// The cycles of the wait-for graph (joins, and locks held): each is a list of task
    /// ids, smallest first, where every task waits for the next and the last for the
    /// first. None of these tasks can finish.
    pub fn cycles(&self) -> Vec<Vec<u64>> {
        let graph = self.graph();
        let mut cycles: Vec<Vec<u64>> = strongly_connected(&graph)
            .into_iter()
            .filter(|scc| scc.len() > 1 || graph[&scc[0]].iter().any(|&(to, _)| to == scc[0]))
            .map(|scc| shortest_cycle(&graph, &scc))
            .collect();
        cycles.sort();
        cycles
    }

    fn name_map(&self) -> HashMap<u64, &str> {
        self.tasks
            .iter()
            .map(|row| (row.id, row.name.as_str()))
            .collect()
    }

    /// Each task's outgoing edges, sorted, to tasks of any id (even ones not in the dump).
    fn graph(&self) -> BTreeMap<u64, Vec<(u64, Edge)>> {
        let mut graph = BTreeMap::new();
        for row in &self.tasks {
            let mut edges: BTreeSet<(u64, Edge)> =
                row.awaits.iter().map(|&id| (id, Edge::Join)).collect();
            if row.state == TaskStatus::Waiting {
                match row.waiting_on {
                    Some(WaitingOn::Join { task }) => {
                        edges.insert((task, Edge::Join));
                    }
                    Some(WaitingOn::Lock {
                        holder: Some(holder),
                        ..
                    }) => {
                        edges.insert((holder, Edge::LockHolder));
                    }
                    _ => {}
                }
            }
            graph.insert(row.id, edges.into_iter().collect());
        }
        graph
    }

    fn write_table(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = if self.tasks.len() == 1 { "" } else { "s" };
        writeln!(
            f,
            "{} task{plural} on {}:",
            self.tasks.len(),
            self.loop_name
        )?;
        let names = self.name_map();
        let rows: Vec<[String; 6]> = self
            .tasks
            .iter()
            .map(|row| {
                [
                    row.id.to_string(),
                    row.name.clone(),
                    row.state.to_string(),
                    row.polls.to_string(),
                    row.age.map_or_else(|| "-".to_owned(), seconds),
                    self.waiting_text(row, &names),
                ]
            })
            .collect();
        let header = ["id", "name", "state", "polls", "age", "waiting on"];
        let mut widths = header.map(|h| h.chars().count());
        for row in &rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        // Numbers right-aligned, text left-aligned; the last column is not padded.
        let right = [true, false, false, true, false, false];
        let line = |cells: [&str; 6]| {
            let mut out = String::from("  ");
            for (i, cell) in cells.iter().enumerate() {
                let pad = widths[i] - cell.chars().count();
                if i == cells.len() - 1 {
                    out.push_str(cell);
                } else if right[i] {
                    let _ = write!(out, "{}{cell}  ", " ".repeat(pad));
                } else {
                    let _ = write!(out, "{cell}{}  ", " ".repeat(pad));
                }
            }
            out.truncate(out.trim_end().len());
            out
        };
        writeln!(f, "{}", line(header))?;
        for row in &rows {
            let cells = [
                row[0].as_str(),
                row[1].as_str(),
                row[2].as_str(),
                row[3].as_str(),
                row[4].as_str(),
                row[5].as_str(),
            ];
            writeln!(f, "{}", line(cells))?;
        }
        Ok(())
    }

    fn write_tree(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let graph = self.graph();
        let names = self.name_map();
        let label = |id: u64| match names.get(&id) {
            Some(name) => format!("#{id} {name}"),
            None => format!("#{id} (not a live task)"),
        };
        let mut awaited: HashSet<u64> = HashSet::new();
        for edges in graph.values() {
            awaited.extend(edges.iter().map(|&(to, _)| to));
        }
        writeln!(f, "who awaits whom:")?;
        let mut expanded: HashSet<u64> = HashSet::new();
        // Roots: tasks nobody waits for, in id order; then whatever only cycles reach.
        let roots: Vec<u64> = self
            .tasks
            .iter()
            .map(|row| row.id)
            .filter(|id| !awaited.contains(id))
            .collect();
        // Everything reachable from a drawn root counts as drawn, even below the depth
        // limit; what is left is only reachable through cycles.
        let mut reached: HashSet<u64> = HashSet::new();
        for root in roots {
            self.write_subtree(f, root, &graph, &label, &mut expanded)?;
            reach(&graph, root, &mut reached);
        }
        for row in &self.tasks {
            if !reached.contains(&row.id) {
                self.write_subtree(f, row.id, &graph, &label, &mut expanded)?;
                reach(&graph, row.id, &mut reached);
            }
        }
        Ok(())
    }

    /// One tree, depth first, with an explicit stack (a chain of ten thousand tasks
    /// awaiting each other must not overflow the stack).
    fn write_subtree(
        &self,
        f: &mut fmt::Formatter<'_>,
        root: u64,
        graph: &BTreeMap<u64, Vec<(u64, Edge)>>,
        label: &dyn Fn(u64) -> String,
        expanded: &mut HashSet<u64>,
    ) -> fmt::Result {
        struct Item {
            id: u64,
            edge: Option<Edge>,
            line_prefix: String,
            child_prefix: String,
            depth: usize,
        }
        let mut stack = vec![Item {
            id: root,
            edge: None,
            line_prefix: String::new(),
            child_prefix: String::new(),
            depth: 0,
        }];
        let mut path: Vec<u64> = Vec::new();
        while let Some(item) = stack.pop() {
            path.truncate(item.depth);
            let mut text = label(item.id);
            if item.edge == Some(Edge::LockHolder) {
                text.push_str(" (holds the Lock)");
            }
            let children = graph.get(&item.id).map_or(&[][..], Vec::as_slice);
            if path.contains(&item.id) {
                writeln!(f, "{}{text} (cycle)", item.line_prefix)?;
                continue;
            }
            if expanded.contains(&item.id) && !children.is_empty() {
                writeln!(f, "{}{text} (see above)", item.line_prefix)?;
                continue;
            }
            if item.depth >= MAX_DEPTH {
                writeln!(f, "{}… (deeper tasks not shown)", item.line_prefix)?;
                continue;
            }
            writeln!(f, "{}{text}", item.line_prefix)?;
            expanded.insert(item.id);
            path.push(item.id);
            for (i, &(child, edge)) in children.iter().enumerate().rev() {
                let last = i + 1 == children.len();
                let (branch, rest) = if last {
                    ("└── ", "    ")
                } else {
                    ("├── ", "│   ")
                };
                stack.push(Item {
                    id: child,
                    edge: Some(edge),
                    line_prefix: format!("{}{branch}", item.child_prefix),
                    child_prefix: format!("{}{rest}", item.child_prefix),
                    depth: item.depth + 1,
                });
            }
        }
        Ok(())
    }

    fn write_cycles(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cycles = self.cycles();
        if cycles.is_empty() {
            return Ok(());
        }
        let names = self.name_map();
        let task = |id: u64| match names.get(&id) {
            Some(name) => format!("#{id} '{name}'"),
            None => format!("#{id}"),
        };
        writeln!(
            f,
            "\ncycles (each task waits for the next, so none of them can finish):"
        )?;
        for cycle in cycles {
            let mut parts: Vec<String> = cycle.iter().map(|&id| task(id)).collect();
            parts.push(task(cycle[0]));
            writeln!(f, "  {}", parts.join(" → "))?;
        }
        Ok(())
    }
}

impl fmt::Display for TaskDump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(why) = &self.unanswered {
            return writeln!(f, "no dump of {}: {why}", self.loop_name);
        }
        self.write_table(f)?;
        if self.tasks.is_empty() {
            return Ok(());
        }
        writeln!(f)?;
        self.write_tree(f)?;
        self.write_cycles(f)
    }
}

/// Adds every task reachable from `from` (itself included) to `reached`.
fn reach(graph: &BTreeMap<u64, Vec<(u64, Edge)>>, from: u64, reached: &mut HashSet<u64>) {
    let mut stack = vec![from];
    while let Some(node) = stack.pop() {
        if reached.insert(node) {
            let edges = graph.get(&node).map_or(&[][..], Vec::as_slice);
            stack.extend(edges.iter().map(|&(to, _)| to));
        }
    }
}

/// Tarjan's strongly connected components, iteratively. Edges to ids that are not nodes
/// of the graph are ignored. Each component comes back sorted.
fn strongly_connected(graph: &BTreeMap<u64, Vec<(u64, Edge)>>) -> Vec<Vec<u64>> {
    let mut index: HashMap<u64, usize> = HashMap::new();
    let mut low: HashMap<u64, usize> = HashMap::new();
    let mut stack: Vec<u64> = Vec::new();
    let mut on_stack: HashSet<u64> = HashSet::new();
    let mut components = Vec::new();
    let mut next_index = 0;
    for &start in graph.keys() {
        if index.contains_key(&start) {
            continue;
        }
        // (node, position of the next edge to look at)
        let mut work: Vec<(u64, usize)> = vec![(start, 0)];
        while let Some(&(node, pos)) = work.last() {
            if pos == 0 && !index.contains_key(&node) {
                index.insert(node, next_index);
                low.insert(node, next_index);
                next_index += 1;
                stack.push(node);
                on_stack.insert(node);
            }
            let edges = &graph[&node];
            if pos < edges.len() {
                work.last_mut().expect("just looked at it").1 += 1;
                let to = edges[pos].0;
                if !graph.contains_key(&to) {
                    continue;
                }
                match index.get(&to) {
                    None => work.push((to, 0)),
                    Some(&to_index) if on_stack.contains(&to) => {
                        let l = low[&node].min(to_index);
                        low.insert(node, l);
                    }
                    Some(_) => {}
                }
            } else {
                work.pop();
                if let Some(&(parent, _)) = work.last() {
                    let l = low[&parent].min(low[&node]);
                    low.insert(parent, l);
                }
                if low[&node] == index[&node] {
                    let mut component = Vec::new();
                    loop {
                        let member = stack.pop().expect("the node is on the stack");
                        on_stack.remove(&member);
                        component.push(member);
                        if member == node {
                            break;
                        }
                    }
                    component.sort_unstable();
                    components.push(component);
                }
            }
        }
    }
    components
}

/// The shortest cycle through the smallest task of a strongly connected component, found
/// by a breadth-first search inside the component.
fn shortest_cycle(graph: &BTreeMap<u64, Vec<(u64, Edge)>>, component: &[u64]) -> Vec<u64> {
    let members: HashSet<u64> = component.iter().copied().collect();
    let start = component[0];
    let mut parent: HashMap<u64, u64> = HashMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(node) = queue.pop_front() {
        for &(to, _) in &graph[&node] {
            if to == start {
                let mut cycle = vec![node];
                let mut at = node;
                while at != start {
                    at = parent[&at];
                    cycle.push(at);
                }
                cycle.reverse();
                return cycle;
            }
            if members.contains(&to) && to != start && !parent.contains_key(&to) {
                parent.insert(to, node);
                queue.push_back(to);
            }
        }
    }
    unreachable!("a strongly connected component with a cycle leads back to its start")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::waiting::QueueKind;

    fn row(id: u64, name: &str, state: TaskStatus, waiting_on: Option<WaitingOn>) -> TaskRow {
        TaskRow {
            id,
            name: name.to_owned(),
            state,
            polls: 1,
            age: None,
            waiting_on,
            more_waits: 0,
            awaits: Vec::new(),
        }
    }

    fn dump(tasks: Vec<TaskRow>) -> TaskDump {
        TaskDump {
            loop_name: "the loop on thread 'main'".to_owned(),
            now: Instant::now(),
            tasks,
            unanswered: None,
        }
    }

    fn join(row: &mut TaskRow, task: u64) {
        row.waiting_on = Some(WaitingOn::Join { task });
        row.awaits.push(task);
    }

    #[test]
    fn every_kind_of_wait_in_the_table() {
        let now = Instant::now();
        let mut main = row(0, "main", TaskStatus::Waiting, None);
        join(&mut main, 12);
        let mut tasks = vec![
            main,
            row(
                3,
                "sleeper",
                TaskStatus::Waiting,
                Some(WaitingOn::Sleep {
                    until: now + Duration::from_millis(1200),
                }),
            ),
            row(4, "writer", TaskStatus::Running, None),
            row(
                5,
                "reader",
                TaskStatus::Waiting,
                Some(WaitingOn::Lock {
                    lock: 1,
                    holder: Some(4),
                }),
            ),
            row(
                6,
                "conn",
                TaskStatus::Waiting,
                Some(WaitingOn::Readable { fd: 7 }),
            ),
            row(7, "hasher", TaskStatus::Waiting, Some(WaitingOn::ToThread)),
            row(8, "foreign", TaskStatus::Waiting, None),
            row(
                9,
                "woken",
                TaskStatus::Ready,
                Some(WaitingOn::QueueGet {
                    queue: QueueKind::Queue,
                }),
            ),
            row(
                12,
                "fetch",
                TaskStatus::Waiting,
                Some(WaitingOn::QueueGet {
                    queue: QueueKind::Queue,
                }),
            ),
        ];
        tasks[1].age = Some(Duration::from_millis(2500));
        tasks[8].more_waits = 1;
        let dump = TaskDump {
            loop_name: "the loop on thread 'main'".to_owned(),
            now,
            tasks,
            unanswered: None,
        };
        let text = dump.to_string();
        let expected_table = "\
9 tasks on the loop on thread 'main':
  id  name     state    polls  age     waiting on
   0  main     waiting      1  -       join #12 'fetch'
   3  sleeper  waiting      1  2.500s  sleep until +1.200s
   4  writer   running      1  -       -
   5  reader   waiting      1  -       Lock held by #4 'writer'
   6  conn     waiting      1  -       readable fd 7
   7  hasher   waiting      1  -       to_thread job
   8  foreign  waiting      1  -       unknown
   9  woken    ready        1  -       -
  12  fetch    waiting      1  -       Queue.get, +1 more
";
        assert!(text.starts_with(expected_table), "{text}");
        let expected_tree = "\
who awaits whom:
#0 main
└── #12 fetch
#3 sleeper
#5 reader
└── #4 writer (holds the Lock)
#6 conn
#7 hasher
#8 foreign
#9 woken
";
        assert!(text.ends_with(expected_tree), "{text}");
        assert!(dump.cycles().is_empty());
    }

    #[test]
    fn a_tree_with_branches() {
        let mut main = row(0, "main", TaskStatus::Waiting, None);
        join(&mut main, 1);
        let mut fetch = row(1, "fetch", TaskStatus::Waiting, None);
        fetch.awaits = vec![2, 3];
        let mut a = row(2, "a", TaskStatus::Waiting, None);
        join(&mut a, 4);
        let tasks = vec![
            main,
            fetch,
            a,
            row(3, "b", TaskStatus::Waiting, None),
            row(4, "c", TaskStatus::Waiting, None),
        ];
        let text = dump(tasks).to_string();
        assert!(
            text.ends_with(
                "\
who awaits whom:
#0 main
└── #1 fetch
    ├── #2 a
    │   └── #4 c
    └── #3 b
"
            ),
            "{text}"
        );
    }

    #[test]
    fn a_join_cycle_is_named() {
        let mut main = row(0, "main", TaskStatus::Waiting, None);
        join(&mut main, 2);
        let mut a = row(2, "a", TaskStatus::Waiting, None);
        join(&mut a, 3);
        let mut b = row(3, "b", TaskStatus::Waiting, None);
        join(&mut b, 2);
        let dump = dump(vec![main, a, b]);
        assert_eq!(dump.cycles(), vec![vec![2, 3]]);
        let text = dump.to_string();
        assert!(
            text.ends_with(
                "\
who awaits whom:
#0 main
└── #2 a
    └── #3 b
        └── #2 a (cycle)

cycles (each task waits for the next, so none of them can finish):
  #2 'a' → #3 'b' → #2 'a'
"
            ),
            "{text}"
        );
    }

    #[test]
    fn a_lock_cycle_nobody_else_awaits() {
        // Two tasks each wait for a lock the other holds; nothing awaits either, so the
        // tree has no root for them: they are drawn from the smallest id.
        let tasks = vec![
            row(
                0,
                "main",
                TaskStatus::Waiting,
                Some(WaitingOn::QueueGet {
                    queue: QueueKind::Queue,
                }),
            ),
            row(
                4,
                "left",
                TaskStatus::Waiting,
                Some(WaitingOn::Lock {
                    lock: 1,
                    holder: Some(5),
                }),
            ),
            row(
                5,
                "right",
                TaskStatus::Waiting,
                Some(WaitingOn::Lock {
                    lock: 1,
                    holder: Some(4),
                }),
            ),
        ];
        let dump = dump(tasks);
        assert_eq!(dump.cycles(), vec![vec![4, 5]]);
        let text = dump.to_string();
        assert!(
            text.ends_with(
                "\
who awaits whom:
#0 main
#4 left
└── #5 right (holds the Lock)
    └── #4 left (holds the Lock) (cycle)

cycles (each task waits for the next, so none of them can finish):
  #4 'left' → #5 'right' → #4 'left'
"
            ),
            "{text}"
        );
    }

    #[test]
    fn a_task_awaiting_itself_is_a_cycle() {
        let mut selfish = row(1, "selfish", TaskStatus::Waiting, None);
        join(&mut selfish, 1);
        let dump = dump(vec![selfish]);
        assert_eq!(dump.cycles(), vec![vec![1]]);
        assert!(
            dump.to_string()
                .ends_with("cycles (each task waits for the next, so none of them can finish):\n  #1 'selfish' → #1 'selfish'\n")
        );
    }

    #[test]
    fn the_shortest_cycle_through_the_smallest_task() {
        // 1 → 2 → 3 → 1 and 2 → 1: one component, and the cycle named is 1 → 2 → 1.
        let mut one = row(1, "one", TaskStatus::Waiting, None);
        one.awaits = vec![2];
        let mut two = row(2, "two", TaskStatus::Waiting, None);
        two.awaits = vec![1, 3];
        let mut three = row(3, "three", TaskStatus::Waiting, None);
        three.awaits = vec![1];
        let dump = dump(vec![one, two, three]);
        assert_eq!(dump.cycles(), vec![vec![1, 2]]);
    }

    #[test]
    fn separate_cycles_are_each_named() {
        let mut rows = Vec::new();
        for (id, to) in [(1, 2), (2, 1), (5, 6), (6, 7), (7, 5), (9, 5)] {
            let mut r = row(id, &format!("t{id}"), TaskStatus::Waiting, None);
            join(&mut r, to);
            rows.push(r);
        }
        assert_eq!(dump(rows).cycles(), vec![vec![1, 2], vec![5, 6, 7]]);
    }

    #[test]
    fn a_shared_subtree_is_drawn_once() {
        // Two readers wait for the same lock holder, who awaits a task.
        let mut writer = row(4, "writer", TaskStatus::Waiting, None);
        join(&mut writer, 6);
        let tasks = vec![
            row(
                2,
                "r1",
                TaskStatus::Waiting,
                Some(WaitingOn::Lock {
                    lock: 1,
                    holder: Some(4),
                }),
            ),
            row(
                3,
                "r2",
                TaskStatus::Waiting,
                Some(WaitingOn::Lock {
                    lock: 1,
                    holder: Some(4),
                }),
            ),
            writer,
            row(
                6,
                "io",
                TaskStatus::Waiting,
                Some(WaitingOn::Readable { fd: 3 }),
            ),
        ];
        let text = dump(tasks).to_string();
        assert!(
            text.ends_with(
                "\
who awaits whom:
#2 r1
└── #4 writer (holds the Lock)
    └── #6 io
#3 r2
└── #4 writer (holds the Lock) (see above)
"
            ),
            "{text}"
        );
    }

    #[test]
    fn an_edge_to_a_task_not_in_the_dump() {
        let tasks = vec![row(
            2,
            "r",
            TaskStatus::Waiting,
            Some(WaitingOn::Lock {
                lock: 1,
                holder: Some(40),
            }),
        )];
        let text = dump(tasks).to_string();
        assert!(text.contains("Lock held by #40\n"), "{text}");
        assert!(
            text.ends_with("#2 r\n└── #40 (not a live task) (holds the Lock)\n"),
            "{text}"
        );
    }

    #[test]
    fn a_long_chain_does_not_overflow_and_stops_drawing() {
        let mut rows = Vec::new();
        for id in 0..10_000u64 {
            let mut r = row(id, "link", TaskStatus::Waiting, None);
            if id + 1 < 10_000 {
                join(&mut r, id + 1);
            }
            rows.push(r);
        }
        let dump = dump(rows);
        assert!(dump.cycles().is_empty());
        let text = dump.to_string();
        assert!(text.contains("… (deeper tasks not shown)"));
        let tree = &text[text.find("who awaits whom:").unwrap()..];
        assert_eq!(tree.lines().filter(|l| l.contains('#')).count(), 32);
    }

    #[test]
    fn an_empty_dump() {
        assert_eq!(
            dump(Vec::new()).to_string(),
            "0 tasks on the loop on thread 'main':\n  id  name  state  polls  age  waiting on\n"
        );
    }

    #[test]
    fn wide_names_widen_their_column() {
        let tasks = vec![
            row(1, "a", TaskStatus::Ready, None),
            row(123, "ünïcödé-name", TaskStatus::Ready, None),
        ];
        let text = dump(tasks).to_string();
        assert!(text.contains("\n    1  a             ready"), "{text}");
        assert!(text.contains("\n  123  ünïcödé-name  ready"), "{text}");
    }
}
