//! Per-client-IP rate limits (governor): one budget for the board, `/ws` and `/api`, a separate
//! one for `/webhook`, and one a minute for operators' actions (see `web::act`). Over the limit
//! a request gets `429 Too Many Requests` with `Retry-After`. Each IP has its own bucket, so one
//! noisy client does not slow the others.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use warp::{Filter, Rejection};

use crate::serve::ClientAddr;

/// Forget idle clients' buckets every this many checks, so the map does not grow without bound.
const RETAIN_EVERY: u64 = 4096;

/// A request refused for its rate; carries how long to wait.
#[derive(Debug)]
pub struct RateLimited {
    pub retry_after: Duration,
    /// Which budget: `reads`, `webhook` or `actions`.
    pub budget: &'static str,
}

impl warp::reject::Reject for RateLimited {}

/// A keyed limiter, or none when the limit is 0 (disabled).
#[derive(Clone, Default)]
pub struct Limiter {
    /// The budget's name, for logs and metrics.
    budget: &'static str,
    inner: Option<Arc<DefaultKeyedRateLimiter<IpAddr>>>,
    checks: Arc<AtomicU64>,
}

impl Limiter {
    /// `per_second` requests per second per IP with `burst` on top; `per_second == 0` disables it.
    pub fn new(budget: &'static str, per_second: u32, burst: u32) -> Self {
        let inner = NonZeroU32::new(per_second).map(|rate| {
            let burst = NonZeroU32::new(burst).unwrap_or(rate).max(rate);
            Arc::new(RateLimiter::keyed(
                Quota::per_second(rate).allow_burst(burst),
            ))
        });
        Self {
            budget,
            inner,
            checks: Arc::default(),
        }
    }

    /// `per_minute` requests per minute per IP, all of them available at once;
    /// `per_minute == 0` disables it.
    pub fn per_minute(budget: &'static str, per_minute: u32) -> Self {
        let inner = NonZeroU32::new(per_minute)
            .map(|rate| Arc::new(RateLimiter::keyed(Quota::per_minute(rate))));
        Self {
            budget,
            inner,
            checks: Arc::default(),
        }
    }

    /// Counts a request from `ip`.
    ///
    /// # Errors
    /// [`RateLimited`] when `ip` is over its budget.
    pub fn check(&self, ip: IpAddr) -> Result<(), RateLimited> {
        let Some(limiter) = &self.inner else {
            return Ok(());
        };
        if self.checks.fetch_add(1, Ordering::Relaxed) % RETAIN_EVERY == RETAIN_EVERY - 1 {
            limiter.retain_recent();
        }
        limiter.check_key(&ip).map_err(|not_until| RateLimited {
            retry_after: not_until.wait_time_from(DefaultClock::default().now()),
            budget: self.budget,
        })
    }

    /// A filter that passes or rejects with [`RateLimited`]. Put it after the path filters, so
    /// that only requests for this route spend this budget.
    pub fn filter(&self) -> impl Filter<Extract = (), Error = Rejection> + Clone {
        let limiter = self.clone();
        warp::ext::optional::<ClientAddr>()
            .and_then(move |remote: Option<ClientAddr>| {
                let checked = match remote {
                    Some(ClientAddr(addr)) => limiter.check(addr.ip()),
                    None => Ok(()),
                };
                std::future::ready(checked.map_err(warp::reject::custom))
            })
            .untuple_one()
    }
}

/// The two budgets.
#[derive(Clone, Default)]
pub struct Limits {
    /// Board pages, `/ws`, `/api`.
    pub reads: Limiter,
    /// `/webhook`.
    pub webhook: Limiter,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_over_its_budget_is_refused_while_another_is_not() {
        let limiter = Limiter::new("reads", 1, 2);
        let noisy: IpAddr = "10.0.0.1".parse().unwrap();
        let quiet: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(limiter.check(noisy).is_ok());
        assert!(limiter.check(noisy).is_ok());
        let refused = limiter.check(noisy).unwrap_err();
        assert!(
            refused.retry_after > Duration::ZERO && refused.retry_after <= Duration::from_secs(1)
        );
        assert!(limiter.check(quiet).is_ok());
    }

    #[test]
    fn a_zero_rate_disables_the_limit() {
        let limiter = Limiter::new("reads", 0, 0);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert!((0..10_000).all(|_| limiter.check(ip).is_ok()));
    }
}
