//! Merging overlapping hits, as OpenCV's `groupRectangles` does.
//!
//! A face fires the cascade at many neighbouring positions and scales. Hits are partitioned
//! into classes of "similar" rectangles (transitively: all four edges within `eps` times the
//! mean of the smaller width and height), each class is replaced by its average rectangle,
//! classes with `group_threshold` or fewer members are dropped, and a class lying inside a
//! stronger, larger one is dropped too. Rounding follows OpenCV (`float` averages, round half
//! to even) so boxes match OpenCV's to the pixel.

use alloc::vec;
use alloc::vec::Vec;

use crate::image::FaceBox;

fn similar(a: &FaceBox, b: &FaceBox, eps: f64) -> bool {
    let (aw, ah, bw, bh) = (a.w as i64, a.h as i64, b.w as i64, b.h as i64);
    let delta = eps * (aw.min(bw) + ah.min(bh)) as f64 * 0.5;
    let close = |p: i64, q: i64| ((p - q).abs() as f64) <= delta;
    close(a.x as i64, b.x as i64)
        && close(a.y as i64, b.y as i64)
        && close(a.x as i64 + aw, b.x as i64 + bw)
        && close(a.y as i64 + ah, b.y as i64 + bh)
}

fn find(parent: &mut [usize], mut i: usize) -> usize {
    while parent[i] != i {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    i
}

/// Class label of every rectangle (0, 1, … in order of first appearance) and the class count.
fn partition(rects: &[FaceBox], eps: f64) -> (Vec<usize>, usize) {
    let mut parent: Vec<usize> = (0..rects.len()).collect();
    for i in 0..rects.len() {
        for j in i + 1..rects.len() {
            if similar(&rects[i], &rects[j], eps) {
                let (ri, rj) = (find(&mut parent, i), find(&mut parent, j));
                if ri != rj {
                    parent[rj.max(ri)] = ri.min(rj);
                }
            }
        }
    }
    let mut label_of_root = vec![usize::MAX; rects.len()];
    let mut labels = Vec::with_capacity(rects.len());
    let mut classes = 0;
    for i in 0..rects.len() {
        let root = find(&mut parent, i);
        if label_of_root[root] == usize::MAX {
            label_of_root[root] = classes;
            classes += 1;
        }
        labels.push(label_of_root[root]);
    }
    (labels, classes)
}

/// OpenCV's `groupRectangles(rects, group_threshold, eps)`. With `group_threshold == 0` the
/// input is returned unchanged, as in OpenCV.
pub fn group_rectangles(rects: &[FaceBox], group_threshold: u32, eps: f64) -> Vec<FaceBox> {
    if group_threshold == 0 || rects.is_empty() {
        return rects.to_vec();
    }
    let (labels, classes) = partition(rects, eps);
    let mut sums = vec![[0i64; 4]; classes];
    let mut counts = vec![0u32; classes];
    for (r, &c) in rects.iter().zip(&labels) {
        let s = &mut sums[c];
        s[0] += r.x as i64;
        s[1] += r.y as i64;
        s[2] += r.w as i64;
        s[3] += r.h as i64;
        counts[c] += 1;
    }
    let averages: Vec<FaceBox> = sums
        .iter()
        .zip(&counts)
        .map(|(s, &n)| {
            let inv = 1.0f32 / n as f32;
            let avg = |v: i64| libm::rintf(v as f32 * inv) as i64;
            FaceBox::new(
                avg(s[0]) as i32,
                avg(s[1]) as i32,
                avg(s[2]).max(0) as u32,
                avg(s[3]).max(0) as u32,
            )
        })
        .collect();
    let threshold = group_threshold as i64;
    let mut out = Vec::new();
    for (i, r1) in averages.iter().enumerate() {
        let n1 = counts[i] as i64;
        if n1 <= threshold {
            continue;
        }
        // Drop a box that sits inside a larger one backed by more hits.
        let swallowed = averages.iter().enumerate().any(|(j, r2)| {
            let n2 = counts[j] as i64;
            if j == i || n2 <= threshold {
                return false;
            }
            let dx = libm::rint(r2.w as f64 * eps) as i64;
            let dy = libm::rint(r2.h as f64 * eps) as i64;
            let (x1, y1, w1, h1) = (r1.x as i64, r1.y as i64, r1.w as i64, r1.h as i64);
            let (x2, y2, w2, h2) = (r2.x as i64, r2.y as i64, r2.w as i64, r2.h as i64);
            x1 >= x2 - dx
                && y1 >= y2 - dy
                && x1 + w1 <= x2 + w2 + dx
                && y1 + h1 <= y2 + h2 + dy
                && (n2 > n1.max(3) || n1 < 3)
        });
        if !swallowed {
            out.push(*r1);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neighbours_merge_into_their_average() {
        let hits = [
            FaceBox::new(100, 100, 50, 50),
            FaceBox::new(102, 98, 50, 50),
            FaceBox::new(104, 100, 55, 55),
            FaceBox::new(98, 101, 50, 50),
        ];
        // 4 hits: kept with threshold 3, dropped with threshold 4.
        assert_eq!(group_rectangles(&hits, 3, 0.2), vec![FaceBox::new(101, 100, 51, 51)]);
        assert!(group_rectangles(&hits, 4, 0.2).is_empty());
        // Threshold 0 is OpenCV's "no grouping".
        assert_eq!(group_rectangles(&hits, 0, 0.2), hits.to_vec());
    }

    #[test]
    fn averages_round_half_to_even_like_opencv() {
        // x: (10 + 11) / 2 = 10.5 -> 10; y: (11 + 12) / 2 = 11.5 -> 12.
        let hits = [FaceBox::new(10, 11, 40, 40), FaceBox::new(11, 12, 40, 40)];
        assert_eq!(group_rectangles(&hits, 1, 0.2), vec![FaceBox::new(10, 12, 40, 40)]);
    }

    #[test]
    fn distant_groups_stay_apart_and_similarity_is_transitive() {
        let mut hits = vec![];
        for i in 0..3 {
            hits.push(FaceBox::new(10 + i * 6, 10, 40, 40)); // chain 10, 16, 22: ends 12 apart, delta 8
            hits.push(FaceBox::new(200 + i, 200, 30, 30));
        }
        let out = group_rectangles(&hits, 2, 0.2);
        assert_eq!(out, vec![FaceBox::new(16, 10, 40, 40), FaceBox::new(201, 200, 30, 30)]);
    }

    #[test]
    fn small_box_inside_a_stronger_big_one_is_dropped() {
        let mut hits = vec![FaceBox::new(100, 100, 20, 20); 3];
        hits.extend(vec![FaceBox::new(90, 90, 60, 60); 6]);
        assert_eq!(group_rectangles(&hits, 2, 0.2), vec![FaceBox::new(90, 90, 60, 60)]);
        // Equally supported (n2 not > max(3, n1)): both survive.
        let mut hits = vec![FaceBox::new(100, 100, 20, 20); 4];
        hits.extend(vec![FaceBox::new(90, 90, 60, 60); 4]);
        assert_eq!(group_rectangles(&hits, 2, 0.2).len(), 2);
    }
}
