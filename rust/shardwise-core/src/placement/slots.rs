//! Named nodes over the buckets of a fixed-capacity algorithm (AnchorHash, DxHash): each node
//! holds one bucket; a removed node's bucket goes on a stack of free buckets, and an added node
//! takes the top of that stack (so the last node removed, added back, gets its keys back).

use super::nodes::Error;

/// The marker of a bucket no node holds.
pub const FREE: u32 = u32::MAX;

/// The most buckets a fixed-capacity placement may have.
pub const MAX_CAPACITY: u32 = 1 << 24;

/// Which bucket each node holds, which node each bucket holds, and the free-bucket stack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slots {
    slot_of: Vec<u32>,
    node_at: Vec<u32>,
    free: Vec<u32>,
}

impl Slots {
    /// `nodes` nodes holding buckets `0..nodes` of `capacity`; the free stack pops `nodes`,
    /// `nodes + 1`, ... first.
    pub fn new(class: &str, nodes: usize, capacity: u32) -> Result<Self, Error> {
        check_capacity(class, nodes, capacity)?;
        let n = nodes as u32;
        let mut node_at = crate::error::try_vec(capacity as usize, FREE)?;
        for (b, slot) in node_at.iter_mut().enumerate().take(nodes) {
            *slot = b as u32;
        }
        Ok(Slots {
            slot_of: (0..n).collect(),
            node_at,
            free: (n..capacity).rev().collect(),
        })
    }

    /// Rebuild from a saved state: the bucket of each node (index order) and the free stack
    /// (bottom first). Refused unless they split `0..capacity` exactly.
    pub fn from_parts(
        class: &str,
        capacity: u32,
        slots: Vec<u32>,
        free: Vec<u32>,
    ) -> Result<Self, Error> {
        let bad = |why: &str| Error::Config(format!("invalid {class} state: {why}"));
        check_capacity(class, slots.len(), capacity)?;
        if slots.len() + free.len() != capacity as usize {
            return Err(bad(
                "buckets held plus buckets removed must equal the capacity",
            ));
        }
        let mut node_at = crate::error::try_vec(capacity as usize, FREE)?;
        for (i, &b) in slots.iter().enumerate() {
            if b >= capacity || node_at[b as usize] != FREE {
                return Err(bad("node buckets must be distinct and below the capacity"));
            }
            node_at[b as usize] = i as u32;
        }
        let mut seen = vec![false; capacity as usize];
        for &b in &free {
            if b >= capacity
                || node_at[b as usize] != FREE
                || std::mem::replace(&mut seen[b as usize], true)
            {
                return Err(bad(
                    "removed buckets must be distinct, free and below the capacity",
                ));
            }
        }
        Ok(Slots {
            slot_of: slots,
            node_at,
            free,
        })
    }

    /// Bytes of the three index arrays.
    pub fn memory_bytes(&self) -> usize {
        4 * (self.slot_of.len() + self.node_at.len() + self.free.len())
    }

    pub fn capacity(&self) -> u32 {
        self.node_at.len() as u32
    }

    /// The bucket of each node, in index order.
    pub fn slots(&self) -> &[u32] {
        &self.slot_of
    }

    /// The free buckets, bottom of the stack first (the next node added takes the last).
    pub fn free(&self) -> &[u32] {
        &self.free
    }

    /// The node index holding each bucket ([`FREE`] for none).
    #[inline(always)]
    pub fn node_at(&self) -> &[u32] {
        &self.node_at
    }

    /// The bucket the next added node takes, or `None` when every bucket is held.
    pub fn next_free(&self) -> Option<u32> {
        self.free.last().copied()
    }

    /// Give the next free bucket to a new node with index `index`; returns the bucket.
    pub fn take(&mut self, class: &str, index: u32) -> Result<u32, Error> {
        let b = self
            .free
            .pop()
            .ok_or_else(|| full(class, self.capacity()))?;
        self.node_at[b as usize] = index;
        self.slot_of.push(b);
        Ok(b)
    }

    /// Free the bucket of node `index` (later node indices shift down by one); returns it.
    pub fn release(&mut self, index: u32) -> u32 {
        let b = self.slot_of.remove(index as usize);
        self.node_at[b as usize] = FREE;
        for x in &mut self.node_at {
            if *x != FREE && *x > index {
                *x -= 1;
            }
        }
        self.free.push(b);
        b
    }
}

/// The error of adding a node to a full fixed-capacity placement.
pub fn full(class: &str, capacity: u32) -> Error {
    Error::Config(format!(
        "{class} is full: its capacity of {capacity} nodes is reached; \
         build a new one with a larger capacity= (or remove a node first)"
    ))
}

/// `capacity` is in `1..=MAX_CAPACITY` and holds `nodes` nodes.
pub fn check_capacity(class: &str, nodes: usize, capacity: u32) -> Result<(), Error> {
    if !(1..=MAX_CAPACITY).contains(&capacity) {
        return Err(Error::Config(format!(
            "capacity must be an int in [1, {MAX_CAPACITY}], got {capacity}"
        )));
    }
    if nodes > capacity as usize {
        return Err(Error::Config(format!(
            "{class} capacity {capacity} is smaller than its {nodes} nodes"
        )));
    }
    Ok(())
}

/// The capacity used when none is given: twice the initial node count, at least 16.
pub fn default_capacity(nodes: usize) -> u32 {
    (nodes.saturating_mul(2).max(16)).min(MAX_CAPACITY as usize) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_and_release_follow_the_stack() {
        let mut s = Slots::new("X", 3, 5).unwrap();
        assert_eq!(s.free(), [4, 3]);
        assert_eq!(s.release(1), 1);
        assert_eq!(s.slots(), [0, 2]);
        assert_eq!(s.node_at(), [0, FREE, 1, FREE, FREE]);
        assert_eq!(s.take("X", 2).unwrap(), 1);
        assert_eq!(s.take("X", 3).unwrap(), 3);
        assert_eq!(s.take("X", 4).unwrap(), 4);
        assert!(matches!(s.take("X", 5), Err(Error::Config(m)) if m.contains("full")));
        let again = Slots::from_parts("X", 5, s.slots().to_vec(), s.free().to_vec()).unwrap();
        assert_eq!(again, s);
        assert!(Slots::from_parts("X", 3, vec![0, 0], vec![1]).is_err());
        assert!(Slots::from_parts("X", 3, vec![0], vec![1, 1]).is_err());
        assert!(Slots::from_parts("X", 3, vec![0], vec![1]).is_err());
        assert!(Slots::new("X", 3, 2).is_err());
        assert!(Slots::new("X", 0, 0).is_err());
        assert_eq!(default_capacity(3), 16);
        assert_eq!(default_capacity(100), 200);
    }
}
