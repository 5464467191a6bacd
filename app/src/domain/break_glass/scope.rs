//! What a window bypasses: all traffic (the default), or only some API keys, only some
//! models, or both.
//!
//! Precedence: a request is in scope when its key is one of the window's keys (or the window
//! names no keys) **and** its model is one of the window's models (or the window names no
//! models). A key in scope with a model out of scope is out of scope, and so is the reverse.
//! Out of scope means scanned and sent to LiteLLM as if no window were open.

use crate::domain::traffic::MODEL_MAX_CHARS;
use crate::domain::{Field, FieldError, WireField};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

pub const SCOPE_MAX_KEYS: usize = 50;
pub const SCOPE_MAX_MODELS: usize = 20;

/// The scope an operator chose, parsed: key ids (not yet checked against the keys that
/// exist) and exact model names. Both empty means everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScopeChoice {
    pub keys: BTreeSet<i64>,
    pub models: BTreeSet<String>,
}

impl ScopeChoice {
    /// `scope_keys` then `scope_models`, as either door sends them: a list, or the form's
    /// text (ids or names separated by commas or line breaks). Missing or empty: no limit.
    pub fn from_wire(
        keys: Option<WireField>,
        models: Option<WireField>,
    ) -> Result<Self, FieldError> {
        Ok(Self {
            keys: parse_keys(keys)?,
            models: parse_models(models)?,
        })
    }

    pub fn is_everything(&self) -> bool {
        self.keys.is_empty() && self.models.is_empty()
    }

    /// The scope with each key's name, given the names of the keys that exist; the first id
    /// with no name is refused.
    pub fn named(
        &self,
        name_of: impl Fn(i64) -> Option<String>,
    ) -> Result<BypassScope, FieldError> {
        let keys =
            self.keys
                .iter()
                .map(|&id| {
                    name_of(id)
                        .map(|name| ScopedKey { id, name })
                        .ok_or_else(|| {
                            FieldError::new(
                        Field::ScopeKeys,
                        format!("scope_keys: no live API key with the gateway scope has id {id}"),
                    )
                        })
                })
                .collect::<Result<_, _>>()?;
        Ok(BypassScope {
            keys,
            models: self.models.iter().cloned().collect(),
        })
    }
}

fn keys_rule() -> FieldError {
    FieldError::new(
        Field::ScopeKeys,
        format!("scope_keys must be API key ids (whole numbers above 0), at most {SCOPE_MAX_KEYS}"),
    )
}

fn parse_keys(raw: Option<WireField>) -> Result<BTreeSet<i64>, FieldError> {
    let ids: Vec<i64> = match raw {
        None => Vec::new(),
        Some(WireField::Whole(id)) => vec![id],
        Some(WireField::Text(text)) => items(&text)
            .map(|item| item.parse::<i64>().map_err(|_| keys_rule()))
            .collect::<Result<_, _>>()?,
        Some(WireField::List(list)) => list
            .into_iter()
            .map(|item| match item {
                WireField::Whole(id) => Ok(id),
                _ => Err(keys_rule()),
            })
            .collect::<Result<_, _>>()?,
        Some(WireField::Other(_)) => return Err(keys_rule()),
    };
    let ids: BTreeSet<i64> = ids.into_iter().collect();
    if ids.len() > SCOPE_MAX_KEYS || ids.iter().any(|&id| id < 1) {
        return Err(keys_rule());
    }
    Ok(ids)
}

fn models_rule(detail: &str) -> FieldError {
    FieldError::new(
        Field::ScopeModels,
        format!(
            "scope_models must be model names (1 to {MODEL_MAX_CHARS} characters, no commas or \
             control characters), at most {SCOPE_MAX_MODELS}{detail}"
        ),
    )
}

