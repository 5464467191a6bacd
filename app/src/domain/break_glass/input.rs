//! The operator's activation input, parsed once into types that cannot hold an invalid value.
//!
//! These types compile for the browser (the dialog shows their errors live) and for the server
//! (which applies the same parse and never trusts the browser).

use super::scope::ScopeChoice;
use crate::domain::{Field, FieldError, WireField};
use serde::{Deserialize, Serialize};

pub const REASON_MIN_CHARS: usize = 10;
pub const REASON_MAX_CHARS: usize = 500;
pub const DURATION_MIN_MINUTES: u32 = 15;
pub const DURATION_MAX_MINUTES: u32 = 240;
/// Presets offered by the dialog, in minutes.
pub const DURATION_PRESETS: [u32; 5] = [15, 30, 60, 120, 240];
pub const CONFIRMATION_WORD: &str = "CONFIRM";

/// Why break-glass is being pulled: trimmed, 10 to 500 characters, no control characters
/// other than newline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Reason(String);

impl Reason {
    /// A raw type's reason field: text, judged by `parse`; anything else is missing.
    pub fn from_wire(field: Option<WireField>) -> Result<Self, FieldError> {
        match field {
            Some(WireField::Text(text)) => Self::parse(&text),
            _ => Err(FieldError::new(
                Field::Reason,
                format!(
                    "Reason is required: text of {REASON_MIN_CHARS} to {REASON_MAX_CHARS} characters"
                ),
            )),
        }
    }

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let trimmed = raw.trim();
        let error = |message: String| Err(FieldError::new(Field::Reason, message));
        if let Some(c) = trimmed.chars().find(|c| c.is_control() && *c != '\n') {
            return error(format!(
                "Reason must not contain control characters (found U+{:04X}); only line breaks are allowed",
                u32::from(c)
            ));
        }
        let chars = trimmed.chars().count();
        if chars < REASON_MIN_CHARS {
            return error(format!(
                "Reason must be at least {REASON_MIN_CHARS} characters (now {chars})"
            ));
        }
        if chars > REASON_MAX_CHARS {
            return error(format!(
                "Reason must be at most {REASON_MAX_CHARS} characters (now {chars})"
            ));
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Reason {
    type Error = FieldError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Reason> for String {
    fn from(value: Reason) -> Self {
        value.0
    }
}

/// How long the shield is bypassed: whole minutes from 15 to 240 inclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "u32")]
pub struct BypassDuration(u32);

impl BypassDuration {
    pub fn parse(minutes: i64) -> Result<Self, FieldError> {
        match u32::try_from(minutes) {
            Ok(m) if (DURATION_MIN_MINUTES..=DURATION_MAX_MINUTES).contains(&m) => Ok(Self(m)),
            _ => Err(Self::range_error()),
        }
    }

    /// Parses what an operator typed into the minutes field.
    pub fn parse_input(raw: &str) -> Result<Self, FieldError> {
        let minutes: i64 = raw.trim().parse().map_err(|_| Self::not_whole_minutes())?;
        Self::parse(minutes)
    }

    fn not_whole_minutes() -> FieldError {
        FieldError::new(
            Field::DurationMinutes,
            format!(
                "Duration must be a whole number of minutes between {DURATION_MIN_MINUTES} and {DURATION_MAX_MINUTES}"
            ),
        )
    }

    fn range_error() -> FieldError {
        FieldError::new(
            Field::DurationMinutes,
            format!(
                "Duration must be between {DURATION_MIN_MINUTES} minutes and 4 hours ({DURATION_MAX_MINUTES} minutes), in whole minutes"
            ),
        )
    }

    pub fn minutes(self) -> u32 {
        self.0
    }

    pub fn as_delta(self) -> chrono::TimeDelta {
        chrono::TimeDelta::minutes(i64::from(self.0))
    }
}

impl TryFrom<i64> for BypassDuration {
    type Error = FieldError;
    fn try_from(value: i64) -> Result<Self, Self::Error> {
        Self::parse(value)
    }
}

impl From<BypassDuration> for u32 {
    fn from(value: BypassDuration) -> Self {
        value.0
    }
}

/// Proof that the operator typed `CONFIRM`.
///
/// The match is exact: case-sensitive and without trimming, so `confirm`, `CONFIRM ` and
/// ` CONFIRM` are all refused. A deliberate act should be typed deliberately, and an exact rule
/// is one an operator can predict; the error message says so.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Confirmation(());

impl Confirmation {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        if raw == CONFIRMATION_WORD {
            Ok(Self(()))
        } else {
            Err(Self::mismatch())
        }
    }

    fn mismatch() -> FieldError {
        FieldError::new(
            Field::Confirm,
            format!("Type {CONFIRMATION_WORD} exactly: capital letters, no spaces before or after"),
        )
    }
}

/// A complete, valid activation request. The only way to get one is to parse an
/// [`ActivationRequest`] with `Activation::try_from`, which both doors do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Activation {
    pub reason: Reason,
    pub duration: BypassDuration,
    /// What the window bypasses; everything unless the operator narrowed it.
    pub scope: ScopeChoice,
    pub confirmation: Confirmation,
}

/// An activation as either door receives it: the dialog's server function or
/// `POST /api/break-glass/activate`. A field may be missing or of the wrong type; parsing
/// names the first field, in form order, that is not valid.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ActivationRequest {
    #[serde(default)]
    pub reason: Option<WireField>,
    #[serde(default)]
    pub duration_minutes: Option<WireField>,
    #[serde(default)]
    pub scope_keys: Option<WireField>,
    #[serde(default)]
    pub scope_models: Option<WireField>,
    #[serde(default)]
    pub confirm: Option<WireField>,
}

