//! Measures the shield on the public corpora and prints the figures:
//! `cargo run --release -p server --bin shield-eval [-- --write docs/SHIELD.md] [--corpus PATH]`.
//! With `--write` the figures replace those between the markers in that file. With
//! `--explain` it lists instead the calibration texts it misjudges (benign texts flagged,
//! attacks missed) and what fired on each; held-out texts are never listed, so that no one
//! tunes on them.

use server::shield_eval;
use std::process::ExitCode;

/// Passes over the ASCII 2 KB prompts when timing the scan (one over all of them: today's
/// scanner is slow on non-ASCII text).
const ROUNDS: usize = 10;

fn main() -> ExitCode {
    let mut corpus = shield_eval::default_corpus();
    let mut write = None;
    let mut explain = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--explain" {
            explain = true;
            continue;
        }
        match (arg.as_str(), args.next()) {
            ("--corpus", Some(path)) => corpus = path.into(),
            ("--write", Some(path)) => write = Some(path),
            _ => {
                eprintln!(
                    "usage: shield-eval [--corpus PATH] [--write docs/SHIELD.md | --explain]"
                );
                return ExitCode::from(2);
            }
        }
    }
    let texts = match shield_eval::load(&corpus) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let shield = app::server::shield::Shield::builtin();
    if explain {
        print!("{}", shield_eval::explain(&shield, &texts));
        return ExitCode::SUCCESS;
    }
    let tallies = shield_eval::evaluate(&shield, &texts);
    let speeds = [
        shield_eval::throughput(
            "2 KB pieces of the English (ASCII) calibration texts",
            &shield,
            &shield_eval::prompts(&texts, true),
            ROUNDS,
        ),
        shield_eval::throughput(
            "2 KB pieces of all calibration texts (half of them Chinese)",
            &shield,
            &shield_eval::prompts(&texts, false),
            1,
        ),
    ];
    let figures = shield_eval::report(&tallies, &speeds);
    print!("{figures}");
    if let Some(path) = write {
        let doc = match std::fs::read_to_string(&path) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("cannot read {path}: {e}");
                return ExitCode::FAILURE;
            }
        };
        let Some(updated) = shield_eval::splice(&doc, &figures) else {
            eprintln!(
                "{path} has no <!-- shield-eval:start --> … <!-- shield-eval:end --> markers"
            );
            return ExitCode::FAILURE;
        };
        if let Err(e) = std::fs::write(&path, updated) {
            eprintln!("cannot write {path}: {e}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
