//! Redaction flags shared by every verb that writes a bundle, and the adapter that lets the
//! bundle writer call the `redact` crate on every text and JSON member.

use std::sync::Arc;

use anyhow::Context;
use clap::Args;

/// `--no-redact`, `--tokenize`, `--redact-regex`, `--redact-literal`, `--redact-rules`.
#[derive(Args, Debug, Default, Clone)]
pub struct RedactFlags {
    /// Store text unredacted. The manifest then carries a warning that every reader sees.
    #[arg(long)]
    pub no_redact: bool,
    /// Replace each secret with a keyed HMAC token (same value → same token within the bundle;
    /// the key is random per run and never stored) instead of `[REDACTED:<rule>]`.
    #[arg(long, conflicts_with = "no_redact")]
    pub tokenize: bool,
    /// Also redact matches of this regular expression (repeatable).
    #[arg(long, value_name = "REGEX")]
    pub redact_regex: Vec<String>,
    /// Also redact this exact text (repeatable).
    #[arg(long, value_name = "TEXT")]
    pub redact_literal: Vec<String>,
    /// A rules file: lines `regex NAME PATTERN`, `literal NAME TEXT`, `disable RULE`.
    #[arg(long, value_name = "FILE")]
    pub redact_rules: Option<std::path::PathBuf>,
}

/// The warning written into the manifest of an unredacted bundle.
pub const UNREDACTED_WARNING: &str = "REDACTION WAS DISABLED (--no-redact): this bundle may contain passwords, tokens and keys; do not share it";

impl RedactFlags {
    /// Build the redactor these flags ask for; `None` for `--no-redact`.
    pub fn redactor(&self) -> anyhow::Result<Option<Arc<redact::Redactor>>> {
        if self.no_redact {
            return Ok(None);
        }
        let mut config = redact::RedactorConfig {
            tokenize: self.tokenize,
            ..Default::default()
        };
        for (i, pattern) in self.redact_regex.iter().enumerate() {
            config.user_rules.push(redact::UserRule::regex(
                format!("user-regex-{}", i + 1),
                pattern.clone(),
            ));
        }
        for (i, text) in self.redact_literal.iter().enumerate() {
            config.user_rules.push(redact::UserRule::literal(
                format!("user-literal-{}", i + 1),
                text.clone(),
            ));
        }
        if let Some(path) = &self.redact_rules {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading the rules file {}", path.display()))?;
            let rules = redact::parse_rules_file(&text, &path.display().to_string())
                .with_context(|| format!("parsing the rules file {}", path.display()))?;
            config = config.with_rules_file(rules);
        }
        let redactor = redact::Redactor::new(config)
            .context("building the redaction rules (check --redact-regex)")?;
        Ok(Some(Arc::new(redactor)))
    }

    /// Configure `writer` for these flags: a redacting filter, or the unredacted warning.
    pub fn apply(
        &self,
        writer: &mut bundle::BundleWriter,
    ) -> anyhow::Result<Option<Arc<redact::Redactor>>> {
        let redactor = self.redactor()?;
        install(redactor.clone(), writer);
        Ok(redactor)
    }
}

/// Configure `writer` with a redactor built earlier (`None`: `--no-redact`, with its warning).
pub fn install(redactor: Option<Arc<redact::Redactor>>, writer: &mut bundle::BundleWriter) {
    match redactor {
        Some(redactor) => writer.set_filter(Box::new(RedactFilter(redactor))),
        None => {
            writer.set_redaction_disabled(UNREDACTED_WARNING);
            eprintln!("\x1b[31mwarning: {UNREDACTED_WARNING}\x1b[0m");
        }
    }
}

/// `text` as it may be shown or stored: redacted when a redactor is in force.
pub fn redact_text(redactor: Option<&redact::Redactor>, text: &str) -> String {
    match redactor {
        Some(r) => String::from_utf8_lossy(&r.redact_bytes(text.as_bytes()).bytes).into_owned(),
        None => text.to_string(),
    }
}

/// Adapter: the bundle writer's text filter, backed by a shared redactor (so tokens agree across
/// every member of one bundle).
pub struct RedactFilter(pub Arc<redact::Redactor>);

impl bundle::TextFilter for RedactFilter {
    fn filter(&mut self, _member: &str, data: &[u8]) -> bundle::FilterOutput {
        let redacted = self.0.redact_bytes(data);
        bundle::FilterOutput {
            bytes: redacted.bytes,
            counts: redacted.counts,
            note: redacted.note,
        }
    }

    fn describe(&self) -> bundle::RedactionSummary {
        bundle::RedactionSummary {
            enabled: true,
            mode: self.0.mode().to_string(),
            rules: self.0.rule_names().to_vec(),
            ..Default::default()
        }
    }
}
