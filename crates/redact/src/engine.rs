//! The matching core: one chunk of bytes in, the redactions to apply out.
//!
//! The streaming driver (in `lib.rs`) hands [`Engine::scan`] a buffer made of bytes it has not
//! yet written plus fresh input, and a *commit point*: every redaction whose context starts
//! before that point is decided now, with at least `max_secret_bytes` of look-ahead behind it, so
//! a secret straddling two reads is seen whole. Matching runs in two stages: an Aho-Corasick
//! automaton over the anchors finds the few lines worth a look, then only the rules anchored
//! there run their regexes on those lines (clipped to a window around the anchor when a line is
//! longer than `max_secret_bytes`).

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};

use crate::rules::{self, Check, Gate, Matcher, Rule};

/// One redaction decided by the engine, offsets relative to the scanned buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    /// Where the text that made the match (key, scheme, header name) starts.
    pub context_start: usize,
    /// The secret bytes to replace.
    pub start: usize,
    pub end: usize,
    /// Rule name index (the highest-priority rule among those merged into this span).
    pub name: usize,
    /// Rule priority (lower wins).
    pub priority: usize,
    /// The match reached the end of what could be seen, so it may go on past it.
    pub open_ended: bool,
    /// A PEM block whose END line was not found within the window.
    pub unterminated_pem: bool,
}

/// Compiled rules plus the anchor automaton.
#[derive(Debug)]
pub(crate) struct Engine {
    rules: Vec<Rule>,
    /// Anchor pattern id → the rules it may trigger (indices into `rules`), each behind its gate.
    anchor_rules: Vec<Vec<Trigger>>,
    prefilter: Option<AhoCorasick>,
    /// Rules without anchors: run over the whole buffer.
    unanchored: Vec<usize>,
    /// Name index → the kubernetes-service-account-token name index, for JWT classification.
    k8s_name: Option<usize>,
    max_secret_bytes: usize,
}

/// How far before an anchor a match may start on an over-long line (the key's prefix, a URL
/// scheme, `Server=…;` before `Password=`).
const MAX_CONTEXT_BYTES: usize = 1024;

/// One rule behind one anchor.
#[derive(Debug)]
struct Trigger {
    rule: usize,
    gate: Gate,
    /// The anchor as the rule spells it (for [`Gate::Exact`]).
    exact: Vec<u8>,
}

/// A stretch of the buffer (usually one line) and the rules to run on it.
struct Region {
    start: usize,
    end: usize,
    rules: Vec<bool>,
}

