//! The optional model analysis (`--analysis-url`): a model server on the operator's own network,
//! spoken to as an OpenAI-compatible chat endpoint (`<base>/chat/completions`), asked in one or
//! two sentences why a failed job failed, behind a button of the run page (`web::analysis`).
//!
//! - What is sent is the evidence and nothing else ([`Facts`]): the job's step names in order
//!   (the failed one marked), the failure's stored excerpt (at most [`MAX_EXCERPT_BYTES`], its
//!   end kept) and the sentence of the board's rule (`failure::evidence`), if one matched. No
//!   repository, workflow, job, branch or commit, no people, no tokens, no address of the board.
//! - Off by default; the key (`BUILDBOARD_ANALYSIS_KEY`, sent as `Authorization: Bearer`) is
//!   read from the environment only and never logged.
//! - Bounded: one question in flight per job, whose answer every later asker of the job gets for
//!   [`CACHE_TTL`] (several viewers, repeated clicks); a connect timeout, a total timeout, no
//!   redirects followed (they could carry the excerpt elsewhere), at most [`MAX_RESPONSE_BYTES`]
//!   read. Every way it fails is an [`Error`] that says what happened in a sentence.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{json, Value};

use crate::secret::Secret;
use crate::store::runpage::JobDetail;

/// Bytes of the failure's excerpt sent, at most (its end is kept: errors come last).
pub const MAX_EXCERPT_BYTES: usize = 8 * 1024;
/// Bytes of the model server's answer read, at most.
pub const MAX_RESPONSE_BYTES: usize = 256 * 1024;
/// Characters of the model's text kept for the page.
pub const MAX_ANSWER_CHARS: usize = 2000;
/// How long a job's answer is given again instead of asking anew.
pub const CACHE_TTL: Duration = Duration::from_secs(10 * 60);
/// Jobs whose answers are kept at most; past it, the expired ones are forgotten.
const MAX_CACHED_JOBS: usize = 1024;
/// `--analysis-model`'s default: the name many single-model servers answer to.
pub const DEFAULT_MODEL: &str = "default";
/// The environment variable of the key (there is no flag: a flag shows up in `ps`).
pub const KEY_ENV: &str = "BUILDBOARD_ANALYSIS_KEY";

/// What the model is told to do.
const INSTRUCTIONS: &str = "You explain why a CI job failed. Using only the evidence given (the \
     job's steps, the excerpt of its log and the build board's rule), answer in one or two plain \
     sentences. If the evidence does not say why, answer that it does not; never guess.";

/// `--analysis-url`: the API base of an OpenAI-compatible server, `http(s)://host[:port][/path]`
/// (`http://llm.internal:8000/v1`), without a trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalysisUrl(String);

impl AnalysisUrl {
    /// Parses the base URL.
    ///
    /// # Errors
    /// A message for clap when the text is not an http(s) URL with a host, or carries a user, a
    /// query or a fragment (the key goes in `BUILDBOARD_ANALYSIS_KEY`).
    pub fn parse(text: &str) -> Result<Self, String> {
        let invalid = |why: &str| {
            format!("{text:?} is not a model server's API base ({why}): use e.g. http://llm.internal:8000/v1")
        };
        let url = reqwest::Url::parse(text.trim()).map_err(|err| invalid(&err.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid("the scheme must be http or https"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(invalid("no host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid(
                "no user or password in it: the key goes in BUILDBOARD_ANALYSIS_KEY",
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid("no query or fragment"));
        }
        Ok(Self(url.as_str().trim_end_matches('/').to_owned()))
    }

    /// Where questions are posted: `<base>/chat/completions`.
    pub fn endpoint(&self) -> String {
        format!("{}/chat/completions", self.0)
    }
}

/// How long the model server may take; not flags, so that only tests change them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// To connect.
    pub connect: Duration,
    /// For the whole exchange, the answer's body included.
    pub total: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            total: Duration::from_secs(60),
        }
    }
}

/// Why no analysis came; each says what happened, for the person who clicked.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The client could not be made (a bug or a key with invalid characters).
    #[error("the model analysis could not be set up: {0}")]
    Setup(String),
    /// No connection, or it broke.
    #[error("the model server could not be reached ({0})")]
    Unreachable(String),
    /// No answer within [`Timing::total`].
    #[error("the model server did not answer within {0} s")]
    Timeout(u64),
    /// An answer that is not `2xx`.
    #[error("the model server answered HTTP {0}")]
    Status(u16),
    /// An answer that is not a chat completion.
    #[error("the model server's answer is not an OpenAI-style chat completion ({0})")]
    Malformed(String),
    /// A chat completion without text.
    #[error("the model answered with no text")]
    Empty,
}

