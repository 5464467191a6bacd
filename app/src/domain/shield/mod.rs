//! The shield: a scanner of LLM traffic. Rules live in a data file (`rules.json`); they are
//! compiled once and matched in one pass over the text. A statistical model (`model.rs`,
//! weights in `model.bin`) reads the same text for attacks in words no rule names; when it
//! flags one, that is a HIGH detection `MODEL` naming the words that weighed most.
//!
//! Score = sum over matched rules of weight(severity) x confidence x min(matches, 5), capped
//! at 100 (weights CRITICAL 30, HIGH 20, MEDIUM 10, LOW 5). Verdict: any CRITICAL match or a
//! score of 60 or more is BLOCK; 25 or more, any HIGH match, or any match found only under
//! an encoding or leetspeak (`disguise.rs`) is REVIEW; otherwise ALLOW.

use crate::domain::alerts::Severity;
use crate::domain::Verdict;
use serde::{Deserialize, Serialize};

/// One rule that matched, and how often.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    pub rule: String,
    pub category: String,
    pub severity: Severity,
    pub confidence: f64,
    pub matches: u32,
    /// The disguises taken off the text before this rule matched (`base64+hex`: a hex
    /// payload inside a base64 one), when it did not match the text as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revealed_by: Option<String>,
    /// For the statistical model's detection (`MODEL`): the words that weighed most.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScanResult {
    pub verdict: Verdict,
    pub score: u8,
    pub detections: Vec<Detection>,
}

/// What a verdict covered: which detectors ran and which parts of the request they read, so
/// that a reviewer knows what "ALLOW" meant for that record.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Coverage {
    /// The rule pack's version (`rules.json`).
    pub rules: u32,
    /// The statistical model's version, when one ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The parts read: roles (`system`, `user`, `assistant`, `tool`, …), `name`,
    /// `tool_calls`, `tools`, `functions`, `response_format`, `input`, `transcript`.
    pub parts: Vec<String>,
    /// What could not be read, e.g. `messages[1].content[0]: image_url`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unscannable: Vec<String>,
}

impl Coverage {
    /// One line for the Traffic Monitor: what ran, on what, and what it could not read.
    pub fn summary(&self) -> String {
        let mut line = format!("rule pack v{}", self.rules);
        if let Some(model) = &self.model {
            line.push_str(&format!(" and model {model}"));
        }
        if !self.parts.is_empty() {
            line.push_str(&format!(" read {}", self.parts.join(", ")));
        }
        if !self.unscannable.is_empty() {
            line.push_str(&format!("; not scannable: {}", self.unscannable.join(", ")));
        }
        line
    }
}

/// Matches beyond this many add nothing more to a rule's share of the score.
pub const MATCH_CAP: u32 = 5;
pub const BLOCK_SCORE: u8 = 60;
pub const REVIEW_SCORE: u8 = 25;

/// How `Detection::revealed_by` names the Unicode folding (the one disguise that ordinary
/// text wears too: line breaks, typographic forms), which alone does not raise the verdict.
pub const FOLDING: &str = "unicode";

pub fn weight(severity: Severity) -> f64 {
    match severity {
        Severity::Critical => 30.0,
        Severity::High => 20.0,
        Severity::Medium => 10.0,
        Severity::Low => 5.0,
        Severity::Info => 0.0,
    }
}

impl ScanResult {
    /// Scores the detections and decides the verdict.
    pub fn judge(detections: Vec<Detection>) -> Self {
        let sum: f64 = detections
            .iter()
            .map(|d| weight(d.severity) * d.confidence * f64::from(d.matches.min(MATCH_CAP)))
            .sum();
        let score = sum.round().clamp(0.0, 100.0) as u8;
        // One strong sign, or any sign that was hidden, is worth a look whatever it scores.
        let strong = |d: &Detection| d.severity == Severity::High;
        let hidden = |d: &Detection| d.revealed_by.as_deref().is_some_and(|how| how != FOLDING);
        let verdict = if detections.iter().any(|d| d.severity == Severity::Critical)
            || score >= BLOCK_SCORE
        {
            Verdict::Block
        } else if score >= REVIEW_SCORE || detections.iter().any(|d| strong(d) || hidden(d)) {
            Verdict::Review
        } else {
            Verdict::Allow
        };
        Self {
            verdict,
            score,
            detections,
        }
    }
}

