//! [`Reset`]: how a pooled object is made clean for its next user.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::BuildHasher;
use std::mem::size_of;

use bytes::BytesMut;

/// An object a [`Pool`](super::Pool) can reuse: it can be emptied in place, and it can say
/// how much memory it keeps for the next user.
///
/// ```
/// use result_runtime::pool::{Pool, Reset};
///
/// #[derive(Default)]
/// struct Scratch {
///     lines: Vec<String>,
///     total: usize,
/// }
///
/// impl Reset for Scratch {
///     fn reset(&mut self) {
///         self.lines.clear();
///         self.total = 0;
///     }
///     fn retained_bytes(&self) -> usize {
///         self.lines.retained_bytes()
///     }
/// }
///
/// let pool = Pool::new(8, Scratch::default);
/// pool.get().total = 3;
/// assert_eq!(pool.get().total, 0); // reset on return
/// ```
pub trait Reset {
    /// Empties the object, keeping what makes reuse worthwhile (its allocation). Called
    /// every time an object goes back to the pool, before anyone can see it again.
    fn reset(&mut self);

    /// Bytes of memory the object keeps after [`reset`](Self::reset) (its capacity). An
    /// object over the pool's [`max_retained_bytes`](super::PoolBuilder::max_retained_bytes)
    /// is dropped instead of pooled, so one huge request does not pin a huge buffer forever.
    /// The default, 0, means "fixed size": never over the cap.
    fn retained_bytes(&self) -> usize {
        0
    }
}

impl<T> Reset for Vec<T> {
    fn reset(&mut self) {
        self.clear();
    }

    fn retained_bytes(&self) -> usize {
        self.capacity().saturating_mul(size_of::<T>())
    }
}

impl Reset for String {
    fn reset(&mut self) {
        self.clear();
    }

    fn retained_bytes(&self) -> usize {
        self.capacity()
    }
}

impl<T> Reset for VecDeque<T> {
    fn reset(&mut self) {
        self.clear();
    }

    fn retained_bytes(&self) -> usize {
        self.capacity().saturating_mul(size_of::<T>())
    }
}

impl<K, V, S: BuildHasher> Reset for HashMap<K, V, S> {
    fn reset(&mut self) {
        self.clear();
    }

    fn retained_bytes(&self) -> usize {
        // One control byte per bucket beside each entry (hashbrown's layout).
        self.capacity().saturating_mul(size_of::<(K, V)>() + 1)
    }
}

impl<T, S: BuildHasher> Reset for HashSet<T, S> {
    fn reset(&mut self) {
        self.clear();
    }

    fn retained_bytes(&self) -> usize {
        self.capacity().saturating_mul(size_of::<T>() + 1)
    }
}

impl Reset for BytesMut {
    fn reset(&mut self) {
        self.clear();
    }

    fn retained_bytes(&self) -> usize {
        self.capacity()
    }
}

impl<T: Reset + ?Sized> Reset for Box<T> {
    fn reset(&mut self) {
        (**self).reset();
    }

    fn retained_bytes(&self) -> usize {
        (**self).retained_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check<T: Reset>(mut v: T, is_empty: impl Fn(&T) -> bool, min_bytes: usize) {
        assert!(!is_empty(&v));
        v.reset();
        assert!(is_empty(&v));
        assert!(v.retained_bytes() >= min_bytes, "{} < {min_bytes}", v.retained_bytes());
    }

    #[test]
    fn std_and_bytes_types_are_emptied_and_keep_their_capacity() {
        let mut vec = Vec::<u32>::with_capacity(100);
        vec.push(1);
        check(vec, Vec::is_empty, 400);
        let mut s = String::with_capacity(64);
        s.push('x');
        check(s, String::is_empty, 64);
        let mut dq = VecDeque::<u64>::with_capacity(10);
        dq.push_back(1);
        check(dq, VecDeque::is_empty, 80);
        let mut map = HashMap::<u64, u64>::with_capacity(10);
        map.insert(1, 2);
        check(map, HashMap::is_empty, 160);
        let mut set = HashSet::<u8>::with_capacity(10);
        set.insert(1);
        check(set, HashSet::is_empty, 10);
        let mut b = BytesMut::with_capacity(4096);
        b.extend_from_slice(b"abc");
        check(b, BytesMut::is_empty, 4096);
        let mut boxed: Box<Vec<u8>> = Box::new(vec![1, 2, 3]);
        boxed.reset();
        assert!(boxed.is_empty());
    }
}
