//! A flame graph of folded stacks as inline SVG: root at the bottom, one row per stack depth,
//! widths proportional to the value, a tooltip (`<title>`) on every frame.

use std::fmt::Write;

use super::extras::FoldedStack;
use super::html::escape;

/// Width of the drawing in SVG units (it scales to the page).
const WIDTH: f64 = 1200.0;
const ROW: f64 = 17.0;
/// Deepest stack drawn (deeper frames are folded into their ancestor).
const MAX_DEPTH: usize = 96;
/// Most frames drawn, so a pathological profile cannot make a huge page.
const MAX_FRAMES: usize = 6000;

#[derive(Default)]
struct Node {
    name: String,
    value: f64,
    children: Vec<Node>,
}

impl Node {
    fn child(&mut self, name: &str) -> &mut Node {
        let index = match self.children.iter().position(|c| c.name == name) {
            Some(i) => i,
            None => {
                self.children.push(Node {
                    name: name.to_string(),
                    ..Default::default()
                });
                self.children.len() - 1
            }
        };
        &mut self.children[index]
    }
}

/// Render `stacks` (root first); `format_value` labels values in the tooltip. Empty string when
/// there is nothing to draw.
pub fn flame_graph_svg(
    stacks: &[FoldedStack],
    min_share: f64,
    format_value: &dyn Fn(f64) -> String,
) -> String {
    let mut root = Node {
        name: "all".into(),
        ..Default::default()
    };
    for stack in stacks {
        if !(stack.value.is_finite() && stack.value > 0.0) {
            continue;
        }
        root.value += stack.value;
        let mut node = &mut root;
        for frame in stack.frames.iter().take(MAX_DEPTH) {
            node = node.child(frame);
            node.value += stack.value;
        }
    }
    if root.value <= 0.0 {
        return String::new();
    }
    sort_children(&mut root);
    let min_value = root.value * min_share;
    let depth = visible_depth(&root, min_value).min(MAX_DEPTH + 1);
    let height = depth as f64 * ROW + 4.0;
    let mut out = String::with_capacity(64 * 1024);
    let _ = write!(
        out,
        r#"<svg class="flame" viewBox="0 0 {WIDTH} {height}" width="100%" preserveAspectRatio="xMinYMin meet" role="img" aria-label="flame graph" xmlns="http://www.w3.org/2000/svg">"#
    );
    let mut frames = 0usize;
    draw(
        &mut out,
        &root,
        0.0,
        0,
        depth,
        root.value,
        min_value,
        format_value,
        &mut frames,
    );
    out.push_str("</svg>");
    out
}

fn sort_children(node: &mut Node) {
    // Alphabetical, like flamegraph.pl: the x position carries no meaning, neighbours stay stable.
    node.children.sort_by(|a, b| a.name.cmp(&b.name));
    for c in &mut node.children {
        sort_children(c);
    }
}

fn visible_depth(node: &Node, min_value: f64) -> usize {
    if node.value < min_value {
        return 0;
    }
    1 + node
        .children
        .iter()
        .map(|c| visible_depth(c, min_value))
        .max()
        .unwrap_or(0)
}

#[allow(clippy::too_many_arguments)]
fn draw(
    out: &mut String,
    node: &Node,
    x: f64,
    level: usize,
    depth: usize,
    total: f64,
    min_value: f64,
    format_value: &dyn Fn(f64) -> String,
    frames: &mut usize,
) {
    if node.value < min_value || level >= depth || *frames >= MAX_FRAMES {
        return;
    }
    *frames += 1;
    let width = node.value / total * WIDTH;
    let y = (depth - 1 - level) as f64 * ROW + 2.0;
    let share = node.value / total * 100.0;
    let (r, g, b) = frame_colour(&node.name, level == 0);
    let _ = write!(
        out,
        r#"<g><title>{} — {} ({share:.2} %)</title><rect x="{x:.2}" y="{y:.1}" width="{:.2}" height="{:.1}" rx="2" fill="rgb({r},{g},{b})"/>"#,
        escape(&node.name),
        escape(&format_value(node.value)),
        (width - 0.6).max(0.4),
        ROW - 1.0,
    );
    // About 6.6 units per character at font-size 11.
    let fits = ((width - 6.0) / 6.6).floor();
    if fits >= 3.0 {
        let fits = fits as usize;
        let label: String = if node.name.chars().count() > fits {
            node.name
                .chars()
                .take(fits.saturating_sub(1))
                .chain(std::iter::once('…'))
                .collect()
        } else {
            node.name.clone()
        };
        let _ = write!(
            out,
            r#"<text x="{:.2}" y="{:.1}">{}</text>"#,
            x + 3.0,
            y + ROW - 5.0,
            escape(&label)
        );
    }
    out.push_str("</g>");
    let mut child_x = x;
    for child in &node.children {
        draw(
            out,
            child,
            child_x,
            level + 1,
            depth,
            total,
            min_value,
            format_value,
            frames,
        );
        child_x += child.value / total * WIDTH;
    }
}

/// Warm colours, stable per function name (like flamegraph.pl's "hot" palette).
fn frame_colour(name: &str, root: bool) -> (u8, u8, u8) {
    if root {
        return (160, 160, 170);
    }
    let mut hash: u32 = 2166136261;
    for b in name.bytes() {
        hash = (hash ^ u32::from(b)).wrapping_mul(16777619);
    }
    let v1 = (hash & 0xff) as f64 / 255.0;
    let v2 = ((hash >> 8) & 0xff) as f64 / 255.0;
    let r = 205.0 + 50.0 * v2;
    let g = 80.0 + 150.0 * v1;
    let b = 40.0 + 50.0 * v2;
    (r as u8, g as u8, b as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(s: &str, v: f64) -> FoldedStack {
        FoldedStack {
            frames: s.split(';').map(str::to_string).collect(),
            value: v,
        }
    }

    #[test]
    fn frames_are_proportional_and_escaped() {
        let svg = flame_graph_svg(
            &[stack("main;serve;<json>", 75.0), stack("main;gc", 25.0)],
            0.0,
            &|v| format!("{v}"),
        );
        assert!(svg.starts_with("<svg"));
        assert_eq!(
            svg.matches("<rect").count(),
            5,
            "all, main, serve, <json>, gc"
        );
        assert!(svg.contains("&lt;json&gt;"));
        assert!(!svg.contains("<json>"));
        assert!(
            svg.contains(r#"width="899.40""#),
            "serve is 75 % of 1200 minus the gap"
        );
    }

    #[test]
    fn tiny_frames_are_pruned_and_empty_input_draws_nothing() {
        let svg = flame_graph_svg(
            &[stack("main;hot", 999.0), stack("main;cold", 1.0)],
            0.01,
            &|v| format!("{v}"),
        );
        assert!(svg.contains("hot") && !svg.contains("cold"));
        assert!(flame_graph_svg(&[], 0.0, &|v| format!("{v}")).is_empty());
        assert!(flame_graph_svg(&[stack("a", f64::NAN)], 0.0, &|v| format!("{v}")).is_empty());
    }
}
