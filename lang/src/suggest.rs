//! "Did you mean" by edit distance.

/// Levenshtein distance between two strings, by characters.
pub fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The closest candidate within a distance that grows with the word's
/// length, or one that differs only in case.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    // Short words are too easy to confuse: only a difference of case counts.
    let limit = (word.chars().count() / 3).min(3);
    let lower = word.to_lowercase();
    candidates
        .into_iter()
        .filter(|c| !c.is_empty() && *c != word)
        .map(|c| {
            let d = if c.to_lowercase() == lower { 0 } else { distance(word, c) };
            (d, c)
        })
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, c)| (d, c.len()))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("same", "same"), 0);
    }

    #[test]
    fn suggests_close_names() {
        assert_eq!(did_you_mean("opnai", ["openai", "claude", "echo"]), Some("openai"));
        assert_eq!(did_you_mean("xyz", ["openai", "claude"]), None);
        assert_eq!(did_you_mean("OpenAI", ["openai"]), Some("openai"));
    }
}