impl ActivationRequest {
    /// The dialog's three fields, as typed.
    pub fn from_form(reason: String, duration_minutes: String, confirm: String) -> Self {
        Self {
            reason: Some(WireField::Text(reason)),
            duration_minutes: Some(WireField::Text(duration_minutes)),
            scope_keys: None,
            scope_models: None,
            confirm: Some(WireField::Text(confirm)),
        }
    }

    /// The dialog's scope fields, as chosen: key ids and model names, each separated by commas.
    pub fn with_scope(self, keys: String, models: String) -> Self {
        Self {
            scope_keys: Some(WireField::Text(keys)),
            scope_models: Some(WireField::Text(models)),
            ..self
        }
    }

    /// The reason as sent, for the audit record of a refused activation (empty when it is
    /// not text).
    pub fn reason_text(&self) -> &str {
        match &self.reason {
            Some(WireField::Text(text)) => text,
            _ => "",
        }
    }
}

impl TryFrom<ActivationRequest> for Activation {
    type Error = FieldError;

    /// Reason, duration, scope (keys, models), then confirmation: the first that is missing, mistyped or
    /// invalid is the one named.
    fn try_from(raw: ActivationRequest) -> Result<Self, FieldError> {
        let reason = Reason::from_wire(raw.reason)?;
        let duration = match raw.duration_minutes {
            Some(WireField::Whole(minutes)) => BypassDuration::parse(minutes)?,
            Some(WireField::Text(text)) => BypassDuration::parse_input(&text)?,
            _ => return Err(BypassDuration::not_whole_minutes()),
        };
        let scope = ScopeChoice::from_wire(raw.scope_keys, raw.scope_models)?;
        let confirmation = match raw.confirm {
            Some(WireField::Text(text)) => Confirmation::parse(&text)?,
            _ => return Err(Confirmation::mismatch()),
        };
        Ok(Self {
            reason,
            duration,
            scope,
            confirmation,
        })
    }
}

/// What the acknowledging operator says about the window: 10 to 500 characters, trimmed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AckNote(String);

impl AckNote {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let note = raw.trim();
        let chars = note.chars().count();
        if (REASON_MIN_CHARS..=REASON_MAX_CHARS).contains(&chars)
            && !note.chars().any(char::is_control)
        {
            Ok(Self(note.to_owned()))
        } else {
            Err(Self::rule())
        }
    }

    fn rule() -> FieldError {
        FieldError::new(
            Field::Note,
            format!(
                "Note must be {REASON_MIN_CHARS} to {REASON_MAX_CHARS} characters of text, on one line"
            ),
        )
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An acknowledgement as either door receives it: the banner's form or
/// `POST /api/break-glass/acknowledge`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct AcknowledgementRequest {
    #[serde(default)]
    pub note: Option<WireField>,
}

