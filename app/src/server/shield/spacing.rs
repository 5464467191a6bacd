//! Which rules need no pass over an ASCII text as sent, because its folded view (each run of
//! whitespace as one space, `disguise::fold`) shows them every match the text has.
//!
//! A rule qualifies when its regex's language is closed under that folding, which is proven
//! from the regex's syntax, on its position (Glushkov) automaton:
//! - every class (and literal byte) that matches some whitespace byte also matches a space, so
//!   that each whitespace byte of a match may be read as a space;
//! - wherever two positions that may both read whitespace follow each other, either one of
//!   them can be left out: everything that may follow the second may follow the first (and
//!   the first may end a match where the second may), or everything that may precede the first
//!   may precede the second (and the second may start a match where the first may). Then a
//!   run of spaces in a match can be shortened one at a time down to one;
//! - its only assertions are ASCII word boundaries, which folding keeps (it only ever turns
//!   non-word bytes into non-word bytes, and no boundary lies inside a run of whitespace), and
//!   the start and end of the text, which stay where they were.
//!
//! A rule that asserts anything else (the start of a line), repeats a part that may read
//! whitespace a fixed minimum number of times (`.{5,20}`), or reads a whitespace byte other
//! than a space (`\n`), does not qualify and is matched on the text as sent; there, the words
//! every match of it must contain (`required_words`) are looked for first.

use regex_syntax::hir::{Class, Hir, HirKind, Look};
/// Positions a rule's automaton may have before the proof gives up (and the rule is matched
/// on the text as sent): bounded repetitions are unrolled, and the proof keeps a bit per pair
/// of positions.
const MAX_POSITIONS: usize = 4096;

/// The bytes `fold` collapses: ASCII whitespace and the vertical tab, exactly `\s` in a rule
/// compiled without Unicode.
fn is_space_byte(b: u8) -> bool {
    b.is_ascii_whitespace() || b == 0x0b
}

/// Whether every match `pattern` (compiled on bytes, without Unicode) has in an ASCII text
/// it also has in the text's folded view. `false` when it cannot be proven.
pub fn survives_folding(pattern: &str) -> bool {
    let Ok(hir) = regex_syntax::ParserBuilder::new()
        .unicode(false)
        .utf8(false)
        .build()
        .parse(pattern)
    else {
        return false;
    };
    let mut automaton = Positions::default();
    let Some(whole) = automaton.add(&hir) else {
        return false;
    };
    automaton.proves_folding_closed(&whole)
}

/// Words (lowercase; matched without regard to case) of which every match of `pattern` contains
/// at least one; `None` when no such words are found in its syntax.
pub fn required_words(pattern: &str) -> Option<Vec<Vec<u8>>> {
    let hir = regex_syntax::ParserBuilder::new()
        .unicode(false)
        .utf8(false)
        .build()
        .parse(pattern)
        .ok()?;
    required(&hir)
}

fn required(hir: &Hir) -> Option<Vec<Vec<u8>>> {
    match hir.kind() {
        HirKind::Capture(capture) => required(&capture.sub),
        HirKind::Repetition(rep) if rep.min > 0 => required(&rep.sub),
        HirKind::Alternation(parts) => parts.iter().try_fold(Vec::new(), |mut all, part| {
            all.extend(required(part)?);
            Some(all)
        }),
        HirKind::Concat(parts) => {
            // Runs of parts that read one fixed word each, ignoring case (assertions read
            // nothing and do not break a run), and every other part's own words; the choice
            // whose shortest word is longest.
            let mut choices: Vec<Vec<Vec<u8>>> = Vec::new();
            let mut run = Vec::new();
            for part in parts {
                if let Some(word) = fixed_word(part) {
                    run.extend(word);
                    continue;
                }
                if matches!(part.kind(), HirKind::Look(_)) {
                    continue;
                }
                if !run.is_empty() {
                    choices.push(vec![std::mem::take(&mut run)]);
                }
                choices.extend(required(part));
            }
            if !run.is_empty() {
                choices.push(vec![run]);
            }
            choices
                .into_iter()
                .max_by_key(|words| words.iter().map(Vec::len).min().unwrap_or(0))
        }
        _ => fixed_word(hir).map(|word| vec![word]),
    }
    .filter(|words| !words.is_empty() && words.iter().all(|w| !w.is_empty()))
}

