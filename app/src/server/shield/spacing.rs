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
//!   the start and end of the text, which stay where they were; and the way on that stands in
//!   for the one through a left-out position asserts no more than it did.
//!
//! A rule that asserts anything else (the start of a line), repeats a part that may read
//! whitespace a fixed minimum number of times (`.{5,20}`), or reads a whitespace byte other
//! than a space (`\n`), does not qualify and is matched on the text as sent; there, the words
//! every match of it must contain (`required_words`) are looked for first.

use regex_syntax::hir::{Class, Hir, HirKind, Look};
/// Positions a rule's automaton may have before the proof gives up (and the rule is matched
/// on the text as sent): bounded repetitions are unrolled.
const MAX_POSITIONS: usize = 4096;

/// The bytes `fold` collapses: ASCII whitespace and the vertical tab, exactly `\s` in a rule
/// compiled without Unicode.
fn is_space_byte(b: u8) -> bool {
    b.is_ascii_whitespace() || b == 0x0b
}

/// `pattern` as the scanner compiles it: on bytes, without Unicode.
fn parse(pattern: &str) -> Option<Hir> {
    regex_syntax::ParserBuilder::new()
        .unicode(false)
        .utf8(false)
        .build()
        .parse(pattern)
        .ok()
}

/// Whether every match `pattern` (compiled on bytes, without Unicode) has in an ASCII text
/// it also has in the text's folded view. `false` when it cannot be proven.
pub fn survives_folding(pattern: &str) -> bool {
    let Some(hir) = parse(pattern) else {
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
    required(&parse(pattern)?)
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

/// The assertions a route between two positions passes, a bit each: a word boundary, the
/// start of the text, its end.
type Asserts = u8;
const WORD: Asserts = 1;
const START: Asserts = 2;
const END: Asserts = 4;

/// Sets of `Asserts` (a bit for each of the eight), the routes there are between two points.
type Routes = u8;

fn route(asserts: Asserts) -> Routes {
    1 << asserts
}

/// Whether every route of `these` asserts all that some route of `those` asserts and maybe
/// more: then wherever one of these could be taken, one of those can be.
fn covered(these: Routes, those: Routes) -> bool {
    these & !COVERS[usize::from(those)] == 0
}

/// For each set of routes, the routes it covers: those asserting all that one of it does.
const COVERS: [Routes; 256] = {
    let mut covers = [0; 256];
    let mut those = 0;
    while those < 256 {
        let mut b = 0;
        while b < 8 {
            if those & (1 << b) != 0 {
                let mut a = 0;
                while a < 8 {
                    if b & !a == 0 {
                        covers[those] |= 1 << a;
                    }
                    a += 1;
                }
            }
            b += 1;
        }
        those += 1;
    }
    covers
};

/// A regex's position automaton: one position per byte class it reads, which positions may
/// follow which through which assertions, and which may read whitespace.
#[derive(Default)]
struct Positions {
    follow: Vec<Vec<(usize, Asserts)>>,
    reads_space: Vec<bool>,
}

/// A part of the regex: the positions it may start with (and the assertions before them) and
/// end with (and the assertions after them), and the assertions of each way it may match
/// nothing (none: it cannot).
struct Part {
    first: Vec<(usize, Asserts)>,
    last: Vec<(usize, Asserts)>,
    empty: Vec<Asserts>,
}

impl Part {
    fn nothing(asserts: Asserts) -> Self {
        Self {
            first: Vec::new(),
            last: Vec::new(),
            empty: vec![asserts],
        }
    }
}

fn union<T: Ord>(mut a: Vec<T>, b: impl IntoIterator<Item = T>) -> Vec<T> {
    a.extend(b);
    a.sort_unstable();
    a.dedup();
    a
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
            first: vec![(p, 0)],
            last: vec![(p, 0)],
            empty: Vec::new(),
        })
    }

    /// Adds the positions of `hir`; `None` when it has something the proof does not cover.
    fn add(&mut self, hir: &Hir) -> Option<Part> {
        match hir.kind() {
            HirKind::Empty => Some(Part::nothing(0)),
            HirKind::Literal(literal) => {
                let mut whole = Part::nothing(0);
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
            HirKind::Look(Look::WordAscii) => Some(Part::nothing(WORD)),
            HirKind::Look(Look::Start) => Some(Part::nothing(START)),
            HirKind::Look(Look::End) => Some(Part::nothing(END)),
            HirKind::Look(_) => None,
            HirKind::Capture(capture) => self.add(&capture.sub),
            HirKind::Concat(parts) => {
                let mut whole = Part::nothing(0);
                for part in parts {
                    let next = self.add(part)?;
                    whole = self.then(whole, next);
                }
                Some(whole)
            }
            HirKind::Alternation(parts) => {
                let mut whole = Part {
                    empty: Vec::new(),
                    ..Part::nothing(0)
                };
                for part in parts {
                    let next = self.add(part)?;
                    whole.first = union(whole.first, next.first);
                    whole.last = union(whole.last, next.last);
                    whole.empty = union(whole.empty, next.empty);
                }
                Some(whole)
            }
            HirKind::Repetition(rep) => {
                // Unrolled: `x{2,4}` as `x x x? x?`, `x{1,}` as `x x*`. An iteration that
                // matches nothing only adds assertions to a route, so the routes that skip
                // it are the ones to keep.
                let mut whole = Part::nothing(0);
                for _ in 0..rep.min {
                    let next = self.add(&rep.sub)?;
                    whole = self.then(whole, next);
                }
                let optional = |part: Part| Part {
                    empty: union(part.empty, [0]),
                    ..part
                };
                match rep.max {
                    None => {
                        let looped = self.add(&rep.sub)?;
                        for &(l, after) in &looped.last {
                            for &(f, before) in &looped.first {
                                self.follow[l].push((f, after | before));
                            }
                        }
                        whole = self.then(whole, optional(looped));
                    }
                    Some(max) => {
                        for _ in rep.min..max {
                            let next = self.add(&rep.sub)?;
                            whole = self.then(whole, optional(next));
                        }
                    }
                }
                Some(whole)
            }
        }
    }

    /// `a` followed by `b`.
    fn then(&mut self, a: Part, b: Part) -> Part {
        for &(l, after) in &a.last {
            for &(f, before) in &b.first {
                self.follow[l].push((f, after | before));
            }
        }
        let first = union(
            a.first,
            a.empty
                .iter()
                .flat_map(|&e| b.first.iter().map(move |&(f, before)| (f, e | before))),
        );
        let last = union(
            b.last,
            b.empty
                .iter()
                .flat_map(|&e| a.last.iter().map(move |&(l, after)| (l, after | e))),
        );
        let empty = union(
            Vec::new(),
            a.empty
                .iter()
                .flat_map(|&x| b.empty.iter().map(move |&y| x | y)),
        );
        Part { first, last, empty }
    }

    /// Whether, wherever two positions that may read whitespace follow each other, one of
    /// them can be left out of any match through them: the routes on from the first (or to
    /// the second) reach everything the routes on from the second (to the first) reach, and
    /// assert no more on the way. (What a route asserts is judged on the same neighbours
    /// either way: a space on the side of the one left out, the same byte on the other.)
    fn proves_folding_closed(&self, whole: &Part) -> bool {
        let n = self.follow.len();
        // For each position, the routes to each other position (and to the end or from the
        // start of a match, kept as position `n`), by position.
        let mut next: Vec<Vec<(usize, Routes)>> = vec![Vec::new(); n];
        let mut before: Vec<Vec<(usize, Routes)>> = vec![Vec::new(); n];
        for (p, follow) in self.follow.iter().enumerate() {
            for &(q, asserts) in follow {
                next[p].push((q, route(asserts)));
                before[q].push((p, route(asserts)));
            }
        }
        for &(l, asserts) in &whole.last {
            next[l].push((n, route(asserts)));
        }
        for &(f, asserts) in &whole.first {
            before[f].push((n, route(asserts)));
        }
        for routes in next.iter_mut().chain(before.iter_mut()) {
            routes.sort_unstable();
            routes.dedup_by(|later, kept| {
                let same = later.0 == kept.0;
                if same {
                    kept.1 |= later.1;
                }
                same
            });
        }
        // Both by position: one walk through each.
        let reaches = |from: &[(usize, Routes)], to: &[(usize, Routes)]| {
            let mut to = to.iter().peekable();
            from.iter().all(|&(x, routes)| {
                while to.next_if(|(y, _)| *y < x).is_some() {}
                let there = to.peek().filter(|(y, _)| *y == x).map_or(0, |(_, r)| *r);
                covered(routes, there)
            })
        };
        (0..n).all(|p| {
            self.follow[p].iter().all(|&(q, asserts)| {
                p == q
                    || !(self.reads_space[p] && self.reads_space[q])
                    // Between two whitespace bytes no word boundary holds, and neither end
                    // of the text lies.
                    || asserts != 0
                    || reaches(&next[q], &next[p])
                    || reaches(&before[p], &before[q])
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
        // Each with a text it matches whose folded view it does not, where there is one.
        for (pattern, broken) in [
            // Two mandatory whitespace bytes.
            (r"a\s\sb", Some("a  b")),
            (r"a.\sb", Some("a \nb")),
            (r"a\s+ b", Some("a\t b")),
            // A minimum count over a part that may read whitespace.
            (r"a.{5,20}b", Some("a     b")),
            // Whitespace other than a space.
            (r"a\nb", Some("a\nb")),
            (r"a[\t]b", Some("a\tb")),
            // Lines.
            (r"(?m)^system:", Some("note\nsystem:")),
            // Not a word boundary: not covered.
            (r"\Bx", None),
            // A way on that asserts a word boundary where the way it replaces did not.
            (r"\s(\b|\s),", Some("a  ,")),
        ] {
            assert!(!survives_folding(pattern), "{pattern}");
            if let Some(text) = broken {
                let regex = RegexBuilder::new(pattern).unicode(false).build().unwrap();
                assert!(regex.is_match(text.as_bytes()), "{pattern} {text:?}");
                assert!(!regex.is_match(fold(text).as_bytes()), "{pattern} {text:?}");
            }
        }
    }

    fn small_regex() -> impl Strategy<Value = String> {
        let atom = proptest::sample::select(vec![
            "a", " ", "\\s", ".", "\\b", "[ a]", "[^a]", ",", "$", "^", "\\n",
        ])
        .prop_map(String::from);
        atom.prop_recursive(4, 16, 3, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 2..4).prop_map(|p| p.concat()),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}|{b})")),
                (
                    inner,
                    proptest::sample::select(vec!["?", "*", "+", "{0,2}", "{2}", "{1,3}"])
                )
                    .prop_map(|(a, op)| format!("({a}){op}")),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// Whatever small regex the proof accepts matches the folded view of every text it
        /// matches.
        #[test]
        fn what_is_proven_holds(
            pattern in small_regex(),
            text in proptest::collection::vec(
                proptest::sample::select(vec!['a', ' ', ' ', '\n', '\t', ',']),
                0..9,
            ).prop_map(String::from_iter),
        ) {
            let regex = RegexBuilder::new(&pattern).unicode(false).build().unwrap();
            if survives_folding(&pattern) && regex.is_match(text.as_bytes()) {
                prop_assert!(
                    regex.is_match(fold(&text).as_bytes()),
                    "{pattern} matches {text:?} but not its folded view"
                );
            }
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
