//! `trace-check`: validates a Chrome trace-event JSON file (one handloop wrote, or any
//! other), and optionally that slices with the given names appear.
//!
//! ```sh
//! cargo run -p handloop-debug --bin trace-check -- trace.json --expect fetch
//! ```
//!
//! Exit status: 0 if the trace is valid, 1 if it is not, 2 on a usage error.

use std::process::ExitCode;

use handloop_debug::trace::check_trace;

const USAGE: &str = "usage: trace-check FILE [--expect NAME]...";

/// How many problems are printed before the rest are only counted.
const SHOWN: usize = 20;

fn main() -> ExitCode {
    let mut path = None;
    let mut expected = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--expect" => match args.next() {
                Some(name) => expected.push(name),
                None => return usage("--expect needs a slice name"),
            },
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            _ if path.is_none() => path = Some(arg),
            _ => return usage(&format!("unexpected argument '{arg}'")),
        }
    }
    let Some(path) = path else {
        return usage("no trace file given");
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) => {
            eprintln!("trace-check: cannot read {path}: {error}");
            return ExitCode::from(2);
        }
    };
    let summary = match check_trace(&text) {
        Ok(summary) => summary,
        Err(errors) => {
            eprintln!("{path}: {} problem(s)", errors.len());
            for error in errors.iter().take(SHOWN) {
                eprintln!("  {error}");
            }
            if errors.len() > SHOWN {
                eprintln!("  ... and {} more", errors.len() - SHOWN);
            }
            return ExitCode::FAILURE;
        }
    };
    if let Err(error) = summary.expect_names(&expected) {
        eprintln!("{path}: {error}");
        return ExitCode::FAILURE;
    }
    println!("{path}: valid: {summary}");
    ExitCode::SUCCESS
}

fn usage(problem: &str) -> ExitCode {
    eprintln!("trace-check: {problem}\n{USAGE}");
    ExitCode::from(2)
}