/// The one word (lowercase) a part reads, ignoring case: a literal, or a class of one byte or
/// of a letter in both cases.
fn fixed_word(hir: &Hir) -> Option<Vec<u8>> {
    match hir.kind() {
        HirKind::Literal(literal) => Some(literal.0.to_ascii_lowercase()),
        HirKind::Class(Class::Bytes(class)) => {
            let bytes: Vec<u8> = class
                .ranges()
                .iter()
                .flat_map(|r| r.start()..=r.end())
                .take(3)
                .collect();
            match bytes[..] {
                [b] => Some(vec![b.to_ascii_lowercase()]),
                [upper, lower]
                    if upper.is_ascii_uppercase() && lower == upper.to_ascii_lowercase() =>
                {
                    Some(vec![lower])
                }
                _ => None,
            }
        }
        HirKind::Capture(capture) => fixed_word(&capture.sub),
        HirKind::Concat(parts) => parts.iter().try_fold(Vec::new(), |mut word, part| {
            if !matches!(part.kind(), HirKind::Look(_)) {
                word.extend(fixed_word(part)?);
            }
            Some(word)
        }),
        _ => None,
    }
}

/// A regex's position automaton: one position per byte class it reads, which positions may
/// follow which, and which may read whitespace.
#[derive(Default)]
struct Positions {
    follow: Vec<Vec<usize>>,
    reads_space: Vec<bool>,
}

/// A part of the regex: the positions it may start and end with, and whether it may match
/// nothing.
struct Part {
    first: Vec<usize>,
    last: Vec<usize>,
    nullable: bool,
}

impl Part {
    fn empty() -> Self {
        Self {
            first: Vec::new(),
            last: Vec::new(),
            nullable: true,
        }
    }
}

/// A set of positions, a bit each.
#[derive(Clone)]
struct Bits(Vec<u64>);

impl Bits {
    fn of(n: usize, members: &[usize]) -> Self {
        let mut bits = Self(vec![0; n.div_ceil(64)]);
        for &p in members {
            bits.0[p / 64] |= 1 << (p % 64);
        }
        bits
    }

    fn has(&self, p: usize) -> bool {
        self.0[p / 64] & (1 << (p % 64)) != 0
    }

    fn is_subset(&self, of: &Self) -> bool {
        self.0.iter().zip(&of.0).all(|(a, b)| a & !b == 0)
    }
}

impl Positions {
    /// A new position reading a class; `None` when the class reads whitespace but no space.
    fn position(&mut self, reads_space: bool, reads_the_space: bool) -> Option<Part> {
        if reads_space && !reads_the_space {
            return None;
        }
        if self.follow.len() >= MAX_POSITIONS {
            return None;
        }
        self.follow.push(Vec::new());
        self.reads_space.push(reads_space);
        let p = self.follow.len() - 1;
        Some(Part {
            first: vec![p],
            last: vec![p],
            nullable: false,
        })
    }

