//! Values that must never reach a log or a terminal: [`Secret`] (passwords, keys) and
//! [`SecretUrl`] (server URLs that may carry a password, shown with it masked).

use std::fmt;
use std::str::FromStr;

/// A value that never shows itself in `Debug` or `Display` output (passwords, keys, URLs with
/// credentials); read it with [`Secret::expose`] in the one place that needs it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret<T = String>(T);

impl<T> Secret<T> {
    /// Wraps `value`.
    pub fn new(value: impl Into<T>) -> Self {
        Self(value.into())
    }

    /// The wrapped value; do not log it.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl Secret<String> {
    /// Whether `presented` equals the secret, compared as SHA-256 digests in constant time
    /// (timing tells nothing about how much of it matched). An empty secret matches nothing.
    pub fn matches(&self, presented: &str) -> bool {
        use sha2::{Digest, Sha256};
        let (expected, given): ([u8; 32], [u8; 32]) =
            (Sha256::digest(self.0.as_bytes()).into(), Sha256::digest(presented.as_bytes()).into());
        !self.0.is_empty() && expected.iter().zip(given).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl FromStr for Secret<String> {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_string()))
    }
}

/// A server URL that may carry a password (`redis://user:password@host:port/db`): `Display` and
/// `Debug` show it with the password replaced by `***`; [`SecretUrl::expose`] gives it whole
/// for the client. Surrounding white space is dropped; empty means "not configured".
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretUrl(String);

impl SecretUrl {
    /// Wraps `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into().trim().to_string())
    }

    /// The URL, password included: pass it to the client only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// No URL was given.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromStr for SecretUrl {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::new(s))
    }
}

impl fmt::Display for SecretUrl {
    /// `scheme://user:***@host:port/path`; a URL without credentials as it is.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.split_once("://").and_then(|(scheme, rest)| Some((scheme, rest.rsplit_once('@')?))) {
            Some((scheme, (credentials, host))) => {
                let user = credentials.split_once(':').map_or(credentials, |(user, _)| user);
                write!(f, "{scheme}://{user}:***@{host}")
            }
            None if self.0.contains('@') => f.write_str("***"),
            None => f.write_str(&self.0),
        }
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretUrl({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let secret: Secret = Secret::new("hunter2");
        assert_eq!(format!("{secret} {secret:?}"), "[redacted] [redacted]");
        assert_eq!(secret.expose(), "hunter2");
        let bytes: Secret<Vec<u8>> = Secret::new(b"key".to_vec());
        assert_eq!(format!("{bytes:?}"), "[redacted]");
        assert!(secret.matches("hunter2"));
        assert!(!secret.matches("hunter3") && !secret.matches(""));
        assert!(!Secret::<String>::default().matches(""), "an empty secret matches nothing");
    }

    #[test]
    fn urls_print_without_their_password() {
        let url = SecretUrl::new(" redis://default:s3cret@cache:6379/2 ");
        assert_eq!(url.to_string(), "redis://default:***@cache:6379/2");
        assert!(!format!("{url:?}").contains("s3cret"));
        assert_eq!(url.expose(), "redis://default:s3cret@cache:6379/2");
        assert_eq!(SecretUrl::new("redis://:s3cret@h:1").to_string(), "redis://:***@h:1");
        assert_eq!(SecretUrl::new("redis://h:1").to_string(), "redis://h:1");
        assert_eq!(SecretUrl::new("user:s3cret@h").to_string(), "***");
        assert!(SecretUrl::new("  ").is_empty());
    }
}