impl Error {
    /// Whether it is the model server's slowness (a gateway timeout) rather than a bad answer.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Timeout(_))
    }
}

/// What is sent about one failed job: the evidence, and nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// Step names in order, each with whether it failed.
    pub steps: Vec<(String, bool)>,
    /// The stored excerpt of the failure, its end kept within [`MAX_EXCERPT_BYTES`].
    pub excerpt: Option<String>,
    /// The sentence of the rule that explained the failure.
    pub evidence: Option<String>,
}

impl Facts {
    /// The facts of `job`; `None` when it did not fail or there is no evidence to send (no
    /// excerpt and no rule: the model could only guess).
    pub fn of(job: &JobDetail) -> Option<Self> {
        if !crate::run_state::is_red(job.conclusion.as_ref()) {
            return None;
        }
        let excerpt = job
            .failure
            .as_ref()
            .and_then(|failure| failure.excerpt.as_deref())
            .filter(|excerpt| !excerpt.trim().is_empty())
            .map(tail);
        let evidence = job.why.as_ref().map(|why| why.sentence.clone());
        if excerpt.is_none() && evidence.is_none() {
            return None;
        }
        let steps = job
            .steps
            .iter()
            .map(|step| (step.name.clone(), step.failed()))
            .collect();
        Some(Self {
            steps,
            excerpt,
            evidence,
        })
    }

    /// The user message: the steps, the excerpt and the rule's sentence.
    pub fn message(&self) -> String {
        let mut text = String::from("Steps of the failed job, in order:\n");
        for (number, (name, failed)) in self.steps.iter().enumerate() {
            let mark = if *failed { "  <- failed" } else { "" };
            text.push_str(&format!("{}. {name}{mark}\n", number + 1));
        }
        if let Some(excerpt) = &self.excerpt {
            text.push_str(&format!("\nExcerpt of the log:\n```\n{excerpt}\n```\n"));
        }
        if let Some(evidence) = &self.evidence {
            text.push_str(&format!("\nThe board's rule says: {evidence}\n"));
        }
        text
    }

    /// The chat completion request for `model`.
    pub fn request(&self, model: &str) -> Value {
        json!({
            "model": model,
            "messages": [
                { "role": "system", "content": INSTRUCTIONS },
                { "role": "user", "content": self.message() },
            ],
            "temperature": 0,
            "max_tokens": 300,
            "stream": false,
        })
    }
}

/// The end of `excerpt` within [`MAX_EXCERPT_BYTES`], cut at a character.
fn tail(excerpt: &str) -> String {
    if excerpt.len() <= MAX_EXCERPT_BYTES {
        return excerpt.to_owned();
    }
    let mut start = excerpt.len() - MAX_EXCERPT_BYTES;
    while !excerpt.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &excerpt[start..])
}

/// The model's text from a chat completion's body: `choices[0].message.content`, trimmed and cut
/// to [`MAX_ANSWER_CHARS`].
///
/// # Errors
/// [`Error::Malformed`] for anything else; [`Error::Empty`] for no text.
pub fn answer_of(body: &[u8]) -> Result<String, Error> {
    let value: Value =
        serde_json::from_slice(body).map_err(|err| Error::Malformed(format!("not JSON: {err}")))?;
    let content = value
        .pointer("/choices/0/message/content")
        .ok_or_else(|| Error::Malformed("no choices[0].message.content".into()))?;
    let text = match content {
        Value::String(text) => text.trim(),
        Value::Null => "",
        _ => return Err(Error::Malformed("the content is not text".into())),
    };
    if text.is_empty() {
        return Err(Error::Empty);
    }
    Ok(text.chars().take(MAX_ANSWER_CHARS).collect())
}

/// An analysis, as `POST /api/jobs/<id>/analysis` answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Answer {
    pub job_id: i64,
    /// The model's one or two sentences: text, never markup.
    pub answer: String,
    /// `--analysis-model`.
    pub model: String,
    /// Given again from an earlier question (within [`CACHE_TTL`]).
    pub cached: bool,
}

/// One job's answer, and the lock that keeps one question about it in flight.
type Slot = Arc<tokio::sync::Mutex<Option<(Instant, String)>>>;

struct Analyst {
    http: reqwest::Client,
    endpoint: String,
    model: String,
    timing: Timing,
    answers: Mutex<HashMap<i64, Slot>>,
}

/// The model analysis, off unless `--analysis-url` is given; cheap to clone.
#[derive(Clone, Default)]
pub struct Analysis(Option<Arc<Analyst>>);

