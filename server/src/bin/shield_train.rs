//! Trains the shield's statistical model from the calibration corpora and writes it where the
//! build embeds it: `cargo run --release -p server --bin shield-train [-- --corpus PATH]`.
//! With `--check` it writes nothing and fails unless the shipped model is what training
//! makes of the corpus, byte for byte (the test command runs it).

use server::{shield_eval, shield_training};
use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut corpus = shield_eval::default_corpus();
    let mut check = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--check" => check = true,
            "--corpus" => match args.next() {
                Some(path) => corpus = path.into(),
                None => return usage(),
            },
            _ => return usage(),
        }
    }
    let texts = match shield_eval::load(&corpus) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let trained = shield_training::train(&texts);
    println!(
        "threshold {:.4}; out of fold on the calibration texts (each benign source scored by \
         a model that never saw it), flagged:",
        trained.threshold
    );
    for (what, flagged, of) in &trained.flagged {
        let share = 100.0 * *flagged as f64 / (*of).max(1) as f64;
        println!("  {what}: {flagged} of {of} ({share:.1}%)");
    }
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../app/src/server/shield/model.bin");
    if check {
        return if std::fs::read(&shipped).ok().as_deref() == Some(&trained.file[..]) {
            println!("{} is what training makes of the corpus", shipped.display());
            ExitCode::SUCCESS
        } else {
            eprintln!(
                "{} is not what training makes of the corpus: run shield-train and commit it",
                shipped.display()
            );
            ExitCode::FAILURE
        };
    }
    if let Err(e) = std::fs::write(&shipped, &trained.file) {
        eprintln!("cannot write {}: {e}", shipped.display());
        return ExitCode::FAILURE;
    }
    println!("wrote {}", shipped.display());
    ExitCode::SUCCESS
}

fn usage() -> ExitCode {
    eprintln!("usage: shield-train [--corpus PATH] [--check]");
    ExitCode::from(2)
}
