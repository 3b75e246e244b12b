//! Request bodies under bounds. A delivery's signature covers its whole body, so the body must be
//! read before anything proves who sent it: without a bound, senders that declare 25 MiB, send
//! most of it and stall could hold as much memory as they have connections.
//!
//! - **A global budget of webhook bytes in flight** (`--webhook-body-budget`): room is reserved
//!   as the bytes arrive, chunk by chunk (kept as they came, copied into one buffer once the body
//!   is whole), and released when the request is answered. A declared
//!   `Content-Length` reserves nothing: clients that send headers only (or declare a large body
//!   and send a little) take no room from the deliveries posted meanwhile. A chunk that does not
//!   fit gets `503` with `Retry-After`, at once (nothing waits for room). Bodies declared larger
//!   than [`LARGE_BODY`] may hold at most three quarters of the budget between them (or one body
//!   of the largest size accepted, if that is more), so that the small deliveries GitHub nearly
//!   always sends still find room while large uploads stall.
//! - **Refusals are logged as a rate**: one warning per [`REFUSAL_LOG_EVERY`] with the number
//!   refused since the last one, not a line each (a flood of refusals would fill the disk).
//! - **A deadline for the whole body** (`--body-timeout`): a body that has not arrived in time
//!   gets `408` and its buffer is freed; the connection is closed. `crate::serve` holds every
//!   request's body to the same deadline; [`read_small`] reads the small bodies of the other
//!   routes (forms, JSON), after their credentials were checked.
//!
//! The peak of memory held by webhook bodies is therefore the budget (plus the copies of bodies
//! being completed), whatever the number of senders; what the allocator keeps after a burst is
//! bounded by that peak.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes};
use futures_util::{Stream, StreamExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::Error;

/// The budget's unit: permits are KiB, so that a budget of any size fits a semaphore.
const UNIT: u64 = 1024;
/// Bodies larger than this are "large" and share at most three quarters of the budget.
pub const LARGE_BODY: u64 = 1024 * 1024;
/// At most one log line about refused webhook bodies per this long.
pub const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(10);

/// The budget shared by every webhook request; cheap to clone.
#[derive(Clone)]
pub struct Budget {
    all: Arc<Semaphore>,
    large: Arc<Semaphore>,
    timeout: Duration,
    refusals: Arc<RateLog>,
}

/// Room reserved for one body, grown as its bytes arrive; released when dropped.
#[derive(Default)]
pub struct Reserved {
    all: Option<OwnedSemaphorePermit>,
    large: Option<OwnedSemaphorePermit>,
    /// Bytes received and not yet covered by a whole unit of the permits.
    bytes: u64,
}

fn units(bytes: u64) -> u32 {
    u32::try_from(bytes.div_ceil(UNIT).max(1)).unwrap_or(u32::MAX)
}

/// Counts events and says when to log them: at most once per interval, with the count since.
pub struct RateLog {
    every: Duration,
    state: Mutex<(Option<Instant>, u64)>,
}

impl RateLog {
    pub fn new(every: Duration) -> Self {
        Self {
            every,
            state: Mutex::new((None, 0)),
        }
    }

    /// Counts one event; returns how many to report (this one included) when a line is due.
    pub fn note(&self) -> Option<u64> {
        let mut state = self.state.lock().expect("no panic while holding the lock");
        state.1 += 1;
        let due = state.0.is_none_or(|last| last.elapsed() >= self.every);
        due.then(|| {
            let count = state.1;
            *state = (Some(Instant::now()), 0);
            count
        })
    }
}

/// Merges `more` into `held`.
fn merge(held: &mut Option<OwnedSemaphorePermit>, more: OwnedSemaphorePermit) {
    match held {
        Some(permit) => permit.merge(more),
        None => *held = Some(more),
    }
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
            refusals: Arc::new(RateLog::new(REFUSAL_LOG_EVERY)),
        }
    }

    /// Grows `reserved` by `bytes` just received, of a body declared `length` bytes long.
    ///
    /// # Errors
    /// [`Error::Busy`] when the budget cannot hold them now.
    pub fn grow(&self, reserved: &mut Reserved, length: u64, bytes: u64) -> Result<(), Error> {
        reserved.bytes += bytes;
        let have = reserved
            .all
            .as_ref()
            .map_or(0, |permit| permit.num_permits()) as u64;
        let want = u64::from(units(reserved.bytes));
        if want <= have {
            return Ok(());
        }
        let more = u32::try_from(want - have).unwrap_or(u32::MAX);
        if length > LARGE_BODY {
            let large = self.large.clone().try_acquire_many_owned(more);
            merge(&mut reserved.large, large.map_err(|_| self.busy(length))?);
        }
        let all = self.all.clone().try_acquire_many_owned(more);
        merge(&mut reserved.all, all.map_err(|_| self.busy(length))?);
        Ok(())
    }

    /// The refusal, counted and logged at most once per [`REFUSAL_LOG_EVERY`].
    fn busy(&self, length: u64) -> Error {
        if let Some(refused) = self.refusals.note() {
            tracing::warn!(
                refused,
                length,
                "webhook bodies refused: the budget of bodies in flight is spent (counted since \
                 the last such line)"
            );
        }
        Error::Busy("too many webhook bodies in flight; retry shortly".into())
    }

    /// Reads a body of the declared `length` within the deadline, reserving room as its bytes
    /// arrive; keep the [`Reserved`] until the request is answered.
    ///
    /// # Errors
    /// [`Error::Busy`] (503) when there is no room, [`Error::RequestTimeout`] (408) when the body
    /// is late, a 400 when it is cut short or longer than declared.
    pub async fn receive<B: Buf>(
        &self,
        length: u64,
        body: impl Stream<Item = Result<B, warp::Error>>,
    ) -> Result<(Bytes, Reserved), Error> {
        let capacity = usize::try_from(length).map_err(|_| {
            Error::bad_request(
                "invalid_body",
                "the body is larger than this machine can hold",
            )
        })?;
        let mut reserved = Reserved::default();
        let read = async {
            // The chunks as they arrived, each reserved: memory follows the bytes received, with
            // no buffer grown ahead of them (a doubling buffer held up to twice what it had
            // received, and its freed sizes stayed with the allocator).
            let mut chunks: Vec<Bytes> = Vec::new();
            let mut received = 0usize;
            let mut body = std::pin::pin!(body);
            while let Some(chunk) = body.next().await {
                let mut chunk = chunk.map_err(read_error)?;
                let size = chunk.remaining();
                if received + size > capacity {
                    return Err(Error::bad_request(
                        "invalid_body",
                        "the body is longer than its Content-Length",
                    ));
                }
                self.grow(&mut reserved, length, size as u64)?;
                received += size;
                chunks.push(chunk.copy_to_bytes(size));
            }
            // One contiguous copy once the whole body is here, for the signature and the parser.
            let mut buffer = Vec::with_capacity(received);
            for chunk in &chunks {
                buffer.extend_from_slice(chunk);
            }
            Ok(Bytes::from(buffer))
        };
        match tokio::time::timeout(self.timeout, read).await {
            Ok(Ok(bytes)) => Ok((bytes, reserved)),
            Ok(Err(err)) => Err(err),
            Err(_) => Err(late(self.timeout)),
        }
    }
}

