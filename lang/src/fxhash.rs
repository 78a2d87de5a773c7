//! FxHash (rustc's hasher): a multiply and a rotate per eight bytes. For
//! tables whose keys no client can choose (the route index, built from the
//! policy) or whose entries are checked after the lookup (the metrics
//! cache): there is nothing to flood, and hashing a short key on every
//! request should cost little.

/// The hasher; `BuildHasherDefault<FxHasher>` makes the tables.
#[derive(Debug, Clone, Copy, Default)]
pub struct FxHasher(u64);

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl std::hash::Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            self.add(u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]));
        }
        // The length goes into the last word, so that `"a"` then `"b"` and
        // `"ab"` hash apart.
        let mut last = [0u8; 8];
        let rest = words.remainder();
        last[..rest.len()].copy_from_slice(rest);
        self.add(u64::from_le_bytes(last) ^ ((rest.len() as u64) << 59));
    }
    fn write_u8(&mut self, b: u8) {
        self.add(u64::from(b));
    }
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::FxHasher;
    use std::hash::Hasher;

    fn hash(parts: &[&[u8]]) -> u64 {
        let mut h = FxHasher::default();
        for p in parts {
            h.write(p);
        }
        h.finish()
    }

    #[test]
    fn splits_and_lengths_hash_apart() {
        assert_ne!(hash(&[b"a", b"b"]), hash(&[b"ab"]));
        assert_ne!(hash(&[b"gpt-4o"]), hash(&[b"gpt-4o\0"]));
        assert_ne!(hash(&[b"/v1/chat/completions"]), hash(&[b"/v1/chat/completion"]));
        assert_eq!(hash(&[b"/v1/chat/completions"]), hash(&[b"/v1/chat/completions"]));
    }
}
