//! The in-memory indexes: key name → stored session, key name → quota records.
//!
//! Each is a fixed number of shards, each a `hashbrown::HashTable` behind an `RwLock`,
//! all hashed by one seeded foldhash `RandomState` (SipHash was a measurable share of a
//! proxied request; every insert is of an admin-created key, so collisions cannot be
//! forced from outside). Unlike a `DashMap`, a table accepts a hash computed
//! elsewhere: opening a store hashes every key while parsing (on all cores), routes
//! each record to its shard, and then fills every shard on its own, without locks and
//! without reading key bytes again. Re-reading a million keys scattered over memory,
//! one locked insert at a time, was most of what opening a large store cost.

use foldhash::fast::RandomState;
use hashbrown::HashTable;
use std::hash::BuildHasher;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// log2 of the shard count. 64 shards keep a shard of a million-key index small
/// enough to stay in cache while it is filled, and leave plenty of jobs for the cores.
const SHARD_BITS: u32 = 6;
pub(super) const SHARDS: usize = 1 << SHARD_BITS;

/// Something stored under a key name.
pub(super) trait Keyed {
    fn key(&self) -> &str;
}

/// The hash function shared by all indexes of a store.
#[derive(Clone, Default)]
pub(super) struct Hasher(RandomState);

impl Hasher {
    pub fn hash(&self, key: &str) -> u64 {
        self.0.hash_one(key)
    }
}

/// The shard of a hash. The table itself uses the low bits (bucket) and the top seven
/// (tag), so the shard is taken from the bits just below the tag.
pub(super) fn shard_of(hash: u64) -> usize {
    ((hash << 7) >> (64 - SHARD_BITS)) as usize
}

/// One shard's table, filled by its owner before the index is assembled.
pub(super) type Table<T> = HashTable<T>;

/// Inserts `entry`, replacing an entry with the same key; returns the replaced one.
pub(super) fn table_insert<T: Keyed>(
    table: &mut Table<T>,
    hasher: &Hasher,
    hash: u64,
    entry: T,
) -> Option<T> {
    use hashbrown::hash_table::Entry;
    let found = table.entry(hash, |e| e.key() == entry.key(), |e| hasher.hash(e.key()));
    match found {
        Entry::Occupied(mut slot) => Some(std::mem::replace(slot.get_mut(), entry)),
        Entry::Vacant(slot) => {
            slot.insert(entry);
            None
        }
    }
}

/// Removes the entry of `key`.
pub(super) fn table_remove<T: Keyed>(table: &mut Table<T>, hash: u64, key: &str) -> Option<T> {
    table
        .find_entry(hash, |e| e.key() == key)
        .ok()
        .map(|slot| slot.remove().0)
}

/// A sharded index of `T` by key name.
pub(super) struct Index<T> {
    shards: Box<[RwLock<Table<T>>]>,
}

impl<T: Keyed> Default for Index<T> {
    fn default() -> Self {
        Self::from_tables((0..SHARDS).map(|_| Table::new()).collect())
    }
}

impl<T: Keyed> Index<T> {
    /// Assembles an index from its shards' tables, in shard order (`SHARDS` of them;
    /// missing ones are empty).
    pub fn from_tables(tables: Vec<Table<T>>) -> Self {
        let mut tables = tables.into_iter();
        Index {
            shards: (0..SHARDS)
                .map(|_| RwLock::new(tables.next().unwrap_or_default()))
                .collect(),
        }
    }

    // A panic while a shard is locked cannot leave a table half-changed (every change
    // is one call into it), so a poisoned lock is used as is.
    fn read(&self, hash: u64) -> RwLockReadGuard<'_, Table<T>> {
        self.shards[shard_of(hash)]
            .read()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self, hash: u64) -> RwLockWriteGuard<'_, Table<T>> {
        self.shards[shard_of(hash)]
            .write()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Applies `f` to the entry of `key`, if any, under the shard's read lock.
    pub fn with<R>(&self, hasher: &Hasher, key: &str, f: impl FnOnce(&T) -> R) -> Option<R> {
        let hash = hasher.hash(key);
        self.read(hash).find(hash, |e| e.key() == key).map(f)
    }

    /// Applies `f` to the entry of `key` under the shard's write lock, creating it
    /// with `new` first if missing.
    pub fn upsert<R>(
        &self,
        hasher: &Hasher,
        key: &str,
        new: impl FnOnce() -> T,
        f: impl FnOnce(&mut T) -> R,
    ) -> R {
        let hash = hasher.hash(key);
        let mut table = self.write(hash);
        let entry = table
            .entry(hash, |e| e.key() == key, |e| hasher.hash(e.key()))
            .or_insert_with(new);
        f(entry.into_mut())
    }

    pub fn contains_key(&self, hasher: &Hasher, key: &str) -> bool {
        self.with(hasher, key, |_| ()).is_some()
    }

    /// Inserts `entry`, replacing an entry with the same key.
    pub fn insert(&self, hasher: &Hasher, entry: T) -> Option<T> {
        let hash = hasher.hash(entry.key());
        table_insert(&mut self.write(hash), hasher, hash, entry)
    }

    pub fn remove(&self, hasher: &Hasher, key: &str) -> Option<T> {
        let hash = hasher.hash(key);
        table_remove(&mut self.write(hash), hash, key)
    }

    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(|e| e.into_inner()).len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Calls `f` on every entry, one shard at a time (under its read lock).
    pub fn for_each(&self, mut f: impl FnMut(&T)) {
        for shard in self.shards.iter() {
            shard
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .for_each(&mut f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct E(Box<str>, u32);
    impl Keyed for E {
        fn key(&self) -> &str {
            &self.0
        }
    }

    #[test]
    fn insert_replace_remove_and_upsert() {
        let h = Hasher::default();
        let index: Index<E> = Index::default();
        for i in 0..10_000u32 {
            assert!(index.insert(&h, E(format!("k{i}").into(), i)).is_none());
        }
        assert_eq!(index.len(), 10_000);
        assert_eq!(index.insert(&h, E("k7".into(), 70)).map(|e| e.1), Some(7));
        assert_eq!(index.with(&h, "k7", |e| e.1), Some(70));
        assert!(index.with(&h, "nope", |e| e.1).is_none());
        assert_eq!(index.remove(&h, "k7").map(|e| e.1), Some(70));
        assert!(!index.contains_key(&h, "k7"));
        assert_eq!(index.upsert(&h, "k7", || E("k7".into(), 1), |e| e.1), 1);
        index.upsert(&h, "k7", || E("k7".into(), 1), |e| e.1 += 1);
        assert_eq!(index.with(&h, "k7", |e| e.1), Some(2));
        let mut n = 0;
        index.for_each(|_| n += 1);
        assert_eq!(n, 10_000);
        // Every shard is used.
        let used = (0..10_000)
            .map(|i| shard_of(h.hash(&format!("k{i}"))))
            .collect::<std::collections::HashSet<_>>();
        assert_eq!(used.len(), SHARDS);
    }

    #[test]
    fn tables_filled_elsewhere_are_found() {
        let h = Hasher::default();
        let mut tables: Vec<Table<E>> = (0..SHARDS).map(|_| Table::new()).collect();
        for i in 0..1000u32 {
            let key = format!("k{i}");
            let hash = h.hash(&key);
            table_insert(&mut tables[shard_of(hash)], &h, hash, E(key.into(), i));
        }
        let index = Index::from_tables(tables);
        assert_eq!(index.with(&h, "k999", |e| e.1), Some(999));
        assert_eq!(index.len(), 1000);
    }
}
