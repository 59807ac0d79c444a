//! Isolate admission: one memory budget shared by every request in flight.
//!
//! A Worker isolate's 128 MB are shared by the requests it serves at once,
//! and Wasm memory never shrinks, so planning each request alone is not
//! enough: six requests that each fit can together take the isolate down.
//! Each request reserves what it will hold — its source buffer before reading
//! it, its working memory before transforming — and waits, first come first
//! served, while the budget is taken. The queue is bounded; the caller bounds
//! the wait and answers 503 with `Retry-After` when it runs out.
//!
//! Single-threaded, as a Worker isolate is: the state lives in an `Rc`.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use crate::error::Error;

/// Most requests that may wait for memory at once; more get 503 at once.
pub const MAX_WAITING: usize = 64;

/// A budget of bytes, shared by clones.
#[derive(Clone, Debug)]
pub struct Admission(Rc<RefCell<State>>);

#[derive(Debug)]
struct State {
    budget: u64,
    reserved: u64,
    next_ticket: u64,
    /// Waiting requests in arrival order: ticket, bytes, waker.
    queue: VecDeque<(u64, u64, Option<Waker>)>,
}

impl Admission {
    /// A budget of `budget` bytes.
    pub fn new(budget: u64) -> Admission {
        Admission(Rc::new(RefCell::new(State { budget, reserved: 0, next_ticket: 0, queue: VecDeque::new() })))
    }

    /// Bytes reserved now.
    pub fn reserved(&self) -> u64 {
        self.0.borrow().reserved
    }

    /// Requests waiting now.
    pub fn waiting(&self) -> usize {
        self.0.borrow().queue.len()
    }

    /// Waits until `bytes` fit the budget behind every earlier request, then
    /// holds them until the [`Reservation`] drops. Fails at once with 413
    /// when `bytes` exceed the whole budget, and with 503 when
    /// [`MAX_WAITING`] requests are already waiting.
    pub fn reserve(&self, bytes: u64, what: &str) -> Result<Waiting, Error> {
        let mut state = self.0.borrow_mut();
        if bytes > state.budget {
            return Err(Error::TooLarge(format!(
                "{what} needs {} MiB, more than the isolate's whole memory budget of {} MiB (MEMORY_BUDGET_MIB)",
                bytes.div_ceil(1 << 20),
                state.budget >> 20
            )));
        }
        if state.queue.len() >= MAX_WAITING {
            return Err(Error::Overloaded(format!(
                "{MAX_WAITING} requests are already waiting for memory; retry shortly"
            )));
        }
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        state.queue.push_back((ticket, bytes, None));
        Ok(Waiting { admission: self.clone(), ticket, bytes, done: false })
    }
}

impl State {
    /// Wakes the first waiting request when it now fits.
    fn wake_head(&mut self) {
        if let Some((_, bytes, waker)) = self.queue.front_mut() {
            if self.reserved + *bytes <= self.budget {
                if let Some(waker) = waker.take() {
                    waker.wake();
                }
            }
        }
    }
}

/// A request's place in the queue; resolves to its [`Reservation`].
/// Dropping it (a timeout) leaves the queue.
#[derive(Debug)]
pub struct Waiting {
    admission: Admission,
    ticket: u64,
    bytes: u64,
    done: bool,
}

impl Waiting {
    /// The reservation, when this request is first in line and fits now.
    /// Callers that must not be woken from another request's context (a
    /// Worker's I/O belongs to the request that started it) poll this on
    /// their own timer instead of awaiting the future.
    pub fn try_take(&mut self) -> Option<Reservation> {
        let mut state = self.admission.0.borrow_mut();
        let at_head = state.queue.front().is_some_and(|(ticket, _, _)| *ticket == self.ticket);
        if !(at_head && state.reserved + self.bytes <= state.budget) {
            return None;
        }
        state.queue.pop_front();
        state.reserved += self.bytes;
        // The next one may fit as well.
        state.wake_head();
        drop(state);
        self.done = true;
        Some(Reservation { admission: self.admission.clone(), bytes: self.bytes })
    }
}

