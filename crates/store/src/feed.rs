//! The in-process change feed every backend publishes to after a commit.

use tokio::sync::broadcast;

use crate::Change;

/// How many changes a slow subscriber may fall behind before it is told it lagged. Bursts come
/// from revoking many sessions at once; a subscriber that lags reloads everything anyway.
const CAPACITY: usize = 4096;

pub(crate) struct ChangeFeed {
    sender: broadcast::Sender<Change>,
}

impl ChangeFeed {
    pub(crate) fn new() -> Self {
        Self {
            sender: broadcast::channel(CAPACITY).0,
        }
    }

    /// Tells every current subscriber. Called only after the change is committed, so nobody
    /// reloads state that could still be rolled back.
    pub(crate) fn publish(&self, change: Change) {
        // Having no subscriber is normal (tools, tests, start-up): the change is in the store.
        let _ = self.sender.send(change);
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.sender.subscribe()
    }
}
