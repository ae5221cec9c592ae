//! The default rule set and the compiled form of every rule.
//!
//! A rule is a byte regex whose capture groups named `s`, `s1`, `s2`, … hold the secret:
//! only those bytes are replaced, so `--db-password=hunter2` becomes
//! `--db-password=[REDACTED:password-assignment]` and the reader still sees which flag it was.
//! A regex without such a group replaces its whole match. Each rule also lists *anchors*: short
//! ASCII strings (matched case-insensitively) of which at least one occurs on every line the rule
//! can match. The anchors feed one Aho-Corasick automaton, so a line none of them touches is never
//! looked at by a regex — that is what keeps the common path fast.

use regex::bytes::{Captures, Regex, RegexBuilder};

use crate::Error;

/// Names of the default rules, in priority order (when two rules hit the same bytes, the
/// earlier name is the one counted).
pub const DEFAULT_RULE_NAMES: &[&str] = &[
    "gcp-service-account-key",
    "kubernetes-service-account-token",
    "jwt",
    "aws-access-key-id",
    "aws-secret-access-key",
    "github-token",
    "slack-token",
    "pem-private-key",
    "database-connection-string",
    "authorization-header",
    "url-userinfo",
    "password-assignment",
];

/// Extra checks a rule applies to a regex match before it counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Check {
    /// Every match counts.
    None,
    /// The value must not be a placeholder (`***`, `${VAR}`, `null`, an earlier redaction…).
    Value,
    /// `PWD=/home/x` is the shell's working directory, not a password.
    ValueNotPath,
    /// A bearer token without a header must look random (a digit, or both cases).
    RandomLooking,
    /// JWTs whose payload names Kubernetes are reported as service-account tokens.
    Jwt,
}

/// A cheap test at an anchor hit, before any regex runs: most occurrences of `token` or
/// `://` in logs are prose or plain URLs, and the gate turns them away in a few byte compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gate {
    /// Every hit counts.
    None,
    /// The anchor must appear with exactly the case written in the rule (`AKIA`, `eyJ`).
    Exact,
    /// A key word: followed (after more key characters and an optional quote) by `=`, `:` or
    /// `>`, or part of a `--flag`.
    Keyword,
    /// `bearer` / `basic` followed by a blank.
    FollowedByBlank,
    /// `://` with an `@` in the authority (user information present).
    UrlUserinfo,
}

/// How a rule finds its match.
#[derive(Debug)]
pub(crate) enum Matcher {
    Regex(Regex),
    /// PEM private key: the regex finds the BEGIN line, the engine looks for the END line.
    Pem(Regex),
}

/// One compiled rule.
#[derive(Debug)]
pub(crate) struct Rule {
    /// Index into the redactor's list of names (several rules may share one name).
    pub name: usize,
    /// ASCII strings (matched case-insensitively), one of which occurs near every match; empty
    /// means "scan every chunk in full" (user regexes, whose text we cannot reason about).
    pub anchors: Vec<Vec<u8>>,
    /// Checked at every anchor hit before the rule is run.
    pub gate: Gate,
    pub matcher: Matcher,
    pub check: Check,
}

/// Key words that make `key=value` a secret when the key ends with one of them.
const KEYWORDS: &str =
    r"password|passwd|passphrase|pwd|secret|token|api[_.-]?key|access[_.-]?key|private[_.-]?key";
/// Endings allowed after a key word (`SECRET_KEY_BASE`, `token_value`).
const KEY_SUFFIX: &str = r"(?:[_.-]?(?:key|base|value|b64|base64))?";
/// Anchors for the key words above (lower case).
const KEYWORD_ANCHORS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "pwd",
    "secret",
    "token",
    "api_key",
    "api-key",
    "api.key",
    "apikey",
    "access_key",
    "access-key",
    "access.key",
    "accesskey",
    "private_key",
    "private-key",
    "private.key",
    "privatekey",
];

