//! Keeping database passwords out of logs and error messages.

use std::fmt;
use std::str::FromStr;

use url::Url;

/// What a password is replaced with.
const MASK: &str = "***";

/// Shown instead of a URL that cannot be parsed: where its password is cannot be known.
const UNPARSEABLE: &str = "<unparseable database URL>";

/// Returns `url` with its password (user info or `password=` parameter) replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let Ok(mut parsed) = Url::parse(url) else {
        return UNPARSEABLE.to_string();
    };
    if parsed.password().is_some() {
        // Only fails for URLs that cannot have user info, and those have no password.
        let _ = parsed.set_password(Some(MASK));
    }
    if parsed.query_pairs().any(|(key, _)| key == "password") {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(key, value)| {
                let value = if key == "password" {
                    MASK.into()
                } else {
                    value.into_owned()
                };
                (key.into_owned(), value)
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.to_string()
}

/// A database URL whose `Display` and `Debug` never show the password (e.g. for CLI settings).
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// Wraps a URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The URL with its password, for connecting only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl FromStr for DatabaseUrl {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::new(s))
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_url(&self.0))
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({:?})", redact_url(&self.0))
    }
}

/// Scrubs one URL's secrets out of any text before it is logged or returned.
///
/// sqlx errors are turned into text through [`Redactor::scrub`], never kept as sources, so no
/// error chain printed later can echo the URL or its password.
#[derive(Debug, Clone)]
pub(crate) struct Redactor {
    url: String,
    /// (secret, replacement), longest secret first so that a secret inside another one (the
    /// password inside the URL) does not break the longer match.
    replacements: Vec<(String, String)>,
}

impl Redactor {
    /// Collects the secrets of `url`: the whole URL and its password, raw and percent-decoded.
    pub(crate) fn new(url: &str) -> Self {
        let redacted = redact_url(url);
        let mut replacements = vec![(url.to_string(), redacted.clone())];
        if let Ok(parsed) = Url::parse(url) {
            let mut passwords: Vec<String> = Vec::new();
            if let Some(raw) = parsed.password() {
                passwords.push(raw.to_string());
                passwords.push(percent_decode(raw));
            }
            for part in parsed.query().unwrap_or_default().split('&') {
                if let Some(raw) = part.strip_prefix("password=") {
                    passwords.push(raw.to_string());
                    passwords.push(percent_decode(&raw.replace('+', " ")));
                }
            }
            replacements.extend(
                passwords
                    .into_iter()
                    .filter(|p| !p.is_empty())
                    .map(|p| (p, MASK.to_string())),
            );
        }
        // Longest first, equal secrets adjacent for dedup.
        replacements.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        replacements.dedup_by(|a, b| a.0 == b.0);
        Self {
            url: redacted,
            replacements,
        }
    }

    /// The URL with its password masked.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// `text` rendered with every secret of the URL masked.
    pub(crate) fn scrub(&self, text: &dyn fmt::Display) -> String {
        let mut out = text.to_string();
        for (secret, replacement) in &self.replacements {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), replacement);
            }
        }
        out
    }
}

/// Decodes `%XX` escapes (invalid escapes are kept as they are).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| s.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_url_masks_user_info_and_parameter_passwords() {
        assert_eq!(
            redact_url("postgres://app:s3cr%40t@db.internal:5432/gex"),
            "postgres://app:***@db.internal:5432/gex"
        );
        assert_eq!(
            redact_url(
                "postgres:///gex?host=/cloudsql/p:r:i&user=app&password=hunter2&sslmode=disable"
            ),
            "postgres:///gex?host=%2Fcloudsql%2Fp%3Ar%3Ai&user=app&password=***&sslmode=disable"
        );
        assert_eq!(
            redact_url("postgres://app@localhost/gex"),
            "postgres://app@localhost/gex"
        );
        assert_eq!(redact_url("not a url, maybe a secret"), UNPARSEABLE);
    }

    #[test]
    fn database_url_never_prints_the_password() {
        let url: DatabaseUrl = "postgres://app:hunter2@localhost/gex".parse().unwrap();
        assert_eq!(url.to_string(), "postgres://app:***@localhost/gex");
        assert!(!format!("{url:?}").contains("hunter2"));
        assert_eq!(url.expose(), "postgres://app:hunter2@localhost/gex");
    }

    #[test]
    fn scrub_masks_raw_and_decoded_passwords_and_the_whole_url() {
        let url = "postgres://app:p%40ss%2Fw0rd@localhost/gex?password=x%2By+z";
        let redactor = Redactor::new(url);
        let echoed = format!("failed for {url}; sent p@ss/w0rd, p%40ss%2Fw0rd, x+y z, x%2By+z");
        let scrubbed = redactor.scrub(&echoed);
        for secret in ["p@ss/w0rd", "p%40ss%2Fw0rd", "x+y z", "x%2By+z"] {
            assert!(
                !scrubbed.contains(secret),
                "{secret} survived in {scrubbed}"
            );
        }
        assert!(
            scrubbed.starts_with("failed for postgres://app:***@localhost/gex"),
            "{scrubbed}"
        );
        assert_eq!(
            redactor.url(),
            "postgres://app:***@localhost/gex?password=***"
        );
    }

    #[test]
    fn percent_decode_keeps_invalid_escapes() {
        assert_eq!(percent_decode("a%41%zz%4"), "aA%zz%4");
    }
}
