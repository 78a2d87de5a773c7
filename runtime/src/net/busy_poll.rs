//! Busy polling: a worker that runs out of work keeps looking for more for a
//! short while (`gateway { busy_poll 50us }`) before it sleeps in
//! `epoll_wait`. Waking a sleeping thread costs several microseconds (the
//! scheduler, often another core's interrupt); a polling worker sees the
//! next event within one poll. Seastar's reactor does the same
//! (`--idle-poll-time-us`).
//!
//! - A worker polls only after work came in ([`kick`]: a request arrived, a
//!   provider answered), for at most the budget after the last such event.
//! - Each round gives the core away first (`sched_yield`), so another thread
//!   that is ready to run on it runs before the worker polls again.
//! - A round that ends with nothing new is a miss; after misses in a row the
//!   worker skips the next 1, 3, 7, … (at most 63) chances to poll, so a
//!   worker whose providers take seconds to answer soon stops polling.
//!
//! The poller is a task on the worker's runtime: each round yields to
//! tokio, which then checks for events without sleeping.

use std::cell::RefCell;
use std::future::poll_fn;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

thread_local! {
    /// Set on a worker thread while its poller runs.
    static POLLER: RefCell<Option<Shared>> = const { RefCell::new(None) };
}

/// What [`kick`] and the poller share on one thread.
struct Shared {
    /// How many times work came in.
    kicks: u64,
    /// The poller, while it waits for work.
    waker: Option<Waker>,
    /// Polling rounds run, for tests.
    rounds: u64,
}

/// Work came in on this thread: a worker's poller starts, or keeps, polling.
/// Costs a thread-local check elsewhere.
pub fn kick() {
    POLLER.with(|p| {
        if let Some(s) = p.borrow_mut().as_mut() {
            s.kicks = s.kicks.wrapping_add(1);
            if let Some(w) = s.waker.take() {
                w.wake();
            }
        }
    });
}

/// When to poll: after misses in a row, how many chances to skip.
#[derive(Debug, Default)]
struct Backoff {
    misses: u32,
    skip: u32,
}

impl Backoff {
    /// Whether to poll at this chance.
    fn poll_now(&mut self) -> bool {
        if self.skip > 0 {
            self.skip -= 1;
            return false;
        }
        true
    }

    /// A polling round ended; `hit` when work came in during it.
    fn ended(&mut self, hit: bool) {
        if hit {
            self.misses = 0;
        } else {
            self.misses = (self.misses + 1).min(6);
            self.skip = (1 << self.misses) - 1;
        }
    }
}

/// The poller of the current worker thread, run as a task on its runtime;
/// `budget` is how long to poll after the last work.
pub async fn run(budget: Duration) {
    POLLER.with(|p| *p.borrow_mut() = Some(Shared { kicks: 0, waker: None, rounds: 0 }));
    let _clear = Clear;
    let mut seen = 0;
    let mut backoff = Backoff::default();
    loop {
        // Sleep until work comes in.
        seen = poll_fn(|cx| {
            POLLER.with(|p| {
                let mut p = p.borrow_mut();
                #[expect(clippy::expect_used, reason = "set at the top of this function, cleared only after it")]
                let s = p.as_mut().expect("set above");
                if s.kicks != seen {
                    Poll::Ready(s.kicks)
                } else {
                    s.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            })
        })
        .await;
        if !backoff.poll_now() {
            continue;
        }
        let mut last = Instant::now();
        let mut hit = false;
        loop {
            std::thread::yield_now();
            tokio::task::yield_now().await;
            let k = POLLER.with(|p| {
                let mut p = p.borrow_mut();
                #[expect(clippy::expect_used, reason = "set at the top of this function, cleared only after it")]
                let s = p.as_mut().expect("set above");
                s.rounds += 1;
                s.kicks
            });
            if k != seen {
                (seen, last, hit) = (k, Instant::now(), true);
            } else if last.elapsed() >= budget {
                break;
            }
        }
        backoff.ended(hit);
    }
}

/// Unsets the thread's poller when its task ends.
struct Clear;

impl Drop for Clear {
    fn drop(&mut self) {
        let _ = POLLER.try_with(|p| p.borrow_mut().take());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misses_in_a_row_skip_more_chances_and_a_hit_resets() {
        let mut b = Backoff::default();
        assert!(b.poll_now());
        let mut skipped = Vec::new();
        for _ in 0..8 {
            b.ended(false);
            let mut n = 0;
            while !b.poll_now() {
                n += 1;
            }
            skipped.push(n);
        }
        assert_eq!(skipped, [1, 3, 7, 15, 31, 63, 63, 63]);
        b.ended(true);
        assert!(b.poll_now());
        b.ended(false);
        assert!(!b.poll_now());
        assert!(b.poll_now());
    }

    fn rounds() -> u64 {
        POLLER.with(|p| p.borrow().as_ref().map_or(0, |s| s.rounds))
    }

    async fn wait(ms: u64) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }

    /// The poller next to the test on one single-threaded runtime; its
    /// rounds are counted. Budgets are short and waits long, so a slow
    /// machine only makes the waits longer.
    #[tokio::test(flavor = "current_thread")]
    async fn polls_after_work_for_the_budget_then_sleeps_and_backs_off() {
        let poller = tokio::spawn(run(Duration::from_millis(100)));
        wait(150).await;
        assert_eq!(rounds(), 0, "no work yet: no polling");

        // Work came in: it polls, then stops once the budget is spent.
        kick();
        wait(5).await;
        let during = rounds();
        assert!(during > 0, "it polls after work");
        wait(250).await;
        let after = rounds();
        assert!(after > during);
        wait(150).await;
        assert_eq!(rounds(), after, "it sleeps once the budget is spent");

        // That round was a miss: the next chance is skipped, the one after
        // is taken.
        kick();
        wait(150).await;
        assert_eq!(rounds(), after, "one chance skipped after a miss");
        kick();
        wait(5).await;
        assert!(rounds() > after, "then it polls again");

        // Work during a round keeps it going and makes it a hit, so the
        // next chance is taken at once.
        for _ in 0..3 {
            wait(10).await;
            kick();
        }
        wait(250).await;
        let hit = rounds();
        kick();
        wait(5).await;
        assert!(rounds() > hit, "no chance skipped after a hit");

        poller.abort();
        let _ = poller.await;
        kick();
        assert_eq!(rounds(), 0, "the thread has no poller once it ended");
    }
}
