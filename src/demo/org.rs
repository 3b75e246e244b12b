//! The organisation: repositories, their workflows, jobs and steps, and the people who push.

use super::Rng;

/// The organisation's login.
pub const ORG_LOGIN: &str = "northwind-labs";
/// The release branch a few repositories keep.
pub const RELEASE_BRANCH: &str = "release/2026.11";

/// A simulated GitHub organisation.
#[derive(Debug, Clone, PartialEq)]
pub struct Organisation {
    /// The seed it was generated from; the simulation's default seed too.
    pub seed: u64,
    pub login: String,
    pub id: i64,
    pub repos: Vec<Repository>,
    pub people: Vec<Person>,
}

/// A person (or bot) who pushes commits and triggers runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub login: String,
    pub id: i64,
    /// The git author name.
    pub name: String,
    pub email: String,
    pub avatar_url: String,
    pub bot: bool,
}

/// What a repository holds, which decides its workflows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Service,
    Frontend,
    Library,
    Data,
    Infra,
}

/// The language, which decides the toolchain steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    Go,
    Rust,
    TypeScript,
    Python,
    Kotlin,
    Java,
    Terraform,
    Helm,
}

impl Language {
    /// The name GitHub shows in `repository.language`.
    pub fn github_name(self) -> &'static str {
        match self {
            Self::Go => "Go",
            Self::Rust => "Rust",
            Self::TypeScript => "TypeScript",
            Self::Python => "Python",
            Self::Kotlin => "Kotlin",
            Self::Java => "Java",
            Self::Terraform => "HCL",
            Self::Helm => "Smarty",
        }
    }

    /// CodeQL's name for it, where CodeQL analyses it.
    fn codeql(self) -> Option<&'static str> {
        Some(match self {
            Self::Go => "go",
            Self::Rust => "rust",
            Self::TypeScript => "javascript-typescript",
            Self::Python => "python",
            Self::Kotlin | Self::Java => "java-kotlin",
            Self::Terraform | Self::Helm => return None,
        })
    }

    /// Dependency names for bot updates.
    pub(crate) fn dependencies(self) -> &'static [&'static str] {
        match self {
            Self::Go => &[
                "golang.org/x/net",
                "github.com/stretchr/testify",
                "google.golang.org/grpc",
                "github.com/jackc/pgx/v5",
            ],
            Self::Rust => &["serde", "tokio", "reqwest", "clap", "tracing", "rusqlite"],
            Self::TypeScript => &[
                "typescript",
                "vite",
                "eslint",
                "react",
                "@types/node",
                "vitest",
            ],
            Self::Python => &[
                "pytest",
                "ruff",
                "pydantic",
                "sqlalchemy",
                "requests",
                "numpy",
            ],
            Self::Kotlin | Self::Java => &[
                "com.fasterxml.jackson.core:jackson-databind",
                "org.junit.jupiter:junit-jupiter",
                "io.micrometer:micrometer-core",
                "org.postgresql:postgresql",
            ],
            Self::Terraform => &["hashicorp/aws", "hashicorp/google", "integrations/github"],
            Self::Helm => &[
                "bitnami/postgresql",
                "prometheus-community/kube-prometheus-stack",
            ],
        }
    }

    /// Dependabot's ecosystem directory in its branch names.
    pub(crate) fn ecosystem(self) -> &'static str {
        match self {
            Self::Go => "go_modules",
            Self::Rust => "cargo",
            Self::TypeScript => "npm_and_yarn",
            Self::Python => "pip",
            Self::Kotlin | Self::Java => "gradle",
            Self::Terraform => "terraform",
            Self::Helm => "helm",
        }
    }

    /// (setup steps, build command, test command, lint command)
    fn toolchain(
        self,
    ) -> (
        &'static [&'static str],
        &'static str,
        &'static str,
        &'static str,
    ) {
        match self {
            Self::Go => (
                &["Run actions/setup-go@v5"],
                "Run go build ./...",
                "Run go test -race ./...",
                "Run golangci/golangci-lint-action@v6",
            ),
            Self::Rust => (
                &[
                    "Run dtolnay/rust-toolchain@stable",
                    "Run Swatinem/rust-cache@v2",
                ],
                "Run cargo build --locked --all-targets",
                "Run cargo test --locked",
                "Run cargo clippy --all-targets -- -D warnings",
            ),
            Self::TypeScript => (
                &["Run actions/setup-node@v4", "Run npm ci"],
                "Run npm run build",
                "Run npm test -- --ci",
                "Run npm run lint",
            ),
            Self::Python => (
                &[
                    "Run actions/setup-python@v5",
                    "Run pip install -r requirements-dev.txt",
                ],
                "Run python -m build",
                "Run pytest -q --maxfail=5",
                "Run ruff check .",
            ),
            Self::Kotlin => (
                &[
                    "Run actions/setup-java@v4",
                    "Run gradle/actions/setup-gradle@v4",
                ],
                "Run ./gradlew assemble",
                "Run ./gradlew test",
                "Run ./gradlew ktlintCheck detekt",
            ),
            Self::Java => (
                &[
                    "Run actions/setup-java@v4",
                    "Run gradle/actions/setup-gradle@v4",
                ],
                "Run ./gradlew assemble",
                "Run ./gradlew test",
                "Run ./gradlew spotlessCheck",
            ),
            Self::Terraform => (
                &[
                    "Run hashicorp/setup-terraform@v3",
                    "Run terraform init -input=false",
                ],
                "Run terraform validate",
                "Run terraform plan -no-color -input=false",
                "Run terraform fmt -check -recursive",
            ),
            Self::Helm => (
                &["Run azure/setup-helm@v4"],
                "Run helm package charts/*",
                "Run helm unittest charts/*",
                "Run helm lint charts/*",
            ),
        }
    }

    /// A typical duration of the main work of a job, in seconds (build + tests).
    fn base_seconds(self) -> u32 {
        match self {
            Self::Rust => 420,
            Self::Kotlin | Self::Java => 360,
            Self::Go => 180,
            Self::TypeScript => 200,
            Self::Python => 150,
            Self::Terraform => 90,
            Self::Helm => 45,
        }
    }
}

