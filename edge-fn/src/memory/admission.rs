//! Isolate admission: one memory budget shared by every request in flight.
//!
//! A Worker isolate's 128 MB are shared by the requests it serves at once,
//! and Wasm memory never shrinks, so planning each request alone is not
//! enough: six requests that each fit can together take the isolate down.
//! Each request reserves what it will hold — its source buffer before reading
//! it, its working memory before transforming — and waits while the budget
//! is taken. A reservation is granted when the count fits the budget and the
//! heap really has the room (the caller's `allocate`, see `memory::heap`: holes
//! left by earlier buffers can make a count that fits useless).
//!
//! Order: a request that fits may go ahead of larger ones that wait, so that
//! small images are not held up behind a few large bodies; once the first in
//! line has waited [`PATIENCE_MS`], it goes first and the rest wait behind it,
//! so that large requests are not starved. The queue is bounded; the caller
//! bounds the wait and answers 503 with `Retry-After` when it runs out.
//!
//! Single-threaded, as a Worker isolate is: the state lives in an `Rc`, and
//! waiting requests poll on their own timers (a Worker's I/O belongs to the
//! request that started it, so one request must not wake another).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use crate::error::Error;

/// Most requests that may wait for memory at once; more get 503 at once.
pub const MAX_WAITING: usize = 64;

/// How long the first in line may be overtaken by requests that fit.
pub const PATIENCE_MS: f64 = 1000.0;

/// A budget of bytes, shared by clones.
#[derive(Clone, Debug)]
pub struct Admission(Rc<RefCell<State>>);

#[derive(Debug)]
struct State {
    budget: u64,
    reserved: u64,
    next_ticket: u64,
    /// Waiting requests in arrival order: ticket and when it arrived (ms).
    queue: VecDeque<(u64, f64)>,
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

    /// Joins the queue for `bytes`, at time `now` (ms); [`Waiting::try_take`]
    /// then grants them. Fails at once with 413 when `bytes` exceed the whole
    /// budget, and with 503 when [`MAX_WAITING`] requests already wait.
    pub fn reserve(&self, bytes: u64, what: &str, now: f64) -> Result<Waiting, Error> {
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
        state.queue.push_back((ticket, now));
        Ok(Waiting { admission: self.clone(), ticket, bytes, done: false })
    }
}

/// A request's place in the queue. Dropping it (a timeout) leaves the queue.
#[derive(Debug)]
pub struct Waiting {
    admission: Admission,
    ticket: u64,
    bytes: u64,
    done: bool,
}

impl Waiting {
    /// The reservation and what `allocate` made, when this request may go
    /// now (see the module's doc on order), its bytes fit the budget, and
    /// `allocate` finds the room; otherwise it keeps its place.
    pub fn try_take<T>(&mut self, now: f64, allocate: impl FnOnce() -> Option<T>) -> Option<(Reservation, T)> {
        let mut state = self.admission.0.borrow_mut();
        let &(head, since) = state.queue.front()?;
        let may_go = head == self.ticket || now - since < PATIENCE_MS;
        if !may_go || state.reserved + self.bytes > state.budget {
            return None;
        }
        let made = allocate()?;
        state.queue.retain(|(ticket, _)| *ticket != self.ticket);
        state.reserved += self.bytes;
        drop(state);
        self.done = true;
        Some((Reservation { admission: self.admission.clone(), bytes: self.bytes }, made))
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if !self.done {
            self.admission.0.borrow_mut().queue.retain(|(ticket, _)| *ticket != self.ticket);
        }
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
        self.admission.0.borrow_mut().reserved -= self.bytes;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take(waiting: &mut Waiting, now: f64) -> Option<Reservation> {
        waiting.try_take(now, || Some(())).map(|(reservation, ())| reservation)
    }

    #[test]
    fn requests_wait_until_memory_is_given_back() {
        let admission = Admission::new(100);
        let first = take(&mut admission.reserve(60, "a", 0.0).unwrap(), 0.0).expect("fits at once");
        let mut second = admission.reserve(50, "b", 0.0).unwrap();
        assert!(take(&mut second, 1.0).is_none(), "60 + 50 > 100");
        assert_eq!((admission.reserved(), admission.waiting()), (60, 1));
        drop(first);
        let second = take(&mut second, 2.0).expect("now fits");
        assert_eq!((admission.reserved(), admission.waiting()), (50, 0));
        drop(second);
        assert_eq!(admission.reserved(), 0);
    }

    #[test]
    fn small_requests_overtake_until_the_first_in_line_runs_out_of_patience() {
        let admission = Admission::new(100);
        let held = take(&mut admission.reserve(80, "a", 0.0).unwrap(), 0.0).unwrap();
        let mut big = admission.reserve(50, "big", 0.0).unwrap();
        assert!(take(&mut big, 0.0).is_none());
        let small = take(&mut admission.reserve(10, "small", 10.0).unwrap(), 10.0);
        assert!(small.is_some(), "fits, and the big one has waited less than PATIENCE_MS");
        let mut late = admission.reserve(10, "late", PATIENCE_MS).unwrap();
        assert!(take(&mut late, PATIENCE_MS).is_none(), "the big one has waited long enough to go first");
        drop((held, small));
        let big = take(&mut big, PATIENCE_MS + 1.0).expect("first in line, and fits");
        assert!(take(&mut late, PATIENCE_MS + 1.0).is_some(), "fits behind it");
        drop(big);
    }

    #[test]
    fn a_count_that_fits_waits_for_the_heap() {
        let admission = Admission::new(100);
        let mut waiting = admission.reserve(40, "a", 0.0).unwrap();
        assert!(waiting.try_take(0.0, || None::<()>).is_none(), "the heap has no room");
        assert_eq!((admission.reserved(), admission.waiting()), (0, 1), "nothing held, still in line");
        let (reservation, buffer) = waiting.try_take(1.0, || Some(vec![0u8; 40])).expect("room now");
        assert_eq!((reservation.bytes(), buffer.len(), admission.reserved()), (40, 40, 40));
    }

    #[test]
    fn a_request_that_gives_up_leaves_the_queue() {
        let admission = Admission::new(100);
        let held = take(&mut admission.reserve(90, "a", 0.0).unwrap(), 0.0).unwrap();
        let mut big = admission.reserve(50, "b", 0.0).unwrap();
        let mut small = admission.reserve(10, "c", 0.0).unwrap();
        assert!(take(&mut big, 2.0 * PATIENCE_MS).is_none());
        assert!(take(&mut small, 2.0 * PATIENCE_MS).is_none(), "behind a first in line out of patience");
        drop(big);
        assert_eq!(admission.waiting(), 1);
        assert!(take(&mut small, 2.0 * PATIENCE_MS).is_some(), "the one behind moves up and fits");
        drop(held);
    }

    #[test]
    fn too_big_for_the_budget_or_the_queue_fails_at_once() {
        let admission = Admission::new(100);
        assert_eq!(admission.reserve(101, "the image", 0.0).unwrap_err().status(), 413);
        let _held = take(&mut admission.reserve(100, "a", 0.0).unwrap(), 0.0).unwrap();
        let queued: Vec<Waiting> = (0..MAX_WAITING).map(|_| admission.reserve(1, "b", 0.0).unwrap()).collect();
        let err = admission.reserve(1, "c", 0.0).unwrap_err();
        assert_eq!(err.status(), 503, "{err}");
        drop(queued);
        assert_eq!(admission.waiting(), 0);
    }
}
