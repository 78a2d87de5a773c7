//! Deadlines for a connection without a timer per wait: the connection owns
//! one tokio timer, which is only moved when it fires before the deadline
//! that holds then, or when a deadline comes sooner than it. A busy
//! connection whose deadlines keep moving later (a timeout per request) so
//! touches the timer wheel about once per timeout, not once per request.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

pub struct Timer {
    sleep: Pin<Box<Sleep>>,
    at: Instant,
}

impl Timer {
    pub fn new() -> Self {
        let at = Instant::now() + Duration::from_secs(365 * 24 * 3600);
        Timer { sleep: Box::pin(tokio::time::sleep_until(at)), at }
    }

    /// Ready once `deadline` has passed.
    pub fn poll_until(&mut self, cx: &mut Context<'_>, deadline: Instant) -> Poll<()> {
        if self.at > deadline {
            self.at = deadline;
            self.sleep.as_mut().reset(deadline);
        }
        while self.sleep.as_mut().poll(cx).is_ready() {
            if self.at >= deadline {
                return Poll::Ready(());
            }
            self.at = deadline;
            self.sleep.as_mut().reset(deadline);
        }
        Poll::Pending
    }
}

/// A deadline that is computed the first time it is needed, so the clock is
/// only read when something has to wait.
pub struct Deadline {
    after: Duration,
    at: Option<Instant>,
}

impl Deadline {
    pub fn new(after: Duration) -> Self {
        Deadline { after, at: None }
    }

    pub fn get(&mut self) -> Instant {
        *self.at.get_or_insert_with(|| Instant::now() + self.after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fires_at_the_deadline_that_holds() {
        let mut timer = Timer::new();
        let start = Instant::now();
        // Far away first; a sooner deadline moves the timer back.
        assert!(std::future::poll_fn(|cx| Poll::Ready(timer.poll_until(cx, start + Duration::from_secs(60))))
            .await
            .is_pending());
        let first = start + Duration::from_millis(30);
        std::future::poll_fn(|cx| timer.poll_until(cx, first)).await;
        assert!(Instant::now() >= first);
        assert!(Instant::now() < start + Duration::from_secs(30));
        // A later deadline than the timer's: it fires early, and waits on.
        let (near, later) = (Instant::now() + Duration::from_millis(20), Instant::now() + Duration::from_millis(80));
        assert!(std::future::poll_fn(|cx| Poll::Ready(timer.poll_until(cx, near))).await.is_pending());
        std::future::poll_fn(|cx| timer.poll_until(cx, later)).await;
        assert!(Instant::now() >= later);
    }
}
