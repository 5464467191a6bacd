//! Operator accounts: who may log in and with which role; managed by admins, each operator
//! changes their own password.

use crate::domain::Role;
use crate::domain::{Field, FieldError, WireField};
use serde::{Deserialize, Serialize};

/// A login name: 3 to 64 characters of letters, digits, `.`, `_`, `-` and `@`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let name = raw.trim();
        let n = name.chars().count();
        if !(3..=64).contains(&n) {
            return Err(FieldError::new(
                Field::Username,
                "Username must be 3 to 64 characters",
            ));
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
        {
            return Err(FieldError::new(
                Field::Username,
                "Username may contain only letters, digits, '.', '_', '-' and '@'",
            ));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password an operator may set: 12 to 256 characters, not only spaces.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewPassword(String);

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword(…)")
    }
}

impl NewPassword {
    pub const MIN_CHARS: usize = 12;
    pub const MAX_CHARS: usize = 256;

    pub fn parse(field: Field, raw: &str) -> Result<Self, FieldError> {
        let n = raw.chars().count();
        if n < Self::MIN_CHARS || raw.trim().is_empty() {
            Err(FieldError::new(
                field,
                format!("Password must be at least {} characters", Self::MIN_CHARS),
            ))
        } else if n > Self::MAX_CHARS {
            Err(FieldError::new(
                field,
                format!("Password must be at most {} characters", Self::MAX_CHARS),
            ))
        } else {
            Ok(Self(raw.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Parses a role name, naming the field.
pub fn parse_role(raw: &str) -> Result<Role, FieldError> {
    Role::parse(raw.trim()).ok_or_else(|| {
        FieldError::new(
            Field::Role,
            "Role must be admin, security_manager, operator, viewer or auditor",
        )
    })
}

/// A new operator as either door receives it: the Operators page's server function or
/// `POST /api/operators`. A field may be missing or of the wrong type.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct NewOperatorRequest {
    #[serde(default)]
    pub username: Option<WireField>,
    #[serde(default)]
    pub password: Option<WireField>,
    #[serde(default)]
    pub role: Option<WireField>,
}

impl NewOperatorRequest {
    /// The form's fields, as typed.
    pub fn from_form(username: String, password: String, role: String) -> Self {
        Self {
            username: Some(WireField::Text(username)),
            password: Some(WireField::Text(password)),
            role: Some(WireField::Text(role)),
        }
    }
}

/// A new operator, checked: built only by `NewOperator::try_from(NewOperatorRequest)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewOperator {
    pub username: Username,
    pub password: NewPassword,
    pub role: Role,
}

impl TryFrom<NewOperatorRequest> for NewOperator {
    type Error = FieldError;

    /// Username, then password, then role: the first that is missing, mistyped or invalid is
    /// the one named (a value that is not text is judged as empty text).
    fn try_from(raw: NewOperatorRequest) -> Result<Self, FieldError> {
        let text = |field: Option<WireField>| match field {
            Some(WireField::Text(text)) => text,
            _ => String::new(),
        };
        Ok(Self {
            username: Username::parse(&text(raw.username))?,
            password: NewPassword::parse(Field::Password, &text(raw.password))?,
            role: parse_role(&text(raw.role))?,
        })
    }
}

/// A login as either door receives it: the login page's server function or
/// `POST /api/auth/login`. A field may be missing or of the wrong type.
#[derive(Clone, Default, Deserialize)]
pub struct LoginRequest {
    #[serde(default)]
    pub username: Option<WireField>,
    #[serde(default)]
    pub password: Option<WireField>,
}

impl LoginRequest {
    /// The form's fields, as typed.
    pub fn from_form(username: String, password: String) -> Self {
        Self {
            username: Some(WireField::Text(username)),
            password: Some(WireField::Text(password)),
        }
    }
}

/// What a login checks: a username (trimmed) and a password, neither empty. Built only by
/// `Credentials::try_from(LoginRequest)`; the username is not held to `Username`'s rules, so
/// that a login never says more than "wrong username or password".
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"…")
            .finish()
    }
}

impl TryFrom<LoginRequest> for Credentials {
    type Error = FieldError;