impl Engine {
    pub fn new(
        rules: Vec<Rule>,
        k8s_name: Option<usize>,
        max_secret_bytes: usize,
    ) -> Result<Self, aho_corasick::BuildError> {
        let mut anchors: Vec<Vec<u8>> = Vec::new();
        let mut anchor_rules: Vec<Vec<Trigger>> = Vec::new();
        let mut unanchored = Vec::new();
        for (i, rule) in rules.iter().enumerate() {
            if rule.anchors.is_empty() {
                unanchored.push(i);
            }
            for anchor in &rule.anchors {
                let lower = anchor.to_ascii_lowercase();
                let trigger = Trigger {
                    rule: i,
                    gate: rule.gate,
                    exact: anchor.clone(),
                };
                match anchors.iter().position(|a| *a == lower) {
                    Some(id) => anchor_rules[id].push(trigger),
                    None => {
                        anchors.push(lower);
                        anchor_rules.push(vec![trigger]);
                    }
                }
            }
        }
        let prefilter = if anchors.is_empty() {
            None
        } else {
            Some(
                AhoCorasickBuilder::new()
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::Standard)
                    .kind(Some(AhoCorasickKind::DFA))
                    .build(&anchors)?,
            )
        };
        Ok(Engine {
            rules,
            anchor_rules,
            prefilter,
            unanchored,
            k8s_name,
            max_secret_bytes,
        })
    }

    /// Finds every redaction in `buf`. `eof` says no byte follows `buf`, so a match ending at
    /// its end is complete. Returned spans are sorted, disjoint and merged (overlapping matches
    /// of different rules become one span named after the highest-priority rule).
    pub fn scan(&self, buf: &[u8], eof: bool) -> Vec<Span> {
        let mut spans = Vec::new();
        let window = self.max_secret_bytes;
        if let Some(ac) = &self.prefilter {
            let mut current: Option<Region> = None;
            for hit in ac.find_iter(buf) {
                let p = hit.start();
                let end_of_anchor = hit.end();
                let triggers = &self.anchor_rules[hit.pattern().as_usize()];
                let passes = |t: &&Trigger| gate_passes(t, buf, p, end_of_anchor);
                if !triggers.iter().any(|t| passes(&t)) {
                    continue;
                }
                let triggered = triggers.iter().filter(passes).map(|t| t.rule);
                if let Some(region) = current.as_mut()
                    && p < region.end
                {
                    for r in triggered {
                        region.rules[r] = true;
                    }
                    // A window cut short of its line's end must still reach `window` bytes
                    // past this anchor, or a match starting here could be cut.
                    if region.end < buf.len() && buf[region.end] != b'\n' {
                        let fwd = (p + window).min(buf.len());
                        if fwd > region.end {
                            region.end = memchr::memchr(b'\n', &buf[region.end..fwd])
                                .map_or(fwd, |i| region.end + i);
                        }
                    }
                    continue;
                }
                // Every rule's context (key, scheme, header name) sits just before its anchor.
                let back = p.saturating_sub(window.min(MAX_CONTEXT_BYTES));
                let start = memchr::memrchr(b'\n', &buf[back..p]).map_or(back, |i| back + i + 1);
                let fwd = (p + window).min(buf.len());
                let end = memchr::memchr(b'\n', &buf[p..fwd]).map_or(fwd, |i| p + i);
                match current.as_mut() {
                    Some(region) if start <= region.end => {
                        region.end = region.end.max(end);
                        for r in triggered {
                            region.rules[r] = true;
                        }
                    }
                    _ => {
                        if let Some(done) = current.take() {
                            self.scan_region(buf, eof, &done, &mut spans);
                        }
                        let mut rules = vec![false; self.rules.len()];
                        for r in triggered {
                            rules[r] = true;
                        }
                        current = Some(Region { start, end, rules });
                    }
                }
            }
            if let Some(done) = current.take() {
                self.scan_region(buf, eof, &done, &mut spans);
            }
        }
        if !self.unanchored.is_empty() {
            let mut rules = vec![false; self.rules.len()];
            for &r in &self.unanchored {
                rules[r] = true;
            }
            let whole = Region {
                start: 0,
                end: buf.len(),
                rules,
            };
            self.scan_region(buf, eof, &whole, &mut spans);
        }
        merge(spans)
    }

    fn scan_region(&self, buf: &[u8], eof: bool, region: &Region, spans: &mut Vec<Span>) {
        let hay = &buf[region.start..region.end];
        // A region that ends anywhere but at a newline (or at the true end of input) was cut
        // short: a match touching its end may go on.
        let clipped_end =
            !(region.end < buf.len() && buf[region.end] == b'\n' || region.end == buf.len() && eof);
        for (i, rule) in self.rules.iter().enumerate() {
            if !region.rules[i] {
                continue;
            }
            match &rule.matcher {
                Matcher::Regex(regex) => {
                    for caps in regex.captures_iter(hay) {
                        let whole = caps.get(0).expect("group 0 always participates");
                        let (s, e) = rules::secret_span(regex, &caps);
                        if s == e {
                            continue;
                        }
                        let value = &hay[s..e];
                        let mut name = rule.name;
                        let keep = match rule.check {
                            Check::None => true,
                            Check::Value => !rules::is_placeholder(value),
                            Check::ValueNotPath => {
                                !rules::is_placeholder(value)
                                    && !rules::key_of(&caps)
                                        .is_some_and(|k| rules::is_working_directory(k, value))
                            }
                            Check::RandomLooking => rules::looks_random(value),
                            Check::Jwt => {
                                if let Some(k8s) = self.k8s_name
                                    && rules::is_kubernetes_token(value)
                                {
                                    name = k8s;
                                }
                                true
                            }
                        };
                        if !keep {
                            continue;
                        }
                        let mut span = Span {
                            context_start: region.start + whole.start(),
                            start: region.start + s,
                            end: region.start + e,
                            name,
                            priority: name,
                            open_ended: false,
                            unterminated_pem: false,
                        };
                        if e == hay.len() && clipped_end {
                            self.extend_open_ended(buf, eof, &mut span);
                        }
                        spans.push(span);
                    }
                }
                Matcher::Pem(begin) => {
                    for m in begin.find_iter(hay) {
                        let start = region.start + m.start();
                        spans.push(self.pem_span(
                            buf,
                            eof,
                            start,
                            region.start + m.end(),
                            rule.name,
                        ));
                    }
                }
            }
        }
    }

    /// A value that ran into the end of the window: redact on to the next separator, so the
    /// tail of an oversized secret is not written in clear.
    fn extend_open_ended(&self, buf: &[u8], eof: bool, span: &mut Span) {
        let rest = &buf[span.end..];
        match rest.iter().position(|&b| is_value_end(b)) {
            Some(i) => span.end += i,
            None => {
                span.end = buf.len();
                span.open_ended = !eof;
            }
        }
    }

    /// From a BEGIN line to the end of its END line, or — with no END within the window —
    /// over every byte that can belong to a PEM body, up to the window.
    fn pem_span(
        &self,
        buf: &[u8],
        eof: bool,
        start: usize,
        body_start: usize,
        name: usize,
    ) -> Span {
        let limit = (start + self.max_secret_bytes).min(buf.len());
        let body = &buf[body_start..limit];
        let mut span = Span {
            context_start: start,
            start,
            end: limit,
            name,
            priority: name,
            open_ended: false,
            unterminated_pem: false,
        };
        if let Some(i) = memchr::memmem::find(body, b"-----END ") {
            let after = body_start + i + b"-----END ".len();
            let tail = &buf[after..limit];
            // The END line's closing dashes come within a few words.
            if let Some(j) = memchr::memmem::find(&tail[..tail.len().min(128)], b"-----") {
                span.end = after + j + 5;
                return span;
            }
        }
        let run = body
            .iter()
            .position(|&b| !is_pem_body(b))
            .unwrap_or(body.len());
        span.end = body_start + run;
        if span.end == buf.len() && !eof {
            span.open_ended = true;
        }
        span.unterminated_pem = true;
        span
    }
}

