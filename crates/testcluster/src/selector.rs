//! Label selectors (`app=web,tier!=db,env in (a,b),!canary`) and the field selectors the
//! clients here use (`metadata.name=…`, `involvedObject.name=…`).

use std::collections::BTreeMap;

/// One requirement of a label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// Split at commas that are not inside parentheses.
fn split_top(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn set_values(s: &str) -> Option<Vec<String>> {
    let inner = s.trim().strip_prefix('(')?.strip_suffix(')')?;
    Some(
        inner
            .split(',')
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect(),
    )
}

/// Parse a label selector; `Err` carries the message an API server would give.
pub fn parse(selector: &str) -> Result<Vec<Requirement>, String> {
    let mut out = Vec::new();
    for part in split_top(selector) {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let req = if let Some(k) = part.strip_prefix('!') {
            Requirement::NotExists(k.trim().to_string())
        } else if let Some((k, v)) = part.split_once("!=") {
            Requirement::NotEquals(k.trim().into(), v.trim().into())
        } else if let Some((k, v)) = part.split_once("==") {
            Requirement::Equals(k.trim().into(), v.trim().into())
        } else if let Some((k, v)) = part.split_once('=') {
            Requirement::Equals(k.trim().into(), v.trim().into())
        } else if let Some((k, v)) = part.split_once(" notin ") {
            Requirement::NotIn(
                k.trim().into(),
                set_values(v).ok_or_else(|| format!("unable to parse requirement: {part}"))?,
            )
        } else if let Some((k, v)) = part.split_once(" in ") {
            Requirement::In(
                k.trim().into(),
                set_values(v).ok_or_else(|| format!("unable to parse requirement: {part}"))?,
            )
        } else if part
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
        {
            Requirement::Exists(part.to_string())
        } else {
            return Err(format!(
                "unable to parse requirement: found '{part}', expected: identifier"
            ));
        };
        out.push(req);
    }
    Ok(out)
}

/// True when every requirement holds for `labels`.
pub fn matches(requirements: &[Requirement], labels: &BTreeMap<String, String>) -> bool {
    requirements.iter().all(|r| match r {
        Requirement::Equals(k, v) => labels.get(k) == Some(v),
        Requirement::NotEquals(k, v) => labels.get(k) != Some(v),
        Requirement::In(k, vs) => labels.get(k).is_some_and(|l| vs.contains(l)),
        Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|l| !vs.contains(l)),
        Requirement::Exists(k) => labels.contains_key(k),
        Requirement::NotExists(k) => !labels.contains_key(k),
    })
}

/// Field selector `a=b,c=d` as pairs (`==` accepted; `!=` is not needed by the clients here).
pub fn parse_fields(selector: &str) -> Vec<(String, String)> {
    selector
        .split(',')
        .filter_map(|p| {
            let (k, v) = p.split_once("==").or_else(|| p.split_once('='))?;
            Some((k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn selector_forms() {
        let l = labels(&[("app", "web"), ("tier", "front")]);
        assert!(matches(&parse("app=web").unwrap(), &l));
        assert!(matches(&parse("app==web,tier").unwrap(), &l));
        assert!(!matches(&parse("app=web,tier!=front").unwrap(), &l));
        assert!(matches(
            &parse("tier in (front, back),!canary").unwrap(),
            &l
        ));
        assert!(!matches(&parse("tier notin (front)").unwrap(), &l));
        assert!(!matches(&parse("canary").unwrap(), &l));
        assert!(parse("app in web").is_err());
    }
}