    /// Username, then password: the first that is missing, not text or empty is named.
    fn try_from(raw: LoginRequest) -> Result<Self, FieldError> {
        let text = |field: Option<WireField>, name: Field, label: &str| match field {
            Some(WireField::Text(text)) if !text.is_empty() => Ok(text),
            _ => Err(FieldError::new(name, format!("{label} is required (text)"))),
        };
        let username = text(raw.username, Field::Username, "Username")?;
        let username = match username.trim() {
            "" => {
                return Err(FieldError::new(
                    Field::Username,
                    "Username is required (text)",
                ))
            }
            trimmed => trimmed.to_owned(),
        };
        Ok(Self {
            username,
            password: text(raw.password, Field::Password, "Password")?,
        })
    }
}

/// At most this many sessions per operator; a new login ends the oldest beyond it.
pub const MAX_SESSIONS: i64 = 5;

#[cfg(test)]
mod tests {
    use super::*;

    fn login(
        username: serde_json::Value,
        password: serde_json::Value,
    ) -> Result<Credentials, FieldError> {
        let raw = serde_json::json!({ "username": username, "password": password });
        Credentials::try_from(serde_json::from_value::<LoginRequest>(raw).unwrap())
    }

    #[test]
    fn a_login_names_the_first_field_that_is_missing_not_text_or_empty() {
        let named = |r: Result<Credentials, FieldError>| r.unwrap_err().field;
        use serde_json::json;
        assert_eq!(named(login(json!(null), json!(7))), Field::Username);
        assert_eq!(named(login(json!("   "), json!(""))), Field::Username);
        assert_eq!(named(login(json!(["admin"]), json!("pw"))), Field::Username);
        assert_eq!(named(login(json!("admin"), json!(null))), Field::Password);
        assert_eq!(named(login(json!("admin"), json!(""))), Field::Password);
        let ok = login(json!("  admin "), json!(" pass word ")).unwrap();
        assert_eq!(
            (ok.username.as_str(), ok.password.as_str()),
            ("admin", " pass word ")
        );
        assert!(
            !format!("{ok:?}").contains("pass word"),
            "the password stays out of logs"
        );
    }

    #[test]
    fn a_new_operator_names_the_first_bad_field_in_form_order() {
        let json = |v: serde_json::Value| {
            NewOperator::try_from(serde_json::from_value::<NewOperatorRequest>(v).unwrap())
        };
        let strong = "correct horse battery";
        for (body, field) in [
            (
                serde_json::json!({"username": 7, "password": 1, "role": 2}),
                Field::Username,
            ),
            (
                serde_json::json!({"username": "ann", "password": "short", "role": "x"}),
                Field::Password,
            ),
            (
                serde_json::json!({"username": "ann", "password": strong}),
                Field::Role,
            ),
            (
                serde_json::json!({"username": "ann", "password": strong, "role": "root"}),
                Field::Role,
            ),
        ] {
            assert_eq!(json(body.clone()).unwrap_err().field, field, "{body}");
        }
        let form = NewOperator::try_from(NewOperatorRequest::from_form(
            " ann ".into(),
            strong.into(),
            "viewer".into(),
        ))
        .unwrap();
        assert_eq!((form.username.as_str(), form.role), ("ann", Role::Viewer));
        assert_eq!(
            NewOperator::try_from(NewOperatorRequest::from_form(
                "ann".into(),
                "short".into(),
                "root".into()
            ))
            .unwrap_err()
            .field,
            Field::Password
        );
    }

    #[test]
    fn passwords_need_twelve_characters() {
        assert_eq!(
            NewPassword::parse(Field::Password, "elevenchars")
                .unwrap_err()
                .field,
            Field::Password
        );
        assert!(NewPassword::parse(Field::Password, "twelve chars").is_ok());
        assert!(NewPassword::parse(Field::NewPassword, &" ".repeat(20)).is_err());
        assert!(NewPassword::parse(Field::Password, &"x".repeat(257)).is_err());
        assert_eq!(
            format!(
                "{:?}",
                NewPassword::parse(Field::Password, "secret secret").unwrap()
            ),
            "NewPassword(…)",
            "never printed"
        );
    }

    #[test]
    fn usernames_are_short_and_plain() {
        assert_eq!(Username::parse("  alice ").unwrap().as_str(), "alice");
        assert!(Username::parse("al").is_err());
        assert!(Username::parse("alice smith").is_err());
        assert!(Username::parse("<script>").is_err());
        assert!(Username::parse("ops.lead@example").is_ok());
    }

    #[test]
    fn roles_are_named() {
        assert_eq!(parse_role("viewer"), Ok(Role::Viewer));
        assert_eq!(parse_role("root").unwrap_err().field, Field::Role);
    }
}
