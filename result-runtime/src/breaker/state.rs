//! The state machine: one atomic word for admission, a short lock for everything else.
//!
//! The word packs the state (2 bits), a `DIRTY` bit (closed: the window holds a failure or a
//! slow call, or it is a time window), the probe places left in half-open (16 bits) and a
//! generation (the rest), bumped by every transition. A call keeps the word it was admitted
//! under (its ticket); when it finishes, a different generation means the breaker moved on
//! while it ran, and its outcome no longer counts towards the state.
//!
//! Cost, by path (the numbers are in `benches/breaker.rs`):
//! - closed, admission: one `Acquire` load. No clock read unless `slow_call` is set.
//! - closed, a success while the window is clean (no failure, no slow call in it): one
//!   relaxed load of the word and, until the window has filled once, a relaxed load and store
//!   of the call count. No read-modify-write, no lock, no shared cache line written once warm:
//!   while every call succeeds, the order of successes in the ring does not matter, so only
//!   their number is kept. The price: a success that races with the window's first failure
//!   may be counted without advancing the ring (the failure stays in it for one call more),
//!   and racing successes before the window first fills may undercount (delaying the first
//!   judgement, never hastening it).
//! - closed, anything else (a failure, a slow call, any call while the window is dirty, every
//!   call of a time window): the lock, held for a ring update and a comparison.
//! - open: one load of the word, one of the open deadline and a clock read; no lock, so
//!   rejecting under load does not serialise callers.
//! - half-open: a compare-and-swap on the word takes a probe place: exactly `k` admitted at
//!   once, whatever the interleaving (model-checked with loom below).

use std::borrow::Cow;
use std::time::Duration;

use tokio::time::Instant;

use super::builder::CircuitBreakerBuilder;
use super::classify::{default_verdict, Classifier, Verdict};
use super::metrics::Instruments;
use super::window::{Sample, SlidingWindow, Totals};
use super::State;
use crate::sync::{lock, AtomicU32, AtomicU64, Mutex, Ordering};
use crate::{Code, Result, TaskError};

const STATE_MASK: u64 = 0b11;
const CLOSED: u64 = 0;
const OPEN: u64 = 1;
const HALF_OPEN: u64 = 2;
const DIRTY: u64 = 1 << 2;
const PROBE_SHIFT: u32 = 3;
const PROBE_ONE: u64 = 1 << PROBE_SHIFT;
const PROBE_MASK: u64 = 0xFFFF << PROBE_SHIFT;
const GEN_ONE: u64 = 1 << 19;
const GEN_MASK: u64 = !(GEN_ONE - 1);

/// The most probes half-open can admit at once (the word's 16-bit field).
pub(crate) const MAX_PROBES: u32 = 0xFFFF;

const fn next_gen(w: u64) -> u64 {
    (w & GEN_MASK).wrapping_add(GEN_ONE)
}

/// What a call was admitted under.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ticket {
    word: u64,
    start: Option<Instant>,
}

impl Ticket {
    fn is_probe(self) -> bool {
        self.word & STATE_MASK == HALF_OPEN
    }
}

struct Machine {
    window: SlidingWindow,
    /// Consecutive failed half-open rounds: the open wait is `open_for * 2^reopenings`.
    reopenings: u32,
    probe_successes: u32,
}

/// A state change, reported after the lock is released.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Transition {
    from: State,
    to: State,
    wait: Option<Duration>,
}

pub(crate) struct Core {
    word: AtomicU64,
    /// Successes counted by the fast path while the window is clean (count windows only).
    warm: AtomicU32,
    warm_cap: u32,
    /// The end of the open wait, in nanoseconds since `origin`.
    open_until: AtomicU64,
    origin: Instant,
    machine: Mutex<Machine>,
    clean_closed: u64,
    pub(crate) name: Option<Cow<'static, str>>,
    failure_rate: f64,
    slow_call_rate: f64,
    slow_call: Option<Duration>,
    min_calls: u32,
    open_for: Duration,
    max_open_for: Duration,
    jitter: f64,
    probes: u32,
    classifier: Option<Classifier>,
    instruments: Instruments,
}