    /// Adds the positions of `hir`; `None` when it has something the proof does not cover.
    fn add(&mut self, hir: &Hir) -> Option<Part> {
        match hir.kind() {
            HirKind::Empty => Some(Part::empty()),
            HirKind::Literal(literal) => {
                let mut whole = Part::empty();
                for &b in literal.0.iter() {
                    let next = self.position(is_space_byte(b), b == b' ')?;
                    whole = self.then(whole, next);
                }
                Some(whole)
            }
            HirKind::Class(class) => {
                let (reads_space, reads_the_space) = match class {
                    Class::Bytes(c) => (
                        c.ranges()
                            .iter()
                            .any(|r| (r.start()..=r.end()).any(is_space_byte)),
                        c.ranges()
                            .iter()
                            .any(|r| (r.start()..=r.end()).contains(&b' ')),
                    ),
                    Class::Unicode(c) => (
                        c.ranges().iter().any(|r| {
                            (r.start()..=r.end())
                                .any(|ch| u8::try_from(ch).is_ok_and(is_space_byte))
                        }),
                        c.ranges()
                            .iter()
                            .any(|r| (r.start()..=r.end()).contains(&' ')),
                    ),
                };
                self.position(reads_space, reads_the_space)
            }
            HirKind::Look(Look::WordAscii | Look::Start | Look::End) => Some(Part::empty()),
            HirKind::Look(_) => None,
            HirKind::Capture(capture) => self.add(&capture.sub),
            HirKind::Concat(parts) => {
                let mut whole = Part::empty();
                for part in parts {
                    let next = self.add(part)?;
                    whole = self.then(whole, next);
                }
                Some(whole)
            }
            HirKind::Alternation(parts) => {
                let mut whole = Part {
                    nullable: false,
                    ..Part::empty()
                };
                for part in parts {
                    let next = self.add(part)?;
                    whole.first.extend(next.first);
                    whole.last.extend(next.last);
                    whole.nullable |= next.nullable;
                }
                Some(whole)
            }
            HirKind::Repetition(rep) => {
                // Unrolled: `x{2,4}` as `x x x? x?`, `x{1,}` as `x x*`.
                let mut whole = Part::empty();
                for _ in 0..rep.min {
                    let next = self.add(&rep.sub)?;
                    whole = self.then(whole, next);
                }
                match rep.max {
                    None => {
                        let looped = self.add(&rep.sub)?;
                        for &l in &looped.last {
                            self.follow[l].extend(looped.first.iter().copied());
                        }
                        whole = self.then(
                            whole,
                            Part {
                                nullable: true,
                                ..looped
                            },
                        );
                    }
                    Some(max) => {
                        for _ in rep.min..max {
                            let next = self.add(&rep.sub)?;
                            whole = self.then(
                                whole,
                                Part {
                                    nullable: true,
                                    ..next
                                },
                            );
                        }
                    }
                }
                Some(whole)
            }
        }
    }

    /// `a` followed by `b`.
    fn then(&mut self, a: Part, b: Part) -> Part {
        for &l in &a.last {
            self.follow[l].extend(b.first.iter().copied());
        }
        let mut first = a.first;
        if a.nullable {
            first.extend(b.first.iter().copied());
        }
        let mut last = b.last;
        if b.nullable {
            last.extend(a.last);
        }
        Part {
            first,
            last,
            nullable: a.nullable && b.nullable,
        }
    }

