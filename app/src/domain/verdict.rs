//! How a request was judged: ALLOW, REVIEW or BLOCK by the shield, or BYPASSED (not scanned:
//! break-glass).

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    #[serde(rename = "ALLOW")]
    Allow,
    #[serde(rename = "REVIEW")]
    Review,
    #[serde(rename = "BLOCK")]
    Block,
    #[serde(rename = "BYPASSED")]
    Bypassed,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allow => "ALLOW",
            Verdict::Review => "REVIEW",
            Verdict::Block => "BLOCK",
            Verdict::Bypassed => "BYPASSED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        VERDICTS.into_iter().find(|v| v.as_str() == s)
    }
}

pub const VERDICTS: [Verdict; 4] = [
    Verdict::Allow,
    Verdict::Review,
    Verdict::Block,
    Verdict::Bypassed,
];