impl Future for Waiting {
    type Output = Reservation;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Reservation> {
        if let Some(reservation) = self.try_take() {
            return Poll::Ready(reservation);
        }
        let ticket = self.ticket;
        let mut state = self.admission.0.borrow_mut();
        if let Some(entry) = state.queue.iter_mut().find(|(t, _, _)| *t == ticket) {
            entry.2 = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut state = self.admission.0.borrow_mut();
        state.queue.retain(|(ticket, _, _)| *ticket != self.ticket);
        state.wake_head();
    }
}

/// Bytes held from the budget until dropped.
#[derive(Debug)]
pub struct Reservation {
    admission: Admission,
    bytes: u64,
}

impl Reservation {
    /// The bytes held.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut state = self.admission.0.borrow_mut();
        state.reserved -= self.bytes;
        state.wake_head();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    /// Counts its wake-ups.
    struct Counter(AtomicUsize);
    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn poll(waiting: &mut Waiting, counter: &Arc<Counter>) -> Option<Reservation> {
        let waker = Waker::from(counter.clone());
        match Pin::new(waiting).poll(&mut Context::from_waker(&waker)) {
            Poll::Ready(r) => Some(r),
            Poll::Pending => None,
        }
    }

    #[test]
    fn requests_wait_in_order_until_memory_is_given_back() {
        let admission = Admission::new(100);
        let counter = Arc::new(Counter(AtomicUsize::new(0)));
        let first = poll(&mut admission.reserve(60, "a").unwrap(), &counter).expect("fits at once");
        let mut second = admission.reserve(50, "b").unwrap();
        let mut third = admission.reserve(10, "c").unwrap();
        assert!(poll(&mut second, &counter).is_none(), "60 + 50 > 100");
        assert!(poll(&mut third, &counter).is_none(), "fits, but may not overtake the second");
        assert_eq!((admission.reserved(), admission.waiting()), (60, 2));
        drop(first);
        assert!(counter.0.load(Ordering::SeqCst) >= 1, "the head was woken");
        let second = poll(&mut second, &counter).expect("now fits");
        let third = poll(&mut third, &counter).expect("fits behind it");
        assert_eq!(admission.reserved(), 60);
        drop((second, third));
        assert_eq!(admission.reserved(), 0);
    }

    #[test]
    fn a_request_that_gives_up_leaves_the_queue() {
        let admission = Admission::new(100);
        let counter = Arc::new(Counter(AtomicUsize::new(0)));
        let held = poll(&mut admission.reserve(90, "a").unwrap(), &counter).unwrap();
        let mut big = admission.reserve(50, "b").unwrap();
        let mut small = admission.reserve(10, "c").unwrap();
        assert!(poll(&mut big, &counter).is_none());
        drop(big);
        assert_eq!(admission.waiting(), 1);
        assert!(poll(&mut small, &counter).is_some(), "the one behind moves up and fits");
        drop(held);
    }

    #[test]
    fn too_big_for_the_budget_or_the_queue_fails_at_once() {
        let admission = Admission::new(100);
        assert_eq!(admission.reserve(101, "the image").unwrap_err().status(), 413);
        let counter = Arc::new(Counter(AtomicUsize::new(0)));
        let _held = poll(&mut admission.reserve(100, "a").unwrap(), &counter).unwrap();
        let queued: Vec<Waiting> = (0..MAX_WAITING).map(|_| admission.reserve(1, "b").unwrap()).collect();
        let err = admission.reserve(1, "c").unwrap_err();
        assert_eq!(err.status(), 503, "{err}");
        drop(queued);
        assert_eq!(admission.waiting(), 0);
    }

    #[test]
    fn try_take_keeps_the_order_without_wakers() {
        let admission = Admission::new(100);
        let mut first = admission.reserve(80, "a").unwrap();
        let mut second = admission.reserve(30, "b").unwrap();
        assert!(second.try_take().is_none(), "not first in line");
        let held = first.try_take().unwrap();
        assert!(second.try_take().is_none(), "does not fit yet");
        drop(held);
        assert!(second.try_take().is_some());
    }
}
