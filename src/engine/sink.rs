//! A VU's DDP event sink. Runs on the connection's reader task, so it
//! never blocks: it hands message receipts to the e2e tracker, wakes a
//! pending `wait_for_message`, and flags a dropped connection so the VU
//! reconnects.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tokio::sync::{Notify, oneshot};

use super::plan::TokenScope;
use crate::metrics::MessageTracker;
use crate::rocketchat::{DdpEvent, EventSink, MessageToken};

/// The personal stream of all the user's rooms. Frames on it may carry
/// this name or the room id (the reference server, like Rocket.Chat,
/// sends the room id); either way a VU counts each message once.
pub const MY_MESSAGES: &str = "__my_messages__";

/// Tokens remembered to drop second copies (VUs on `__my_messages__`).
const RECENT: usize = 512;

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
    tokens: TokenScope,
    tracker: MessageTracker,
    /// Set when the connection closed; cleared on reconnect.
    dropped: AtomicBool,
    /// When it last closed, Unix µs (0: never).
    dropped_at_us: AtomicU64,
    wake: Notify,
    waiter: Mutex<Option<(MessageFilter, oneshot::Sender<()>)>>,
    /// Set once the VU listens on `__my_messages__`, whose frames carry
    /// the room id like the room's own stream: the sink then drops the
    /// second copy of each message itself (recent tokens kept here).
    my_messages: AtomicBool,
    recent: Mutex<VecDeque<(u32, u64)>>,
    /// Messages of this iteration, for a `wait_for_message` that starts
    /// after its message arrived (a sender's own echo can come before the
    /// reply to its `sendMessage`); kept only by VUs whose behaviour waits.
    arrived: Option<Mutex<VecDeque<Value>>>,
}

/// Messages kept for a wait: the latest of an iteration.
const ARRIVED_KEPT: usize = 64;

pub fn now_unix_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

impl VuSink {
    /// `waits`: the VU's behaviour has a `wait_for_message` step.
    pub fn new(vu: u32, tokens: TokenScope, tracker: MessageTracker, waits: bool) -> VuSink {
        VuSink {
            vu,
            tokens,
            tracker,
            dropped: AtomicBool::new(false),
            dropped_at_us: AtomicU64::new(0),
            wake: Notify::new(),
            waiter: Mutex::new(None),
            my_messages: AtomicBool::new(false),
            recent: Mutex::new(VecDeque::new()),
            arrived: waits.then(|| Mutex::new(VecDeque::new())),
        }
    }

    /// A new iteration: what arrived before it is no answer to its waits.
    pub fn new_iteration(&self) {
        if let Some(arrived) = &self.arrived {
            arrived.lock().unwrap_or_else(|e| e.into_inner()).clear();
        }
    }

    /// The VU subscribed `__my_messages__`: expect each message twice.
    pub fn listens_my_messages(&self) {
        self.my_messages.store(true, Ordering::SeqCst);
    }

    /// Whether this copy repeats one already seen through the other stream.
    fn second_copy(&self, token: &MessageToken) -> bool {
        if !self.my_messages.load(Ordering::Relaxed) {
            return false;
        }
        let key = (token.sender, token.seq);
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if recent.contains(&key) {
            return true;
        }
        if recent.len() >= RECENT {
            recent.pop_front();
        }
        recent.push_back(key);
        false
    }

    pub fn is_dropped(&self) -> bool {
        self.dropped.load(Ordering::SeqCst)
    }

