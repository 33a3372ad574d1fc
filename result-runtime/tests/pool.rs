//! Pool behaviour: reset always applied, capacity bound, retained-capacity cap, panicking
//! holders, statistics across threads.

use std::collections::{HashMap, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Barrier;

use bytes::BytesMut;
use result_runtime::pool::{Pool, Pooled, Reset, DEFAULT_MAX_RETAINED_BYTES};

#[test]
fn reset_is_always_applied_no_previous_contents_leak() {
    let pool = Pool::new(4, || Vec::<u8>::with_capacity(64));
    for round in 0..50u8 {
        // Hold several at once so objects move through the slot and the shared queue.
        let mut held: Vec<_> = (0..3).map(|_| pool.get()).collect();
        for buf in &mut held {
            assert!(buf.is_empty(), "round {round}: saw {:?}", &buf[..]);
            buf.extend_from_slice(&[round; 16]);
        }
    }
    let stats = pool.stats();
    assert!(stats.hits > 0 && stats.returned > 0, "{stats:?}");
}

#[test]
fn reset_applies_to_every_provided_type() {
    let strings = Pool::new(2, String::new);
    strings.get().push_str("secret");
    assert_eq!(strings.get().as_str(), "");

    let deques = Pool::new(2, VecDeque::<u32>::new);
    deques.get().push_back(1);
    assert!(deques.get().is_empty());

    let maps = Pool::new(2, HashMap::<String, u32>::new);
    maps.get().insert("k".into(), 1);
    assert!(maps.get().is_empty());

    let bytes = Pool::new(2, || BytesMut::with_capacity(1024));
    bytes.get().extend_from_slice(b"secret");
    let b = bytes.get();
    assert!(b.is_empty());
    assert!(b.capacity() >= 1024);
    drop(b);
    assert_eq!(bytes.stats().misses, 1, "the buffer was reused, not reallocated");
}

#[test]
fn reset_is_applied_across_threads() {
    let pool = Pool::new(8, || Vec::<u64>::with_capacity(32));
    let barrier = Barrier::new(2);
    std::thread::scope(|s| {
        for t in 0..2u64 {
            let (pool, barrier) = (&pool, &barrier);
            s.spawn(move || {
                barrier.wait();
                for i in 0..2_000 {
                    let mut a = pool.get();
                    let mut b = pool.get();
                    assert!(a.is_empty() && b.is_empty());
                    a.push(t * 10_000 + i);
                    b.push(i);
                }
            });
        }
    });
    let stats = pool.stats();
    assert_eq!(stats.hits + stats.misses, 8_000);
    assert_eq!(stats.returned + stats.discarded, 8_000);
}

#[test]
fn capacity_bounds_the_shared_queue_plus_one_slot_per_thread() {
    let pool = Pool::new(4, Vec::<u8>::new);
    let held: Vec<_> = (0..10).map(|_| pool.get()).collect();
    assert_eq!(pool.stats().misses, 10);
    drop(held);
    let stats = pool.stats();
    // One in this thread's slot, four in the shared queue, the rest dropped.
    assert_eq!(stats.returned, 5, "{stats:?}");
    assert_eq!(stats.discarded, 5, "{stats:?}");
    assert_eq!(pool.shared_len(), 4);
    assert_eq!(pool.capacity(), 4);
}

#[test]
fn zero_capacity_is_refused_by_the_builder() {
    let e = Pool::builder().capacity(0).build(Vec::<u8>::new).unwrap_err();
    assert_eq!(e.setting(), "capacity");
    assert_eq!(e.to_string(), "invalid setting `capacity`: must be greater than zero, got 0");
    // The smallest pool there is keeps one object per thread plus one shared.
    let pool = Pool::builder().capacity(1).build(Vec::<u8>::new).unwrap();
    assert_eq!(pool.capacity(), 1);
}

#[test]
#[should_panic(expected = "invalid setting `capacity`: must be greater than zero, got 0")]
fn new_with_zero_capacity_panics_with_the_config_error() {
    let _ = Pool::new(0, Vec::<u8>::new);
}

#[test]
fn objects_grown_past_the_retained_cap_are_dropped_not_pooled() {
    let pool = Pool::builder()
        .capacity(4)
        .max_retained_bytes(1024)
        .build(|| Vec::<u8>::with_capacity(512))
        .expect("valid pool settings");
    {
        let mut big = pool.get();
        big.resize(10_000, 7); // grows far past the cap
    }
    let stats = pool.stats();
    assert_eq!((stats.returned, stats.discarded), (0, 1), "{stats:?}");
    let fresh = pool.get();
    assert!(fresh.capacity() < 1024, "the big buffer was not kept");
    assert_eq!(pool.stats().misses, 2);
    drop(fresh);
    assert_eq!(pool.stats().returned, 1, "a buffer within the cap is pooled");

    // The default cap is 64 KiB.
    let default = Pool::new(4, || Vec::<u8>::with_capacity(DEFAULT_MAX_RETAINED_BYTES + 1));
    drop(default.get());
    assert_eq!(default.stats().discarded, 1);
}

#[test]
fn a_panicking_holder_does_not_poison_the_pool() {
    let pool = Pool::new(4, || Vec::<u8>::with_capacity(16));
    let r = catch_unwind(AssertUnwindSafe(|| {
        let mut buf = pool.get();
        buf.extend_from_slice(b"half-written");
        panic!("holder fails mid-update");
    }));
    assert!(r.is_err());
    assert_eq!(pool.stats().discarded, 1, "the object held across the panic is dropped");

    // In another thread too; the pool keeps working everywhere.
    std::thread::scope(|s| {
        let h = s.spawn(|| {
            let mut buf = pool.get();
            buf.push(1);
            panic!("thread dies holding an object");
        });
        assert!(h.join().is_err());
    });
    let mut buf = pool.get();
    assert!(buf.is_empty());
    buf.push(2);
    drop(buf);
    assert!(pool.get().is_empty());
    let stats = pool.stats();
    assert_eq!(stats.discarded, 2, "{stats:?}");
    assert_eq!(stats.returned, 2, "{stats:?}");
}

/// A type whose `reset` panics on demand.
struct Fragile {
    explode: bool,
}

impl Reset for Fragile {
    fn reset(&mut self) {
        assert!(!self.explode, "reset failed");
    }
}

#[test]
fn a_panicking_reset_loses_that_object_only() {
    let pool = Pool::new(2, || Fragile { explode: false });
    let r = catch_unwind(AssertUnwindSafe(|| {
        pool.get().explode = true;
    }));
    assert!(r.is_err());
    let ok = pool.get();
    assert!(!ok.explode);
    drop(ok);
    assert!(!pool.get().explode);
}

#[test]
fn an_exiting_thread_hands_its_object_and_counts_to_the_pool() {
    let pool = Pool::new(4, Vec::<u8>::new);
    let handle = pool.clone();
    // `join` (not a scope) waits until the thread's thread-locals are destroyed.
    std::thread::spawn(move || drop(handle.get())).join().unwrap();
    // The thread's slot went back to the shared queue when it exited.
    assert_eq!(pool.shared_len(), 1);
    let stats = pool.stats();
    assert_eq!((stats.misses, stats.returned), (1, 1));
    drop(pool.get());
    assert_eq!(pool.stats().hits, 1);
}

#[test]
fn detach_takes_the_object_out_for_good() {
    let pool = Pool::new(4, || vec![1u8, 2, 3]);
    let v = Pooled::detach(pool.get());
    assert_eq!(v, [1, 2, 3]);
    let stats = pool.stats();
    assert_eq!((stats.returned, stats.discarded), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owned_guards_move_into_tasks() {
    let pool = Pool::new(8, String::new);
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let mut s = pool.get_owned();
            tokio::spawn(async move {
                assert!(s.is_empty());
                s.push_str(&i.to_string());
                s.len()
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 1);
    }
    assert!(pool.get_owned().is_empty());
    let stats = pool.stats();
    // A task may finish and hand its string back before the next get: how the nine gets
    // split into hits and misses depends on scheduling, what comes back does not.
    assert_eq!(stats.misses + stats.hits, 9);
    assert!(stats.misses >= 1 && stats.hits >= 1, "{stats:?}");
    assert_eq!((stats.returned, stats.discarded), (9, 0));
}

/// An object whose drop uses the same pool: the pool must not re-enter its thread slot.
struct Nested {
    pool: Option<Pool<Nested>>,
}

impl Reset for Nested {
    fn reset(&mut self) {
        if let Some(pool) = &self.pool {
            let mut inner = pool.get();
            inner.pool = None;
        }
    }
}

#[test]
fn reset_and_drop_may_use_the_pool_again() {
    static MADE: AtomicUsize = AtomicUsize::new(0);
    let pool: Pool<Nested> = Pool::new(1, || {
        MADE.fetch_add(1, Ordering::Relaxed);
        Nested { pool: None }
    });
    let outer_pool = Pool::new(2, {
        let pool = pool.clone();
        move || Nested { pool: Some(pool.clone()) }
    });
    drop(outer_pool.get());
    drop(outer_pool.get());
    // Each outer reset took an inner object and gave it back: one was made, then reused.
    assert_eq!(MADE.load(Ordering::Relaxed), 1);
    assert_eq!(pool.stats().hits, 1);
    assert_eq!(outer_pool.stats().hits, 1);
}