/// A repository of the organisation.
#[derive(Debug, Clone, PartialEq)]
pub struct Repository {
    pub id: i64,
    pub name: String,
    pub full_name: String,
    pub description: String,
    pub default_branch: String,
    pub language: Language,
    pub kind: Kind,
    /// How busy it is, relative to the others.
    pub weight: f64,
    /// Indexes into [`Organisation::people`] of the humans who push here.
    pub team: Vec<usize>,
    /// Index into [`Organisation::people`] of the bot that updates dependencies.
    pub bot: usize,
    /// [`RELEASE_BRANCH`] for the few repositories that keep one.
    pub release_branch: Option<String>,
    pub workflows: Vec<Workflow>,
    /// Creation time (seconds since the Unix epoch).
    pub created_at: i64,
}

/// When a workflow runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Triggers {
    /// On pushes to the default branch.
    pub default_branch: bool,
    /// On feature branches, with this `event`: `push` or `pull_request`.
    pub feature: Option<&'static str>,
    /// On pushes to the release branch.
    pub release: bool,
    /// Daily at this UTC hour (`schedule`).
    pub schedule_hour: Option<u32>,
}

/// A workflow file.
#[derive(Debug, Clone, PartialEq)]
pub struct Workflow {
    pub id: i64,
    pub name: String,
    /// `.github/workflows/<file>.yml`
    pub path: String,
    pub on: Triggers,
    pub jobs: Vec<Job>,
}

/// Where a job runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runner {
    Ubuntu,
    Macos,
    Windows,
    SelfHosted,
}

impl Runner {
    /// `workflow_job.labels`
    pub fn labels(self) -> &'static [&'static str] {
        match self {
            Self::Ubuntu => &["ubuntu-latest"],
            Self::Macos => &["macos-14"],
            Self::Windows => &["windows-latest"],
            Self::SelfHosted => &["self-hosted", "linux", "x64", "deploy"],
        }
    }

    /// Typical and longest wait for a runner, in seconds.
    pub(crate) fn queue_seconds(self) -> (i64, i64) {
        match self {
            Self::Ubuntu => (2, 25),
            Self::Windows => (4, 60),
            Self::Macos => (10, 240),
            Self::SelfHosted => (3, 90),
        }
    }
}

/// A job of a workflow.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub name: String,
    /// Starts when the previous job succeeded; skipped when it did not.
    pub needs_previous: bool,
    pub runner: Runner,
    pub steps: Vec<Step>,
    /// The step that fails when the job fails (the tests, usually).
    pub failing_step: usize,
    /// Typical duration, in seconds.
    pub seconds: u32,
}

/// A step of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub name: String,
    /// Takes most of the job's time (the other steps take seconds).
    pub main: bool,
    /// A `Post ...` clean-up step or `Complete job`: still runs after a failure.
    pub always: bool,
}

