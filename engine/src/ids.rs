//! External ids (sparse `u64` MovieLens ids) ↔ dense `u32` indices.

use std::collections::HashMap;

use crate::error::{EngineError, Result};

/// A bijection between sparse external ids and dense indices `0..len`.
///
/// Dense indices are handed out in first-seen order, so the same input order gives the same map.
/// The map is stored in model artifacts so that serving speaks external ids.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IdMap {
    external: Vec<u64>,
    dense: HashMap<u64, u32>,
}

impl IdMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a map whose dense index `i` is `external[i]`; refuses repeated ids.
    pub fn from_external(external: Vec<u64>) -> Result<Self> {
        let mut dense = HashMap::with_capacity(external.len());
        for (idx, &id) in external.iter().enumerate() {
            if dense.insert(id, idx as u32).is_some() {
                return Err(EngineError::InvalidParam {
                    name: "external ids",
                    value: id.to_string(),
                    allowed: "each external id at most once",
                });
            }
        }
        Ok(Self { external, dense })
    }

    /// The dense index of `id`, assigning the next free one if `id` is new.
    pub fn get_or_insert(&mut self, id: u64) -> u32 {
        let next = self.external.len() as u32;
        *self.dense.entry(id).or_insert_with(|| {
            self.external.push(id);
            next
        })
    }

    /// The dense index of an external id, if known.
    pub fn dense(&self, id: u64) -> Option<u32> {
        self.dense.get(&id).copied()
    }

    /// The external id of a dense index, if in range.
    pub fn external(&self, idx: u32) -> Option<u64> {
        self.external.get(idx as usize).copied()
    }

    /// External ids in dense order.
    pub fn as_slice(&self) -> &[u64] {
        &self.external
    }

    /// Number of ids.
    pub fn len(&self) -> usize {
        self.external.len()
    }

    /// Whether the map holds no ids.
    pub fn is_empty(&self) -> bool {
        self.external.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_indices_follow_first_seen_order_and_round_trip() {
        let mut map = IdMap::new();
        assert_eq!(map.get_or_insert(193_609), 0);
        assert_eq!(map.get_or_insert(7), 1);
        assert_eq!(map.get_or_insert(193_609), 0);
        assert_eq!(map.dense(7), Some(1));
        assert_eq!(map.external(0), Some(193_609));
        assert_eq!(map.external(2), None);
        assert_eq!(map.dense(8), None);
        assert_eq!(IdMap::from_external(vec![193_609, 7]).unwrap(), map);
    }

    #[test]
    fn repeated_external_ids_are_refused() {
        let err = IdMap::from_external(vec![1, 2, 1]).unwrap_err();
        assert!(err.to_string().contains("`external ids` = 1"), "{err}");
    }
}
