//! Streaming redaction of secrets in text artifacts.
//!
//! What it is for: every text artifact that goes into a triage bundle — command lines,
//! environments, logs, the kernel log, Kubernetes objects, config files, metrics — passes through
//! a [`Redactor`] first. The default rules (see [`DEFAULT_RULE_NAMES`]) find cloud keys, PEM
//! private keys, JWTs and Kubernetes service-account tokens, `Authorization` headers, passwords in
//! URLs and database connection strings, `password=`-style assignments in every common syntax,
//! GitHub and Slack tokens. Each match is replaced by `[REDACTED:<rule>]`, or in tokenize mode by
//! `[REDACTED:<rule>:<12 hex>]`, a keyed HMAC-SHA256 of the value under a key drawn at random for
//! each [`Redactor`] and never written anywhere, so the same password in two files gets the same
//! token and can be correlated without being revealed. Users add rules as regexes, literals or a
//! rules file ([`parse_rules_file`]).
//!
//! It works on bytes (`regex::bytes`), so invalid UTF-8 and binary content are redacted where a
//! rule matches and passed through otherwise; [`Redactor::redact_stream`] keeps memory bounded by
//! `max_line_bytes + max_secret_bytes` whatever the input (a 1 GB line included), and reports
//! what it saw — counts per rule (never a value), binary content, invalid UTF-8, over-long lines,
//! oversized or unterminated secrets — in a [`RedactionReport`].
//!
//! What it is not for: heap dumps, core dumps and profiles cannot be redacted (mark them
//! sensitive instead), and this crate knows nothing of bundles or the command line.
//!
//! Written here rather than taken from an existing crate because the known secret scanners are
//! either whole-file (no streaming, no bounded memory) or report findings instead of rewriting
//! the stream; the matching itself is `aho-corasick` (a prefilter over all rules' anchors) and
//! `regex` (the precise rules), so only lines that mention an anchor ever reach a regex.

mod engine;
mod rules;
mod rules_file;

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Read, Write};

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

use engine::{Engine, Span};
pub use rules::DEFAULT_RULE_NAMES;
pub use rules_file::{RulesFile, parse_rules_file};

/// Default size of one read, and the line length past which matching uses a sliding window.
pub const DEFAULT_MAX_LINE_BYTES: usize = 1 << 20;
/// Default look-ahead: the longest secret guaranteed to be seen whole across read boundaries
/// (a 16384-bit RSA key in PEM is about 12.5 KiB). Longer bare values are still redacted to
/// their end; it also bounds the text searched around each anchor on over-long lines, so it
/// sets the cost of those.
pub const DEFAULT_MAX_SECRET_BYTES: usize = 16 << 10;
/// Bytes asked of the reader at a time.
const READ_BYTES: usize = 64 << 10;
/// At most this many [`Notice`]s are kept in one report (the counters keep counting).
pub const MAX_NOTICES: usize = 32;

/// Everything that can go wrong building a redactor or running it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("rule `{rule}`: invalid regex: {source}")]
    InvalidRegex {
        rule: String,
        #[source]
        source: Box<regex::Error>,
    },
    #[error("rule name `{name}` is not allowed: {reason}")]
    InvalidRuleName { name: String, reason: &'static str },
    #[error("{origin}:{line}: {message}")]
    RulesFile {
        origin: String,
        line: usize,
        message: String,
    },
    #[error("unknown default rule `{name}` (known: {known})")]
    UnknownRule { name: String, known: String },
    #[error("invalid limits: {0}")]
    Limits(&'static str),
    #[error("building the anchor prefilter: {0}")]
    Prefilter(#[from] aho_corasick::BuildError),
    #[error("drawing the random tokenization key: {0}")]
    Random(getrandom::Error),
    #[error("reading the input at byte {offset}: {source}")]
    Read {
        offset: u64,
        #[source]
        source: io::Error,
    },
    #[error("writing the output at byte {offset}: {source}")]
    Write {
        offset: u64,
        #[source]
        source: io::Error,
    },
}

/// A rule the user adds to the default set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRule {
    /// Counted and shown as `[REDACTED:<name>]`: lower-case letters, digits and `-`.
    pub name: String,
    pub pattern: UserPattern,
}

/// What a user rule matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserPattern {
    /// A `regex` crate pattern over bytes. With a group named `s` (`(?P<s>…)`) only that group is
    /// replaced; otherwise the whole match.
    Regex(String),
    /// Exact bytes, case-sensitive.
    Literal(String),
}