impl Core {
    pub(crate) fn new(b: CircuitBreakerBuilder) -> Self {
        let origin = Instant::now();
        let window = SlidingWindow::new(b.window, origin);
        let (warm_cap, clean_closed) = match &window {
            SlidingWindow::Count(c) => (c.capacity(), CLOSED),
            // A time window must count every success: it is never clean.
            SlidingWindow::Time(_) => (0, CLOSED | DIRTY),
        };
        let instruments = Instruments::new(b.name.as_deref());
        Self {
            word: AtomicU64::new(clean_closed),
            warm: AtomicU32::new(0),
            warm_cap,
            open_until: AtomicU64::new(0),
            origin,
            machine: Mutex::new(Machine { window, reopenings: 0, probe_successes: 0 }),
            clean_closed,
            max_open_for: b.resolved_max_open_for(),
            name: b.name,
            failure_rate: b.failure_rate,
            slow_call_rate: b.slow_call_rate,
            slow_call: b.slow_call,
            min_calls: b.min_calls,
            open_for: b.open_for,
            jitter: b.jitter,
            probes: b.half_open_calls,
            classifier: b.classifier,
            instruments,
        }
    }

    pub(crate) fn state(&self) -> State {
        match self.word.load(Ordering::Acquire) & STATE_MASK {
            CLOSED => State::Closed,
            OPEN => State::Open,
            _ => State::HalfOpen,
        }
    }

