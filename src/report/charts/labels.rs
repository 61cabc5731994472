//! Point labels that do not collide: each label takes the first free spot around its point
//! (right, left, then diagonals and further out with a leader line) that stays inside the plot
//! and clear of every marker, interval bar, line and label already placed; a label with no
//! free spot is dropped, and its model is named by colour in the page's key instead.

use super::axis::CHAR_EM;

/// A box in pixels: left, top, right, bottom.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    pub x0: f64,
    pub y0: f64,
    pub x1: f64,
    pub y1: f64,
}

impl Rect {
    /// The box of a point `(x, y)` grown by `r` each way.
    pub fn around(x: f64, y: f64, r: f64) -> Rect {
        Rect {
            x0: x - r,
            y0: y - r,
            x1: x + r,
            y1: y + r,
        }
    }

    /// Whether two boxes share any area (touching edges do not count).
    pub fn overlaps(&self, o: &Rect) -> bool {
        self.x0 < o.x1 && o.x0 < self.x1 && self.y0 < o.y1 && o.y0 < self.y1
    }

    /// Whether `self` lies within `o`.
    pub fn inside(&self, o: &Rect) -> bool {
        self.x0 >= o.x0 && self.x1 <= o.x1 && self.y0 >= o.y0 && self.y1 <= o.y1
    }
}

/// The box a text takes: `chars × CHAR_EM × font px` wide, 1.2 × font px high.
pub fn text_size(text: &str, font_px: f64) -> (f64, f64) {
    (
        text.chars().count() as f64 * CHAR_EM * font_px,
        font_px * 1.2,
    )
}

/// Where a label went: its box (text drawn from the top-left corner) and, when it sits away
/// from its point, the leader line's two ends.
#[derive(Debug, Clone, PartialEq)]
pub struct Placed {
    pub rect: Rect,
    pub leader: Option<((f64, f64), (f64, f64))>,
}

/// Places labels one by one inside `area`, clear of `obstacles` and of each other.
pub struct Placer {
    area: Rect,
    taken: Vec<Rect>,
}

impl Placer {
    pub fn new(area: Rect, obstacles: Vec<Rect>) -> Placer {
        Placer {
            area,
            taken: obstacles,
        }
    }

    /// Mark a line from `a` to `b` as taken (sampled every 3 px, 2 px thick).
    pub fn block_line(&mut self, a: (f64, f64), b: (f64, f64)) {
        let len = ((b.0 - a.0).powi(2) + (b.1 - a.1).powi(2)).sqrt();
        let steps = (len / 3.0).ceil().max(1.0) as usize;
        for i in 0..=steps {
            let f = i as f64 / steps as f64;
            self.taken.push(Rect::around(
                a.0 + (b.0 - a.0) * f,
                a.1 + (b.1 - a.1) * f,
                2.0,
            ));
        }
    }

    /// The first free spot for a `w × h` label of the point at `(x, y)` whose interval bar
    /// runs from `bar.0` to `bar.1` (pixels, top to bottom), or `None`. Beside the point
    /// first, then over or under its bar, then diagonally and further out with a leader.
    pub fn place(&mut self, x: f64, y: f64, bar: (f64, f64), w: f64, h: f64) -> Option<Placed> {
        for (ring, d) in [9.0, 22.0, 38.0, 56.0].into_iter().enumerate() {
            let k = d * 0.7;
            let spots = [
                (x + d, y - h / 2.0),
                (x - d - w, y - h / 2.0),
                (x - w / 2.0, bar.0 - 3.0 - (d - 9.0) - h),
                (x - w / 2.0, bar.1 + 3.0 + (d - 9.0)),
                (x + k, y - k - h),
                (x + k, y + k),
                (x - k - w, y - k - h),
                (x - k - w, y + k),
                (x - w / 2.0, y - d - h),
                (x - w / 2.0, y + d),
            ];
            for (sx, sy) in spots {
                let rect = Rect {
                    x0: sx,
                    y0: sy,
                    x1: sx + w,
                    y1: sy + h,
                };
                if !rect.inside(&self.area) || self.taken.iter().any(|t| t.overlaps(&rect)) {
                    continue;
                }
                let leader = (ring > 0).then(|| ((x, y), nearest(&rect, x, y)));
                self.taken.push(rect);
                if let Some((a, b)) = leader {
                    self.block_line(a, b);
                }
                return Some(Placed { rect, leader });
            }
        }
        None
    }
}

/// The point of `r` nearest to `(x, y)`.
fn nearest(r: &Rect, x: f64, y: f64) -> (f64, f64) {
    (x.clamp(r.x0, r.x1), y.clamp(r.y0, r.y1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crowded_points_get_labels_that_do_not_overlap_or_are_dropped() {
        let area = Rect {
            x0: 0.0,
            y0: 0.0,
            x1: 300.0,
            y1: 200.0,
        };
        let pts: Vec<(f64, f64)> = (0..12).map(|i| (100.0 + i as f64 * 3.0, 100.0)).collect();
        let obstacles = pts.iter().map(|&(x, y)| Rect::around(x, y, 6.0)).collect();
        let mut p = Placer::new(area, obstacles);
        let placed: Vec<Placed> = pts
            .iter()
            .filter_map(|&(x, y)| p.place(x, y, (y - 6.0, y + 6.0), 60.0, 12.0))
            .collect();
        assert!(!placed.is_empty(), "{placed:?}");
        for (i, a) in placed.iter().enumerate() {
            assert!(a.rect.inside(&area));
            for b in &placed[i + 1..] {
                assert!(!a.rect.overlaps(&b.rect), "{a:?} {b:?}");
            }
            for &(x, y) in &pts {
                assert!(
                    !a.rect.overlaps(&Rect::around(x, y, 6.0)),
                    "{a:?} on a point"
                );
            }
        }
    }
}
