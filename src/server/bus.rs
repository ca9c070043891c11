//! The fan-out bus shared by every instance (as Rocket.Chat instances share
//! MongoDB change streams), and each websocket's bounded outbox.
//!
//! A stream event is serialized once into a [`Frame`] (reference-counted
//! bytes) and the same frame is queued on every subscriber's outbox. Outboxes
//! are bounded in bytes; a push that would pass the bound marks the outbox
//! overflowed instead, and its session closes with 1013 (slow consumer).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::Notify;

use super::store::UserIx;

/// One serialized DDP message, shared among subscribers.
pub type Frame = Utf8Bytes;

/// Accounting overhead per queued frame, so many tiny frames are bounded too.
const FRAME_OVERHEAD: usize = 64;

/// A connection's send queue, bounded in bytes.
pub struct Outbox {
    state: Mutex<OutState>,
    ready: Notify,
    overflow: Notify,
    limit: usize,
}

#[derive(Default)]
struct OutState {
    queue: VecDeque<Frame>,
    bytes: usize,
    overflowed: bool,
}

impl Outbox {
    pub fn new(limit: usize) -> Arc<Outbox> {
        Arc::new(Outbox {
            state: Mutex::new(OutState::default()),
            ready: Notify::new(),
            overflow: Notify::new(),
            limit,
        })
    }

    /// Queues a frame; false (and the outbox marked overflowed) when it
    /// would pass the bound.
    pub fn push(&self, frame: Frame) -> bool {
        let cost = frame.len() + FRAME_OVERHEAD;
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if st.overflowed {
            return false;
        }
        if st.bytes + cost > self.limit {
            st.overflowed = true;
            st.queue.clear();
            st.bytes = 0;
            drop(st);
            self.overflow.notify_one();
            return false;
        }
        st.bytes += cost;
        st.queue.push_back(frame);
        drop(st);
        self.ready.notify_one();
        true
    }

    /// Moves every queued frame into `out`; false once overflowed.
    pub fn drain_into(&self, out: &mut Vec<Frame>) -> bool {
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if st.overflowed {
            return false;
        }
        out.extend(st.queue.drain(..));
        st.bytes = 0;
        // Do not keep a burst's capacity for the rest of an idle session.
        if st.queue.capacity() > 64 {
            st.queue.shrink_to(8);
        }
        true
    }

    /// Resolves when a frame may be waiting.
    pub async fn ready(&self) {
        self.ready.notified().await;
    }

    /// Resolves once the outbox overflowed.
    pub async fn overflowed(&self) {
        self.overflow.notified().await;
    }
}

/// The realtime streams the server publishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stream {
    RoomMessages,
    NotifyRoom,
    NotifyUser,
    NotifyLogged,
    NotifyAll,
    UserPresence,
}

impl Stream {
    pub fn parse(name: &str) -> Option<Stream> {
        Some(match name {
            "stream-room-messages" => Stream::RoomMessages,
            "stream-notify-room" => Stream::NotifyRoom,
            "stream-notify-user" => Stream::NotifyUser,
            "stream-notify-logged" => Stream::NotifyLogged,
            "stream-notify-all" => Stream::NotifyAll,
            "stream-user-presence" => Stream::UserPresence,
            _ => return None,
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            Stream::RoomMessages => "stream-room-messages",
            Stream::NotifyRoom => "stream-notify-room",
            Stream::NotifyUser => "stream-notify-user",
            Stream::NotifyLogged => "stream-notify-logged",
            Stream::NotifyAll => "stream-notify-all",
            Stream::UserPresence => "stream-user-presence",
        }
    }
}

/// One subscription's delivery target.
#[derive(Clone)]
pub struct Subscriber {
    pub conn: u64,
    pub user: Option<UserIx>,
    pub outbox: Arc<Outbox>,
}

/// Subscribers by stream, then event name (looked up by `&str`, no allocation).
type Topics = HashMap<Stream, HashMap<Box<str>, HashMap<u64, Subscriber>>>;

/// Decides per delivery whether to drop it (fault injection).
pub type LossFn = Box<dyn Fn() -> bool + Send + Sync>;

pub struct Bus {
    topics: RwLock<Topics>,
    next_key: AtomicU64,
    deliveries: AtomicU64,
    lose: LossFn,
}

impl Bus {
    pub fn new(lose: LossFn) -> Bus {
        Bus {
            topics: RwLock::new(HashMap::new()),
            next_key: AtomicU64::new(1),
            deliveries: AtomicU64::new(0),
            lose,
        }
    }

