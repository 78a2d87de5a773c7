//! ASCII case folding eight bytes at a time, for header names: the request
//! path compares every header it reads or drops against a few names, and
//! `eq_ignore_ascii_case` takes them a byte at a time.

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// `a` and `b` are equal when ASCII letters are folded to lowercase; the
/// same answer as `a.eq_ignore_ascii_case(b)`.
#[inline]
pub fn eq_ignore_case(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n < 8 {
        return a.iter().zip(b).all(|(x, y)| x.eq_ignore_ascii_case(y));
    }
    let mut i = 0;
    while i + 8 <= n {
        if lower(word(a, i)) != lower(word(b, i)) {
            return false;
        }
        i += 8;
    }
    // The last word overlaps the one before it when `n` is not a multiple
    // of eight; comparing bytes twice does no harm.
    i == n || lower(word(a, n - 8)) == lower(word(b, n - 8))
}

#[inline]
fn word(s: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&s[at..at + 8]);
    u64::from_le_bytes(w)
}

/// Each byte `A`..=`Z` of `w` made lowercase; every other byte kept.
#[inline]
fn lower(w: u64) -> u64 {
    // Seven-bit sums never carry into the next byte: 0x7f + 0x3f < 0x100.
    let low = w & !HIGH;
    let at_least_a = low.wrapping_add(ONES * (0x80 - u64::from(b'A')));
    let past_z = low.wrapping_add(ONES * (0x80 - u64::from(b'Z') - 1));
    let upper = at_least_a & !past_z & !w & HIGH;
    w | (upper >> 2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_match_in_any_case() {
        assert!(eq_ignore_case(b"Content-Length", b"content-length"));
        assert!(eq_ignore_case(b"X-TEAM", b"x-team"));
        assert!(eq_ignore_case(b"PROXY-AUTHORIZATION", b"proxy-authorization"));
        assert!(!eq_ignore_case(b"content-lengtH", b"content-lengtx"));
        assert!(!eq_ignore_case(b"content-type", b"content-length"));
        // Letters differ from other bytes by the same bit: `@` is not `` ` ``.
        assert!(!eq_ignore_case(b"abcdefg@", b"abcdefg`"));
        assert!(!eq_ignore_case(b"abcdefg[", b"abcdefg{"));
        assert!(eq_ignore_case(b"", b""));
    }

    proptest! {
        #[test]
        fn agrees_with_the_standard_library(a in proptest::collection::vec(any::<u8>(), 0..40), flips in any::<u64>()) {
            // `b` is `a` with some letters' case flipped and, sometimes, one
            // byte changed.
            let mut b: Vec<u8> = a.iter().enumerate().map(|(i, c)| {
                if flips >> (i % 64) & 1 == 1 && c.is_ascii_alphabetic() { c ^ 0x20 } else { *c }
            }).collect();
            if flips % 3 == 0 && !b.is_empty() {
                let at = (flips as usize / 3) % b.len();
                b[at] = b[at].wrapping_add((flips >> 8) as u8 | 1);
            }
            prop_assert_eq!(eq_ignore_case(&a, &b), a.eq_ignore_ascii_case(&b));
            prop_assert_eq!(eq_ignore_case(&a, &a), true);
        }

        #[test]
        fn agrees_on_any_bytes(a in proptest::collection::vec(any::<u8>(), 8..12), b in proptest::collection::vec(any::<u8>(), 8..12)) {
            prop_assert_eq!(eq_ignore_case(&a, &b), a.eq_ignore_ascii_case(&b));
        }
    }
}