impl UserRule {
    /// A regex rule.
    pub fn regex(name: impl Into<String>, pattern: impl Into<String>) -> Self {
        UserRule {
            name: name.into(),
            pattern: UserPattern::Regex(pattern.into()),
        }
    }

    /// A literal rule.
    pub fn literal(name: impl Into<String>, text: impl Into<String>) -> Self {
        UserRule {
            name: name.into(),
            pattern: UserPattern::Literal(text.into()),
        }
    }
}

/// How a [`Redactor`] is built.
#[derive(Debug, Clone)]
pub struct RedactorConfig {
    /// Apply the default rules (minus `disabled_rules`).
    pub default_rules: bool,
    /// Default rules to switch off, by name.
    pub disabled_rules: Vec<String>,
    /// Rules added by the user; they rank after the default rules.
    pub user_rules: Vec<UserRule>,
    /// Replace with a keyed HMAC token instead of the bare rule name.
    pub tokenize: bool,
    /// Bytes read at a time; lines longer than this are matched through a sliding window.
    pub max_line_bytes: usize,
    /// Look-ahead kept across reads: secrets up to this long are always seen whole.
    pub max_secret_bytes: usize,
}

impl Default for RedactorConfig {
    fn default() -> Self {
        RedactorConfig {
            default_rules: true,
            disabled_rules: Vec::new(),
            user_rules: Vec::new(),
            tokenize: false,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            max_secret_bytes: DEFAULT_MAX_SECRET_BYTES,
        }
    }
}

impl RedactorConfig {
    /// Adds the rules and `disable` lines of a parsed rules file.
    pub fn with_rules_file(mut self, file: RulesFile) -> Self {
        self.user_rules.extend(file.rules);
        self.disabled_rules.extend(file.disabled);
        self
    }
}

/// The result of [`Redactor::redact_bytes`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redacted {
    /// The input with every match replaced.
    pub bytes: Vec<u8>,
    /// Rule name → number of replacements (rules that matched nothing are absent).
    pub counts: BTreeMap<String, u64>,
    /// What else a reader of the result should know (binary content, invalid UTF-8, oversized
    /// secrets, over-long lines), for a manifest; `None` when the input was ordinary text.
    pub note: Option<String>,
}

/// What [`Redactor::redact_stream`] saw. Holds rule names and counts, never a matched value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RedactionReport {
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Newline-terminated lines plus a final unterminated one.
    pub lines: u64,
    /// Rule name → number of replacements.
    pub counts: BTreeMap<String, u64>,
    /// Offset of the first NUL byte: binary content, redacted as bytes like the rest.
    pub binary_at: Option<u64>,
    /// Offset of the first byte that is not valid UTF-8.
    pub invalid_utf8_at: Option<u64>,
    /// Lines longer than `max_line_bytes`, matched through a window of `max_secret_bytes`.
    pub long_lines: u64,
    pub longest_line_bytes: u64,
    /// Secrets that ran past `max_secret_bytes`: redacted up to the next whitespace or quote.
    pub oversized_secrets: u64,
    /// PEM private keys without an END line in reach: redacted over their body.
    pub unterminated_pem_keys: u64,
    /// The first [`MAX_NOTICES`] of the events above, with their offsets.
    pub notices: Vec<Notice>,
}

/// One event worth telling the reader of a redacted artifact about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notice {
    /// Byte offset in the input.
    pub offset: u64,
    pub kind: NoticeKind,
}

/// The kinds of [`Notice`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoticeKind {
    Binary,
    InvalidUtf8,
    LongLine,
    OversizedSecret,
    UnterminatedPem,
}

impl RedactionReport {
    /// One sentence for a manifest, or `None` when there is nothing beyond the counts to say.
    pub fn note(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(at) = self.binary_at {
            parts.push(format!(
                "binary content (first NUL byte at offset {at}), redacted as bytes"
            ));
        }
        if let Some(at) = self.invalid_utf8_at {
            parts.push(format!(
                "invalid UTF-8 from offset {at}, passed through as bytes"
            ));
        }
        if self.long_lines > 0 {
            parts.push(format!(
                "{} line(s) longer than the line limit (longest {} bytes) matched through a sliding window, nothing cut",
                self.long_lines, self.longest_line_bytes
            ));
        }
        if self.oversized_secrets > 0 {
            parts.push(format!(
                "{} secret(s) longer than the look-ahead window, redacted up to the next whitespace or quote",
                self.oversized_secrets
            ));
        }
        if self.unterminated_pem_keys > 0 {
            parts.push(format!(
                "{} PEM private key(s) without an END line in reach, redacted over their whole body",
                self.unterminated_pem_keys
            ));
        }
        if parts.is_empty() {
            None
        } else {
            Some(parts.join("; "))
        }
    }