    /// Registers a subscriber; the key unsubscribes it.
    pub fn subscribe(&self, stream: Stream, event: &str, sub: Subscriber) -> u64 {
        let key = self.next_key.fetch_add(1, Ordering::Relaxed);
        self.topics
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(stream)
            .or_default()
            .entry(event.into())
            .or_default()
            .insert(key, sub);
        key
    }

    pub fn unsubscribe(&self, stream: Stream, event: &str, key: u64) {
        let mut topics = self.topics.write().unwrap_or_else(PoisonError::into_inner);
        let Some(events) = topics.get_mut(&stream) else {
            return;
        };
        if let Some(subs) = events.get_mut(event) {
            subs.remove(&key);
            if subs.is_empty() {
                events.remove(event);
            }
        }
    }

    /// True when anyone listens on the topic (to skip building frames).
    pub fn has_subscribers(&self, stream: Stream, event: &str) -> bool {
        let topics = self.topics.read().unwrap_or_else(PoisonError::into_inner);
        topics.get(&stream).is_some_and(|e| e.contains_key(event))
    }

    /// Queues `frame` on every subscriber of the topic except connection
    /// `except` and those `accept` rejects; returns the deliveries made.
    pub fn publish(
        &self,
        stream: Stream,
        event: &str,
        frame: &Frame,
        except: Option<u64>,
        accept: &dyn Fn(&Subscriber) -> bool,
    ) -> usize {
        let topics = self.topics.read().unwrap_or_else(PoisonError::into_inner);
        let Some(subs) = topics.get(&stream).and_then(|e| e.get(event)) else {
            return 0;
        };
        let mut n = 0;
        for sub in subs.values() {
            if Some(sub.conn) == except || !accept(sub) || (self.lose)() {
                continue;
            }
            if sub.outbox.push(frame.clone()) {
                n += 1;
            }
        }
        self.deliveries.fetch_add(n as u64, Ordering::Relaxed);
        n
    }

    pub fn deliveries(&self) -> u64 {
        self.deliveries.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outbox_bounds_bytes_and_flags_overflow() {
        let ob = Outbox::new(200);
        assert!(ob.push(Frame::from("x".repeat(50))));
        assert!(!ob.push(Frame::from("y".repeat(100))));
        let mut out = Vec::new();
        assert!(!ob.drain_into(&mut out));
        assert!(out.is_empty());
    }

    #[test]
    fn publish_shares_one_frame_and_skips_sender() {
        let bus = Bus::new(Box::new(|| false));
        let a = Outbox::new(1 << 20);
        let b = Outbox::new(1 << 20);
        bus.subscribe(
            Stream::NotifyRoom,
            "r/typing",
            Subscriber {
                conn: 1,
                user: None,
                outbox: a.clone(),
            },
        );
        let kb = bus.subscribe(
            Stream::NotifyRoom,
            "r/typing",
            Subscriber {
                conn: 2,
                user: None,
                outbox: b.clone(),
            },
        );
        let f = Frame::from("frame");
        assert_eq!(
            bus.publish(Stream::NotifyRoom, "r/typing", &f, Some(1), &|_| true),
            1
        );
        let mut out = Vec::new();
        assert!(b.drain_into(&mut out));
        assert_eq!(out.len(), 1);
        assert!(std::ptr::eq(out[0].as_str().as_ptr(), f.as_str().as_ptr()));
        bus.unsubscribe(Stream::NotifyRoom, "r/typing", kb);
        assert_eq!(
            bus.publish(Stream::NotifyRoom, "r/typing", &f, Some(1), &|_| true),
            0
        );
        assert_eq!(bus.deliveries(), 1);
    }
}