    fn since_origin(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.origin).as_nanos()).unwrap_or(u64::MAX)
    }

    #[inline]
    fn start(&self) -> Option<Instant> {
        self.slow_call.map(|_| Instant::now())
    }

    /// Admits a call, or refuses it with `CIRCUIT_OPEN`.
    #[inline]
    pub(crate) fn acquire(&self) -> Result<Ticket> {
        let w = self.word.load(Ordering::Acquire);
        if w & STATE_MASK == CLOSED {
            return Ok(Ticket { word: w, start: self.start() });
        }
        self.acquire_slow(w)
    }

    #[cold]
    fn acquire_slow(&self, mut w: u64) -> Result<Ticket> {
        loop {
            match w & STATE_MASK {
                CLOSED => return Ok(Ticket { word: w, start: self.start() }),
                HALF_OPEN => {
                    if w & PROBE_MASK == 0 {
                        // Every probe place is taken: come back once they have decided.
                        return Err(self.reject(self.open_for));
                    }
                    match self.word.compare_exchange_weak(
                        w,
                        w - PROBE_ONE,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    ) {
                        Ok(_) => return Ok(Ticket { word: w - PROBE_ONE, start: self.start() }),
                        Err(now) => w = now,
                    }
                }
                _ => {
                    let now = self.since_origin(Instant::now());
                    let until = self.open_until.load(Ordering::Acquire);
                    if now < until {
                        return Err(self.reject(Duration::from_nanos(until - now)));
                    }
                    w = self.half_open(w);
                }
            }
        }
    }

    /// Open → half-open, once, by whichever caller gets the lock first after the wait.
    fn half_open(&self, seen: u64) -> u64 {
        let m = lock(&self.machine);
        let w = self.word.load(Ordering::Acquire);
        if w != seen {
            return w;
        }
        let next = next_gen(w) | HALF_OPEN | (u64::from(self.probes) << PROBE_SHIFT);
        let mut m = m;
        m.probe_successes = 0;
        self.word.store(next, Ordering::Release);
        drop(m);
        self.report(Transition { from: State::Open, to: State::HalfOpen, wait: None });
        next
    }

    fn reject(&self, retry_after: Duration) -> TaskError {
        self.instruments.rejected();
        let message: Cow<'static, str> = match &self.name {
            Some(name) => format!("circuit breaker `{name}` is open").into(),
            None => Cow::Borrowed("circuit breaker is open"),
        };
        TaskError::new(Code::CIRCUIT_OPEN, message)
            .with_retry_after(retry_after)
            .or_trace_id(crate::trace::TraceContext::current_trace_id())
    }

    pub(crate) fn verdict<T>(&self, result: &Result<T>) -> Verdict {
        match result {
            Ok(_) => Verdict::Success,
            Err(e) => match &self.classifier {
                None => default_verdict(e),
                Some(f) => f(e),
            },
        }
    }

    /// Records how an admitted call ended.
    #[inline]
    pub(crate) fn complete(&self, t: Ticket, verdict: Verdict) {
        let slow = match (t.start, self.slow_call) {
            (Some(start), Some(limit)) => start.elapsed() >= limit,
            _ => false,
        };
        self.instruments.outcome(verdict, slow);
        let failure = match verdict {
            Verdict::Ignored => {
                if t.is_probe() {
                    self.release_probe(t);
                }
                return;
            }
            Verdict::Success => false,
            Verdict::Failure => true,
        };
        if t.is_probe() {
            self.record_probe(t, failure || slow);
        } else if !failure && !slow && self.count_clean(t.word) {
            // The fast path: see the module docs.
        } else {
            self.record_closed(t, Sample { failure, slow });
        }
    }

    /// Counts a success without the lock if the window is still clean under the same
    /// generation; false if the lock is needed.
    #[inline]
    fn count_clean(&self, admitted: u64) -> bool {
        let w = self.word.load(Ordering::Relaxed);
        if w != admitted || w & DIRTY != 0 {
            return false;
        }
        let n = self.warm.load(Ordering::Relaxed);
        if n < self.warm_cap {
            self.warm.store(n + 1, Ordering::Relaxed);
        }
        true
    }

    fn trips(&self, t: Totals) -> bool {
        if t.calls < self.min_calls {
            return false;
        }
        let calls = f64::from(t.calls);
        f64::from(t.failures) >= self.failure_rate * calls
            || (self.slow_call.is_some() && f64::from(t.slow) >= self.slow_call_rate * calls)
    }

    #[cold]
    fn record_closed(&self, t: Ticket, sample: Sample) {
        let mut m = lock(&self.machine);
        let w = self.word.load(Ordering::Acquire);
        if w & STATE_MASK != CLOSED || w & GEN_MASK != t.word & GEN_MASK {
            return; // admitted before the last transition: stale
        }
        let bad = sample.failure || sample.slow;
        if w & DIRTY == 0 {
            if !bad {
                // Admitted while dirty, finished after the window became clean.
                let n = self.warm.load(Ordering::Relaxed);
                if n < self.warm_cap {
                    self.warm.store(n + 1, Ordering::Relaxed);
                }
                return;
            }
            if let SlidingWindow::Count(c) = &mut m.window {
                c.reset_to_successes(self.warm.load(Ordering::Relaxed));
            }
            self.word.store(w | DIRTY, Ordering::Release);
        }
        let now = Instant::now();
        let totals = m.window.record(sample, now);
        if self.trips(totals) {
            m.reopenings = 0;
            let tr = self.open(&mut m, w, now, State::Closed);
            drop(m);
            self.report(tr);
        } else if !totals.bad() && self.clean_closed & DIRTY == 0 {
            // Clean again: hand the counting back to the fast path.
            self.warm.store(totals.calls, Ordering::Relaxed);
            self.word.store(w & !DIRTY, Ordering::Release);
        }
    }

    #[cold]
    fn record_probe(&self, t: Ticket, bad: bool) {
        let mut m = lock(&self.machine);
        let w = self.word.load(Ordering::Acquire);
        if w & GEN_MASK != t.word & GEN_MASK {
            return;
        }
        let tr = if bad {
            m.reopenings = m.reopenings.saturating_add(1);
            self.open(&mut m, w, Instant::now(), State::HalfOpen)
        } else {
            m.probe_successes += 1;
            if m.probe_successes < self.probes {
                return;
            }
            m.window.clear();
            m.reopenings = 0;
            self.warm.store(0, Ordering::Relaxed);
            self.word.store(next_gen(w) | self.clean_closed, Ordering::Release);
            Transition { from: State::HalfOpen, to: State::Closed, wait: None }
        };
        drop(m);
        self.report(tr);
    }

    /// A probe that was cancelled gives its place back to the same round.
    fn release_probe(&self, t: Ticket) {
        let mut w = self.word.load(Ordering::Acquire);
        while w & STATE_MASK == HALF_OPEN && w & GEN_MASK == t.word & GEN_MASK {
            match self.word.compare_exchange_weak(
                w,
                w + PROBE_ONE,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(now) => w = now,
            }
        }
    }

    /// The wait for the `reopenings`-th consecutive opening, with jitter.
    pub(crate) fn wait(&self, reopenings: u32) -> Duration {
        let factor = 1_u32.checked_shl(reopenings).unwrap_or(u32::MAX);
        let w =
            self.open_for.checked_mul(factor).unwrap_or(self.max_open_for).min(self.max_open_for);
        if self.jitter > 0.0 {
            w.mul_f64(1.0 - self.jitter * fastrand::f64())
        } else {
            w
        }
    }

    fn open(&self, m: &mut Machine, w: u64, now: Instant, from: State) -> Transition {
        let wait = self.wait(m.reopenings);
        let until = self
            .since_origin(now)
            .saturating_add(u64::try_from(wait.as_nanos()).unwrap_or(u64::MAX));
        self.open_until.store(until, Ordering::Release);
        self.word.store(next_gen(w) | OPEN, Ordering::Release);
        m.window.clear();
        Transition { from, to: State::Open, wait: Some(wait) }
    }

    fn report(&self, t: Transition) {
        self.instruments.state(t.to);
        let name = self.name.as_deref().unwrap_or("unnamed");
        match t.wait {
            Some(wait) => tracing::warn!(
                breaker = name,
                from = t.from.as_str(),
                to = t.to.as_str(),
                open_for_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                "circuit breaker opened"
            ),
            None => tracing::warn!(
                breaker = name,
                from = t.from.as_str(),
                to = t.to.as_str(),
                "circuit breaker state changed"
            ),
        }
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::breaker::CircuitBreaker;
    use loom::thread;
    use std::sync::Arc;

    /// Half-open admits exactly `k` probes at once, whatever the interleaving, and a
    /// cancelled probe's place goes to exactly one other caller.
    #[test]
    fn loom_half_open_admits_exactly_k() {
        loom::model(|| {
            let b = CircuitBreaker::builder()
                .min_calls(1)
                .window(crate::breaker::Window::Count(1))
                .half_open_calls(2)
                .jitter(0.0)
                .open_for(Duration::from_nanos(1))
                .build()
                .unwrap();
            // Trip it, then let the (1 ns) wait pass.
            b.0.complete(b.0.acquire().unwrap(), Verdict::Failure);
            std::thread::sleep(Duration::from_micros(1));
            let b = Arc::new(b);
            let threads: Vec<_> = (0..3)
                .map(|i| {
                    let b = b.clone();
                    thread::spawn(move || match b.0.acquire() {
                        Ok(t) if i == 0 => {
                            // This probe is cancelled: its place is freed.
                            b.0.complete(t, Verdict::Ignored);
                            (1, 0)
                        }
                        Ok(_) => (1, 1),
                        Err(_) => (0, 0),
                    })
                })
                .collect();
            let (mut admitted, mut held) = (0, 0);
            for t in threads {
                let (a, h) = t.join().unwrap();
                admitted += a;
                held += h;
            }
            // Three callers, two places: two admitted, or all three when the cancelled one
            // freed its place before the last came.
            assert!((2..=3).contains(&admitted), "{admitted}");
            let w = b.0.word.load(Ordering::SeqCst);
            assert_eq!(w & STATE_MASK, HALF_OPEN);
            // Places held plus places left is always k.
            assert_eq!(held + ((w & PROBE_MASK) >> PROBE_SHIFT), 2);
        });
    }
}
