//! Log rules: DNS resolution failures.

use super::Meta;
use crate::finding::{Evidence, Finding, Severity};
use crate::rule::{AnalysisInput, Input, Rule};

/// The phrase glibc (`EAI_AGAIN`), Java (`UnknownHostException: …: Temporary failure in name
/// resolution`), Python and curl print when a DNS lookup timed out or the server failed.
pub const DNS_FAILURE: &str = "temporary failure in name resolution";

/// Longest log line quoted in evidence.
const QUOTE_CHARS: usize = 240;

/// L-DNS: logs containing "temporary failure in name resolution" → warn.
pub struct Dns;

const DNS: Meta = Meta {
    id: "L-DNS",
    explanation: "Name lookups failed with a temporary error (EAI_AGAIN): the DNS server did not answer in time. \
                  In Kubernetes the usual causes are a full conntrack table or the UDP conntrack race dropping \
                  DNS packets (see CT-USAGE, CT-DROP, CT-INSERT-FAILED), or overloaded CoreDNS.",
    remedy: "Check the conntrack findings of the node; run NodeLocal DNSCache; lower lookups per request (ndots:2 \
             in dnsConfig, fully qualified names with a trailing dot); scale CoreDNS.",
    reference: "glibc EAI_AGAIN message; conntrack exhaustion incident pattern",
};

impl Rule for Dns {
    fn id(&self) -> &'static str {
        DNS.id
    }
    fn summary(&self) -> &'static str {
        "logs contain \"temporary failure in name resolution\" (warn)"
    }
    fn reads(&self) -> &'static [Input] {
        &[Input::Logs]
    }
    fn evaluate(&self, input: &AnalysisInput<'_>) -> Vec<Finding> {
        let mut out = Vec::new();
        for log in input.logs {
            let mut matching = log
                .text
                .lines()
                .enumerate()
                .filter(|(_, line)| contains_ignore_ascii_case(line, DNS_FAILURE));
            let Some(first) = matching.next() else {
                continue;
            };
            let mut count = 1;
            let mut last = first;
            for hit in matching {
                count += 1;
                last = hit;
            }
            let mut evidence = vec![Evidence::new(
                format!("lines with \"{DNS_FAILURE}\""),
                count.to_string(),
                "any",
                log.source.clone(),
            )];
            evidence.push(Evidence::context(
                format!("first, line {}", first.0 + 1),
                quote(first.1),
                log.source.clone(),
            ));
            if count > 1 {
                evidence.push(Evidence::context(
                    format!("last, line {}", last.0 + 1),
                    quote(last.1),
                    log.source.clone(),
                ));
            }
            out.push(DNS.finding(
                Severity::Warn,
                log.subject.clone(),
                format!(
                    "{count} DNS resolution failure(s) in the log of {}",
                    log.subject
                ),
                evidence,
            ));
        }
        out
    }
}

fn contains_ignore_ascii_case(haystack: &str, needle: &str) -> bool {
    let needle = needle.as_bytes();
    haystack
        .as_bytes()
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

fn quote(line: &str) -> String {
    let line = line.trim();
    if line.chars().count() <= QUOTE_CHARS {
        line.to_string()
    } else {
        let cut: String = line.chars().take(QUOTE_CHARS).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::LogText;

    fn logs(text: &str) -> Vec<LogText> {
        vec![LogText {
            subject: "pod shop/api-7d9 container app".into(),
            source: "logs/shop/api-7d9/app.log".into(),
            text: text.into(),
        }]
    }

    #[test]
    fn dns_failures_in_logs() {
        let clean = logs("GET /health 200\nconnected to db\n");
        assert!(
            Dns.evaluate(&AnalysisInput {
                logs: &clean,
                ..Default::default()
            })
            .is_empty()
        );
        let bad = logs(
            "2024-05-01T10:00:00Z INFO start\n\
             2024-05-01T10:00:05Z ERROR java.net.UnknownHostException: db.shop.svc: Temporary failure in name resolution\n\
             2024-05-01T10:00:06Z INFO retry\n\
             2024-05-01T10:00:11Z ERROR getaddrinfo EAI_AGAIN: temporary failure in name resolution\n",
        );
        let found = Dns.evaluate(&AnalysisInput {
            logs: &bad,
            ..Default::default()
        });
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].severity, Severity::Warn);
        assert_eq!(found[0].evidence[0].value, "2");
        assert_eq!(found[0].evidence[1].label, "first, line 2");
        assert_eq!(found[0].evidence[2].label, "last, line 4");
        assert_eq!(found[0].evidence[0].source, "logs/shop/api-7d9/app.log");
    }
}