/// The value after `key=` / `key: ` / `"key": `: an escaped JSON string, a JSON string, a
/// single-quoted string or a bare word. Bare words stop at whitespace, quotes and NUL (the
/// separator of `/proc/<pid>/cmdline`), never at `,` or `;`, which passwords often contain.
const VALUE: &str = r#"(?:\\"(?P<s1>[^"\\\r\n]*)\\"|"(?P<s2>(?:[^"\\\r\n]|\\.)*)"|'(?P<s3>[^'\r\n]*)'|(?P<s4>[^\s"'\\\x00{\[(<][^\s"'\x00]*))"#;

/// Database URL schemes (with an optional `jdbc:` in front).
const DB_SCHEMES: &str = r"(?:jdbc:)?(?:postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|rediss?|amqps?|sqlserver|mssql|oracle|cockroachdb|clickhouse|cassandra|neo4j(?:\+s)?|couchdb|memcached|db2|snowflake|timescaledb)";

struct Spec {
    name: &'static str,
    anchors: Vec<String>,
    gate: Gate,
    regex: String,
    check: Check,
    pem: bool,
}

fn spec(
    name: &'static str,
    anchors: &[&str],
    gate: Gate,
    regex: impl Into<String>,
    check: Check,
) -> Spec {
    Spec {
        name,
        anchors: anchors.iter().map(|a| a.to_string()).collect(),
        gate,
        regex: regex.into(),
        check,
        pem: false,
    }
}

