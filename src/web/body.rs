//! Webhook bodies under a budget. A delivery's signature covers its whole body, so the body must be
//! read before anything proves who sent it: without a bound, senders that declare 25 MiB, send
//! most of it and stall could hold as much memory as they have connections.
//!
//! - **A global budget of bytes in flight** (`--webhook-body-budget`): a body's declared length is
//!   reserved before a byte of it is read, and released when its request is answered. A body that
//!   does not fit gets `503` with `Retry-After`, at once (nothing waits for room). Bodies over
//!   [`LARGE_BODY`] may hold at most three quarters of the budget between them (or one body of the
//!   largest size accepted, if that is more), so that the small deliveries GitHub nearly always
//!   sends still find room while large uploads stall.
//! - **A deadline for the whole body** (`--body-timeout`): a body that has not arrived in time
//!   gets `408` and its buffer is freed; the connection is closed.
//!
//! The peak of memory held by bodies is therefore the budget, whatever the number of senders; what
//! the allocator keeps after a burst is bounded by that peak.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes};
use futures_util::{Stream, StreamExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::Error;

/// The budget's unit: permits are KiB, so that a budget of any size fits a semaphore.
const UNIT: u64 = 1024;
/// Bodies larger than this are "large" and share at most three quarters of the budget.
pub const LARGE_BODY: u64 = 1024 * 1024;

/// The budget shared by every webhook request; cheap to clone.
#[derive(Clone)]
pub struct Budget {
    all: Arc<Semaphore>,
    large: Arc<Semaphore>,
    timeout: Duration,
}

/// Room reserved for one body; released when dropped.
pub struct Reserved {
    _all: OwnedSemaphorePermit,
    _large: Option<OwnedSemaphorePermit>,
}

fn units(bytes: u64) -> u32 {
    u32::try_from(bytes.div_ceil(UNIT).max(1)).unwrap_or(u32::MAX)
}

impl Budget {
    /// `bytes` of bodies at once, none larger than `largest` (`--max-body-bytes`), each received
    /// within `timeout`.
    pub fn new(bytes: u64, largest: u64, timeout: Duration) -> Self {
        let all = units(bytes) as usize;
        let large = (all / 4 * 3).max(units(largest) as usize).min(all);
        Self {
            all: Arc::new(Semaphore::new(all)),
            large: Arc::new(Semaphore::new(large.max(1))),
            timeout,
        }
    }

    /// Reserves room for a body of `length` bytes.
    ///
    /// # Errors
    /// [`Error::Busy`] when the budget cannot hold it now.
    pub fn reserve(&self, length: u64) -> Result<Reserved, Error> {
        let busy = || {
            tracing::warn!(
                length,
                "webhook body refused: the budget of bodies in flight is spent"
            );
            Error::Busy("too many webhook bodies in flight; retry shortly".into())
        };
        let large = if length > LARGE_BODY {
            Some(
                self.large
                    .clone()
                    .try_acquire_many_owned(units(length))
                    .map_err(|_| busy())?,
            )
        } else {
            None
        };
        let all = self
            .all
            .clone()
            .try_acquire_many_owned(units(length))
            .map_err(|_| busy())?;
        Ok(Reserved {
            _all: all,
            _large: large,
        })
    }

    /// Reads a body of the declared `length` within the deadline, holding room for it; keep the
    /// [`Reserved`] until the request is answered.
    ///
    /// # Errors
    /// [`Error::Busy`] (503) when there is no room, [`Error::RequestTimeout`] (408) when the body
    /// is late, a 400 when it is cut short or longer than declared.
    pub async fn receive<B: Buf>(
        &self,
        length: u64,
        body: impl Stream<Item = Result<B, warp::Error>>,
    ) -> Result<(Bytes, Reserved), Error> {
        let reserved = self.reserve(length)?;
        let capacity = usize::try_from(length).map_err(|_| {
            Error::bad_request(
                "invalid_body",
                "the body is larger than this machine can hold",
            )
        })?;
        let read = async move {
            let mut buffer = Vec::with_capacity(capacity);
            let mut body = std::pin::pin!(body);
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|err| {
                    Error::bad_request("invalid_body", format!("reading the body failed: {err}"))
                })?;
                if buffer.len() + chunk.remaining() > capacity {
                    return Err(Error::bad_request(
                        "invalid_body",
                        "the body is longer than its Content-Length",
                    ));
                }
                buffer.put(chunk);
            }
            Ok(Bytes::from(buffer))
        };
        match tokio::time::timeout(self.timeout, read).await {
            Ok(Ok(bytes)) => Ok((bytes, reserved)),
            Ok(Err(err)) => Err(err),
            Err(_) => {
                tracing::info!(
                    length,
                    timeout_ms = self.timeout.as_millis() as u64,
                    "webhook body not received in time"
                );
                Err(Error::RequestTimeout(format!(
                    "the body did not arrive within {} ms",
                    self.timeout.as_millis()
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_fit_the_budget_until_it_is_spent_and_room_comes_back_when_they_go() {
        let budget = Budget::new(8 * LARGE_BODY, 3 * LARGE_BODY, Duration::from_secs(1));
        let first = budget.reserve(3 * LARGE_BODY).unwrap();
        let second = budget.reserve(3 * LARGE_BODY).unwrap();
        // Large bodies may hold 6 MiB of the 8: a third is refused, a small one still fits.
        assert!(matches!(
            budget.reserve(LARGE_BODY + 1),
            Err(Error::Busy(_))
        ));
        let small = budget.reserve(LARGE_BODY).unwrap();
        let _small2 = budget.reserve(LARGE_BODY).unwrap();
        assert!(matches!(budget.reserve(1), Err(Error::Busy(_))));
        drop((first, second, small));
        assert!(budget.reserve(3 * LARGE_BODY).is_ok());
    }

    #[test]
    fn a_body_of_the_largest_size_accepted_always_fits_an_empty_budget() {
        let budget = Budget::new(25 * LARGE_BODY, 25 * LARGE_BODY, Duration::from_secs(1));
        assert!(budget.reserve(25 * LARGE_BODY).is_ok());
    }

    #[tokio::test]
    async fn a_body_that_stalls_times_out_and_gives_its_room_back() {
        let budget = Budget::new(4 * LARGE_BODY, 4 * LARGE_BODY, Duration::from_millis(50));
        let stalled = futures_util::stream::pending::<Result<Bytes, warp::Error>>();
        let late = budget.receive(4 * LARGE_BODY, stalled).await;
        assert!(matches!(late, Err(Error::RequestTimeout(_))));
        let whole = futures_util::stream::iter([Ok::<_, warp::Error>(Bytes::from_static(b"{}"))]);
        let (bytes, _reserved) = budget.receive(2, whole).await.unwrap();
        assert_eq!(&bytes[..], b"{}");
    }
}