pub mod mode;
pub use mode::ShieldMode;

#[cfg(test)]
mod tests {
    use super::*;

    fn d(severity: Severity, confidence: f64, matches: u32) -> Detection {
        Detection {
            rule: "T-1".into(),
            category: "test".into(),
            severity,
            confidence,
            matches,
            revealed_by: None,
            features: Vec::new(),
        }
    }

    #[test]
    fn coverage_says_what_ran_on_what_and_what_it_could_not_read() {
        let c = Coverage {
            rules: 2,
            model: None,
            parts: vec!["system".into(), "user".into()],
            unscannable: vec!["messages[1].content[0]: image_url".into()],
        };
        assert_eq!(
            c.summary(),
            "rule pack v2 read system, user; not scannable: messages[1].content[0]: image_url"
        );
    }

    #[test]
    fn nothing_found_is_allow_with_zero() {
        let r = ScanResult::judge(vec![]);
        assert_eq!((r.verdict, r.score), (Verdict::Allow, 0));
    }

    #[test]
    fn score_is_weight_times_confidence_times_capped_matches() {
        // 20 x 0.5 x 2 = 20; + 10 x 1.0 x 1 = 30
        assert_eq!(ScanResult::judge(vec![d(Severity::High, 0.5, 2)]).score, 20);
        let r = ScanResult::judge(vec![d(Severity::High, 0.5, 2), d(Severity::Medium, 1.0, 1)]);
        assert_eq!((r.verdict, r.score), (Verdict::Review, 30));
        // Matches are capped at 5: 5 x 0.8 x 10 = 40, not 80.
        assert_eq!(ScanResult::judge(vec![d(Severity::Low, 0.8, 10)]).score, 20);
        assert_eq!(
            ScanResult::judge(vec![d(Severity::Medium, 0.8, 10)]).score,
            40
        );
    }

    #[test]
    fn thresholds_are_inclusive() {
        // 25 exactly: REVIEW; 24: ALLOW; 60 exactly: BLOCK; 59: REVIEW.
        assert_eq!(
            ScanResult::judge(vec![d(Severity::Low, 1.0, 5)]).verdict,
            Verdict::Review
        );
        assert_eq!(
            ScanResult::judge(vec![d(Severity::Medium, 0.8, 3)]).verdict,
            Verdict::Allow
        );
        let block = ScanResult::judge(vec![d(Severity::High, 1.0, 3)]);
        assert_eq!((block.verdict, block.score), (Verdict::Block, 60));
        let review = ScanResult::judge(vec![d(Severity::High, 0.59, 5)]);
        assert_eq!((review.verdict, review.score), (Verdict::Review, 59));
    }

    #[test]
    fn one_high_match_or_one_hidden_match_is_never_allow() {
        let high = ScanResult::judge(vec![d(Severity::High, 0.5, 1)]);
        assert_eq!((high.verdict, high.score), (Verdict::Review, 10));
        let hidden = |how: &str| {
            let mut low = d(Severity::Low, 0.5, 1);
            low.revealed_by = Some(how.into());
            ScanResult::judge(vec![low]).verdict
        };
        assert_eq!(hidden("base64"), Verdict::Review);
        assert_eq!(hidden("unicode+leetspeak"), Verdict::Review);
        // Folding alone (line breaks, typographic forms) is what ordinary text wears too.
        assert_eq!(hidden("unicode"), Verdict::Allow);
        assert_eq!(
            ScanResult::judge(vec![d(Severity::Medium, 1.0, 1)]).verdict,
            Verdict::Allow
        );
    }

    #[test]
    fn any_critical_blocks_whatever_the_score_and_the_score_caps_at_100() {
        let r = ScanResult::judge(vec![d(Severity::Critical, 0.1, 1)]);
        assert_eq!((r.verdict, r.score), (Verdict::Block, 3));
        let r = ScanResult::judge(vec![
            d(Severity::Critical, 1.0, 5),
            d(Severity::High, 1.0, 5),
        ]);
        assert_eq!(r.score, 100);
    }
}