    /// Whether, wherever two positions that may read whitespace follow each other, one of
    /// them can be left out of any match through them.
    fn proves_folding_closed(&self, whole: &Part) -> bool {
        let n = self.follow.len();
        let mut precede = vec![Vec::new(); n];
        for (p, next) in self.follow.iter().enumerate() {
            for &q in next {
                precede[q].push(p);
            }
        }
        let follow: Vec<Bits> = self.follow.iter().map(|f| Bits::of(n, f)).collect();
        let precede: Vec<Bits> = precede.iter().map(|f| Bits::of(n, f)).collect();
        let (first, last) = (Bits::of(n, &whole.first), Bits::of(n, &whole.last));
        self.follow.iter().enumerate().all(|(p, next)| {
            next.iter().all(|&q| {
                if !(self.reads_space[p] && self.reads_space[q]) {
                    return true;
                }
                let without_q = follow[q].is_subset(&follow[p]) && (!last.has(q) || last.has(p));
                let without_p =
                    precede[p].is_subset(&precede[q]) && (!first.has(p) || first.has(q));
                without_q || without_p
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::shield::fold;
    use proptest::prelude::*;
    use regex::bytes::RegexBuilder;

    #[test]
    fn runs_of_whitespace_the_rule_reads_through_are_proven() {
        for pattern in [
            r"(?i)\bignore\s+previous\b",
            r"(?i)\bignore\b.{0,20}\bprevious\b",
            r"a\s*b",
            r"a[^x]{0,40}?b",
            r"(\s*(,|and))+\s*(say|print)",
            r"a[ .-]?b",
            r"a b",
            r"a\s",
            r"x",
            r"drop table x(;|$)",
            r"^\s*rm -rf",
        ] {
            assert!(survives_folding(pattern), "{pattern}");
        }
    }

    #[test]
    fn whatever_folding_could_break_is_not_proven() {
        for pattern in [
            // Two mandatory whitespace bytes.
            r"a\s\sb",
            r"a.\sb",
            r"a\s+ b",
            // A minimum count over a part that may read whitespace.
            r"a.{5,20}b",
            // Whitespace other than a space.
            r"a\nb",
            r"a[\t]b",
            // Lines and the text's ends.
            r"(?m)^system:",
            r"\Bx",
        ] {
            assert!(!survives_folding(pattern), "{pattern}");
        }
    }

    #[test]
    fn the_words_every_match_contains_are_found() {
        let words = |p: &str| {
            required_words(p).map(|w| {
                w.into_iter()
                    .map(|w| String::from_utf8(w).unwrap())
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(words(r"(?i)\bsystem\s*:"), Some(vec!["system".into()]));
        assert_eq!(
            words(r"(?im)^\s*(\[system\]|###\s*system\b|admin(istrator)?\s+note)"),
            Some(vec!["[system]".into(), "system".into(), "admin".into()])
        );
        assert_eq!(words(r"ab(c|d)+efg"), Some(vec!["efg".into()]));
        assert_eq!(words(r"(?i)x\s+override"), Some(vec!["override".into()]));
        // A part that may be left out, or a branch with no word, guarantees nothing.
        assert_eq!(words(r"(abc)?\d+"), None);
        assert_eq!(words(r"abc|\d+"), None);
        assert_eq!(words(r"[ab]c"), Some(vec!["c".into()]));
    }

    /// Every rule of the pack proven to survive folding matches the folded view of any ASCII
    /// text it matches: here the pack's own examples with each space replaced by a run of
    /// whitespace bytes.
    #[test]
    fn proven_rules_match_the_folded_view_of_what_they_match() {
        let pack: serde_json::Value =
            serde_json::from_str(super::super::scanner::BUILTIN_RULES).unwrap();
        let mut proven = Vec::new();
        for rule in pack["rules"].as_array().unwrap() {
            let pattern = rule["pattern"].as_str().unwrap();
            if survives_folding(pattern) {
                let regex = RegexBuilder::new(pattern).unicode(false).build().unwrap();
                for example in [&rule["examples"]["hit"], &rule["examples"]["near_miss"]] {
                    proven.push((
                        rule["id"].as_str().unwrap(),
                        regex.clone(),
                        example.as_str().unwrap(),
                    ));
                }
            }
        }
        assert!(
            proven.len() > 2 * 40,
            "only {} rules proven",
            proven.len() / 2
        );
        let run = proptest::collection::vec(
            prop_oneof![
                Just(' '),
                Just('\n'),
                Just('\t'),
                Just('\r'),
                Just('\x0b'),
                Just('\x0c')
            ],
            1..4,
        )
        .prop_map(String::from_iter);
        let runs = proptest::collection::vec(run, 1..8);
        proptest::test_runner::TestRunner::default()
            .run(&runs, |runs| {
                for (id, regex, example) in &proven {
                    let mut text = String::new();
                    for (k, word) in example.split(' ').enumerate() {
                        if k > 0 {
                            text.push_str(&runs[k % runs.len()]);
                        }
                        text.push_str(word);
                    }
                    if text.is_ascii() && regex.is_match(text.as_bytes()) {
                        prop_assert!(
                            regex.is_match(fold(&text).as_bytes()),
                            "{id} matches {text:?} but not its folded view"
                        );
                    }
                }
                Ok(())
            })
            .unwrap();
    }
}
