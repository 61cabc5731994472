//! The texts of an SVG chart with their boxes, for the checks that no two texts overlap and
//! that the axes' tick labels read in order. Shared by the integration tests
//! (`tests/cases/charts.rs`, through `common`) and the charts' unit tests
//! (`src/report/charts/mod.rs`, through `#[path]`), so both read a chart the same way.

/// A `<text>` of an SVG: its box (from x, y, anchor, baseline and font size, at a width
/// estimate the caller gives) and its content.
#[derive(Debug, Clone)]
pub struct SvgText {
    pub x0: f64,
    pub y0: f64,
    pub x1: f64,
    pub y1: f64,
    pub anchor: String,
    pub text: String,
}

/// The width and height (px) of a text at a font size (px): 0.6 em a character, 1.2 em high.
pub fn estimate(text: &str, font_px: f64) -> (f64, f64) {
    (text.chars().count() as f64 * 0.6 * font_px, 1.2 * font_px)
}

fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    Some(&tag[start..start + tag[start..].find('"')?])
}

/// Every unrotated `<text>` of `svg` (rotated ones, such as the y axis' title, are left out),
/// sized by `size(text, font_px) -> (width, height)`.
pub fn texts(svg: &str, size: impl Fn(&str, f64) -> (f64, f64)) -> Vec<SvgText> {
    let mut out = Vec::new();
    let mut rest = svg;
    while let Some(i) = rest.find("<text ") {
        let tag_end = i + rest[i..].find('>').unwrap();
        let tag = &rest[i..tag_end];
        let close = tag_end + rest[tag_end..].find("</text>").unwrap();
        let text = rest[tag_end + 1..close].trim().to_string();
        rest = &rest[close..];
        if tag.contains("transform=") {
            continue;
        }
        let num = |n: &str| attr(tag, n).unwrap().parse::<f64>().unwrap();
        let (x, y, font) = (num("x"), num("y"), num("font-size"));
        let (w, h) = size(&text, font);
        let anchor = attr(tag, "text-anchor").unwrap_or("start").to_string();
        let x0 = match anchor.as_str() {
            "middle" => x - w / 2.0,
            "end" => x - w,
            _ => x,
        };
        let y0 = match attr(tag, "dy").unwrap_or("") {
            "0.76em" => y,
            "0.5ex" => y - h / 2.0,
            _ => y - h,
        };
        out.push(SvgText {
            x0,
            y0,
            x1: x0 + w,
            y1: y0 + h,
            anchor,
            text,
        });
    }
    out
}

/// The x axis' tick labels, left to right: the middle-anchored texts on the most common
/// baseline.
pub fn x_ticks(t: &[SvgText]) -> Vec<&SvgText> {
    let mut rows: std::collections::HashMap<i64, usize> = Default::default();
    for x in t.iter().filter(|x| x.anchor == "middle") {
        *rows.entry(x.y0.round() as i64).or_default() += 1;
    }
    let row = rows.into_iter().max_by_key(|r| r.1).unwrap().0;
    let mut ticks: Vec<&SvgText> = t
        .iter()
        .filter(|x| x.anchor == "middle" && x.y0.round() as i64 == row)
        .collect();
    ticks.sort_by(|a, b| a.x0.total_cmp(&b.x0));
    ticks
}
