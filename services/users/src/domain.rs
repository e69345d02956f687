//! Request fields parsed into types that cannot be invalid. Every [`FieldError`] (the contract's
//! one field-error type) names the request field it is about (`username`,
//! `preferences.languages[2]`, ...), so the gRPC edge answers `INVALID_ARGUMENT` with
//! `google.rpc.BadRequest` details without further interpretation.

use std::fmt;

pub use contract::{FieldError, UserId};

/// 3..=32 characters of `a-z`, `0-9`, `_`, `.`, `-`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    /// Checks `text`.
    pub fn parse(text: &str) -> Result<Self, FieldError> {
        let len = text.chars().count();
        if !(3..=32).contains(&len) {
            return Err(FieldError::new("username", format!("must be 3 to 32 characters long, got {len}")));
        }
        if let Some(bad) = text.chars().find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '_' | '.' | '-')) {
            return Err(FieldError::new(
                "username",
                format!("may only hold a-z, 0-9, '_', '.' and '-', found {bad:?}"),
            ));
        }
        Ok(Self(text.to_string()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An email address of a plausible shape, trimmed and lower-cased.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Checks `text` for the field `field` (`email`).
    pub fn parse(field: &str, text: &str) -> Result<Self, FieldError> {
        let email = text.trim().to_lowercase();
        let bad = |reason: &str| Err(FieldError::new(field, reason.to_string()));
        if email.is_empty() {
            return bad("is required");
        }
        if email.len() > 254 {
            return bad("must be at most 254 bytes long");
        }
        let Some((local, domain)) = email.split_once('@') else {
            return bad("must look like name@example.org");
        };
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && local.chars().all(|c| c.is_ascii_graphic() && !"<>()[],;:\\\"@".contains(c));
        if !local_ok {
            return bad("the part before '@' must be 1 to 64 printable characters without <>()[],;:\\\"@");
        }
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if !domain_ok {
            return bad("the part after '@' must be a domain name such as example.org");
        }
        Ok(Self(email))
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password: 8..=256 characters. `Debug` never shows it.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Longest accepted password, in characters (bounds the hashing work).
    pub const MAX_CHARS: usize = 256;
    /// Shortest accepted new password, in characters.
    pub const MIN_CHARS: usize = 8;

    /// Checks a new password (registration).
    pub fn parse_new(text: &str) -> Result<Self, FieldError> {
        let len = text.chars().count();
        if !(Self::MIN_CHARS..=Self::MAX_CHARS).contains(&len) {
            return Err(FieldError::new(
                "password",
                format!("must be {} to {} characters long, got {len}", Self::MIN_CHARS, Self::MAX_CHARS),
            ));
        }
        Ok(Self(text.to_string()))
    }

    /// Checks a password offered at login: only presence and the upper bound, so that the rules
    /// for new passwords can change without locking anyone out.
    pub fn parse_offered(text: &str) -> Result<Self, FieldError> {
        if text.is_empty() {
            return Err(FieldError::new("password", "is required"));
        }
        if text.chars().count() > Self::MAX_CHARS {
            return Err(FieldError::new(
                "password",
                format!("must be at most {} characters", Self::MAX_CHARS),
            ));
        }
        Ok(Self(text.to_string()))
    }

    /// The password; only the hasher reads it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}

/// An argon2id hash in PHC string form. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Wraps a PHC string read from storage or made by the hasher.
    pub fn from_phc(phc: String) -> Self {
        Self(phc)
    }

    /// The PHC string; only the store and the hasher read it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash([redacted])")
    }
}

/// Free text up to 100 characters, without control characters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    /// Longest accepted name, in characters.
    pub const MAX_CHARS: usize = 100;

    /// Checks `text`.
    pub fn parse(text: &str) -> Result<Self, FieldError> {
        let len = text.chars().count();
        if len > Self::MAX_CHARS {
            return Err(FieldError::new(
                "display_name",
                format!("must be at most {} characters long, got {len}", Self::MAX_CHARS),
            ));
        }
        if text.chars().any(char::is_control) {
            return Err(FieldError::new("display_name", "must not contain control characters"));
        }
        Ok(Self(text.to_string()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a user logs in with: a username, or an email when it contains `@`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Login {
    /// By username.
    Username(String),
    /// By email (lower-cased).
    Email(String),
}

impl Login {
    /// Reads the `login` field (case-insensitive: both are stored lower-case).
    pub fn parse(text: &str) -> Result<Self, FieldError> {
        let login = text.trim().to_lowercase();
        if login.is_empty() {
            return Err(FieldError::new("login", "is required"));
        }
        if login.len() > 254 {
            return Err(FieldError::new("login", "must be at most 254 bytes long"));
        }
        Ok(if login.contains('@') { Self::Email(login) } else { Self::Username(login) })
    }
}

/// The MovieLens genres a request may name (shared with the other services through `proto`).
pub use contract::GENRES;

/// Most preferred languages a user may list.
pub const MAX_LANGUAGES: usize = 32;
/// Most movies a user may block.
pub const MAX_BLOCKED: usize = 10_000;

/// Checked preferences: canonical genre names, lower-case ISO 639-1 codes and non-zero movie
/// ids, each list without duplicates and in the order given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Preferences {
    /// Canonical MovieLens genre names.
    pub favourite_genres: Vec<String>,
    /// Two-letter language codes.
    pub languages: Vec<String>,
    /// Movies never to recommend.
    pub blocked_movie_ids: Vec<u64>,
}

impl Preferences {
    /// Checks the `preferences` message of a request.
    pub fn parse(message: Option<&proto::users::v1::Preferences>) -> Result<Self, FieldError> {
        let Some(message) = message else {
            return Err(FieldError::new("preferences", "is required (send an empty message to clear them)"));
        };
        let mut res = Self::default();
        for (i, genre) in message.favourite_genres.iter().enumerate() {
            let canonical = canonical_genre(genre).ok_or_else(|| {
                FieldError::new(
                    format!("preferences.favourite_genres[{i}]"),
                    format!("{genre:?} is not a MovieLens genre (one of {})", GENRES.join(", ")),
                )
            })?;
            if !res.favourite_genres.iter().any(|g| g == canonical) {
                res.favourite_genres.push(canonical.to_string());
            }
        }
        if message.languages.len() > MAX_LANGUAGES {
            return Err(FieldError::new(
                "preferences.languages",
                format!("at most {MAX_LANGUAGES} languages, got {}", message.languages.len()),
            ));
        }
        for (i, language) in message.languages.iter().enumerate() {
            let code = language.trim().to_ascii_lowercase();
            if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_lowercase()) {
                return Err(FieldError::new(
                    format!("preferences.languages[{i}]"),
                    format!("{language:?} is not an ISO 639-1 code (two letters, e.g. \"en\")"),
                ));
            }
            if !res.languages.contains(&code) {
                res.languages.push(code);
            }
        }
        if message.blocked_movie_ids.len() > MAX_BLOCKED {
            return Err(FieldError::new(
                "preferences.blocked_movie_ids",
                format!("at most {MAX_BLOCKED} movies, got {}", message.blocked_movie_ids.len()),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, &movie_id) in message.blocked_movie_ids.iter().enumerate() {
            if movie_id == 0 || movie_id > i64::MAX as u64 {
                return Err(FieldError::new(
                    format!("preferences.blocked_movie_ids[{i}]"),
                    format!("{movie_id} is not a movie id"),
                ));
            }
            if seen.insert(movie_id) {
                res.blocked_movie_ids.push(movie_id);
            }
        }
        Ok(res)
    }

    /// The wire form.
    pub fn to_proto(&self) -> proto::users::v1::Preferences {
        proto::users::v1::Preferences {
            favourite_genres: self.favourite_genres.clone(),
            languages: self.languages.clone(),
            blocked_movie_ids: self.blocked_movie_ids.clone(),
        }
    }
}

use contract::canonical_genre;

/// A checked registration.
#[derive(Clone, Debug)]
pub struct NewAccount {
    /// Unique name.
    pub username: Username,
    /// Unique email.
    pub email: Email,
    /// The password (redacted in `Debug`).
    pub password: Password,
    /// Display name (may be empty).
    pub display_name: DisplayName,
}

impl NewAccount {
    /// Checks a `RegisterRequest`, field by field in message order.
    pub fn parse(request: &proto::users::v1::RegisterRequest) -> Result<Self, FieldError> {
        Ok(Self {
            username: Username::parse(&request.username)?,
            email: Email::parse("email", &request.email)?,
            password: Password::parse_new(&request.password)?,
            display_name: DisplayName::parse(&request.display_name)?,
        })
    }
}

/// A checked profile change; `None` leaves the field as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProfileChange {
    /// New display name.
    pub display_name: Option<DisplayName>,
    /// New email.
    pub email: Option<Email>,
}

impl ProfileChange {
    /// Checks an `UpdateProfileRequest` (empty fields mean "unchanged").
    pub fn parse(request: &proto::users::v1::UpdateProfileRequest) -> Result<Self, FieldError> {
        let display_name = (!request.display_name.is_empty())
            .then(|| DisplayName::parse(&request.display_name))
            .transpose()?;
        let email = (!request.email.is_empty()).then(|| Email::parse("email", &request.email)).transpose()?;
        Ok(Self { display_name, email })
    }
}

#[cfg(test)]
mod tests {
    use proto::users::v1 as pb;

    use super::*;

    fn field_of<T: fmt::Debug>(res: Result<T, FieldError>) -> String {
        res.unwrap_err().field
    }

    #[test]
    fn usernames() {
        for good in ["abc", "a.b-c_9", &"x".repeat(32)] {
            assert!(Username::parse(good).is_ok(), "{good}");
        }
        for bad in ["ab", "Abc", "a b", "ab!", "élan", &"x".repeat(33), ""] {
            assert_eq!(field_of(Username::parse(bad)), "username", "{bad}");
        }
    }

    #[test]
    fn emails_are_trimmed_lower_cased_and_shaped() {
        assert_eq!(
            Email::parse("email", "  Ann.Lee+x@Example.ORG ").unwrap().as_str(),
            "ann.lee+x@example.org"
        );
        for bad in
            ["", "ann", "@example.org", "ann@", "ann@example", "ann@ex ample.org", "a@b@c.org", "ann@-x.org"]
        {
            assert_eq!(field_of(Email::parse("email", bad)), "email", "{bad}");
        }
    }

    #[test]
    fn passwords_are_bounded_and_never_printed() {
        assert!(Password::parse_new("1234567").is_err());
        assert!(Password::parse_new(&"p".repeat(257)).is_err());
        let password = Password::parse_new("correct horse battery").unwrap();
        assert_eq!(format!("{password:?}"), "Password([redacted])");
        assert!(Password::parse_offered("short").is_ok());
        assert_eq!(field_of(Password::parse_offered("")), "password");
        let account = NewAccount::parse(&pb::RegisterRequest {
            username: "ann".into(),
            email: "ann@example.org".into(),
            password: "correct horse battery".into(),
            display_name: String::new(),
        })
        .unwrap();
        assert!(!format!("{account:?}").contains("horse"));
    }

    #[test]
    fn display_names() {
        assert!(DisplayName::parse(&"é".repeat(100)).is_ok());
        assert_eq!(field_of(DisplayName::parse(&"é".repeat(101))), "display_name");
        assert_eq!(field_of(DisplayName::parse("a\nb")), "display_name");
    }

    #[test]
    fn preferences_are_canonical_and_name_the_bad_entry() {
        let message = pb::Preferences {
            favourite_genres: vec!["sci-fi".into(), "Children's".into(), "Sci-Fi".into()],
            languages: vec!["EN".into(), "fr".into(), "en".into()],
            blocked_movie_ids: vec![3, 1, 3],
        };
        let prefs = Preferences::parse(Some(&message)).unwrap();
        assert_eq!(prefs.favourite_genres, ["Sci-Fi", "Children"]);
        assert_eq!(prefs.languages, ["en", "fr"]);
        assert_eq!(prefs.blocked_movie_ids, [3, 1]);
        let check = |message: pb::Preferences| field_of(Preferences::parse(Some(&message)));
        let genres =
            pb::Preferences { favourite_genres: vec!["Drama".into(), "Polka".into()], ..Default::default() };
        assert_eq!(check(genres), "preferences.favourite_genres[1]");
        let languages = pb::Preferences { languages: vec!["eng".into()], ..Default::default() };
        assert_eq!(check(languages), "preferences.languages[0]");
        let blocked = pb::Preferences { blocked_movie_ids: vec![5, 0], ..Default::default() };
        assert_eq!(check(blocked), "preferences.blocked_movie_ids[1]");
        assert_eq!(field_of(Preferences::parse(None)), "preferences");
    }

    #[test]
    fn logins_pick_username_or_email() {
        assert_eq!(Login::parse(" Ann ").unwrap(), Login::Username("ann".into()));
        assert_eq!(Login::parse("Ann@Example.org").unwrap(), Login::Email("ann@example.org".into()));
        assert_eq!(field_of(Login::parse("  ")), "login");
    }
}
