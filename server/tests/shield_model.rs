//! The shipped model (`app/src/server/shield/model.bin`) is what `shield-train` makes of the public
//! calibration corpora, byte for byte: anyone can check where its weights came from, and a
//! change to the features, the training or the corpus that is not followed by a retrain
//! fails here. The corpus comes from `.ci/setup --corpora`, which the test command runs.

use server::{shield_eval, shield_training};

#[test]
fn the_shipped_model_is_what_training_makes_of_the_calibration_corpora() {
    let texts = shield_eval::load(&shield_eval::default_corpus()).unwrap_or_else(|e| panic!("{e}"));
    // `shield-train` wrote the file from the whole corpus; trained here on the calibration
    // texts alone, the same bytes also show that training never reads a held-out text.
    let calibration: Vec<_> = texts
        .into_iter()
        .filter(|t| t.split == shield_eval::Split::Calibration)
        .collect();
    let trained = shield_training::train(&calibration);
    assert!(
        trained.file == app::server::shield::model::BUILTIN_MODEL,
        "app/src/server/shield/model.bin is not what training makes of the calibration corpora: run \
         `cargo run --release -p server --bin shield-train` and commit the file"
    );
}