/// (name, language, kind, weight, default branch)
const REPOS: &[(&str, Language, Kind, f64, &str)] = &[
    ("payments-service", Language::Go, Kind::Service, 1.6, "main"),
    ("billing-api", Language::Kotlin, Kind::Service, 1.2, "main"),
    (
        "web-frontend",
        Language::TypeScript,
        Kind::Frontend,
        2.0,
        "main",
    ),
    ("auth-service", Language::Go, Kind::Service, 1.0, "main"),
    ("api-gateway", Language::Go, Kind::Service, 1.1, "main"),
    ("search-indexer", Language::Rust, Kind::Service, 0.8, "main"),
    (
        "notification-service",
        Language::Python,
        Kind::Service,
        0.7,
        "main",
    ),
    (
        "inventory-service",
        Language::Java,
        Kind::Service,
        0.9,
        "main",
    ),
    ("order-pipeline", Language::Rust, Kind::Service, 1.0, "main"),
    ("data-warehouse", Language::Python, Kind::Data, 0.8, "main"),
    (
        "ml-recommendations",
        Language::Python,
        Kind::Data,
        0.6,
        "main",
    ),
    (
        "design-system",
        Language::TypeScript,
        Kind::Library,
        0.9,
        "main",
    ),
    (
        "docs-site",
        Language::TypeScript,
        Kind::Frontend,
        0.5,
        "main",
    ),
    (
        "infra-terraform",
        Language::Terraform,
        Kind::Infra,
        0.9,
        "main",
    ),
    ("helm-charts", Language::Helm, Kind::Infra, 0.6, "main"),
    ("northwind-cli", Language::Rust, Kind::Library, 0.7, "main"),
    ("sdk-python", Language::Python, Kind::Library, 0.5, "main"),
    ("sdk-js", Language::TypeScript, Kind::Library, 0.6, "main"),
    (
        "analytics-dashboard",
        Language::TypeScript,
        Kind::Frontend,
        0.8,
        "main",
    ),
    ("event-bus", Language::Rust, Kind::Service, 0.7, "main"),
    (
        "customer-portal",
        Language::TypeScript,
        Kind::Frontend,
        1.3,
        "main",
    ),
    (
        "admin-console",
        Language::TypeScript,
        Kind::Frontend,
        0.6,
        "main",
    ),
    ("geo-service", Language::Go, Kind::Service, 0.5, "main"),
    (
        "legacy-monolith",
        Language::Java,
        Kind::Service,
        0.7,
        "master",
    ),
    ("ops-scripts", Language::Python, Kind::Infra, 0.3, "master"),
];

/// Repositories that keep [`RELEASE_BRANCH`].
const WITH_RELEASE_BRANCH: &[&str] = &[
    "payments-service",
    "billing-api",
    "web-frontend",
    "northwind-cli",
];

const DESCRIPTIONS: &[(Kind, &str)] = &[
    (Kind::Service, "a backend service of the Northwind platform"),
    (
        Kind::Frontend,
        "a web application of the Northwind platform",
    ),
    (Kind::Library, "a library used across Northwind"),
    (Kind::Data, "data pipelines and models"),
    (Kind::Infra, "infrastructure as code"),
];

/// (login, name) of the humans.
const HUMANS: &[(&str, &str)] = &[
    ("amara-okafor", "Amara Okafor"),
    ("jlindqvist", "Johan Lindqvist"),
    ("priya-natarajan", "Priya Natarajan"),
    ("mkowalski", "Marta Kowalski"),
    ("dtanaka", "Daisuke Tanaka"),
    ("sofia-reyes", "Sofía Reyes"),
    ("bwright", "Ben Wright"),
    ("fatima-elidrissi", "Fatima El Idrissi"),
    ("lukas-becker", "Lukas Becker"),
    ("chenwei-dev", "Chen Wei"),
    ("olu-adeyemi", "Oluwaseun Adeyemi"),
    ("ines-moreau", "Inès Moreau"),
    ("rpatel", "Rohan Patel"),
    ("hannah-schmidt", "Hannah Schmidt"),
    ("tnovak", "Tomáš Novák"),
    ("yuki-sato", "Yuki Sato"),
    ("gsouza", "Gabriel Souza"),
    ("nadia-haddad", "Nadia Haddad"),
    ("kwame-mensah", "Kwame Mensah"),
    ("emma-larsen", "Emma Larsen"),
    ("arjun-mehta", "Arjun Mehta"),
    ("lea-fischer", "Lea Fischer"),
    ("mateo-garcia", "Mateo García"),
    ("zoe-campbell", "Zoë Campbell"),
    ("ivan-petrov", "Ivan Petrov"),
    ("aisha-bello", "Aisha Bello"),
    ("sam-oconnor", "Sam O'Connor"),
    ("mina-park", "Mina Park"),
];