    /// When the connection last closed, Unix µs.
    pub fn dropped_at_us(&self) -> Option<u64> {
        Some(self.dropped_at_us.load(Ordering::SeqCst)).filter(|t| *t > 0)
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
    /// Resolves on the first message of this iteration matching `filter`,
    /// at once when it has already arrived.
    pub fn wait_for(&self, filter: MessageFilter) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        // Holding the waiter lock keeps a message from slipping between
        // the look back and the registration.
        let mut waiter = self.lock_waiter();
        let seen = self.arrived.as_ref().is_some_and(|a| {
            a.lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .any(|m| filter.matches(m))
        });
        if seen {
            let _ = tx.send(());
        } else {
            *waiter = Some((filter, tx));
        }
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
            && token.run == self.tokens.run
            && !self.second_copy(&token)
        {
            // Another shard's message is untracked here: its latency is
            // timed from the token's send time, on the sender host's clock.
            if self.tokens.is_other_shard(token.sender) {
                self.tracker.cross_shard();
            }
            self.tracker.received(
                self.vu,
                token.sender,
                token.seq,
                token.sent_unix_us,
                now_unix_us(),
            );
        }
        let mut waiter = self.lock_waiter();
        if let Some(arrived) = &self.arrived {
            let mut arrived = arrived.lock().unwrap_or_else(|e| e.into_inner());
            if arrived.len() == ARRIVED_KEPT {
                arrived.pop_front();
            }
            arrived.push_back(msg.clone());
        }
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
                self.dropped_at_us.store(now_unix_us(), Ordering::SeqCst);
                self.dropped.store(true, Ordering::SeqCst);
                self.wake.notify_waiters();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::metrics::Metrics;

    fn frame(sink: &VuSink, rid: &str, text: &str, from: &str) {
        let args = [json!({"_id": "m", "rid": rid, "msg": text, "u": {"username": from}})];
        sink.event(DdpEvent::Changed {
            collection: "stream-room-messages",
            event_name: rid,
            args: &args,
        });
    }

    fn token_text(run: u32, seq: u64) -> String {
        token_from(run, 1, seq)
    }

    fn token_from(run: u32, sender: u32, seq: u64) -> String {
        let mut text = String::from("hello");
        MessageToken {
            run,
            sender,
            seq,
            sent_unix_us: now_unix_us(),
        }
        .append_to(&mut text);
        text
    }

    fn e2e_and_duplicates(metrics: &Metrics) -> (u64, u64) {
        let iv = metrics.snapshot();
        let e2e = iv.metrics.get("message.e2e").map_or(0, |m| m.ok);
        let dup = iv.counters.get("message.duplicate").copied().unwrap_or(0);
        (e2e, dup)
    }

    #[test]
    fn receipts_reach_the_tracker_once() {
        let metrics = Metrics::new();
        let tracker = MessageTracker::new(&metrics, Duration::from_secs(10));
        let sink = VuSink::new(2, TokenScope::of(77, None), tracker.clone(), false);
        tracker.subscribed(2, "r1");
        tracker.sending(1, 1, "r1", now_unix_us());
        tracker.sending(1, 2, "r1", now_unix_us());
        frame(&sink, "r1", &token_text(77, 1), "a");
        // Another run's token is not ours.
        frame(&sink, "r1", &token_text(78, 2), "a");
        assert_eq!(e2e_and_duplicates(&metrics), (1, 0));
        // A true repeat is a duplicate ...
        frame(&sink, "r1", &token_text(77, 1), "a");
        assert_eq!(e2e_and_duplicates(&metrics), (0, 1));
        // ... but with __my_messages__ the second copy is expected.
        sink.listens_my_messages();
        frame(&sink, "r1", &token_text(77, 2), "a");
        frame(&sink, "r1", &token_text(77, 2), "a");
        assert_eq!(e2e_and_duplicates(&metrics), (1, 0));
    }

    #[test]
    fn another_shards_receipts_are_timed_and_counted_as_theirs() {
        let metrics = Metrics::new();
        let tracker = MessageTracker::new(&metrics, Duration::from_secs(10));
        // Shard 1/2: its VU 1 sends as 2; 1 and 3 are shard 2's VUs 0 and 1.
        let tokens = TokenScope::of(77, Some((1, 2)));
        assert_eq!(tokens.sender(1), 2);
        assert!(!tokens.is_other_shard(2) && tokens.is_other_shard(3));
        let sink = VuSink::new(2, tokens, tracker.clone(), false);
        tracker.subscribed(2, "r1");
        tracker.sending(2, 1, "r1", now_unix_us());
        frame(&sink, "r1", &token_from(77, 2, 1), "a");
        frame(&sink, "r1", &token_from(77, 3, 1), "b");
        let iv = metrics.snapshot();
        assert_eq!(iv.metrics.get("message.e2e").map(|m| m.ok), Some(2));
        assert_eq!(iv.counters.get("message.cross_shard"), Some(&1));
    }

    #[tokio::test]
    async fn waiters_match_room_text_and_sender() {
        let metrics = Metrics::new();
        let sink = VuSink::new(
            1,
            TokenScope::of(1, None),
            MessageTracker::new(&metrics, Duration::from_secs(1)),
            true,
        );
        let mut rx = sink.wait_for(MessageFilter {
            room_id: Some("r1".into()),
            contains: Some("ping".into()),
            from: Some("bob".into()),
        });
        frame(&sink, "r2", "ping", "bob");
        frame(&sink, "r1", "pong", "bob");
        frame(&sink, "r1", "ping", "alice");
        assert!(rx.try_recv().is_err());
        frame(&sink, "r1", "a ping!", "bob");
        assert!(rx.try_recv().is_ok());
    }

    #[tokio::test]
    async fn a_message_of_this_iteration_answers_a_later_wait() {
        let metrics = Metrics::new();
        let sink = VuSink::new(
            1,
            TokenScope::of(1, None),
            MessageTracker::new(&metrics, Duration::from_secs(1)),
            true,
        );
        let ping = || MessageFilter {
            contains: Some("ping 1".into()),
            ..MessageFilter::default()
        };
        frame(&sink, "r1", "ping 1", "bob");
        assert!(
            sink.wait_for(ping()).try_recv().is_ok(),
            "the echo came first"
        );
        sink.clear_wait();
        sink.new_iteration();
        assert!(
            sink.wait_for(ping()).try_recv().is_err(),
            "last iteration's"
        );
        sink.clear_wait();
        // A VU that never waits keeps nothing.
        let plain = VuSink::new(
            1,
            TokenScope::of(1, None),
            MessageTracker::new(&metrics, Duration::from_secs(1)),
            false,
        );
        frame(&plain, "r1", "ping 1", "bob");
        assert!(plain.wait_for(ping()).try_recv().is_err());
    }

    #[tokio::test]
    async fn closed_flags_the_drop() {
        let metrics = Metrics::new();
        let sink = VuSink::new(
            1,
            TokenScope::of(1, None),
            MessageTracker::new(&metrics, Duration::from_secs(1)),
            true,
        );
        assert!(!sink.is_dropped());
        sink.event(DdpEvent::Closed { code: Some(1006) });
        assert!(sink.is_dropped());
        sink.dropped().await;
        sink.connected();
        assert!(!sink.is_dropped());
    }
}
