-- buildboard database schema, version 9 (see `PRAGMA user_version`).
--
-- The server applies this file on every start (every statement is idempotent), after running the
-- forward migrations in `src/store/migrate.rs` on a database made by an older version. `init_db -i`
-- applies the same file.
--
-- Conventions
-- * Times are INTEGER seconds since the Unix epoch, UTC. GitHub sends four timestamp formats
--   (`...Z`, `....000Z`, `...-08:00`, integer epochs); they are all normalised before they get here.
-- * Durations (`runtime`, `queuetime`) are INTEGER seconds.
-- * Rows that GitHub identifies (repositories, workflows, runs, jobs) keep GitHub's id as their
--   primary key, so a webhook delivery and a REST backfill of the same object hit the same row.
--
-- Fixes to the original (Python/Flask) design, which this schema replaces:
-- * `branches.name` was UNIQUE across the whole database: two repositories could not both have
--   `main`. A branch name is unique per repository: UNIQUE(repo_id, name).
-- * `commits.gitid` was UNIQUE across the whole database: a fork and its parent share hashes. A
--   commit hash is unique per repository: UNIQUE(repo_id, gitid).
-- * `workflows.name` was UNIQUE across the whole database. A workflow name is per repository, and
--   not even unique there: two workflow files may declare the same `name:`. GitHub's workflow id is
--   the key; (repo_id, name) is indexed for lookups but deliberately not UNIQUE, because a UNIQUE
--   constraint would make GitHub's legitimate data fail to insert (a lost delivery).
-- * Runs referenced branches by name only; a deleted branch lost its runs. Branches are now
--   soft-deleted (`deletedtime`), runs keep their `branch_id`, and the name is also copied into
--   `workflowruns.archivedbranchname` when the branch is deleted.

-- Repositories that send webhooks (or that an operator added). `monitored = 0` stops showing them.
CREATE TABLE IF NOT EXISTS repos (
    id            INTEGER PRIMARY KEY,          -- GitHub repository id
    fullname      TEXT    NOT NULL UNIQUE,      -- "owner/name"; updated when a repository is renamed
    url           TEXT,                         -- html_url
    defaultbranch TEXT,
    monitored     INTEGER NOT NULL DEFAULT 1,
    createtime    INTEGER NOT NULL              -- when buildboard first saw it
);

-- Branches, unique per repository. Deleting a branch on GitHub sets `deletedtime`; its runs stay.
CREATE TABLE IF NOT EXISTS branches (
    id          INTEGER PRIMARY KEY,
    repo_id     INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    name        TEXT    NOT NULL,
    createtime  INTEGER NOT NULL,
    deletedtime INTEGER,                        -- NULL while the branch exists
    UNIQUE (repo_id, name)
);
CREATE INDEX IF NOT EXISTS branches_name ON branches (name);