/// (login, id, avatar) of the bots, as on github.com.
const BOTS: &[(&str, i64, &str)] = &[
    (
        "dependabot[bot]",
        49_699_333,
        "https://avatars.githubusercontent.com/in/29110?v=4",
    ),
    (
        "renovate[bot]",
        29_139_614,
        "https://avatars.githubusercontent.com/in/2740?v=4",
    ),
    (
        "github-actions[bot]",
        41_898_282,
        "https://avatars.githubusercontent.com/in/15368?v=4",
    ),
];

/// Index of `github-actions[bot]` in [`Organisation::people`].
pub(crate) fn actions_bot(org: &Organisation) -> usize {
    org.people.len() - 1
}

impl Organisation {
    /// The organisation for `seed`: 25 repositories (two on `master`), 3 to 6 workflows each
    /// (about 100), 28 people and 3 bots. The same seed always gives the same organisation.
    pub fn generate(seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let mut people: Vec<Person> = HUMANS
            .iter()
            .map(|(login, name)| {
                let id = rng.between(1_000_000, 160_000_000);
                Person {
                    login: (*login).to_owned(),
                    id,
                    name: (*name).to_owned(),
                    email: format!("{id}+{login}@users.noreply.github.com"),
                    avatar_url: format!("https://avatars.githubusercontent.com/u/{id}?v=4"),
                    bot: false,
                }
            })
            .collect();
        let humans = people.len();
        people.extend(BOTS.iter().map(|(login, id, avatar)| Person {
            login: (*login).to_owned(),
            id: *id,
            name: (*login).to_owned(),
            email: format!("{id}+{login}@users.noreply.github.com"),
            avatar_url: (*avatar).to_owned(),
            bot: true,
        }));
        let mut next_workflow_id = 71_000_000 + rng.between(0, 999_999);
        let repos = REPOS
            .iter()
            .map(|&(name, language, kind, weight, default_branch)| {
                let mut team = Vec::new();
                let size = rng.between(3, 7) as usize;
                while team.len() < size {
                    let person = rng.below(humans);
                    if !team.contains(&person) {
                        team.push(person);
                    }
                }
                let workflows = workflows_for(&mut rng, language, kind, name)
                    .into_iter()
                    .map(|mut workflow| {
                        next_workflow_id += rng.between(1, 40_000);
                        workflow.id = next_workflow_id;
                        workflow
                    })
                    .collect();
                let description = DESCRIPTIONS
                    .iter()
                    .find(|(k, _)| *k == kind)
                    .map(|(_, text)| *text)
                    .unwrap_or_default();
                Repository {
                    id: rng.between(400_000_000, 900_000_000),
                    name: name.to_owned(),
                    full_name: format!("{ORG_LOGIN}/{name}"),
                    description: format!("{name}: {description}"),
                    default_branch: default_branch.to_owned(),
                    language,
                    kind,
                    weight,
                    team,
                    bot: humans + rng.below(2),
                    release_branch: WITH_RELEASE_BRANCH
                        .contains(&name)
                        .then(|| RELEASE_BRANCH.to_owned()),
                    workflows,
                    created_at: 1_500_000_000 + rng.between(0, 200_000_000),
                }
            })
            .collect();
        Self {
            seed,
            login: ORG_LOGIN.to_owned(),
            id: 90_000_000 + rng.between(0, 9_999_999),
            repos,
            people,
        }
    }

    /// Every workflow of every repository.
    pub fn workflow_count(&self) -> usize {
        self.repos.iter().map(|repo| repo.workflows.len()).sum()
    }
}

fn step(name: &str) -> Step {
    Step {
        name: name.to_owned(),
        main: false,
        always: false,
    }
}

fn main_step(name: &str) -> Step {
    Step {
        main: true,
        ..step(name)
    }
}

fn always(name: &str) -> Step {
    Step {
        always: true,
        ..step(name)
    }
}

