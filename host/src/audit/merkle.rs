//! The RFC 9162 Merkle tree: leaf and node hashing, the tree head of any prefix, inclusion
//! and consistency proofs, and the verifiers for both.
//!
//! The tree is read through [`Nodes`]: the hash of the perfect subtree at `(level, index)`,
//! which covers leaves `index << level .. (index + 1) << level`. The store keeps every such
//! node as it is completed ([`complete`]), so a tree head or a proof costs O(log² n) reads
//! whatever the size of the log. Verification never trusts those stored nodes: it
//! recomputes from the entries ([`Frontier`]), and proofs are checked against signed heads.

use sha2::{Digest, Sha256};

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// `SHA-256(0x00 ‖ entry)` (RFC 9162 §2.1.1): the prefix keeps a leaf from ever being
/// mistaken for an interior node.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(entry);
    h.finalize().into()
}

/// `SHA-256(0x01 ‖ left ‖ right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree: the hash of the empty string.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Perfect-subtree hashes, as the store keeps them.
pub trait Nodes {
    /// The hash of the perfect subtree at `level` (0 = a leaf) and `index`.
    fn node(&mut self, level: u32, index: u64) -> anyhow::Result<Hash>;
}

/// The perfect subtrees completed by appending leaf `index` with hash `leaf`: every
/// `(level, index, hash)` above level 0 that now exists, bottom-up. `left` reads the
/// already stored left siblings.
pub fn complete(nodes: &mut dyn Nodes, index: u64, leaf: Hash) -> anyhow::Result<Vec<(u32, u64, Hash)>> {
    let mut out = Vec::new();
    let (mut level, mut idx, mut hash) = (0u32, index, leaf);
    while idx & 1 == 1 {
        let left = nodes.node(level, idx - 1)?;
        hash = node_hash(&left, &hash);
        level += 1;
        idx >>= 1;
        out.push((level, idx, hash));
    }
    Ok(out)
}

/// The largest power of two strictly below `n` (n ≥ 2): where RFC 9162 splits a tree.
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// MTH of the `len` leaves from `start`, where `start` is a multiple of the smallest power
/// of two ≥ `len` (true of every range the RFC recursion visits). The range splits into
/// perfect subtrees, largest first, folded from the right.
fn range_hash(nodes: &mut dyn Nodes, start: u64, len: u64) -> anyhow::Result<Hash> {
    if len == 0 {
        return Ok(empty_root());
    }
    let mut parts = Vec::new();
    let mut offset = start;
    for level in (0..64u32).rev() {
        if len & (1 << level) != 0 {
            parts.push(nodes.node(level, offset >> level)?);
            offset += 1 << level;
        }
    }
    let mut acc = parts.pop().expect("len > 0 has a part");
    while let Some(left) = parts.pop() {
        acc = node_hash(&left, &acc);
    }
    Ok(acc)
}

/// The tree head of the first `size` leaves.
pub fn root(nodes: &mut dyn Nodes, size: u64) -> anyhow::Result<Hash> {
    range_hash(nodes, 0, size)
}

/// The inclusion proof of leaf `index` in the tree of `size` leaves (RFC 9162 §2.1.3.1).
pub fn inclusion_proof(nodes: &mut dyn Nodes, index: u64, size: u64) -> anyhow::Result<Vec<Hash>> {
    anyhow::ensure!(index < size, "leaf {index} is not in a tree of {size}");
    let mut path = Vec::new();
    inclusion(nodes, index, 0, size, &mut path)?;
    Ok(path)
}

fn inclusion(nodes: &mut dyn Nodes, m: u64, start: u64, n: u64, out: &mut Vec<Hash>) -> anyhow::Result<()> {
    if n == 1 {
        return Ok(());
    }
    let k = split(n);
    if m < k {
        inclusion(nodes, m, start, k, out)?;
        out.push(range_hash(nodes, start + k, n - k)?);
    } else {
        inclusion(nodes, m - k, start + k, n - k, out)?;
        out.push(range_hash(nodes, start, k)?);
    }
    Ok(())
}

