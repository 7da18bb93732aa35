//! [`Latest`]: a map that keeps its latest entries, for fakes and tools that run for hours
//! (the fake Discord's posted messages and answered tokens, `regis dev`'s messages and files).

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

/// A map that forgets its oldest entries (by first insertion) past a limit, if it has one.
#[derive(Debug)]
pub struct Latest<K, V> {
    map: HashMap<K, V>,
    order: VecDeque<K>,
    limit: Option<usize>,
}

impl<K, V> Default for Latest<K, V> {
    fn default() -> Self {
        Latest { map: HashMap::new(), order: VecDeque::new(), limit: None }
    }
}

impl<K: Hash + Eq + Clone, V> Latest<K, V> {
    /// An empty map keeping at most `limit` entries.
    pub fn new(limit: usize) -> Self {
        Latest { limit: Some(limit), ..Latest::default() }
    }

    /// Keeps at most `limit` entries from now on (the oldest go at the next insertion).
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = Some(limit);
    }

    /// Adds or replaces `key`'s value (a replaced entry keeps its age); whether `key` is new.
    pub fn insert(&mut self, key: K, value: V) -> bool {
        if self.map.insert(key.clone(), value).is_some() {
            return false;
        }
        self.order.push_back(key);
        while self.limit.is_some_and(|limit| self.order.len() > limit) {
            if let Some(old) = self.order.pop_front() {
                self.map.remove(&old);
            }
        }
        true
    }

    /// `key`'s value, if it is still kept.
    pub fn get(&self, key: &K) -> Option<&V> {
        self.map.get(key)
    }

    /// Whether `key` is still kept.
    pub fn contains(&self, key: &K) -> bool {
        self.map.contains_key(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_entries_go_past_the_limit_and_a_replaced_one_keeps_its_age() {
        let mut latest = Latest::new(2);
        assert!(latest.insert("a", 1));
        assert!(!latest.insert("a", 2), "not new");
        assert_eq!(latest.get(&"a"), Some(&2));
        assert!(latest.insert("b", 3) && latest.insert("c", 4));
        assert!(!latest.contains(&"a") && latest.contains(&"b") && latest.contains(&"c"));
        let mut unlimited = Latest::default();
        for i in 0..1000 {
            unlimited.insert(i, ());
        }
        assert!(unlimited.contains(&0));
    }
}
