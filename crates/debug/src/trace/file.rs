//! Trace files: where loops' recordings go when the loops are dropped.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use super::{ThreadTrace, write_chrome_trace};

/// How many events one file keeps at most, over all the recordings saved to it: the
/// oldest recordings are left out beyond that.
const FILE_CAPACITY: usize = 4 * super::DEFAULT_CAPACITY;

/// The recordings saved so far in this process, per path.
fn files() -> &'static Mutex<HashMap<PathBuf, Vec<ThreadTrace>>> {
    static FILES: OnceLock<Mutex<HashMap<PathBuf, Vec<ThreadTrace>>>> = OnceLock::new();
    FILES.get_or_init(Default::default)
}

/// Saves a loop's recording to the trace file at `path`.
///
/// Several loops of one process may trace to the same path (a program that calls
/// `handloop::run` twice, a pool of loops on several threads): the file then holds every
/// recording saved to it by this process so far, one track each, up to a few million events
/// (the oldest recordings are left out beyond that). It is rewritten whole on each save,
/// through a temporary file renamed into place, so a reader never sees half a file. A file
/// left at `path` by an earlier run of the program is replaced by the first save.
///
/// # Errors
/// If the file cannot be written.
pub fn save(path: &Path, recording: ThreadTrace) -> io::Result<()> {
    let mut files = files().lock().unwrap_or_else(|poison| poison.into_inner());
    let recordings = files.entry(path.to_path_buf()).or_default();
    recordings.push(recording);
    let mut total: usize = recordings.iter().map(ThreadTrace::len).sum();
    while total > FILE_CAPACITY && recordings.len() > 1 {
        total -= recordings.remove(0).len();
    }
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".{}.tmp", std::process::id()));
    let temporary = PathBuf::from(temporary);
    {
        let mut file = fs::File::create(&temporary)?;
        write_chrome_trace(&mut file, recordings)?;
        file.sync_all()?;
    }
    fs::rename(&temporary, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::{PollOutcome, Recorder, check_trace};

    fn recording(task_name: &str) -> ThreadTrace {
        let mut recorder = Recorder::new(100, format!("loop of {task_name}"));
        let mark = recorder.begin_poll(1);
        recorder.end_poll(mark, task_name, PollOutcome::Finished);
        recorder.finish()
    }

    #[test]
    fn every_recording_saved_to_a_path_is_in_the_file() {
        let dir = std::env::temp_dir().join(format!("handloop-trace-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("two-loops.json");
        fs::write(&path, "left by an earlier run").unwrap();
        save(&path, recording("first")).unwrap();
        save(&path, recording("second")).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        let summary = check_trace(&text).unwrap();
        assert_eq!(summary.threads, 2);
        summary.expect_names(["first", "second"]).unwrap();
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_unwritable_path_is_an_error() {
        let path = Path::new("/nonexistent-handloop-dir/trace.json");
        assert!(save(path, recording("x")).is_err());
    }
}
