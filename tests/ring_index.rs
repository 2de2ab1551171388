//! The SQ/CQ index arithmetic across the u32 wrap, exhaustively around it.
//!
//! The kernel starts every ring at index 0, so a real ring would need 2^32
//! operations to wrap; these tests check the helpers `ring.rs` computes every
//! distance with (`index::distance`, `index::within`) for every head within a
//! window either side of the wrap and every length up to the largest ring.

use uring_rs::engine::ring::index::{distance, within};

/// Heads on both sides of the wrap, and a few far from it.
fn heads() -> impl Iterator<Item = u32> {
    (u32::MAX - 40..=u32::MAX)
        .chain(0..=40)
        .chain([1 << 31, (1 << 31) - 1, 12345])
}

#[test]
fn distance_is_the_number_of_entries_pushed_across_the_wrap() {
    for head in heads() {
        for n in [0u32, 1, 2, 3, 7, 8, 31, 32, 33, 4096, 32768, 65536] {
            let tail = head.wrapping_add(n);
            assert_eq!(distance(head, tail), n, "head {head} n {n}");
        }
    }
}

#[test]
fn within_is_exactly_the_pushed_window_across_the_wrap() {
    for head in heads() {
        for n in 0u32..=40 {
            let tail = head.wrapping_add(n);
            for k in 0u32..=48 {
                let pos = head.wrapping_add(k);
                assert_eq!(within(pos, head, tail), k < n, "head {head} n {n} k {k}");
            }
            // Positions just before the head are never inside.
            for k in 1u32..=8 {
                assert!(
                    !within(head.wrapping_sub(k), head, tail),
                    "head {head} n {n} -{k}"
                );
            }
        }
    }
}

#[test]
fn masked_slots_of_a_full_window_are_distinct_across_the_wrap() {
    // What get_sqe / cqe(i) rely on: `index & mask` over any `entries`
    // consecutive indexes hits every slot once, wherever the wrap falls.
    for entries in [1u32, 2, 4, 8, 64, 4096] {
        let mask = entries - 1;
        for head in heads() {
            let mut seen = vec![false; entries as usize];
            for i in 0..entries {
                let slot = (head.wrapping_add(i) & mask) as usize;
                assert!(
                    !seen[slot],
                    "entries {entries} head {head}: slot {slot} twice"
                );
                seen[slot] = true;
            }
        }
    }
}

#[test]
fn free_space_never_underflows_when_full_across_the_wrap() {
    // sq_space_left is `entries - (tail - head)`; get_sqe refuses once
    // `tail - head >= entries`, so the subtraction never goes below zero.
    for entries in [1u32, 2, 8, 32768] {
        for head in heads() {
            let mut tail = head;
            loop {
                if distance(head, tail) >= entries {
                    break;
                }
                tail = tail.wrapping_add(1);
            }
            assert_eq!(entries - distance(head, tail), 0);
            assert_eq!(distance(head, tail), entries);
        }
    }
}