impl Analysis {
    /// Asks the server at `url` (none: off) for `model`'s answers, with `key` if any.
    ///
    /// # Errors
    /// [`Error::Setup`] when the key holds characters a header cannot.
    pub fn new(
        url: Option<&AnalysisUrl>,
        model: &str,
        key: Option<&Secret>,
        timing: Timing,
    ) -> Result<Self, Error> {
        let Some(url) = url else {
            return Ok(Self(None));
        };
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(key) = key {
            let mut value =
                reqwest::header::HeaderValue::from_str(&format!("Bearer {}", key.expose().trim()))
                    .map_err(|_| Error::Setup(format!("{KEY_ENV} holds invalid characters")))?;
            value.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        let http = reqwest::Client::builder()
            .user_agent(concat!("buildboard/", env!("CARGO_PKG_VERSION")))
            .default_headers(headers)
            .connect_timeout(timing.connect)
            .timeout(timing.total)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|err| Error::Setup(err.to_string()))?;
        Ok(Self(Some(Arc::new(Analyst {
            http,
            endpoint: url.endpoint(),
            model: model.to_owned(),
            timing,
            answers: Mutex::default(),
        }))))
    }

    /// Whether `--analysis-url` is set.
    pub fn is_on(&self) -> bool {
        self.0.is_some()
    }

    /// The answer about job `job_id` from `facts`: the kept one while it is fresh, else the
    /// model's, asked once however many ask at the same time. `None` when the analysis is off.
    ///
    /// # Errors
    /// How asking failed (not kept: the next click asks again).
    pub async fn ask(&self, job_id: i64, facts: &Facts) -> Option<Result<Answer, Error>> {
        let analyst = self.0.as_ref()?;
        let slot = analyst.slot(job_id);
        let mut held = slot.lock().await;
        let answer = |answer: &str, cached| Answer {
            job_id,
            answer: answer.to_owned(),
            model: analyst.model.clone(),
            cached,
        };
        if let Some((at, text)) = held.as_ref() {
            if at.elapsed() < CACHE_TTL {
                return Some(Ok(answer(text, true)));
            }
        }
        Some(analyst.complete(facts).await.map(|text| {
            let fresh = answer(&text, false);
            *held = Some((Instant::now(), text));
            fresh
        }))
    }
}

impl Analyst {
    /// Job `job_id`'s slot, made if need be; expired slots go once too many are kept.
    fn slot(&self, job_id: i64) -> Slot {
        let mut answers = self
            .answers
            .lock()
            .expect("the answers' lock is never poisoned");
        if answers.len() >= MAX_CACHED_JOBS && !answers.contains_key(&job_id) {
            // A slot in use (locked) stays; an idle one stays only while its answer is fresh.
            answers.retain(|_, slot| {
                slot.try_lock().map_or(true, |held| {
                    held.as_ref()
                        .is_some_and(|(at, _)| at.elapsed() < CACHE_TTL)
                })
            });
        }
        answers.entry(job_id).or_default().clone()
    }

