//! A VU's DDP event sink. Runs on the connection's reader task, so it
//! never blocks: it hands message receipts to the e2e tracker, wakes a
//! pending `wait_for_message`, and flags a dropped connection so the VU
//! reconnects.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tokio::sync::{Notify, oneshot};

use crate::metrics::MessageTracker;
use crate::rocketchat::{DdpEvent, EventSink, MessageToken};

/// The personal stream of all the user's rooms: receipts on it are not
/// counted (the room's own stream counts them), else a VU subscribed to
/// both would count each message twice.
pub const MY_MESSAGES: &str = "__my_messages__";

/// What a `wait_for_message` step waits for.
#[derive(Debug, Clone, Default)]
pub struct MessageFilter {
    pub room_id: Option<String>,
    pub contains: Option<String>,
    pub from: Option<String>,
}

impl MessageFilter {
    fn matches(&self, msg: &Value) -> bool {
        let field = |p: &str| msg.pointer(p).and_then(Value::as_str).unwrap_or_default();
        self.room_id.as_deref().is_none_or(|r| field("/rid") == r)
            && self
                .contains
                .as_deref()
                .is_none_or(|c| field("/msg").contains(c))
            && self
                .from
                .as_deref()
                .is_none_or(|f| field("/u/username") == f)
    }
}

pub struct VuSink {
    vu: u32,
    run_id: u32,
    tracker: MessageTracker,
    /// Set when the connection closed; cleared on reconnect.
    dropped: AtomicBool,
    wake: Notify,
    waiter: Mutex<Option<(MessageFilter, oneshot::Sender<()>)>>,
}

pub fn now_unix_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

impl VuSink {
    pub fn new(vu: u32, run_id: u32, tracker: MessageTracker) -> VuSink {
        VuSink {
            vu,
            run_id,
            tracker,
            dropped: AtomicBool::new(false),
            wake: Notify::new(),
            waiter: Mutex::new(None),
        }
    }

    pub fn is_dropped(&self) -> bool {
        self.dropped.load(Ordering::SeqCst)
    }

    /// Called once a new connection is up.
    pub fn connected(&self) {
        self.dropped.store(false, Ordering::SeqCst);
    }

    /// Resolves when the connection drops (immediately if it has).
    pub async fn dropped(&self) {
        loop {
            let notified = self.wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_dropped() {
                return;
            }
            notified.await;
        }
    }

    /// Registers the filter of a `wait_for_message`; the receiver fires on
    /// the first matching message from now on.
    pub fn wait_for(&self, filter: MessageFilter) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        *self.lock_waiter() = Some((filter, tx));
        rx
    }

    pub fn clear_wait(&self) {
        *self.lock_waiter() = None;
    }

    fn lock_waiter(
        &self,
    ) -> std::sync::MutexGuard<'_, Option<(MessageFilter, oneshot::Sender<()>)>> {
        // Only plain data is behind this lock; a poisoned one is still valid.
        self.waiter.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn message(&self, event_name: &str, msg: &Value) {
        if event_name != MY_MESSAGES
            && let Some(text) = msg.get("msg").and_then(Value::as_str)
            && let Some(token) = MessageToken::find(text)
            && token.run == self.run_id
        {
            self.tracker.received(
                self.vu,
                token.sender,
                token.seq,
                token.sent_unix_us,
                now_unix_us(),
            );
        }
        let mut waiter = self.lock_waiter();
        if waiter.as_ref().is_some_and(|(f, _)| f.matches(msg))
            && let Some((_, tx)) = waiter.take()
        {
            let _ = tx.send(());
        }
    }
}

impl EventSink for VuSink {
    fn event(&self, ev: DdpEvent<'_>) {
        match ev {
            DdpEvent::Changed {
                collection,
                event_name,
                args,
            } => {
                if collection == "stream-room-messages"
                    && let Some(msg) = args.first()
                {
                    self.message(event_name, msg);
                }
            }
            DdpEvent::Closed { .. } => {
                self.tracker.disconnected(self.vu);
                self.dropped.store(true, Ordering::SeqCst);
                self.wake.notify_waiters();
            }
        }
    }
}
