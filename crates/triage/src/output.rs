//! Small helpers for terminal output shared by the verbs.

/// Human-readable binary size, e.g. `1.5 GiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Render rows as a left-aligned table with a header; numeric-looking cells are right-aligned.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let columns = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(columns) {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let numeric = |s: &str| {
        !s.is_empty()
            && s.chars().all(|c| {
                c.is_ascii_digit()
                    || matches!(c, '.' | '%' | '-' | ' ' | 'K' | 'M' | 'G' | 'T' | 'i' | 'B')
            })
            && s.chars()
                .next()
                .is_some_and(|c| c.is_ascii_digit() || c == '-')
    };
    let mut out = String::new();
    let render = |cells: &[String], out: &mut String| {
        let mut line = String::new();
        for (i, cell) in cells.iter().enumerate().take(columns) {
            let pad = widths[i].saturating_sub(cell.chars().count());
            let last = i + 1 == columns;
            if numeric(cell) {
                line.push_str(&" ".repeat(pad));
                line.push_str(cell);
            } else {
                line.push_str(cell);
                if !last {
                    line.push_str(&" ".repeat(pad));
                }
            }
            if !last {
                line.push_str("  ");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    };
    let header_cells: Vec<String> = header.iter().map(|s| s.to_string()).collect();
    render(&header_cells, &mut out);
    for row in rows {
        render(row, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_bytes_units() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024 * 1024), "3.0 GiB");
    }

    #[test]
    fn table_aligns_columns() {
        let t = table(
            &["NAME", "SIZE"],
            &[
                vec!["a".into(), "10".into()],
                vec!["long".into(), "2000".into()],
            ],
        );
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "NAME  SIZE");
        assert_eq!(lines[1], "a       10");
        assert_eq!(lines[2], "long  2000");
    }
}
