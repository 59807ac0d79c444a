//! Orders byte strings so that similar ones sit next to each other.
//!
//! DEFLATE (gzip) finds repeats only within the last 32 KiB, so the order of a
//! module's function bodies changes how well it compresses: the linker's order
//! scatters look-alike functions (monomorphized copies of one generic, the
//! decoders' many small steps) across the module. Placing each body after the
//! ones most like it shrinks this worker's gzip upload by 3.3%, for the same
//! bytes (docs/measurements.md, "What each size step saves").
//!
//! Similarity is estimated from signatures: one-permutation MinHash over
//! 4-byte shingles, densified by rotation, keeping 8 bits per bin so that two
//! signatures compare with SIMD. The fraction of equal bins estimates the
//! Jaccard similarity of two bodies' shingle sets. The greedy walk then
//! compares the bodies not yet placed with the last ones placed: quadratic,
//! about 0.1 s for this worker's 3,000 bodies. Everything is deterministic:
//! fixed hashing, ties go to the earlier body.
//!
//! This is its own crate so that it is compiled optimized even in the
//! `dev` profile `cargo xtask` runs in (see the workspace's `Cargo.toml`): the
//! walk is the only hot loop of the pipeline's own.

/// Bins per signature.
const K: usize = 512;
/// Shingle length, in bytes.
const SHINGLE: usize = 4;
/// How much of a body's similarity to earlier placed bodies carries over to
/// the next choice (0 looks only at the last one). DEFLATE's window holds
/// several bodies, so some memory helps; 0.6 compressed this worker best.
const DECAY: f32 = 0.6;

type Signature = [u8; K];

/// Positions of `items` in the order they should be laid out: a permutation
/// of `0..items.len()` starting with 0.
pub fn similarity_order(items: &[&[u8]]) -> Vec<usize> {
    let signatures: Vec<Signature> = items.iter().map(|item| signature(item)).collect();
    let n = items.len();
    let mut order = Vec::with_capacity(n);
    let mut placed = vec![false; n];
    let mut score = vec![0f32; n];
    let mut current = 0;
    while current < n {
        placed[current] = true;
        order.push(current);
        let last = &signatures[current];
        let mut best = (n, f32::MIN);
        for (j, (signature, score)) in signatures.iter().zip(&mut score).enumerate() {
            if placed[j] {
                continue;
            }
            *score = *score * DECAY + matches(last, signature) as f32;
            if *score > best.1 {
                best = (j, *score);
            }
        }
        current = best.0;
    }
    order
}

/// How many bins of two signatures are equal.
fn matches(a: &Signature, b: &Signature) -> u32 {
    // Sixteen byte-wide counters (at most K / 16 each), summed at the end:
    // written this way, the comparison compiles to SIMD.
    let mut lanes = [0u8; 16];
    for chunk in 0..K / 16 {
        for (i, lane) in lanes.iter_mut().enumerate() {
            *lane = lane.wrapping_add(u8::from(a[chunk * 16 + i] == b[chunk * 16 + i]));
        }
    }
    lanes.iter().map(|&n| u32::from(n)).sum()
}

/// One-permutation MinHash of the `SHINGLE`-byte windows of `bytes` (a
/// shorter item is one shingle): each shingle's hash picks a bin, and the bin
/// keeps the smallest value. An empty bin takes the next non-empty bin's
/// value, offset by the distance, so two small bodies do not look alike just
/// because most of their bins are empty.
fn signature(bytes: &[u8]) -> Signature {
    let mut min = [u32::MAX; K];
    let mut add = |window: &[u8]| {
        let x = window.iter().fold(window.len() as u64, |x, &b| (x << 8) | u64::from(b));
        let h = mix(x);
        let bin = (h >> 32) as usize % K;
        min[bin] = min[bin].min(h as u32);
    };
    if bytes.len() < SHINGLE {
        add(bytes);
    } else {
        bytes.windows(SHINGLE).for_each(add);
    }
    // Twice round the ring backwards, remembering the nearest non-empty bin.
    let mut signature = [0u8; K];
    let mut next = (0, 0);
    for i in (0..2 * K).rev() {
        if min[i % K] != u32::MAX {
            next = (i, min[i % K]);
        }
        if i < K {
            let distance = (next.0 - i) as u32;
            signature[i] = (next.1.wrapping_add(distance.wrapping_mul(0x9E37_79B9)) >> 8) as u8;
        }
    }
    signature
}

/// The finalizer of MurmurHash3 (fmix64): a bijection that spreads every
/// input bit over the output.
fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    x ^= x >> 33;
    x = x.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
    x ^ (x >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_a_permutation_starting_at_the_first_item() {
        let items: Vec<Vec<u8>> = (0..50u8).map(|i| vec![i; usize::from(i % 7)]).collect();
        let refs: Vec<&[u8]> = items.iter().map(Vec::as_slice).collect();
        let order = similarity_order(&refs);
        assert_eq!(order[0], 0);
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
        assert!(similarity_order(&[]).is_empty());
    }

    #[test]
    fn places_look_alikes_together() {
        let a = b"local.get 0 i32.load offset=8 call 12 local.get 1 i32.add".to_vec();
        let b = b"f32.const 1.5 f32.mul f32.sqrt f32.const 0.5 f32.add return".to_vec();
        let mut a2 = a.clone();
        a2[5] = b'X';
        let mut b2 = b.clone();
        b2[7] = b'Y';
        let items = [&a[..], &b[..], &a2[..], &b2[..]];
        // a, then its look-alike a2, then b and b2.
        assert_eq!(similarity_order(&items), vec![0, 2, 1, 3]);
    }

    #[test]
    fn similar_bodies_share_more_bins_than_different_ones() {
        let body: Vec<u8> = (0..400u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut edited = body.clone();
        edited[200] ^= 0xFF;
        let other: Vec<u8> = (0..400u32).map(|i| (i * 13 % 241) as u8 ^ 0x5A).collect();
        let s = signature(&body);
        assert_eq!(matches(&s, &s), K as u32);
        assert!(matches(&s, &signature(&edited)) > K as u32 * 9 / 10);
        assert!(matches(&s, &signature(&other)) < K as u32 / 10);
    }

    #[test]
    fn the_same_input_gives_the_same_order() {
        let items: Vec<Vec<u8>> = (0..200u32).map(|i| (0..i % 37 + 1).map(|j| (i * j % 13) as u8).collect()).collect();
        let refs: Vec<&[u8]> = items.iter().map(Vec::as_slice).collect();
        assert_eq!(similarity_order(&refs), similarity_order(&refs));
    }
}
