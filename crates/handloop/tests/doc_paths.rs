//! The book names files for the reader to open (`tests/scheduling.rs`, `src/heap.rs`,
//! `docs/01-waker.md`): every one of them must exist, and every chapter must be some
//! crate's documentation, so that `cargo test --doc` runs its snippets.
//!
//! A path in a chapter is looked up in the directory of the crate whose documentation
//! includes that chapter (`tests/…` in chapter 3 is `crates/timer/tests/…`), then at the
//! root of the repository (`crates/…`, `docs/…`, `README.md`).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root")
}

/// Which crate directory includes each chapter (`docs/NAME.md` → `crates/x`), read from the
/// `include_str!("../../../docs/NAME.md")` lines of every crate's `src/lib.rs`.
fn chapters_by_crate(root: &Path) -> BTreeMap<String, PathBuf> {
    let mut chapters = BTreeMap::new();
    for entry in fs::read_dir(root.join("crates")).expect("crates/") {
        let dir = entry.expect("a crate directory").path();
        let Ok(lib) = fs::read_to_string(dir.join("src/lib.rs")) else {
            continue;
        };
        for piece in lib.split("include_str!(\"../../../docs/").skip(1) {
            let name = piece.split('"').next().expect("a closing quote");
            chapters.insert(name.to_string(), dir.clone());
        }
    }
    chapters
}

/// The inline code spans of a Markdown text that look like file paths, with their line
/// numbers. Fenced code blocks are skipped (they hold commands and code, not references);
/// a code span may run over a line break.
fn named_paths(text: &str) -> Vec<(usize, String)> {
    // The text outside fences, line breaks kept so that line numbers stay right.
    let mut prose = String::new();
    let mut fenced = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            fenced = !fenced;
        } else if !fenced {
            prose.push_str(line);
        }
        prose.push('\n');
    }
    let mut paths = Vec::new();
    let mut line = 1;
    for (i, piece) in prose.split('`').enumerate() {
        if i % 2 == 1 && looks_like_a_path(piece) {
            paths.push((line, piece.to_string()));
        }
        line += piece.matches('\n').count();
    }
    paths
}

fn looks_like_a_path(span: &str) -> bool {
    let path_chars = span
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_./-".contains(c));
    let file = [".rs", ".md", ".toml"]
        .iter()
        .any(|ext| span.ends_with(ext));
    path_chars && span.len() > 1 && (span.contains('/') || file) && !span.starts_with('.')
        || span == ".ci/run"
}

#[test]
#[cfg_attr(
    miri,
    ignore = "reads the repository's files, which Miri's isolation forbids"
)]
fn every_file_the_docs_name_exists() {
    let root = repository();
    let chapters = chapters_by_crate(&root);
    let mut documents: Vec<(PathBuf, Option<PathBuf>)> = vec![(root.join("README.md"), None)];
    for entry in fs::read_dir(root.join("docs")).expect("docs/") {
        let path = entry.expect("a chapter").path();
        if path.extension().is_some_and(|ext| ext == "md") {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            documents.push((path, chapters.get(&name).cloned()));
        }
    }

    let mut missing = Vec::new();
    for (document, crate_dir) in &documents {
        let text = fs::read_to_string(document).expect("a readable chapter");
        for (line, path) in named_paths(&text) {
            let found = crate_dir
                .iter()
                .chain([&root])
                .any(|base| base.join(&path).exists());
            if !found {
                let shown = document.strip_prefix(&root).unwrap().display();
                missing.push(format!("{shown}:{line}: `{path}`"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "the docs name files that do not exist (a chapter's paths are relative to the crate \
         that includes it, or to the repository root):\n{}",
        missing.join("\n")
    );
}

#[test]
#[cfg_attr(
    miri,
    ignore = "reads the repository's files, which Miri's isolation forbids"
)]
fn every_chapter_is_some_crates_documentation() {
    let root = repository();
    let chapters = chapters_by_crate(&root);
    let mut orphans = Vec::new();
    for entry in fs::read_dir(root.join("docs")).expect("docs/") {
        let name = entry.expect("a chapter").file_name();
        let name = name.to_string_lossy();
        if name.ends_with(".md") && !chapters.contains_key(name.as_ref()) {
            orphans.push(name.into_owned());
        }
    }
    assert!(
        orphans.is_empty(),
        "these chapters are included by no crate's src/lib.rs, so their snippets never run: \
         {orphans:?}"
    );
}

#[test]
fn the_path_finder_finds_paths_and_nothing_else() {
    let text = "See `tests/scheduling.rs` and `src/heap.rs`, `NOTES.md`, `.ci/run`;\n\
                not `asyncio.run`, `.await`, `a / b`, `Waker::wake`, `/`, nor `a\n\
                b/c.rs` (a code span over a line break is one span).\n\
                ```sh\ncargo test -p x --test `not/this.rs`\n```\n\
                And `examples/tour.rs`.";
    let found: Vec<String> = named_paths(text).into_iter().map(|(_, p)| p).collect();
    assert_eq!(
        found,
        [
            "tests/scheduling.rs",
            "src/heap.rs",
            "NOTES.md",
            ".ci/run",
            "examples/tour.rs"
        ]
    );
}