/// The cheap test at an anchor hit (see [`Gate`]).
fn gate_passes(trigger: &Trigger, buf: &[u8], start: usize, end: usize) -> bool {
    match trigger.gate {
        Gate::None => true,
        Gate::Exact => buf[start..end] == trigger.exact[..],
        Gate::FollowedByBlank => matches!(buf.get(end), Some(b' ' | b'\t')),
        Gate::Keyword => {
            let is_key = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-');
            let mut i = end;
            let limit = (end + 64).min(buf.len());
            while i < limit && is_key(buf[i]) {
                i += 1;
            }
            // A quote escaped once or more (`\"`, `\\\"`: JSON inside JSON strings).
            let escapes_end = (i + 16).min(buf.len());
            while i < escapes_end && buf[i] == b'\\' {
                i += 1;
            }
            if matches!(buf.get(i), Some(b'"' | b'\'')) {
                i += 1;
            }
            while matches!(buf.get(i), Some(b' ' | b'\t')) {
                i += 1;
            }
            if matches!(buf.get(i), Some(b'=' | b':' | b'>')) {
                return true;
            }
            // `--db-password value`: the key starts with a dash.
            let mut k = start;
            let floor = start.saturating_sub(128);
            while k > floor && is_key(buf[k - 1]) {
                k -= 1;
            }
            buf[k] == b'-'
        }
        Gate::UrlUserinfo => {
            let limit = (end + 512).min(buf.len());
            for &b in &buf[end..limit] {
                match b {
                    b'@' => return true,
                    b'/' | b'?' | b'#' | b'"' | b'\'' | b'<' | b'>' | 0 => return false,
                    _ if b.is_ascii_whitespace() => return false,
                    _ => {}
                }
            }
            false
        }
    }
}