fn default_specs() -> Vec<Spec> {
    let kw_anchors: Vec<&str> = KEYWORD_ANCHORS.to_vec();
    let key = format!(r"(?P<key>[a-z0-9_.-]*(?:{KEYWORDS}){KEY_SUFFIX})");
    let mut specs = vec![
        // GCP service-account JSON: the whole private key string and its id, also when the JSON
        // sits inside a JSON string once or more (a command line in snapshot.json, an env value
        // in a last-applied-configuration annotation): quotes may be preceded by any run of
        // backslashes, and inside the value a run of backslashes starts an escape.
        spec(
            "gcp-service-account-key",
            &["private_key"],
            Gate::Keyword,
            r#"(?i)\\*"private_key\\*"[ \t]*:[ \t]*\\*"(?P<s>(?:[^"\\\r\n]|\\+[^"\\\r\n])*)\\*""#,
            Check::Value,
        ),
        spec(
            "gcp-service-account-key",
            // "private_key" (not "private_key_id"): anchors are found without overlaps, so the
            // shorter one is what the prefilter reports.
            &["private_key"],
            Gate::Keyword,
            r#"(?i)\\*"private_key_id\\*"[ \t]*:[ \t]*\\*"(?P<s>[0-9a-f]{16,})"#,
            Check::None,
        ),
        // JWTs (classified as Kubernetes service-account tokens when the payload says so).
        spec(
            "jwt",
            &["eyJ"],
            Gate::Exact,
            r"eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*",
            Check::Jwt,
        ),
        spec(
            "aws-access-key-id",
            &[
                "AKIA", "ASIA", "AIDA", "AROA", "AIPA", "ANPA", "ANVA", "AGPA", "ABIA", "ACCA",
            ],
            Gate::Exact,
            r"\b(?:AKIA|ASIA|AIDA|AROA|AIPA|ANPA|ANVA|AGPA|ABIA|ACCA)[A-Z0-9]{16}\b",
            Check::None,
        ),
        spec(
            "aws-secret-access-key",
            &["secret"],
            Gate::Keyword,
            r#"(?i)[a-z0-9_.-]*(?:secret[_.-]?access[_.-]?key|aws[_.-]?secret[_.-]?key|aws[_.-]?secret)\\?["']?[ \t]*(?:=|:|=>)[ \t]*\\?["']?(?P<s>[A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)"#,
            Check::None,
        ),
        spec(
            "github-token",
            &["ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"],
            Gate::Exact,
            r"\b(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{22,244})\b",
            Check::None,
        ),
        spec(
            "slack-token",
            &[
                "xoxa-", "xoxb-", "xoxp-", "xoxo-", "xoxs-", "xoxr-", "xoxe-", "xapp-",
            ],
            Gate::Exact,
            r"\b(?:xox[abposre]-[A-Za-z0-9-]{10,250}|xapp-[0-9]-[A-Za-z0-9-]{10,250})",
            Check::None,
        ),
        spec(
            "slack-token",
            &["hooks.slack.com"],
            Gate::None,
            r"(?i)hooks\.slack\.com/(?:services|workflows|triggers)/(?P<s>[A-Za-z0-9/_-]{10,})",
            Check::None,
        ),
        Spec {
            name: "pem-private-key",
            anchors: vec!["-----BEGIN ".to_string()],
            gate: Gate::Exact,
            regex: r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----".to_string(),
            check: Check::None,
            pem: true,
        },
        // Database connection strings: password in a database URL, in its query, Oracle's
        // thin `user/password@host`, and ADO.NET / ODBC `Server=…;Password=…`.
        spec(
            "database-connection-string",
            &["://"],
            Gate::UrlUserinfo,
            format!(r#"(?i)\b{DB_SCHEMES}://[^\s:/?#@"'<>\[\]]*:(?P<s>[^\s/?#"'<>]*)@"#),
            Check::Value,
        ),
        spec(
            "database-connection-string",
            &["password", "passwd", "pwd"],
            Gate::Keyword,
            format!(
                r#"(?i)\b(?:{DB_SCHEMES}://|jdbc:[a-z0-9]+:)[^\s"']*?[?&;](?:password|pwd|passwd|pass)=(?P<s>[^&;\s"']+)"#
            ),
            Check::Value,
        ),
        spec(
            "database-connection-string",
            &["jdbc:"],
            Gate::None,
            r#"(?i)\bjdbc:oracle:[a-z]+:(?:@)?[^/\s@:"']+/(?P<s>[^@\s"']+)@"#,
            Check::Value,
        ),
        spec(
            "database-connection-string",
            &["password", "pwd"],
            Gate::Keyword,
            r#"(?i)\b(?:server|data source|host|address|addr|network address)[ \t]*=[^;\r\n]*;(?:[^;\r\n]*;)*?[ \t]*(?:password|pwd)[ \t]*=[ \t]*(?P<s>[^;"'\r\n]+)"#,
            Check::Value,
        ),
        spec(
            "authorization-header",
            &["authorization"],
            Gate::Keyword,
            r#"(?i)\b(?:proxy-)?authorization\\?["']?[ \t]*[:=][ \t]*\\?["']?(?:(?:bearer|basic|token|digest|negotiate|ntlm|aws4-hmac-sha256|apikey|sso-key)[ \t]+)?(?P<s>[^\s"'\\][^\r\n"'\\]*)"#,
            Check::Value,
        ),
        spec(
            "authorization-header",
            &["bearer", "basic"],
            Gate::FollowedByBlank,
            r"(?i)\b(?:bearer|basic)[ \t]+(?P<s>[A-Za-z0-9._~+/=-]{16,})",
            Check::RandomLooking,
        ),
        spec(
            "url-userinfo",
            &["://"],
            Gate::UrlUserinfo,
            r#"(?i)\b[a-z][a-z0-9+.-]{1,31}://[^\s:/?#@"'<>\[\]]*:(?P<s>[^\s/?#"'<>]*)@"#,
            Check::Value,
        ),
    ];
    // key=value, key: value, "key": "value", key => value, and --key=value.
    specs.push(spec(
        "password-assignment",
        &kw_anchors,
        Gate::Keyword,
        format!(r#"(?i){key}\\?["']?[ \t]*(?:=|:|=>)[ \t]*{VALUE}"#),
        Check::ValueNotPath,
    ));
    // --key value (command lines; NUL separates arguments in /proc/<pid>/cmdline).
    specs.push(spec(
        "password-assignment",
        &kw_anchors,
        Gate::Keyword,
        format!(
            r#"(?i)(?:^|[\s\x00])--?{key}[ \t\x00]+(?:"(?P<s1>[^"\r\n]*)"|'(?P<s2>[^'\r\n]*)'|(?P<s3>[^\s\x00"'-][^\s\x00]*))"#
        ),
        Check::Value,
    ));
    // <password>value</password>
    specs.push(spec(
        "password-assignment",
        &kw_anchors,
        Gate::Keyword,
        format!(r"(?i)<(?P<key>[a-z0-9_.:-]*(?:{KEYWORDS}){KEY_SUFFIX})>(?P<s>[^<\r\n]+)</"),
        Check::Value,
    ));
    specs
}

/// Compiles the default rules, skipping the names in `disabled`. `names` receives every rule
/// name (by index) the first time it is seen.
pub(crate) fn default_rules(
    disabled: &[String],
    names: &mut Vec<String>,
) -> Result<Vec<Rule>, Error> {
    for name in DEFAULT_RULE_NAMES {
        names.push((*name).to_string());
    }
    let mut rules = Vec::new();
    for spec in default_specs() {
        if disabled.iter().any(|d| d == spec.name) {
            continue;
        }
        let name = DEFAULT_RULE_NAMES
            .iter()
            .position(|n| *n == spec.name)
            .expect("every default spec names a rule listed in DEFAULT_RULE_NAMES");
        let regex = compile(spec.name, &spec.regex)?;
        rules.push(Rule {
            name,
            anchors: spec.anchors.into_iter().map(String::into_bytes).collect(),
            gate: spec.gate,
            matcher: if spec.pem {
                Matcher::Pem(regex)
            } else {
                Matcher::Regex(regex)
            },
            check: spec.check,
        });
    }
    Ok(rules)
}

/// Compiles one rule's regex with a size limit fit for hostile-free but user-written patterns.
pub(crate) fn compile(rule: &str, pattern: &str) -> Result<Regex, Error> {
    RegexBuilder::new(pattern)
        .unicode(false)
        .size_limit(16 << 20)
        .dfa_size_limit(16 << 20)
        .build()
        .map_err(|source| Error::InvalidRegex {
            rule: rule.to_string(),
            source: Box::new(source),
        })
}

/// The secret inside a match: the first participating group named `s…`, else the whole match.
pub(crate) fn secret_span(regex: &Regex, caps: &Captures<'_>) -> (usize, usize) {
    for (i, name) in regex.capture_names().enumerate() {
        if let Some(name) = name
            && is_secret_group(name)
            && let Some(m) = caps.get(i)
        {
            return (m.start(), m.end());
        }
    }
    let whole = caps.get(0).expect("group 0 always participates in a match");
    (whole.start(), whole.end())
}

/// `s`, `s1`, `s2`…: the groups that hold the secret.
fn is_secret_group(name: &str) -> bool {
    name.strip_prefix('s')
        .is_some_and(|rest| rest.bytes().all(|b| b.is_ascii_digit()))
}

/// The key of a `key=value` match, when the regex has one.
pub(crate) fn key_of<'h>(caps: &Captures<'h>) -> Option<&'h [u8]> {
    caps.name("key").map(|m| m.as_bytes())
}