/// A job: `Set up job`, checkout, the toolchain's setup, `work`, the post steps and `Complete job`.
/// The last of `work` is the one that fails.
fn job(name: &str, runner: Runner, setup: &[&str], work: &[&str], seconds: u32) -> Job {
    let mut steps = vec![step("Set up job"), step("Run actions/checkout@v4")];
    steps.extend(setup.iter().map(|name| step(name)));
    let first_work = steps.len();
    steps.extend(work.iter().map(|name| main_step(name)));
    let failing_step = steps.len() - 1;
    debug_assert!(failing_step >= first_work);
    steps.push(always("Post Run actions/checkout@v4"));
    steps.push(always("Complete job"));
    Job {
        name: name.to_owned(),
        needs_previous: false,
        runner,
        steps,
        failing_step,
        seconds,
    }
}

fn after_previous(mut job: Job) -> Job {
    job.needs_previous = true;
    job
}

fn workflow(name: &str, file: &str, on: Triggers, jobs: Vec<Job>) -> Workflow {
    Workflow {
        id: 0,
        name: name.to_owned(),
        path: format!(".github/workflows/{file}.yml"),
        on,
        jobs,
    }
}

const EVERY_PUSH: Triggers = Triggers {
    default_branch: true,
    feature: Some("push"),
    release: true,
    schedule_hour: None,
};

const PULL_REQUESTS: Triggers = Triggers {
    default_branch: true,
    feature: Some("pull_request"),
    release: false,
    schedule_hour: None,
};

const DEFAULT_ONLY: Triggers = Triggers {
    default_branch: true,
    feature: None,
    release: false,
    schedule_hour: None,
};

