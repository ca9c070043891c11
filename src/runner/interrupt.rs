//! Ctrl-C, listened to once from before the target is prepared until the
//! run ends. Installing the handler replaces the default SIGINT action
//! (kill at once, nothing written), so it must come first; one listener
//! for the whole run leaves no gap between phases in which a Ctrl-C is
//! swallowed by a handler nobody awaits.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Whether Ctrl-C came; cheap to clone.
#[derive(Clone, Debug)]
pub struct Interrupt {
    flag: Arc<AtomicBool>,
    rx: watch::Receiver<bool>,
}

impl Interrupt {
    /// Installs the handler and listens (call inside a runtime). Without a
    /// handler (the OS refused one) it never fires.
    pub fn listen() -> (Interrupt, JoinHandle<()>) {
        let (interrupt, tx) = Interrupt::manual();
        let task = tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                tx.fire();
            }
        });
        (interrupt, task)
    }

    /// An interrupt fired by hand, not by a signal (tests, callers).
    pub fn manual() -> (Interrupt, Trigger) {
        let flag = Arc::new(AtomicBool::new(false));
        let (tx, rx) = watch::channel(false);
        let trigger = Trigger {
            flag: flag.clone(),
            tx,
        };
        (Interrupt { flag, rx }, trigger)
    }

    pub fn is_set(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// Resolves once Ctrl-C came (at once if it has).
    pub async fn fired(&self) {
        let mut rx = self.rx.clone();
        if rx.wait_for(|s| *s).await.is_err() {
            // The trigger is gone unfired: it never will.
            std::future::pending::<()>().await;
        }
    }
}

/// Fires an [`Interrupt`].
pub struct Trigger {
    flag: Arc<AtomicBool>,
    tx: watch::Sender<bool>,
}

impl Trigger {
    pub fn fire(&self) {
        self.flag.store(true, Ordering::SeqCst);
        let _ = self.tx.send(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fired_resolves_for_clones_made_before_and_after() {
        let (interrupt, trigger) = Interrupt::manual();
        let early = interrupt.clone();
        assert!(!interrupt.is_set());
        let waiting = tokio::spawn(async move { early.fired().await });
        trigger.fire();
        waiting.await.expect("the waiter ends");
        assert!(interrupt.is_set());
        // A wait that starts after the signal ends at once.
        interrupt.clone().fired().await;
    }
}