    /// Asks the model about `facts`.
    async fn complete(&self, facts: &Facts) -> Result<String, Error> {
        let sent = self
            .http
            .post(&self.endpoint)
            .json(&facts.request(&self.model))
            .send()
            .await;
        let mut response = sent.map_err(|err| self.network_error(&err))?;
        if !response.status().is_success() {
            tracing::warn!(
                status = response.status().as_u16(),
                "the model server refused an analysis"
            );
            return Err(Error::Status(response.status().as_u16()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|err| self.network_error(&err))?
        {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(Error::Malformed(format!(
                    "longer than {MAX_RESPONSE_BYTES} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        answer_of(&body)
    }

    /// A timeout, or the innermost cause of another network error ("Connection refused").
    fn network_error(&self, err: &reqwest::Error) -> Error {
        if err.is_timeout() {
            tracing::warn!(
                timeout_s = self.timing.total.as_secs(),
                "the model server timed out"
            );
            return Error::Timeout(self.timing.total.as_secs().max(1));
        }
        let mut cause: &dyn std::error::Error = err;
        while let Some(source) = cause.source() {
            cause = source;
        }
        tracing::warn!(cause = %cause, "the model server could not be reached");
        Error::Unreachable(cause.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_analysis_url_is_an_http_base_whose_endpoint_is_chat_completions() {
        let url = AnalysisUrl::parse("http://llm.internal:8000/v1/").unwrap();
        assert_eq!(
            url.endpoint(),
            "http://llm.internal:8000/v1/chat/completions"
        );
        let url = AnalysisUrl::parse("https://10.0.0.5").unwrap();
        assert_eq!(url.endpoint(), "https://10.0.0.5/chat/completions");
        for bad in [
            "llm.internal:8000",
            "ftp://llm.internal/v1",
            "http://user:pw@llm.internal/v1",
            "http://llm.internal/v1?key=x",
            "http://",
            "",
        ] {
            let err = AnalysisUrl::parse(bad).unwrap_err();
            assert!(err.contains("API base"), "{bad}: {err}");
        }
    }

    fn failed_job(excerpt: Option<&str>, why: Option<&str>) -> JobDetail {
        use crate::run_state::{Conclusion, Status};
        use crate::store::runpage::{FailureDetail, StepDetail};
        let step = |number, name: &str, conclusion| StepDetail {
            number,
            name: name.into(),
            status: Status::Completed,
            conclusion: Some(conclusion),
            started_at: None,
            completed_at: None,
        };
        JobDetail {
            job: crate::store::model::JobCore {
                id: 7,
                name: "secret-job-name".into(),
                status: Status::Completed,
                conclusion: Some(Conclusion::Failure),
                runner: Some("secret-runner".into()),
                runner_group: None,
                url: Some("https://github.com/acme/secret/actions".into()),
                created_at: None,
                started_at: None,
                completed_at: None,
            },
            labels: vec!["secret-label".into()],
            steps: vec![
                step(1, "Check out", Conclusion::Success),
                step(2, "Run tests", Conclusion::Failure),
            ],
            failure: Some(FailureDetail {
                rule: Some("pytest".into()),
                signature: Some("sig".into()),
                excerpt: excerpt.map(str::to_owned),
                error: None,
                elsewhere: None,
            }),
            why: why.map(|sentence| crate::failure::evidence::Why {
                rule: "out-of-memory",
                sentence: sentence.into(),
            }),
            samples: Vec::new(),
        }
    }

    #[test]
    fn the_request_holds_the_steps_the_excerpt_and_the_evidence_and_nothing_else() {
        let facts = Facts::of(&failed_job(Some("E MemoryError"), Some("out of memory"))).unwrap();
        let body = facts.request("tiny").to_string();
        assert!(
            body.contains("1. Check out\\n2. Run tests  <- failed"),
            "{body}"
        );
        assert!(body.contains("E MemoryError"));
        assert!(body.contains("The board's rule says: out of memory"));
        assert!(body.contains("\"model\":\"tiny\""));
        assert!(!body.contains("secret"), "{body}");
    }

    #[test]
    fn a_job_without_evidence_or_that_did_not_fail_is_not_asked_about() {
        assert_eq!(Facts::of(&failed_job(None, None)), None);
        assert_eq!(Facts::of(&failed_job(Some("  \n"), None)), None);
        assert!(Facts::of(&failed_job(None, Some("out of memory"))).is_some());
        let mut green = failed_job(Some("E boom"), None);
        green.job.conclusion = Some(crate::run_state::Conclusion::Success);
        assert_eq!(Facts::of(&green), None);
    }

    #[test]
    fn a_long_excerpt_keeps_its_end_within_the_bound() {
        let long = format!("{}é\nE the real error", "x".repeat(3 * MAX_EXCERPT_BYTES));
        let facts = Facts::of(&failed_job(Some(&long), None)).unwrap();
        let excerpt = facts.excerpt.unwrap();
        assert!(excerpt.len() <= MAX_EXCERPT_BYTES + '…'.len_utf8());
        assert!(excerpt.ends_with("E the real error"));
    }

    #[test]
    fn the_answer_is_the_first_choices_text_and_anything_else_is_an_error() {
        let ok =
            br#"{"choices":[{"message":{"role":"assistant","content":"  Out of memory. \n"}}]}"#;
        assert_eq!(answer_of(ok).unwrap(), "Out of memory.");
        assert!(matches!(answer_of(b"<html>"), Err(Error::Malformed(_))));
        assert!(matches!(
            answer_of(br#"{"choices":[]}"#),
            Err(Error::Malformed(_))
        ));
        assert!(matches!(
            answer_of(br#"{"choices":[{"message":{"content":" "}}]}"#),
            Err(Error::Empty)
        ));
        assert!(matches!(
            answer_of(br#"{"choices":[{"message":{"content":null}}]}"#),
            Err(Error::Empty)
        ));
        let long = format!(
            r#"{{"choices":[{{"message":{{"content":"{}"}}}}]}}"#,
            "a".repeat(3 * MAX_ANSWER_CHARS)
        );
        assert_eq!(answer_of(long.as_bytes()).unwrap().len(), MAX_ANSWER_CHARS);
    }
}
