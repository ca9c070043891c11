//! End-to-end message delivery: latency, loss and duplicates, counted exactly.
//!
//! A message's expected receivers are the VUs subscribed to its room when
//! it is sent ([`MessageTracker::sending`]). Each receipt of a tracked
//! message by an expected receiver records `message.e2e` once; a repeat
//! counts `message.duplicate`. Receivers that leave the room (unsubscribe,
//! disconnect) before their copy arrives are released: their copy is no
//! longer owed. After the loss timeout, [`MessageTracker::sweep`] counts
//! every copy still owed as `message.lost` and frees the entry.
//!
//! Receipts of messages the tracker does not know (sent by another process,
//! or before the receiver subscribed, or already swept) record latency only:
//! they are never counted as lost or duplicate.
//!
//! Memory: a room's subscriber list is one shared sorted `Arc<[u32]>`; a
//! message holds a pointer to the list as it was at send time plus two
//! bitsets (a 5,000-receiver message costs about 1.3 KB). A fully delivered
//! message keeps that small entry until its loss timeout so that late
//! duplicates are still recognised; `pending()` counts only messages with
//! copies still owed.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use super::names;
use super::registry::{MetricId, Metrics, Sample};

/// Independent locks per map; a power of two.
const SHARDS: usize = 64;

/// Tracks every message in flight; cheap to clone (shared state).
#[derive(Clone)]
pub struct MessageTracker {
    inner: Arc<Inner>,
}

struct Inner {
    metrics: Metrics,
    e2e: MetricId,
    lost: MetricId,
    duplicate: MetricId,
    cross_shard: MetricId,
    loss_timeout_us: u64,
    /// Room id -> current subscribers, sharded by room.
    rooms: Vec<Mutex<RoomMap>>,
    /// VU -> rooms it is subscribed to, sharded by VU.
    vu_rooms: Vec<Mutex<HashMap<u32, Vec<Arc<str>>>>>,
    /// (sender, seq) -> message in flight, sharded by message.
    messages: Vec<RwLock<HashMap<(u32, u64), Message>>>,
    /// Messages with copies still owed.
    pending: AtomicUsize,
}

/// Room id -> its sorted subscriber list (replaced, never mutated in place,
/// so messages can share it).
type RoomMap = HashMap<Arc<str>, Arc<[u32]>>;

struct Message {
    room: Arc<str>,
    /// Sorted expected receivers (shared with the room list of send time).
    expected: Arc<[u32]>,
    /// Bit i: expected[i] received it at least once.
    got: Box<[AtomicU64]>,
    /// Bit i: expected[i] is settled (received, or released by leaving).
    settled: Box<[AtomicU64]>,
    /// Expected receivers not settled yet.
    owed: AtomicU32,
    deadline_us: u64,
}

/// Sets bit `i`; true when it was already set.
fn test_and_set(bits: &[AtomicU64], i: usize) -> bool {
    let mask = 1u64 << (i % 64);
    bits[i / 64].fetch_or(mask, Ordering::AcqRel) & mask != 0
}

fn bitset(n: usize) -> Box<[AtomicU64]> {
    (0..n.div_ceil(64)).map(|_| AtomicU64::new(0)).collect()
}

