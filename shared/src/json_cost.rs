//! What parsing a JSON text will cost in memory, estimated from the text in one pass and with
//! no allocation, so a process can reserve the memory before it parses. Text is not the
//! measure: `[0,0,0,…]` is two bytes a value, but each value becomes a tree node of
//! `size_of::<Value>()` bytes in a container that grew by doubling.

use serde_json::Value;

/// Estimated bytes that parsing `text` into a [`Value`] takes, text included.
pub fn parse_cost(text: &[u8]) -> usize {
    /// A parsed value, with room for the container it sits in to have grown by doubling.
    const PER_VALUE: usize = 2 * std::mem::size_of::<Value>();
    text.len().saturating_add(values(text).saturating_mul(PER_VALUE))
}

/// An upper bound on the number of values (object keys included) in a JSON text.
pub fn values(text: &[u8]) -> usize {
    let (mut count, mut in_string, mut escaped) = (1usize, false, false);
    for &b in text {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b',' | b':' | b'[' | b'{' => count += 1,
            _ => {}
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_values_not_text() {
        assert_eq!(values(br#"{"a":[1,2],"b":"x,y:{\"["}"#), 7);
        let zeros = format!("[{}0]", "0,".repeat(1000));
        let words = format!("[\"{}\"]", "0,".repeat(1000));
        assert!(parse_cost(zeros.as_bytes()) > 1000 * std::mem::size_of::<Value>());
        assert!(parse_cost(words.as_bytes()) < 2 * words.len() + 10 * std::mem::size_of::<Value>());
    }
}
