//! Unwrapped data keys in memory, bounded. The oldest entry is evicted first and unwrapped again
//! on its next use. Nothing of an evicted key stays behind: its raw bytes (`Key256`) were zeroized
//! once the AES-GCM key schedule was built, and aws-lc clears the schedule when it frees it
//! (`EVP_AEAD_CTX_free` -> `OPENSSL_free`, which cleanses every allocation before freeing).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use mandate_crypto::envelope::DataKey;
use uuid::Uuid;

pub struct DekCache {
    capacity: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    keys: HashMap<(Uuid, String), Arc<DataKey>>,
    /// Insertion order, for eviction.
    order: VecDeque<(Uuid, String)>,
    /// The active key id of each workspace whose active key is cached.
    active: HashMap<Uuid, String>,
}

impl DekCache {
    pub fn new(capacity: usize) -> DekCache {
        DekCache {
            capacity: capacity.max(1),
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps inconsistent in a way that
        // matters (worst case a stale entry), so a poisoned lock is still used.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn get(&self, workspace_id: Uuid, kid: &str) -> Option<Arc<DataKey>> {
        self.lock()
            .keys
            .get(&(workspace_id, kid.to_string()))
            .cloned()
    }

    pub fn active(&self, workspace_id: Uuid) -> Option<Arc<DataKey>> {
        let state = self.lock();
        let kid = state.active.get(&workspace_id)?;
        state.keys.get(&(workspace_id, kid.clone())).cloned()
    }

    pub fn insert(&self, workspace_id: Uuid, key: Arc<DataKey>, is_active: bool) {
        let mut state = self.lock();
        let id = (workspace_id, key.kid().to_string());
        if is_active {
            state.active.insert(workspace_id, id.1.clone());
        }
        if state.keys.insert(id.clone(), key).is_none() {
            state.order.push_back(id);
        }
        while state.keys.len() > self.capacity {
            let Some(oldest) = state.order.pop_front() else {
                break;
            };
            state.keys.remove(&oldest);
            if state.active.get(&oldest.0) == Some(&oldest.1) {
                state.active.remove(&oldest.0);
            }
        }
    }

    /// Forget which key is active for `workspace_id` (after a rotation); the keys stay cached.
    pub fn forget_active(&self, workspace_id: Uuid) {
        self.lock().active.remove(&workspace_id);
    }

    /// Forget every key (on a change-bus resync, or when keys rotate).
    pub fn clear(&self) {
        let mut state = self.lock();
        state.keys.clear();
        state.order.clear();
        state.active.clear();
    }

    pub fn len(&self) -> usize {
        self.lock().keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mandate_crypto::Key256;

    fn key(kid: &str) -> Arc<DataKey> {
        Arc::new(DataKey::new(kid, &Key256::generate().unwrap()).unwrap())
    }

    #[test]
    fn bounded_oldest_first_and_active_follows_eviction() {
        let cache = DekCache::new(2);
        let (w1, w2, w3) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        cache.insert(w1, key("a"), true);
        cache.insert(w2, key("b"), true);
        assert!(cache.active(w1).is_some());
        cache.insert(w3, key("c"), true);
        assert_eq!(cache.len(), 2);
        assert!(cache.get(w1, "a").is_none(), "oldest evicted");
        assert!(cache.active(w1).is_none());
        assert_eq!(cache.active(w3).unwrap().kid(), "c");
        assert!(cache.get(w2, "c").is_none(), "keys are per workspace");
        cache.clear();
        assert!(cache.is_empty());
    }
}
