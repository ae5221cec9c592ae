//! Connection tracking: table size and the per-CPU statistics, columns mapped by header name.
//!
//! The columns of `/proc/net/stat/nf_conntrack` changed across kernels (`searched` became
//! `clashres`, `delete_list` became `chainlength`), so they are looked up by the names in the
//! header line, never by position. Every column is summed over CPUs except `entries`, which is
//! the namespace's global count repeated on every line.

use std::collections::BTreeMap;
use std::path::Path;

use crate::model::{Conntrack, ConntrackStats};
use crate::{Error, Result, Sources};

/// The sysctl directory.
pub const SYSCTL_DIR: &str = "/proc/sys/net/netfilter";

/// Read conntrack for the network namespace of `pid` (`None`: the collector's own namespace).
///
/// The `nf_conntrack_count` sysctl shows the namespace of the reader, so for another process
/// the count is the `entries` column of `/proc/<pid>/net/stat/nf_conntrack` (per namespace);
/// `nf_conntrack_max` and `nf_conntrack_buckets` are global.
pub fn read_conntrack(src: &mut Sources, pid: Option<u32>) -> Result<Conntrack> {
    let stat_path = match pid {
        Some(pid) => format!("/proc/{pid}/net/stat/nf_conntrack"),
        None => "/proc/net/stat/nf_conntrack".to_string(),
    };
    let count_file = if pid.is_none() {
        read_u64(src, &format!("{SYSCTL_DIR}/nf_conntrack_count"))?
    } else {
        None
    };
    let max = read_u64(src, &format!("{SYSCTL_DIR}/nf_conntrack_max"))?;
    let buckets = read_u64(src, &format!("{SYSCTL_DIR}/nf_conntrack_buckets"))?;
    let stats = match src.text_opt(&stat_path)? {
        Some(text) => Some(parse_conntrack_stat(&text, &src.root().path(&stat_path))?),
        None => None,
    };
    let loaded = count_file.is_some() || max.is_some() || stats.is_some();
    let count = count_file.or_else(|| {
        stats
            .as_ref()
            .and_then(|s| s.columns.get("entries").copied())
    });
    Ok(Conntrack {
        loaded,
        count,
        max,
        buckets,
        stats,
    })
}

fn read_u64(src: &mut Sources, path: &str) -> Result<Option<u64>> {
    let Some(text) = src.text_opt(path)? else {
        return Ok(None);
    };
    text.trim().parse().map(Some).map_err(|_| {
        Error::parse(
            &src.root().path(path),
            1,
            format!("expected a number, found {:?}", text.trim()),
        )
    })
}

/// Parse `/proc/net/stat/nf_conntrack`: a header of column names, then one line of `%08x`
/// values per CPU.
pub fn parse_conntrack_stat(text: &str, path: &Path) -> Result<ConntrackStats> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header_line)) = lines.next() else {
        return Err(Error::parse(path, 1, "empty file: expected a header line"));
    };
    let header: Vec<String> = header_line.split_whitespace().map(str::to_string).collect();
    if header.is_empty()
        || header
            .iter()
            .any(|h| !h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
    {
        return Err(Error::parse(
            path,
            1,
            format!("the header is not a list of column names: {header_line:?}"),
        ));
    }
    if header.len() > 256 {
        return Err(Error::parse(
            path,
            1,
            format!(
                "{} columns: not a conntrack statistics header",
                header.len()
            ),
        ));
    }
    let mut columns: BTreeMap<String, u64> = BTreeMap::new();
    let mut cpus = 0u32;
    for (index, line) in lines {
        let values: Vec<&str> = line.split_whitespace().collect();
        if values.len() != header.len() {
            return Err(Error::parse(
                path,
                index + 1,
                format!(
                    "{} values under a header of {} columns",
                    values.len(),
                    header.len()
                ),
            ));
        }
        for (name, value) in header.iter().zip(values) {
            let v = u64::from_str_radix(value, 16).map_err(|_| {
                Error::parse(
                    path,
                    index + 1,
                    format!("column {name}: {value:?} is not hexadecimal"),
                )
            })?;
            let slot = columns.entry(name.clone()).or_insert(0);
            if name == "entries" {
                // Global (per namespace), repeated on each line: take it once.
                if cpus == 0 {
                    *slot = v;
                }
            } else {
                *slot = slot.saturating_add(v);
            }
        }
        cpus += 1;
    }
    if cpus == 0 {
        return Err(Error::parse(path, 2, "no per-CPU lines after the header"));
    }
    let get = |k: &str| columns.get(k).copied();
    Ok(ConntrackStats {
        cpus,
        drop: get("drop"),
        early_drop: get("early_drop"),
        insert_failed: get("insert_failed"),
        invalid: get("invalid"),
        search_restart: get("search_restart"),
        header,
        columns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_header_summed_by_name() {
        let text = "entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart\n\
            00000010  00000001 00000000 00000000 00000002 00000000 00000000 00000000 00000000 00000003 0000000a 00000001 00000000  00000000 00000000 00000000 00000004\n\
            00000010  00000002 00000000 00000000 00000001 00000000 00000000 00000000 00000000 00000001 00000005 00000000 00000000  00000000 00000000 00000000 00000000\n";
        let s = parse_conntrack_stat(text, Path::new("nf_conntrack")).expect("parses");
        assert_eq!(s.cpus, 2);
        assert_eq!(s.columns["entries"], 16);
        assert_eq!(s.columns["clashres"], 3);
        assert_eq!(
            (
                s.drop,
                s.early_drop,
                s.insert_failed,
                s.invalid,
                s.search_restart
            ),
            (Some(15), Some(1), Some(4), Some(3), Some(4))
        );
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "entries drop\n",
            "entries drop\n0000000g 00000001\n",
            "entries drop\n00000001\n",
            "entries dr-op\n1 1\n",
        ] {
            assert!(
                parse_conntrack_stat(bad, Path::new("c")).is_err(),
                "{bad:?}"
            );
        }
    }
}
