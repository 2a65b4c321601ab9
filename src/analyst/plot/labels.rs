//! Where the strike chart's marker labels go: each beside its own line, in rows under the
//! plot's top edge, so that no two labels overlap however close their lines are. Pure
//! geometry in pixels, apart from the drawing.

/// A label to place: the x of its marker line and the label's width, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Label {
    /// The marker line's x.
    pub x: i32,
    /// The label's width (its background box included).
    pub width: i32,
}

/// Where a label goes: the x of its left edge and its row (0 = the row under the top edge).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// The label's left edge.
    pub left: i32,
    /// The row, counted from the top.
    pub row: usize,
}

/// The room the labels have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Room {
    /// The leftmost x a label may cover.
    pub left: i32,
    /// The rightmost x a label may cover.
    pub right: i32,
    /// The distance between a line and its label.
    pub offset: i32,
    /// The least distance between two labels of one row.
    pub gap: i32,
}

/// Places `labels`, most important first: each takes the first row, from the top, where it
/// fits right of its line, else left of it, without coming within `room.gap` of a label
/// placed before it. A label that fits on neither side within the room is pushed inside it
/// (the side moved less is tried first). Labels therefore never overlap, each sits
/// `room.offset` from its own line whenever the room allows, and the most important ones take
/// the top rows; the same input always gives the same placement.
pub fn place(labels: &[Label], room: Room) -> Vec<Placement> {
    let mut rows: Vec<Vec<(i32, i32)>> = Vec::new();
    let mut placed = Vec::with_capacity(labels.len());
    for label in labels {
        let candidates = sides(*label, room);
        let free = |row: &[(i32, i32)], left: i32| {
            let (a, b) = (left - room.gap, left + label.width + room.gap);
            row.iter().all(|&(l, r)| b <= l || r <= a)
        };
        let spot = (0..=rows.len()).find_map(|row| {
            let taken = rows.get(row).map_or(&[][..], Vec::as_slice);
            candidates
                .iter()
                .find(|&&left| free(taken, left))
                .map(|&left| Placement { left, row })
        });
        // An empty row always has room, so there is always a spot.
        let spot = spot.expect("a new row is free");
        if spot.row == rows.len() {
            rows.push(Vec::new());
        }
        rows[spot.row].push((spot.left, spot.left + label.width));
        placed.push(spot);
    }
    placed
}

/// The left edges of a label right and left of its line, kept inside the room, the one
/// moved less first (right on a tie).
fn sides(label: Label, room: Room) -> Vec<i32> {
    let inside = |left: i32| left.min(room.right - label.width).max(room.left);
    let right = label.x + room.offset;
    let left = label.x - room.offset - label.width;
    let mut out = vec![
        (inside(right), (inside(right) - right).abs()),
        (inside(left), (inside(left) - left).abs()),
    ];
    out.sort_by_key(|&(_, moved)| moved);
    out.dedup_by_key(|c| c.0);
    out.into_iter().map(|(left, _)| left).collect()
}

/// The number of rows a placement uses.
pub fn rows(placements: &[Placement]) -> usize {
    placements.iter().map(|p| p.row + 1).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOM: Room = Room {
        left: 100,
        right: 1000,
        offset: 4,
        gap: 6,
    };

    fn at(left: i32, row: usize) -> Placement {
        Placement { left, row }
    }

    fn label(x: i32, width: i32) -> Label {
        Label { x, width }
    }

    #[test]
    fn far_apart_labels_share_the_top_row_right_of_their_lines() {
        let placed = place(&[label(200, 50), label(400, 80), label(600, 50)], ROOM);
        assert_eq!(placed, [at(204, 0), at(404, 0), at(604, 0)]);
        assert_eq!(rows(&placed), 1);
    }

    #[test]
    fn a_close_label_goes_left_of_its_line_before_it_goes_down() {
        // Spot at 500 takes 504..604; the flip at 498 fits at 394..494, 10 px from the spot's
        // label (more than the 6 px gap); a wall at 502 fits on neither side of row 0.
        let placed = place(&[label(500, 100), label(498, 100), label(502, 100)], ROOM);
        assert_eq!(placed, [at(504, 0), at(394, 0), at(506, 1)]);
        assert_eq!(rows(&placed), 2);
    }

    #[test]
    fn labels_on_one_line_stack_in_rows() {
        let placed = place(&[label(500, 60); 4], ROOM);
        // Right of the line, then left of it (436..496 stays 8 px from 504..564), then below.
        assert_eq!(placed, [at(504, 0), at(436, 0), at(504, 1), at(436, 1)]);
    }

    #[test]
    fn the_gap_is_kept_between_labels_of_a_row() {
        // 204..254 ends 6 px before 260: the second label (x 256, right side 260) fits.
        assert_eq!(
            place(&[label(200, 50), label(256, 50)], ROOM),
            [at(204, 0), at(260, 0)]
        );
        // One pixel closer and its right side is taken; its left side (201..251) too.
        assert_eq!(
            place(&[label(200, 50), label(255, 50)], ROOM),
            [at(204, 0), at(259, 1)]
        );
    }

    #[test]
    fn labels_at_the_edges_stay_inside_the_room() {
        // At 980 the label goes left (876..976) rather than past the right edge at 1000.
        assert_eq!(place(&[label(980, 100)], ROOM), [at(876, 0)]);
        // At 110 it goes right (left of the line would start at 6, outside).
        assert_eq!(place(&[label(110, 100)], ROOM), [at(114, 0)]);
        // A 500 px label at 560 fits on neither side: pushed inside, the right side would
        // move 64 px (564 to 500), the left one 44 px (56 to 100), so it starts at 100.
        assert_eq!(place(&[label(560, 500)], ROOM), [at(100, 0)]);
        // A label wider than the room starts at the left edge.
        assert_eq!(place(&[label(500, 2000)], ROOM), [at(100, 0)]);
    }

    #[test]
    fn the_first_labels_take_the_top_rows() {
        // The same three lines in another order: whoever comes first gets row 0's right side.
        let a = place(&[label(500, 100), label(500, 100), label(500, 100)], ROOM);
        assert_eq!(a, [at(504, 0), at(396, 0), at(504, 1)]);
        let b = place(&[label(502, 100), label(500, 100)], ROOM);
        assert_eq!(b, [at(506, 0), at(396, 0)]);
    }

    #[test]
    fn no_two_labels_overlap_in_a_crowd() {
        // Twelve labels within 22 px: every pair in a row is at least the gap apart.
        let labels: Vec<Label> = (0..12).map(|i| label(500 + 2 * i, 70 + 5 * i)).collect();
        let placed = place(&labels, ROOM);
        for (i, (a, la)) in placed.iter().zip(&labels).enumerate() {
            assert!(a.left >= ROOM.left && a.left + la.width <= ROOM.right);
            for (b, lb) in placed[..i].iter().zip(&labels) {
                if a.row == b.row {
                    assert!(
                        a.left + la.width + ROOM.gap <= b.left
                            || b.left + lb.width + ROOM.gap <= a.left,
                        "{a:?} {b:?}"
                    );
                }
            }
        }
        assert_eq!(rows(&placed), 6, "two labels a row, one each side");
        assert_eq!(place(&labels, ROOM), placed, "deterministic");
    }
}