    fn notice(&mut self, offset: u64, kind: NoticeKind) {
        if self.notices.len() < MAX_NOTICES {
            self.notices.push(Notice { offset, kind });
        }
    }
}

/// Finds and replaces secrets. Build once per run and share it (it is `Sync`): in tokenize mode
/// the key lives in it, so one redactor gives one value one token across a whole bundle.
pub struct Redactor {
    engine: Engine,
    names: Vec<String>,
    /// Rule names in force, default ones first.
    active: Vec<String>,
    key: Option<[u8; 32]>,
    max_line_bytes: usize,
    max_secret_bytes: usize,
}

impl fmt::Debug for Redactor {
    // Written by hand so the tokenization key can never reach a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor")
            .field("rules", &self.active)
            .field("tokenize", &self.key.is_some())
            .field("max_line_bytes", &self.max_line_bytes)
            .field("max_secret_bytes", &self.max_secret_bytes)
            .finish_non_exhaustive()
    }
}

impl Default for Redactor {
    /// The default rules, replacing matches with `[REDACTED:<rule>]`.
    fn default() -> Self {
        Redactor::new(RedactorConfig::default())
            .expect("the default rule set compiles (checked by unit tests)")
    }
}

impl Redactor {
    /// Compiles the rules in `config`; in tokenize mode, draws a fresh random key.
    pub fn new(config: RedactorConfig) -> Result<Redactor, Error> {
        if config.max_secret_bytes < 256 {
            return Err(Error::Limits("max_secret_bytes must be at least 256"));
        }
        if config.max_line_bytes < config.max_secret_bytes {
            return Err(Error::Limits(
                "max_line_bytes must be at least max_secret_bytes",
            ));
        }
        for name in &config.disabled_rules {
            if !DEFAULT_RULE_NAMES.contains(&name.as_str()) {
                return Err(Error::UnknownRule {
                    name: name.clone(),
                    known: DEFAULT_RULE_NAMES.join(", "),
                });
            }
        }
        let mut names = Vec::new();
        let mut compiled = if config.default_rules {
            rules::default_rules(&config.disabled_rules, &mut names)?
        } else {
            Vec::new()
        };
        for user in &config.user_rules {
            validate_name(&user.name)?;
            if DEFAULT_RULE_NAMES.contains(&user.name.as_str()) {
                return Err(Error::InvalidRuleName {
                    name: user.name.clone(),
                    reason: "it is the name of a default rule",
                });
            }
            let name = match names.iter().position(|n| n == &user.name) {
                Some(i) => i,
                None => {
                    names.push(user.name.clone());
                    names.len() - 1
                }
            };
            compiled.push(user_rule(user, name)?);
        }
        let mut active: Vec<String> = Vec::new();
        for rule in &compiled {
            if !active.contains(&names[rule.name]) {
                active.push(names[rule.name].clone());
            }
        }
        let k8s = names
            .iter()
            .position(|n| n == "kubernetes-service-account-token")
            .filter(|_| {
                !config
                    .disabled_rules
                    .iter()
                    .any(|d| d == "kubernetes-service-account-token")
            });
        if k8s.is_some()
            && compiled.iter().any(|r| names[r.name] == "jwt")
            && !active
                .iter()
                .any(|n| n == "kubernetes-service-account-token")
        {
            active.push("kubernetes-service-account-token".to_string());
        }
        let key = if config.tokenize {
            let mut key = [0u8; 32];
            getrandom::fill(&mut key).map_err(Error::Random)?;
            Some(key)
        } else {
            None
        };
        Ok(Redactor {
            engine: Engine::new(compiled, k8s, config.max_secret_bytes)?,
            names,
            active,
            key,
            max_line_bytes: config.max_line_bytes,
            max_secret_bytes: config.max_secret_bytes,
        })
    }

