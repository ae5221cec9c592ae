//! The `free` view from `/proc/meminfo`.

use std::collections::HashMap;
use std::path::Path;

use crate::model::Memory;
use crate::{Error, Result, Sources};

/// Path of the source file.
pub const MEMINFO: &str = "/proc/meminfo";

/// Read `/proc/meminfo`.
pub fn read_memory(src: &mut Sources) -> Result<Memory> {
    let text = src.text(MEMINFO)?;
    parse_meminfo(&text, &src.root().path(MEMINFO))
}

/// Parse meminfo text (`Key:   value kB`). Values with a `kB` unit become bytes; unit-less
/// values (`HugePages_Total`) stay counts. `MemTotal`, `MemFree` are required.
pub fn parse_meminfo(text: &str, path: &Path) -> Result<Memory> {
    let mut values: HashMap<&str, u64> = HashMap::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let Some((key, rest)) = line.split_once(':') else {
            return Err(Error::parse(
                path,
                index + 1,
                format!("expected `Key: value`, found {line:?}"),
            ));
        };
        let mut fields = rest.split_whitespace();
        let Some(number) = fields.next().and_then(|n| n.parse::<u64>().ok()) else {
            return Err(Error::parse(
                path,
                index + 1,
                format!("{key}: value is not a number"),
            ));
        };
        let value = match fields.next() {
            Some("kB") => number.saturating_mul(1024),
            Some(unit) => {
                return Err(Error::parse(
                    path,
                    index + 1,
                    format!("{key}: unknown unit {unit:?}"),
                ));
            }
            None => number,
        };
        values.insert(key.trim(), value);
    }
    let get = |key: &str| values.get(key).copied();
    let require =
        |key: &str| get(key).ok_or_else(|| Error::parse(path, 0, format!("no {key} line")));
    let total = require("MemTotal")?;
    let free = require("MemFree")?;
    let buffers = get("Buffers").unwrap_or(0);
    let cached = get("Cached").unwrap_or(0);
    let reclaimable = get("SReclaimable");
    let cache = cached.saturating_add(reclaimable.unwrap_or(0));
    let swap_total = get("SwapTotal").unwrap_or(0);
    let swap_free = get("SwapFree").unwrap_or(0);
    Ok(Memory {
        total_bytes: total,
        free_bytes: free,
        available_bytes: get("MemAvailable"),
        // procps-ng ≥ 4 `free`: used = total − available; before MemAvailable existed (and in
        // procps 3) used = total − free − buffers − cache.
        used_bytes: match get("MemAvailable") {
            Some(available) => total.saturating_sub(available),
            None => total
                .saturating_sub(free)
                .saturating_sub(buffers)
                .saturating_sub(cache),
        },
        buffers_bytes: buffers,
        cache_bytes: cache,
        cached_bytes: cached,
        shared_bytes: get("Shmem"),
        slab_reclaimable_bytes: reclaimable,
        slab_unreclaimable_bytes: get("SUnreclaim"),
        anon_bytes: get("AnonPages"),
        dirty_bytes: get("Dirty"),
        committed_bytes: get("Committed_AS"),
        commit_limit_bytes: get("CommitLimit"),
        swap_total_bytes: swap_total,
        swap_free_bytes: swap_free,
        swap_used_bytes: swap_total.saturating_sub(swap_free),
        huge_pages_total: get("HugePages_Total"),
        huge_pages_free: get("HugePages_Free"),
        huge_page_size_bytes: get("Hugepagesize"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "MemTotal:       16303428 kB\nMemFree:         1000000 kB\nMemAvailable:    8000000 kB\nBuffers:          100000 kB\nCached:          4000000 kB\nSwapCached:            0 kB\nShmem:             50000 kB\nSReclaimable:     200000 kB\nSUnreclaim:        60000 kB\nSwapTotal:             0 kB\nSwapFree:              0 kB\nHugePages_Total:       0\nHugepagesize:       2048 kB\n";

    #[test]
    fn converts_kb_and_computes_used() {
        let m = parse_meminfo(SAMPLE, Path::new("/proc/meminfo")).expect("parses");
        assert_eq!(m.total_bytes, 16_303_428 * 1024);
        assert_eq!(m.available_bytes, Some(8_000_000 * 1024));
        assert_eq!(m.cache_bytes, 4_200_000 * 1024);
        assert_eq!(m.used_bytes, (16_303_428 - 8_000_000) * 1024);
        assert_eq!(m.huge_pages_total, Some(0));
        assert_eq!(m.huge_page_size_bytes, Some(2048 * 1024));
    }

    #[test]
    fn old_kernel_without_memavailable() {
        let m =
            parse_meminfo("MemTotal: 100 kB\nMemFree: 50 kB\n", Path::new("m")).expect("parses");
        assert_eq!(m.available_bytes, None);
        assert_eq!(m.used_bytes, 50 * 1024);
    }

    #[test]
    fn malformed_is_an_error_with_a_line() {
        let e = parse_meminfo(
            "MemTotal: 100 kB\nMemFree: lots\n",
            Path::new("/proc/meminfo"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
        assert!(parse_meminfo("MemFree: 1 kB\n", Path::new("m")).is_err());
        assert!(parse_meminfo("garbage without colon\n", Path::new("m")).is_err());
    }
}
