//! Which sequence numbers have been echoed: one bit each, so that a duplicate echo is told
//! apart from a first one.

/// A growable bit set of sequence numbers.
#[derive(Debug, Default)]
pub struct SeqSet {
    words: Vec<u64>,
}

impl SeqSet {
    /// Marks `seq`; true if it was not marked before. Memory grows to `seq / 8` bytes, so
    /// callers check `seq` against the numbers actually handed out first.
    pub fn insert(&mut self, seq: u64) -> bool {
        let Ok(word) = usize::try_from(seq / 64) else {
            return false;
        };
        if word >= self.words.len() {
            self.words.resize(word + 1, 0);
        }
        let bit = 1u64 << (seq % 64);
        let new = self.words[word] & bit == 0;
        self.words[word] |= bit;
        new
    }

    /// Whether `seq` is marked.
    pub fn contains(&self, seq: u64) -> bool {
        usize::try_from(seq / 64)
            .ok()
            .and_then(|w| self.words.get(w))
            .is_some_and(|w| w & (1u64 << (seq % 64)) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_insert_is_new_second_is_duplicate() {
        let mut s = SeqSet::default();
        assert!(!s.contains(1000));
        assert!(s.insert(1000));
        assert!(!s.insert(1000));
        assert!(s.contains(1000));
        assert!(s.insert(0));
        assert!(s.insert(63));
        assert!(s.insert(64));
        assert!(!s.contains(65));
    }
}
