//! Why a job failed, from evidence beyond the log's own error: its conclusion, its failed step's
//! runner samples (memory at the limit), and tell-tale lines of its excerpt (an OOM kill, a full
//! disk, network errors). Each rule says one sentence with its evidence, for the run page and
//! Triage.

use crate::run_state::Conclusion;

/// What the rules look at for one failed job.
#[derive(Debug, Clone, Default)]
pub struct Evidence<'a> {
    /// The job's conclusion (failure, timed out, cancelled...).
    pub conclusion: Option<&'a Conclusion>,
    /// The failed step's name.
    pub step: Option<&'a str>,
    /// The excerpt and signature of the log's failure.
    pub log: &'a str,
    /// `(mem_used, mem_total)` of each sample taken during the failed step, bytes.
    pub memory: Vec<(i64, i64)>,
    /// `(cpu_user + cpu_system)` % of each sample during the failed step.
    pub cpu: Vec<f64>,
}

/// The rule that explained a failure, and its sentence.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Why {
    /// `out-of-memory`, `disk-full`, `timed-out`, `cancelled`, `network`.
    pub rule: &'static str,
    /// "out of memory in 'Run tests' (memory 7.8 of 7.8 GB)".
    pub sentence: String,
}

/// Memory at or above this share of the total counts as at the limit.
const MEMORY_LIMIT_SHARE: f64 = 0.95;

const OOM_LINES: &[&str] = &[
    "exit code 137",
    "Out of memory",
    "out of memory",
    "OOMKilled",
    "JavaScript heap out of memory",
    "Killed process",
    "MemoryError",
];
const DISK_LINES: &[&str] = &["ENOSPC", "No space left on device"];
const NETWORK_LINES: &[&str] = &[
    "Could not resolve host",
    "Temporary failure in name resolution",
    "getaddrinfo ENOTFOUND",
    "ECONNRESET",
    "ETIMEDOUT",
    "TLS handshake timeout",
    "502 Bad Gateway",
    "503 Service Unavailable",
    "504 Gateway Time-out",
];

fn gb(bytes: i64) -> String {
    format!("{:.1}", bytes as f64 / 1e9)
}

fn step(evidence: &Evidence<'_>) -> String {
    evidence
        .step
        .map_or_else(String::new, |s| format!(" in '{s}'"))
}

/// The first rule that explains the failure, or `None`.
pub fn explain(evidence: &Evidence<'_>) -> Option<Why> {
    let peak = evidence
        .memory
        .iter()
        .filter(|(_, total)| *total > 0)
        .max_by(|a, b| (a.0 as f64 / a.1 as f64).total_cmp(&(b.0 as f64 / b.1 as f64)));
    if let Some((used, total)) = peak {
        if *used as f64 >= MEMORY_LIMIT_SHARE * *total as f64 {
            return Some(Why {
                rule: "out-of-memory",
                sentence: format!(
                    "out of memory{} (memory {} of {} GB)",
                    step(evidence),
                    gb(*used),
                    gb(*total)
                ),
            });
        }
    }
    let found = |lines: &[&'static str]| -> Option<&'static str> {
        lines.iter().find(|l| evidence.log.contains(**l)).copied()
    };
    if let Some(line) = found(OOM_LINES) {
        return Some(Why {
            rule: "out-of-memory",
            sentence: format!("out of memory{} (the log says \"{line}\")", step(evidence)),
        });
    }
    if let Some(line) = found(DISK_LINES) {
        return Some(Why {
            rule: "disk-full",
            sentence: format!("disk full{} (the log says \"{line}\")", step(evidence)),
        });
    }
    match evidence.conclusion {
        Some(Conclusion::TimedOut) => {
            return Some(Why {
                rule: "timed-out",
                sentence: format!("timed out{}", step(evidence)),
            })
        }
        Some(Conclusion::Cancelled) => {
            return Some(Why {
                rule: "cancelled",
                sentence: format!(
                    "cancelled{} (by a newer push, a person, or a lost runner)",
                    step(evidence)
                ),
            })
        }
        _ => {}
    }
    if let Some(line) = found(NETWORK_LINES) {
        return Some(Why {
            rule: "network",
            sentence: format!("network error{} (the log says \"{line}\")", step(evidence)),
        });
    }
    let busy = evidence.cpu.iter().filter(|c| **c >= 95.0).count();
    if evidence.cpu.len() >= 6 && busy * 10 >= evidence.cpu.len() * 9 {
        return Some(Why {
            rule: "cpu-starved",
            sentence: format!(
                "CPU-starved{} (CPU at 95 % or more in {busy} of {} samples)",
                step(evidence),
                evidence.cpu.len()
            ),
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_at_the_limit_in_the_failed_step_is_out_of_memory() {
        let why = explain(&Evidence {
            conclusion: Some(&Conclusion::Failure),
            step: Some("Run tests"),
            log: "Error: tests failed",
            memory: vec![
                (4_000_000_000, 7_800_000_000),
                (7_790_000_000, 7_800_000_000),
            ],
            cpu: vec![],
        })
        .unwrap();
        assert_eq!(why.rule, "out-of-memory");
        assert_eq!(
            why.sentence,
            "out of memory in 'Run tests' (memory 7.8 of 7.8 GB)"
        );
    }

    #[test]
    fn log_lines_and_conclusions_explain_the_rest() {
        let with = |log, conclusion: Conclusion| {
            explain(&Evidence {
                conclusion: Some(&conclusion),
                step: Some("Build"),
                log,
                ..Evidence::default()
            })
            .map(|w| w.rule)
        };
        assert_eq!(
            with(
                "##[error]Process completed with exit code 137.",
                Conclusion::Failure
            ),
            Some("out-of-memory")
        );
        assert_eq!(
            with("write /tmp/x: No space left on device", Conclusion::Failure),
            Some("disk-full")
        );
        assert_eq!(with("", Conclusion::TimedOut), Some("timed-out"));
        assert_eq!(with("", Conclusion::Cancelled), Some("cancelled"));
        assert_eq!(
            with("curl: (6) Could not resolve host: x", Conclusion::Failure),
            Some("network")
        );
        assert_eq!(with("assert 1 == 2", Conclusion::Failure), None);
        let memory_below = explain(&Evidence {
            memory: vec![(5, 10)],
            ..Evidence::default()
        });
        assert_eq!(memory_below, None);
    }
}
