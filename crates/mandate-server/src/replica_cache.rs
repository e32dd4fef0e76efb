//! A per-replica cache of rows the hot path would otherwise read on every request (agents'
//! access tokens, connections). The owner drops entries when the change bus announces a change
//! (on the replica that made it, the writer drops them itself first); every entry also expires
//! after a maximum age, a bound on staleness should an announcement be lost.
//!
//! A read that raced with a change must not be kept: every drop bumps a generation, the reader
//! takes the generation before going to the database, and [`ReplicaCache::put`] refuses the
//! entry when a drop happened in between.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mandate_store::change_bus::{Change, ChangeBus, ChangeEvent, Topic};

pub struct ReplicaCache<K, V> {
    entries: Mutex<HashMap<K, (V, Instant)>>,
    generation: AtomicU64,
    max_age: Duration,
    max_entries: usize,
}

impl<K: Hash + Eq, V: Clone> ReplicaCache<K, V> {
    /// Entries live at most `max_age`; past `max_entries` the cache starts over.
    pub fn new(max_age: Duration, max_entries: usize) -> ReplicaCache<K, V> {
        ReplicaCache {
            entries: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
            max_age,
            max_entries,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, (V, Instant)>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The value for `key`, if cached and younger than the maximum age.
    pub fn get(&self, key: &K) -> Option<V> {
        self.lock()
            .get(key)
            .filter(|(_, at)| at.elapsed() < self.max_age)
            .map(|(v, _)| v.clone())
    }

    /// Take this before reading the database; hand it to [`ReplicaCache::put`].
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Keep `value`, read when the generation was `read_at`, unless something was dropped since.
    pub fn put(&self, key: K, value: V, read_at: u64) {
        let mut entries = self.lock();
        if self.generation.load(Ordering::Acquire) != read_at {
            return;
        }
        if entries.len() >= self.max_entries {
            entries.clear();
        }
        entries.insert(key, (value, Instant::now()));
    }

    /// Change a cached value in place (its age is kept).
    pub fn update(&self, key: &K, change: impl FnOnce(&mut V)) {
        if let Some((v, _)) = self.lock().get_mut(key) {
            change(v);
        }
    }

    /// Drop every entry whose value matches.
    pub fn forget_where(&self, matches: impl Fn(&V) -> bool) {
        let mut entries = self.lock();
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.retain(|_, (v, _)| !matches(v));
    }

    pub fn clear(&self) {
        let mut entries = self.lock();
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<K, V> ReplicaCache<K, V>
where
    K: Hash + Eq + Send + 'static,
    V: Clone + Send + 'static,
{
    /// Follow the change bus: `on_change` drops what each announced change makes stale; a
    /// resync or a topic this release does not know drops everything. Ends with the cache.
    pub fn spawn_invalidation(
        self: &Arc<Self>,
        bus: &ChangeBus,
        on_change: impl Fn(&Self, &Change) + Send + 'static,
    ) {
        let cache = Arc::downgrade(self);
        let mut changes = bus.subscribe();
        tokio::spawn(async move {
            while let Some(event) = changes.recv().await {
                let Some(cache) = cache.upgrade() else { return };
                match event {
                    ChangeEvent::Changed(c) if c.topic == Topic::Unknown => cache.clear(),
                    ChangeEvent::Changed(c) => on_change(&cache, &c),
                    ChangeEvent::Resync => cache.clear(),
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_refuse_reads_from_before_them_and_entries_age_out() {
        let cache: ReplicaCache<u32, (u32, &str)> = ReplicaCache::new(Duration::from_secs(60), 3);
        let read_at = cache.generation();
        cache.put(1, (10, "a"), read_at);
        cache.put(2, (10, "b"), read_at);
        cache.put(3, (20, "c"), read_at);
        assert_eq!(cache.get(&1), Some((10, "a")));

        let racing = cache.generation();
        cache.forget_where(|v| v.0 == 10);
        assert_eq!((cache.get(&1), cache.get(&2)), (None, None));
        assert!(cache.get(&3).is_some(), "others stay");
        cache.put(1, (10, "a"), racing);
        assert_eq!(cache.get(&1), None, "read before the drop: not kept");

        cache.update(&3, |v| v.1 = "changed");
        assert_eq!(cache.get(&3), Some((20, "changed")));
        let now = cache.generation();
        cache.put(4, (1, "d"), now);
        cache.put(5, (1, "e"), now);
        assert_eq!(cache.len(), 3);
        cache.put(6, (1, "f"), now);
        assert_eq!(cache.len(), 1, "full: started over");
        cache.clear();
        assert!(cache.is_empty());

        let short: ReplicaCache<u32, u32> = ReplicaCache::new(Duration::ZERO, 10);
        short.put(1, 1, short.generation());
        assert_eq!(short.get(&1), None, "past its age");
    }
}