fn shard_of<K: Hash + ?Sized>(key: &K) -> usize {
    let mut h = DefaultHasher::new();
    key.hash(&mut h);
    (h.finish() as usize) & (SHARDS - 1)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
fn read<T>(m: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(PoisonError::into_inner)
}
fn write<T>(m: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(PoisonError::into_inner)
}

impl Message {
    /// Settles receiver index `i`; true when this made the message complete.
    fn settle(&self, i: usize) -> bool {
        !test_and_set(&self.settled, i) && self.owed.fetch_sub(1, Ordering::AcqRel) == 1
    }
}

impl MessageTracker {
    /// A tracker recording into `metrics`; copies not delivered within
    /// `loss_timeout` of their send time count as lost.
    pub fn new(metrics: &Metrics, loss_timeout: Duration) -> MessageTracker {
        MessageTracker {
            inner: Arc::new(Inner {
                e2e: metrics.id(names::MESSAGE_E2E),
                lost: metrics.id(names::MESSAGE_LOST),
                duplicate: metrics.id(names::MESSAGE_DUPLICATE),
                cross_shard: metrics.id(names::MESSAGE_CROSS_SHARD),
                metrics: metrics.clone(),
                loss_timeout_us: u64::try_from(loss_timeout.as_micros()).unwrap_or(u64::MAX),
                rooms: (0..SHARDS).map(|_| Mutex::default()).collect(),
                vu_rooms: (0..SHARDS).map(|_| Mutex::default()).collect(),
                messages: (0..SHARDS).map(|_| RwLock::default()).collect(),
                pending: AtomicUsize::new(0),
            }),
        }
    }

    /// `vu` now receives the room's messages (call after the subscription
    /// is ready). Subscribing twice is harmless.
    pub fn subscribed(&self, vu: u32, room_id: &str) {
        // Lock order everywhere: the VU's room list, then a room, then
        // messages. Holding the VU's list keeps it and the rooms in step
        // when a disconnect races a subscription.
        let mut vu_rooms = lock(&self.inner.vu_rooms[shard_of(&vu)]);
        let room: Arc<str> = {
            let mut rooms = lock(&self.inner.rooms[shard_of(room_id)]);
            let (name, subs) = match rooms.get_key_value(room_id) {
                Some((name, subs)) => (name.clone(), subs.clone()),
                None => (Arc::from(room_id), Arc::from(Vec::new())),
            };
            if let Err(at) = subs.binary_search(&vu) {
                let mut next = Vec::with_capacity(subs.len() + 1);
                next.extend_from_slice(&subs[..at]);
                next.push(vu);
                next.extend_from_slice(&subs[at..]);
                rooms.insert(name.clone(), next.into());
            }
            name
        };
        let mine = vu_rooms.entry(vu).or_default();
        if !mine.contains(&room) {
            mine.push(room);
        }
    }

    /// `vu` left the room: it is no longer owed the room's messages in flight.
    pub fn unsubscribed(&self, vu: u32, room_id: &str) {
        let left = {
            let mut vu_rooms = lock(&self.inner.vu_rooms[shard_of(&vu)]);
            if let Some(rooms) = vu_rooms.get_mut(&vu) {
                rooms.retain(|r| &**r != room_id);
                if rooms.is_empty() {
                    vu_rooms.remove(&vu);
                }
            }
            self.leave(vu, room_id)
        };
        if left {
            self.release(vu, &[Arc::from(room_id)]);
        }
    }

    /// `vu`'s connection is gone: it leaves every room.
    pub fn disconnected(&self, vu: u32) {
        let rooms = {
            let mut vu_rooms = lock(&self.inner.vu_rooms[shard_of(&vu)]);
            let rooms = vu_rooms.remove(&vu).unwrap_or_default();
            for room in &rooms {
                self.leave(vu, room);
            }
            rooms
        };
        if !rooms.is_empty() {
            self.release(vu, &rooms);
        }
    }

    /// Registers a message about to be sent (call BEFORE the send): its
    /// expected receivers are the room's subscribers now.
    pub fn sending(&self, sender: u32, seq: u64, room_id: &str, sent_unix_us: u64) {
        // The room lock is held while inserting, so a concurrent
        // unsubscribe either precedes this (not expected) or sees the
        // message when it releases (expected, then released).
        let rooms = lock(&self.inner.rooms[shard_of(room_id)]);
        let Some((room, expected)) = rooms.get_key_value(room_id) else {
            return;
        };
        let n = expected.len();
        let message = Message {
            room: room.clone(),
            expected: expected.clone(),
            got: bitset(n),
            settled: bitset(n),
            owed: AtomicU32::new(u32::try_from(n).unwrap_or(u32::MAX)),
            deadline_us: sent_unix_us.saturating_add(self.inner.loss_timeout_us),
        };
        let key = (sender, seq);
        let replaced = write(&self.inner.messages[shard_of(&key)]).insert(key, message);
        drop(rooms);
        // A reused (sender, seq) replaces the old entry without counting it.
        if replaced.is_none_or(|m| m.owed.load(Ordering::Acquire) == 0) {
            self.inner.pending.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// The send failed: nobody is owed the message.
    pub fn send_failed(&self, sender: u32, seq: u64) {
        let key = (sender, seq);
        let removed = write(&self.inner.messages[shard_of(&key)]).remove(&key);
        if removed.is_some_and(|m| m.owed.load(Ordering::Acquire) > 0) {
            self.inner.pending.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// `receiver` got message (`sender`, `seq`) sent at `sent_unix_us`.
    /// Records `message.e2e` (now - sent) on the first receipt; a repeat
    /// counts `message.duplicate` instead.
    pub fn received(
        &self,
        receiver: u32,
        sender: u32,
        seq: u64,
        sent_unix_us: u64,
        now_unix_us: u64,
    ) {
        let key = (sender, seq);
        let duplicate = {
            let messages = read(&self.inner.messages[shard_of(&key)]);
            match messages.get(&key) {
                Some(m) => match m.expected.binary_search(&receiver) {
                    Ok(i) => {
                        if test_and_set(&m.got, i) {
                            true
                        } else {
                            if m.settle(i) {
                                self.inner.pending.fetch_sub(1, Ordering::AcqRel);
                            }
                            false
                        }
                    }
                    // Subscribed after the send: untracked.
                    Err(_) => false,
                },
                None => false,
            }
        };
        if duplicate {
            self.inner.metrics.add(self.inner.duplicate, 1);
        } else {
            let us = now_unix_us.saturating_sub(sent_unix_us);
            self.inner
                .metrics
                .record(self.inner.e2e, Sample::ok(Duration::from_micros(us)));
        }
    }

    /// Counts one receipt of a message another shard sent (its latency
    /// goes to [`MessageTracker::received`] as any other).
    pub fn cross_shard(&self) {
        self.inner.metrics.add(self.inner.cross_shard, 1);
    }

    /// Counts copies still owed past their loss timeout as `message.lost`
    /// and forgets those messages (delivered ones too, once timed out).
    pub fn sweep(&self, now_unix_us: u64) {
        let mut lost = 0u64;
        let mut completed_now = 0usize;
        for shard in &self.inner.messages {
            let mut messages = write(shard);
            messages.retain(|_, m| {
                if m.deadline_us > now_unix_us {
                    return true;
                }
                let owed = m.owed.load(Ordering::Acquire);
                if owed > 0 {
                    lost += u64::from(owed);
                    completed_now += 1;
                }
                false
            });
        }
        if completed_now > 0 {
            self.inner
                .pending
                .fetch_sub(completed_now, Ordering::AcqRel);
        }
        if lost > 0 {
            self.inner.metrics.add(self.inner.lost, lost);
        }
    }

    /// Messages with copies still owed.
    pub fn pending(&self) -> usize {
        self.inner.pending.load(Ordering::Acquire)
    }

    /// Entries held (pending plus delivered ones kept for duplicate
    /// detection until their timeout).
    pub fn tracked(&self) -> usize {
        self.inner.messages.iter().map(|s| read(s).len()).sum()
    }

    /// Removes `vu` from the room's subscriber list; true when it was in it.
    fn leave(&self, vu: u32, room_id: &str) -> bool {
        let mut rooms = lock(&self.inner.rooms[shard_of(room_id)]);
        let Some(subs) = rooms.get_mut(room_id) else {
            return false;
        };
        let Ok(at) = subs.binary_search(&vu) else {
            return false;
        };
        if subs.len() == 1 {
            rooms.remove(room_id);
        } else {
            let mut next = subs.to_vec();
            next.remove(at);
            *subs = next.into();
        }
        true
    }

    /// `vu` is no longer owed the messages in flight in `rooms`.
    fn release(&self, vu: u32, rooms: &[Arc<str>]) {
        let mut completed = 0;
        for shard in &self.inner.messages {
            let messages = read(shard);
            for m in messages.values() {
                if m.owed.load(Ordering::Acquire) == 0 || !rooms.contains(&m.room) {
                    continue;
                }
                if let Ok(i) = m.expected.binary_search(&vu)
                    && m.settle(i)
                {
                    completed += 1;
                }
            }
        }
        if completed > 0 {
            self.inner.pending.fetch_sub(completed, Ordering::AcqRel);
        }
    }
}