fn parse_models(raw: Option<WireField>) -> Result<BTreeSet<String>, FieldError> {
    let names: Vec<String> = match raw {
        None => Vec::new(),
        Some(WireField::Text(text)) => items(&text).map(str::to_owned).collect(),
        Some(WireField::List(list)) => list
            .into_iter()
            .map(|item| match item {
                WireField::Text(name) => Ok(name.trim().to_owned()),
                _ => Err(models_rule("")),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(models_rule("")),
    };
    for name in &names {
        let chars = name.chars().count();
        if chars == 0 || chars > MODEL_MAX_CHARS {
            return Err(models_rule(&format!(" (one has {chars} characters)")));
        }
        if let Some(c) = name.chars().find(|c| c.is_control() || *c == ',') {
            return Err(models_rule(&format!(" (found U+{:04X})", u32::from(c))));
        }
    }
    let names: BTreeSet<String> = names.into_iter().collect();
    if names.len() > SCOPE_MAX_MODELS {
        return Err(models_rule(&format!(" (now {})", names.len())));
    }
    Ok(names)
}

/// The non-empty items of a form field, split at commas and line breaks, trimmed.
fn items(text: &str) -> impl Iterator<Item = &str> {
    text.split([',', '\n'])
        .map(str::trim)
        .filter(|item| !item.is_empty())
}

/// A key a window's scope names, with its name as it was when the window opened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopedKey {
    pub id: i64,
    pub name: String,
}

/// What an open window bypasses. Both lists empty: everything.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BypassScope {
    pub keys: Vec<ScopedKey>,
    pub models: Vec<String>,
}

impl BypassScope {
    pub fn is_everything(&self) -> bool {
        self.keys.is_empty() && self.models.is_empty()
    }

    /// Whether a request with this key and model is bypassed (see the module's precedence).
    pub fn covers(&self, key_id: i64, model: &str) -> bool {
        (self.keys.is_empty() || self.keys.iter().any(|k| k.id == key_id))
            && (self.models.is_empty() || self.models.iter().any(|m| m == model))
    }

    /// The scope as a store keeps it: `None` for everything, else its JSON.
    pub fn to_stored(&self) -> Option<String> {
        (!self.is_everything()).then(|| serde_json::to_string(self).unwrap_or_default())
    }

    /// The scope a store kept (`to_stored`).
    pub fn from_stored(stored: Option<&str>) -> Result<Self, serde_json::Error> {
        stored.map_or(Ok(Self::default()), serde_json::from_str)
    }