/// The workflows of one repository: a build-and-test workflow, lint, and a few of the ones its
/// kind calls for.
fn workflows_for(rng: &mut Rng, language: Language, kind: Kind, repo: &str) -> Vec<Workflow> {
    let (setup, build, test, lint) = language.toolchain();
    let base = language.base_seconds();
    let mut workflows = Vec::new();
    if kind == Kind::Library {
        let mut jobs = vec![job("linux", Runner::Ubuntu, setup, &[build, test], base)];
        jobs.push(job(
            "macos",
            Runner::Macos,
            setup,
            &[build, test],
            base * 3 / 2,
        ));
        if language != Language::TypeScript {
            jobs.push(job(
                "windows",
                Runner::Windows,
                setup,
                &[build, test],
                base * 2,
            ));
        }
        workflows.push(workflow(
            "Build and test",
            "build-and-test",
            EVERY_PUSH,
            jobs,
        ));
    } else if kind == Kind::Infra {
        workflows.push(workflow(
            if language == Language::Terraform {
                "Terraform plan"
            } else {
                "CI"
            },
            if language == Language::Terraform {
                "terraform"
            } else {
                "ci"
            },
            EVERY_PUSH,
            vec![job("plan", Runner::Ubuntu, setup, &[build, test], base)],
        ));
    } else {
        workflows.push(workflow(
            "CI",
            "ci",
            EVERY_PUSH,
            vec![
                job("build", Runner::Ubuntu, setup, &[build], base / 2),
                after_previous(job("test", Runner::Ubuntu, setup, &[test], base)),
            ],
        ));
    }
    workflows.push(workflow(
        "Lint",
        "lint",
        PULL_REQUESTS,
        vec![job("lint", Runner::Ubuntu, setup, &[lint], base / 4 + 20)],
    ));
    let docker = [
        "Run docker/setup-buildx-action@v3",
        "Run docker/login-action@v3",
    ];
    let deploy = |name: &str, file: &str, env: &str, on: Triggers| {
        workflow(
            name,
            file,
            on,
            vec![
                job("build-image", Runner::Ubuntu, &docker, &["Run docker/build-push-action@v6"], 150),
                after_previous(job(
                    &format!("deploy ({env})"),
                    Runner::SelfHosted,
                    &["Run azure/setup-kubectl@v4"],
                    &[&format!("Run helm upgrade --install {repo} charts/{repo} -f values-{env}.yaml --wait")],
                    120,
                )),
            ],
        )
    };
    // (workflow, how likely) beyond the first two.
    let mut optional: Vec<(Workflow, f64)> = Vec::new();
    if let Some(language) = language.codeql() {
        let schedule = Triggers {
            schedule_hour: Some(3 + rng.between(0, 2) as u32),
            ..DEFAULT_ONLY
        };
        optional.push((
            workflow(
                "CodeQL",
                "codeql",
                schedule,
                vec![job(
                    &format!("Analyze ({language})"),
                    Runner::Ubuntu,
                    &["Run github/codeql-action/init@v3"],
                    &[
                        "Run github/codeql-action/autobuild@v3",
                        "Run github/codeql-action/analyze@v3",
                    ],
                    base + 120,
                )],
            ),
            0.7,
        ));
    }
    match kind {
        Kind::Service | Kind::Frontend => {
            optional.push((
                deploy("Deploy staging", "deploy-staging", "staging", DEFAULT_ONLY),
                1.0,
            ));
            if WITH_RELEASE_BRANCH.contains(&repo) {
                let on = Triggers {
                    release: true,
                    ..Triggers::default()
                };
                optional.push((
                    deploy("Deploy production", "deploy-production", "production", on),
                    1.0,
                ));
            }
        }
        Kind::Library => {
            let on = Triggers {
                release: true,
                ..Triggers::default()
            };
            let on = if WITH_RELEASE_BRANCH.contains(&repo) {
                on
            } else {
                DEFAULT_ONLY
            };
            optional.push((
                workflow(
                    "Release",
                    "release",
                    on,
                    vec![job(
                        "publish",
                        Runner::Ubuntu,
                        setup,
                        &[build, "Run gh release create --generate-notes"],
                        base / 2,
                    )],
                ),
                0.9,
            ));
            optional.push((
                workflow(
                    "Docs",
                    "docs",
                    DEFAULT_ONLY,
                    vec![
                        job("build-docs", Runner::Ubuntu, setup, &["Run make docs"], 90),
                        after_previous(job(
                            "deploy-pages",
                            Runner::Ubuntu,
                            &[],
                            &["Run actions/deploy-pages@v4"],
                            30,
                        )),
                    ],
                ),
                0.5,
            ));
        }
        Kind::Data => {
            let nightly = Triggers {
                schedule_hour: Some(1 + rng.between(0, 3) as u32),
                ..Triggers::default()
            };
            optional.push((
                workflow(
                    "Nightly",
                    "nightly",
                    nightly,
                    vec![job(
                        "pipeline",
                        Runner::Ubuntu,
                        setup,
                        &["Run make pipeline", "Run make validate"],
                        1_500,
                    )],
                ),
                1.0,
            ));
        }
        Kind::Infra => {
            let drift = Triggers {
                schedule_hour: Some(6),
                ..Triggers::default()
            };
            optional.push((
                workflow(
                    "Drift detection",
                    "drift",
                    drift,
                    vec![job(
                        "drift",
                        Runner::Ubuntu,
                        setup,
                        &["Run ./scripts/detect-drift.sh"],
                        240,
                    )],
                ),
                0.6,
            ));
        }
    }
    if matches!(kind, Kind::Service) {
        optional.push((
            workflow(
                "Integration tests",
                "integration",
                EVERY_PUSH,
                vec![job(
                    "integration",
                    Runner::Ubuntu,
                    setup,
                    &["Run docker compose up -d", test],
                    base * 2,
                )],
            ),
            0.4,
        ));
        optional.push((
            workflow(
                "Docker image",
                "docker",
                DEFAULT_ONLY,
                vec![job(
                    "docker",
                    Runner::Ubuntu,
                    &docker,
                    &["Run docker/build-push-action@v6"],
                    200,
                )],
            ),
            0.25,
        ));
    }
    if matches!(kind, Kind::Frontend) {
        optional.push((
            workflow(
                "E2E",
                "e2e",
                DEFAULT_ONLY,
                vec![
                    job(
                        "playwright (chromium)",
                        Runner::Ubuntu,
                        setup,
                        &[
                            "Run npx playwright install --with-deps",
                            "Run npx playwright test --project=chromium",
                        ],
                        420,
                    ),
                    job(
                        "playwright (webkit)",
                        Runner::Macos,
                        setup,
                        &[
                            "Run npx playwright install --with-deps",
                            "Run npx playwright test --project=webkit",
                        ],
                        540,
                    ),
                ],
            ),
            0.5,
        ));
        optional.push((
            workflow(
                "Dependency review",
                "dependency-review",
                Triggers {
                    feature: Some("pull_request"),
                    ..Triggers::default()
                },
                vec![job(
                    "dependency-review",
                    Runner::Ubuntu,
                    &[],
                    &["Run actions/dependency-review-action@v4"],
                    25,
                )],
            ),
            0.3,
        ));
    }
    let mut left_out = Vec::new();
    for (workflow, probability) in optional {
        if workflows.len() < 6 && rng.chance(probability) {
            workflows.push(workflow);
        } else {
            left_out.push(workflow);
        }
    }
    // At least three each.
    let missing = 3usize.saturating_sub(workflows.len());
    workflows.extend(left_out.into_iter().take(missing));
    workflows
}