/// Bytes that end a bare value when an oversized secret is extended.
pub(crate) fn is_value_end(b: u8) -> bool {
    b.is_ascii_whitespace() || matches!(b, b'"' | b'\'' | 0)
}

/// Bytes that may appear in a PEM body (base64, line breaks, JSON `\n` escapes, RFC 1421 headers).
fn is_pem_body(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'+' | b'/' | b'=' | b'\\' | b'\r' | b'\n' | b' ' | b'\t' | b':' | b',' | b'-'
        )
}

/// Sorts spans and merges overlapping ones (the union of their bytes, the best-priority name).
fn merge(mut spans: Vec<Span>) -> Vec<Span> {
    spans.sort_by_key(|s| (s.start, s.priority));
    let mut out: Vec<Span> = Vec::with_capacity(spans.len());
    for span in spans {
        if let Some(last) = out.last_mut()
            && span.start < last.end
        {
            last.end = last.end.max(span.end);
            last.context_start = last.context_start.min(span.context_start);
            last.open_ended |= span.open_ended;
            last.unterminated_pem |= span.unterminated_pem;
            if span.priority < last.priority {
                last.priority = span.priority;
                last.name = span.name;
            }
            continue;
        }
        out.push(span);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passes(gate: Gate, anchor: &str, text: &str) -> bool {
        let start = text
            .to_ascii_lowercase()
            .find(&anchor.to_ascii_lowercase())
            .expect("anchor in text");
        let trigger = Trigger {
            rule: 0,
            gate,
            exact: anchor.as_bytes().to_vec(),
        };
        gate_passes(&trigger, text.as_bytes(), start, start + anchor.len())
    }

    #[test]
    fn keyword_gate_keeps_assignments_and_flags_and_drops_prose() {
        for text in [
            "password=x",
            "DB_PASSWORD = x",
            r#""password": "x""#,
            r#"{\"password\":\"x\"}"#,
            "--db-password x",
            "<password>x</password>",
            "SECRET_KEY_BASE: x",
        ] {
            let anchor = if text.to_ascii_lowercase().contains("password") {
                "password"
            } else {
                "secret"
            };
            assert!(passes(Gate::Keyword, anchor, text), "{text}");
        }
        for text in [
            "refreshing token before expiry",
            "the password is wrong",
            "token bucket 48/50",
            "re-token it",
        ] {
            let anchor = if text.contains("password") {
                "password"
            } else {
                "token"
            };
            assert!(!passes(Gate::Keyword, anchor, text), "{text}");
        }
    }

    #[test]
    fn url_gate_needs_userinfo() {
        assert!(passes(Gate::UrlUserinfo, "://", "postgres://u:p@db/x"));
        assert!(passes(Gate::UrlUserinfo, "://", "redis://:p@db"));
        assert!(!passes(Gate::UrlUserinfo, "://", "https://example.com/a@b"));
        assert!(!passes(
            Gate::UrlUserinfo,
            "://",
            "https://example.com:8443 user@x"
        ));
    }

    #[test]
    fn exact_gate_is_case_sensitive() {
        assert!(passes(Gate::Exact, "AKIA", "id AKIAXXXX"));
        assert!(!passes(Gate::Exact, "AKIA", "id akiaxxxx"));
        assert!(passes(Gate::FollowedByBlank, "bearer", "Bearer abc"));
        assert!(!passes(Gate::FollowedByBlank, "bearer", "bearer,"));
    }
}