/// True when `value` is not a secret but a stand-in for one (so a second pass over redacted
/// output changes nothing, and templates are left readable).
pub(crate) fn is_placeholder(value: &[u8]) -> bool {
    let v = value.trim_ascii();
    // One or two characters carry no secret worth hiding, and are what HTML's `accesskey="n"`
    // and similar attributes hold.
    if v.len() < 3 || v.starts_with(b"[REDACTED") {
        return true;
    }
    if v.len() >= 3
        && v.iter()
            .all(|&b| b == b'*' || b == b'x' || b == b'X' || b == b'.')
    {
        return true;
    }
    const WORDS: &[&[u8]] = &[
        b"null",
        b"none",
        b"nil",
        b"true",
        b"false",
        b"undefined",
        b"redacted",
        b"hidden",
        b"<redacted>",
        b"%s",
        b"%v",
        b"?",
    ];
    if WORDS.iter().any(|w| v.eq_ignore_ascii_case(w)) {
        return true;
    }
    // A reference to a variable holds no secret: $VAR, ${VAR}, $(cmd), %(name)s.
    if let Some(rest) = v.strip_prefix(b"$") {
        let inner = rest
            .strip_prefix(b"{")
            .and_then(|r| r.strip_suffix(b"}"))
            .or_else(|| rest.strip_prefix(b"(").and_then(|r| r.strip_suffix(b")")))
            .unwrap_or(rest);
        if !inner.is_empty()
            && inner
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b':' || b == b'-')
        {
            return true;
        }
    }
    false
}