/// The consistency proof between the trees of `old` and `new` leaves (RFC 9162 §2.1.4.1).
pub fn consistency_proof(nodes: &mut dyn Nodes, old: u64, new: u64) -> anyhow::Result<Vec<Hash>> {
    anyhow::ensure!(old <= new, "a tree of {old} cannot be a prefix of one of {new}");
    let mut path = Vec::new();
    if old > 0 && old < new {
        subproof(nodes, old, 0, new, true, &mut path)?;
    }
    Ok(path)
}

fn subproof(nodes: &mut dyn Nodes, m: u64, start: u64, n: u64, whole: bool, out: &mut Vec<Hash>) -> anyhow::Result<()> {
    if m == n {
        if !whole {
            out.push(range_hash(nodes, start, n)?);
        }
        return Ok(());
    }
    let k = split(n);
    if m <= k {
        subproof(nodes, m, start, k, whole, out)?;
        out.push(range_hash(nodes, start + k, n - k)?);
    } else {
        subproof(nodes, m - k, start + k, n - k, false, out)?;
        out.push(range_hash(nodes, start, k)?);
    }
    Ok(())
}

/// Check an inclusion proof (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, path: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in path {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && r == *root
}

/// Check a consistency proof (RFC 9162 §2.1.4.2). Equal sizes need an empty proof and equal
/// roots; every tree is consistent with the empty one.
pub fn verify_consistency(old: u64, new: u64, old_root: &Hash, new_root: &Hash, path: &[Hash]) -> bool {
    if old > new {
        return false;
    }
    if old == new {
        return path.is_empty() && old_root == new_root;
    }
    if old == 0 {
        return path.is_empty();
    }
    let mut c: Vec<Hash> = Vec::with_capacity(path.len() + 1);
    if old.is_power_of_two() {
        c.push(*old_root);
    }
    c.extend_from_slice(path);
    let Some((first, rest)) = c.split_first() else { return false };
    let (mut f, mut s) = (old - 1, new - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for p in rest {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(p, &fr);
            sr = node_hash(p, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, p);
        }
        f >>= 1;
        s >>= 1;
    }
    fr == *old_root && sr == *new_root && s == 0
}

/// The tree head computed leaf by leaf, in memory: the perfect subtrees of the prefix seen
/// so far (at most 64). This is how verification recomputes the tree without trusting any
/// stored node.
#[derive(Debug, Default, Clone)]
pub struct Frontier {
    /// `(level, hash)`, levels strictly decreasing.
    stack: Vec<(u32, Hash)>,
    size: u64,
}