impl TryFrom<AcknowledgementRequest> for AckNote {
    type Error = FieldError;

    fn try_from(raw: AcknowledgementRequest) -> Result<Self, FieldError> {
        match raw.note {
            Some(WireField::Text(text)) => AckNote::parse(&text),
            _ => Err(AckNote::rule()),
        }
    }
}

/// How many minutes an extension adds: whole minutes, at least 1 and at most what could still
/// fit in a window of the shortest duration. Whether they fit in the window at hand (which
/// never lasts more than 4 hours from its activation) is the lifecycle's decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtensionMinutes(u32);

pub const EXTENSION_MAX_MINUTES: u32 = DURATION_MAX_MINUTES - DURATION_MIN_MINUTES;

impl ExtensionMinutes {
    pub fn parse(minutes: i64) -> Result<Self, FieldError> {
        match u32::try_from(minutes) {
            Ok(m) if (1..=EXTENSION_MAX_MINUTES).contains(&m) => Ok(Self(m)),
            _ => Err(Self::rule()),
        }
    }

    fn rule() -> FieldError {
        FieldError::new(
            Field::Minutes,
            format!("Minutes must be a whole number from 1 to {EXTENSION_MAX_MINUTES}"),
        )
    }

    pub fn minutes(self) -> u32 {
        self.0
    }
}

/// A valid extension: built only by `Extension::try_from(ExtensionRequest)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extension {
    pub reason: Reason,
    pub minutes: ExtensionMinutes,
}

/// An extension as either door receives it: the banner's "Extend" form or
/// `POST /api/break-glass/extend`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ExtensionRequest {
    #[serde(default)]
    pub reason: Option<WireField>,
    #[serde(default)]
    pub minutes: Option<WireField>,
}

impl ExtensionRequest {
    /// The form's two fields, as typed.
    pub fn from_form(reason: String, minutes: String) -> Self {
        Self {
            reason: Some(WireField::Text(reason)),
            minutes: Some(WireField::Text(minutes)),
        }
    }
}

impl TryFrom<ExtensionRequest> for Extension {
    type Error = FieldError;