    /// Names of the rules in force (for a manifest).
    pub fn rule_names(&self) -> &[String] {
        &self.active
    }

    /// `"tokenize"` or `"replace"` (for a manifest).
    pub fn mode(&self) -> &'static str {
        if self.key.is_some() {
            "tokenize"
        } else {
            "replace"
        }
    }

    /// Redacts a whole buffer in memory.
    pub fn redact_bytes(&self, input: &[u8]) -> Redacted {
        let mut bytes = Vec::with_capacity(input.len() + 64);
        let mut report = RedactionReport::default();
        let mut stats = LineStats::default();
        let round = self.round(input, true, false, 0, &mut report, &mut stats, &mut bytes);
        debug_assert_eq!(
            round.end,
            input.len(),
            "at end of input a round consumes everything"
        );
        report.bytes_in = input.len() as u64;
        report.bytes_out = bytes.len() as u64;
        stats.finish(&mut report, self.max_line_bytes);
        let note = report.note();
        Redacted {
            bytes,
            counts: report.counts,
            note,
        }
    }

    /// Redacts `reader` into `writer` in bounded memory (about `max_line_bytes + 2 ×
    /// max_secret_bytes`), whatever the input's line lengths or content.
    pub fn redact_stream<R: Read, W: Write>(
        &self,
        mut reader: R,
        mut writer: W,
    ) -> Result<RedactionReport, Error> {
        let capacity = self.max_line_bytes + self.max_secret_bytes;
        // Grown on demand, so a small input never costs a full window.
        let mut buf: Vec<u8> = Vec::new();
        let mut report = RedactionReport::default();
        let mut stats = LineStats::default();
        // Offset in the input of buf[0].
        let mut base: u64 = 0;
        let mut eof = false;
        // The previous chunk ended inside a secret that went on: swallow its tail.
        let mut swallow_tail = false;
        let mut out = Vec::new();
        loop {
            while !eof && buf.len() < capacity {
                let old = buf.len();
                buf.resize(capacity.min(old + READ_BYTES), 0);
                match reader.read(&mut buf[old..]) {
                    Ok(0) => {
                        buf.truncate(old);
                        eof = true;
                    }
                    Ok(n) => buf.truncate(old + n),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => buf.truncate(old),
                    Err(source) => {
                        buf.truncate(old);
                        return Err(Error::Read {
                            offset: base + old as u64,
                            source,
                        });
                    }
                }
            }
            if buf.is_empty() {
                break;
            }
            out.clear();
            let round = self.round(
                &buf,
                eof,
                swallow_tail,
                base,
                &mut report,
                &mut stats,
                &mut out,
            );
            swallow_tail = round.swallow_tail;
            let end = round.end;
            // Bytes before `pos` were the tail of a secret already replaced by its marker.
            let written = out.len();
            writer.write_all(&out).map_err(|source| Error::Write {
                offset: report.bytes_out,
                source,
            })?;
            report.bytes_out += written as u64;
            report.bytes_in += end as u64;
            base += end as u64;
            buf.drain(..end);
            if eof && buf.is_empty() {
                break;
            }
        }
        stats.finish(&mut report, self.max_line_bytes);
        writer.flush().map_err(|source| Error::Write {
            offset: report.bytes_out,
            source,
        })?;
        Ok(report)
    }

    /// One round over `buf`: decides the redactions whose context starts before the commit point
    /// (all of them at end of input), appends the redacted bytes to `out` and says how far it got.
    #[allow(clippy::too_many_arguments)]
    fn round(
        &self,
        buf: &[u8],
        eof: bool,
        swallow_tail: bool,
        base: u64,
        report: &mut RedactionReport,
        stats: &mut LineStats,
        out: &mut Vec<u8>,
    ) -> Round {
        let mut pos = 0;
        let mut swallow_tail = swallow_tail;
        if swallow_tail {
            let tail = buf
                .iter()
                .position(|&b| engine::is_value_end(b))
                .unwrap_or(buf.len());
            pos = tail;
            swallow_tail = tail == buf.len() && !eof;
        }
        let commit = if eof {
            buf.len()
        } else {
            buf.len() - self.max_secret_bytes
        };
        let spans: Vec<Span> = if pos < commit {
            self.engine
                .scan(&buf[pos..], eof)
                .into_iter()
                .map(|s| Span {
                    context_start: s.context_start + pos,
                    start: s.start + pos,
                    end: s.end + pos,
                    ..s
                })
                .collect()
        } else {
            Vec::new()
        };
        // Decide every span whose context starts before the commit point, then every span a
        // decided one reaches into, until nothing changes: no secret is ever split between
        // two rounds, and no match is judged without its context.
        let mut end = commit.max(pos);
        loop {
            let reach = spans
                .iter()
                .filter(|s| s.context_start < end || s.start < end)
                .map(|s| s.end)
                .fold(end, usize::max);
            if reach == end {
                break;
            }
            end = reach;
        }
        let decided = spans.iter().take_while(|s| s.start < end);
        stats.account(&buf[..end], base, report, self.max_line_bytes);
        let mut at = pos;
        for span in decided {
            out.extend_from_slice(&buf[at..span.start]);
            self.write_marker(out, span.name, &buf[span.start..span.end]);
            *report
                .counts
                .entry(self.names[span.name].clone())
                .or_insert(0) += 1;
            if span.unterminated_pem {
                report.unterminated_pem_keys += 1;
                report.notice(base + span.start as u64, NoticeKind::UnterminatedPem);
            }
            if span.open_ended && span.end == buf.len() {
                report.oversized_secrets += 1;
                report.notice(base + span.start as u64, NoticeKind::OversizedSecret);
                swallow_tail = true;
            }
            at = span.end;
        }
        out.extend_from_slice(&buf[at..end]);
        Round { end, swallow_tail }
    }

    fn write_marker(&self, out: &mut Vec<u8>, name: usize, value: &[u8]) {
        out.extend_from_slice(b"[REDACTED:");
        out.extend_from_slice(self.names[name].as_bytes());
        if let Some(key) = &self.key {
            let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
                .expect("HMAC accepts a key of any length");
            mac.update(value);
            let digest = mac.finalize().into_bytes();
            out.push(b':');
            for b in &digest[..6] {
                out.extend_from_slice(&[HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
            }
        }
        out.push(b']');
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Rule names appear in output and manifests: keep them plain.
fn validate_name(name: &str) -> Result<(), Error> {
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if name.is_empty() || name.len() > 64 {
        return Err(Error::InvalidRuleName {
            name: name.to_string(),
            reason: "it must be 1 to 64 characters long",
        });
    }
    if !ok_chars || !name.as_bytes()[0].is_ascii_alphanumeric() {
        return Err(Error::InvalidRuleName {
            name: name.to_string(),
            reason: "use lower-case letters, digits and '-', starting with a letter or digit",
        });
    }
    Ok(())
}

fn user_rule(user: &UserRule, name: usize) -> Result<rules::Rule, Error> {
    let (pattern, anchors) = match &user.pattern {
        UserPattern::Regex(pattern) => (pattern.clone(), Vec::new()),
        UserPattern::Literal(text) => {
            if text.is_empty() {
                return Err(Error::InvalidRuleName {
                    name: user.name.clone(),
                    reason: "its literal is empty",
                });
            }
            // A literal spanning lines cannot be found line by line: scan whole chunks for it.
            let anchors = if text.contains('\n') {
                Vec::new()
            } else {
                vec![text.clone().into_bytes()]
            };
            (regex::escape(text), anchors)
        }
    };
    Ok(rules::Rule {
        name,
        anchors,
        gate: rules::Gate::Exact,
        matcher: rules::Matcher::Regex(rules::compile(&user.name, &pattern)?),
        check: rules::Check::None,
    })
}

/// How far one round got.
struct Round {
    /// Bytes of the buffer consumed (written, redacted or skipped).
    end: usize,
    /// The round ended inside a secret that goes on: the next round skips its tail.
    swallow_tail: bool,
}

/// Line counting across chunks, for the report.
#[derive(Default)]
struct LineStats {
    current_line: u64,
    line_start: u64,
    long_line_noticed: bool,
    utf8_carry: Vec<u8>,
}

impl LineStats {
    fn account(&mut self, bytes: &[u8], base: u64, report: &mut RedactionReport, max_line: usize) {
        let max_line = max_line as u64;
        let mut last = 0usize;
        for nl in memchr::memchr_iter(b'\n', bytes) {
            self.current_line += (nl - last) as u64;
            self.end_line(report, max_line);
            self.line_start = base + nl as u64 + 1;
            last = nl + 1;
        }
        self.current_line += (bytes.len() - last) as u64;
        if self.current_line > max_line && !self.long_line_noticed {
            self.long_line_noticed = true;
            report.notice(self.line_start, NoticeKind::LongLine);
        }
        if report.binary_at.is_none()
            && let Some(i) = memchr::memchr(0, bytes)
        {
            report.binary_at = Some(base + i as u64);
            report.notice(base + i as u64, NoticeKind::Binary);
        }
        if report.invalid_utf8_at.is_none() {
            self.check_utf8(bytes, base, report);
        }
    }

    fn check_utf8(&mut self, bytes: &[u8], base: u64, report: &mut RedactionReport) {
        // A character split between two chunks is carried (at most three bytes) and completed
        // from the next chunk.
        let mut start = 0;
        if !self.utf8_carry.is_empty() {
            let carried = self.utf8_carry.len();
            let need = utf8_sequence_len(self.utf8_carry[0]).saturating_sub(carried);
            let take = need.min(bytes.len());
            self.utf8_carry.extend_from_slice(&bytes[..take]);
            if take < need {
                return;
            }
            if std::str::from_utf8(&self.utf8_carry).is_err() {
                let at = base - carried as u64;
                report.invalid_utf8_at = Some(at);
                report.notice(at, NoticeKind::InvalidUtf8);
                self.utf8_carry.clear();
                return;
            }
            self.utf8_carry.clear();
            start = take;
        }
        if let Err(e) = std::str::from_utf8(&bytes[start..]) {
            match e.error_len() {
                Some(_) => {
                    let at = base + (start + e.valid_up_to()) as u64;
                    report.invalid_utf8_at = Some(at);
                    report.notice(at, NoticeKind::InvalidUtf8);
                }
                None => self.utf8_carry = bytes[start + e.valid_up_to()..].to_vec(),
            }
        }
    }

    fn end_line(&mut self, report: &mut RedactionReport, max_line: u64) {
        report.lines += 1;
        if self.current_line > max_line {
            report.long_lines += 1;
            if !self.long_line_noticed {
                report.notice(self.line_start, NoticeKind::LongLine);
            }
        }
        report.longest_line_bytes = report.longest_line_bytes.max(self.current_line);
        self.current_line = 0;
        self.long_line_noticed = false;
    }

    fn finish(&mut self, report: &mut RedactionReport, max_line: usize) {
        if self.current_line > 0 {
            self.end_line(report, max_line as u64);
        }
        if report.invalid_utf8_at.is_none() && !self.utf8_carry.is_empty() {
            let at = report.bytes_in - self.utf8_carry.len() as u64;
            report.invalid_utf8_at = Some(at);
            report.notice(at, NoticeKind::InvalidUtf8);
        }
    }
}

/// Length of the UTF-8 sequence that `lead` starts.
fn utf8_sequence_len(lead: u8) -> usize {
    match lead {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redactor_can_be_shared_across_threads() {
        fn shared<T: Send + Sync>(_: &T) {}
        shared(&Redactor::default());
    }

    #[test]
    fn debug_output_never_shows_the_key() {
        let redactor = Redactor::new(RedactorConfig {
            tokenize: true,
            ..RedactorConfig::default()
        })
        .expect("builds");
        let shown = format!("{redactor:?}");
        assert!(shown.contains("tokenize: true"), "{shown}");
        assert!(
            !shown.contains("key:") && !shown.contains("key ="),
            "{shown}"
        );
    }

    #[test]
    fn limits_are_validated() {
        let small = RedactorConfig {
            max_secret_bytes: 10,
            ..RedactorConfig::default()
        };
        assert!(matches!(Redactor::new(small), Err(Error::Limits(_))));
        let inverted = RedactorConfig {
            max_line_bytes: 1024,
            max_secret_bytes: 4096,
            ..RedactorConfig::default()
        };
        assert!(matches!(Redactor::new(inverted), Err(Error::Limits(_))));
        let unknown = RedactorConfig {
            disabled_rules: vec!["nope".into()],
            ..RedactorConfig::default()
        };
        let err = Redactor::new(unknown).expect_err("unknown rule");
        assert!(
            err.to_string()
                .starts_with("unknown default rule `nope` (known: gcp-service-account-key,"),
            "{err}"
        );
    }
}