    /// The scope in words, for the banner, alerts, audit records and reviews.
    pub fn describe(&self) -> String {
        let keys = || {
            let names: Vec<String> = self
                .keys
                .iter()
                .map(|k| format!("{} (#{})", k.name, k.id))
                .collect();
            format!(
                "API key{} {}",
                if names.len() == 1 { "" } else { "s" },
                names.join(", ")
            )
        };
        let models = || {
            format!(
                "model{} {}",
                if self.models.len() == 1 { "" } else { "s" },
                self.models.join(", ")
            )
        };
        match (self.keys.is_empty(), self.models.is_empty()) {
            (true, true) => "all traffic".to_owned(),
            (false, true) => format!("only {}", keys()),
            (true, false) => format!("only {}", models()),
            (false, false) => format!("only {} when calling {}", keys(), models()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn scope(keys: &[i64], models: &[&str]) -> BypassScope {
        BypassScope {
            keys: keys
                .iter()
                .map(|&id| ScopedKey {
                    id,
                    name: format!("key-{id}"),
                })
                .collect(),
            models: models.iter().map(|m| (*m).to_owned()).collect(),
        }
    }

    #[test]
    fn precedence_a_request_must_match_every_list_the_window_names() {
        let everything = scope(&[], &[]);
        assert!(everything.covers(1, "gpt-4o"));
        let keys = scope(&[1, 2], &[]);
        assert!(keys.covers(2, "anything"));
        assert!(!keys.covers(3, "gpt-4o"));
        let models = scope(&[], &["gpt-4o"]);
        assert!(models.covers(9, "gpt-4o"));
        assert!(!models.covers(9, "gpt-4o-mini"));
        let both = scope(&[1], &["gpt-4o"]);
        assert!(both.covers(1, "gpt-4o"));
        assert!(
            !both.covers(1, "claude"),
            "key in scope, model out: scanned"
        );
        assert!(
            !both.covers(2, "gpt-4o"),
            "model in scope, key out: scanned"
        );
        assert!(!both.covers(2, "claude"));
    }

    #[test]
    fn a_model_matches_exactly_so_a_disguised_name_is_out_of_scope() {
        let models = scope(&[], &["gpt-4o"]);
        for disguised in ["GPT-4o", "gpt-4o ", " gpt-4o", "gpt\u{200b}-4o", "gpt-4о"] {
            assert!(!models.covers(1, disguised), "{disguised:?}");
        }
    }

    #[test]
    fn a_stored_scope_reads_back() {
        for s in [scope(&[], &[]), scope(&[4, 9], &[]), scope(&[1], &["m\"1"])] {
            assert_eq!(
                BypassScope::from_stored(s.to_stored().as_deref()).unwrap(),
                s
            );
        }
        assert_eq!(scope(&[], &[]).to_stored(), None);
        assert!(BypassScope::from_stored(Some("{\"keys\": 3}")).is_err());
    }

    #[test]
    fn the_scope_reads_in_words() {
        assert_eq!(scope(&[], &[]).describe(), "all traffic");
        assert_eq!(scope(&[3], &[]).describe(), "only API key key-3 (#3)");
        assert_eq!(
            scope(&[1, 2], &["gpt-4o"]).describe(),
            "only API keys key-1 (#1), key-2 (#2) when calling model gpt-4o"
        );
        assert_eq!(scope(&[], &["a", "b"]).describe(), "only models a, b");
    }

    #[test]
    fn both_doors_give_the_same_choice() {
        let form = ScopeChoice::from_wire(
            Some(WireField::Text(" 3, 1\n3 ".into())),
            Some(WireField::Text("gpt-4o,\n claude-3 ,".into())),
        )
        .unwrap();
        let json: serde_json::Value =
            serde_json::json!({"k": [1, 3, 3], "m": ["claude-3", "gpt-4o"]});
        let wire = |v: &serde_json::Value| serde_json::from_value::<WireField>(v.clone()).ok();
        let api = ScopeChoice::from_wire(wire(&json["k"]), wire(&json["m"])).unwrap();
        assert_eq!(form, api);
        assert_eq!(form.keys.iter().copied().collect::<Vec<_>>(), vec![1, 3]);
        assert!(
            ScopeChoice::from_wire(None, Some(WireField::Text(" , ".into())))
                .unwrap()
                .is_everything()
        );
    }

    #[test]
    fn bad_scopes_name_their_field_and_rule() {
        let keys = |v: serde_json::Value| {
            ScopeChoice::from_wire(serde_json::from_value(v).ok(), None).unwrap_err()
        };
        for bad in [
            serde_json::json!([0]),
            serde_json::json!([-4]),
            serde_json::json!(["7"]),
            serde_json::json!("seven"),
            serde_json::json!({"id": 1}),
            serde_json::json!((1..=51).collect::<Vec<i64>>()),
        ] {
            let e = keys(bad.clone());
            assert_eq!(e.field, Field::ScopeKeys, "{bad}");
            assert!(e.message.contains("at most 50"), "{}", e.message);
        }
        let models = |v: serde_json::Value| {
            ScopeChoice::from_wire(None, serde_json::from_value(v).ok()).unwrap_err()
        };
        for bad in [
            serde_json::json!([""]),
            serde_json::json!([3]),
            serde_json::json!(["a,b"]),
            serde_json::json!(["tab\there"]),
            serde_json::json!(["x".repeat(MODEL_MAX_CHARS + 1)]),
            serde_json::json!((0..21).map(|i| format!("m{i}")).collect::<Vec<_>>()),
        ] {
            assert_eq!(models(bad.clone()).field, Field::ScopeModels, "{bad}");
        }
    }

    #[test]
    fn an_unknown_key_is_refused_by_id() {
        let choice = ScopeChoice::from_wire(Some(WireField::Text("4, 5".into())), None).unwrap();
        let e = choice
            .named(|id| (id == 4).then(|| "ci".to_owned()))
            .unwrap_err();
        assert_eq!(e.field, Field::ScopeKeys);
        assert!(e.message.contains("id 5"), "{}", e.message);
    }

    proptest! {
        /// Narrowing a scope never lets more through: a window's keys and models only take
        /// away from "everything".
        #[test]
        fn a_named_list_only_narrows(
            keys in proptest::collection::vec(1i64..6, 0..4),
            models in proptest::collection::vec("[a-c]", 0..3),
            key in 1i64..6,
            model in "[a-d]",
        ) {
            let models: Vec<&str> = models.iter().map(String::as_str).collect();
            let s = scope(&keys, &models);
            let only_keys = scope(&keys, &[]);
            let only_models = scope(&[], &models);
            prop_assert_eq!(
                s.covers(key, &model),
                only_keys.covers(key, &model) && only_models.covers(key, &model)
            );
            prop_assert!(scope(&[], &[]).covers(key, &model));
        }
    }
}