/// A bearer token seen without its header must look random to count.
pub(crate) fn looks_random(value: &[u8]) -> bool {
    value.iter().any(u8::is_ascii_digit)
        || (value.iter().any(u8::is_ascii_uppercase) && value.iter().any(u8::is_ascii_lowercase))
}

/// True when the key is the shell's working directory and the value a path (`PWD=/srv/app`).
pub(crate) fn is_working_directory(key: &[u8], value: &[u8]) -> bool {
    let key = key.trim_ascii_start_matches_dash();
    (key.eq_ignore_ascii_case(b"pwd") || key.eq_ignore_ascii_case(b"oldpwd"))
        && matches!(value.first(), Some(b'/' | b'~' | b'.'))
}

trait TrimDash {
    fn trim_ascii_start_matches_dash(&self) -> &[u8];
}

impl TrimDash for [u8] {
    fn trim_ascii_start_matches_dash(&self) -> &[u8] {
        let start = self.iter().position(|&b| b != b'-').unwrap_or(self.len());
        &self[start..]
    }
}

/// Decides between `jwt` and `kubernetes-service-account-token` from the payload's claims.
pub(crate) fn is_kubernetes_token(jwt: &[u8]) -> bool {
    let mut parts = jwt.split(|&b| b == b'.');
    let _header = parts.next();
    let Some(payload) = parts.next() else {
        return false;
    };
    // Claims are small; a huge payload is not a service-account token we need to name.
    let payload = &payload[..payload.len().min(16 * 1024)];
    let decoded = base64url_decode(payload);
    memchr::memmem::find(&decoded, b"kubernetes.io").is_some()
        || memchr::memmem::find(&decoded, b"kubernetes/serviceaccount").is_some()
}

/// Lenient base64url decoding (no padding required, stops at the first byte outside the alphabet).
fn base64url_decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &b in input {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            _ => break,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_rule_compiles() {
        let mut names = Vec::new();
        let rules = default_rules(&[], &mut names).expect("default rules compile");
        // kubernetes-service-account-token has no regex of its own: JWTs are classified.
        for name in DEFAULT_RULE_NAMES
            .iter()
            .filter(|n| **n != "kubernetes-service-account-token")
        {
            let i = names
                .iter()
                .position(|n| n == name)
                .expect("name registered");
            assert!(rules.iter().any(|r| r.name == i), "no rule for {name}");
        }
        assert!(
            rules.iter().all(|r| !r.anchors.is_empty()),
            "default rules all have anchors"
        );
        for rule in &rules {
            for anchor in rule.anchors.iter().filter(|_| rule.gate != Gate::Exact) {
                assert_eq!(
                    anchor,
                    &anchor.to_ascii_lowercase(),
                    "anchors are lower case"
                );
            }
        }
    }

    #[test]
    fn placeholders_are_recognised() {
        for p in [
            &b"***"[..],
            b"${DB_PASSWORD}",
            b"$TOKEN",
            b"null",
            b"[REDACTED:jwt]",
            b"xxxx",
            b"",
        ] {
            assert!(is_placeholder(p), "{:?}", String::from_utf8_lossy(p));
        }
        for s in [&b"hunter2"[..], b"$ecret!", b"abc", b"changeme"] {
            assert!(!is_placeholder(s), "{:?}", String::from_utf8_lossy(s));
        }
    }

    #[test]
    fn base64url_decodes_claims() {
        // {"iss":"kubernetes/serviceaccount"}
        let payload = b"eyJpc3MiOiJrdWJlcm5ldGVzL3NlcnZpY2VhY2NvdW50In0";
        assert_eq!(
            base64url_decode(payload),
            br#"{"iss":"kubernetes/serviceaccount"}"#.to_vec()
        );
        assert!(is_kubernetes_token(
            b"eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJrdWJlcm5ldGVzL3NlcnZpY2VhY2NvdW50In0.c2ln"
        ));
        assert!(!is_kubernetes_token(
            b"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2ln"
        ));
    }

    #[test]
    fn working_directory_is_not_a_password() {
        assert!(is_working_directory(b"PWD", b"/home/app"));
        assert!(is_working_directory(b"OLDPWD", b"/"));
        assert!(!is_working_directory(b"DB_PWD", b"/notapath"));
        assert!(!is_working_directory(b"pwd", b"hunter2"));
    }
}