-- Commits, unique per repository, from pushes and from the head commits of runs. Later sources
-- fill in what earlier ones lacked (a push knows the author's login, a run does not).
CREATE TABLE IF NOT EXISTS commits (
    id          INTEGER PRIMARY KEY,
    repo_id     INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    gitid       TEXT    NOT NULL,               -- the 40-hex commit hash
    message     TEXT,
    authorname  TEXT,
    authoremail TEXT,
    authorlogin TEXT,
    committime  INTEGER,
    url         TEXT,
    UNIQUE (repo_id, gitid)
);
-- Runs by sha (`/api/builds?sha=`, also a prefix) go through their commit, found by (repo_id, gitid)
-- for each repository: a hash-only index cost a random page write per new commit (dropped in 4).

-- Workflows (one per workflow file), and since version 5 every other pipeline: a check of an app
-- or a commit status's context. Those have negative ids derived from (repository, key), as their
-- runs do from (pipeline, commit): GitHub gives them no id of their own that fits.
CREATE TABLE IF NOT EXISTS workflows (
    id       INTEGER PRIMARY KEY,               -- GitHub workflow id
    repo_id  INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    name     TEXT    NOT NULL,                  -- from `workflow.name`; `workflow_run.name` can be ""
    path     TEXT    NOT NULL,                  -- ".github/workflows/ci.yml" (REST's "@ref" suffix cut)
    state    TEXT,
    url      TEXT,
    source   TEXT    NOT NULL DEFAULT 'actions', -- actions, check or status (see src/source.rs; version 5)
    provider TEXT                               -- the check's app or the status's context; NULL for actions
);
CREATE INDEX IF NOT EXISTS workflows_repo_name ON workflows (repo_id, name);

-- Workflow runs: one row per GitHub run id holding its latest attempt. An update is applied only if
-- it is not older than what is stored, by (runattempt, statusrank, updatetime): a late `requested`
-- never regresses a `completed` run, and attempt 2 supersedes attempt 1 (see workflowrunattempts).
CREATE TABLE IF NOT EXISTS workflowruns (
    id                   INTEGER PRIMARY KEY,   -- GitHub run id
    repo_id              INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    workflow_id          INTEGER NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
    commit_id            INTEGER NOT NULL REFERENCES commits(id) ON DELETE CASCADE,
    branch_id            INTEGER REFERENCES branches(id) ON DELETE SET NULL,
    archivedbranchname   TEXT,                  -- set when the branch is deleted
    archivedworkflowname TEXT,                  -- the workflow's name when this run was recorded
    runnumber            INTEGER NOT NULL,
    runattempt           INTEGER NOT NULL,
    event                TEXT    NOT NULL,      -- push, pull_request, schedule, ...
    headsha              TEXT    NOT NULL,
    title                TEXT,                  -- display_title
    status               TEXT    NOT NULL,      -- requested, queued, waiting, pending, in_progress, completed
    statusrank           INTEGER NOT NULL,      -- 0 requested, 1 queued/waiting/pending, 2 in_progress, 3 completed
    conclusion           TEXT,                  -- success, failure, cancelled, skipped, ... (NULL until completed)
    actor                TEXT,                  -- login of the person whose push or action started the run
    actoravatar          TEXT,
    url                  TEXT,
    createtime           INTEGER NOT NULL,      -- created_at
    starttime            INTEGER,               -- run_started_at (reset by each re-run attempt)
    updatetime           INTEGER,               -- updated_at
    endtime              INTEGER,               -- updated_at once completed, else NULL
    runtime              INTEGER,               -- endtime - starttime, seconds
    queuetime            INTEGER                -- seconds from creation until the first job started
);
-- Newest first, for lists and paging; also covers every column the figures read, so metrics over
-- a time window (the HUD's, the API's) read this index and never the rows.
CREATE INDEX IF NOT EXISTS workflowruns_created_figures ON workflowruns
    (createtime DESC, id DESC, repo_id, workflow_id, branch_id, statusrank, conclusion, runtime,
     queuetime, endtime, runattempt);
CREATE INDEX IF NOT EXISTS workflowruns_commit ON workflowruns (commit_id);
CREATE INDEX IF NOT EXISTS workflowruns_workflow ON workflowruns (workflow_id, createtime DESC);
-- Per repository, newest first (reversed), and covering every column the figures read, so that
-- metrics over one repository (or, by skip-scan, over all) read this index and never the rows.
CREATE INDEX IF NOT EXISTS workflowruns_repo_figures ON workflowruns
    (repo_id, createtime, id, statusrank, conclusion, runtime, queuetime, endtime, workflow_id,
     branch_id, runattempt);
CREATE INDEX IF NOT EXISTS workflowruns_branch ON workflowruns (branch_id, createtime DESC);
-- Triage: the latest run of each workflow on each branch.
CREATE INDEX IF NOT EXISTS workflowruns_pair ON workflowruns (workflow_id, branch_id, createtime DESC);
-- Small partial indexes: runs still going (the board's "active"), and re-runs (flaky detection).
CREATE INDEX IF NOT EXISTS workflowruns_active ON workflowruns (createtime DESC) WHERE statusrank < 3;
CREATE INDEX IF NOT EXISTS workflowruns_reruns ON workflowruns (workflow_id, createtime) WHERE runattempt > 1;
CREATE INDEX IF NOT EXISTS workflowruns_actor ON workflowruns (actor, createtime DESC);

-- Every attempt of every run, so that a failure followed by a green re-run (a flaky failure) is
-- still visible after attempt 2 replaced attempt 1 in workflowruns.
CREATE TABLE IF NOT EXISTS workflowrunattempts (
    run_id     INTEGER NOT NULL REFERENCES workflowruns(id) ON DELETE CASCADE,
    runattempt INTEGER NOT NULL,
    status     TEXT    NOT NULL,
    statusrank INTEGER NOT NULL,
    conclusion TEXT,
    starttime  INTEGER,
    updatetime INTEGER,
    PRIMARY KEY (run_id, runattempt)
) WITHOUT ROWID;

-- Jobs of runs, from workflow_job. A job may arrive before its run, so run_id is not a foreign key.
CREATE TABLE IF NOT EXISTS workflowjobs (
    id           INTEGER PRIMARY KEY,           -- GitHub job id
    run_id       INTEGER NOT NULL,
    repo_id      INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    runattempt   INTEGER NOT NULL,
    name         TEXT    NOT NULL,
    workflowname TEXT,
    status       TEXT    NOT NULL,
    statusrank   INTEGER NOT NULL,
    conclusion   TEXT,
    createtime   INTEGER,
    starttime    INTEGER,                       -- only meaningful once status is in_progress/completed
    endtime      INTEGER,
    runnername   TEXT,
    runnergroup  TEXT,
    labels       TEXT,                          -- JSON array
    url          TEXT
);
CREATE INDEX IF NOT EXISTS workflowjobs_run ON workflowjobs (run_id, runattempt);
-- Jobs not yet completed, for the runners' queues (`src/store/runners.rs`): a small partial index.
CREATE INDEX IF NOT EXISTS workflowjobs_active ON workflowjobs (createtime) WHERE statusrank < 3;

-- Delivery ids (X-GitHub-Delivery) already processed: a redelivery is acknowledged and ignored.
-- GitHub's GUIDs are version-1 UUIDs; they are stored with their timestamp's fields most significant
-- first (`72d3162e-cc78-11e3-81ab-4c9367dc0958` as `1e3cc7872d3162e-81ab-4c9367dc0958`), so that
-- new ids append to this index rather than each landing on a random page (migration 3 -> 4).
CREATE TABLE IF NOT EXISTS deliveries (
    id           TEXT    PRIMARY KEY,           -- the delivery GUID (reordered as above if a v1 UUID)
    event        TEXT    NOT NULL,
    receivedtime INTEGER NOT NULL
) WITHOUT ROWID;
-- Retention forgets old ids by age: without this, each of its batches (run on the ingest writer)
-- would scan every id kept. Times only grow, so new entries append to the index's last page.
CREATE INDEX IF NOT EXISTS deliveries_receivedtime ON deliveries (receivedtime);

-- Server settings kept with the data, such as the generated webhook secret.
CREATE TABLE IF NOT EXISTS settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

-- Version 2: the REST backfill (`init_db`) and the server's reconciliation. The same statements are
-- migration step 1 -> 2 in `src/store/migrate.rs`.

-- Conditional-request state of GitHub REST responses already applied: the next request for `url`
-- sends `If-None-Match: etag`, and a `304 Not Modified` (free against the rate limit) means the page
-- is already in the database. What the page said besides its items is kept so a 304 can stand in.
CREATE TABLE IF NOT EXISTS httpcache (
    url       TEXT    PRIMARY KEY,              -- the full request URL, query included
    etag      TEXT    NOT NULL,
    nexturl   TEXT,                             -- the Link header's rel="next", if any
    total     INTEGER,                          -- `total_count`, for list endpoints that have one
    items     INTEGER NOT NULL DEFAULT 0,       -- entries on the page (for the "unchanged" count)
    body      TEXT,                             -- kept only for single objects (the repository)
    fetchtime INTEGER NOT NULL
) WITHOUT ROWID;

-- How a repository's run history is split into `created` date windows (GitHub returns at most
-- 1,000 runs per filtered query), and how far the current backfill pass got in each window. The
-- layout is kept between passes so the same URLs come back and their ETags still match; a pass
-- that stopped halfway resumes from `nexturl`.
CREATE TABLE IF NOT EXISTS backfillwindows (
    repo_id     INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    windowstart INTEGER NOT NULL,               -- runs created at or after this (epoch seconds)
    windowend   INTEGER,                        -- ... and at or before this; NULL = open-ended
    nexturl     TEXT,                           -- next page of this pass; NULL = the first page
    done        INTEGER NOT NULL DEFAULT 0,     -- 1 once this pass has fetched every page
    PRIMARY KEY (repo_id, windowstart)
) WITHOUT ROWID;

-- Version 5: the steps of each completed job, from `workflow_job` deliveries (and backfill with `--jobs`),
-- so that the board can say where a run failed ("failed at: build › Run tests"). A job's steps are
-- replaced whole whenever a newer state of the job is stored. The same statement is migration
-- step 4 -> 5 in `src/store/migrate.rs`, with the workflows' `source` and `provider` and `checkruns`.
CREATE TABLE IF NOT EXISTS workflowsteps (
    job_id     INTEGER NOT NULL REFERENCES workflowjobs(id) ON DELETE CASCADE,
    number     INTEGER NOT NULL,                -- 1, 2, ... in the job's order
    name       TEXT    NOT NULL,
    status     TEXT    NOT NULL,                -- queued, in_progress, completed
    conclusion TEXT,                            -- success, failure, skipped, cancelled; NULL until completed
    starttime  INTEGER,
    endtime    INTEGER,
    PRIMARY KEY (job_id, number)
) WITHOUT ROWID;

-- Check runs already seen, and the attempt of their run (one check of one app on one commit) each
-- one is: a new check run for the same check and commit, or a re-request, is a new attempt.
CREATE TABLE IF NOT EXISTS checkruns (
    id      INTEGER PRIMARY KEY,                -- GitHub check run id
    run_id  INTEGER NOT NULL REFERENCES workflowruns(id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS checkruns_run ON checkruns (run_id);
-- Also version 5: why failed jobs failed, read from their logs (`src/log_fetch.rs`, `src/failure/`).

-- One row per failed job whose log was fetched (or could not be, for good). `signature` is the
-- normalised one-line failure that triage groups on and the flaky/broken call compares across runs.
-- A job may be stored before its run or job row arrives, so the ids are not foreign keys.
CREATE TABLE IF NOT EXISTS jobfailures (
    job_id      INTEGER PRIMARY KEY,            -- GitHub job id (= its check run id)
    run_id      INTEGER NOT NULL,
    repo_id     INTEGER NOT NULL,
    rule        TEXT,                           -- the rule that matched (`failure::Rule::as_str`); NULL if none
    signature   TEXT,                           -- normalised, one line, at most 200 characters
    excerpt     TEXT,                           -- a few log lines, at most 2 KiB
    fetchedtime INTEGER NOT NULL,
    error       TEXT                            -- "log not available", "log expired", ...; NULL when read
);
-- The same failure elsewhere: other workflows now, other runs before.
CREATE INDEX IF NOT EXISTS jobfailures_signature ON jobfailures (signature, fetchedtime DESC)
    WHERE signature IS NOT NULL;
CREATE INDEX IF NOT EXISTS jobfailures_run ON jobfailures (run_id);

-- Version 6: notifications on transitions (`src/notify/`). The same statements are migration step
-- 5 -> 6 in `src/store/migrate.rs`.

-- The last known state of each workflow on each watched branch, recomputed from the stored runs
-- (the latest completed run whose conclusion is not neutral) whenever one of its runs is stored.
CREATE TABLE IF NOT EXISTS pairstates (
    workflow_id   INTEGER NOT NULL,
    branch_id     INTEGER NOT NULL,
    state         TEXT    NOT NULL,             -- red or green
    since         INTEGER NOT NULL,             -- when it went into this state (epoch seconds)
    run_id        INTEGER NOT NULL,             -- the run that decides the state now
    firstredrun   INTEGER,                      -- while red: the first red run of the streak
    flapping      INTEGER NOT NULL DEFAULT 0,   -- 1 while its flips are summarised, not sent
    PRIMARY KEY (workflow_id, branch_id)
) WITHOUT ROWID;

-- Every change of a pair's state (`failing`, `fixed`; `flapping` when the summary was sent), in
-- the transaction that stored the run that changed it.
CREATE TABLE IF NOT EXISTS transitions (
    id          INTEGER PRIMARY KEY,
    workflow_id INTEGER NOT NULL,
    branch_id   INTEGER NOT NULL,
    kind        TEXT    NOT NULL,               -- failing, fixed or flapping
    run_id      INTEGER NOT NULL,               -- the run that made it
    notified    INTEGER NOT NULL,               -- 0 when suppressed (flapping)
    createtime  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS transitions_pair ON transitions (workflow_id, branch_id, createtime);

-- Notifications to send, one per transition and target, written in the same transaction as the
-- transition; the sender (`src/notify/sender.rs`) marks them sent after a 2xx.
CREATE TABLE IF NOT EXISTS outbox (
    id            INTEGER PRIMARY KEY,          -- also the X-Buildboard-Delivery header
    transition_id INTEGER NOT NULL REFERENCES transitions(id) ON DELETE CASCADE,
    target        TEXT    NOT NULL,             -- the target's name in the notification config
    payload       TEXT    NOT NULL,             -- the message (JSON), rendered per target kind when sent
    createtime    INTEGER NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    nextattempt   INTEGER NOT NULL,             -- epoch milliseconds
    senttime      INTEGER,                      -- NULL until a 2xx
    failedtime    INTEGER,                      -- set when given up
    lasterror     TEXT,
    UNIQUE (transition_id, target)
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (nextattempt)
    WHERE senttime IS NULL AND failedtime IS NULL;

-- Display and API tokens (version 7): named, scoped, revocable. Only hashes are kept: the
-- token's, for `Authorization: Bearer`, and its browser sign-in cookie's. See docs/access.md.
CREATE TABLE IF NOT EXISTS accesstokens (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    kind       TEXT    NOT NULL,                -- display or api
    repos      TEXT,                            -- JSON array of "owner/name"; NULL: every repository
    tokenhash  TEXT    NOT NULL UNIQUE,         -- hex SHA-256 of the token
    cookiehash TEXT    NOT NULL UNIQUE,         -- hex SHA-256 of its sign-in cookie's value
    createtime INTEGER NOT NULL,
    revoketime INTEGER                          -- NULL while it works
);
-- The GitHub App made through /setup (at most one row). Its secrets (client secret, webhook secret,
-- private key) are read only by `src/github/app.rs` and never leave the process; the database file
-- is created readable by its owner only (mode 0600).
CREATE TABLE IF NOT EXISTS githubapp (
    slot          INTEGER PRIMARY KEY CHECK (slot = 1),
    app_id        INTEGER NOT NULL,
    slug          TEXT    NOT NULL,
    clientid      TEXT    NOT NULL,
    clientsecret  TEXT    NOT NULL,
    webhooksecret TEXT    NOT NULL,
    privatekey    TEXT    NOT NULL,             -- PEM (PKCS#1) as GitHub issued it
    htmlurl       TEXT,
    createtime    INTEGER NOT NULL
);

-- Installations of the App, from `installation` deliveries (and checked through the API).
CREATE TABLE IF NOT EXISTS installations (
    id          INTEGER PRIMARY KEY,            -- GitHub's installation id
    account     TEXT    NOT NULL,               -- the user or organisation login
    suspended   INTEGER NOT NULL DEFAULT 0,
    createtime  INTEGER NOT NULL,
    deletedtime INTEGER                         -- NULL while installed
);

-- Repositories an installation gives access to, and their background backfill's progress.
CREATE TABLE IF NOT EXISTS installationrepos (
    fullname        TEXT    PRIMARY KEY,        -- owner/name
    installation_id INTEGER NOT NULL,
    backfillstate   TEXT    NOT NULL DEFAULT 'queued', -- queued, running, done, failed
    backfillruns    INTEGER NOT NULL DEFAULT 0,
    backfilldone    INTEGER,                    -- when the backfill finished
    backfillerror   TEXT
) WITHOUT ROWID;

-- Signed-in people (sign in with GitHub). The cookie holds a random id; only its SHA-256 is kept.
CREATE TABLE IF NOT EXISTS sessions (
    idhash        TEXT    PRIMARY KEY,
    login         TEXT    NOT NULL,
    usertoken     TEXT    NOT NULL,
    refreshtoken  TEXT,
    expiretime    INTEGER,                      -- when the user token expires (8 h)
    createtime    INTEGER NOT NULL
) WITHOUT ROWID;

-- Version 7: runner telemetry (`POST /api/metrics`, `src/store/samples.rs`): one row per sample of
-- a job, posted by the job itself, in a table keyed (job_id, t) without a rowid. Version 9 (migration
-- step 8 -> 9, which rewrites the version-7 rows) stores each sample in about 48 bytes: `mem_total`
-- only when it differs from the job's previous sample's (by time; NULL repeats it), and the four
-- cumulative counters as the difference from the job's previous sample that carried the counter (the
-- first: the value itself). Reading sums them in time order, so every posted value comes back exactly.
CREATE TABLE IF NOT EXISTS jobsamples (
    job_id     INTEGER NOT NULL,                -- GitHub job id (= the token's check_run_id)
    t          INTEGER NOT NULL,                -- epoch seconds
    cpu_user   INTEGER,                         -- CPU user %, in hundredths (1234 = 12.34 %)
    cpu_system INTEGER,                         -- CPU system %, in hundredths
    mem_used   INTEGER,                         -- bytes
    mem_total  INTEGER,                         -- bytes; NULL: the job's last stored total before
    disk_read  INTEGER,                         -- bytes since the job's previous sample with it;
    disk_write INTEGER,                         --   NULL when the sample did not post it
    net_rx     INTEGER,
    net_tx     INTEGER,
    extra      TEXT,                            -- other fields of the sample, JSON; NULL when none
    PRIMARY KEY (job_id, t)
) WITHOUT ROWID;

-- Version 9: each job's latest sample, so a sample appended at the end needs no scan of the job's
-- rows, and the job's sample count (`MAX_SAMPLES_PER_JOB`) is a point read. A row exists exactly
-- when the job has samples.
CREATE TABLE IF NOT EXISTS jobsampletails (
    job_id     INTEGER PRIMARY KEY,             -- GitHub job id
    t          INTEGER NOT NULL,                -- the job's latest sample's time
    samples    INTEGER NOT NULL,                -- rows of the job in `jobsamples`
    disk_read  INTEGER,                         -- cumulative value of the latest sample that
    disk_write INTEGER,                         --   carried the counter; NULL when none did
    net_rx     INTEGER,
    net_tx     INTEGER,
    mem_total  INTEGER                          -- the latest sample's total (carried forward)
);

-- Version 8: the same statements are migration step 7 -> 8 in `src/store/migrate.rs`.
-- Job logs fetched on demand for the run page, kept bounded in size and age.
CREATE TABLE IF NOT EXISTS joblogs (
    job_id    INTEGER PRIMARY KEY,              -- GitHub job id
    fetchtime INTEGER NOT NULL,                 -- epoch seconds
    status    INTEGER NOT NULL,                 -- GitHub's answer: 200, 403, 404 or 410
    truncated INTEGER NOT NULL DEFAULT 0,       -- 1 when lines outside the failing step were cut
    bytes     INTEGER NOT NULL DEFAULT 0,       -- length of body
    body      BLOB                              -- the kept log text; NULL unless status is 200
);
CREATE INDEX IF NOT EXISTS joblogs_fetchtime ON joblogs (fetchtime);

-- Claims on reds ("alice is on it"), keyed by the red's first red run: a claim ends by itself
-- when its workflow is green again (the next red has another first red run).
CREATE TABLE IF NOT EXISTS claims (
    first_red_run INTEGER PRIMARY KEY,          -- workflowruns.id
    login         TEXT    NOT NULL,
    claimtime     INTEGER NOT NULL
);

-- Every change made on the settings page (values live in `settings`): who, what, when.
CREATE TABLE IF NOT EXISTS settingslog (
    id         INTEGER PRIMARY KEY,
    key        TEXT    NOT NULL,
    value      TEXT,                            -- NULL: reset to the default
    changedby  TEXT    NOT NULL,
    changetime INTEGER NOT NULL
);

-- Per-repository telemetry secrets for jobs that cannot get an Actions OIDC token. Only the
-- SHA-256 of the secret is kept.
CREATE TABLE IF NOT EXISTS telemetrysecrets (
    repo_id    INTEGER PRIMARY KEY,             -- repos.id
    secrethash TEXT    NOT NULL UNIQUE,         -- hex SHA-256
    createdby  TEXT    NOT NULL,
    createtime INTEGER NOT NULL
);

-- Runner label sets whose longest wait is over `--queue-alert` now (`src/notify/queues.rs`): a row
-- from the check that found it over (which queued its "no runner" message as a `transitions` row of kind
-- `queue_over`, with no workflow, branch or run: 0) to the one that found it back under (`queue_back`).
CREATE TABLE IF NOT EXISTS queuestates (
    labelkey   TEXT    PRIMARY KEY,             -- the label set, sorted, as JSON
    labels     TEXT    NOT NULL,                -- as its newest job gave them, JSON
    since      INTEGER NOT NULL,                -- when it was found over (epoch seconds)
    maxwait    INTEGER NOT NULL                 -- the longest wait seen since (seconds)
) WITHOUT ROWID;