/// The error of a body that did not arrive within `timeout`.
fn late(timeout: Duration) -> Error {
    Error::RequestTimeout(format!(
        "the body did not arrive within {} ms",
        timeout.as_millis()
    ))
}

/// A body chunk that could not be read: late (the connection's deadline, see `crate::serve`), or
/// broken off.
fn read_error(err: warp::Error) -> Error {
    if crate::serve::is_body_timeout(&err) {
        Error::RequestTimeout(err.to_string())
    } else {
        Error::bad_request("invalid_body", format!("reading the body failed: {err}"))
    }
}

/// Reads a small body (a form, a JSON document) of at most `max` bytes within `timeout`. Routes
/// call it after they checked the request's credentials, so that no client without them makes
/// the server wait for a body.
///
/// # Errors
/// [`Error::RequestTimeout`] (408) when the body is late, a 400 when it is longer than `max` or
/// cut short.
pub async fn read_small<B: Buf>(
    body: impl Stream<Item = Result<B, warp::Error>>,
    max: u64,
    timeout: Duration,
) -> Result<Bytes, Error> {
    let read = async {
        let mut buffer = Vec::new();
        let mut body = std::pin::pin!(body);
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(read_error)?;
            if (buffer.len() + chunk.remaining()) as u64 > max {
                return Err(Error::bad_request(
                    "invalid_body",
                    format!("the body is longer than {max} bytes"),
                ));
            }
            buffer.put(chunk);
        }
        Ok(Bytes::from(buffer))
    };
    tokio::time::timeout(timeout, read)
        .await
        .unwrap_or_else(|_| Err(late(timeout)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Room for `bytes` received of a body declared `length` long.
    fn hold(budget: &Budget, length: u64, bytes: u64) -> Result<Reserved, Error> {
        let mut reserved = Reserved::default();
        budget.grow(&mut reserved, length, bytes)?;
        Ok(reserved)
    }

    #[test]
    fn bodies_fit_the_budget_until_it_is_spent_and_room_comes_back_when_they_go() {
        let budget = Budget::new(8 * LARGE_BODY, 3 * LARGE_BODY, Duration::from_secs(1));
        let first = hold(&budget, 3 * LARGE_BODY, 3 * LARGE_BODY).unwrap();
        let second = hold(&budget, 3 * LARGE_BODY, 3 * LARGE_BODY).unwrap();
        // Large bodies may hold 6 MiB of the 8: a third is refused, a small one still fits.
        assert!(matches!(
            hold(&budget, LARGE_BODY + 1, LARGE_BODY + 1),
            Err(Error::Busy(_))
        ));
        let small = hold(&budget, LARGE_BODY, LARGE_BODY).unwrap();
        let _small2 = hold(&budget, LARGE_BODY, LARGE_BODY).unwrap();
        assert!(matches!(hold(&budget, 1, 1), Err(Error::Busy(_))));
        drop((first, second, small));
        assert!(hold(&budget, 3 * LARGE_BODY, 3 * LARGE_BODY).is_ok());
    }

    #[test]
    fn a_declared_length_takes_no_room_until_its_bytes_arrive() {
        let budget = Budget::new(2 * LARGE_BODY, LARGE_BODY, Duration::from_secs(1));
        // Three bodies declared 1 MiB long, none sent yet: a whole body still fits.
        let mut declared: Vec<Reserved> = (0..3).map(|_| Reserved::default()).collect();
        let whole = hold(&budget, LARGE_BODY, LARGE_BODY).unwrap();
        budget.grow(&mut declared[0], LARGE_BODY, 1000).unwrap();
        budget.grow(&mut declared[0], LARGE_BODY, 1000).unwrap();
        assert_eq!(declared[0].all.as_ref().unwrap().num_permits(), 2);
        budget
            .grow(&mut declared[1], LARGE_BODY, LARGE_BODY - 2048)
            .unwrap();
        assert!(matches!(
            budget.grow(&mut declared[2], LARGE_BODY, 1),
            Err(Error::Busy(_))
        ));
        drop(whole);
        assert!(budget.grow(&mut declared[2], LARGE_BODY, 1).is_ok());
    }

    #[test]
    fn a_body_of_the_largest_size_accepted_always_fits_an_empty_budget() {
        let budget = Budget::new(25 * LARGE_BODY, 25 * LARGE_BODY, Duration::from_secs(1));
        assert!(hold(&budget, 25 * LARGE_BODY, 25 * LARGE_BODY).is_ok());
    }

    #[test]
    fn refusals_are_logged_once_per_interval_with_their_count() {
        let log = RateLog::new(Duration::from_millis(200));
        assert_eq!(log.note(), Some(1));
        assert_eq!((0..999).filter_map(|_| log.note()).count(), 0);
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(log.note(), Some(1000));
    }

    #[tokio::test]
    async fn a_body_that_stalls_times_out_and_gives_its_room_back() {
        let budget = Budget::new(4 * LARGE_BODY, 4 * LARGE_BODY, Duration::from_millis(50));
        let half = futures_util::stream::iter([Ok::<_, warp::Error>(Bytes::from(vec![
            b' ';
            2 * LARGE_BODY as usize
        ]))]);
        let stalled = half.chain(futures_util::stream::pending());
        let late = budget.receive(4 * LARGE_BODY, stalled).await;
        assert!(matches!(late, Err(Error::RequestTimeout(_))));
        assert_eq!(budget.all.available_permits(), 4 * 1024);
        let whole = futures_util::stream::iter([Ok::<_, warp::Error>(Bytes::from_static(b"{}"))]);
        let (bytes, _reserved) = budget.receive(2, whole).await.unwrap();
        assert_eq!(&bytes[..], b"{}");
    }

    #[tokio::test]
    async fn a_small_body_is_read_whole_or_refused_when_too_long_or_late() {
        let body =
            || futures_util::stream::iter([Ok::<_, warp::Error>(Bytes::from_static(b"token=x"))]);
        let read = read_small(body(), 64, Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(&read[..], b"token=x");
        assert!(matches!(
            read_small(body(), 3, Duration::from_secs(1)).await,
            Err(Error::BadRequest { .. })
        ));
        let stalled = futures_util::stream::pending::<Result<Bytes, warp::Error>>();
        assert!(matches!(
            read_small(stalled, 64, Duration::from_millis(20)).await,
            Err(Error::RequestTimeout(_))
        ));
    }
}
