//! Counts the calls this engine carries (inbound from the moment they ring, outbound from
//! the dial), so a draining node can wait for them to finish: a call's task holds a
//! [`CallGuard`] until its last answer is written.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

#[derive(Clone)]
pub struct InFlight {
    count: Arc<watch::Sender<usize>>,
}

impl Default for InFlight {
    fn default() -> Self {
        Self {
            count: Arc::new(watch::Sender::new(0)),
        }
    }
}

/// One call in progress; dropping it (however the task ends) counts it out.
pub struct CallGuard {
    count: Arc<watch::Sender<usize>>,
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        self.count.send_modify(|n| *n = n.saturating_sub(1));
    }
}

impl InFlight {
    pub fn enter(&self) -> CallGuard {
        self.count.send_modify(|n| *n += 1);
        CallGuard {
            count: self.count.clone(),
        }
    }

    pub fn count(&self) -> usize {
        *self.count.borrow()
    }

    /// Waits until no call is in progress, at most `limit`; true when none is left.
    pub async fn wait_idle(&self, limit: Duration) -> bool {
        let mut rx = self.count.subscribe();
        tokio::time::timeout(limit, rx.wait_for(|n| *n == 0))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waits_for_the_last_guard() {
        let calls = InFlight::default();
        let a = calls.enter();
        let b = calls.enter();
        assert_eq!(calls.count(), 2);
        assert!(!calls.wait_idle(Duration::from_millis(10)).await);
        drop(a);
        let waiter = tokio::spawn({
            let calls = calls.clone();
            async move { calls.wait_idle(Duration::from_secs(5)).await }
        });
        drop(b);
        assert!(waiter.await.unwrap());
        assert_eq!(calls.count(), 0);
    }
}
