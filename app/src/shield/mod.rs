//! The shield: a rule-based scanner of LLM traffic. Rules live in a data file
//! (`rules.json`); they are compiled once and matched in one pass over the text.
//!
//! Score = sum over matched rules of weight(severity) x confidence x min(matches, 5), capped
//! at 100 (weights CRITICAL 30, HIGH 20, MEDIUM 10, LOW 5). Verdict: any CRITICAL match or a
//! score of 60 or more is BLOCK; 25 or more is REVIEW; otherwise ALLOW.

use crate::alerts::Severity;
use crate::traffic::Verdict;
use serde::{Deserialize, Serialize};

/// One rule that matched, and how often.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    pub rule: String,
    pub category: String,
    pub severity: Severity,
    pub confidence: f64,
    pub matches: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScanResult {
    pub verdict: Verdict,
    pub score: u8,
    pub detections: Vec<Detection>,
}

/// Matches beyond this many add nothing more to a rule's share of the score.
pub const MATCH_CAP: u32 = 5;
pub const BLOCK_SCORE: u8 = 60;
pub const REVIEW_SCORE: u8 = 25;

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
        let verdict = if detections.iter().any(|d| d.severity == Severity::Critical)
            || score >= BLOCK_SCORE
        {
            Verdict::Block
        } else if score >= REVIEW_SCORE {
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

#[cfg(feature = "ssr")]
mod scanner;
#[cfg(feature = "ssr")]
pub use scanner::{RulePackError, Shield};

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
        }
    }

    #[test]
    fn nothing_found_is_allow_with_zero() {
        let r = ScanResult::judge(vec![]);
        assert_eq!((r.verdict, r.score), (Verdict::Allow, 0));
    }

    #[test]
    fn score_is_weight_times_confidence_times_capped_matches() {
        // 20 x 0.5 x 2 = 20 -> ALLOW; + 10 x 1.0 x 1 = 30 -> REVIEW
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
            ScanResult::judge(vec![d(Severity::High, 0.6, 2)]).verdict,
            Verdict::Allow
        );
        let block = ScanResult::judge(vec![d(Severity::High, 1.0, 3)]);
        assert_eq!((block.verdict, block.score), (Verdict::Block, 60));
        let review = ScanResult::judge(vec![d(Severity::High, 0.59, 5)]);
        assert_eq!((review.verdict, review.score), (Verdict::Review, 59));
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