impl Frontier {
    pub fn push(&mut self, leaf: Hash) {
        let (mut level, mut hash) = (0, leaf);
        while let Some(&(l, left)) = self.stack.last() {
            if l != level {
                break;
            }
            self.stack.pop();
            hash = node_hash(&left, &hash);
            level += 1;
        }
        self.stack.push((level, hash));
        self.size += 1;
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn root(&self) -> Hash {
        let mut parts = self.stack.iter().rev();
        let Some(&(_, mut acc)) = parts.next() else { return empty_root() };
        for (_, left) in parts {
            acc = node_hash(left, &acc);
        }
        acc
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// The RFC's MTH, straight from its definition, over the leaf data.
    fn mth(leaves: &[Vec<u8>]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaf_hash(&leaves[0]),
            n => {
                let k = split(n as u64) as usize;
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    /// Nodes kept in memory, filled the way the store fills them.
    #[derive(Default)]
    struct Memory(HashMap<(u32, u64), Hash>);

    impl Nodes for Memory {
        fn node(&mut self, level: u32, index: u64) -> anyhow::Result<Hash> {
            self.0.get(&(level, index)).copied().ok_or_else(|| anyhow::anyhow!("no node {level}/{index}"))
        }
    }

    fn tree(n: u64) -> (Vec<Vec<u8>>, Memory) {
        let mut mem = Memory::default();
        let mut leaves = Vec::new();
        for i in 0..n {
            let data = format!("entry {i}").into_bytes();
            let leaf = leaf_hash(&data);
            mem.0.insert((0, i), leaf);
            for (l, idx, h) in complete(&mut mem, i, leaf).unwrap() {
                mem.0.insert((l, idx), h);
            }
            leaves.push(data);
        }
        (leaves, mem)
    }

    #[test]
    fn known_answers() {
        // RFC 6962/9162 test vectors: the empty tree, and a one-leaf tree of the empty entry.
        assert_eq!(hex::encode(empty_root()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(hex::encode(leaf_hash(b"")), "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
    }

    #[test]
    fn stored_nodes_and_the_frontier_agree_with_the_definition() {
        let (leaves, mut mem) = tree(70);
        let mut frontier = Frontier::default();
        for n in 0..=70u64 {
            let expected = mth(&leaves[..n as usize]);
            assert_eq!(root(&mut mem, n).unwrap(), expected, "stored nodes, size {n}");
            assert_eq!(frontier.root(), expected, "frontier, size {n}");
            if n < 70 {
                frontier.push(leaf_hash(&leaves[n as usize]));
            }
        }
    }

    #[test]
    fn every_inclusion_proof_verifies_and_a_wrong_one_does_not() {
        let (leaves, mut mem) = tree(33);
        for size in 1..=33u64 {
            let r = root(&mut mem, size).unwrap();
            for i in 0..size {
                let leaf = leaf_hash(&leaves[i as usize]);
                let path = inclusion_proof(&mut mem, i, size).unwrap();
                assert!(verify_inclusion(i, size, &leaf, &path, &r), "leaf {i} of {size}");
                let other = leaf_hash(b"forged");
                assert!(!verify_inclusion(i, size, &other, &path, &r));
                if let Some(first) = path.first() {
                    let mut bent = path.clone();
                    bent[0] = node_hash(first, first);
                    assert!(!verify_inclusion(i, size, &leaf, &bent, &r), "a changed path, leaf {i} of {size}");
                }
            }
        }
    }

    #[test]
    fn every_consistency_proof_verifies_and_a_wrong_one_does_not() {
        let (_, mut mem) = tree(33);
        for new in 1..=33u64 {
            let new_root = root(&mut mem, new).unwrap();
            for old in 1..=new {
                let old_root = root(&mut mem, old).unwrap();
                let path = consistency_proof(&mut mem, old, new).unwrap();
                assert!(verify_consistency(old, new, &old_root, &new_root, &path), "{old} → {new}");
                if old < new {
                    let wrong = leaf_hash(b"forged");
                    assert!(!verify_consistency(old, new, &wrong, &new_root, &path));
                    assert!(!verify_consistency(old, new, &old_root, &wrong, &path));
                }
            }
        }
    }

    #[test]
    fn proof_sizes_match_the_rfc_examples() {
        // RFC 9162 §2.1.5: in a tree of 7, leaf d (index 3) needs 3 hashes; consistency
        // from 3 to 7 needs 4, from 4 to 7 needs 1 (the old root is implied), 6 to 7 needs 3.
        let (_, mut mem) = tree(7);
        let cases = [(3u64, 7u64, 4usize), (4, 7, 1), (6, 7, 3)];
        for (old, new, len) in cases {
            assert_eq!(consistency_proof(&mut mem, old, new).unwrap().len(), len, "{old} → {new}");
        }
        assert_eq!(inclusion_proof(&mut mem, 3, 7).unwrap().len(), 3);
        assert_eq!(inclusion_proof(&mut mem, 6, 7).unwrap().len(), 2);
    }
}