    /// Reason, then minutes: the first that is missing, mistyped or invalid is the one named.
    fn try_from(raw: ExtensionRequest) -> Result<Self, FieldError> {
        let reason = Reason::from_wire(raw.reason)?;
        let minutes = match raw.minutes {
            Some(WireField::Whole(minutes)) => ExtensionMinutes::parse(minutes)?,
            Some(WireField::Text(text)) => {
                ExtensionMinutes::parse(text.trim().parse().map_err(|_| ExtensionMinutes::rule())?)?
            }
            _ => return Err(ExtensionMinutes::rule()),
        };
        Ok(Self { reason, minutes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn an_extension_names_reason_then_minutes_the_same_at_both_doors() {
        let json = |v: serde_json::Value| {
            Extension::try_from(serde_json::from_value::<ExtensionRequest>(v).unwrap())
        };
        let form =
            |r: &str, m: &str| Extension::try_from(ExtensionRequest::from_form(r.into(), m.into()));
        let ok = json(serde_json::json!({"reason": "still waiting on the vendor", "minutes": 30}))
            .unwrap();
        assert_eq!(ok.minutes.minutes(), 30);
        assert_eq!(form(" still waiting on the vendor ", " 30 "), Ok(ok));
        for (reason, minutes, field) in [
            ("short", "0", Field::Reason),
            ("still waiting on the vendor", "0", Field::Minutes),
            ("still waiting on the vendor", "226", Field::Minutes),
            (
                "still waiting on the vendor",
                "half an hour",
                Field::Minutes,
            ),
        ] {
            let from_form = form(reason, minutes).unwrap_err();
            let minutes_json = minutes
                .parse::<i64>()
                .map_or_else(|_| serde_json::json!(minutes), |m| serde_json::json!(m));
            let from_json =
                json(serde_json::json!({"reason": reason, "minutes": minutes_json})).unwrap_err();
            assert_eq!(from_form.field, field, "{reason} {minutes}");
            assert_eq!(from_form, from_json, "{reason} {minutes}");
        }
        assert_eq!(
            json(serde_json::json!({"reason": "still waiting on the vendor"}))
                .unwrap_err()
                .field,
            Field::Minutes
        );
    }

    #[test]
    fn reason_is_trimmed_and_counted_in_characters() {
        let r = Reason::parse("  database down  ").unwrap();
        assert_eq!(r.as_str(), "database down");
        // Ten characters of four bytes each: valid, although 40 bytes long.
        assert!(Reason::parse(&"🔥".repeat(10)).is_ok());
        let err = Reason::parse(&"🔥".repeat(9)).unwrap_err();
        assert_eq!(err.field, Field::Reason);
        assert_eq!(err.message, "Reason must be at least 10 characters (now 9)");
        assert!(Reason::parse(&"é".repeat(500)).is_ok());
        assert_eq!(
            Reason::parse(&"é".repeat(501)).unwrap_err().message,
            "Reason must be at most 500 characters (now 501)"
        );
    }

    #[test]
    fn reason_allows_newlines_but_no_other_control_characters() {
        assert!(Reason::parse("line one\nline two").is_ok());
        let err = Reason::parse("tab\there is bad").unwrap_err();
        assert!(err.message.contains("U+0009"), "{}", err.message);
        assert!(Reason::parse("bell\u{7} rings here").is_err());
    }

    #[test]
    fn whitespace_only_reason_is_too_short() {
        let err = Reason::parse("               ").unwrap_err();
        assert_eq!(err.message, "Reason must be at least 10 characters (now 0)");
    }

    #[test]
    fn duration_bounds_are_inclusive() {
        assert_eq!(BypassDuration::parse(15).unwrap().minutes(), 15);
        assert_eq!(BypassDuration::parse(240).unwrap().minutes(), 240);
        for bad in [14, 241, 0, -15, i64::MAX, i64::MIN] {
            let err = BypassDuration::parse(bad).unwrap_err();
            assert_eq!(err.field, Field::DurationMinutes);
        }
        assert!(BypassDuration::parse_input(" 60 ").is_ok());
        for bad in ["", "1.5", "sixty", "60m"] {
            let err = BypassDuration::parse_input(bad).unwrap_err();
            assert!(
                err.message.contains("whole number"),
                "{bad}: {}",
                err.message
            );
        }
        for preset in DURATION_PRESETS {
            assert!(BypassDuration::parse(i64::from(preset)).is_ok());
        }
    }

    #[test]
    fn confirmation_is_exact() {
        assert!(Confirmation::parse("CONFIRM").is_ok());
        for bad in [
            "confirm",
            "Confirm",
            "CONFIRM ",
            " CONFIRM",
            "CONFIRMED",
            "",
        ] {
            let err = Confirmation::parse(bad).unwrap_err();
            assert_eq!(err.field, Field::Confirm, "{bad:?}");
        }
    }

    fn through_the_form(
        reason: &str,
        minutes: &str,
        confirm: &str,
    ) -> Result<Activation, FieldError> {
        Activation::try_from(ActivationRequest::from_form(
            reason.into(),
            minutes.into(),
            confirm.into(),
        ))
    }

    fn through_json(body: serde_json::Value) -> Result<Activation, FieldError> {
        Activation::try_from(serde_json::from_value::<ActivationRequest>(body).unwrap())
    }

    #[test]
    fn activation_reports_fields_in_form_order() {
        let field = |r: &str, m: &str, c: &str| through_the_form(r, m, c).unwrap_err().field;
        assert_eq!(field("short", "5", "no"), Field::Reason);
        assert_eq!(
            field("long enough reason", "5", "no"),
            Field::DurationMinutes
        );
        assert_eq!(
            field("long enough reason", "ten", "no"),
            Field::DurationMinutes
        );
        assert_eq!(field("long enough reason", "30", "no"), Field::Confirm);
        assert!(through_the_form("long enough reason", " 30 ", "CONFIRM").is_ok());
    }

    #[test]
    fn json_body_names_missing_and_mistyped_fields() {
        let ok = serde_json::json!({"reason": "shield is down", "duration_minutes": 30, "confirm": "CONFIRM"});
        assert_eq!(through_json(ok).unwrap().duration.minutes(), 30);
        let err = through_json(serde_json::json!({"duration_minutes": 30, "confirm": "CONFIRM"}))
            .unwrap_err();
        assert_eq!(err.field, Field::Reason);
        assert!(err.message.starts_with("Reason is required"));
        let err =
            through_json(serde_json::json!({"reason": 42, "duration_minutes": "x"})).unwrap_err();
        assert_eq!(err.field, Field::Reason);
        for bad in [
            serde_json::json!(20.5),
            serde_json::json!("half an hour"),
            serde_json::json!([30]),
            serde_json::Value::Null,
        ] {
            let body = serde_json::json!({"reason": "shield is down", "duration_minutes": bad, "confirm": "CONFIRM"});
            assert_eq!(
                through_json(body).unwrap_err().field,
                Field::DurationMinutes
            );
        }
        let err = through_json(serde_json::json!({"reason": "shield is down", "duration_minutes": 30, "confirm": true})).unwrap_err();
        assert_eq!(err.field, Field::Confirm);
    }

    #[test]
    fn serde_refuses_invalid_values() {
        assert!(serde_json::from_str::<Reason>("\"too short\"").is_err());
        assert!(serde_json::from_str::<BypassDuration>("300").is_err());
        assert_eq!(
            serde_json::from_str::<BypassDuration>("45")
                .unwrap()
                .minutes(),
            45
        );
    }

    /// Reasons as people and attackers type them: mostly ordinary letters, with whitespace
    /// (trimmed at the ends) and any other character mixed in, from empty to past the longest
    /// allowed; in two of three, control characters (refused, but for line breaks) put in
    /// at random places.
    fn typed_reason() -> impl Strategy<Value = String> {
        let ordinary: Vec<char> = ('a'..='z').chain('A'..='Z').chain(" .,0".chars()).collect();
        let piece = prop_oneof![
            12 => prop::sample::select(ordinary),
            2 => prop::sample::select(vec![' ', '\t', '\n', '\r', '\u{a0}', '\u{3000}']),
            1 => any::<char>(),
        ];
        let control = prop_oneof![
            prop::char::range('\u{0}', '\u{1f}'),
            prop::char::range('\u{7f}', '\u{9f}'),
        ];
        (
            prop::collection::vec(piece, 0..REASON_MAX_CHARS + 40),
            prop::collection::vec((any::<prop::sample::Index>(), control), 0..3),
        )
            .prop_map(|(mut chars, controls)| {
                for (at, c) in controls {
                    let at = at.index(chars.len() + 1);
                    chars.insert(at, c);
                }
                chars.into_iter().collect()
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]
        #[test]
        fn a_reason_is_accepted_exactly_when_it_keeps_the_rules(raw in typed_reason()) {
            let trimmed = raw.trim();
            let chars = trimmed.chars().count();
            let clean = !trimmed.chars().any(|c| c.is_control() && c != '\n');
            let keeps_the_rules = clean && (REASON_MIN_CHARS..=REASON_MAX_CHARS).contains(&chars);
            match Reason::parse(&raw) {
                Ok(r) => {
                    prop_assert!(keeps_the_rules, "accepted {raw:?}");
                    prop_assert_eq!(r.as_str(), trimmed);
                }
                Err(e) => {
                    prop_assert!(!keeps_the_rules, "refused {raw:?}: {}", e.message);
                    prop_assert_eq!(e.field, Field::Reason);
                }
            }
        }

        #[test]
        fn both_doors_give_the_same_answer(
            reason in typed_reason(),
            minutes in -20i64..300,
            confirm in prop::sample::select(vec!["CONFIRM", "confirm", "", " CONFIRM"]),
        ) {
            let form = through_the_form(&reason, &minutes.to_string(), confirm);
            let json = through_json(
                serde_json::json!({"reason": reason, "duration_minutes": minutes, "confirm": confirm}),
            );
            prop_assert_eq!(form, json);
        }

        #[test]
        fn duration_accepts_exactly_the_range(m in -1000i64..1000) {
            prop_assert_eq!(BypassDuration::parse(m).is_ok(), (15..=240).contains(&m));
        }
    }
}
