//! The user's rules file.
//!
//! (Its format is documented on [`parse_rules_file`].)

use crate::{Error, UserRule};

/// The parsed content of a rules file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RulesFile {
    pub rules: Vec<UserRule>,
    /// Default rules to switch off.
    pub disabled: Vec<String>,
}

/// Parses a rules file; `origin` (usually its path) names it in errors, with the line number.
///
/// A UTF-8 text file, one directive per line; blank lines and lines starting with `#` are
/// ignored:
///
/// ```text
/// # kind     name             pattern (the rest of the line, leading blanks removed)
/// regex      internal-host    (?i)\bcorp-[a-z0-9]+\.internal\b
/// regex      session-cookie   (?i)\bsession=(?P<s>[0-9a-f]{32})
/// literal    license-key      ACME-4711-XYZZY
/// disable    url-userinfo
/// ```
///
/// - `regex NAME PATTERN`: a `regex` crate pattern over bytes; a group named `s` limits the
///   replacement to that group (the key stays readable).
/// - `literal NAME TEXT`: the exact text, case-sensitive (trailing blanks are part of it).
/// - `disable RULE`: switch one default rule off (for example when it misfires on your data).
///
/// Names are lower-case letters, digits and `-`; several lines may share a name, and are then
/// counted together. To match a pattern that starts with a blank, write it as `\x20` in a regex.
/// Regexes are compiled later, by [`crate::Redactor::new`].
pub fn parse_rules_file(text: &str, origin: &str) -> Result<RulesFile, Error> {
    let mut file = RulesFile::default();
    for (index, raw) in text.lines().enumerate() {
        let line_no = index + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let err = |message: String| Error::RulesFile {
            origin: origin.to_string(),
            line: line_no,
            message,
        };
        let (kind, rest) = split_word(trimmed);
        match kind {
            "disable" => {
                let (name, extra) = split_word(rest);
                if name.is_empty() || !extra.trim().is_empty() {
                    return Err(err("expected `disable RULE-NAME`".to_string()));
                }
                file.disabled.push(name.to_string());
            }
            "regex" | "literal" => {
                let (name, pattern) = split_word(rest);
                if name.is_empty() || pattern.is_empty() {
                    return Err(err(format!("expected `{kind} NAME PATTERN`")));
                }
                file.rules.push(if kind == "regex" {
                    UserRule::regex(name, pattern.trim_end())
                } else {
                    UserRule::literal(name, pattern)
                });
            }
            other => {
                return Err(err(format!(
                    "unknown directive `{other}`: expected `regex`, `literal` or `disable` (or `#` for a comment)"
                )));
            }
        }
    }
    Ok(file)
}

/// The first blank-separated word, and the rest with its leading blanks removed.
fn split_word(s: &str) -> (&str, &str) {
    match s.find([' ', '\t']) {
        Some(i) => (&s[..i], s[i..].trim_start_matches([' ', '\t'])),
        None => (s, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::UserPattern;

    #[test]
    fn parses_every_directive() {
        let text = "# comment\n\nregex  host   (?i)corp-[a-z]+\\.internal  \nliteral lic ACME 4711\r\ndisable jwt\n";
        let file = parse_rules_file(text, "rules.txt").expect("valid file");
        assert_eq!(file.rules.len(), 2);
        assert_eq!(
            file.rules[0].pattern,
            UserPattern::Regex("(?i)corp-[a-z]+\\.internal".into())
        );
        assert_eq!(
            file.rules[1].pattern,
            UserPattern::Literal("ACME 4711".into())
        );
        assert_eq!(file.disabled, vec!["jwt".to_string()]);
    }

    #[test]
    fn errors_name_the_line() {
        let err = parse_rules_file("regex ok x\nfrobnicate y z\n", "my.rules").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("my.rules:2: unknown directive `frobnicate`"),
            "{msg}"
        );
        let err = parse_rules_file("literal lonely\n", "r").unwrap_err();
        assert!(
            err.to_string()
                .contains("r:1: expected `literal NAME PATTERN`"),
            "{err}"
        );
    }
}
